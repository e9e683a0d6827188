/**
 * The worker thread that runs `docker cp`'s extractions (see extract-thread.ts for the
 * protocol): a TarReader feeding a SyncExtractor, with synchronous system calls, so the
 * tar parsing and the file writes stay off the thread that serves the API.
 *
 * One job at a time: `start`, then `data` batches (each acknowledged once written, which
 * is the main thread's backpressure), then `end` or `abort`. A job ends with exactly one
 * `done` or `failed`; a failed job's temporary names are removed before `failed` is sent,
 * so when the request answers, no half-made file is visible. Messages of a job that
 * already ended are acknowledged and ignored.
 */
import { parentPort } from 'node:worker_threads';
import { BerthError, isErrno, type ErrorKind } from '../common';
import { ContainerFs } from './container-fs';
import type { ExtractJob, FromWorker, ToWorker } from './extract-thread';
import { SyncExtractor } from './tar-extract';
import { TarReader } from './tar-reader';

const port = parentPort;
if (!port) throw new Error('extract-worker.js runs as a worker thread');

let job: { dest: string; extractor: SyncExtractor; reader: TarReader } | undefined;

const post = (m: FromWorker) => port.postMessage(m);

function start(m: ExtractJob): void {
  const fs = new ContainerFs(m.rootfs, m.mounts, m.readonlyRootfs);
  const extractor = new SyncExtractor(fs, m.dest, m.opts);
  job = { dest: m.dest, extractor, reader: new TarReader(extractor) };
}

function fail(err: unknown, aborted = false): void {
  const j = job!;
  job = undefined;
  try {
    j.extractor.cleanup();
  } finally {
    j.extractor.close();
  }
  const { kind, message } = classify(err, j.dest);
  post({ t: 'failed', kind, message, aborted });
}

port.on('message', (m: ToWorker) => {
  if (m.t === 'start') {
    try {
      start(m.job);
    } catch (err) {
      post({ t: 'failed', ...classify(err, m.job.dest), aborted: false });
    }
    return;
  }
  if (m.t === 'data' && !job) return port.postMessage({ t: 'ack', buf: m.buf }, [m.buf]);
  if (!job) return;
  try {
    if (m.t === 'data') {
      try {
        // The reader and the extractor keep no view of the batch past push(): it goes back for reuse.
        job.reader.push(Buffer.from(m.buf, 0, m.len));
      } finally {
        port.postMessage({ t: 'ack', buf: m.buf }, [m.buf]);
      }
    } else if (m.t === 'end') {
      job.reader.end();
      job.extractor.finish();
      job.extractor.close();
      job = undefined;
      post({ t: 'done' });
    } else if (m.t === 'abort') fail(new Error('the input failed'), true);
  } catch (err) {
    fail(err);
  }
});

/** The error a failed extraction answers with (the request's status comes from its kind). */
function classify(err: unknown, dest: string): { kind: ErrorKind; message: string } {
  const msg = (err as Error)?.message ?? String(err);
  if (err instanceof BerthError) return { kind: err.kind, message: msg };
  // What a process of the container changing the tree under the copy looks like.
  if (['ENOTDIR', 'ELOOP', 'EEXIST', 'ENOENT', 'EISDIR', 'ENOTEMPTY'].some((c) => isErrno(err, c))) return { kind: 'invalid-argument', message: `copying into ${dest} failed: the tree changed while it was being copied: ${msg}` };
  return { kind: 'internal', message: `copying into ${dest} failed: ${msg}` };
}
