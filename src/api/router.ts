/**
 * A small router for the Engine API: strips the optional /vX.Y prefix,
 * checks the version, and hands handlers a context with query helpers.
 */
import type { IncomingMessage, ServerResponse } from 'node:http';
import type { Duplex, Readable } from 'node:stream';
import { invalidArgument, notFound, parseFilterArgs, type FilterArgs } from '../common';
import { API_VERSION, MIN_API_VERSION } from '../wire';
import { foldFieldNames, parseJSON, type Spec } from './validate';

export interface Context {
  req: IncomingMessage;
  /** The request's body when it is not read from `req` (raw-body.ts: a `docker cp` PUT). */
  body?: Readable;
  /** Absent for hijacked (Upgrade) requests, which get `socket` instead. */
  res?: ServerResponse;
  socket?: Duplex;
  head?: Buffer;
  params: string[];
  query: URLSearchParams;
  apiVersion: string;
  requestId: string;
  /** Aborted when the client goes away. */
  abort: AbortSignal;
}

export type Handler = (ctx: Context) => Promise<void> | void;

interface Route {
  method: string;
  re: RegExp;
  handler: Handler;
}

export class Router {
  private readonly routes: Route[] = [];

  add(method: string, pattern: string, handler: Handler): this {
    // `{name}` matches one segment, `{name*}` is greedy (image names contain slashes).
    const src = pattern.replace(/\{[a-z]+\*\}/gi, '(.+)').replace(/\{[a-z]+\}/gi, '([^/]+)');
    this.routes.push({ method, re: new RegExp(`^${src}$`), handler });
    return this;
  }

  /** Finds the handler; throws 404 for unknown paths and 400 for versions out of range. */
  match(method: string, rawPath: string): { handler: Handler; params: string[]; apiVersion: string } {
    let path = rawPath;
    let apiVersion = API_VERSION;
    const m = /^\/v(\d+\.\d+)(\/.*)$/.exec(path);
    if (m) {
      apiVersion = m[1]!;
      path = m[2]!;
      if (compareVersions(apiVersion, API_VERSION) > 0) throw invalidArgument(`client version ${apiVersion} is too new. Maximum supported API version is ${API_VERSION}`);
      if (compareVersions(apiVersion, MIN_API_VERSION) < 0) throw invalidArgument(`client version ${apiVersion} is too old. Minimum supported API version is ${MIN_API_VERSION}, please upgrade your client to a newer version`);
    }
    const m2 = method === 'HEAD' ? ['HEAD', 'GET'] : [method];
    for (const r of this.routes) {
      if (!m2.includes(r.method)) continue;
      const hit = r.re.exec(path);
      if (hit) return { handler: r.handler, params: hit.slice(1).map(safeDecode), apiVersion };
    }
    throw notFound(`page not found`);
  }
}

function safeDecode(s: string): string {
  try {
    return decodeURIComponent(s);
  } catch {
    throw invalidArgument(`invalid percent-encoding in path segment ${JSON.stringify(s)}`);
  }
}

export function compareVersions(a: string, b: string): number {
  const [a1, a2] = a.split('.').map(Number) as [number, number];
  const [b1, b2] = b.split('.').map(Number) as [number, number];
  return a1 !== b1 ? a1 - b1 : a2 - b2;
}

/** Docker's query booleans: true unless empty, 0, no, false or none; `def` when absent. */
export function qbool(q: URLSearchParams, name: string, def = false): boolean {
  const v = q.get(name);
  if (v === null) return def;
  return !['', '0', 'no', 'false', 'none'].includes(v.toLowerCase());
}

export function qint(q: URLSearchParams, name: string): number | undefined {
  const v = q.get(name);
  if (v === null || v === '') return undefined;
  const n = Number(v);
  if (!Number.isInteger(n)) throw invalidArgument(`invalid value for ${name}: ${JSON.stringify(v)} is not an integer`);
  return n;
}

/** The `filters` query parameter (see common/filters.ts). */
export function qfilters(q: URLSearchParams): FilterArgs {
  return parseFilterArgs(q.get('filters'));
}

const MAX_JSON_BODY = 16 << 20;

/**
 * Reads a JSON request body (at most 16 MiB) whose fields are those of `shape`,
 * matched regardless of case as dockerd does (see foldFieldNames).
 */
export async function readJSONBody(ctx: Context, what: string, shape: Record<string, Spec>): Promise<unknown> {
  const chunks: Buffer[] = [];
  let size = 0;
  for await (const c of ctx.req) {
    size += (c as Buffer).length;
    if (size > MAX_JSON_BODY) throw invalidArgument(`${what} is larger than ${MAX_JSON_BODY} bytes`);
    chunks.push(c as Buffer);
  }
  return foldFieldNames(parseJSON(Buffer.concat(chunks), what), shape);
}
