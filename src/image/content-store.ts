import { createHash, randomBytes } from 'node:crypto';
import { createReadStream, promises as fsp, statSync } from 'node:fs';
import { join } from 'node:path';
import { Readable, Writable } from 'node:stream';
import type { FileHandle } from 'node:fs/promises';
import { pipeline } from 'node:stream/promises';
import { asDigest, BerthError, DigestMismatchError, type Digest, hexOf, invalidArgument, isDigest, isErrno } from '../common';
import { fsyncDir } from '../state';

/**
 * Content-addressed blob storage: `<root>/sha256/<hex>`, written through
 * `<root>/tmp/` on the same filesystem.
 *
 * Invariants: a file under `sha256/` is complete, fsynced and its content hashes
 * to its name; it never changes once there. Writers hash while streaming into a
 * temp file, fsync, verify, then rename, so a crash leaves at most a stale temp
 * file (removed by `init()`). Every digest argument is validated before it is
 * used to build a path, so a caller cannot address anything outside the store.
 */
export class ContentStore {
  private readonly blobDir: string;
  private readonly tmpDir: string;
  private ready: Promise<void> | undefined;

  constructor(readonly root: string) {
    this.blobDir = join(root, 'sha256');
    this.tmpDir = join(root, 'tmp');
  }

  /** Creates the directories and removes temp files left by a crash. Safe to call twice. */
  async init(): Promise<void> {
    await this.ensureDirs();
    for (const name of await fsp.readdir(this.tmpDir)) {
      await fsp.rm(join(this.tmpDir, name), { force: true, recursive: true });
    }
  }

  private ensureDirs(): Promise<void> {
    this.ready ??= (async () => {
      await fsp.mkdir(this.blobDir, { recursive: true });
      await fsp.mkdir(this.tmpDir, { recursive: true });
    })().catch((err) => {
      this.ready = undefined;
      throw err;
    });
    return this.ready;
  }

  /**
   * Consumes `input` completely and stores it. When `expected` is given the
   * content must hash to it, else the temp file is removed and an
   * invalid-argument error is thrown. Storing content that is already present
   * succeeds and leaves the existing blob alone. If `input` errors, the temp file
   * is removed and the error is rethrown.
   */
  async writeStream(input: Readable, expected?: Digest): Promise<{ digest: Digest; size: number }> {
    if (expected !== undefined) checkDigest(expected);
    await this.ensureDirs();
    const tmp = join(this.tmpDir, `${Date.now()}-${randomBytes(8).toString('hex')}`);
    const hash = createHash('sha256');
    let size = 0;
    const fh = await fsp.open(tmp, 'wx', 0o644);
    try {
      try {
        await pipeline(
          input,
          async function* (source: AsyncIterable<Buffer | string>) {
            for await (const chunk of source) {
              const buf = typeof chunk === 'string' ? Buffer.from(chunk) : chunk;
              hash.update(buf);
              size += buf.length;
              yield buf;
            }
          },
          fileSink(fh),
        );
        await fh.sync();
      } finally {
        await fh.close();
      }
      const digest = asDigest(hash.digest('hex'));
      if (expected !== undefined && digest !== expected) {
        throw new DigestMismatchError(expected, digest, `content digest mismatch: expected ${expected}, got ${digest} (${size} bytes); the source is corrupt or truncated`);
      }
      const final = join(this.blobDir, hexOf(digest));
      if (await exists(final)) {
        await fsp.rm(tmp, { force: true });
      } else {
        await fsp.rename(tmp, final);
        await fsyncDir(this.blobDir);
      }
      return { digest, size };
    } catch (err) {
      await fsp.rm(tmp, { force: true });
      throw err;
    }
  }

  /** Stores a buffer; same contract as writeStream. */
  writeBuffer(buf: Buffer | string, expected?: Digest): Promise<{ digest: Digest; size: number }> {
    return this.writeStream(Readable.from([typeof buf === 'string' ? Buffer.from(buf) : buf]), expected);
  }

  async has(d: Digest): Promise<boolean> {
    return exists(this.path(d));
  }

  /** The blob's file path (which may not exist). Throws invalid-argument for a malformed digest. */
  path(d: Digest): string {
    checkDigest(d);
    return join(this.blobDir, hexOf(d));
  }

  /** Opens a blob for reading; not-found when absent. */
  openRead(d: Digest, opts?: { start?: number; end?: number; highWaterMark?: number }): Readable {
    const p = this.path(d);
    try {
      statSync(p);
    } catch (err) {
      if (isErrno(err, 'ENOENT')) throw blobNotFound(d, err);
      throw err;
    }
    return createReadStream(p, opts);
  }

  async readBuffer(d: Digest): Promise<Buffer> {
    try {
      return await fsp.readFile(this.path(d));
    } catch (err) {
      if (isErrno(err, 'ENOENT')) throw blobNotFound(d, err);
      throw err;
    }
  }

  async size(d: Digest): Promise<number> {
    try {
      return (await fsp.stat(this.path(d))).size;
    } catch (err) {
      if (isErrno(err, 'ENOENT')) throw blobNotFound(d, err);
      throw err;
    }
  }

  /** Removes a blob. Removing an absent blob is not an error. */
  async delete(d: Digest): Promise<void> {
    await fsp.rm(this.path(d), { force: true });
  }

  /** Every stored blob digest, in no particular order. */
  async list(): Promise<Digest[]> {
    let names: string[];
    try {
      names = await fsp.readdir(this.blobDir);
    } catch (err) {
      if (isErrno(err, 'ENOENT')) return [];
      throw err;
    }
    return names.filter((n) => /^[a-f0-9]{64}$/.test(n)).map(asDigest);
  }
}

/** A Writable over an open FileHandle that leaves closing to the caller (so it can fsync first). */
function fileSink(fh: FileHandle): Writable {
  return new Writable({
    write(chunk: Buffer, _enc, cb) {
      writeAll(fh, chunk).then(() => cb(), cb);
    },
  });
}

async function writeAll(fh: FileHandle, buf: Buffer): Promise<void> {
  for (let off = 0; off < buf.length; ) {
    const { bytesWritten } = await fh.write(buf, off, buf.length - off);
    off += bytesWritten;
  }
}

function checkDigest(d: string): asserts d is Digest {
  if (typeof d !== 'string' || !isDigest(d)) {
    throw invalidArgument(`invalid digest ${JSON.stringify(d)}: expected sha256: followed by 64 lowercase hex characters`);
  }
}

/** A blob the store does not hold (not-found), naming it for callers that know why it is gone. */
export class BlobNotFoundError extends BerthError {
  constructor(readonly digest: Digest, cause: unknown) {
    super('not-found', `content ${digest} not found in the content store`, { cause });
  }
}

const blobNotFound = (d: Digest, cause: unknown) => new BlobNotFoundError(d, cause);

async function exists(p: string): Promise<boolean> {
  try {
    await fsp.access(p);
    return true;
  } catch (err) {
    if (isErrno(err, 'ENOENT')) return false;
    throw err;
  }
}
