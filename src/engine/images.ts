/**
 * Image use cases: import, load, save, list, history, tag, remove, prune, disk
 * usage. Blobs and image metadata live in image/; unpacked layers in storage/.
 * This module keeps the two consistent:
 * - An image is registered only after all its layers exist, so a failed import
 *   or load leaves no half-made image behind.
 * - Every layer's uncompressed tar is kept in the content store under its
 *   diffID (that is what save writes), next to its unpacked form in the layer
 *   store (chainID). Both are shared by every image that uses them: stored and
 *   unpacked once, and collected when no image references them any more.
 * - Work in progress holds a lease: whatever a lease names is never collected.
 *   A failed operation releases its lease and collects what it made.
 */
import { promises as fsp, statSync } from 'node:fs';
import { join } from 'node:path';
import { PassThrough, Readable, type Writable } from 'node:stream';
import {
  BerthError, checkFilterKeys, conflict, filterBool, internal, invalidArgument, matchLabelArgs, matchLabelFilters, notFound, shortId, type Digest,
} from '../common';
import {
  ContentStore,
  ImageStore,
  decompressStream,
  detectCompression,
  familiarName,
  familiarString,
  parseReference,
  readArchive,
  writeArchive,
  withDefaultTag,
  type ContainerConfig,
  type ImageConfig,
  type ImageRecord,
} from '../image';
import { LayerStore, chainIDOf, type LayerInfo } from '../storage';

/** A layer unpacked ahead of its commit (LayerStore.prepare). */
type PreparedLayer = Awaited<ReturnType<LayerStore['prepare']>>;
export interface ImportOptions {
  repo?: string;
  tag?: string;
  message?: string;
  changes?: string[];
}

/** Blobs and layers that in-progress work needs: never collected while held. */
export interface Lease {
  readonly blobs: Set<Digest>;
  readonly layers: Set<Digest>;
}

export interface DeleteResponseItem {
  Untagged?: string;
  Deleted?: string;
}

export interface HistoryItem {
  Id: string;
  Created: number;
  CreatedBy: string;
  Tags: string[] | null;
  Size: number;
  Comment: string;
}

export interface ImageUsage {
  image: ImageRecord;
  /** Containers using the image. */
  containers: number;
  /** Bytes of this image's layers that other images use too. */
  sharedSize: number;
}

/** Image list filters, Docker's names (`dangling`, `label`, `reference`, `before`, `since`). */
export type ImageFilters = Map<string, string[]>;

const LIST_FILTERS = new Set(['dangling', 'label', 'reference', 'before', 'since', 'until']);
const PRUNE_FILTERS = new Set(['dangling', 'label', 'label!', 'until']);
/** Layers unpacked at once during a load (two cores here; hashing and disk share them). */
const UNPACK_PARALLEL = 3;

export class ImageService {
  private readonly leases = new Set<Lease>();
  /** Serializes garbage collection (rmi, prune, failed operations). */
  private gcQueue: Promise<unknown> = Promise.resolve();

  constructor(
    readonly content: ContentStore,
    readonly images: ImageStore,
    readonly layers: LayerStore,
    /** Which images containers use; removal of those needs force. */
    private readonly usedBy: (imageId: Digest) => { id: string; running: boolean }[],
    /** The top layer (chainID) under each container: kept, with its ancestors, even once no image names it. */
    private readonly containerLayers: () => Promise<Digest[]> = async () => [],
  ) {}

  resolve(nameOrId: string): ImageRecord {
    return this.images.resolve(nameOrId);
  }

  /** chainIDs of an image's layers, bottom first. */
  chain(img: ImageRecord): Digest[] {
    const out: Digest[] = [];
    let parent: Digest | null = null;
    for (const diffID of img.layers) {
      parent = chainIDOf(parent, diffID);
      out.push(parent);
    }
    return out;
  }

  // ---- leases and garbage collection ------------------------------------------

  /** Takes a lease; release it with `release` (collecting what it held unless `keep`). */
  lease(): Lease {
    const l: Lease = { blobs: new Set(), layers: new Set() };
    this.leases.add(l);
    return l;
  }

  /**
   * Ends a lease. With `collect`, the blobs and layers it named that no image
   * (and no other lease) references are deleted: what a failed operation made
   * goes away, and intermediate blobs (a compressed layer next to its
   * uncompressed form) of a successful one too.
   */
  async release(l: Lease, collect = true): Promise<void> {
    this.leases.delete(l);
    if (collect) await this.collect({ blobs: [...l.blobs], layers: [...l.layers] });
  }

