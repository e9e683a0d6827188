/**
 * Registry failures as Berth error kinds. A registry answers errors as
 * `{"errors":[{"code":…,"message":…}]}` (distribution spec, "Error Codes");
 * the code decides the kind where it is known, else the HTTP status does.
 * Messages keep dockerd's shape (`manifest unknown: manifest unknown`) since
 * users and scripts match on them.
 */
import type { IncomingHttpHeaders } from 'node:http';
import { BerthError, type ErrorKind } from '../../common';

/** One entry of a registry's error body, as received (truncated, never trusted as markup). */
export interface RegistryErrorEntry {
  code: string;
  message: string;
}

/** A failure the registry reported, with what it said. `kind` decides the API status as for any BerthError. */
export class RegistryError extends BerthError {
  constructor(
    kind: ErrorKind,
    message: string,
    /** The HTTP status of the answer, 0 when none came (connection failures). */
    readonly status: number,
    /** The registry's error entries, possibly none. */
    readonly errors: readonly RegistryErrorEntry[] = [],
    /** For 429 and 503: seconds the registry asked us to wait, when it said so. */
    readonly retryAfterSeconds?: number,
    options?: { cause?: unknown },
  ) {
    super(kind, message, options);
    this.name = 'RegistryError';
  }

  /** True when the registry said the repository, manifest or blob does not exist. */
  get isNotFound(): boolean {
    return this.kind === 'not-found';
  }
}

const CODE_KIND: Record<string, ErrorKind> = {
  BLOB_UNKNOWN: 'not-found',
  BLOB_UPLOAD_UNKNOWN: 'not-found',
  MANIFEST_UNKNOWN: 'not-found',
  NAME_UNKNOWN: 'not-found',
  MANIFEST_BLOB_UNKNOWN: 'failed-precondition',
  BLOB_UPLOAD_INVALID: 'invalid-argument',
  DIGEST_INVALID: 'invalid-argument',
  MANIFEST_INVALID: 'invalid-argument',
  MANIFEST_UNVERIFIED: 'invalid-argument',
  NAME_INVALID: 'invalid-argument',
  SIZE_INVALID: 'invalid-argument',
  TAG_INVALID: 'invalid-argument',
  PAGINATION_NUMBER_INVALID: 'invalid-argument',
  RANGE_INVALID: 'invalid-argument',
  UNAUTHORIZED: 'forbidden',
  DENIED: 'forbidden',
  UNSUPPORTED: 'not-implemented',
  TOOMANYREQUESTS: 'unavailable',
  UNAVAILABLE: 'unavailable',
};

function kindOfStatus(status: number): ErrorKind {
  if (status === 404) return 'not-found';
  if (status === 401 || status === 403) return 'forbidden';
  if (status === 400 || status === 413 || status === 416) return 'invalid-argument';
  if (status === 405) return 'not-implemented';
  if (status === 409) return 'conflict';
  if (status === 429 || status >= 500) return 'unavailable';
  return 'internal';
}

const STATUS_TEXT: Record<number, string> = {
  400: 'Bad Request', 401: 'Unauthorized', 403: 'Forbidden', 404: 'Not Found', 405: 'Method Not Allowed',
  409: 'Conflict', 413: 'Payload Too Large', 416: 'Range Not Satisfiable', 429: 'Too Many Requests',
  500: 'Internal Server Error', 502: 'Bad Gateway', 503: 'Service Unavailable', 504: 'Gateway Timeout',
};
export const statusText = (status: number): string => `${status} ${STATUS_TEXT[status] ?? 'Unknown Status'}`;

const MAX_ENTRIES = 8;
const MAX_TEXT = 512;

/** The entries of a registry error body, or none when it is not one. Hostile input: bounded and type-checked. */
export function parseErrorBody(body: Buffer | undefined): RegistryErrorEntry[] {
  if (!body || body.length === 0) return [];
  let v: unknown;
  try {
    v = JSON.parse(body.toString('utf8'));
  } catch {
    return [];
  }
  const list = (v as { errors?: unknown } | null)?.errors;
  if (!Array.isArray(list)) return [];
  const out: RegistryErrorEntry[] = [];
  for (const e of list.slice(0, MAX_ENTRIES)) {
    const code = (e as { code?: unknown } | null)?.code;
    const message = (e as { message?: unknown } | null)?.message;
    if (typeof code !== 'string') continue;
    out.push({ code: clean(code).toUpperCase(), message: typeof message === 'string' ? clean(message) : '' });
  }
  return out;
}

/** Printable, single-line, bounded. */
function clean(s: string): string {
  // eslint-disable-next-line no-control-regex
  const t = s.replace(/[\u0000-\u001f\u007f]+/g, ' ');
  return t.length > MAX_TEXT ? `${t.slice(0, MAX_TEXT)}…` : t;
}

/** `MANIFEST_UNKNOWN` with message `manifest unknown` reads `manifest unknown: manifest unknown`, as dockerd prints it. */
export function describeEntries(entries: readonly RegistryErrorEntry[]): string {
  return entries.map((e) => {
    const code = e.code.toLowerCase().replace(/_/g, ' ');
    return e.message ? `${code}: ${e.message}` : code;
  }).join('; ');
}

/** Seconds to wait from a Retry-After header (delta seconds or an HTTP date), if it has a usable one. */
export function parseRetryAfter(value: string | undefined, now = Date.now()): number | undefined {
  if (!value) return undefined;
  const v = value.trim();
  if (/^\d{1,9}$/.test(v)) return Number(v);
  const t = Date.parse(v);
  if (Number.isNaN(t)) return undefined;
  return Math.max(0, Math.ceil((t - now) / 1000));
}

/**
 * The error for a response that was not what the operation wanted.
 * `subject` names what was asked for; `notFoundMessage`, when given, is used
 * for a not-found answer (prefixing the registry's own words).
 */
export function errorFromResponse(
  status: number, headers: IncomingHttpHeaders, body: Buffer | undefined,
  what: { request: string; notFoundPrefix?: string },
): RegistryError {
  const entries = parseErrorBody(body);
  const said = entries.length > 0 ? describeEntries(entries) : undefined;
  let kind: ErrorKind = kindOfStatus(status);
  for (const e of entries) {
    const k = CODE_KIND[e.code];
    if (k) {
      kind = k;
      break;
    }
  }
  if (status === 429 || entries.some((e) => e.code === 'TOOMANYREQUESTS')) {
    const after = parseRetryAfter(firstHeader(headers['retry-after']));
    const when = after !== undefined ? `retry after ${after} seconds` : 'retry later';
    return new RegistryError('unavailable', `${what.request}: rate-limited by the registry (${said ?? statusText(status)}); ${when}`, status, entries, after);
  }
  if (kind === 'not-found' && what.notFoundPrefix) {
    return new RegistryError(kind, `${what.notFoundPrefix}: ${said ?? 'not found'}`, status, entries);
  }
  if (kind === 'forbidden' && !said) {
    return new RegistryError(kind, `${what.request}: unauthorized: authentication required`, status, entries);
  }
  const retry = status === 503 ? parseRetryAfter(firstHeader(headers['retry-after'])) : undefined;
  const text = said ?? `received unexpected HTTP status: ${statusText(status)}`;
  return new RegistryError(kind, `${what.request}: ${text}`, status, entries, retry);
}

export function firstHeader(v: string | string[] | undefined): string | undefined {
  return Array.isArray(v) ? v[0] : v;
}
