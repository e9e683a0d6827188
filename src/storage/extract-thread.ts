/**
 * Runs an extraction (ContainerFs.extract) on a worker thread (extract-worker.ts), so
 * that a large `docker cp` into a container does not hold the API's thread: the worker
 * parses the tar and makes the files with synchronous calls while this thread only
 * reads the request and hands its bytes over.
 *
 * Protocol: `start` with the job, then the input in `data` batches of BATCH bytes (fresh
 * buffers, transferred, not copied), then `end`; `abort` when the input fails. The worker
 * acknowledges each batch once written; at most MAX_IN_FLIGHT are unacknowledged, which
 * is the backpressure on the request. The job ends with one `done` or `failed`.
 *
 * Workers are started on demand and one or two are kept for IDLE_MS after a job (a copy
 * often comes with others); a worker that crashes is never reused, and the job it was
 * running fails as internal (its temporary names are left to the journal, as after a
 * crash of berthd).
 */
import { join } from 'node:path';
import { Worker } from 'node:worker_threads';
import { BerthError, internal, type ErrorKind } from '../common';
import type { ExtractOptions, FsMount } from './container-fs';

export interface ExtractJob {
  rootfs: string;
  mounts: FsMount[];
  readonlyRootfs: boolean;
  dest: string;
  opts: ExtractOptions;
}

export type ToWorker = { t: 'start'; job: ExtractJob } | { t: 'data'; buf: ArrayBuffer; len: number } | { t: 'end' } | { t: 'abort' };
export type FromWorker = { t: 'ack' } | { t: 'done' } | { t: 'failed'; kind: ErrorKind; message: string; aborted: boolean };

const BATCH = 256 * 1024;
const MAX_IN_FLIGHT = 8;
const IDLE_MS = 10_000;
const MAX_IDLE = 2;

const idle: { worker: Worker; timer: NodeJS.Timeout }[] = [];

function take(): Worker {
  const kept = idle.pop();
  if (kept) {
    clearTimeout(kept.timer);
    kept.worker.ref();
    return kept.worker;
  }
  return new Worker(join(__dirname, 'extract-worker.js'));
}

function giveBack(worker: Worker): void {
  if (idle.length >= MAX_IDLE) {
    void worker.terminate();
    return;
  }
  worker.unref();
  const timer = setTimeout(() => {
    const i = idle.findIndex((k) => k.worker === worker);
    if (i >= 0) idle.splice(i, 1);
    void worker.terminate();
  }, IDLE_MS);
  timer.unref();
  idle.push({ worker, timer });
}

/** Extracts `input` (a plain tar) as `job` says, on a worker thread; see the file comment. */
export async function extractOnWorker(job: ExtractJob, input: AsyncIterable<Buffer>): Promise<void> {
  const worker = take();
  let inFlight = 0;
  let wake: (() => void) | undefined;
  let outcome: { err?: Error; aborted?: boolean } | undefined;
  let crashed = false;
  let settle!: () => void;
  const settled = new Promise<void>((resolve) => (settle = resolve));
  const finish = (o: { err?: Error; aborted?: boolean }) => {
    if (outcome) return;
    outcome = o;
    settle();
    wake?.();
  };
  const onMessage = (m: FromWorker) => {
    if (m.t === 'ack') {
      inFlight--;
      const w = wake;
      wake = undefined;
      w?.();
    } else if (m.t === 'done') finish({});
    else finish({ err: new BerthError(m.kind, m.message), aborted: m.aborted });
  };
  const onError = (e: Error) => {
    crashed = true;
    finish({ err: internal(`the copy's worker thread failed: ${e.message}`, e) });
  };
  const onExit = (code: number) => {
    crashed = true;
    finish({ err: internal(`the copy's worker thread exited (code ${code})`) });
  };
  worker.on('message', onMessage);
  worker.on('error', onError);
  worker.on('exit', onExit);
  const send = (m: ToWorker, transfer?: ArrayBuffer[]) => worker.postMessage(m, transfer);
  let inputErr: unknown;
  try {
    send({ t: 'start', job });
    let batch = Buffer.allocUnsafeSlow(BATCH);
    let used = 0;
    const flush = async () => {
      const buf = batch.buffer as ArrayBuffer;
      send({ t: 'data', buf, len: used }, [buf]);
      inFlight++;
      batch = Buffer.allocUnsafeSlow(BATCH);
      used = 0;
      while (inFlight >= MAX_IN_FLIGHT && !outcome) await new Promise<void>((r) => (wake = r));
    };
    feed: for await (const chunk of input) {
      let off = 0;
      while (off < chunk.length) {
        if (outcome) break feed;
        const n = Math.min(BATCH - used, chunk.length - off);
        chunk.copy(batch, used, off, off + n);
        used += n;
        off += n;
        if (used === BATCH) await flush();
      }
    }
    if (!outcome) {
      if (used > 0) await flush();
      send({ t: 'end' });
    }
  } catch (err) {
    inputErr = err;
    if (!outcome) send({ t: 'abort' });
  }
  await settled;
  worker.off('message', onMessage);
  worker.off('error', onError);
  worker.off('exit', onExit);
  if (crashed) void worker.terminate();
  else giveBack(worker);
  if (outcome!.err && !(outcome!.aborted && inputErr)) throw outcome!.err;
  if (inputErr) throw inputErr;
}
