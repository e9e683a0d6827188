/**
 * Runs an extraction (ContainerFs.extract) on a worker thread (extract-worker.ts), so
 * that a large `docker cp` into a container does not hold the API's thread: the worker
 * parses the tar and makes the files with synchronous calls while this thread only
 * reads the request and hands its bytes over.
 *
 * Protocol: `start` with the job, then the input in `data` batches of BATCH bytes
 * (transferred, not copied), then `end`; `abort` when the input fails. The worker
 * acknowledges each batch once written and hands its buffer back with the `ack`; at most
 * MAX_IN_FLIGHT are unacknowledged, which is the backpressure on the request. The same
 * few buffers go back and forth for the whole job: a fresh buffer per batch cost a page
 * fault per 4 KiB and an munmap (with its cross-thread TLB flush) per batch. The job
 * ends with one `done` or `failed`.
 *
 * Workers are started on demand and one or two are kept for IDLE_MS after a job (a copy
 * often comes with others); a worker that crashes is never reused, and the job it was
 * running fails as internal (its temporary names are left to the journal, as after a
 * crash of berthd).
 */
import { closeSync } from 'node:fs';
import { join } from 'node:path';
import type { Readable } from 'node:stream';
import { Worker } from 'node:worker_threads';
import { BerthError, internal, type BodyFraming, type ErrorKind } from '../common';
import type { ExtractOptions, FsMount } from './extract-options';

export interface ExtractJob {
  rootfs: string;
  mounts: FsMount[];
  readonlyRootfs: boolean;
  dest: string;
  opts: ExtractOptions;
}

export type ToWorker =
  | { t: 'start'; job: ExtractJob }
  | { t: 'data'; buf: ArrayBuffer; len: number }
  | { t: 'end' }
  | { t: 'abort' }
  | { t: 'raw'; job: ExtractJob; fd: number; head: ArrayBuffer; framing: BodyFraming };
export type FromWorker =
  | { t: 'ack'; buf: ArrayBuffer }
  | { t: 'done' }
  | { t: 'failed'; kind: ErrorKind; message: string; aborted: boolean }
  | { t: 'declined'; raw: ArrayBuffer };

const BATCH = 512 * 1024;
const MAX_IN_FLIGHT = 4;
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

/**
 * Extracts `input` (a plain tar) as `job` says, on a worker thread; see the file comment.
 * The input is read through its 'data' events and paused while the worker is behind: an
 * async iteration cost several promises per chunk, which was most of this thread's share.
 * When the worker fails first, the input is destroyed (as an iteration would on break).
 */
