import { createHash } from 'node:crypto';
import { posix } from 'node:path';
import { PassThrough, Readable, type Writable } from 'node:stream';
import type * as TarStream from 'tar-stream';
import {
  asDigest, BerthError, decompressStream, DigestMismatchError, type Digest, drainOrClose, errorMessage, familiarName, familiarString, fullString,
  hexOf, invalidArgument, isDigest, parseReference, type Reference, withLateErrorsHeard,
} from '../common';
import type { ContentStore } from './content-store';
import type { ImageConfig } from './image-config';
import { parseConfig } from './image-store';
import {
  Annotation, MediaType, isIndexType, isManifestType, layerCompression, type Descriptor, type Index, type Manifest,
} from './media-types';

/** tar-stream, loaded with the first archive read or written rather than at start (issue 14: idle memory). */
function tarStream(): typeof TarStream {
  return require('tar-stream') as typeof TarStream;
}

/** One image found in an archive; its config and layer blobs are in the content store. */
export interface ArchiveImage {
  config: ImageConfig;
  /** Digest of the config blob: the image ID. */
  configDigest: Digest;
  /** As written in manifest.json (`busybox:latest`); each parses as a tagged reference. */
  repoTags: string[];
  /**
   * Content-store digests of each layer blob, bottom first. docker save writes
   * uncompressed tars, but archives from the containerd image store may hold
   * gzip or zstd blobs: sniff before applying, and check diffIDs while applying.
   */
  layerBlobs: Digest[];
  /**
   * The image it was made from (manifest.json's `Parent`, which docker save
   * writes when it saves both), when that image is in this archive too.
   */
  parent?: Digest;
}

export interface ArchiveContents {
  images: ArchiveImage[];
  /** Which layout named the images: manifest.json (docker-archive) or index.json (OCI layout). */
  layout: 'docker' | 'oci';
}

export interface ReadArchiveOptions {
  /** Called with every blob stored in the content store, so a failed caller can collect them. */
  onBlob?: (d: Digest) => void;
  /** Platform to pick from a multi-platform OCI index. */
  platform?: { os: string; architecture: string };
  /**
   * Handles large entries while they stream into the content store (a loader
   * unpacks layers as they arrive instead of reading them back afterwards). `want`
   * is asked first, with the digest the entry's name gives if any; `run` gets the
   * entry's bytes and must consume them. Its failure does not fail the read (the
   * entry may be no layer at all). The entry is verified and stored as usual
   * either way; callers must check what `run` made against the manifest before
   * using it. If the read fails, every stream handed to `run` has ended or
   * failed, so every run settles.
   */
  unpack?: {
    want(named: Digest | undefined): boolean | Promise<boolean>;
    /**
     * `digest`: the entry's content digest, resolved once it is verified and
     * stored; `entry`: its name in the archive, the digest that name gives, its size.
     */
    run(stream: Readable, digest: Promise<Digest>, entry: { name: string; named?: Digest; size: number }): Promise<unknown>;
  };
}

/** What writeArchive needs per image. */
export interface ArchiveImageSource {
  configDigest: Digest;
  /** Familiar `name:tag` strings; may be empty. */
  repoTags: string[];
  layerBlobs: Digest[];
  /** Written as manifest.json's `Parent` when that image is in the archive too. */
  parent?: Digest;
}

/** Entries up to this size are held in memory until manifest.json says what they are. */
const SMALL_ENTRY = 1 << 20;
/** Bytes per write when a large entry goes to the content store and an unpacker at once. */
const TEE_BATCH = 1 << 20;
/**
 * Batches an unpacker may fall behind the content store before the archive waits for it. An
 * unpack of many small files goes at the disk's pace for creating files (about 0.5 ms a file
 * here), far below the store's: with this much slack the archive reads on to the next layers,
 * whose unpacks then run beside the slow one instead of after it.
 */
const TEE_RUN_LAG = 16;
/** Total memory for small entries; past it, entries go straight to the content store. */
const SMALL_BUDGET = 64 << 20;
/** Metadata files (manifest.json …) must fit in memory. */
const METADATA_MAX = 16 << 20;
const METADATA_FILES = new Set(['manifest.json', 'repositories', 'index.json', 'oci-layout']);
const MAX_LINK_DEPTH = 16;

