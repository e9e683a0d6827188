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
