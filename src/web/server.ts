/**
 * The dashboard's HTTP server: the single-page app, an allow-listed proxy to the Engine
 * API under /api, and two WebSockets (/ws/stats: shared stats streams; /ws/exec: a
 * terminal bridged to an exec's attach stream).
 *
 * Lifecycle: `startDashboard` binds, then resolves with the URL to open (token included);
 * `close()` stops listening, ends every WebSocket and engine stream it opened.
 */
import http from 'node:http';
import type { Duplex } from 'node:stream';
import { existsSync, readFileSync } from 'node:fs';
import { extname, join, resolve } from 'node:path';
import { WebSocketServer, WebSocket } from 'ws';
import { ClientError, EngineClient } from '../client';
import { bodyProblem, filterQuery, matchRoute } from './allow-list';
import { allowedHosts, hostOriginProblem, newToken, securityHeaders, tokenCookie, tokenSource } from './security';
import { StatsHub, StatsMessage } from './stats-hub';
import { bridgeExec } from './terminal';

export interface DashboardOptions {
  client: EngineClient;
  host: string;
  /** 0 picks a free port. */
  port: number;
  readOnly?: boolean;
  /** Fixed token (tests); a random one otherwise. */
  token?: string;
  /** Built front-end (index.html, app.js, app.css); defaults to the package's dist/web. */
  assetsDir?: string;
}

export interface Dashboard {
  url: string;
  token: string;
  port: number;
  stats: StatsHub;
  close(): Promise<void>;
}

const MAX_BODY = 1 << 20;
const TYPES: Record<string, string> = {
  '.html': 'text/html; charset=utf-8',
  '.js': 'text/javascript; charset=utf-8',
  '.css': 'text/css; charset=utf-8',
  '.png': 'image/png',
  '.svg': 'image/svg+xml',
  '.woff2': 'font/woff2',
};

/** dist/src/web → dist/web, where `npm run build` puts the bundle. */
export function defaultAssetsDir(): string {
  return resolve(__dirname, '..', '..', 'web');
}

function loadAssets(dir: string): Map<string, { type: string; body: Buffer }> {
  const out = new Map<string, { type: string; body: Buffer }>();
  for (const name of ['index.html', 'app.js', 'app.css']) {
    const p = join(dir, name);
    if (!existsSync(p)) throw new Error(`dashboard assets missing: ${p} (run npm run build)`);
    out.set(`/${name}`, { type: TYPES[extname(name)]!, body: readFileSync(p) });
  }
  out.set('/', out.get('/index.html')!);
  return out;
}

function sendJSON(res: http.ServerResponse, status: number, body: unknown): void {
  const text = JSON.stringify(body);
  res.writeHead(status, { ...securityHeaders(), 'Content-Type': 'application/json', 'Content-Length': Buffer.byteLength(text) });
  res.end(text);
}

function readBody(req: http.IncomingMessage): Promise<Buffer> {
  return new Promise((res, rej) => {
    const chunks: Buffer[] = [];
    let n = 0;
    req.on('data', (c: Buffer) => {
      n += c.length;
      if (n > MAX_BODY) {
        rej(new ClientError(413, 'request body too large'));
        req.destroy();
        return;
      }
      chunks.push(c);
    });
    req.on('end', () => res(Buffer.concat(chunks)));
    req.on('error', rej);
  });
}