type Stored = { kind: 'mem'; buf: Buffer } | { kind: 'blob'; digest: Digest; size: number };

const bad = (msg: string, cause?: unknown) => invalidArgument(`invalid docker archive: ${msg}`, cause);

/**
 * Reads an image archive in one pass: the classic `docker save` layout
 * (`<id>/layer.tar`, `<hex>.json`, manifest.json), the docker 25+ layout (OCI
 * `blobs/sha256/<hex>` plus manifest.json), and a pure OCI image layout
 * (index.json, no manifest.json; names from the `io.containerd.image.name` or
 * `org.opencontainers.image.ref.name` annotations). Layer entries may be
 * symlinks or hard links to an earlier identical layer. The archive itself
 * may be gzip or zstd compressed; layer blobs may be too (the caller sniffs).
 *
 * Large entries are hashed while streaming into the content store; small ones
 * are held in memory and stored only if manifest.json references them, so
 * nothing unreferenced (v1 `json`/`VERSION` files, OCI manifests) is kept.
 * `blobs/sha256/<hex>` entries are verified against their names.
 *
 * Failures are invalid-argument `invalid docker archive: …`. On failure no temp
 * files remain; blobs already stored stay (they are valid content; garbage
 * collection is the caller's).
 */
export async function readArchive(rawInput: Readable, content: ContentStore, opts: ReadArchiveOptions = {}): Promise<ArchiveContents> {
  let input: Readable;
  try {
    input = (await decompressStream(rawInput)).stream;
  } catch (err) {
    if (err instanceof BerthError) throw err;
    throw bad(`unreadable input (${errorMessage(err)})`, err);
  }
  const onBlob = opts.onBlob ?? (() => undefined);
  const files = new Map<string, Stored>();
  const links = new Map<string, string>();
  let budget = SMALL_BUDGET;

  const extract = tarStream().extract();
  const onInputError = (err: Error) => extract.destroy(err);
  input.on('error', onInputError);
  input.pipe(extract);
  try {
    for await (const entry of extract) {
      const h = entry.header;
      // Directory entries (`./`, `blobs/`) carry nothing an image needs.
      if (h.type === 'directory') {
        await drain(iter(entry));
        continue;
      }
      const name = entryName(h.name);
      switch (h.type) {
        case 'file':
        case 'contiguous-file': {
          const size = h.size ?? 0;
                    if (METADATA_FILES.has(name) && size > METADATA_MAX) {
            throw bad(`${name} is ${size} bytes; metadata files larger than ${METADATA_MAX} bytes are not supported`);
          }
          if (size <= SMALL_ENTRY && (METADATA_FILES.has(name) || size <= budget)) {
            if (!METADATA_FILES.has(name)) budget -= size;
            const buf = await collect(iter(entry));
            const named = blobNameDigest(name);
            if (named && sha256(buf) !== named) throw bad(`${name} does not match its digest name; the archive is corrupt`);
            files.set(name, { kind: 'mem', buf });
          } else {
            const expected = blobNameDigest(name);
            try {
              let r: { digest: Digest; size: number };
              if (opts.unpack && (await opts.unpack.want(expected))) {
                const run = opts.unpack.run;
                r = await teeToStore(iter(entry), content, expected, (s, d) => run(s, d, { name, size, ...(expected ? { named: expected } : {}) }));
              } else {
                r = await content.writeStream(Readable.from(iter(entry)), expected);
              }
              onBlob(r.digest);
              files.set(name, { kind: 'blob', digest: r.digest, size: r.size });
            } catch (err) {
              if (err instanceof DigestMismatchError) {
                throw bad(`${name} does not match its digest name; the archive is corrupt`, err);
              }
              throw err;
            }
          }
          links.delete(name);
          break;
        }
        case 'symlink': {
          const target = linkTarget(name, h.linkname ?? '', posix.dirname(name));
          links.set(name, target);
          files.delete(name);
          await drain(iter(entry));
          break;
        }
        case 'link': {
          // Hard link names are relative to the archive root.
          const target = linkTarget(name, h.linkname ?? '', '.');
          links.set(name, target);
          files.delete(name);
          await drain(iter(entry));
          break;
        }
        default:
          await drain(iter(entry));
      }
    }
  } catch (err) {
    extract.destroy();
    input.unpipe(extract);
    if (err instanceof BerthError) throw err;
    throw bad(`unreadable tar stream (${errorMessage(err)}); the archive is truncated or not a tar file`, err);
  } finally {
    input.off('error', onInputError);
  }

  const lookup = (ref: string, what: string): Stored => {
    let p = entryName(ref, what);
    for (let depth = 0; depth <= MAX_LINK_DEPTH; depth++) {
      const f = files.get(p);
      if (f) return f;
      const next = links.get(p);
      if (next === undefined) break;
      p = next;
    }
    throw bad(`${what} ${JSON.stringify(ref)} is referenced by manifest.json but not present in the archive`);
  };

  const manifestFile = files.get('manifest.json');
  const indexFile = files.get('index.json');
  let manifest: ManifestEntry[];
  let layout: 'docker' | 'oci' = 'docker';
  if (manifestFile && manifestFile.kind === 'mem') {
    manifest = parseManifest(manifestFile.buf);
  } else if (indexFile && indexFile.kind === 'mem') {
    layout = 'oci';
    manifest = await ociEntries(indexFile.buf, (d, what) => readSmall(lookup(`blobs/sha256/${hexOf(d)}`, what), content), opts.platform);
  } else {
    throw bad('manifest.json is missing (and no OCI index.json either); was this made with `docker save`?');
  }

  const toStore = async (f: Stored, name: string): Promise<Digest> => {
    if (f.kind === 'blob') return f.digest;
    try {
      const { digest } = await content.writeBuffer(f.buf, blobNameDigest(name));
      onBlob(digest);
      // Later references to the same entry need not write it again.
      Object.assign(f, { kind: 'blob', digest, size: f.buf.length, buf: undefined });
      return digest;
    } catch (err) {
      if (err instanceof DigestMismatchError) {
        throw bad(`${name} does not match its digest name; the archive is corrupt`, err);
      }
      throw err;
    }
  };

  const images: ArchiveImage[] = [];
  for (const [i, m] of manifest.entries()) {
    const cfgFile = lookup(m.Config, 'config');
    const cfgBuf = cfgFile.kind === 'mem' ? cfgFile.buf : await content.readBuffer(cfgFile.digest);
    let config: ImageConfig;
    try {
      config = parseConfig(cfgBuf, m.Config);
    } catch (err) {
      throw bad(errorMessage(err), err);
    }
    if (config.rootfs.diff_ids.length !== m.Layers.length) {
      throw bad(`manifest.json entry ${i} lists ${m.Layers.length} layers but its config has ${config.rootfs.diff_ids.length} diff_ids`);
    }
    const configDigest = await toStore(cfgFile, m.Config);
    const layerBlobs: Digest[] = [];
    for (const l of m.Layers) layerBlobs.push(await toStore(lookup(l, 'layer'), l));
    images.push({ config, configDigest, repoTags: m.RepoTags, layerBlobs, ...(m.Parent ? { parent: m.Parent } : {}) });
  }
  const inArchive = new Set(images.map((i) => i.configDigest));
  for (const img of images) if (img.parent && !inArchive.has(img.parent)) delete img.parent;
  return { images, layout };
}

