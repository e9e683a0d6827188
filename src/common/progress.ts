/**
 * Progress of a long operation (load, pull, push, build), as the engine reports
 * it. Each front-end shows it its own way: api/ as Docker's JSON progress lines,
 * the berth CLI as bars, the CRI server not at all. Nothing here knows a wire
 * format.
 *
 * Events of one operation arrive in order on one sink. An `id` names the item an
 * event is about (a layer's short ID, a pushed blob), so a front-end can redraw
 * that item's line in place; events without an id are one-off lines.
 */
export type ProgressEvent =
  /** An item's state (`Loading layer`, `Pull complete`), with bytes done of `total` while it moves. */
  | { kind: 'status'; id?: string; status: string; current?: number; total?: number }
  /** A line of text for the user (`Loaded image: busybox:latest`); no trailing newline. */
  | { kind: 'message'; text: string }
  /** Machine-readable detail for clients (e.g. a pushed image's digest); not shown to people. */
  | { kind: 'aux'; aux: Record<string, unknown> };

/** Receives an operation's events. It must not throw and must not block: it is called on the operation's path. */
export type ProgressSink = (e: ProgressEvent) => void;

/** A sink for callers that show no progress. */
export const ignoreProgress: ProgressSink = () => undefined;

/**
 * Reports bytes flowing through an item as `status` events, at most one per
 * `step` bytes and always the one that reaches `total`, so a fast stream does
 * not flood the sink. Returns the function to call with each chunk's length.
 */
export function byteProgress(sink: ProgressSink, id: string, status: string, total: number | undefined, step = 512 * 1024): (n: number) => void {
  let current = 0;
  let reported = 0;
  return (n: number) => {
    current += n;
    const done = total !== undefined && current >= total;
    if (current - reported < step && !done) return;
    if (reported === current) return;
    reported = current;
    sink({ kind: 'status', id, status, current, ...(total !== undefined ? { total } : {}) });
  };
}
