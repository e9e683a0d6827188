/**
 * The image ingest pipeline: turns layer streams, image configs and the names
 * a manifest gives into registered images. `docker load` feeds it from an
 * archive today (image/docker-archive.ts parses, this module does the rest);
 * a registry pull feeds it blob by blob next.
 *
 * One ingest is a session:
 * 1. While blobs stream in (`receive` hooks), each large one is hashed into the
 *    content store and, at once, unpacked into a temporary layer: one pass, no
 *    read-back. Nothing is trusted yet.
 * 2. `complete` checks every layer against the image configs: a compressed
 *    blob is decompressed and must hash to its diffID; an early unpack is
 *    committed only if its diffID matches; layers not unpacked yet are unpacked
 *    from the store, parents before children (children may start early, see
 *    unpackLayer). Each distinct chainID is unpacked once.
 * 3. Then every image, its parent link and its names are recorded in one write
 *    to the image store.
 * Everything the session made is held by its lease. `close` drops the
 * temporary layers and releases the lease: on failure before step 3 nothing of
 * the ingest remains; after it, what the images use stays.
 *
 * Progress: one `Loading layer` item per layer unpacked, with bytes read.
 */
import { promises as fsp } from 'node:fs';
import { Readable } from 'node:stream';
import {
  BerthError, byteProgress, conflict, countedStream, decompressStream, detectCompression, MAGIC_BYTES, DigestMismatchError, hexOf, tee, internal, invalidArgument, parseReference, type Digest, type ProgressSink, type Reference,
} from '../common';
import { BlobNotFoundError, type ContentStore, type ImageConfig, type ImageStore } from '../image';
import { chainIDOf, type LayerInfo, type LayerStore } from '../storage';
import { chainsOf, type ImageCollector, type Lease } from './image-gc';

/** A layer unpacked ahead of its commit (LayerStore.prepare). */
type PreparedLayer = Awaited<ReturnType<LayerStore['prepare']>>;

/** One image of an ingest; its config and layer blobs are in the content store. */
export interface IngestImage {
  /** Digest of the config blob: the image ID. */
  configDigest: Digest;
  /** That blob, parsed. */
  config: ImageConfig;
  /** Content-store digests of the layer blobs, bottom first; each may be plain, gzip or zstd. */
  layerBlobs: Digest[];
  /** `name:tag` strings to point at the image. */
  repoTags: string[];
  /** The image it was made from, when the source says so and that image is in this ingest too. */
  parent?: Digest;
  manifestDigest?: Digest;
}

/** What `complete` registered, per image in the order given. */
export interface IngestedImage {
  id: Digest;
  /** The names now pointing at it, as given, each with the image it named before if another. */
  tags: { name: string; replaced?: Digest }[];
}

/** Layers unpacked at once (two cores here; hashing and disk share them). */
const UNPACK_PARALLEL = 3;
/** Unpacks running at once while an archive streams in (ImageIngest.receive). */
const EARLY_PARALLEL = 3;

export class ImageIngest {
  constructor(
    private readonly content: ContentStore,
    private readonly images: ImageStore,
    private readonly layers: LayerStore,
    private readonly gc: ImageCollector,
  ) {}

  /**
   * Stores one layer from a tar stream (plain, gzip or zstd) as a child of
   * `parent`: its uncompressed tar goes to the content store under its diffID
   * and its files to the layer store, in one pass over the input. The lease
   * holds both until the caller has registered the image that uses them.
   * Commit, import and build use this, so that save can write their layers.
   */
  async addLayer(parent: Digest | null, tar: Readable, lease: Lease): Promise<LayerInfo> {
    const { stream } = await decompressStream(tar);
    const [toBlob, toLayer] = tee(stream);
    const blob = this.content.writeStream(toBlob).then((r) => {
      lease.blobs.add(r.digest);
      return r;
    });
    // The content store hashes the (uncompressed) tar; the unpacker takes that digest as the diffID.
    const digest = blob.then((r) => r.digest);
    digest.catch(() => undefined);
    const layer = this.layers.prepare(toLayer, { inputDigest: digest }).then((pre) => this.layers.commit(pre, parent)).then((info) => {
      lease.layers.add(info.chainID);
      return info;
    });
    const [b, l] = await Promise.allSettled([blob, layer]);
    if (b.status === 'rejected' || l.status === 'rejected') {
      stream.destroy();
      throw (b.status === 'rejected' ? b.reason : undefined) ?? (l as PromiseRejectedResult).reason;
    }
    if (b.value.digest !== l.value.diffID) throw internal(`layer tar hashed to ${b.value.digest} in the content store but ${l.value.diffID} when unpacked`);
    return l.value;
  }

