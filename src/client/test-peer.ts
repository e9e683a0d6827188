import http from 'node:http';
import type { Duplex } from 'node:stream';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

/**
 * A tiny HTTP server on a temp unix socket for tests of the client and the CLI:
 * a real peer speaking the wire protocol, not a mock of the code under test.
 * `onRequest` answers ordinary requests; `onUpgrade` gets hijack requests raw.
 */
export interface TestPeer {
  socketPath: string;
  host: string;
  /** `METHOD path?query` of every request, in arrival order. */
  log: string[];
  close(): Promise<void>;
}

export interface PeerHandlers {
  onRequest(req: http.IncomingMessage, res: http.ServerResponse, body: Buffer): void;
  onUpgrade?(req: http.IncomingMessage, socket: Duplex, head: Buffer): void;
}

export async function startPeer(h: PeerHandlers): Promise<TestPeer> {
  const dir = mkdtempSync(join(tmpdir(), 'berth-peer-'));
  const socketPath = join(dir, 'd.sock');
  const log: string[] = [];
  const sockets = new Set<Duplex>();
  const server = http.createServer((req, res) => {
    log.push(`${req.method} ${req.url}`);
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => h.onRequest(req, res, Buffer.concat(chunks)));
  });
  server.on('connection', (s) => {
    sockets.add(s);
    s.on('close', () => sockets.delete(s));
  });
  server.on('upgrade', (req: http.IncomingMessage, socket: Duplex, head: Buffer) => {
    log.push(`${req.method} ${req.url} (upgrade)`);
    sockets.add(socket);
    if (h.onUpgrade) h.onUpgrade(req, socket, head);
    else socket.destroy();
  });
  await new Promise<void>((r) => server.listen(socketPath, r));
  return {
    socketPath,
    host: `unix://${socketPath}`,
    log,
    close: () =>
      new Promise<void>((r) => {
        for (const s of sockets) s.destroy();
        server.close(() => {
          rmSync(dir, { recursive: true, force: true });
          r();
        });
      }),
  };
}

/** Writes a JSON reply the way moby does (exact `application/json` content type). */
export function sendJSON(res: http.ServerResponse, status: number, value: unknown): void {
  const body = JSON.stringify(value);
  res.writeHead(status, { 'Content-Type': 'application/json', 'Content-Length': Buffer.byteLength(body) });
  res.end(body);
}

/** The 101 reply block of a hijacked attach/exec. */
export function upgradeHead(contentType: string): string {
  return `HTTP/1.1 101 UPGRADED\r\nContent-Type: ${contentType}\r\nConnection: Upgrade\r\nUpgrade: tcp\r\n\r\n`;
}
