/**
 * The Engine API server: HTTP/1.1 on a unix socket. Every response carries
 * Docker's identification headers; every failure becomes `{"message": …}` with
 * the status from errors.ts. No request may crash the daemon: handler errors,
 * malformed HTTP and clients that vanish mid-stream all end only that request.
 */
import http, { type IncomingMessage, type ServerResponse } from 'node:http';
import { promises as fsp } from 'node:fs';
import type { Socket } from 'node:net';
import type { Duplex, Readable } from 'node:stream';
import { randomBytes } from 'node:crypto';
import { dirname } from 'node:path';
import { invalidArgument, log, TRACING, traceSpan, traceStart } from '../common';
import { ENGINE_VERSION, type Engine } from '../engine';
import { API_VERSION } from '../wire';
import { errorBody, writeError } from './errors';
import { containerRoutes } from './handlers/containers';
import { execRoutes } from './handlers/exec';
import { containerOpsRoutes } from './handlers/container-ops';
import { changesRoutes } from './handlers/changes';
import { imageRoutes } from './handlers/images';
import { swarmRoutes } from './handlers/swarm';
import { distributionRoutes } from './handlers/distribution';
import { systemRoutes } from './handlers/system';
import { volumeRoutes } from './handlers/volumes';
import { networkRoutes } from './handlers/networks';
import { buildRoutes } from './handlers/build';
import { archiveRoutes } from './handlers/archive';
import { pruneRoutes } from './handlers/prune';
import { RawRequestBody, rawFramingOf, respondOn, watchRawBodies } from './raw-body';
import { Router, type Context } from './router';

/** Requests whose body is read from the connection itself (raw-body.ts): `docker cp` into a container. */
const RAW_BODY_PATH = /^(?:\/v\d+(?:\.\d+)?)?\/containers\/[^/?]+\/archive(?:\?|$)/;

const COMMON_HEADERS: Record<string, string> = {
  'Api-Version': API_VERSION,
  Ostype: 'linux',
  'Docker-Experimental': 'false',
  Server: `Berth/${ENGINE_VERSION} (linux)`,
};

export function buildRouter(engine: Engine): Router {
  const router = new Router();
  systemRoutes(router, engine);
  imageRoutes(router, engine);
  distributionRoutes(router, engine);
  containerRoutes(router, engine);
  execRoutes(router, engine);
  containerOpsRoutes(router, engine);
  changesRoutes(router, engine);
  volumeRoutes(router, engine);
  networkRoutes(router, engine);
  archiveRoutes(router, engine);
  swarmRoutes(router);
  buildRoutes(router, engine);
  // Last: the network and build-cache stand-ins give way to real routes.
  pruneRoutes(router, engine);
  return router;
}

/** A request path that WHATWG URL parsing leaves as it is (but for dot segments, checked apart). */
const PLAIN_PATH = /^\/(?!\/)[A-Za-z0-9_.:@+\/-]*$/;
const DOT_SEGMENT = /\/\.\.?(?:\/|$)/;

/** A request target's path and query, as WHATWG URL parsing against http://berth gives them. */
export function parseTarget(target: string): { query: URLSearchParams; path: string } {
  // Most targets are plain (`/v1.45/containers/ID/json?all=1`): split by hand, as URL parsing
  // cost about 30 µs a request here. A target it would rewrite (percent-encoding, dot
  // segments, a fragment, characters it escapes) goes through it.
  const q = target.indexOf('?');
  const path = q < 0 ? target : target.slice(0, q);
  if (PLAIN_PATH.test(path) && !DOT_SEGMENT.test(path) && (q < 0 || !target.includes('#', q))) {
    return { path, query: new URLSearchParams(q < 0 ? '' : target.slice(q + 1)) };
  }
  let url: URL;
  try {
    url = new URL(target, 'http://berth');
  } catch {
    throw invalidArgument(`malformed request target ${JSON.stringify(target)}: use a path such as /v1.45/containers/json`);
  }
  return { query: url.searchParams, path: url.pathname };
}

/** Request ids for logs and error answers: unique per daemon run, and cheap (no syscall each). */
const REQUEST_ID_PREFIX = randomBytes(3).toString('hex');
let requestCount = 0;
function nextRequestId(): string {
  return REQUEST_ID_PREFIX + (++requestCount).toString(16).padStart(6, '0');
}

export class ApiServer {
  private readonly server: http.Server;
  private readonly router: Router;

