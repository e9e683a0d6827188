import { getSystemErrorMap } from 'node:util';

/**
 * Every failure Berth expects is a BerthError with a kind from this closed list.
 * Layers throw at the lowest level that knows what a failure means; the API edge
 * (api/errors.ts) is the one place that turns a kind into an HTTP status.
 * Anything that is not a BerthError is a bug and surfaces as `internal`.
 */
export const ERROR_KINDS = [
  'invalid-argument',
  'not-found',
  'already-exists',
  'conflict',
  'not-modified',
  'failed-precondition',
  'forbidden',
  'unavailable',
  'not-implemented',
  'internal',
] as const;

export type ErrorKind = (typeof ERROR_KINDS)[number];

export class BerthError extends Error {
  readonly kind: ErrorKind;
  constructor(kind: ErrorKind, message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.kind = kind;
    this.name = 'BerthError';
  }
}

/**
 * Content that does not hash to the digest it was given under (a blob, a layer, a
 * manifest): invalid-argument, with both digests for callers that name the source.
 */
export class DigestMismatchError extends BerthError {
  constructor(
    readonly expected: string,
    readonly actual: string,
    message = `content digest mismatch: expected ${expected}, got ${actual}`,
  ) {
    super('invalid-argument', message);
    this.name = 'DigestMismatchError';
  }
}

/**
 * A server error in berthd's own words, answered as it is: a container start that fails with
 * one reports it so (exit code 128), where the runtime's failures are read as dockerd reads
 * containerd's ("failed to create task for container: …").
 */
export class SystemError extends BerthError {
  constructor(message: string, options?: { cause?: unknown }) {
    super('internal', message, options);
    this.name = 'SystemError';
  }
}

export const invalidArgument = (msg: string, cause?: unknown) => new BerthError('invalid-argument', msg, { cause });
export const notFound = (msg: string, cause?: unknown) => new BerthError('not-found', msg, { cause });
export const alreadyExists = (msg: string, cause?: unknown) => new BerthError('already-exists', msg, { cause });
export const conflict = (msg: string, cause?: unknown) => new BerthError('conflict', msg, { cause });
export const notModified = (msg: string) => new BerthError('not-modified', msg);
export const failedPrecondition = (msg: string, cause?: unknown) => new BerthError('failed-precondition', msg, { cause });
export const unavailable = (msg: string, cause?: unknown) => new BerthError('unavailable', msg, { cause });
export const notImplemented = (msg: string) => new BerthError('not-implemented', msg);
export const internal = (msg: string, cause?: unknown) => new BerthError('internal', msg, { cause });

/** Walks the cause chain and returns the first kind found, or `internal`. */
export function errorKind(err: unknown): ErrorKind {
  for (let e: unknown = err, depth = 0; e && depth < 16; depth++) {
    if (e instanceof BerthError) return e.kind;
    e = (e as { cause?: unknown }).cause;
  }
  return 'internal';
}

/** The message a user should see: the outermost BerthError's, else the error's own. */
export function errorMessage(err: unknown): string {
  if (err instanceof Error) return err.message;
  return String(err);
}

/** The C library's wording for an errno ("no such device"), as strerror(3) gives it lower-cased. */
export function errnoMessage(errno: number): string {
  const known = getSystemErrorMap().get(-Math.abs(errno));
  return known ? known[1] : `errno ${errno}`;
}

/** Node system errors carry an errno code such as ENOENT; sys/ leaves their meaning to callers. */
export function isErrno(err: unknown, code: string): boolean {
  return typeof err === 'object' && err !== null && (err as NodeJS.ErrnoException).code === code;
}