  /**
   * addLayer for changes that are already unpacked in overlay form (a build step's
   * snapshot upper dir, which is given up): the tar goes to the content store only,
   * and the directory is moved into the layer store instead of unpacked again.
   */
  async addLayerFromDir(parent: Digest | null, tar: Readable, dir: string, lease: Lease): Promise<LayerInfo> {
    const blob = await this.content.writeStream(tar);
    lease.blobs.add(blob.digest);
    const info = await this.layers.commit(await this.layers.prepareFromDir(dir, blob.digest), parent);
    lease.layers.add(info.chainID);
    return info;
  }

  /**
   * Starts an ingest. `source` names what is read in error messages (`image
   * archive`: "invalid image archive: …"). Always `close` the session.
   */
  begin(source: string, progress: ProgressSink, unpackStatus = 'Loading layer'): IngestSession {
    return new IngestSession(this.content, this.images, this.layers, this.gc, source, progress, unpackStatus);
  }
}

export class IngestSession {
  readonly lease: Lease;
  /** Early unpacks, by the content digest of the stream they read. */
  private readonly early: { digest: Promise<Digest>; layer: Promise<PreparedLayer | undefined> }[] = [];
  private earlyRunning = 0;
  private readonly taken = new Set<PreparedLayer>();

  constructor(
    private readonly content: ContentStore,
    private readonly images: ImageStore,
    private readonly layers: LayerStore,
    private readonly gc: ImageCollector,
    private readonly source: string,
    private readonly progress: ProgressSink,
    /** The status word of a layer being unpacked (`Loading layer` for load, `Extracting` for pull). */
    private readonly unpackStatus = 'Loading layer',
  ) {
    this.lease = gc.lease();
  }

  /** Leases blobs and layers the ingest expects to find stored; see ImageCollector.hold. */
  hold(what: { blobs?: Digest[]; layers?: Digest[] }): Promise<void> {
    return this.gc.hold(this.lease, what);
  }

  /**
   * Hooks for whatever streams blobs in (image/docker-archive.ts's ReadArchiveOptions
   * takes them as they are): every stored blob is leased; large entries are
   * unpacked while they stream, unless their blob is already stored (then the
   * layer most likely is too).
   */
  readonly receive = {
    onBlob: (d: Digest): void => {
      this.lease.blobs.add(d);
    },
    want: async (named: Digest | undefined): Promise<boolean> => {
      // Each early unpack may hold up to TEE_RUN_LAG MiB of the archive in memory while it
      // lags: past a few at once, the next layers are stored only and unpacked by `complete`.
      if (this.earlyRunning >= EARLY_PARALLEL) return false;
      if (!named) return true;
      await this.gc.hold(this.lease, { blobs: [named] });
      return !(await this.content.has(named));
    },
    run: (entry: Readable, digest: Promise<Digest>, info: { named?: Digest; size?: number; name: string }): Promise<PreparedLayer> => {
      const id = info.named ? hexOf(info.named).slice(0, 12) : info.name.replace(/\/.*$/, '').slice(0, 12);
      // The content store hashes the entry already; for a plain tar that digest is the diffID.
      const p = this.layers.prepare(this.counted(entry, id, info.size), { inputDigest: digest });
      this.earlyRunning++;
      const layer = p.catch(() => undefined).finally(() => this.earlyRunning--);
      this.early.push({ digest, layer });
      return p;
    },
  };

  /**
   * Checks, unpacks and registers the images (steps 2 and 3 above). Fails with
   * invalid-argument when a layer does not match its config; nothing is then
   * registered.
   */
  async complete(images: IngestImage[]): Promise<IngestedImage[]> {
    // By blob and diffID: a hostile source may give one blob two different diffIDs.
    const normalized = new Map<string, Promise<void>>();
    const normalize = (blob: Digest, diffID: Digest, what: string): Promise<void> => {
      let p = normalized.get(`${blob} ${diffID}`);
      if (!p) {
        p = this.normalizeLayerBlob(blob, diffID, what);
        normalized.set(`${blob} ${diffID}`, p);
      }
      return p;
    };
    const unpacked = new Map<Digest, Promise<LayerInfo>>();
    // A layer holds its slot until its parent is done, so slots are taken parent first:
    // otherwise children could hold every slot while their parent waits for one.
    const started = new Map<Digest, Promise<void>>();
    const slots = new Semaphore(UNPACK_PARALLEL);
    const work: Promise<unknown>[] = [];
    for (const [n, img] of images.entries()) {
      const diffIDs = img.config.rootfs.diff_ids;
      if (diffIDs.length !== img.layerBlobs.length) {
        throw this.bad(`image ${n + 1} has ${img.layerBlobs.length} layers but its config lists ${diffIDs.length} diff_ids`);
      }
      let parent: Digest | null = null;
      for (let i = 0; i < img.layerBlobs.length; i++) {
        const diffID = diffIDs[i]!;
        const what = `image ${n + 1} layer ${i + 1}`;
        const chainID = chainIDOf(parent, diffID);
        if (!unpacked.has(chainID)) {
          const parentDone = parent === null ? Promise.resolve(null) : unpacked.get(parent)!;
          const order = { after: parent === null ? Promise.resolve() : started.get(parent)!, started: () => undefined as void };
          started.set(chainID, new Promise<void>((r) => (order.started = r)));
          const blob = img.layerBlobs[i]!;
          const p = this.unpackLayer({ chainID, parent, parentDone, diffID, what, blob, order }, normalize(blob, diffID, what), slots);
          unpacked.set(chainID, p);
          work.push(p);
        }
        parent = chainID;
      }
    }
    const results = await Promise.allSettled(work);
    const failed = results.find((r): r is PromiseRejectedResult => r.status === 'rejected');
    if (failed) throw failed.reason;
    return this.gc.exclusive(() => this.register(images, unpacked));
  }

