/**
 * Image use cases: import, load, save, list, history, tag, remove, prune, disk
 * usage. Blobs and image metadata live in image/; unpacked layers in storage/.
 * This service keeps the two consistent, through its parts:
 * - image-ingest.ts registers an image only after all its layers exist, so a
 *   failed import or load leaves no half-made image behind. Every layer's
 *   uncompressed tar is kept in the content store under its diffID (that is
 *   what save writes), next to its unpacked form in the layer store (chainID).
 *   Both are shared by every image that uses them: stored and unpacked once.
 * - image-gc.ts collects them when no image, container or lease references them.
 * - image-queries.ts answers list, usage and history; image-filters.ts parses
 *   filters; image-changes.ts applies `--change` lines.
 */
import type { Readable, Writable } from 'node:stream';
import {
  BerthError, byteProgress, checkFilterKeys, countedStream, conflict, filterBool, ignoreProgress, matchLabelArgs, invalidArgument, log, notFound, shortId, type Digest, type ProgressSink,
} from '../common';
import {
  ContentStore,
  ImageStore,
  RegistryClient,
  familiarName,
  familiarString,
  parseReference,
  readArchive,
  writeArchive,
  withDefaultTag,
  type ImageConfig,
  type ImageRecord,
  type NewImage,
  type Reference,
} from '../image';
import { LayerStore, dirSize, type LayerInfo } from '../storage';
import { applyChanges } from './image-changes';
import { parseTimestamp, PRUNE_FILTERS, type ImageFilters } from './image-filters';
import { chainOf, ImageCollector, type Collected, type Lease } from './image-gc';
import { ImageDistribution } from './image-distribution';
import { ImageIngest, type IngestedImage } from './image-ingest';
import { ImageQueries, type HistoryItem, type ImageListEntry } from './image-queries';

export type { ImageFilters, Lease, HistoryItem, ImageListEntry };

export interface ImportOptions {
  repo?: string;
  tag?: string;
  message?: string;
  changes?: string[];
}

/** The name an import is tagged with (repo, with tag or `latest`), if any. */
function importReference(opts: ImportOptions): Reference | undefined {
  return opts.repo ? withDefaultTag(parseReference(opts.tag ? `${opts.repo}:${opts.tag}` : opts.repo)) : undefined;
}

export interface DeleteResponseItem {
  Untagged?: string;
  Deleted?: string;
}

export class ImageService {
  private readonly gc: ImageCollector;
  private readonly ingest: ImageIngest;
  private readonly queries: ImageQueries;

  constructor(
    private readonly content: ContentStore,
    private readonly store: ImageStore,
    /** The unpacked layers; the container service prepares container roots on them. */
    readonly layers: LayerStore,
    /** Which images containers use; removal of those needs force. */
    private readonly usedBy: (imageId: Digest) => { id: string; running: boolean }[],
    /** The top layer (chainID) under each container: kept, with its ancestors, even once no image names it. */
    containerLayers: () => Promise<Digest[]> = async () => [],
    registry: RegistryClient = new RegistryClient(),
  ) {
    this.gc = new ImageCollector(content, store, layers, containerLayers);
    this.ingest = new ImageIngest(content, store, layers, this.gc);
    this.queries = new ImageQueries(store, layers, usedBy);
    this.distribution = new ImageDistribution(registry, content, store, this.ingest, (action, ref) => this.event(action, familiarString(ref), familiarName(ref)));
  }

  /** Hears dockerd's image events: action, the image (or, for pull and push, the reference) and attributes. */
  onEvent?: (action: string, id: string, attributes: Record<string, string>) => void;

  /** An image event as dockerd logs one: the image's labels, and `name`. */
  private event(action: string, id: string, name: string): void {
    if (!this.onEvent) return;
    let labels: Record<string, string> | undefined;
    try {
      labels = this.store.resolve(id).config.config?.Labels ?? undefined;
    } catch {
      // gone (delete) or never here
    }
    this.onEvent(action, id, { ...(labels ?? {}), name });
  }

