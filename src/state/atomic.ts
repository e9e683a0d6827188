import { closeSync, fsync, openSync, promises as fsp, renameSync, rmSync, writeFileSync } from 'node:fs';
import { dirname, basename, join } from 'node:path';
import { randomBytes } from 'node:crypto';
import { invalidArgument, isErrno } from '../common';

/**
 * Durable file replacement: write to a temp file in the same directory, fsync it,
 * rename it over `path`, then fsync the directory so the rename itself survives a
 * crash. Readers see either the old content or the new, never a mix.
 * The parent directory must exist.
 */
export interface AtomicWriteOptions {
  mode?: number;
  /**
   * false skips both fsyncs: the replacement is still atomic (rename), but after
   * a power loss the old content may come back. For state that can be rebuilt.
   */
  durable?: boolean;
}

/**
 * Data up to this size is written with synchronous calls (open, write, close, rename: tens
 * of microseconds into the page cache), and only the fsyncs go to the thread pool: a
 * container's record took eight trips through the pool, each a turn of the event loop
 * behind whatever else was queued (5-10 ms per write on a busy 2-vCPU host).
 */
const SMALL_WRITE = 64 << 10;

export async function writeFileAtomic(path: string, data: string | Buffer, opts?: AtomicWriteOptions): Promise<void> {
  const durable = opts?.durable ?? true;
  const dir = dirname(path);
  const tmp = join(dir, `.${basename(path)}.tmp-${randomBytes(6).toString('hex')}`);
  if (Buffer.byteLength(data) <= SMALL_WRITE) {
    try {
      const fd = openSync(tmp, 'wx', opts?.mode ?? 0o644);
      try {
        writeFileSync(fd, data);
        if (durable) await fsyncFd(fd);
      } finally {
        closeSync(fd);
      }
      renameSync(tmp, path);
    } catch (err) {
      rmSync(tmp, { force: true });
      throw err;
    }
    if (durable) await fsyncDir(dir);
    return;
  }
  const fh = await fsp.open(tmp, 'wx', opts?.mode ?? 0o644);
  try {
    try {
      await fh.writeFile(data);
      if (durable) await fh.sync();
    } finally {
      await fh.close();
    }
    await fsp.rename(tmp, path);
  } catch (err) {
    await fsp.rm(tmp, { force: true });
    throw err;
  }
  if (durable) await fsyncDir(dir);
}

/** fsync(2) of an open descriptor on a pool thread. */
export function fsyncFd(fd: number): Promise<void> {
  return new Promise((resolve, reject) => fsync(fd, (err) => (err ? reject(err) : resolve())));
}

/** fsync a directory so renames/creations inside it are durable. */
export async function fsyncDir(dir: string): Promise<void> {
  const fd = openSync(dir, 'r');
  try {
    await fsyncFd(fd);
  } catch (err) {
    // Some filesystems refuse fsync on directories; durability is then best effort.
    if (!isErrno(err, 'EINVAL') && !isErrno(err, 'EISDIR')) throw err;
  } finally {
    closeSync(fd);
  }
}

/** Serializes `value` as pretty JSON and writes it with writeFileAtomic. */
export async function writeJSONAtomic(path: string, value: unknown, opts?: AtomicWriteOptions): Promise<void> {
  await writeFileAtomic(path, JSON.stringify(value, null, 2) + '\n', opts);
}

/**
 * Reads and parses a JSON file. Returns undefined when the file does not exist;
 * unparsable content is an invalid-argument error naming the file.
 */
export async function readJSON<T>(path: string): Promise<T | undefined> {
  let text: string;
  try {
    text = await fsp.readFile(path, 'utf8');
  } catch (err) {
    if (isErrno(err, 'ENOENT')) return undefined;
    throw err;
  }
  try {
    return JSON.parse(text) as T;
  } catch (err) {
    throw invalidArgument(`${path} is not valid JSON; repair or remove it`, err);
  }
}