  /**
   * Step 3, while no collection runs: checks that every blob and layer of the images is
   * still stored (content a racing removal took leaves no half image), then records them.
   */
  private async register(images: IngestImage[], unpacked: Map<Digest, Promise<LayerInfo>>): Promise<IngestedImage[]> {
    for (const img of images) {
      const blobs = [img.configDigest, ...img.config.rootfs.diff_ids, ...(img.manifestDigest ? [img.manifestDigest] : [])];
      const missing = (await Promise.all(blobs.map(async (d) => ((await this.content.has(d)) ? undefined : d)))).find(Boolean)
        ?? (await Promise.all(chainsOf(img.config.rootfs.diff_ids).map(async (c) => ((await this.layers.has(c)) ? undefined : c)))).find(Boolean);
      if (missing) throw this.gone(missing);
    }

    const byId = new Map(images.map((i) => [i.configDigest, i]));
    const entries = [];
    const out: IngestedImage[] = [];
    for (const img of images) {
      let size = 0;
      for (const c of chainsOf(img.config.rootfs.diff_ids)) size += (await unpacked.get(c)!).size;
      const refs: Reference[] = img.repoTags.map((t) => parseReference(t));
      const parentImg = img.parent ? byId.get(img.parent) : undefined;
      const parent = parentImg && validParent(img.config, parentImg.config) ? parentImg.configDigest : undefined;
      entries.push({ configDigest: img.configDigest, size, refs, ...(parent ? { parent } : {}), ...(img.manifestDigest ? { manifestDigest: img.manifestDigest } : {}) });
      out.push({
        id: img.configDigest,
        tags: img.repoTags.map((name, i) => {
          const old = this.images.lookupRef(refs[i]!);
          return old && old !== img.configDigest ? { name, replaced: old } : { name };
        }),
      });
    }
    await this.images.add(entries);
    return out;
  }

  /** Drops layers unpacked early and never committed, and releases the lease (collecting what no image uses). */
  async close(): Promise<void> {
    for (const e of this.early) {
      const pre = await e.layer;
      if (pre && !this.taken.has(pre)) await this.layers.discard(pre).catch(() => undefined);
    }
    await this.gc.release(this.lease).catch(() => undefined);
  }

  /**
   * The error to answer for `err`: content the store reports missing was there when the
   * ingest looked (or was just written by it), so a removal of the same content took it.
   */
  explain(err: unknown): unknown {
    return err instanceof BlobNotFoundError ? this.gone(err.digest) : err;
  }

  /** Content the ingest counted on is not stored: a removal of the same content ran at the same time. */
  private gone(d: Digest): BerthError {
    return conflict(`${this.source}: ${d} was removed while it was being stored (an image removal of the same content ran at the same time); try again`);
  }

  private bad(msg: string, cause?: unknown): BerthError {
    return invalidArgument(`invalid ${this.source}: ${msg}`, cause);
  }

  /** The early unpack of `blob`, if one was made and its diffID matches. */
  private async takeEarly(blob: Digest, diffID: Digest): Promise<PreparedLayer | undefined> {
    for (const e of this.early) {
      const d = await e.digest.catch(() => undefined);
      if (d !== blob) continue;
      const pre = await e.layer;
      if (!pre || pre.diffID !== diffID || this.taken.has(pre)) continue;
      this.taken.add(pre);
      return pre;
    }
    return undefined;
  }