  /** Pull and push (`docker pull`, `docker push`). */
  readonly distribution: ImageDistribution;

  // ---- lookups -----------------------------------------------------------------

  /** The image a name, ID or ID prefix names (not-found `No such image: …`). */
  resolve(nameOrId: string): ImageRecord {
    return this.store.resolve(nameOrId);
  }

  /** Whether `name` still names image `id` (see ImageStore.stillNames). */
  stillNames(name: string, id: Digest): boolean {
    return this.store.stillNames(name, id);
  }

  /** The image with this exact ID, or undefined (it may have been removed). */
  get(id: Digest): ImageRecord | undefined {
    return this.store.get(id);
  }

  /** How many images there are. */
  count(): number {
    return this.store.list().length;
  }

  /** An image's names: tags (`busybox:latest`) and repository digests (`busybox@sha256:…`), sorted. */
  namesOf(id: Digest): { tags: string[]; digests: string[]; lastTagTime?: string } {
    const t = this.store.lastTagTime(id);
    return { tags: this.store.tagsOf(id), digests: this.store.digestsOf(id), ...(t ? { lastTagTime: t } : {}) };
  }

  /** chainIDs of an image's layers, bottom first. */
  chain(img: ImageRecord): Digest[] {
    return chainOf(img);
  }

  /** The unpacked directories of an image's layers, top first (overlay's lowerdir order). */
  layerDirs(img: ImageRecord): string[] {
    return chainOf(img).reverse().map((c) => this.layers.diffDir(c));
  }

  /** The top layer under a new container's root (null for none) and its chain's directories, for the snapshotter. */
  async rootLayers(img: ImageRecord): Promise<{ top: Digest | null; lowers: string[] }> {
    const top = chainOf(img).at(-1) ?? null;
    return { top, lowers: top ? await this.layers.linkChain(top) : [] };
  }

  // ---- leases, garbage collection, new images ----------------------------------------

  /** Runs fn under a lease that is released (collecting what no image uses) afterwards. */
  withLease<T>(fn: (l: Lease) => Promise<T>): Promise<T> {
    return this.gc.withLease(fn);
  }

  /** Deletes the unreferenced blobs and layers among `candidates` (every stored one for 'all'). */
  collect(candidates: { blobs: Digest[]; layers: Digest[] } | 'all'): Promise<Collected> {
    return this.gc.collect(candidates);
  }

  /** Stores one layer tar (plain, gzip or zstd) above `parent`, held by `lease`; see ImageIngest.addLayer. */
  addLayer(parent: Digest | null, tar: Readable, lease: Lease): Promise<LayerInfo> {
    return this.ingest.addLayer(parent, tar, lease);
  }

  /** A layer from a directory already unpacked in overlay form; see ImageIngest.addLayerFromDir. */
  addLayerFromDir(parent: Digest | null, tar: Readable, dir: string, lease: Lease): Promise<LayerInfo> {
    return this.ingest.addLayerFromDir(parent, tar, dir, lease);
  }

  /**
   * Records a new image from a config whose layers exist (held by the caller's
   * lease), with its size, parent and names, in one write.
   */
  /** A new image from a commit or a build step (dockerd's `create` event, then a `tag` for each name). */
  async create(config: ImageConfig, opts: Omit<NewImage, 'configDigest'>): Promise<ImageRecord> {
    const img = await this.store.create(config, opts);
    this.event('create', img.id, img.id);
    for (const r of opts.refs ?? []) this.event('tag', img.id, familiarString(r));
    return img;
  }

  // ---- import / load / save ----------------------------------------------------------