  constructor(engine: Engine) {
    this.router = buildRouter(engine);
    this.server = http.createServer({ keepAlive: true, requestTimeout: 0 }, (req, res) => void this.handle(req, res));
    this.server.on('connection', (socket: Socket) => watchRawBodies(socket, (req) => req.method === 'PUT' && RAW_BODY_PATH.test(req.url ?? '')));
    this.server.on('upgrade', (req: IncomingMessage, socket: Duplex, head: Buffer) => {
      const framing = rawFramingOf(req);
      if (!framing) return void this.handleUpgrade(req, socket, head);
      socket.on('error', (err) => log.debug('connection failed', { error: String(err) }));
      let res: ServerResponse;
      let body: RawRequestBody;
      try {
        // Synchronously, before node reads the socket again.
        body = new RawRequestBody(socket as Socket, head, framing);
        res = respondOn(req, socket as Socket, body);
      } catch (err) {
        log.warn('cannot answer a request on its connection', { error: String(err) });
        return void socket.destroy();
      }
      void this.handle(req, res, body);
    });
    this.server.on('clientError', (err, socket) => {
      log.debug('malformed request', { error: String(err) });
      if (socket.writable) socket.end('HTTP/1.1 400 Bad Request\r\nContent-Type: application/json\r\nConnection: close\r\n\r\n{"message":"malformed HTTP request"}\n');
      else socket.destroy();
    });
  }

  /** Listens on `unix:///path` (the socket file is replaced) or `tcp://host:port`. */
  async listen(address: string): Promise<void> {
    if (address.startsWith('unix://')) {
      const path = address.slice('unix://'.length);
      await fsp.mkdir(dirname(path), { recursive: true });
      await fsp.rm(path, { force: true });
      await new Promise<void>((resolve, reject) => {
        this.server.once('error', reject);
        this.server.listen(path, () => resolve());
      });
      await fsp.chmod(path, 0o660);
      return;
    }
    const m = /^tcp:\/\/([^:]*):(\d+)$/.exec(address);
    if (!m) throw invalidArgument(`unsupported listen address ${address}: use unix:///path or tcp://host:port`);
    await new Promise<void>((resolve, reject) => {
      this.server.once('error', reject);
      this.server.listen(Number(m[2]), m[1] || '127.0.0.1', () => resolve());
    });
  }

  close(): Promise<void> {
    return new Promise((resolve) => {
      this.server.close(() => resolve());
      this.server.closeAllConnections();
    });
  }

  /** `body`: the request's body when it is not `req` (raw-body.ts). */
  private async handle(req: IncomingMessage, res: ServerResponse, body?: Readable): Promise<void> {
    for (const [k, v] of Object.entries(COMMON_HEADERS)) res.setHeader(k, v);
    // Most requests end without any handler asking whether the client left: the controller is
    // made when one asks, and a response that was sent in full aborts nothing.
    let abort: AbortController | undefined;
    let gone = false;
    const leave = () => {
      gone = true;
      abort?.abort();
    };
    res.on('close', () => {
      if (!res.writableFinished) leave();
    });
    req.on('error', leave);
    const requestId = nextRequestId();
    try {
      const { query, path } = parseTarget(req.url ?? '/');
      const { handler, params, apiVersion } = this.router.match(req.method ?? 'GET', path);
      const ctx: Context = {
        req, res, query, params, apiVersion, requestId,
        get abort() {
          if (!abort) {
            abort = new AbortController();
            if (gone) abort.abort();
          }
          return abort.signal;
        },
      };
      if (body) ctx.body = body;
      const t0 = traceStart();
      await handler(ctx);
      if (TRACING) traceSpan('http', `${req.method} ${path}`, t0);
    } catch (err) {
      // The client went away (mid-body, mid-stream): nobody to answer, and not a daemon error.
      if (gone) return log.debug('client went away', { requestId, error: String(err) });
      writeError(res, err, requestId);
    }
  }

  private async handleUpgrade(req: IncomingMessage, socket: Duplex, head: Buffer): Promise<void> {
    const abort = new AbortController();
    socket.on('close', () => abort.abort());
    socket.on('error', () => abort.abort());
    const requestId = nextRequestId();
    try {
      const { query, path } = parseTarget(req.url ?? '/');
      const { handler, params, apiVersion } = this.router.match(req.method ?? 'GET', path);
      const ctx: Context = { req, query, requestId, abort: abort.signal, socket, head, params, apiVersion };
      if (!/\/(attach|start|attach\/ws)$/.test(path)) throw invalidArgument(`${path} does not upgrade connections: send the request without an Upgrade header`);
      const t0 = traceStart();
      await handler(ctx);
      if (TRACING) traceSpan('http', `${req.method} ${path} (upgraded)`, t0);
    } catch (err) {
      const { status, body } = errorBody(err, requestId);
      if (socket.writable) {
        const headers = Object.entries(COMMON_HEADERS).map(([k, v]) => `${k}: ${v}\r\n`).join('');
        socket.end(`HTTP/1.1 ${status} ${http.STATUS_CODES[status] ?? ''}\r\n${headers}Content-Type: application/json\r\nContent-Length: ${Buffer.byteLength(body)}\r\nConnection: close\r\n\r\n${body}`);
      }
    }
  }
}
