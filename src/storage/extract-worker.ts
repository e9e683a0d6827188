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
import { BerthError, BodyDeframer, detectCompression, isErrno, MAGIC_BYTES, type BodyFraming, type ErrorKind } from '../common';
import { MSG_DONTWAIT, pollIn, recv } from '../sys';
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
  if (m.t === 'raw') return runRaw(m.job, m.fd, Buffer.from(m.head), m.framing);
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

/** Bytes read per recv(2) from the connection. */
const READ = 512 * 1024;
/** What is still read (and dropped) of a body after its extraction failed, so the client gets to read the answer. */
const DRAIN_MAX = 64 * 1024 * 1024;

/**
 * A job whose body this thread reads from the connection (extract-thread.ts
 * extractRawOnWorker), synchronously: poll(2) and recv(2) into one buffer, the framing
 * taken off (BodyDeframer), the tar fed to the reader as views of that buffer. Until the
 * first 4 bytes of the body are known, the raw bytes are kept: a compressed body is
 * declined (`declined` with them) for the caller to read as a stream. The whole body is
 * read before the answer, to its end (or DRAIN_MAX past a failure), so the client is
 * reading the answer, not writing into a closed connection, when it comes.
 */
function runRaw(m: ExtractJob, fd: number, head: Buffer, framing: BodyFraming): void {
  try {
    start(m);
  } catch (err) {
    post({ t: 'failed', ...classify(err, m.dest), aborted: false });
    return;
  }
  const j = job!;
  const body = new BodyDeframer(framing);
  const seen: Buffer[] = [head];
  const first: Buffer[] = [];
  let firstLen = 0;
  let decided = false;
  let failure: unknown;
  let dropped = 0;
  const sink = (b: Buffer) => {
    if (failure !== undefined) {
      dropped += b.length;
    } else if (!decided) {
      first.push(Buffer.from(b));
      firstLen += b.length;
    } else {
      try {
        j.reader.push(b);
      } catch (err) {
        failure = err;
      }
    }
  };
  /** False when the body is declined. */
  const decide = (): boolean => {
    const start = Buffer.concat(first, firstLen);
    if (detectCompression(start) !== 'none') return false;
    decided = true;
    first.length = 0;
    if (start.length > 0) sink(start);
    return true;
  };
  try {
    const buf = Buffer.allocUnsafe(READ);
    let raw = head;
    for (;;) {
      body.feed(raw, sink);
      if (!decided && (firstLen >= MAGIC_BYTES || body.done)) {
        if (!decide()) {
          j.extractor.close();
          job = undefined;
          const all = Buffer.concat(seen);
          const ab = all.buffer.slice(all.byteOffset, all.byteOffset + all.length) as ArrayBuffer;
          port!.postMessage({ t: 'declined', raw: ab } satisfies FromWorker, [ab]);
          return;
        }
      }
      if (body.done || (failure !== undefined && dropped > DRAIN_MAX)) break;
      if (!pollIn(fd, 1000)) continue;
      const n = recv(fd, buf, MSG_DONTWAIT);
      if (n < 0) continue;
      if (n === 0) throw new ClientGone('the archive stream closed before its end (the client went away?)');
      raw = buf.subarray(0, n);
      if (!decided) seen.push(Buffer.from(raw));
    }
    if (failure !== undefined) throw failure;
    j.reader.end();
    j.extractor.finish();
    j.extractor.close();
    job = undefined;
    post({ t: 'done' });
  } catch (err) {
    const gone = err instanceof ClientGone || isErrno(err, 'ECONNRESET') || isErrno(err, 'EPIPE');
    fail(failure ?? err, gone && failure === undefined);
  }
}

class ClientGone extends Error {}

/** The error a failed extraction answers with (the request's status comes from its kind). */
function classify(err: unknown, dest: string): { kind: ErrorKind; message: string } {
  const msg = (err as Error)?.message ?? String(err);
  if (err instanceof BerthError) return { kind: err.kind, message: msg };
  // What a process of the container changing the tree under the copy looks like.
  if (['ENOTDIR', 'ELOOP', 'EEXIST', 'ENOENT', 'EISDIR', 'ENOTEMPTY'].some((c) => isErrno(err, c))) return { kind: 'invalid-argument', message: `copying into ${dest} failed: the tree changed while it was being copied: ${msg}` };
  return { kind: 'internal', message: `copying into ${dest} failed: ${msg}` };
}
