/**
 * The registry's disk layout under its root:
 *
 *   blobs/<alg>/<hex>                              content, manifests included; immutable once there
 *   repositories/<name…>/_layers/<alg>/<hex>       the repository may serve this blob (file holds the digest)
 *   repositories/<name…>/_manifests/revisions/<alg>/<hex>   a manifest of the repository ({"mediaType"})
 *   repositories/<name…>/_manifests/tags/<tag>     the digest the tag points to
 *   repositories/<name…>/_referrers/<alg>/<hex>/<alg>-<hex>  a referrer of that subject (its descriptor)
 *   uploads/<uuid>/{info.json,data}                an upload session
 *   tmp/                                           partial files of monolithic pushes
 *
 * A name component never starts with `_`, so the `_…` directories cannot clash
 * with a nested repository. Blobs are written to a temp file on the same
 * filesystem, fsynced, verified and renamed into place, so two pushes of the
 * same content both succeed and leave one file. Links and tags are replaced with
 * an atomic write. Every name, tag, digest and upload id is validated before it
 * becomes part of a path.
 */
import { createHash, randomUUID } from 'node:crypto';
import { createReadStream, promises as fsp } from 'node:fs';
import { join } from 'node:path';
import type { Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { Writable } from 'node:stream';
import type { FileHandle } from 'node:fs/promises';
import { isErrno } from '../common';
import { fsyncDir, writeFileAtomic } from '../state';
import {
  RegistryError,
  blobUnknown,
  digestInvalid,
  manifestUnknown,
  nameInvalid,
  nameUnknown,
  uploadUnknown,
} from './errors';
import { parseManifest, type ManifestDescriptor } from './manifest';
import { DIGEST_ALGORITHMS, isValidRepositoryName, isValidTagName, isValidUploadId, parseDigest, type ParsedDigest } from './names';

export interface StoredManifest {
  digest: string;
  mediaType: string;
  size: number;
  path: string;
}

export interface UploadStatus {
  id: string;
  size: number;
}

/** A Content-Range given with a chunk: inclusive byte offsets. */
export interface ChunkRange {
  start: number;
  end: number;
}

export class RegistryStorage {
  private readonly uploadLocks = new Map<string, Promise<unknown>>();

  constructor(readonly root: string) {}

  /** Creates the layout and removes partial files a crash left in tmp/. */
  async init(): Promise<void> {
    for (const d of ['blobs', 'repositories', 'uploads', 'tmp']) await fsp.mkdir(join(this.root, d), { recursive: true });
    for (const alg of Object.keys(DIGEST_ALGORITHMS)) await fsp.mkdir(join(this.root, 'blobs', alg), { recursive: true });
    for (const name of await fsp.readdir(join(this.root, 'tmp'))) await fsp.rm(join(this.root, 'tmp', name), { recursive: true, force: true });
  }

  // ---- repositories -------------------------------------------------------

  private repoDir(name: string): string {
    if (!isValidRepositoryName(name)) throw nameInvalid(name);
    return join(this.root, 'repositories', ...name.split('/'));
  }

  async repositoryExists(name: string): Promise<boolean> {
    const dir = this.repoDir(name);
    return (await exists(join(dir, '_layers'))) || (await exists(join(dir, '_manifests')));
  }

  async requireRepository(name: string): Promise<void> {
    if (!(await this.repositoryExists(name))) throw nameUnknown(name);
  }

  /** Every repository name, sorted. */
  async listRepositories(): Promise<string[]> {
    const out: string[] = [];
    const walk = async (dir: string, prefix: string[]): Promise<void> => {
      let entries: string[];
      try {
        entries = await fsp.readdir(dir);
      } catch (err) {
        if (isErrno(err, 'ENOENT') || isErrno(err, 'ENOTDIR')) return;
        throw err;
      }
      if (prefix.length > 0 && (entries.includes('_layers') || entries.includes('_manifests'))) out.push(prefix.join('/'));
      for (const e of entries) {
        if (e.startsWith('_') || e.startsWith('.')) continue;
        await walk(join(dir, e), [...prefix, e]);
      }
    };
    await walk(join(this.root, 'repositories'), []);
    return out.filter(isValidRepositoryName).sort(lexical);
  }

  // ---- blobs -------------------------------------------------------------

  blobPath(d: ParsedDigest): string {
    return join(this.root, 'blobs', d.algorithm, d.hex);
  }

  /** The blob's size when it is stored at all (in any repository), else undefined. */
  async blobSize(d: ParsedDigest): Promise<number | undefined> {
    try {
      return (await fsp.stat(this.blobPath(d))).size;
    } catch (err) {
      if (isErrno(err, 'ENOENT')) return undefined;
      throw err;
    }
  }

  private layerLink(name: string, d: ParsedDigest): string {
    return join(this.repoDir(name), '_layers', d.algorithm, d.hex);
  }

  /** The blob's size when the repository may serve it, else undefined. */
  async repoBlobSize(name: string, d: ParsedDigest): Promise<number | undefined> {
    if (!(await exists(this.layerLink(name, d)))) return undefined;
    return this.blobSize(d);
  }

  async linkBlob(name: string, d: ParsedDigest): Promise<void> {
    const link = this.layerLink(name, d);
    await fsp.mkdir(join(link, '..'), { recursive: true });
    await writeFileAtomic(link, d.digest);
  }

  /** Removes the repository's link to a blob (the content goes at the next gc); BLOB_UNKNOWN if absent. */
  async unlinkBlob(name: string, d: ParsedDigest): Promise<void> {
    try {
      await fsp.unlink(this.layerLink(name, d));
    } catch (err) {
      if (isErrno(err, 'ENOENT')) throw blobUnknown(d.digest);
      throw err;
    }
  }

  /**
   * Streams `input` into a temp file while hashing it, then commits it as
   * `expected` and links it into the repository. DIGEST_INVALID when the
   * content hashes to something else; nothing is kept then.
   */
  async putBlob(name: string, input: Readable, expected: ParsedDigest): Promise<number> {
    this.repoDir(name);
    const tmp = join(this.root, 'tmp', randomUUID());
    const hash = createHash(expected.algorithm);
    let size = 0;
    try {
      const fh = await fsp.open(tmp, 'wx', 0o644);
      try {
        await pipeline(input, hashingSink(fh, hash, (n) => (size += n)));
        await fh.sync();
      } finally {
        await fh.close();
      }
      const got = hash.digest('hex');
      if (got !== expected.hex) throw digestInvalid('provided digest did not match uploaded content', { expected: expected.digest, actual: `${expected.algorithm}:${got}` });
      await this.commit(tmp, expected);
    } finally {
      await fsp.rm(tmp, { force: true });
    }
    await this.linkBlob(name, expected);
    return size;
  }

  /** Moves a complete, fsynced file into blobs/. Content already there is left alone. */
  private async commit(file: string, d: ParsedDigest): Promise<void> {
    const final = this.blobPath(d);
    if (await exists(final)) return;
    // rename() replaces atomically, so a concurrent commit of the same content is harmless.
    await fsp.rename(file, final);
    await fsyncDir(join(final, '..'));
  }

  // ---- uploads -----------------------------------------------------------

  private uploadDir(id: string): string {
    if (!isValidUploadId(id)) throw uploadUnknown(id);
    return join(this.root, 'uploads', id);
  }

  async startUpload(name: string): Promise<string> {
    this.repoDir(name);
    const id = randomUUID();
    const dir = this.uploadDir(id);
    await fsp.mkdir(dir);
    await fsp.writeFile(join(dir, 'data'), '');
    await writeFileAtomic(join(dir, 'info.json'), JSON.stringify({ name, started: new Date().toISOString() }));
    // The repository exists from its first upload on, as in other registries.
    await fsp.mkdir(join(this.repoDir(name), '_layers'), { recursive: true });
    return id;
  }

  /** The session's size; BLOB_UPLOAD_UNKNOWN when there is none for this repository. */
  async uploadStatus(name: string, id: string): Promise<UploadStatus> {
    const dir = this.uploadDir(id);
    let info: { name?: unknown };
    try {
      info = JSON.parse(await fsp.readFile(join(dir, 'info.json'), 'utf8')) as { name?: unknown };
    } catch (err) {
      if (isErrno(err, 'ENOENT') || err instanceof SyntaxError) throw uploadUnknown(id);
      throw err;
    }
    if (info.name !== name) throw uploadUnknown(id);
    try {
      return { id, size: (await fsp.stat(join(dir, 'data'))).size };
    } catch (err) {
      if (isErrno(err, 'ENOENT')) throw uploadUnknown(id);
      throw err;
    }
  }

  /**
   * Appends a chunk. With `range`, its start must be the current size (else 416
   * with the current Range) and its length the chunk's; with `contentLength`, the
   * chunk must be that long. A chunk that fails any check, or whose stream breaks,
   * is cut off again, so the session stays at its last good size.
   */
  appendUpload(name: string, id: string, input: Readable, range?: ChunkRange, contentLength?: number): Promise<UploadStatus> {
    return this.withUploadLock(id, () => this.appendLocked(name, id, input, range, contentLength));
  }

  private async appendLocked(name: string, id: string, input: Readable, range?: ChunkRange, contentLength?: number): Promise<UploadStatus> {
    const { size } = await this.uploadStatus(name, id);
    const rangeHeader = { Range: rangeOf(size), 'Docker-Upload-UUID': id };
    if (range && range.start !== size) {
      input.resume();
      throw new RegistryError(416, 'BLOB_UPLOAD_INVALID', `chunk starts at ${range.start} but the upload has ${size} bytes`, { expectedStart: size }, rangeHeader);
    }
    const data = join(this.uploadDir(id), 'data');
    const fh = await fsp.open(data, 'r+');
    let written = 0;
    try {
      try {
        await pipeline(input, positionedSink(fh, size, (n) => (written += n)));
      } catch (err) {
        await fh.truncate(size);
        throw err;
      }
      if (range && range.end - range.start + 1 !== written) {
        await fh.truncate(size);
        throw new RegistryError(416, 'BLOB_UPLOAD_INVALID', `Content-Range ${range.start}-${range.end} does not match the ${written} bytes sent`, undefined, rangeHeader);
      }
      if (contentLength !== undefined && contentLength !== written) {
        await fh.truncate(size);
        throw new RegistryError(400, 'SIZE_INVALID', `Content-Length ${contentLength} does not match the ${written} bytes sent`);
      }
    } finally {
      await fh.close();
    }
    return { id, size: size + written };
  }

  /**
   * Closes a session: appends the optional final chunk, verifies the whole
   * content against `expected` and commits it. On DIGEST_INVALID the session is
   * discarded, as its content can never become that blob.
   */
  finishUpload(name: string, id: string, expected: ParsedDigest, finalChunk?: Readable, range?: ChunkRange, contentLength?: number): Promise<number> {
    return this.withUploadLock(id, async () => {
      let size = (await this.uploadStatus(name, id)).size;
      if (finalChunk) size = (await this.appendLocked(name, id, finalChunk, range, contentLength)).size;
      const dir = this.uploadDir(id);
      const data = join(dir, 'data');
      const hash = createHash(expected.algorithm);
      await pipeline(createReadStream(data), async function* (src: AsyncIterable<Buffer>) {
        for await (const chunk of src) hash.update(chunk);
      });
      const got = hash.digest('hex');
      if (got !== expected.hex) {
        await fsp.rm(dir, { recursive: true, force: true });
        throw digestInvalid('provided digest did not match uploaded content', { expected: expected.digest, actual: `${expected.algorithm}:${got}` });
      }
      const fh = await fsp.open(data, 'r+');
      try {
        await fh.sync();
      } finally {
        await fh.close();
      }
      await this.commit(data, expected);
      await this.linkBlob(name, expected);
      await fsp.rm(dir, { recursive: true, force: true });
      return size;
    });
  }

  cancelUpload(name: string, id: string): Promise<void> {
    return this.withUploadLock(id, async () => {
      await this.uploadStatus(name, id);
      await fsp.rm(this.uploadDir(id), { recursive: true, force: true });
    });
  }

  /** Removes sessions untouched for `maxAgeMs` (abandoned pushes). Returns how many went. */
  async sweepUploads(maxAgeMs: number, now = Date.now()): Promise<number> {
    let removed = 0;
    const base = join(this.root, 'uploads');
    let names: string[];
    try {
      names = await fsp.readdir(base);
    } catch (err) {
      if (isErrno(err, 'ENOENT')) return 0;
      throw err;
    }
    for (const id of names) {
      const dir = join(base, id);
      if (this.uploadLocks.has(id)) continue;
      let last = 0;
      for (const f of ['', 'data', 'info.json']) {
        try {
          last = Math.max(last, (await fsp.stat(join(dir, f))).mtimeMs);
        } catch (err) {
          if (!isErrno(err, 'ENOENT') && !isErrno(err, 'ENOTDIR')) throw err;
        }
      }
      if (!isValidUploadId(id) || now - last >= maxAgeMs) {
        await fsp.rm(dir, { recursive: true, force: true });
        removed++;
      }
    }
    return removed;
  }

  private withUploadLock<T>(id: string, fn: () => Promise<T>): Promise<T> {
    const prev = this.uploadLocks.get(id) ?? Promise.resolve();
    const run = prev.then(fn, fn);
    const tail = run.catch(() => undefined);
    this.uploadLocks.set(id, tail);
    void tail.then(() => {
      if (this.uploadLocks.get(id) === tail) this.uploadLocks.delete(id);
    });
    return run;
  }

  // ---- manifests and tags -----------------------------------------------

  private revisionLink(name: string, d: ParsedDigest): string {
    return join(this.repoDir(name), '_manifests', 'revisions', d.algorithm, d.hex);
  }

  private tagFile(name: string, tag: string): string {
    if (!isValidTagName(tag)) throw manifestUnknown(tag);
    return join(this.repoDir(name), '_manifests', 'tags', tag);
  }

  private referrerDir(name: string, subject: ParsedDigest): string {
    return join(this.repoDir(name), '_referrers', subject.algorithm, subject.hex);
  }

  /**
   * Stores a manifest whose bytes were already checked: the bytes as a blob, the
   * revision with its media type, the referrer entry for its subject, then the
   * tag, in that order so a tag never names a manifest that is not there.
   */
  async putManifest(name: string, bytes: Buffer, d: ParsedDigest, mediaType: string, tag?: string, referrer?: { subject: ParsedDigest; descriptor: ManifestDescriptor }): Promise<void> {
    const tmp = join(this.root, 'tmp', randomUUID());
    try {
      await writeFileAtomic(tmp, bytes);
      await this.commit(tmp, d);
    } finally {
      await fsp.rm(tmp, { force: true });
    }
    const rev = this.revisionLink(name, d);
    await fsp.mkdir(join(rev, '..'), { recursive: true });
    await writeFileAtomic(rev, JSON.stringify({ mediaType }));
    if (referrer) {
      const dir = this.referrerDir(name, referrer.subject);
      await fsp.mkdir(dir, { recursive: true });
      await writeFileAtomic(join(dir, `${d.algorithm}-${d.hex}`), JSON.stringify(referrer.descriptor));
    }
    if (tag !== undefined) {
      const file = this.tagFile(name, tag);
      await fsp.mkdir(join(file, '..'), { recursive: true });
      await writeFileAtomic(file, d.digest);
    }
  }

  /** Resolves a tag to its digest; undefined when the tag is absent or damaged. */
  async resolveTag(name: string, tag: string): Promise<ParsedDigest | undefined> {
    let text: string;
    try {
      text = await fsp.readFile(this.tagFile(name, tag), 'utf8');
    } catch (err) {
      if (isErrno(err, 'ENOENT')) return undefined;
      throw err;
    }
    return parseDigest(text.trim());
  }

  /** A manifest of the repository by digest; undefined when the repository has no such revision. */
  async manifestByDigest(name: string, d: ParsedDigest): Promise<StoredManifest | undefined> {
    let link: { mediaType?: unknown };
    try {
      link = JSON.parse(await fsp.readFile(this.revisionLink(name, d), 'utf8')) as { mediaType?: unknown };
    } catch (err) {
      if (isErrno(err, 'ENOENT')) return undefined;
      throw err;
    }
    const size = await this.blobSize(d);
    if (size === undefined || typeof link.mediaType !== 'string') return undefined;
    return { digest: d.digest, mediaType: link.mediaType, size, path: this.blobPath(d) };
  }

  /** Every manifest digest the repository holds. */
  async manifestDigests(name: string): Promise<ParsedDigest[]> {
    const out: ParsedDigest[] = [];
    for (const alg of Object.keys(DIGEST_ALGORITHMS)) {
      for (const hex of await readdirOrEmpty(join(this.repoDir(name), '_manifests', 'revisions', alg))) {
        const p = parseDigest(`${alg}:${hex}`);
        if (p) out.push(p);
      }
    }
    return out;
  }

  /** Deletes a tag; MANIFEST_UNKNOWN when absent. */
  async deleteTag(name: string, tag: string): Promise<void> {
    try {
      await fsp.unlink(this.tagFile(name, tag));
    } catch (err) {
      if (isErrno(err, 'ENOENT')) throw manifestUnknown(tag);
      throw err;
    }
  }

  /**
   * Deletes a manifest revision, every tag that points to it and its referrer
   * entry. The bytes stay in blobs/ until gc. MANIFEST_UNKNOWN when absent.
   */
  async deleteManifest(name: string, d: ParsedDigest): Promise<void> {
    const m = await this.manifestByDigest(name, d);
    if (!m) throw manifestUnknown(d.digest);
    for (const tag of await this.listTags(name)) {
      if ((await this.resolveTag(name, tag))?.digest === d.digest) await fsp.rm(this.tagFile(name, tag), { force: true });
    }
    try {
      const info = parseManifest(await fsp.readFile(m.path), m.mediaType);
      if (info.subject) await fsp.rm(join(this.referrerDir(name, info.subject), `${d.algorithm}-${d.hex}`), { force: true });
    } catch (err) {
      if (!(err instanceof RegistryError)) throw err;
    }
    await fsp.unlink(this.revisionLink(name, d));
  }

  /** The repository's tags, sorted (see lexical). */
  async listTags(name: string): Promise<string[]> {
    return (await readdirOrEmpty(join(this.repoDir(name), '_manifests', 'tags'))).filter(isValidTagName).sort(lexical);
  }

  /** Descriptors of the repository's manifests whose subject is `subject`. */
  async referrers(name: string, subject: ParsedDigest): Promise<ManifestDescriptor[]> {
    const dir = this.referrerDir(name, subject);
    const out: ManifestDescriptor[] = [];
    for (const entry of (await readdirOrEmpty(dir)).sort()) {
      const d = parseDigest(entry.replace('-', ':'));
      if (!d || !(await this.manifestByDigest(name, d))) continue;
      try {
        out.push(JSON.parse(await fsp.readFile(join(dir, entry), 'utf8')) as ManifestDescriptor);
      } catch (err) {
        if (!isErrno(err, 'ENOENT') && !(err instanceof SyntaxError)) throw err;
      }
    }
    return out;
  }

  // ---- garbage collection support ------------------------------------

  /** Every stored blob digest. */
  async allBlobs(): Promise<ParsedDigest[]> {
    const out: ParsedDigest[] = [];
    for (const alg of Object.keys(DIGEST_ALGORITHMS)) {
      for (const hex of await readdirOrEmpty(join(this.root, 'blobs', alg))) {
        const p = parseDigest(`${alg}:${hex}`);
        if (p) out.push(p);
      }
    }
    return out;
  }

  /** Blob digests the repository links. */
  async linkedBlobs(name: string): Promise<ParsedDigest[]> {
    const out: ParsedDigest[] = [];
    for (const alg of Object.keys(DIGEST_ALGORITHMS)) {
      for (const hex of await readdirOrEmpty(join(this.repoDir(name), '_layers', alg))) {
        const p = parseDigest(`${alg}:${hex}`);
        if (p) out.push(p);
      }
    }
    return out;
  }

  async removeBlob(d: ParsedDigest): Promise<void> {
    await fsp.rm(this.blobPath(d), { force: true });
  }

  async removeBlobLink(name: string, d: ParsedDigest): Promise<void> {
    await fsp.rm(this.layerLink(name, d), { force: true });
  }
}

/** The Range header value for an upload of `size` bytes (`0-0` when empty, as clients expect). */
export function rangeOf(size: number): string {
  return `0-${Math.max(size - 1, 0)}`;
}

/**
 * The order of tag and catalog listings: plain code-point order. The spec's prose
 * says "lexical (case-insensitive alphanumeric)", but its conformance suite and
 * the reference registry both sort bytewise, and `last` paging only works when
 * client and server agree; names are lowercase anyway, so only tags can differ.
 */
export function lexical(a: string, b: string): number {
  return a < b ? -1 : a > b ? 1 : 0;
}

async function readdirOrEmpty(dir: string): Promise<string[]> {
  try {
    return await fsp.readdir(dir);
  } catch (err) {
    if (isErrno(err, 'ENOENT') || isErrno(err, 'ENOTDIR')) return [];
    throw err;
  }
}

async function exists(p: string): Promise<boolean> {
  try {
    await fsp.access(p);
    return true;
  } catch (err) {
    if (isErrno(err, 'ENOENT') || isErrno(err, 'ENOTDIR')) return false;
    throw err;
  }
}

function hashingSink(fh: FileHandle, hash: ReturnType<typeof createHash>, count: (n: number) => void): Writable {
  return new Writable({
    write(chunk: Buffer, _enc, cb) {
      hash.update(chunk);
      count(chunk.length);
      writeAll(fh, chunk, null).then(() => cb(), cb);
    },
  });
}

function positionedSink(fh: FileHandle, start: number, count: (n: number) => void): Writable {
  let pos = start;
  return new Writable({
    write(chunk: Buffer, _enc, cb) {
      const at = pos;
      pos += chunk.length;
      count(chunk.length);
      writeAll(fh, chunk, at).then(() => cb(), cb);
    },
  });
}

async function writeAll(fh: FileHandle, buf: Buffer, position: number | null): Promise<void> {
  for (let off = 0; off < buf.length; ) {
    const { bytesWritten } = await fh.write(buf, off, buf.length - off, position === null ? null : position + off);
    off += bytesWritten;
  }
}