  /** Makes sure the content store holds layer `diffID` uncompressed, from `blob` (which may be compressed). */
  private async normalizeLayerBlob(blob: Digest, diffID: Digest, what: string): Promise<void> {
    await this.gc.hold(this.lease, { blobs: [blob, diffID] });
    if (blob === diffID) return;
    if (await this.content.has(diffID)) return;
    if (!(await this.content.has(blob))) throw this.gone(blob);
    const head = await readHead(this.content.path(blob), MAGIC_BYTES);
    if (detectCompression(head) === 'none') {
      throw this.bad(`${what} has content ${blob} but the image config says its diffID is ${diffID}; the ${this.source} is corrupt`);
    }
    const { stream } = await decompressStream(this.content.openRead(blob, { highWaterMark: 1 << 20 }));
    try {
      await this.content.writeStream(stream, diffID);
    } catch (err) {
      if (err instanceof DigestMismatchError) {
        throw this.bad(`${what} uncompresses to content that does not match diffID ${diffID} in the image config; the ${this.source} is corrupt`, err);
      }
      if (err instanceof BerthError) throw this.bad(`${what}: ${err.message}`, err);
      throw err;
    }
  }

  /**
   * Unpacks one layer. Unpacking runs as soon as a slot is free and the blob is
   * ready; the layer store checks the parent only once the tar has been read
   * to its end, so the stream's end is held back until the parent exists:
   * layers of one image unpack in parallel and still commit bottom first.
   * A layer already unpacked while the blobs streamed in (whose diffID
   * matched) is only committed, once its parent is.
   */
  private async unpackLayer(
    l: { chainID: Digest; parent: Digest | null; parentDone: Promise<unknown>; diffID: Digest; what: string; blob: Digest; order: { after: Promise<void>; started: () => void } },
    blobReady: Promise<void>, slots: Semaphore,
  ): Promise<LayerInfo> {
    const held = this.gc.hold(this.lease, { layers: [l.chainID] });
    let release: () => void;
    try {
      await held;
      await blobReady;
      if (await this.layers.has(l.chainID)) {
        l.order.started();
        await l.parentDone;
        return this.layers.get(l.chainID);
      }
      const pre = await this.takeEarly(l.blob, l.diffID);
      if (pre) {
        l.order.started();
        await l.parentDone;
        const info = await this.layers.commit(pre, l.parent);
        if (info.chainID !== l.chainID) throw internal(`${l.what} committed as ${info.chainID}, expected ${l.chainID}`);
        return info;
      }
      await l.order.after;
      release = await slots.acquire();
    } finally {
      l.order.started();
    }
    let info: LayerInfo;
    try {
      const size = await this.content.size(l.diffID);
      const src = this.counted(this.content.openRead(l.diffID, { highWaterMark: 1 << 20 }), hexOf(l.diffID).slice(0, 12), size);
      info = await this.layers.create(l.parent, endAfter(src, l.parentDone));
    } catch (err) {
      // The parent's own failure is the one to report.
      await l.parentDone;
      if (err instanceof BerthError && err.kind === 'invalid-argument') throw this.bad(`${l.what}: ${err.message}`, err);
      throw err;
    } finally {
      release();
    }
    if (info.chainID !== l.chainID) {
      throw this.bad(`${l.what} unpacked to diffID ${info.diffID} but the image config says ${l.diffID}`);
    }
    return info;
  }

  /** `src` unchanged, reporting its bytes as the `Loading layer` progress of item `id`. */
  private counted(src: Readable, id: string, total: number | undefined): Readable {
    return countedStream(src, byteProgress(this.progress, id, this.unpackStatus, total));
  }
}

/**
 * dockerd's check before it links a loaded image to its parent: the child's
 * history is the parent's plus one entry, and its layers start with the parent's.
 */
function validParent(child: ImageConfig, parent: ImageConfig): boolean {
  const ch = child.history ?? [];
  const ph = parent.history ?? [];
  if (ch.length === 0 && ph.length === 0) return true;
  if (ch.length - ph.length !== 1) return false;
  if (!ph.every((h, i) => JSON.stringify(h) === JSON.stringify(ch[i]))) return false;
  return parent.rootfs.diff_ids.every((d, i) => child.rootfs.diff_ids[i] === d);
}

/** A counting semaphore; waiters are served in the order they asked. */
class Semaphore {
  private waiters: (() => void)[] = [];
  constructor(private free: number) {}

  async acquire(): Promise<() => void> {
    if (this.free > 0) this.free--;
    else await new Promise<void>((r) => this.waiters.push(r));
    let released = false;
    return () => {
      if (released) return;
      released = true;
      const next = this.waiters.shift();
      if (next) next();
      else this.free++;
    };
  }
}

/** `src`'s bytes, ending only once `gate` has settled (rejecting makes the stream fail). */
function endAfter(src: Readable, gate: Promise<unknown>): Readable {
  gate.catch(() => undefined);
  return Readable.from((async function* () {
    for await (const chunk of src) yield chunk as Buffer;
    await gate;
  })(), { objectMode: false });
}

async function readHead(path: string, n: number): Promise<Buffer> {
  const fh = await fsp.open(path, 'r');
  try {
    const buf = Buffer.alloc(n);
    const { bytesRead } = await fh.read(buf, 0, n, 0);
    return buf.subarray(0, bytesRead);
  } finally {
    await fh.close();
  }
}
