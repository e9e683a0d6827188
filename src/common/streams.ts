import { PassThrough, type Readable } from 'node:stream';
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
 * Two readers of one stream, each with a 1 MiB buffer; the source goes as fast as the
 * slower one reads. An error of the source destroys both with it.
 */
export function tee(src: Readable): [PassThrough, PassThrough] {
  const a = new PassThrough({ highWaterMark: 1 << 20 });
  const b = new PassThrough({ highWaterMark: 1 << 20 });
  src.once('error', (e) => {
    a.destroy(e);
    b.destroy(e);
  });
  src.pipe(a);
  src.pipe(b);
  return [a, b];
}
