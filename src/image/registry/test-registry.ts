/**
 * Test peers for the registry client: the real CNCF distribution registry
 * (Debian's `docker-registry`) on 127.0.0.1 with a temp storage dir, and a
 * tiny HTTP server for answers a correct registry never gives (wrong bytes,
 * schema 1, dropped connections). Both listen on loopback only.
 */
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import type { Readable } from 'node:stream';
import type { Digest } from '../../common';
import { spawn, type ChildProcess } from 'node:child_process';
import { existsSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import http from 'node:http';
import net from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

export const REGISTRY_BINARY = process.env.BERTH_TEST_REGISTRY ?? '/usr/bin/docker-registry';

export interface TestRegistry {
  /** `127.0.0.1:PORT`: the domain of references to it. */
  domain: string;
  port: number;
  dir: string;
  stop(): Promise<void>;
}

/** A loopback port that was free a moment ago. */
export function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const s = net.createServer();
    s.once('error', reject);
    s.listen(0, '127.0.0.1', () => {
      const port = (s.address() as net.AddressInfo).port;
      s.close(() => resolve(port));
    });
  });
}

export interface RegistryAuthOptions {
  /** An htpasswd file's content (bcrypt entries): Basic auth. */
  htpasswd?: string;
  /** Docker token auth: tokens are JWTs from `realm`, signed by a key whose certificate is in the PEM `rootCertBundle`. */
  token?: { realm: string; service: string; issuer: string; rootCertBundle: string };
}

/**
 * Starts docker-registry and resolves once GET /v2/ answers, with no auth,
 * Basic auth or token auth. Fails, never skips, when the binary is missing:
 * these tests need it.
 */
export async function startRegistry(opts: RegistryAuthOptions = {}): Promise<TestRegistry> {
  if (!existsSync(REGISTRY_BINARY)) {
    throw new Error(`${REGISTRY_BINARY} not found: install Debian's docker-registry package (the CNCF distribution registry) to run these tests`);
  }
  const dir = mkdtempSync(join(tmpdir(), 'berth-registry-'));
  for (let tries = 0; ; tries++) {
    const port = await freePort();
    let auth = '';
    if (opts.htpasswd !== undefined) {
      writeFileSync(join(dir, 'htpasswd'), opts.htpasswd);
      auth = `auth:\n  htpasswd:\n    realm: berth-test\n    path: ${join(dir, 'htpasswd')}\n`;
    } else if (opts.token) {
      writeFileSync(join(dir, 'token-roots.pem'), opts.token.rootCertBundle);
      const t = opts.token;
      auth = `auth:\n  token:\n    realm: ${t.realm}\n    service: ${t.service}\n    issuer: ${t.issuer}\n    rootcertbundle: ${join(dir, 'token-roots.pem')}\n`;
    }
    writeFileSync(join(dir, 'config.yml'), [
      'version: 0.1',
      'log:',
      '  level: error',
      '  accesslog:',
      '    disabled: true',
      'storage:',
      '  filesystem:',
      `    rootdirectory: ${join(dir, 'data')}`,
      '  delete:',
      '    enabled: true',
      'http:',
      `  addr: 127.0.0.1:${port}`,
      '  secret: berth-test-secret',
      auth,
    ].join('\n'));
    const child = spawn(REGISTRY_BINARY, ['serve', join(dir, 'config.yml')], { stdio: ['ignore', 'ignore', 'pipe'] });
    let stderr = '';
    child.stderr!.on('data', (b: Buffer) => {
      if (stderr.length < 16384) stderr += b.toString();
    });
    try {
      await untilReady(child, port);
    } catch (err) {
      child.kill('SIGKILL');
      // Another process may have taken the port between freePort and the registry's bind.
      if (tries < 2 && /address already in use/.test(stderr)) continue;
      rmSync(dir, { recursive: true, force: true });
      throw new Error(`docker-registry did not start: ${(err as Error).message}\n${stderr}`);
    }
    return {
      domain: `127.0.0.1:${port}`,
      port,
      dir,
      stop: async () => {
        if (child.exitCode === null && child.signalCode === null) {
          const exited = new Promise((r) => child.once('exit', r));
          child.kill('SIGTERM');
          await exited;
        }
        rmSync(dir, { recursive: true, force: true });
      },
    };
  }
}

/** Polls GET /v2/ (each try waits for the previous answer or refusal) until the registry answers, it exits, or 15 s pass. */
async function untilReady(child: ChildProcess, port: number): Promise<void> {
  const deadline = Date.now() + 15_000;
  let exited = false;
  child.once('exit', () => (exited = true));
  while (!exited) {
    const status = await new Promise<number>((resolve) => {
      const req = http.get({ host: '127.0.0.1', port, path: '/v2/', agent: false }, (res) => {
        res.resume();
        resolve(res.statusCode ?? 0);
      });
      req.once('error', () => resolve(0));
    });
    if (status === 200 || status === 401) return;
    if (Date.now() > deadline) throw new Error('no answer on /v2/ within 15 s');
    // The process is starting: yield to it before asking again.
    await new Promise<void>((r) => setImmediate(r));
  }
  throw new Error(`exited with ${child.exitCode ?? child.signalCode}`);
}

export interface TestServer {
  port: number;
  domain: string;
  /** `METHOD url` and the authorization header of each request, in order. */
  log: { line: string; authorization?: string; range?: string }[];
  close(): Promise<void>;
}

/** An HTTP server on 127.0.0.1 answering with `handler`; the body is read first. */
export async function startServer(handler: (req: http.IncomingMessage, res: http.ServerResponse, body: Buffer) => void): Promise<TestServer> {
  const log: TestServer['log'] = [];
  const sockets = new Set<net.Socket>();
  const server = http.createServer((req, res) => {
    const entry: TestServer['log'][number] = { line: `${req.method} ${req.url}` };
    if (req.headers.authorization) entry.authorization = req.headers.authorization;
    if (req.headers.range) entry.range = req.headers.range;
    log.push(entry);
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => handler(req, res, Buffer.concat(chunks)));
  });
  server.on('connection', (s) => {
    sockets.add(s);
    s.once('close', () => sockets.delete(s));
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  const port = (server.address() as net.AddressInfo).port;
  return {
    port,
    domain: `127.0.0.1:${port}`,
    log,
    close: () => new Promise<void>((r) => {
      for (const s of sockets) s.destroy();
      server.close(() => r());
    }),
  };
}

/** The sha256 digest of bytes. */
export const sha = (b: Buffer) => `sha256:${createHash('sha256').update(b).digest('hex')}` as Digest;

/** An assert.rejects/throws matcher: a BerthError of kind `k`, its message equal to or matching `msg`. */
export const kind = (k: string, msg?: string | RegExp) => (e: Error & { kind?: string }) => {
  assert.equal(e.kind, k, e.message);
  if (typeof msg === 'string') assert.equal(e.message, msg);
  else if (msg) assert.match(e.message, msg);
  return true;
};

/** Everything a stream gives, as one buffer. */
export async function readAll(r: Readable): Promise<Buffer> {
  const parts: Buffer[] = [];
  for await (const c of r) parts.push(c as Buffer);
  return Buffer.concat(parts);
}
