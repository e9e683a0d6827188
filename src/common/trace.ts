/**
 * Phase timing for benchmarks. With `BERTH_TRACE=FILE` in berthd's environment every
 * traced span is appended to FILE as one JSON line:
 *   {"key":"<container id or request>","phase":"runc create","at":<epoch ms>,"ms":<duration>}
 * Without it `TRACING` is false, `traceStart()` returns 0 and `traceSpan` returns at once:
 * no clock is read, nothing is allocated or written.
 */
import { openSync, writeSync } from 'node:fs';
import { performance } from 'node:perf_hooks';

const file = process.env.BERTH_TRACE;
let fd = -1;
if (file) {
  try {
    fd = openSync(file, 'a');
  } catch {
    fd = -1; // no trace rather than no daemon
  }
}

/** Whether spans are recorded. */
export const TRACING = fd >= 0;

/** The start of a span (0 when not tracing). */
export function traceStart(): number {
  return TRACING ? performance.now() : 0;
}

/** Records `phase` of `key` from `start` (a traceStart()) to now, or to `end`. */
export function traceSpan(key: string, phase: string, start: number, end?: number): void {
  if (!TRACING) return;
  const stop = end ?? performance.now();
  const line = JSON.stringify({ key, phase, at: performance.timeOrigin + start, ms: Math.round((stop - start) * 1000) / 1000 }) + '\n';
  try {
    writeSync(fd, line);
  } catch {
    // a full disk loses trace lines, nothing else
  }
}

/** Records a span whose start is an epoch time in ms (a file's mtime, say). */
export function traceSince(key: string, phase: string, epochStartMs: number): void {
  if (!TRACING) return;
  traceSpan(key, phase, epochStartMs - performance.timeOrigin);
}