export async function extractOnWorker(job: ExtractJob, input: Readable): Promise<void> {
  const worker = take();
  let inFlight = 0;
  const spare: ArrayBuffer[] = [];
  let outcome: { err?: Error; aborted?: boolean } | undefined;
  let crashed = false;
  let settle!: () => void;
  const settled = new Promise<void>((resolve) => (settle = resolve));
  let inputDone = false;
  let inputErr: unknown;
  let batch = Buffer.from(new ArrayBuffer(BATCH));
  let used = 0;
  const send = (m: ToWorker, transfer?: ArrayBuffer[]) => worker.postMessage(m, transfer);
  const stopInput = () => {
    input.off('data', onData);
    input.off('end', onEnd);
    input.off('error', onInputError);
    input.off('close', onClose);
  };
  const finish = (o: { err?: Error; aborted?: boolean }) => {
    if (outcome) return;
    outcome = o;
    if (!inputDone) {
      inputDone = true;
      stopInput();
      input.destroy();
    }
    settle();
  };
  const flush = () => {
    const buf = batch.buffer as ArrayBuffer;
    send({ t: 'data', buf, len: used }, [buf]);
    inFlight++;
    used = 0;
    batch = Buffer.from(spare.pop() ?? new ArrayBuffer(BATCH));
    if (inFlight >= MAX_IN_FLIGHT) input.pause();
  };
  function onData(chunk: Buffer): void {
    for (let off = 0; off < chunk.length && !outcome; ) {
      const n = chunk.copy(batch, used, off);
      used += n;
      off += n;
      if (used === BATCH) flush();
    }
  }
  function onEnd(): void {
    if (inputDone) return;
    inputDone = true;
    stopInput();
    if (used > 0) flush();
    send({ t: 'end' });
  }
  function onInputError(err: unknown): void {
    if (inputDone) return;
    inputDone = true;
    stopInput();
    inputErr = err;
    send({ t: 'abort' });
  }
  function onClose(): void {
    onInputError(new Error('the archive stream closed before its end (the client went away?)'));
  }
  const onMessage = (m: FromWorker) => {
    if (m.t === 'ack') {
      inFlight--;
      spare.push(m.buf);
      if (!inputDone && inFlight < MAX_IN_FLIGHT && input.isPaused()) input.resume();
    } else if (m.t === 'done') finish({});
    else if (m.t === 'failed') finish({ err: new BerthError(m.kind, m.message), aborted: m.aborted });
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
  send({ t: 'start', job });
  input.on('data', onData);
  input.once('end', onEnd);
  input.once('error', onInputError);
  input.once('close', onClose);
  if (input.readableEnded) onEnd();
  else if (input.destroyed) onClose();
  await settled;
  worker.off('message', onMessage);
  worker.off('error', onError);
  worker.off('exit', onExit);
  if (crashed) void worker.terminate();
  else giveBack(worker);
  if (outcome!.err && !(outcome!.aborted && inputErr)) throw outcome!.err;
  if (inputErr) throw inputErr;
}

/**
 * Extracts a request body the worker reads from the connection itself (see
 * common/http-body.ts RawBodySource): the bytes never pass through this thread, nor node's
 * HTTP parser, nor its Buffers. `fd` is a duplicate of the connection's, closed here once
 * the worker is done with it. Resolves to the raw bytes read when the worker declined the
 * body (it is compressed: the caller reads it as a stream instead, from those bytes on).
 */
export async function extractRawOnWorker(job: ExtractJob, fd: number, head: Buffer, framing: BodyFraming): Promise<{ declined: Buffer } | undefined> {
  const worker = take();
  let crashed = false;
  try {
    const m = await new Promise<FromWorker>((resolve) => {
      const onMessage = (msg: FromWorker) => {
        if (msg.t === 'done' || msg.t === 'failed' || msg.t === 'declined') settle(msg);
      };
      const onError = (e: Error) => {
        crashed = true;
        settle({ t: 'failed', kind: 'internal', message: `the copy's worker thread failed: ${e.message}`, aborted: false });
      };
      const onExit = (code: number) => {
        crashed = true;
        settle({ t: 'failed', kind: 'internal', message: `the copy's worker thread exited (code ${code})`, aborted: false });
      };
      const settle = (msg: FromWorker) => {
        worker.off('message', onMessage);
        worker.off('error', onError);
        worker.off('exit', onExit);
        resolve(msg);
      };
      worker.on('message', onMessage);
      worker.on('error', onError);
      worker.on('exit', onExit);
      const copy = new Uint8Array(head.length);
      copy.set(head);
      worker.postMessage({ t: 'raw', job, fd, head: copy.buffer, framing } satisfies ToWorker, [copy.buffer]);
    });
    if (m.t === 'declined') return { declined: Buffer.from(m.raw) };
    if (m.t === 'failed') throw new BerthError(m.kind, m.message);
    return undefined;
  } finally {
    if (crashed) {
      // A thread that died in a system call on the fd is gone: closing it now is safe.
      void worker.terminate().finally(() => closeQuietly(fd));
    } else {
      closeQuietly(fd);
      giveBack(worker);
    }
  }
}

function closeQuietly(fd: number): void {
  try {
    closeSync(fd);
  } catch {
    // closed already
  }
}