/**
 * Streams one entry into the content store and into `run` at once, with
 * backpressure from both. When `run` fails (or stops reading) the store still
 * gets every byte. Resolves once the blob is stored.
 */
async function teeToStore(
  entry: AsyncIterable<Buffer>, content: ContentStore, expected: Digest | undefined, run: (s: Readable, digest: Promise<Digest>) => Promise<unknown>,
): Promise<{ digest: Digest; size: number }> {
  // Chunks are gathered into batches of TEE_BATCH bytes, copied once and handed to both sides
  // as they are (object mode): big writes for the file system, no copy per consumer.
  // Failures are reported through `stored` and `unpacked`; a late error event must not go unheard.
  const toBlob = withLateErrorsHeard(new PassThrough({ objectMode: true, highWaterMark: 2 }));
  const toRun = withLateErrorsHeard(new PassThrough({ objectMode: true, highWaterMark: TEE_RUN_LAG }));
  let runDone = false;
  const stored = content.writeStream(toBlob, expected);
  stored.catch(() => undefined);
  void (async () => {
    try {
      const digest = stored.then((r) => r.digest);
      digest.catch(() => undefined);
      await run(toRun, digest);
    } catch {
      // The caller learns of run's failure through what run made; the blob is stored regardless.
    } finally {
      runDone = true;
      // Unblocks the pump below if run gave up without reading to the end.
      toRun.destroy();
    }
  })();
  let failure: Error | undefined;
  const send = async (chunk: Buffer) => {
    toBlob.write(chunk);
    if (!runDone && !toRun.destroyed) toRun.write(chunk);
    // Each may drain while the other is awaited, so ask again before waiting.
    await drainOrClose(toBlob);
    await drainOrClose(toRun);
  };
  try {
    let batch: Buffer[] = [];
    let batched = 0;
    for await (const chunk of entry) {
      if (toBlob.destroyed) break;
      batch.push(chunk);
      batched += chunk.length;
      if (batched < TEE_BATCH) continue;
      await send(batch.length === 1 ? batch[0]! : Buffer.concat(batch, batched));
      batch = [];
      batched = 0;
    }
    if (batched > 0 && !toBlob.destroyed) await send(Buffer.concat(batch, batched));
  } catch (err) {
    failure = err as Error;
  }
  if (failure) {
    toBlob.destroy(failure);
    toRun.destroy(failure);
  } else {
    toBlob.end();
    toRun.end();
  }
  try {
    const blob = await stored;
    if (failure) throw failure;
    return blob;
  } catch (err) {
    // The caller collects what run made through its own bookkeeping; make sure run ends.
    toRun.destroy();
    throw failure ?? err;
  }
}

