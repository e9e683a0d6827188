import { PassThrough, Transform, type Readable } from 'node:stream';
/** What drainOrClose needs of a writable stream (node's, or streamx's as tar-stream uses). */
export interface DrainTarget {
  readonly destroyed?: boolean;
  /** Node streams say whether a 'drain' is due; streams that do not are waited on. */
  readonly writableNeedDrain?: boolean;
  on(event: 'drain' | 'close', fn: () => void): unknown;
  off(event: 'drain' | 'close', fn: () => void): unknown;
}

/** Resolves once `w` wants more data (at once if it does now) or is gone. */
export function drainOrClose(w: DrainTarget): Promise<void> {
  if (w.destroyed || w.writableNeedDrain === false) return Promise.resolve();
  return new Promise((resolve) => {
    const done = () => {
      w.off('drain', done);
      w.off('close', done);
      resolve();
    };
    w.on('drain', done);
    w.on('close', done);
  });
}

/**
 * Gives a stream this module or its caller made an 'error' listener of its own. A
 * consumer hears the stream's errors through its reads (async iteration, pipeline, a
 * listener of its own) while it reads; an error that comes after the consumer stopped
 * (its source failed late, as one side of a tee does when the other side gave up) must
 * not become an uncaught 'error' event that takes the daemon down.
 */
export function withLateErrorsHeard<S extends Readable>(s: S): S {
  s.on('error', () => undefined);
  return s;
}

/**
 * Two readers of one stream, each with a 1 MiB buffer; the source goes as fast as the
 * slower one reads. An error of the source destroys both with it.
 */
export function tee(src: Readable): [PassThrough, PassThrough] {
  const a = withLateErrorsHeard(new PassThrough({ highWaterMark: 1 << 20 }));
  const b = withLateErrorsHeard(new PassThrough({ highWaterMark: 1 << 20 }));
  src.once('error', (e) => {
    a.destroy(e);
    b.destroy(e);
  });
  src.pipe(a);
  src.pipe(b);
  return [a, b];
}

/**
 * `src` unchanged, with `onBytes` told each chunk's length as it passes (progress of a
 * download or an unpack). An error of `src` becomes the result's, as the same object; a
 * result destroyed before its end releases `src`.
 */
export function countedStream(src: Readable, onBytes: (n: number) => void, highWaterMark = 1 << 20): Readable {
  const t = withLateErrorsHeard(new Transform({
    highWaterMark,
    transform(chunk: Buffer, _enc, cb) {
      onBytes(chunk.length);
      cb(null, chunk);
    },
  }));
  src.once('error', (e) => t.destroy(e));
  t.once('close', () => {
    if (!src.readableEnded) src.destroy();
  });
  return src.pipe(t);
}
