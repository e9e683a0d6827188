import { createWriteStream, promises as fsp } from 'node:fs';
import { basename, dirname, join, resolve } from 'node:path';
import type { Readable, Writable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { randomBytes } from 'node:crypto';
import { errnoMessage } from '../common';
import { ExitError } from './context';

/**
 * Refuses an output path the docker CLI refuses, in its words, before anything is asked of
 * the daemon: a parent that is missing or not a directory, or a path that names something
 * other than a regular file (a directory, a device, a pipe…). `failure` starts the message
 * (`failed to save image`).
 */
export async function checkOutput(output: string | undefined, failure: string): Promise<void> {
  if (output === undefined) return;
  const fail = (why: string) => new ExitError(1, `${failure}: ${why}`);
  if (output === '') throw fail('file name is empty');
  const dir = dirname(output);
  if (dir !== '.' && dir !== '..') {
    const st = await fsp.stat(dir).catch((e: NodeJS.ErrnoException) => e);
    if (st instanceof Error) throw fail(`invalid output path: stat ${dir}: ${errnoText(st)}`);
    if (!st.isDirectory()) throw fail(`invalid output path: stat ${dir}: not a directory`);
  }
  const st = await fsp.lstat(output).catch((e: NodeJS.ErrnoException) => e);
  if (st instanceof Error) {
    if (st.code === 'ENOENT') return;
    throw fail(`failed to stat output path: lstat ${output}: ${errnoText(st)}`);
  }
  if (st.isFile()) return;
  const kind = st.isDirectory() ? 'a directory' : st.isSymbolicLink() ? 'a symbolic link directly' : st.isFIFO() ? 'a named pipe (FIFO)'
    : st.isSocket() ? 'a socket' : st.isCharacterDevice() ? 'a character device file' : 'a block device file';
  throw fail(`cannot write to ${kind}`);
}

/** An errno as Go words it ("no such file or directory"). */
function errnoText(e: NodeJS.ErrnoException): string {
  return e.errno !== undefined ? errnoMessage(e.errno) : e.message;
}

/**
 * Streams a response body to `output` (checked beforehand with checkOutput), or to `stdout`
 * when no file is named. A file is written beside its target (mode 0600, as the docker CLI
 * makes it) and renamed, so a failure never leaves half an archive under the name.
 */
export async function writeOutput(body: Readable, output: string | undefined, stdout: Writable, failure: string): Promise<void> {
  if (!output) {
    await pipeline(body, stdout, { end: false });
    return;
  }
  const target = resolve(output);
  const tmp = join(dirname(target), `.tmp-${basename(target)}${randomBytes(4).readUInt32BE()}`);
  try {
    await pipeline(body, createWriteStream(tmp, { flags: 'wx', mode: 0o600 }));
    await fsp.rename(tmp, target);
  } catch (e) {
    await fsp.rm(tmp, { force: true });
    throw new ExitError(1, `${failure}: ${(e as Error).message}`);
  }
}