interface ManifestEntry {
  Config: string;
  RepoTags: string[];
  Layers: string[];
  /** The parent image's ID, when docker save wrote both. */
  Parent?: Digest;
}

function parseManifest(buf: Buffer): ManifestEntry[] {
  let v: unknown;
  try {
    v = JSON.parse(buf.toString('utf8'));
  } catch (err) {
    throw bad(`manifest.json is not valid JSON (${errorMessage(err)})`, err);
  }
  if (!Array.isArray(v)) throw bad('manifest.json must be a JSON array');
  return v.map((raw: unknown, i): ManifestEntry => {
    if (typeof raw !== 'object' || raw === null) throw bad(`manifest.json entry ${i} is not an object`);
    const e = raw as Record<string, unknown>;
    if (typeof e.Config !== 'string' || e.Config === '') throw bad(`manifest.json entry ${i} has no "Config"`);
    const layers = e.Layers ?? [];
    if (!Array.isArray(layers) || !layers.every((l) => typeof l === 'string')) {
      throw bad(`manifest.json entry ${i} has a "Layers" that is not a list of paths`);
    }
    const tags = e.RepoTags ?? [];
    if (!Array.isArray(tags) || !tags.every((t) => typeof t === 'string')) {
      throw bad(`manifest.json entry ${i} has a "RepoTags" that is not a list of strings`);
    }
    for (const t of tags as string[]) {
      let ref;
      try {
        ref = parseReference(t);
      } catch (err) {
        throw bad(`manifest.json entry ${i} has an invalid tag ${JSON.stringify(t)}: ${errorMessage(err)}`, err);
      }
      if (ref.tag === undefined || ref.digest !== undefined) {
        throw bad(`manifest.json entry ${i} has an invalid tag ${JSON.stringify(t)}: expected name:tag`);
      }
    }
    if (e.Parent !== undefined && e.Parent !== '' && (typeof e.Parent !== 'string' || !isDigest(e.Parent))) {
      throw bad(`manifest.json entry ${i} has a "Parent" that is not an image ID (sha256:<64 hex>)`);
    }
    return { Config: e.Config, RepoTags: tags as string[], Layers: layers as string[], ...(e.Parent ? { Parent: e.Parent as Digest } : {}) };
  });
}

