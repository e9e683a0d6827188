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
  /** Routes in the order they were added, by the first segment of their path ("containers"). */
  private readonly routes = new Map<string, Route[]>();
  /** API versions seen in request paths: undefined when in range, else the error's message. */
  private readonly versions = new Map<string, string | undefined>();

  add(method: string, pattern: string, handler: Handler): this {
    // `{name}` matches one segment, `{name*}` is greedy (image names contain slashes).
    const src = pattern.replace(/\{[a-z]+\*\}/gi, '(.+)').replace(/\{[a-z]+\}/gi, '([^/]+)');
    const first = firstSegment(pattern);
    if (first.includes('{')) throw new Error(`route ${pattern}: the first segment must be literal`);
    const list = this.routes.get(first) ?? [];
    list.push({ method, re: new RegExp(`^${src}$`), handler });
    this.routes.set(first, list);
    return this;
  }

  private versionError(v: string): string | undefined {
    if (this.versions.has(v)) return this.versions.get(v);
    let error: string | undefined;
    if (compareVersions(v, API_VERSION) > 0) error = `client version ${v} is too new. Maximum supported API version is ${API_VERSION}`;
    else if (compareVersions(v, MIN_API_VERSION) < 0) error = `client version ${v} is too old. Minimum supported API version is ${MIN_API_VERSION}, please upgrade your client to a newer version`;
    // Bounded: a client can put any number in the path.
    if (this.versions.size < 256) this.versions.set(v, error);
    return error;
  }

  /** Finds the handler; throws 404 for unknown paths and 400 for versions out of range. */
  match(method: string, rawPath: string): { handler: Handler; params: string[]; apiVersion: string } {
    let path = rawPath;
    let apiVersion = API_VERSION;
    const m = /^\/v(\d+\.\d+)(\/.*)$/.exec(path);
    if (m) {
      apiVersion = m[1]!;
      path = m[2]!;
      const error = this.versionError(apiVersion);
      if (error) throw invalidArgument(error);
    }
    for (const r of this.routes.get(firstSegment(path)) ?? []) {
      if (r.method !== method && !(method === 'HEAD' && r.method === 'GET')) continue;
      const hit = r.re.exec(path);
      if (hit) return { handler: r.handler, params: hit.slice(1).map(safeDecode), apiVersion };
    }
    throw notFound(`page not found`);
  }
}

/** "containers" of "/containers/{id}/json"; "" for "/" and for a path without a leading slash. */
function firstSegment(path: string): string {
  if (path[0] !== '/') return '';
  const end = path.indexOf('/', 1);
  return end < 0 ? path.slice(1) : path.slice(1, end);
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