  /** `docker import`: one layer from a rootfs tar (plain, gzip or zstd). Returns the image ID. */
  async importTar(body: Readable, opts: ImportOptions): Promise<Digest> {
    const ref = importReference(opts);
    const changes = applyChanges({}, opts.changes ?? []);
    return this.gc.withLease(async (lease) => {
      const layer = await this.ingest.addLayer(null, body, lease);
      const now = new Date().toISOString();
      const config: ImageConfig = {
        architecture: hostArch(),
        os: 'linux',
        created: now,
        config: changes,
        rootfs: { type: 'layers', diff_ids: [layer.diffID] },
        history: [{ created: now, created_by: '', comment: opts.message || 'Imported from -' }],
      };
      const img = await this.store.create(config, { size: layer.size, refs: ref ? [ref] : [] });
      if (ref) this.event('tag', img.id, familiarString(ref));
      this.event('import', img.id, img.id);
      return img.id;
    });
  }

  /**
   * `docker import URL`, as dockerd does it: `http://` put before a URL that names no scheme;
   * the reference checked and the GET answered before anything is streamed, so that a bad
   * name, a refused connection or a 404 keeps its status; then `run` streams `Downloading
   * from URL`, the bytes as `Importing` progress (of the Content-Length, when the reply gave
   * one), imports them and resolves with the image ID. The history comment is
   * `Imported from <src>` unless a message is given.
   */
  async prepareImportUrl(src: string, opts: ImportOptions): Promise<{ run(sink: ProgressSink): Promise<Digest> }> {
    importReference(opts);
    const url = src.includes('://') ? src : `http://${src}`;
    const { fetchUrl } = await import('../build');
    const body = await fetchUrl(url);
    const length = Number(body.headers['content-length']);
    const total = Number.isSafeInteger(length) && length >= 0 ? length : undefined;
    return {
      run: async (sink) => {
        sink({ kind: 'status', status: `Downloading from ${url}` });
        try {
          return await this.importTar(countedStream(body, byteProgress(sink, '', 'Importing', total)), { ...opts, message: opts.message ?? `Imported from ${src}` });
        } finally {
          body.destroy();
        }
      },
    };
  }

  /**
   * `docker load`: a docker-archive (classic or docker 25+) or an OCI image
   * layout, possibly gzip or zstd compressed. All or nothing: on any failure
   * (not a tar, corrupt tar, digest mismatch, bad layer) no image is registered
   * and every blob and layer this load made is removed. Reports each layer it
   * unpacks to `progress`, then docker's `Loaded image: …` lines as messages.
   */
  async load(body: Readable, progress: ProgressSink = ignoreProgress): Promise<IngestedImage[]> {
    const session = this.ingest.begin('image archive', progress);
    try {
      const archive = await readArchive(body, this.content, {
        onBlob: session.receive.onBlob,
        platform: { os: 'linux', architecture: hostArch() },
        unpack: session.receive,
      });
      const done = await session.complete(archive.images);
      const say = (text: string) => progress({ kind: 'message', text });
      for (const img of done) {
        for (const t of img.tags) {
          if (t.replaced) say(`The image ${t.name} already exists, renaming the old one with ID ${t.replaced} to empty string`);
          say(`Loaded image: ${t.name}`);
        }
        if (img.tags.length === 0) say(`Loaded image ID: ${img.id}`);
        this.event('load', img.id, img.id);
      }
      return done;
    } catch (err) {
      throw session.explain(err);
    } finally {
      await session.close();
    }
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
    const sources = [...byId.values()].map(({ img, tags }) => ({ configDigest: img.id, repoTags: tags, layerBlobs: [...img.layers], ...(img.parent ? { parent: img.parent } : {}) }));
    for (const s of sources) {
      for (const d of s.layerBlobs) {
        if (!(await this.content.has(d))) {
          throw notFound(`layer ${d} of image ${s.configDigest} has no stored tar to save; it was made by an older Berth: import or load the image again`);
        }
      }
    }
    await writeArchive(out, sources, this.content);
    for (const s of sources) this.event('save', s.configDigest, s.configDigest);
  }

