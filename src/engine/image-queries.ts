/**
 * Read-only questions about local images: the list with usage, per-layer
 * sizes, disk usage, history. No state of their own: answers come from the
 * image, content and layer stores and from which containers use which image.
 */
import { checkFilterKeys, filterBool, matchLabelFilters, type Digest } from '../common';
import type { ImageRecord, ImageStore } from '../image';
import type { LayerStore } from '../storage';
import { LIST_FILTERS, matchReference, parseTimestamp, type ImageFilters } from './image-filters';
import { chainOf } from './image-gc';

/** One step of an image's history, newest first. */
export interface HistoryItem {
  /** The local image this step is the top of; undefined where none is here (dockerd's `<missing>`). */
  image?: Digest;
  /** That image's tags. */
  tags: string[];
  /** Unix seconds; 0 when unknown. */
  created: number;
  createdBy: string;
  /** Bytes the step's layer holds; 0 for a step that made none. */
  size: number;
  comment: string;
}

interface ImageUsage {
  image: ImageRecord;
  /** Containers using the image. */
  containers: number;
  /** Bytes of this image's layers that other images use too. */
  sharedSize: number;
}

/** One row of the image list. */
export interface ImageListEntry {
  image: ImageRecord;
  repoTags: string[];
  repoDigests: string[];
  containers: number;
  sharedSize: number;
}

export class ImageQueries {
  constructor(
    private readonly images: ImageStore,
    private readonly layers: LayerStore,
    /** Which containers use an image. */
    private readonly usedBy: (imageId: Digest) => { id: string; running: boolean }[],
  ) {}

  /**
   * `GET /images/json`: images with their usage, filtered like dockerd
   * (dangling, label, reference, before, since, until). With a reference
   * filter, RepoTags shows only the matching names. Without `all`, untagged
   * images that other images were made from (intermediate images) are left out.
   */
  list(filters: ImageFilters = new Map(), all = false): ImageListEntry[] {
    checkFilterKeys(filters, LIST_FILTERS);
    const usage = this.usage();
    let list = this.images.list();
    if (!all) {
      const parents = new Set(list.map((i) => i.parent));
      list = list.filter((img) => !parents.has(img.id) || this.images.refsOf(img.id).length > 0);
    }
    const want = filterBool(filters, 'dangling');
    if (want !== undefined) {
      list = list.filter((img) => (this.images.tagsOf(img.id).length === 0 && this.images.digestsOf(img.id).length === 0) === want);
    }
    const labels = filters.get('label');
    if (labels?.length) list = list.filter((img) => matchLabelFilters(labels, img.config.config?.Labels));
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
    const out: ImageListEntry[] = [];
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
  private usage(): Map<Digest, ImageUsage> {
    const imgs = this.images.list();
    const users = new Map<Digest, number>();
    const chains = new Map<Digest, Digest[]>();
    for (const img of imgs) {
      const c = chainOf(img);
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

  /** The size of each of the image's layers (its files' bytes, as dockerd counts), bottom first. */
  layerSizes(img: ImageRecord): number[] {
    return chainOf(img).map((c) => this.layers.sizeOf(c));
  }

  /** Sum of every stored layer's size: `docker system df`'s LayersSize. */
  async layersSize(): Promise<number> {
    let n = 0;
    for (const l of await this.layers.list()) n += l.size;
    return n;
  }

  /**
   * `docker history`, newest first, as dockerd answers it: the newest row is
   * the image itself, the next its parent image (recorded at commit, build or
   * load), the next that one's parent, and so on while the parent is still
   * here; every other row names none. Each named row carries that image's tags.
   */
  history(name: string): HistoryItem[] {
    const img = this.images.resolve(name);
    const sizes = this.layerSizes(img);
    let hist = img.config.history ?? [];
    if (hist.length === 0) hist = img.layers.map(() => ({ created: img.created, created_by: '' }));
    let layer = 0;
    const items: HistoryItem[] = hist.map((h) => {
      const size = h.empty_layer ? 0 : (sizes[layer++] ?? 0);
      return {
        tags: [],
        created: h.created ? Math.floor(Date.parse(h.created) / 1000) : 0,
        createdBy: h.created_by ?? '',
        size,
        comment: h.comment ?? '',
      };
    });
    items.reverse();
    let named: ImageRecord | undefined = img;
    for (const item of items) {
      if (!named) break;
      item.image = named.id;
      item.tags = this.images.tagsOf(named.id);
      named = named.parent ? this.images.get(named.parent) : undefined;
    }
    return items;
  }
}