/** Normalizes an archive path; absolute paths and `..` are refused. */
function entryName(raw: string, what = 'entry'): string {
  if (raw.includes('\0')) throw bad(`${what} name ${JSON.stringify(raw)} contains a NUL byte`);
  if (raw.startsWith('/')) throw bad(`${what} name ${JSON.stringify(raw)} is absolute; archive paths must be relative`);
  if (raw.split('/').includes('..')) throw bad(`${what} name ${JSON.stringify(raw)} contains ".."`);
  const n = posix.normalize(raw).replace(/\/+$/, '');
  if (n === '' || n === '.') throw bad(`${what} name ${JSON.stringify(raw)} is empty`);
  return n.replace(/^(\.\/)+/, '');
}

/** Resolves a link target inside the archive; escaping the archive is refused. */
function linkTarget(name: string, linkname: string, baseDir: string): string {
  if (linkname === '' || linkname.startsWith('/')) throw bad(`link ${name} has target ${JSON.stringify(linkname)}; only relative targets are allowed`);
  const t = posix.normalize(posix.join(baseDir, linkname));
  if (t === '..' || t.startsWith('../')) throw bad(`link ${name} points outside the archive (${linkname})`);
  return t;
}

/** For `blobs/sha256/<hex>` the name is the digest, which must then match. */
function blobNameDigest(name: string): Digest | undefined {
  const m = /^blobs\/sha256\/([a-f0-9]{64})$/.exec(name);
  return m ? asDigest(m[1]!) : undefined;
}

async function collect(entry: AsyncIterable<Buffer>): Promise<Buffer> {
  const chunks: Buffer[] = [];
  for await (const c of entry) chunks.push(c);
  return Buffer.concat(chunks);
}

async function drain(entry: AsyncIterable<Buffer>): Promise<void> {
  for await (const chunk of entry) void chunk;
}

/** tar-stream entries are streamx Readables, which are async iterables of Buffers. */
const iter = (entry: unknown) => entry as AsyncIterable<Buffer>;


const sha256 = (buf: Buffer): Digest => asDigest(createHash('sha256').update(buf).digest('hex'));

async function readSmall(f: Stored, content: ContentStore): Promise<Buffer> {
  if (f.kind === 'mem') return f.buf;
  if (f.size > METADATA_MAX) throw bad(`blob ${f.digest} is ${f.size} bytes, too large for a manifest or index`);
  return content.readBuffer(f.digest);
}

function parseJSONObject(buf: Buffer, what: string): Record<string, unknown> {
  let v: unknown;
  try {
    v = JSON.parse(buf.toString('utf8'));
  } catch (err) {
    throw bad(`${what} is not valid JSON (${errorMessage(err)})`, err);
  }
  if (typeof v !== 'object' || v === null || Array.isArray(v)) throw bad(`${what} must be a JSON object`);
  return v as Record<string, unknown>;
}

function descriptorsOf(v: unknown, what: string): Descriptor[] {
  if (!Array.isArray(v)) throw bad(`${what} must be a list of descriptors`);
  return v.map((d: unknown, i) => {
    if (typeof d !== 'object' || d === null) throw bad(`${what}[${i}] is not a descriptor object`);
    const o = d as Record<string, unknown>;
    if (typeof o.digest !== 'string' || !isDigest(o.digest)) throw bad(`${what}[${i}] has an invalid digest ${JSON.stringify(o.digest)}; only sha256 is supported`);
    if (o.mediaType !== undefined && typeof o.mediaType !== 'string') throw bad(`${what}[${i}] has a non-string mediaType`);
    return o as unknown as Descriptor;
  });
}

/** The tag an OCI layout descriptor's annotations give, as `name:tag`, or undefined. */
export function nameFromAnnotations(a: Record<string, string> | undefined): string | undefined {
  if (!a) return undefined;
  for (const key of [Annotation.containerdName, Annotation.refName]) {
    const v = a[key];
    if (!v) continue;
    // A bare ref.name such as "latest" names no repository; skip it.
    if (key === Annotation.refName && !/[:/]/.test(v)) continue;
    try {
      const ref = parseReference(v);
      if (ref.digest !== undefined) continue;
      return familiarString({ ...ref, tag: ref.tag ?? 'latest' });
    } catch {
      continue;
    }
  }
  return undefined;
}

