/**
 * Garbage collection of image blobs and unpacked layers. Referenced: an
 * image's config blob, its manifest, its layer tars (by diffID) and its layers
 * (by chainID); the layers under containers; whatever a live lease holds. A
 * layer in use keeps its ancestors. Work in progress takes a lease so that a
 * concurrent collection never removes what it is making; a failed operation
 * releases its lease and collects what it made.
 *
 * Races with work in progress (a load or pull of the image being removed):
 * - A collection checks the leases again right before each deletion, in the same
 *   turn as it starts it, and records the deletion while it runs. Work that finds
 *   content already stored calls `hold` first: it leases the digests and waits for
 *   their deletions under way, so what `has` then finds stays until the lease ends.
 * - Collections run one at a time, and a lease ends only between them: an image
 *   registered under a lease is in the image store before a collection that could
 *   see its lease gone starts, so no collection works from a stale image list.
 * - `exclusive` runs a step with no collection under way: an ingest checks that
 *   everything its images need is stored and registers them there.
 */
import { BerthError, type Digest } from '../common';
import type { ContentStore, ImageRecord, ImageStore } from '../image';
import { chainIDOf, type LayerInfo, type LayerStore } from '../storage';

/** Blobs and layers that in-progress work needs: never collected while held. */
export interface Lease {
  readonly blobs: Set<Digest>;
  readonly layers: Set<Digest>;
}

/** What a collection removed, and the bytes it freed. */
export interface Collected {
  blobs: Digest[];
  layers: LayerInfo[];
  bytes: number;
}

/** Chain IDs for a list of diffIDs, bottom first. */
export function chainsOf(diffIDs: readonly Digest[]): Digest[] {
  const out: Digest[] = [];
  let parent: Digest | null = null;
  for (const d of diffIDs) {
    parent = chainIDOf(parent, d);
    out.push(parent);
  }
  return out;
}

/** chainIDs of an image's layers, bottom first. */
export function chainOf(img: ImageRecord): Digest[] {
  return chainsOf(img.layers);
}

export class ImageCollector {
  private readonly leases = new Set<Lease>();
  /** Serializes collections (rmi, prune, failed operations), lease ends and exclusive steps. */
  private queue: Promise<unknown> = Promise.resolve();
  /** Deletions under way: `hold` waits for them. */
  private readonly deleting = { blobs: new Map<Digest, Promise<void>>(), layers: new Map<Digest, Promise<void>>() };

  constructor(
    private readonly content: ContentStore,
    private readonly images: ImageStore,
    private readonly layers: LayerStore,
    /** The top layer (chainID) under each container: kept, with its ancestors, even once no image names it. */
    private readonly containerLayers: () => Promise<Digest[]>,
  ) {}

  /** Takes a lease; end it with `release`. */
  lease(): Lease {
    const l: Lease = { blobs: new Set(), layers: new Set() };
    this.leases.add(l);
    return l;
  }

  /**
   * Ends a lease. With `collect`, the blobs and layers it named that nothing
   * else references are deleted: what a failed operation made goes away, and
   * intermediate blobs (a compressed layer next to its uncompressed form) of a
   * successful one too.
   */
  release(l: Lease, collect = true): Promise<void> {
    return this.serial(async () => {
      this.leases.delete(l);
      if (collect) await this.collectNow({ blobs: [...l.blobs], layers: [...l.layers] });
    });
  }

  /**
   * Adds blobs and layers to a lease and waits until no collection is deleting any of
   * them. Call it before looking for them in their stores: what is found then stays.
   */
  async hold(l: Lease, what: { blobs?: Digest[]; layers?: Digest[] }): Promise<void> {
    const waits: Promise<void>[] = [];
    for (const d of what.blobs ?? []) {
      l.blobs.add(d);
      const p = this.deleting.blobs.get(d);
      if (p) waits.push(p);
    }
    for (const c of what.layers ?? []) {
      l.layers.add(c);
      const p = this.deleting.layers.get(c);
      if (p) waits.push(p);
    }
    await Promise.all(waits);
  }

  /** Runs fn while no collection runs (and none starts until it is done). */
  exclusive<T>(fn: () => Promise<T>): Promise<T> {
    return this.serial(fn);
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

  /** Deletes the unreferenced blobs and layers among `candidates` (every stored one for 'all'). */
  collect(candidates: { blobs: Digest[]; layers: Digest[] } | 'all'): Promise<Collected> {
    return this.serial(() => this.collectNow(candidates));
  }

  private serial<T>(fn: () => Promise<T>): Promise<T> {
    const run = this.queue.then(fn);
    this.queue = run.catch(() => undefined);
    return run;
  }

  private leased(kind: 'blobs' | 'layers', d: Digest): boolean {
    for (const l of this.leases) if (l[kind].has(d)) return true;
    return false;
  }

  /** Deletes one blob or layer, recorded in `deleting` while it runs. Call in the turn that checked `leased`. */
  private async tracked<T>(kind: 'blobs' | 'layers', d: Digest, del: () => Promise<T>): Promise<T> {
    const run = del();
    const done = run.then(() => undefined, () => undefined);
    this.deleting[kind].set(d, done);
    try {
      return await run;
    } finally {
      if (this.deleting[kind].get(d) === done) this.deleting[kind].delete(d);
    }
  }

  private async collectNow(candidates: { blobs: Digest[]; layers: Digest[] } | 'all'): Promise<Collected> {
    const blobsInUse = new Set<Digest>();
    const layersInUse = new Set<Digest>();
    for (const img of this.images.list()) {
      blobsInUse.add(img.id);
      if (img.manifestDigest) blobsInUse.add(img.manifestDigest);
      for (const d of img.layers) blobsInUse.add(d);
      for (const c of chainOf(img)) layersInUse.add(c);
    }
    for (const l of this.leases) {
      for (const d of l.blobs) blobsInUse.add(d);
      for (const c of l.layers) layersInUse.add(c);
    }
    for (const c of await this.containerLayers()) layersInUse.add(c);
    const allLayers = await this.layers.list();
    const byId = new Map(allLayers.map((l) => [l.chainID, l]));
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
        // Leased since the collection began (a load found it stored): it stays, and so do its ancestors.
        if (this.leased('layers', l.chainID)) {
          for (let p: Digest | null = l.chainID; p !== null && !layersInUse.has(p); p = byId.get(p)?.parent ?? null) layersInUse.add(p);
          continue;
        }
        try {
          await this.tracked('layers', l.chainID, () => this.layers.remove(l.chainID));
          removedLayers.push(l);
          bytes += l.size;
        } catch (err) {
          if (!(err instanceof BerthError && err.kind === 'not-found')) throw err;
        }
      }
      pending = pending.filter((l) => !leaves.includes(l) && !layersInUse.has(l.chainID));
    }
    const removedBlobs: Digest[] = [];
    for (const d of new Set(blobCands)) {
      if (blobsInUse.has(d) || !(await this.content.has(d))) continue;
      const size = await this.content.size(d).catch(() => 0);
      if (this.leased('blobs', d)) continue;
      await this.tracked('blobs', d, () => this.content.delete(d));
      bytes += size;
      removedBlobs.push(d);
    }
    return { blobs: removedBlobs, layers: removedLayers, bytes };
  }
}
