/**
 * Garbage collection of image blobs and unpacked layers. Referenced: an
 * image's config blob, its manifest, its layer tars (by diffID) and its layers
 * (by chainID); the layers under containers; whatever a live lease holds. A
 * layer in use keeps its ancestors. Work in progress takes a lease so that a
 * concurrent collection never removes what it is making; a failed operation
 * releases its lease and collects what it made.
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
  /** Serializes collections (rmi, prune, failed operations). */
  private queue: Promise<unknown> = Promise.resolve();

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

  /** Deletes the unreferenced blobs and layers among `candidates` (every stored one for 'all'). */
  collect(candidates: { blobs: Digest[]; layers: Digest[] } | 'all'): Promise<Collected> {
    const run = this.queue.then(() => this.collectNow(candidates));
    this.queue = run.catch(() => undefined);
    return run;
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
}