  private saveTargets(name: string): { img: ImageRecord; tag?: string }[] {
    if (/^(sha256:)?[a-f0-9]{1,64}$/.test(name)) {
      try {
        const img = this.store.resolve(name);
        if (isIdLike(name, img.id)) return [{ img }];
      } catch (err) {
        if (!(err instanceof BerthError && err.kind === 'not-found')) throw err;
      }
    }
    const ref = parseReference(name);
    if (ref.tag === undefined && ref.digest === undefined) {
      const all = this.store.references().filter((r) => r.ref.domain === ref.domain && r.ref.path === ref.path && r.ref.tag !== undefined);
      if (all.length > 0) return all.map((r) => ({ img: this.store.get(r.id)!, tag: familiarString(r.ref) })).filter((x) => x.img);
    }
    let img: ImageRecord;
    try {
      img = this.store.resolve(name);
    } catch (err) {
      // dockerd names a repository with no local tag as given (`No such image: busybox`).
      if (err instanceof BerthError && err.kind === 'not-found' && ref.tag === undefined && ref.digest === undefined) throw notFound(`No such image: ${name}`, err);
      throw err;
    }
    return [{ img, tag: ref.digest === undefined ? familiarString(withDefaultTag(ref)) : undefined }];
  }

  async tag(source: string, repo: string, tag?: string): Promise<void> {
    const img = this.store.resolve(source);
    const ref = withDefaultTag(parseReference(tag ? `${repo}:${tag}` : repo));
    await this.store.tag(img.id, ref);
    this.event('tag', img.id, familiarString(ref));
  }

  // ---- list / history / usage ---------------------------------------------------------

  /** `GET /images/json`; see ImageQueries.list. */
  list(filters: ImageFilters = new Map(), all = false): ImageListEntry[] {
    return this.queries.list(filters, all);
  }

  /** Sum of every stored layer's size: `docker system df`'s LayersSize. */
  layersSize(): Promise<number> {
    return this.queries.layersSize();
  }

  /** `docker history`; see ImageQueries.history. */
  history(name: string): HistoryItem[] {
    return this.queries.history(name);
  }

  /** Bytes under a directory (a container's writable layer, for SizeRw and `system df`); 0, logged, when it cannot be measured. */
  async measureDir(dir: string): Promise<number> {
    try {
      return await dirSize(dir);
    } catch (err) {
      log.warn('cannot measure directory size', { dir, error: String(err) });
      return 0;
    }
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
    const img = this.store.resolve(name);
    const out: DeleteResponseItem[] = [];
    const byRef = !isIdLike(name, img.id);
    const refs = this.store.refsOf(img.id);
    const users = this.usedBy(img.id);
    if (byRef) {
      const ref = parseReference(name);
      const named = withDefaultTag(ref);
      // As dockerd: the repository's last tag takes that repository's digest references with it.
      const repo = familiarName(named);
      const lastTag = !named.digest && !refs.some((r) => !r.digest && familiarName(r) === repo && familiarString(r) !== familiarString(named));
      const going = [named, ...(lastTag ? refs.filter((r) => r.digest && familiarName(r) === repo) : [])];
      const untagGoing = async (): Promise<DeleteResponseItem[]> => {
        // One event, for the name asked for: the digest references that go with it are silent in dockerd too.
        await this.untag(img.id, named);
        for (const r of going.slice(1)) await this.store.untag(r);
        return going.map((r) => ({ Untagged: familiarString(r) }));
      };
      if (refs.length > going.length) return untagGoing();
      // As dockerd: the last name of an image a container uses, running or not, goes only when forced.
      if (users.length > 0 && !force) {
        throw conflict(`conflict: unable to remove repository reference "${name}" (must force) - container ${shortId(users[0]!.id)} is using its referenced image ${shortId(img.id)}`);
      }
      // dockerd keeps an image that other images name as parent: the name goes, the image stays (untagged).
      if (this.childrenOf(img.id).length > 0) return untagGoing();
    } else if (this.childrenOf(img.id).length > 0) {
      throw conflict(`conflict: unable to delete ${shortId(img.id)} (cannot be forced) - image has dependent child images`);
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
      await this.untag(img.id, ref);
      out.push({ Untagged: familiarString(ref) });
    }
    // Forced past stopped containers, the image goes as in dockerd; their layers stay for them.
    out.push(...(await this.deleteImage(img, prune)).items);
    return out;
  }

