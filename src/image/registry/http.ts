/**
 * One HTTP exchange with a registry or its token/storage servers, on node's
 * http/https. Connection failures become `unavailable` errors worded as
 * dockerd's (`Get "http://127.0.0.1:5999/v2/": dial tcp 127.0.0.1:5999:
 * connect: connection refused`), since that is what users search for.
 */
import http, { type IncomingMessage } from 'node:http';
import https from 'node:https';
import type { Readable } from 'node:stream';
import { BerthError, isErrno } from '../../common';
import { RegistryError } from './errors';

export interface HttpRequest {
  method: 'GET' | 'HEAD' | 'POST' | 'PUT' | 'PATCH' | 'DELETE';
  url: URL;
  headers?: Record<string, string>;
  /** A Buffer can be sent again (after a 401 or a redirect); a stream cannot. */
  body?: Buffer | Readable;
}

export interface HttpAgents {
  http: http.Agent;
  https: https.Agent;
  /** Idle time on a connection before it is dropped, in milliseconds. */
  idleTimeoutMs: number;
  userAgent: string;
}

export function newAgents(idleTimeoutMs: number, userAgent: string): HttpAgents {
  return {
    http: new http.Agent({ keepAlive: true, maxSockets: 16 }),
    https: new https.Agent({ keepAlive: true, maxSockets: 16 }),
    idleTimeoutMs,
    userAgent,
  };
}

/**
 * Sends `req` and resolves with the response head once it arrives; the
 * caller owns the body (read it or destroy it). Does not follow redirects.
 */
export function send(agents: HttpAgents, req: HttpRequest): Promise<IncomingMessage> {
  const { url } = req;
  if (url.protocol !== 'http:' && url.protocol !== 'https:') {
    return Promise.reject(new RegistryError('invalid-argument', `unsupported URL scheme in ${JSON.stringify(url.href)}`, 0));
  }
  const secure = url.protocol === 'https:';
  const headers: Record<string, string> = { 'user-agent': agents.userAgent, ...req.headers };
  if (Buffer.isBuffer(req.body)) headers['content-length'] = String(req.body.length);
  else if (req.body === undefined && (req.method === 'POST' || req.method === 'PUT' || req.method === 'PATCH')) headers['content-length'] = '0';
  return new Promise<IncomingMessage>((resolve, reject) => {
    const r = (secure ? https : http).request(url, { method: req.method, headers, agent: secure ? agents.https : agents.http });
    let settled = false;
    const fail = (err: unknown) => {
      if (settled) return;
      settled = true;
      reject(transportError(req.method, url, err));
    };
    r.setTimeout(agents.idleTimeoutMs, () => {
      const e = Object.assign(new Error('i/o timeout'), { code: 'ETIMEDOUT' });
      r.destroy(e);
    });
    r.once('error', fail);
    r.once('response', (res) => {
      settled = true;
      resolve(res);
    });
    const body = req.body;
    if (body === undefined) r.end();
    else if (Buffer.isBuffer(body)) r.end(body);
    else {
      body.once('error', (e) => r.destroy(e));
      body.pipe(r);
    }
  });
}

/** Go's method spelling in url.Error (`Get`, `Put`), which dockerd's messages carry. */
const goMethod = (m: string): string => m.charAt(0) + m.slice(1).toLowerCase();

/** The `dial tcp host:port` part of a Go network error. */
function dialTarget(url: URL): string {
  const port = url.port || (url.protocol === 'https:' ? '443' : '80');
  return `${url.hostname}:${port}`;
}

/** A transport failure (no HTTP answer) as an unavailable RegistryError in Go's words. */
export function transportError(method: string, url: URL, err: unknown): BerthError {
  if (err instanceof BerthError) return err;
  let detail: string;
  if (isErrno(err, 'ECONNREFUSED')) detail = `dial tcp ${dialTarget(url)}: connect: connection refused`;
  else if (isErrno(err, 'ENOTFOUND') || isErrno(err, 'EAI_AGAIN')) detail = `dial tcp: lookup ${url.hostname}: no such host`;
  else if (isErrno(err, 'EHOSTUNREACH')) detail = `dial tcp ${dialTarget(url)}: connect: no route to host`;
  else if (isErrno(err, 'ENETUNREACH')) detail = `dial tcp ${dialTarget(url)}: connect: network is unreachable`;
  else if (isErrno(err, 'ETIMEDOUT')) detail = `dial tcp ${dialTarget(url)}: i/o timeout`;
  else if (isErrno(err, 'ECONNRESET')) detail = 'read: connection reset by peer';
  else if (isErrno(err, 'EPIPE')) detail = 'write: broken pipe';
  else if (err instanceof Error && /certificate|SSL|TLS/i.test(`${(err as NodeJS.ErrnoException).code ?? ''} ${err.message}`)) {
    detail = `tls: failed to verify certificate: ${err.message}`;
  } else detail = err instanceof Error ? err.message : String(err);
  return new RegistryError('unavailable', `${goMethod(method)} "${url.href}": ${detail}`, 0, [], undefined, { cause: err });
}

/**
 * Reads a response body of at most `max` bytes. A longer body is an error:
 * registry answers are hostile input and are never buffered without bound.
 */
export async function readBody(res: IncomingMessage, max: number, what: string): Promise<Buffer> {
  const declared = Number(res.headers['content-length']);
  if (Number.isFinite(declared) && declared > max) {
    res.destroy();
    throw new RegistryError('invalid-argument', `${what}: the registry sent ${declared} bytes, more than the ${max} allowed`, res.statusCode ?? 0);
  }
  const chunks: Buffer[] = [];
  let n = 0;
  for await (const chunk of res) {
    const b = chunk as Buffer;
    n += b.length;
    if (n > max) {
      res.destroy();
      throw new RegistryError('invalid-argument', `${what}: the registry sent more than the ${max} bytes allowed`, res.statusCode ?? 0);
    }
    chunks.push(b);
  }
  return Buffer.concat(chunks, n);
}

/** Reads up to `max` bytes of a body we only want for an error message, dropping the rest. */
export async function readErrorBody(res: IncomingMessage, max = 64 * 1024): Promise<Buffer> {
  const chunks: Buffer[] = [];
  let n = 0;
  try {
    for await (const chunk of res) {
      const b = chunk as Buffer;
      if (n < max) chunks.push(b.subarray(0, max - n));
      n += b.length;
      if (n > 4 * max) {
        res.destroy();
        break;
      }
    }
  } catch {
    // A broken error body still leaves the status to report.
  }
  return Buffer.concat(chunks);
}

/**
 * Drops a response we do not read: a small declared body is drained so the
 * connection can be reused, anything else closes the connection (a hostile
 * server could stream forever).
 */
export function discard(res: IncomingMessage): void {
  res.once('error', () => undefined);
  const len = Number(res.headers['content-length']);
  if (res.complete || (Number.isFinite(len) && len <= 64 * 1024)) res.resume();
  else res.destroy();
}
