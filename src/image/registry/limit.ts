/**
 * Bounded concurrency for registry transfers: a pull downloads a few layers
 * at once (dockerd: 3), a push uploads a few (dockerd: 5).
 */

/** Runs tasks with at most `n` in flight; later ones wait in order. */
export function createLimiter(n: number): <T>(task: () => Promise<T>) => Promise<T> {
  if (!Number.isInteger(n) || n < 1) throw new RangeError(`concurrency must be a positive integer, got ${n}`);
  let running = 0;
  const waiting: (() => void)[] = [];
  const next = () => {
    running--;
    waiting.shift()?.();
  };
  return async <T>(task: () => Promise<T>): Promise<T> => {
    if (running >= n) await new Promise<void>((r) => waiting.push(r));
    running++;
    try {
      return await task();
    } finally {
      next();
    }
  };
}

/**
 * Maps `items` through `fn` with at most `n` calls in flight, results in
 * input order. After the first failure no new call starts; the promise
 * rejects with that failure once the calls already running have settled,
 * so nothing is left working behind the caller's back.
 */
export async function mapLimit<T, R>(items: readonly T[], n: number, fn: (item: T, index: number) => Promise<R>): Promise<R[]> {
  if (!Number.isInteger(n) || n < 1) throw new RangeError(`concurrency must be a positive integer, got ${n}`);
  const results = new Array<R>(items.length);
  let nextIndex = 0;
  let failure: { err: unknown } | undefined;
  const worker = async () => {
    while (!failure && nextIndex < items.length) {
      const i = nextIndex++;
      try {
        results[i] = await fn(items[i]!, i);
      } catch (err) {
        failure ??= { err };
      }
    }
  };
  await Promise.all(Array.from({ length: Math.min(n, items.length) }, worker));
  if (failure) throw failure.err;
  return results;
}