  /**
   * Drops every name of an image and keeps the image (the CRI's RemoveImage of an image a
   * running container still uses: the names go, the container keeps its layers).
   */
  async untagAll(id: Digest): Promise<void> {
    for (const ref of this.store.refsOf(id)) await this.untag(id, ref);
  }

  /** Drops one name of image `id` (dockerd's `untag` event names the image by its ID). */
  private async untag(id: Digest, ref: Reference): Promise<void> {
    await this.store.untag(ref);
    this.event('untag', id, id);
  }

  /** Images made from this one (commit, build, load): while there are any, dockerd keeps it. */
  private childrenOf(id: Digest): ImageRecord[] {
    return this.store.list().filter((i) => i.parent === id);
  }

  /**
   * Forgets an untagged image and collects its blobs and layers; returns
   * docker's Deleted lines and bytes freed. With `prune`, its parent goes too
   * when nothing needs that any more (no name, no container, no other child),
   * and so on down, as dockerd prunes.
   */
  private async deleteImage(img: ImageRecord, prune: boolean): Promise<{ items: DeleteResponseItem[]; bytes: number }> {
    await this.store.delete(img.id);
    this.event('delete', img.id, img.id);
    const items: DeleteResponseItem[] = [{ Deleted: img.id }];
    if (!prune) return { items, bytes: 0 };
    const freed = await this.gc.collect({ blobs: [img.id, ...img.layers, ...(img.manifestDigest ? [img.manifestDigest] : [])], layers: chainOf(img) });
    const removed = new Set(freed.layers.map((l) => l.chainID));
    for (const c of chainOf(img).reverse()) if (removed.has(c)) items.push({ Deleted: c });
    let bytes = freed.bytes;
    const parent = img.parent ? this.store.get(img.parent) : undefined;
    if (parent && this.store.refsOf(parent.id).length === 0 && this.usedBy(parent.id).length === 0 && this.childrenOf(parent.id).length === 0) {
      const r = await this.deleteImage(parent, true);
      items.push(...r.items);
      bytes += r.bytes;
    }
    return { items, bytes };
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
    for (const img of this.store.list()) {
      // Gone already: pruned as the parent of an image deleted before it.
      if (!this.store.get(img.id)) continue;
      if (this.usedBy(img.id).length > 0) continue;
      const refs = this.store.refsOf(img.id);
      if (danglingOnly && refs.length > 0) continue;
      // An untagged parent of other images is no dangling image: it goes with its last child.
      if (refs.length === 0 && this.childrenOf(img.id).length > 0) continue;
      if (until !== undefined && !(Date.parse(img.created) < until)) continue;
      if (!matchLabelArgs(filters, img.config.config?.Labels)) continue;
      for (const ref of refs) {
        await this.untag(img.id, ref);
        deleted.push({ Untagged: familiarString(ref) });
      }
      if (this.childrenOf(img.id).length > 0) continue;
      const r = await this.deleteImage(img, true);
      deleted.push(...r.items);
      bytes += r.bytes;
    }
    bytes += (await this.gc.collect('all')).bytes;
    this.onEvent?.('prune', '', { reclaimed: String(bytes) });
    return { ImagesDeleted: deleted.length ? deleted : null, SpaceReclaimed: bytes };
  }
}

function isIdLike(name: string, id: Digest): boolean {
  const hex = name.replace(/^sha256:/, '');
  return /^[a-f0-9]+$/.test(hex) && id.slice(7).startsWith(hex);
}

/** The host's architecture in Go's (image config) names. */
export function hostArch(): string {
  const a = process.arch;
  return a === 'x64' ? 'amd64' : a === 'ia32' ? '386' : a;
}
