import { posix } from 'node:path';
import { Readable, type Writable } from 'node:stream';
import * as tar from 'tar-stream';
import type { Digest } from '../common/ids';
import { asDigest, hexOf, isDigest } from '../common/ids';
import { BerthError, invalidArgument, errorMessage } from '../common/errors';
import type { ContentStore } from './content-store';
import type { ImageConfig } from './image-config';
import { parseConfig } from './image-store';
import { familiarName, parseReference } from './reference';

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
}

export interface ArchiveContents {
  images: ArchiveImage[];
}

/** What writeArchive needs per image. */
export interface ArchiveImageSource {
  configDigest: Digest;
  /** Familiar `name:tag` strings; may be empty. */
  repoTags: string[];
  layerBlobs: Digest[];
}

/** Entries up to this size are held in memory until manifest.json says what they are. */
const SMALL_ENTRY = 1 << 20;
/** Total memory for small entries; past it, entries go straight to the content store. */
const SMALL_BUDGET = 64 << 20;
/** Metadata files (manifest.json …) must fit in memory. */
const METADATA_MAX = 16 << 20;
const METADATA_FILES = new Set(['manifest.json', 'repositories', 'index.json', 'oci-layout']);
const MAX_LINK_DEPTH = 16;

type Stored = { kind: 'mem'; buf: Buffer } | { kind: 'blob'; digest: Digest; size: number };

const bad = (msg: string, cause?: unknown) => invalidArgument(`invalid docker archive: ${msg}`, cause);

/**
 * Reads a `docker save` tar stream in one pass. Handles the classic layout
 * (`<id>/layer.tar`, `<hex>.json`) and the docker 25+ layout (OCI
 * `blobs/sha256/<hex>` plus manifest.json), including layer entries that are
 * symlinks or hard links to an earlier identical layer.
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
export async function readArchive(input: Readable, content: ContentStore): Promise<ArchiveContents> {
  const files = new Map<string, Stored>();
  const links = new Map<string, string>();
  let budget = SMALL_BUDGET;

  const extract = tar.extract();
  const onInputError = (err: Error) => extract.destroy(err);
  input.on('error', onInputError);
  input.pipe(extract);
  try {
    for await (const entry of extract) {
      const h = entry.header;
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
            files.set(name, { kind: 'mem', buf: await collect(iter(entry)) });
          } else {
            const expected = blobNameDigest(name);
            try {
              const r = await content.writeStream(Readable.from(iter(entry)), expected);
              files.set(name, { kind: 'blob', ...r });
            } catch (err) {
              if (err instanceof BerthError && /digest mismatch/.test(err.message)) {
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
  if (!manifestFile || manifestFile.kind !== 'mem') {
    throw bad('manifest.json is missing; was this made with `docker save`?');
  }
  const manifest = parseManifest(manifestFile.buf);

  const toStore = async (f: Stored, name: string): Promise<Digest> => {
    if (f.kind === 'blob') return f.digest;
    try {
      const { digest } = await content.writeBuffer(f.buf, blobNameDigest(name));
      // Later references to the same entry need not write it again.
      Object.assign(f, { kind: 'blob', digest, size: f.buf.length, buf: undefined });
      return digest;
    } catch (err) {
      if (err instanceof BerthError && /digest mismatch/.test(err.message)) {
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
    images.push({ config, configDigest, repoTags: m.RepoTags, layerBlobs });
  }
  return { images };
}

interface ManifestEntry {
  Config: string;
  RepoTags: string[];
  Layers: string[];
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
    return { Config: e.Config, RepoTags: tags as string[], Layers: layers as string[] };
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

/**
 * Writes a docker-save-compatible tar in the classic layout that every
 * `docker load` accepts (dockerd's own loader and the containerd image
 * store's importer): `<layerhex>/layer.tar`, `<confighex>.json`,
 * `manifest.json` and `repositories`. A blob shared by several layers or
 * images is written once. Every blob is checked before the first byte is
 * written, so a missing blob fails cleanly (not-found) with `out` untouched.
 * `out` is ended when the archive is complete.
 */
export async function writeArchive(out: Writable, images: ArchiveImageSource[], content: ContentStore): Promise<void> {
  const sizes = new Map<Digest, number>();
  for (const img of images) {
    for (const d of [img.configDigest, ...img.layerBlobs]) {
      if (!isDigest(d)) throw invalidArgument(`invalid digest ${JSON.stringify(d)} for docker archive`);
      if (!sizes.has(d)) sizes.set(d, await content.size(d));
    }
  }
  const manifest: ManifestEntry[] = [];
  const repositories: Record<string, Record<string, string>> = {};
  for (const img of images) {
    manifest.push({
      Config: `${hexOf(img.configDigest)}.json`,
      RepoTags: img.repoTags,
      Layers: img.layerBlobs.map((d) => `${hexOf(d)}/layer.tar`),
    });
    const top = img.layerBlobs[img.layerBlobs.length - 1];
    if (top) {
      for (const t of img.repoTags) {
        const ref = parseReference(t);
        if (ref.tag === undefined) continue;
        (repositories[familiarName(ref)] ??= {})[ref.tag] = hexOf(top);
      }
    }
  }

  const pack = tar.pack();
  const done = new Promise<void>((resolve, reject) => {
    out.once('finish', resolve);
    out.once('error', reject);
    pack.once('error', reject);
  });
  pack.pipe(out);
  const mtime = new Date(0);
  const addBuffer = (name: string, buf: Buffer) =>
    new Promise<void>((resolve, reject) => {
      pack.entry({ name, size: buf.length, mode: 0o644, mtime }, buf, (err) => (err ? reject(err) : resolve()));
    });
  const addDir = (name: string) =>
    new Promise<void>((resolve, reject) => {
      pack.entry({ name, type: 'directory', mode: 0o755, mtime }, (err) => (err ? reject(err) : resolve()));
    });
  const addBlob = (name: string, d: Digest) =>
    new Promise<void>((resolve, reject) => {
      const sink = pack.entry({ name, size: sizes.get(d)!, mode: 0o644, mtime }, (err) => (err ? reject(err) : resolve()));
      const src = content.openRead(d);
      src.once('error', (err) => {
        sink.destroy(err);
        reject(err);
      });
      src.pipe(sink);
    });

  try {
    const written = new Set<string>();
    for (const img of images) {
      for (const d of img.layerBlobs) {
        const hex = hexOf(d);
        if (written.has(hex)) continue;
        written.add(hex);
        await addDir(`${hex}/`);
        await addBlob(`${hex}/layer.tar`, d);
      }
    }
    for (const img of images) {
      const name = `${hexOf(img.configDigest)}.json`;
      if (written.has(name)) continue;
      written.add(name);
      await addBlob(name, img.configDigest);
    }
    await addBuffer('manifest.json', Buffer.from(JSON.stringify(manifest)));
    await addBuffer('repositories', Buffer.from(JSON.stringify(repositories)));
    pack.finalize();
  } catch (err) {
    pack.destroy(err as Error);
    throw err;
  }
  await done;
}