/** Turns an OCI layout's index.json into manifest.json-style entries. */
async function ociEntries(
  indexBuf: Buffer,
  readBlob: (d: Digest, what: string) => Promise<Buffer>,
  platform: { os: string; architecture: string } | undefined,
): Promise<ManifestEntry[]> {
  const index = parseJSONObject(indexBuf, 'index.json');
  const byManifest = new Map<Digest, ManifestEntry>();
  const path = (d: Digest) => `blobs/sha256/${hexOf(d)}`;
  const pick = async (desc: Descriptor, depth: number): Promise<Descriptor> => {
    if (!isIndexType(desc.mediaType)) return desc;
    if (depth > 4) throw bad('index.json nests image indexes more than 4 deep');
    const inner = parseJSONObject(await readBlob(desc.digest, 'index'), `index ${desc.digest}`);
    const list = descriptorsOf(inner.manifests, `index ${desc.digest} manifests`);
    const want = platform ?? { os: 'linux', architecture: 'amd64' };
    const match = list.find((m) => m.platform?.os === want.os && m.platform?.architecture === want.architecture)
      ?? list.find((m) => !m.platform && !isIndexType(m.mediaType))
      ?? (list.length === 1 ? list[0] : undefined);
    if (!match) throw bad(`index ${desc.digest} has no manifest for ${want.os}/${want.architecture}`);
    return pick(match, depth + 1);
  };
  for (const top of descriptorsOf(index.manifests, 'index.json manifests')) {
    const desc = await pick(top, 0);
    if (desc.mediaType !== undefined && !isManifestType(desc.mediaType)) {
      throw bad(`index.json names ${desc.digest} with media type ${desc.mediaType}, which is not an image manifest`);
    }
    let entry = byManifest.get(desc.digest);
    if (!entry) {
      const m = parseJSONObject(await readBlob(desc.digest, 'manifest'), `manifest ${desc.digest}`) as unknown as Manifest;
      const [config] = descriptorsOf([m.config], `manifest ${desc.digest} config`);
      const layers = descriptorsOf(m.layers ?? [], `manifest ${desc.digest} layers`);
      for (const l of layers) {
        if (l.mediaType !== undefined) {
          try {
            layerCompression(l.mediaType);
          } catch (err) {
            throw bad(`manifest ${desc.digest}: ${errorMessage(err)}`, err);
          }
        }
      }
      entry = { Config: path(config!.digest), RepoTags: [], Layers: layers.map((l) => path(l.digest)) };
      byManifest.set(desc.digest, entry);
    }
    const name = nameFromAnnotations(top.annotations);
    if (name && !entry.RepoTags.includes(name)) entry.RepoTags.push(name);
  }
  return [...byManifest.values()];
}

/** What writeArchive needs to know of a layer blob. */
interface BlobInfo {
  size: number;
}

/**
 * Writes an archive in docker 25+'s layout, which is at once a docker-archive
 * (manifest.json, repositories: every `docker load` and skopeo's
 * docker-archive: read it) and an OCI image layout (oci-layout, index.json,
 * blobs/sha256/: for OCI tools). Layers are written as the uncompressed tars
 * their diffIDs name (media type application/vnd.oci.image.layer.v1.tar); a
 * blob shared by several layers or images is written once. Every blob is
 * checked before the first byte is written, so a missing blob fails cleanly
 * (not-found) with `out` untouched. `out` is ended when the archive is complete.
 */
