/**
 * Progress events (common/progress.ts) as Docker's JSON progress stream: one
 * JSON message per line, the shape docker's jsonmessage turns into progress
 * bars, and a final error line that clients raise as the operation's error.
 */
import type { ServerResponse } from 'node:http';
import { errorKind, log, type ProgressEvent, type ProgressSink } from '../common';
import { progressBar, type JSONMessage } from '../wire';
import { writeJSONLine } from './http';

/** One event as dockerd would send it. */
export function progressMessage(e: ProgressEvent): JSONMessage {
  switch (e.kind) {
    case 'status': {
      const moving = e.current !== undefined;
      return {
        status: e.status,
        ...(e.id !== undefined
          ? { progressDetail: moving ? { current: e.current, ...(e.total !== undefined ? { total: e.total } : {}) } : {} }
          : {}),
        ...(moving ? { progress: progressBar(e.current!, e.total) } : {}),
        // An empty id (progress of the whole operation, as `docker import URL` shows) is left out, as Go's omitempty does.
        ...(e.id ? { id: e.id } : {}),
      };
    }
    case 'message':
      return { stream: `${e.text}\n` };
    case 'aux':
      return { aux: e.aux };
  }
}

/** The line that ends a failed operation's stream: `{"errorDetail":{"message":…},"error":…}`. */
export function errorLine(err: unknown): JSONMessage {
  const message = err instanceof Error ? err.message : String(err);
  return { errorDetail: { message }, error: message };
}

/**
 * An operation's progress on a response whose headers are out (status 200,
 * application/json): `sink` writes each event; `fail` writes the error line,
 * since a status can no longer say it. Events after the client has gone are dropped.
 */
export class JSONProgressWriter {
  constructor(private readonly res: ServerResponse, private readonly quiet = false) {}

  readonly sink: ProgressSink = (e) => {
    if (this.quiet && e.kind === 'status') return;
    if (!this.res.writable) return;
    writeJSONLine(this.res, progressMessage(e));
  };

  fail(err: unknown, requestId: string): void {
    const line = errorLine(err);
    if (errorKind(err) === 'internal') log.error('streamed operation failed', { requestId, error: line.error, stack: err instanceof Error ? err.stack : undefined });
    else log.debug('streamed operation refused', { requestId, error: line.error });
    if (this.res.writable) writeJSONLine(this.res, line);
  }
}
