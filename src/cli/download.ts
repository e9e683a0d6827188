import { createWriteStream, promises as fsp } from 'node:fs';
import { basename, dirname, join } from 'node:path';
import type { Readable, Writable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { ExitError } from './context';

/**
 * Streams a response body to `output`, or to `stdout` when no file is named. A file
 * is written beside its target and renamed, so a failure never leaves half an
 * archive under the name; `failure` starts the error message (`failed to save image`).
 */
export async function writeOutput(body: Readable, output: string | undefined, stdout: Writable, failure: string): Promise<void> {
  if (!output) {
    await pipeline(body, stdout, { end: false });
    return;
  }
  const tmp = join(dirname(output), `.${basename(output)}.${process.pid}.tmp`);
  try {
    await pipeline(body, createWriteStream(tmp));
    await fsp.rename(tmp, output);
  } catch (e) {
    await fsp.rm(tmp, { force: true });
    throw new ExitError(1, `${failure}: ${(e as Error).message}`);
  }
}