export async function writeArchive(out: Writable, images: ArchiveImageSource[], content: ContentStore): Promise<void> {
  const blobs = new Map<Digest, BlobInfo>();
  for (const img of images) {
    for (const d of [img.configDigest, ...img.layerBlobs]) {
      if (!isDigest(d)) throw invalidArgument(`invalid digest ${JSON.stringify(d)} for an image archive`);
      if (!blobs.has(d)) blobs.set(d, { size: await content.size(d) });
    }
  }
  const path = (d: Digest) => `blobs/sha256/${hexOf(d)}`;
  const manifestJSON: ManifestEntry[] = [];
  const repositories: Record<string, Record<string, string>> = {};
  const index: Index = { schemaVersion: 2, mediaType: MediaType.ociIndex, manifests: [] };
  const manifestBlobs = new Map<Digest, Buffer>();
  for (const img of images) {
    const manifest: Manifest = {
      schemaVersion: 2,
      mediaType: MediaType.ociManifest,
      config: { mediaType: MediaType.ociConfig, digest: img.configDigest, size: blobs.get(img.configDigest)!.size },
      layers: img.layerBlobs.map((d) => ({ mediaType: MediaType.ociLayer, digest: d, size: blobs.get(d)!.size })),
    };
    const mbuf = Buffer.from(JSON.stringify(manifest));
    const mdigest = sha256(mbuf);
    manifestBlobs.set(mdigest, mbuf);
    const desc: Descriptor = { mediaType: MediaType.ociManifest, digest: mdigest, size: mbuf.length };
    const refs: Reference[] = img.repoTags.map((t) => parseReference(t)).filter((r) => r.tag !== undefined && r.digest === undefined);
    if (refs.length === 0) index.manifests.push(desc);
    for (const ref of refs) {
      index.manifests.push({ ...desc, annotations: { [Annotation.containerdName]: fullString(ref), [Annotation.refName]: ref.tag! } });
    }
    const parent = img.parent && images.some((o) => o.configDigest === img.parent) ? { Parent: img.parent } : {};
    manifestJSON.push({ Config: path(img.configDigest), RepoTags: refs.map(familiarString), Layers: img.layerBlobs.map(path), ...parent });
    const top = img.layerBlobs[img.layerBlobs.length - 1];
    if (top) for (const ref of refs) (repositories[familiarName(ref)] ??= {})[ref.tag!] = hexOf(top);
  }

  const pack = tarStream().pack();
  let finished = false;
  // Rejects when the reader goes away or anything fails, so no step waits forever on a dead stream.
  let abort!: (e: Error) => void;
  const aborted = new Promise<never>((_, reject) => (abort = reject));
  aborted.catch(() => undefined);
  const done = new Promise<void>((resolve, reject) => {
    out.once('finish', () => {
      finished = true;
      resolve();
    });
    out.once('close', () => {
      if (finished) return;
      const e = new Error('the archive reader went away before the archive was complete');
      abort(e);
      reject(e);
    });
    // `on`, not `once`: a stream that failed may report again (streamx's pipe does when the
    // reader closes early), and an error with no listener left would be uncaught.
    out.on('error', (e) => {
      abort(e);
      reject(e);
    });
    pack.on('error', (e) => {
      abort(e);
      reject(e);
    });
  });
  done.catch(() => undefined);
  pack.pipe(out);
  const mtime = new Date(0);
  const step = (fn: (resolve: () => void, reject: (e: Error) => void) => void) =>
    Promise.race([new Promise<void>(fn), aborted]);
  const addBuffer = (name: string, buf: Buffer) =>
    step((resolve, reject) => {
      pack.entry({ name, size: buf.length, mode: 0o644, mtime }, buf, (err) => (err ? reject(err) : resolve()));
    });
  const addDir = (name: string) =>
    step((resolve, reject) => {
      pack.entry({ name, type: 'directory', mode: 0o755, mtime }, (err) => (err ? reject(err) : resolve()));
    });
  const addBlob = (d: Digest) =>
    step((resolve, reject) => {
      const sink = pack.entry({ name: path(d), size: blobs.get(d)!.size, mode: 0o644, mtime }, (err) => (err ? reject(err) : resolve()));
      const src = content.openRead(d, { highWaterMark: 1 << 20 });
      aborted.catch(() => src.destroy());
      src.once('error', (err) => {
        sink.destroy(err);
        reject(err);
      });
      // The entry fails too when the reader goes away mid-blob; node's pipe rethrows a
      // destination's error that nobody else listens to, which would be uncaught.
      sink.on('error', reject);
      src.pipe(sink);
    });

  try {
    await addDir('blobs/');
    await addDir('blobs/sha256/');
    for (const d of blobs.keys()) await addBlob(d);
    for (const [d, buf] of manifestBlobs) if (!blobs.has(d)) await addBuffer(path(d), buf);
    await addBuffer('index.json', Buffer.from(JSON.stringify(index)));
    await addBuffer('manifest.json', Buffer.from(JSON.stringify(manifestJSON)));
    await addBuffer('oci-layout', Buffer.from(JSON.stringify({ imageLayoutVersion: '1.0.0' })));
    await addBuffer('repositories', Buffer.from(JSON.stringify(repositories)));
    pack.finalize();
  } catch (err) {
    pack.destroy(err as Error);
    throw err;
  }
  await done;
}