  /** Runs fn under a lease that is released (and collected) afterwards, whatever happens. */
  async withLease<T>(fn: (l: Lease) => Promise<T>): Promise<T> {
    const l = this.lease();
    try {
      return await fn(l);
    } finally {
      await this.release(l).catch(() => undefined);
    }
  }

  /**
   * Deletes unreferenced blobs and layers among `candidates` (every stored one
   * for 'all'). Referenced: an image's config blob, its layer tars (by diffID)
   * and its layers (by chainID), plus whatever a live lease holds. Returns what
   * was deleted and the bytes freed.
   */
  collect(candidates: { blobs: Digest[]; layers: Digest[] } | 'all'): Promise<{ blobs: Digest[]; layers: LayerInfo[]; bytes: number }> {
    const run = this.gcQueue.then(() => this.collectNow(candidates));
    this.gcQueue = run.catch(() => undefined);
    return run;
  }

  private async collectNow(candidates: { blobs: Digest[]; layers: Digest[] } | 'all') {
    const blobsInUse = new Set<Digest>();
    const layersInUse = new Set<Digest>();
    for (const img of this.images.list()) {
      blobsInUse.add(img.id);
      if (img.manifestDigest) blobsInUse.add(img.manifestDigest);
      for (const d of img.layers) blobsInUse.add(d);
      for (const c of this.chain(img)) layersInUse.add(c);
    }
    for (const l of this.leases) {
      for (const d of l.blobs) blobsInUse.add(d);
      for (const c of l.layers) layersInUse.add(c);
    }
    for (const c of await this.containerLayers()) layersInUse.add(c);
    const allLayers = await this.layers.list();
    const byId = new Map(allLayers.map((l) => [l.chainID, l]));
    // A layer in use keeps its ancestors.
    for (const c of [...layersInUse]) {
      for (let p = byId.get(c)?.parent ?? null; p !== null && !layersInUse.has(p); p = byId.get(p)?.parent ?? null) layersInUse.add(p);
    }
    const blobCands = candidates === 'all' ? await this.content.list() : candidates.blobs;
    const layerCands = new Set(candidates === 'all' ? allLayers.map((l) => l.chainID) : candidates.layers);
    let bytes = 0;
    const removedLayers: LayerInfo[] = [];
    // Children before parents: keep removing candidates that no remaining layer names as parent.
    let pending = allLayers.filter((l) => layerCands.has(l.chainID) && !layersInUse.has(l.chainID));
    while (pending.length > 0) {
      const parents = new Set(allLayers.filter((l) => !removedLayers.includes(l)).map((l) => l.parent));
      const leaves = pending.filter((l) => !parents.has(l.chainID));
      if (leaves.length === 0) break;
      for (const l of leaves) {
        try {
          await this.layers.remove(l.chainID);
          removedLayers.push(l);
          bytes += l.size;
        } catch (err) {
          if (!(err instanceof BerthError && err.kind === 'not-found')) throw err;
        }
      }
      pending = pending.filter((l) => !leaves.includes(l));
    }
    const removedBlobs: Digest[] = [];
    for (const d of new Set(blobCands)) {
      if (blobsInUse.has(d) || !(await this.content.has(d))) continue;
      bytes += await this.content.size(d).catch(() => 0);
      await this.content.delete(d);
      removedBlobs.push(d);
    }
    return { blobs: removedBlobs, layers: removedLayers, bytes };
  }

  // ---- layers ------------------------------------------------------------------