export async function startDashboard(opts: DashboardOptions): Promise<Dashboard> {
  const token = opts.token ?? newToken();
  const readOnly = opts.readOnly === true;
  const assets = loadAssets(opts.assetsDir ?? defaultAssetsDir());
  const client = opts.client;
  const hub = new StatsHub(client);
  let hosts = new Set<string>();
  const wss = new WebSocketServer({ noServer: true, maxPayload: 1 << 20 });

  async function proxy(req: http.IncomingMessage, res: http.ServerResponse, url: URL): Promise<void> {
    const m = matchRoute(req.method ?? 'GET', url.pathname.slice('/api'.length));
    if (!m) return sendJSON(res, 404, { message: `the dashboard does not serve ${req.method} ${url.pathname}` });
    if (m.route.mutating && readOnly) return sendJSON(res, 403, { message: 'the dashboard is read-only' });
    let body: Buffer | undefined;
    if (m.route.body) {
      body = await readBody(req);
      let parsed: unknown;
      try {
        parsed = JSON.parse(body.toString('utf8') || 'null');
      } catch {
        return sendJSON(res, 400, { message: 'the request body is not JSON' });
      }
      const problem = bodyProblem(m.route, parsed);
      if (problem) return sendJSON(res, 400, { message: problem });
    } else {
      req.resume();
    }
    const ac = new AbortController();
    res.on('close', () => ac.abort());
    let up: http.IncomingMessage;
    try {
      up = await client.transport.request(m.route.method, m.apiPath, {
        query: filterQuery(m.route, url.searchParams),
        body,
        headers: body ? { 'Content-Type': 'application/json' } : {},
        signal: ac.signal,
      });
    } catch (e) {
      if (res.headersSent || res.destroyed) return;
      if (e instanceof ClientError) return sendJSON(res, e.status, { message: e.message });
      return sendJSON(res, 502, { message: `engine: ${(e as Error).message}` });
    }
    const headers: Record<string, string> = { ...securityHeaders() };
    const ct = up.headers['content-type'];
    if (ct) headers['Content-Type'] = ct;
    res.writeHead(up.statusCode ?? 200, headers);
    res.flushHeaders();
    up.pipe(res);
    up.on('error', () => res.destroy());
  }

  function gate(req: http.IncomingMessage, url: URL): { status: number; message: string } | undefined {
    const problem = hostOriginProblem(req, hosts);
    if (problem) return { status: 403, message: problem };
    if (!tokenSource(req, url, token)) return { status: 401, message: 'a valid token is required: open the URL that berth dashboard printed' };
    return undefined;
  }

  const server = http.createServer((req, res) => {
    const url = new URL(req.url ?? '/', 'http://dashboard.invalid');
    const refused = gate(req, url);
    if (refused) return sendJSON(res, refused.status, { message: refused.message });
    // Opened from the printed URL: keep the token in a SameSite=Strict, HttpOnly cookie and drop it from the address bar.
    if (req.method === 'GET' && url.pathname === '/' && url.searchParams.has('token')) {
      res.writeHead(303, { ...securityHeaders(), 'Set-Cookie': tokenCookie(token), Location: '/' });
      return res.end();
    }
    if (url.pathname.startsWith('/api/')) {
      proxy(req, res, url).catch((e: unknown) => {
        if (!res.headersSent) sendJSON(res, e instanceof ClientError ? e.status : 500, { message: (e as Error).message });
        else res.destroy();
      });
      return;
    }
    if (url.pathname === '/dashboard/config' && req.method === 'GET') {
      return sendJSON(res, 200, { readOnly, engine: client.address.url });
    }
    // What the dashboard costs the engine right now: engine stats streams open, pages watching.
    if (url.pathname === '/dashboard/status' && req.method === 'GET') {
      return sendJSON(res, 200, { statsStreams: hub.upstreams(), sockets: wss.clients.size, rss: process.memoryUsage().rss });
    }
    const asset = assets.get(url.pathname);
    if (asset && (req.method === 'GET' || req.method === 'HEAD')) {
      res.writeHead(200, { ...securityHeaders(), 'Content-Type': asset.type, 'Content-Length': asset.body.length });
      return res.end(req.method === 'HEAD' ? undefined : asset.body);
    }
    sendJSON(res, 404, { message: `no such page: ${url.pathname}` });
  });

  server.on('upgrade', (req: http.IncomingMessage, socket: Duplex, head: Buffer) => {
    const url = new URL(req.url ?? '/', 'http://dashboard.invalid');
    const refused = gate(req, url) ??
      (url.pathname === '/ws/stats' ? undefined
        : url.pathname === '/ws/exec' ? (readOnly ? { status: 403, message: 'the dashboard is read-only' } : undefined)
        : { status: 404, message: 'no such socket' });
    if (refused) {
      socket.end(`HTTP/1.1 ${refused.status} ${http.STATUS_CODES[refused.status]}\r\nContent-Type: text/plain\r\nConnection: close\r\n\r\n${refused.message}\n`);
      return;
    }
    wss.handleUpgrade(req, socket, head, (ws) => {
      if (url.pathname === '/ws/stats') serveStats(ws, hub);
      else bridgeExec(ws, client, url.searchParams.get('id') ?? '');
    });
  });

  await new Promise<void>((res, rej) => {
    server.once('error', rej);
    server.listen(opts.port, opts.host, () => {
      server.off('error', rej);
      res();
    });
  });
  const port = (server.address() as { port: number }).port;
  hosts = allowedHosts(opts.host, port);
  const shown = opts.host.includes(':') ? `[${opts.host}]` : opts.host;
  return {
    url: `http://${shown}:${port}/?token=${token}`,
    token,
    port,
    stats: hub,
    close: () =>
      new Promise<void>((res) => {
        hub.close();
        for (const c of wss.clients) c.terminate();
        server.close(() => res());
        server.closeAllConnections();
      }),
  };
}

/** The page sends `{"subscribe":[ids]}` with every id it wants; readings come back one JSON per message. */
function serveStats(ws: WebSocket, hub: StatsHub): void {
  const subs = new Map<string, () => void>();
  const send = (m: StatsMessage) => {
    if ('ended' in m) subs.delete(m.id);
    if (ws.readyState === WebSocket.OPEN && ws.bufferedAmount < 1 << 20) ws.send(JSON.stringify(m));
  };
  ws.on('message', (data) => {
    let ids: unknown;
    try {
      ids = (JSON.parse(String(data)) as { subscribe?: unknown }).subscribe;
    } catch {
      return;
    }
    if (!Array.isArray(ids)) return;
    const want = new Set(ids.filter((x): x is string => typeof x === 'string' && /^[A-Za-z0-9][A-Za-z0-9_.-]*$/.test(x)).slice(0, 1000));
    for (const [id, off] of subs) if (!want.has(id)) { off(); subs.delete(id); }
    for (const id of want) if (!subs.has(id)) subs.set(id, hub.subscribe(id, send));
  });
  ws.on('close', () => {
    for (const off of subs.values()) off();
    subs.clear();
  });
}
