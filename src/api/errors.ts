/** The one table from error kind to HTTP status, and the error body Docker clients parse. */
import type { ServerResponse } from 'node:http';
import { errorKind, log, type ErrorKind } from '../common';

export const STATUS: Record<ErrorKind, number> = {
  'invalid-argument': 400,
  'not-found': 404,
  'already-exists': 409,
  conflict: 409,
  'not-modified': 304,
  'failed-precondition': 409,
  forbidden: 403,
  unavailable: 503,
  'not-implemented': 501,
  internal: 500,
};

export function statusOf(err: unknown): number {
  return STATUS[errorKind(err)];
}

/** The error as an HTTP status and Docker's `{"message": …}` body. */
export function errorBody(err: unknown, requestId: string): { status: number; body: string } {
  const status = statusOf(err);
  const message = err instanceof Error ? err.message : String(err);
  if (status >= 500) log.error('request failed', { requestId, error: message, stack: err instanceof Error ? err.stack : undefined });
  else log.debug('request refused', { requestId, status, error: message });
  return { status, body: status === 304 ? '' : JSON.stringify({ message }) + '\n' };
}

export function writeError(res: ServerResponse, err: unknown, requestId: string): void {
  const { status, body } = errorBody(err, requestId);
  if (res.headersSent) {
    res.destroy();
    return;
  }
  // The docker client compares this header literally: no charset. A length, not chunks, as
  // from dockerd: docker-py reads a chunked reply of a streaming endpoint (build, pull) as the
  // stream and a plain one as the error it raises.
  res.writeHead(status, status === 304 ? {} : { 'Content-Type': 'application/json', 'Content-Length': Buffer.byteLength(body) });
  res.end(body);
}