  /**
   * Stores one layer from a tar stream (plain, gzip or zstd) as a child of
   * `parent`: its uncompressed tar goes to the content store under its diffID
   * and its files to the layer store, in one pass over the input. The lease
   * holds both until the caller has registered the image that uses them.
   * Commit and build use this too, so that save can write their layers.
   */
  async addLayer(parent: Digest | null, tar: Readable, lease: Lease): Promise<LayerInfo> {
    const { stream } = await decompressStream(tar);
    const toBlob = new PassThrough({ highWaterMark: 1 << 20 });
    const toLayer = new PassThrough({ highWaterMark: 1 << 20 });
    stream.once('error', (e) => {
      toBlob.destroy(e);
      toLayer.destroy(e);
    });
    stream.pipe(toBlob);
    stream.pipe(toLayer);
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
      const err = (b.status === 'rejected' ? b.reason : undefined) ?? (l as PromiseRejectedResult).reason;
      throw err;
    }
    if (b.value.digest !== l.value.diffID) throw internal(`layer tar hashed to ${b.value.digest} in the content store but ${l.value.diffID} when unpacked`);
    return l.value;
  }

  // ---- import / load / save ----------------------------------------------------------

  /** `docker import`: one layer from a rootfs tar (plain, gzip or zstd). Returns the image ID. */
  async importTar(body: Readable, opts: ImportOptions): Promise<Digest> {
    const ref = opts.repo ? withDefaultTag(parseReference(opts.tag ? `${opts.repo}:${opts.tag}` : opts.repo)) : undefined;
    const changes = applyChanges({}, opts.changes ?? []);
    return this.withLease(async (lease) => {
      const layer = await this.addLayer(null, body, lease);
      const now = new Date().toISOString();
      const config: ImageConfig = {
        architecture: hostArch(),
        os: 'linux',
        created: now,
        config: changes,
        rootfs: { type: 'layers', diff_ids: [layer.diffID] },
        history: [{ created: now, created_by: '', comment: opts.message || 'Imported from -' }],
      };
      const img = await this.images.create(config);
      await this.images.setSize(img.id, layer.size);
      if (ref) await this.images.tag(img.id, ref);
      return img.id;
    });
  }

  /**
   * `docker load`: a docker-archive (classic or docker 25+) or an OCI image
   * layout, possibly gzip or zstd compressed. All or nothing: on any failure
   * (corrupt tar, digest mismatch, bad layer) no image is registered and every
   * blob and layer this load made is removed. Returns docker's output lines.
   */
  async load(body: Readable): Promise<{ loaded: string[] }> {
    return this.withLease(async (lease) => {
      // Layers are unpacked into temp dirs while the archive streams in (one pass, no read-back);
      // one is committed only once its blob and diffID are verified. Whatever is not committed is dropped.
      const early: Promise<PreparedLayer | undefined>[] = [];
      try {
        return await this.loadArchive(body, lease, early);
      } finally {
        for (const p of early) {
          const pre = await p;
          if (pre) await this.layers.discard(pre).catch(() => undefined);
        }
      }
    });
  }

  private async loadArchive(body: Readable, lease: Lease, early: Promise<PreparedLayer | undefined>[]): Promise<{ loaded: string[] }> {
    const archive = await readArchive<PreparedLayer>(body, this.content, {
      onBlob: (d) => lease.blobs.add(d),
      platform: { os: 'linux', architecture: hostArch() },
      unpack: {
        // A blob already stored is most likely a layer already unpacked: not worth unpacking ahead.
        want: async (named) => !(named && (await this.content.has(named))),
        // The content store hashes the entry already; for a plain tar that digest is the diffID.
        run: (entry, digest) => {
          const p = this.layers.prepare(entry, { inputDigest: digest });
          early.push(p.catch(() => undefined));
          return p;
        },
      },
    });
    const taken = new Set<PreparedLayer>();
    const takeEarly = async (blob: Digest, diffID: Digest): Promise<PreparedLayer | undefined> => {
      const pre = await archive.unpacked.get(blob);
      if (!pre || pre.diffID !== diffID || taken.has(pre)) return undefined;
      taken.add(pre);
      return pre;
    };

    // 1. Every layer as an uncompressed tar under its diffID (compressed blobs are decompressed and verified).
    const normalized = new Map<Digest, Promise<void>>();
    const normalize = (blob: Digest, diffID: Digest, what: string): Promise<void> => {
      let p = normalized.get(blob);
      if (!p) {
        p = this.normalizeLayerBlob(blob, diffID, what, lease);
        normalized.set(blob, p);
      }
      return p;
    };
    // 2. Unpack each distinct chainID once; a child may start before its parent is done (see unpack).
    const unpacked = new Map<Digest, Promise<LayerInfo>>();
    // A layer holds its slot until its parent is done, so slots are taken parent first:
    // otherwise children could hold every slot while their parent waits for one.
    const started = new Map<Digest, Promise<void>>();
    const slots = new Semaphore(UNPACK_PARALLEL);
    const work: Promise<unknown>[] = [];
    for (const [n, img] of archive.images.entries()) {
      const diffIDs = img.config.rootfs.diff_ids;
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
          const p = this.unpackLayer(chainID, parent, parentDone, normalize(blob, diffID, what), () => takeEarly(blob, diffID), diffID, what, slots, lease, order);
          unpacked.set(chainID, p);
          work.push(p);
        }
        parent = chainID;
      }
    }
    const results = await Promise.allSettled(work);
    const failed = results.find((r): r is PromiseRejectedResult => r.status === 'rejected');
    if (failed) throw failed.reason;

    // 3. Register images and names.
    const loaded: string[] = [];
    for (const img of archive.images) {
      let size = 0;
      for (const c of chainsOf(img.config.rootfs.diff_ids)) size += (await unpacked.get(c)!).size;
      const rec = await this.images.createFromBlob(img.configDigest);
      await this.images.setSize(rec.id, size);
      for (const t of img.repoTags) {
        const ref = parseReference(t);
        const old = this.images.lookupRef(ref);
        if (old && old !== rec.id) loaded.push(`The image ${t} already exists, renaming the old one with ID ${old} to empty string`);
        await this.images.tag(rec.id, ref);
        loaded.push(`Loaded image: ${t}`);
      }
      if (img.repoTags.length === 0) loaded.push(`Loaded image ID: ${rec.id}`);
    }
    return { loaded };
  }

  /** Makes sure the content store holds layer `diffID` uncompressed, from `blob` (which may be compressed). */
  private async normalizeLayerBlob(blob: Digest, diffID: Digest, what: string, lease: Lease): Promise<void> {
    if (blob === diffID) return;
    lease.blobs.add(diffID);
    if (await this.content.has(diffID)) return;
    const head = await readHead(this.content.path(blob), 4);
    if (detectCompression(head) === 'none') {
      throw invalidArgument(`invalid image archive: ${what} has content ${blob} but the image config says its diffID is ${diffID}; the archive is corrupt`);
    }
    const { stream } = await decompressStream(this.content.openRead(blob, { highWaterMark: 1 << 20 }));
    try {
      await this.content.writeStream(stream, diffID);
    } catch (err) {
      if (err instanceof BerthError && /digest mismatch/.test(err.message)) {
        throw invalidArgument(`invalid image archive: ${what} uncompresses to content that does not match diffID ${diffID} in the image config; the archive is corrupt`, err);
      }
      if (err instanceof BerthError) throw invalidArgument(`invalid image archive: ${what}: ${err.message}`, err);
      throw err;
    }
  }

  /**
   * Unpacks one layer. Unpacking runs as soon as a slot is free and the blob is
   * ready; the layer store checks the parent only once the tar has been read
   * to its end, so the stream's end is held back until the parent exists:
   * layers of one image unpack in parallel and still commit bottom first.
   * A layer already unpacked while the archive streamed in (`early`, whose
   * diffID matched) is only committed, once its parent is.
   */
  private async unpackLayer(
    chainID: Digest, parent: Digest | null, parentDone: Promise<unknown>, blobReady: Promise<void>,
    early: () => Promise<PreparedLayer | undefined>,
    diffID: Digest, what: string, slots: Semaphore, lease: Lease,
    order: { after: Promise<void>; started: () => void },
  ): Promise<LayerInfo> {
    lease.layers.add(chainID);
    let release: () => void;
    try {
      await blobReady;
      if (await this.layers.has(chainID)) {
        order.started();
        await parentDone;
        return this.layers.get(chainID);
      }
      const pre = await early();
      if (pre) {
        order.started();
        await parentDone;
        const info = await this.layers.commit(pre, parent);
        if (info.chainID !== chainID) throw internal(`${what} committed as ${info.chainID}, expected ${chainID}`);
        return info;
      }
      await order.after;
      release = await slots.acquire();
    } finally {
      order.started();
    }
    let info: LayerInfo;
    try {
      const src = this.content.openRead(diffID, { highWaterMark: 1 << 20 });
      info = await this.layers.create(parent, endAfter(src, parentDone));
    } catch (err) {
      // The parent's own failure is the one to report.
      await parentDone;
      if (err instanceof BerthError && err.kind === 'invalid-argument') throw invalidArgument(`invalid image archive: ${what}: ${err.message}`, err);
      throw err;
    } finally {
      release();
    }
    if (info.chainID !== chainID) {
      throw invalidArgument(`invalid image archive: ${what} unpacked to diffID ${info.diffID} but the image config says ${diffID}`);
    }
    return info;
  }

  /**
   * `docker save`: streams one archive (docker 25+ layout: docker-archive and
   * OCI layout at once) with every named image. A name-only reference
   * (`busybox`) saves every tag of that repository, an ID saves the image
   * untagged, a tagged reference that tag. Every name is resolved and every
   * blob checked before the first byte is written.
   */
  async save(names: string[], out: Writable): Promise<void> {
    if (names.length === 0) throw invalidArgument('no images given to save: name at least one image');
    const byId = new Map<Digest, { img: ImageRecord; tags: string[] }>();
    for (const n of names) {
      const picked = this.saveTargets(n);
      for (const { img, tag } of picked) {
        const e = byId.get(img.id) ?? { img, tags: [] };
        if (tag && !e.tags.includes(tag)) e.tags.push(tag);
        byId.set(img.id, e);
      }
    }
    const sources = [...byId.values()].map(({ img, tags }) => ({ configDigest: img.id, repoTags: tags, layerBlobs: [...img.layers] }));
    for (const s of sources) {
      for (const d of s.layerBlobs) {
        if (!(await this.content.has(d))) {
          throw notFound(`layer ${d} of image ${s.configDigest} has no stored tar to save; it was made by an older Berth: import or load the image again`);
        }
      }
    }
    await writeArchive(out, sources, this.content);
  }

  private saveTargets(name: string): { img: ImageRecord; tag?: string }[] {
    if (/^(sha256:)?[a-f0-9]{1,64}$/.test(name)) {
      try {
        const img = this.images.resolve(name);
        if (isIdLike(name, img.id)) return [{ img }];
      } catch (err) {
        if (!(err instanceof BerthError && err.kind === 'not-found')) throw err;
      }
    }
    const ref = parseReference(name);
    if (ref.tag === undefined && ref.digest === undefined) {
      const all = this.images.references().filter((r) => r.ref.domain === ref.domain && r.ref.path === ref.path && r.ref.tag !== undefined);
      if (all.length > 0) return all.map((r) => ({ img: this.images.get(r.id)!, tag: familiarString(r.ref) })).filter((x) => x.img);
    }
    const img = this.images.resolve(name);
    return [{ img, tag: ref.digest === undefined ? familiarString(withDefaultTag(ref)) : undefined }];
  }

  async tag(source: string, repo: string, tag?: string): Promise<void> {
    const img = this.images.resolve(source);
    const ref = withDefaultTag(parseReference(tag ? `${repo}:${tag}` : repo));
    await this.images.tag(img.id, ref);
  }

  // ---- list / history / usage ---------------------------------------------------------

  /**
   * `GET /images/json`: images with their usage, filtered like dockerd
   * (dangling, label, reference, before, since, until). With a reference
   * filter, RepoTags shows only the matching names.
   */
  list(filters: ImageFilters = new Map()): { image: ImageRecord; repoTags: string[]; repoDigests: string[]; containers: number; sharedSize: number }[] {
    checkFilterKeys(filters, LIST_FILTERS);
    const usage = this.usage();
    let list = this.images.list();
    const want = filterBool(filters, 'dangling');
    if (want !== undefined) {
      list = list.filter((img) => (this.images.tagsOf(img.id).length === 0 && this.images.digestsOf(img.id).length === 0) === want);
    }
    list = list.filter((img) => matchLabelFilters(filters.get('label'), img.config.config?.Labels));
    for (const key of ['before', 'since'] as const) {
      const v = filters.get(key);
      if (!v?.length) continue;
      const pivot = this.images.resolve(v[0]!);
      list = list.filter((img) => (key === 'before' ? img.created < pivot.created : img.created > pivot.created));
    }
    const until = filters.get('until');
    if (until?.length) {
      const t = parseTimestamp(until[0]!);
      list = list.filter((img) => Date.parse(img.created) < t);
    }
    const refs = filters.get('reference');
    const out = [];
    for (const img of list) {
      let repoTags = this.images.tagsOf(img.id);
      let repoDigests = this.images.digestsOf(img.id);
      if (refs?.length) {
        repoTags = repoTags.filter((t) => refs.some((r) => matchReference(r, t)));
        repoDigests = repoDigests.filter((t) => refs.some((r) => matchReference(r, t)));
        if (repoTags.length === 0 && repoDigests.length === 0) continue;
      }
      const u = usage.get(img.id);
      out.push({ image: img, repoTags, repoDigests, containers: u?.containers ?? 0, sharedSize: u?.sharedSize ?? 0 });
    }
    return out;
  }

  /** Per image: containers using it and bytes shared with other images. */
  usage(): Map<Digest, ImageUsage> {
    const imgs = this.images.list();
    const users = new Map<Digest, number>();
    const chains = new Map<Digest, Digest[]>();
    for (const img of imgs) {
      const c = this.chain(img);
      chains.set(img.id, c);
      for (const l of new Set(c)) users.set(l, (users.get(l) ?? 0) + 1);
    }
    const out = new Map<Digest, ImageUsage>();
    for (const img of imgs) {
      // Sizes per layer are not kept per image: apportion the image's size by its diffIDs' blob sizes.
      const sizes = this.layerSizes(img);
      let shared = 0;
      chains.get(img.id)!.forEach((c, i) => {
        if ((users.get(c) ?? 0) > 1) shared += sizes[i] ?? 0;
      });
      out.set(img.id, { image: img, containers: this.usedBy(img.id).length, sharedSize: shared });
    }
    return out;
  }

  /** The uncompressed size of each of the image's layers (its tar in the content store), bottom first. */
  layerSizes(img: ImageRecord): number[] {
    return img.layers.map((d) => {
      try {
        return statSizeSync(this.content.path(d));
      } catch {
        return 0;
      }
    });
  }

  /** Bytes of the files under a directory (a container's writable layer, for `system df`). */
  measureDir(dir: string): Promise<number> {
    return dirSize(dir);
  }

  /** Sum of every stored layer's size: `docker system df`'s LayersSize. */
  async layersSize(): Promise<number> {
    let n = 0;
    for (const l of await this.layers.list()) n += l.size;
    return n;
  }

  /** `docker history`: newest first, `<missing>` for entries below the image itself, like dockerd. */
  history(name: string): HistoryItem[] {
    const img = this.images.resolve(name);
    const sizes = this.layerSizes(img);
    let hist = img.config.history ?? [];
    if (hist.length === 0) hist = img.layers.map(() => ({ created: img.created, created_by: '' }));
    let layer = 0;
    const items: HistoryItem[] = hist.map((h) => {
      const size = h.empty_layer ? 0 : (sizes[layer++] ?? 0);
      return {
        Id: '<missing>',
        Created: h.created ? Math.floor(Date.parse(h.created) / 1000) : 0,
        CreatedBy: h.created_by ?? '',
        Tags: null,
        Size: size,
        Comment: h.comment ?? '',
      };
    });
    items.reverse();
    if (items[0]) {
      items[0].Id = img.id;
      const tags = this.images.tagsOf(img.id);
      items[0].Tags = tags.length ? tags : null;
    }
    return items;
  }

  // ---- remove / prune -----------------------------------------------------------

  /**
   * `docker rmi` with dockerd's rules: a name that is not the image's last
   * reference is only untagged; removing the last one (or by ID) deletes the
   * image and every layer and blob no other image uses. An image used by a
   * running container cannot be removed; by a stopped one only with force
   * (the image is then deleted; the layers under the container stay). By ID, an image
   * tagged in several repositories needs force.
   */
  async remove(name: string, force: boolean, prune = true): Promise<DeleteResponseItem[]> {
    const img = this.images.resolve(name);
    const out: DeleteResponseItem[] = [];
    const byRef = !isIdLike(name, img.id);
    const refs = this.images.refsOf(img.id);
    const users = this.usedBy(img.id);
    if (byRef) {
      const ref = parseReference(name);
      const named = withDefaultTag(ref);
      if (refs.length > 1) {
        await this.images.untag(named);
        return [{ Untagged: familiarString(named) }];
      }
      if (users.length > 0 && !force) {
        const running = users.find((u) => u.running);
        if (running) throw conflict(`conflict: unable to delete ${familiarString(named)} (cannot be forced) - image is being used by running container ${shortId(running.id)}`);
        throw conflict(`conflict: unable to remove repository reference "${name}" (must force) - container ${shortId(users[0]!.id)} is using its referenced image ${shortId(img.id)}`);
      }
    }
    const running = users.find((u) => u.running);
    if (running) throw conflict(`conflict: unable to delete ${shortId(img.id)} (cannot be forced) - image is being used by running container ${shortId(running.id)}`);
    if (users.length > 0 && !force) {
      throw conflict(`conflict: unable to delete ${shortId(img.id)} (must be forced) - image is being used by stopped container ${shortId(users[0]!.id)}`);
    }
    if (!byRef && !force && new Set(refs.map((r) => familiarName(r))).size > 1) {
      throw conflict(`conflict: unable to delete ${shortId(img.id)} (must be forced) - image is referenced in multiple repositories`);
    }
    for (const ref of refs) {
      await this.images.untag(ref);
      out.push({ Untagged: familiarString(ref) });
    }
    // Forced past stopped containers, the image goes as in dockerd; their layers stay for them.
    out.push(...(await this.deleteImage(img, prune)).items);
    return out;
  }

  /** Forgets an untagged image and collects its blobs and layers; returns docker's Deleted lines and bytes freed. */
  private async deleteImage(img: ImageRecord, prune: boolean): Promise<{ items: DeleteResponseItem[]; bytes: number }> {
    await this.images.delete(img.id);
    const items: DeleteResponseItem[] = [{ Deleted: img.id }];
    if (!prune) return { items, bytes: 0 };
    const freed = await this.collect({ blobs: [img.id, ...img.layers, ...(img.manifestDigest ? [img.manifestDigest] : [])], layers: this.chain(img) });
    const removed = new Set(freed.layers.map((l) => l.chainID));
    for (const c of this.chain(img).reverse()) if (removed.has(c)) items.push({ Deleted: c });
    return { items, bytes: freed.bytes };
  }

  /**
   * `POST /images/prune`: removes dangling images (untagged, unused), or with
   * dangling=false every image no container uses; `label`, `label!` and
   * `until` narrow the set. Then collects every unreferenced blob and layer.
   */
  async prune(filters: ImageFilters = new Map()): Promise<{ ImagesDeleted: DeleteResponseItem[] | null; SpaceReclaimed: number }> {
    checkFilterKeys(filters, PRUNE_FILTERS);
    const danglingOnly = filterBool(filters, 'dangling') ?? true;
    const until = filters.get('until')?.length ? parseTimestamp(filters.get('until')![0]!) : undefined;
    const deleted: DeleteResponseItem[] = [];
    let bytes = 0;
    for (const img of this.images.list()) {
      if (this.usedBy(img.id).length > 0) continue;
      const refs = this.images.refsOf(img.id);
      if (danglingOnly && refs.length > 0) continue;
      if (until !== undefined && !(Date.parse(img.created) < until)) continue;
      if (!matchLabelArgs(filters, img.config.config?.Labels)) continue;
      for (const ref of refs) {
        await this.images.untag(ref);
        deleted.push({ Untagged: familiarString(ref) });
      }
      const r = await this.deleteImage(img, true);
      deleted.push(...r.items);
      bytes += r.bytes;
    }
    bytes += (await this.collect('all')).bytes;
    return { ImagesDeleted: deleted.length ? deleted : null, SpaceReclaimed: bytes };
  }
}

