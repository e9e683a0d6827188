import http from 'node:http';
import type { Duplex, Readable } from 'node:stream';
import { API_VERSION } from '../wire';
import { DaemonAddress } from './host';
import { ClientError, ConnectionError } from './errors';

export type QueryValue = string | number | boolean | undefined | null | string[];
export type Query = Record<string, QueryValue>;

export interface RequestOptions {
  query?: Query;
  /** A JSON value (serialised), a Buffer, or a stream piped as the body. */
  body?: unknown;
  headers?: Record<string, string>;
  signal?: AbortSignal;
}

/** A hijacked connection: after the 101, `socket` is a raw byte pipe both ways. */
export interface Hijacked {
  socket: Duplex;
  /** Bytes the daemon sent right after the header block, not yet read from `socket`. */
  head: Buffer;
  contentType: string;
}

/** Booleans as the daemon reads them (`1`/`0`); undefined and null are left out; arrays repeat the key. */
export function encodeQuery(q: Query | undefined): string {
  if (!q) return '';
  const p = new URLSearchParams();
  for (const [k, v] of Object.entries(q)) {
    if (v === undefined || v === null) continue;
    if (Array.isArray(v)) for (const item of v) p.append(k, item);
    else if (typeof v === 'boolean') p.append(k, v ? '1' : '0');
    else p.append(k, String(v));
  }
  const s = p.toString();
  return s ? `?${s}` : '';
}

function isReadable(v: unknown): v is Readable {
  return typeof v === 'object' && v !== null && typeof (v as Readable).pipe === 'function' && typeof (v as Readable).on === 'function';
}

export async function readAll(stream: Readable): Promise<Buffer> {
  const chunks: Buffer[] = [];
  for await (const c of stream) chunks.push(typeof c === 'string' ? Buffer.from(c) : (c as Buffer));
  return Buffer.concat(chunks);
}

/** The daemon's error text: `message` of a JSON body, else the body itself. */
export async function errorFrom(res: http.IncomingMessage): Promise<ClientError> {
  const status = res.statusCode ?? 500;
  const body = (await readAll(res).catch(() => Buffer.alloc(0))).toString('utf8');
  let message = body.trim();
  if ((res.headers['content-type'] ?? '').startsWith('application/json')) {
    try {
      const parsed = JSON.parse(body) as { message?: unknown };
      if (typeof parsed.message === 'string') message = parsed.message;
    } catch {
      // keep the raw body: a broken error document is still the best explanation we have
    }
  }
  if (!message) message = `${status} ${http.STATUS_CODES[status] ?? ''}`.trim();
  return new ClientError(status, message);
}

/**
 * HTTP/1.1 to the daemon: every path is sent under `/v{apiVersion}`. One connection
 * per request (no agent), so an idle keep-alive socket never holds the CLI open.
 */
export class Transport {
  readonly address: DaemonAddress;
  readonly apiVersion: string;
  private readonly userAgent: string;

  constructor(address: DaemonAddress, opts: { apiVersion?: string; userAgent?: string } = {}) {
    this.address = address;
    this.apiVersion = opts.apiVersion ?? API_VERSION;
    this.userAgent = opts.userAgent ?? 'Berth-Client/0.1.0 (linux)';
  }

  private requestOptions(method: string, path: string, opts: RequestOptions): http.RequestOptions {
    const headers: Record<string, string> = { 'User-Agent': this.userAgent, ...opts.headers };
    const base: http.RequestOptions = {
      method,
      path: `/v${this.apiVersion}${path}${encodeQuery(opts.query)}`,
      headers,
      agent: false,
      signal: opts.signal,
    };
    if (this.address.kind === 'unix') return { ...base, socketPath: this.address.socketPath, host: 'api.moby.localhost' };
    return { ...base, host: this.address.host, port: this.address.port };
  }

  private send(req: http.ClientRequest, body: unknown): void {
    if (body === undefined) {
      req.end();
    } else if (Buffer.isBuffer(body) || typeof body === 'string') {
      req.end(body);
    } else if (isReadable(body)) {
      body.on('error', (e) => req.destroy(e));
      body.pipe(req);
    } else {
      req.end(JSON.stringify(body));
    }
  }

  private prepare(opts: RequestOptions): RequestOptions {
    const body = opts.body;
    const headers = { ...opts.headers };
    if (body !== undefined && !Buffer.isBuffer(body) && typeof body !== 'string' && !isReadable(body)) {
      headers['Content-Type'] ??= 'application/json';
    }
    if (Buffer.isBuffer(body) || typeof body === 'string') headers['Content-Length'] ??= String(Buffer.byteLength(body));
    if (isReadable(body)) headers['Transfer-Encoding'] ??= 'chunked';
    return { ...opts, headers };
  }

  /**
   * Sends a request and resolves with the response once its headers arrive.
   * A status of 400 or more becomes a ClientError carrying the daemon's message.
   */
  request(method: string, path: string, options: RequestOptions = {}): Promise<http.IncomingMessage> {
    const opts = this.prepare(options);
    return new Promise((resolve, reject) => {
      const req = http.request(this.requestOptions(method, path, opts), (res) => {
        if ((res.statusCode ?? 500) >= 400) errorFrom(res).then(reject, reject);
        else resolve(res);
      });
      req.on('error', (e) => reject(this.wrapError(e)));
      this.send(req, opts.body);
    });
  }

  /** A request whose reply is one JSON document (or nothing: 204/304 give undefined). */
  async json<T>(method: string, path: string, opts: RequestOptions = {}): Promise<T> {
    const res = await this.request(method, path, opts);
    const body = await readAll(res);
    if (body.length === 0) return undefined as T;
    return JSON.parse(body.toString('utf8')) as T;
  }

  /** A request whose reply body is not needed; resolves with the status (204, 304, …). */
  async call(method: string, path: string, opts: RequestOptions = {}): Promise<number> {
    const res = await this.request(method, path, opts);
    res.resume();
    await new Promise<void>((r) => { res.on('end', r); res.on('close', r); });
    return res.statusCode ?? 0;
  }

  /**
   * The attach/exec upgrade: asks for `Upgrade: tcp` and requires `101`. Any other
   * success status is refused as docker does; an error status is a ClientError.
   */
  hijack(method: string, path: string, options: RequestOptions = {}): Promise<Hijacked> {
    const opts = this.prepare({
      ...options,
      headers: { 'Content-Type': 'text/plain', ...options.headers, Connection: 'Upgrade', Upgrade: 'tcp' },
    });
    return new Promise((resolve, reject) => {
      const req = http.request(this.requestOptions(method, path, opts));
      req.on('upgrade', (res, socket, head) => {
        resolve({ socket, head, contentType: String(res.headers['content-type'] ?? '') });
      });
      req.on('response', (res) => {
        if ((res.statusCode ?? 500) >= 400) errorFrom(res).then(reject, reject);
        else {
          res.resume();
          reject(new ClientError(res.statusCode ?? 500, `unable to upgrade to tcp, received ${res.statusCode}`));
        }
      });
      req.on('error', (e) => reject(this.wrapError(e)));
      this.send(req, opts.body);
    });
  }

  private wrapError(e: Error): Error {
    const code = (e as NodeJS.ErrnoException).code;
    if (code === 'ENOENT' || code === 'ECONNREFUSED' || code === 'EACCES' || code === 'ENOTSOCK' || code === 'EHOSTUNREACH') {
      return new ConnectionError(this.address.url, e);
    }
    return e;
  }
}
