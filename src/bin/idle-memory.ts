/**
 * Hands the V8 heap's spare pages back to the system once berthd is idle (issue 14).
 *
 * Start-up and every burst of requests grow the young generation and leave free pages in the
 * heap's pools. V8 returns them only in a memory-reducing full GC, which its own memory
 * reducer starts some seconds after a full GC while the program is idle; a daemon that just
 * loaded its modules has had no full GC, so it keeps ≈ 4 MB it does not use until some later
 * allocation brings one. Here, once the event loop has been idle for a short while and the
 * heap's physical size has grown since the last time, one such GC runs (what V8 calls a
 * low-memory notification; node offers it through its in-process inspector session, which
 * opens no port). It costs one full GC (tens of ms with 500 containers' records) and runs
 * only when the heap grew since, so a daemon that stays idle pays nothing more.
 *
 * After the GC, the C heap is trimmed too (sys' trimMallocIfLoaded): after an image import and
 * a container run, that gave back another 2.3 MB (RSS 61.0 -> 58.7 MiB).
 *
 * Best effort: a node built without the inspector simply keeps its pages.
 */
import { getHeapStatistics } from 'node:v8';
import { performance } from 'node:perf_hooks';
import { log, traceSpan, traceStart } from '../common';
import { trimMallocIfLoaded } from '../sys';

/** How often the event loop's use is sampled. */
const SAMPLE_MS = 250;
/** Below this share of a sample spent running JavaScript or I/O callbacks, berthd counts as idle. */
const IDLE_UTILIZATION = 0.05;
/** The growth of the heap's physical size since the last release that makes the next one worth a GC. */
const GROWTH_BYTES = 1 << 20;
/** At most one release in this long, whatever the load does. */
const MIN_INTERVAL_MS = 10_000;

/**
 * Starts watching; the returned function stops it. The timer never keeps the process alive.
 * `onRelease` hears of each release with the heap's physical size before and after it.
 */
export function releaseMemoryWhenIdle(onRelease?: (before: number, after: number) => void): () => void {
  let last = performance.eventLoopUtilization();
  // The first release has no baseline: whatever start-up left is worth giving back.
  let physicalAfter = 0;
  let lastAt = -Infinity;
  let busy = false;
  const timer = setInterval(() => {
    const now = performance.eventLoopUtilization();
    const window = performance.eventLoopUtilization(now, last);
    last = now;
    if (busy || window.utilization > IDLE_UTILIZATION) return;
    if (performance.now() - lastAt < MIN_INTERVAL_MS) return;
    if (getHeapStatistics().total_physical_size < physicalAfter + GROWTH_BYTES) return;
    busy = true;
    const t0 = traceStart();
    const before = getHeapStatistics().total_physical_size;
    lowMemoryGc((ok) => {
      busy = false;
      lastAt = performance.now();
      physicalAfter = getHeapStatistics().total_physical_size;
      last = performance.eventLoopUtilization();
      if (!ok) clearInterval(timer);
      // What the libuv pool's threads and native code freed stays in malloc's arenas until trimmed.
      trimMallocIfLoaded();
      traceSpan('memory', 'idle heap release', t0);
      if (ok) onRelease?.(before, physicalAfter);
    });
  }, SAMPLE_MS);
  timer.unref();
  return () => clearInterval(timer);
}

/** V8's memory-reducing full GC through an in-process inspector session; `done(false)` when that is unavailable. */
function lowMemoryGc(done: (ok: boolean) => void): void {
  let Session: typeof import('node:inspector').Session;
  try {
    // eslint-disable-next-line @typescript-eslint/no-var-requires
    ({ Session } = require('node:inspector') as typeof import('node:inspector'));
  } catch {
    done(false);
    return;
  }
  const session = new Session();
  try {
    session.connect();
  } catch (err) {
    log.debug('no inspector session for the idle heap release', { error: String(err) });
    done(false);
    return;
  }
  session.post('HeapProfiler.collectGarbage', (err) => {
    // Disconnecting inside the session's own callback stalls node 20's event loop: leave it first.
    setImmediate(() => {
      session.disconnect();
      if (err) log.debug('idle heap release failed', { error: String(err) });
      done(!err);
    });
  });
}