/** Chain IDs for a list of diffIDs, bottom first. */
function chainsOf(diffIDs: Digest[]): Digest[] {
  const out: Digest[] = [];
  let parent: Digest | null = null;
  for (const d of diffIDs) {
    parent = chainIDOf(parent, d);
    out.push(parent);
  }
  return out;
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

function statSizeSync(path: string): number {
  return statSync(path).size;
}

/** Docker's `until`/`since` values: RFC 3339 times, unix seconds (with fraction), or durations like `10m` before now. */
export function parseTimestamp(v: string): number {
  if (/^\d+(\.\d+)?$/.test(v)) return Number(v) * 1000;
  const dur = /^(\d+(?:\.\d+)?)(ns|us|µs|ms|s|m|h)$/.exec(v);
  if (dur) {
    const mult: Record<string, number> = { ns: 1e-6, us: 1e-3, µs: 1e-3, ms: 1, s: 1000, m: 60_000, h: 3_600_000 };
    return Date.now() - Number(dur[1]) * mult[dur[2]!]!;
  }
  const t = Date.parse(v);
  if (Number.isNaN(t)) throw invalidArgument(`invalid timestamp "${v}": use RFC 3339, unix seconds or a duration such as 10m`);
  return t;
}

/**
 * Docker's reference filter: a glob (`*` within one path component) matched
 * against `name:tag` and, when the pattern has no tag, against the name alone.
 */
export function matchReference(pattern: string, familiar: string): boolean {
  const glob = (p: string) => new RegExp('^' + p.split('*').map((s) => s.replace(/[.+?^${}()|[\]\\/]/g, '\\$&')).join('[^/]*') + '$');
  if (glob(pattern).test(familiar)) return true;
  const name = familiar.replace(/[:@][^/]*$/, '');
  if (glob(pattern).test(name)) return true;
  // `docker.io/library/busybox` style patterns match their familiar form too.
  try {
    const ref = parseReference(pattern.replace(/\*/g, 'x'));
    if (!pattern.includes('*')) {
      const want = familiarString(ref);
      return want === familiar || familiarName(ref) === name && ref.tag === undefined;
    }
  } catch {
    /* not a reference: globs only */
  }
  return false;
}

/** Sum of the sizes of the files under `dir` (not following symlinks); 0 when it is absent. */
export async function dirSize(dir: string): Promise<number> {
  let total = 0;
  const stack = [dir];
  while (stack.length) {
    const d = stack.pop()!;
    let entries;
    try {
      entries = await fsp.readdir(d, { withFileTypes: true });
    } catch {
      continue;
    }
    for (const e of entries) {
      const p = join(d, e.name);
      if (e.isDirectory()) stack.push(p);
      else if (e.isFile()) total += (await fsp.lstat(p).catch(() => ({ size: 0 }))).size;
    }
  }
  return total;
}
function isIdLike(name: string, id: Digest): boolean {
  const hex = name.replace(/^sha256:/, '');
  return /^[a-f0-9]+$/.test(hex) && id.slice(7).startsWith(hex);
}

export function hostArch(): string {
  const a = process.arch;
  return a === 'x64' ? 'amd64' : a === 'ia32' ? '386' : a;
}

/** Applies Dockerfile-style `--change` lines (CMD, ENTRYPOINT, ENV, WORKDIR, USER, LABEL, EXPOSE, VOLUME, STOPSIGNAL). */
export function applyChanges(base: ContainerConfig, changes: string[]): ContainerConfig {
  const cfg: ContainerConfig = { ...base };
  for (const raw of changes) {
    const m = /^\s*(\w+)\s+([\s\S]*)$/.exec(raw);
    if (!m) throw invalidArgument(`invalid change "${raw}": expected an instruction and its arguments, e.g. CMD ["sh"]`);
    const instr = m[1]!.toUpperCase();
    const arg = m[2]!.trim();
    const list = (): string[] => {
      if (arg.startsWith('[')) {
        try {
          const v = JSON.parse(arg) as unknown;
          if (Array.isArray(v) && v.every((x) => typeof x === 'string')) return v as string[];
        } catch {
          // not JSON: shell form below
        }
      }
      return ['/bin/sh', '-c', arg];
    };
    switch (instr) {
      case 'CMD': cfg.Cmd = list(); break;
      case 'ENTRYPOINT': cfg.Entrypoint = list(); break;
      case 'WORKDIR': cfg.WorkingDir = arg; break;
      case 'USER': cfg.User = arg; break;
      case 'STOPSIGNAL': cfg.StopSignal = arg; break;
      case 'ENV': {
        const pairs = arg.includes('=') ? [...arg.matchAll(/(\S+?)=("(?:[^"\\]|\\.)*"|\S*)/g)].map((p) => [p[1]!, p[2]!.replace(/^"|"$/g, '')]) : [[arg.split(/\s+/)[0]!, arg.split(/\s+/).slice(1).join(' ')]];
        const env = [...(cfg.Env ?? [])];
        for (const [k, v] of pairs) {
          const i = env.findIndex((e) => e.split('=')[0] === k);
          if (i >= 0) env[i] = `${k}=${v}`;
          else env.push(`${k}=${v}`);
        }
        cfg.Env = env;
        break;
      }
      case 'LABEL': {
        const labels = { ...(cfg.Labels ?? {}) };
        for (const p of arg.matchAll(/(\S+?)=("(?:[^"\\]|\\.)*"|\S*)/g)) labels[p[1]!.replace(/^"|"$/g, '')] = p[2]!.replace(/^"|"$/g, '');
        cfg.Labels = labels;
        break;
      }
      case 'EXPOSE': {
        const ports = { ...(cfg.ExposedPorts ?? {}) };
        for (const p of arg.split(/\s+/)) ports[p.includes('/') ? p : `${p}/tcp`] = {};
        cfg.ExposedPorts = ports;
        break;
      }
      case 'VOLUME': {
        const vols = { ...(cfg.Volumes ?? {}) };
        for (const v of arg.startsWith('[') ? list() : arg.split(/\s+/)) vols[v] = {};
        cfg.Volumes = vols;
        break;
      }
      default:
        throw invalidArgument(`${instr} is not a valid change command`);
    }
  }
  return cfg;
}

export function notFoundImage(name: string): Error {
  return notFound(`No such image: ${name}`);
}
