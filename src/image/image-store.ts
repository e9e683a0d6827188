import { mkdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { type Digest, hexOf, invalidArgument, isDigest, isErrno, log, notFound } from '../common';
import { writeJSONAtomic } from '../state';
import type { ContentStore } from './content-store';
import type { ImageConfig } from './image-config';
import {
  familiarString, fullString, parseReference, withDefaultTag, type Reference,
} from '../common';

export type { ImageConfig } from './image-config';

/** One local image. `id` is the digest of its config blob in the content store. */
export interface ImageRecord {
  id: Digest;
  /** The parsed config blob. Shared with the store: do not mutate. */
  config: ImageConfig;
  /** config.created, else when the image was first stored. RFC 3339. */
  created: string;
  /** Sum of the layer sizes, as recorded by add (0 until then). */
  size: number;
  /** diffIDs from config.rootfs.diff_ids, bottom layer first. */
  layers: Digest[];
  /** Digest of the registry manifest the image came from, when known. */
  manifestDigest?: Digest;
  /** When a tag was last added to this image (Docker's Metadata.LastTagTime). */
  lastTagTime?: string;
  /**
   * The local image this one was made from (commit, build, or a load that
   * carried the link), as dockerd records it; it may since have been removed.
   */
  parent?: Digest;
}

/** An image to record whose config blob is already in the content store. */
export interface NewImage {
  configDigest: Digest;
  /** Sum of its layer sizes (an image already recorded keeps its size when this is left out). */
  size?: number;
  parent?: Digest;
  manifestDigest?: Digest;
  /** Names to point at it (moved from any image they named before). */
  refs?: Reference[];
}

interface PersistedImage {
  added: string;
  size: number;
  manifestDigest?: Digest;
  lastTagTime?: string;
  parent?: Digest;
}

interface PersistedState {
  version: 1;
  images: Record<string, PersistedImage>;
  /** fullString of a tag or digest reference → image ID. */
  references: Record<string, Digest>;
}

const STATE_FILE = 'images.json';

/**
 * Local images and their names.
 *
 * Image configs live in the content store (the ID is the config blob's digest);
 * this store keeps per-image metadata and the reference table (repository:tag
 * and repository@digest → ID) in `<root>/images.json`, written atomically.
 * The whole state is loaded synchronously by the constructor and kept in
 * memory, so reads (get, list, resolve, tagsOf) are synchronous and cheap.
 * Mutations are serialized by an in-process mutex and reach memory only after
 * the new state is on disk. One process owns a root.
 */
export class ImageStore {
  private state: PersistedState = { version: 1, images: {}, references: {} };
  private readonly configs = new Map<Digest, ImageConfig>();
  private readonly refs = new Map<string, { ref: Reference; id: Digest }>();
  private queue: Promise<unknown> = Promise.resolve();

  constructor(readonly root: string, readonly content: ContentStore) {
    mkdirSync(root, { recursive: true });
    this.loadSync();
  }

  /** Re-reads the state from disk (the constructor already does this). */
  async load(): Promise<void> {
    await this.exclusive(async () => this.loadSync());
  }

  private loadSync(): void {
    let loaded: PersistedState | undefined;
    const file = join(this.root, STATE_FILE);
    try {
      loaded = JSON.parse(readFileSync(file, 'utf8')) as PersistedState;
    } catch (err) {
      if (!isErrno(err, 'ENOENT')) throw invalidArgument(`${file} is unreadable; repair it or move it away`, err);
    }
    const state: PersistedState = { version: 1, images: {}, references: {} };
    this.configs.clear();
    for (const [id, meta] of Object.entries(loaded?.images ?? {})) {
      if (!isDigest(id)) continue;
      try {
        this.configs.set(id, parseConfig(readFileSync(this.content.path(id))));
        state.images[id] = meta;
      } catch (err) {
        log.warn('dropping image whose config blob is missing or invalid', { id, error: String(err) });
      }
    }
    for (const [key, id] of Object.entries(loaded?.references ?? {})) {
      if (state.images[id]) state.references[key] = id;
    }
    this.state = state;
    this.rebuildRefs();
  }

  private rebuildRefs(): void {
    this.refs.clear();
    for (const [key, id] of Object.entries(this.state.references)) {
      try {
        this.refs.set(key, { ref: parseReference(key), id });
      } catch {
        log.warn('ignoring unparsable image reference in state', { reference: key });
      }
    }
  }

  /** Changes the state on disk, then in memory; `committed` runs right after, before the next change starts. */
  private mutate<T>(fn: (s: PersistedState) => T, committed?: () => void): Promise<T> {
    return this.exclusive(async () => {
      const next = structuredClone(this.state);
      const result = fn(next);
      await writeJSONAtomic(join(this.root, STATE_FILE), next);
      this.state = next;
      this.rebuildRefs();
      committed?.();
      return result;
    });
  }

  private exclusive<T>(fn: () => Promise<T>): Promise<T> {
    const run = this.queue.then(fn, fn);
    this.queue = run.catch(() => undefined);
    return run;
  }

  /**
   * Stores `config` as a blob (compact JSON, key order as given) and records
   * the image as `add` does. Creating an image that exists returns it
   * (updating what `opts` gives).
   */
  async create(config: ImageConfig, opts: Omit<NewImage, 'configDigest'> = {}): Promise<ImageRecord> {
    validateConfig(config);
    const { digest } = await this.content.writeBuffer(Buffer.from(JSON.stringify(config)));
    const [rec] = await this.add([{ ...opts, configDigest: digest }]);
    return rec!;
  }

  /** Records one image whose config blob is in the content store; see `add`. */
  async createFromBlob(configDigest: Digest, opts: Omit<NewImage, 'configDigest'> = {}): Promise<ImageRecord> {
    const [rec] = await this.add([{ ...opts, configDigest }]);
    return rec!;
  }

  /**
   * Records images whose config blobs are already in the content store (pull,
   * load: the ID is that blob's digest, so its exact bytes are kept), each with
   * its size, parent and names, in one write: either every image and name is
   * recorded or, on failure, none. An image already recorded is updated.
   * invalid-argument when a blob is not a valid image config or a name is a
   * tag and digest at once; the store is then unchanged.
   */
  async add(list: NewImage[]): Promise<ImageRecord[]> {
    const configs = new Map<Digest, ImageConfig>();
    for (const n of list) {
      configs.set(n.configDigest, this.configs.get(n.configDigest) ?? parseConfig(await this.content.readBuffer(n.configDigest), n.configDigest));
      if (n.size !== undefined && (!Number.isSafeInteger(n.size) || n.size < 0)) throw invalidArgument(`image size must be a non-negative integer, got ${n.size}`);
      for (const ref of n.refs ?? []) checkTaggable(ref);
    }
    const now = new Date().toISOString();
    await this.mutate((s) => {
      // Set first: get() needs both the config and the metadata, so readers never see half an image.
      // Here, after any delete queued before (which drops the config once its state is written).
      for (const [id, config] of configs) if (!this.configs.has(id)) this.configs.set(id, structuredClone(config));
      for (const n of list) {
        const img = (s.images[n.configDigest] ??= { added: now, size: 0 });
        if (n.size !== undefined) img.size = n.size;
        if (n.manifestDigest) img.manifestDigest = n.manifestDigest;
        if (n.parent && n.parent !== n.configDigest) img.parent = n.parent;
        for (const ref of n.refs ?? []) {
          s.references[refKey(ref)] = n.configDigest;
          if (ref.digest === undefined) img.lastTagTime = now;
        }
      }
    });
    return list.map((n) => this.mustGet(n.configDigest));
  }

  /** The image with this exact ID, or undefined. */
  get(id: Digest): ImageRecord | undefined {
    const meta = this.state.images[id];
    const config = this.configs.get(id);
    if (!meta || !config) return undefined;
    return {
      id,
      config,
      created: config.created ?? meta.added,
      size: meta.size,
      layers: [...config.rootfs.diff_ids],
      ...(meta.manifestDigest ? { manifestDigest: meta.manifestDigest } : {}),
      ...(meta.lastTagTime ? { lastTagTime: meta.lastTagTime } : {}),
      ...(meta.parent ? { parent: meta.parent } : {}),
    };
  }

  private mustGet(id: Digest): ImageRecord {
    const r = this.get(id);
    if (!r) throw notFound(`No such image: ${id}`);
    return r;
  }

  /** Every image, newest first (like the Engine API's image list). */
  list(): ImageRecord[] {
    return Object.keys(this.state.images)
      .map((id) => this.get(id as Digest))
      .filter((r): r is ImageRecord => r !== undefined)
      .sort((a, b) => (a.created < b.created ? 1 : a.created > b.created ? -1 : 0));
  }

  /**
   * Finds an image the way `docker image inspect X` does. Accepts a full ID
   * (`sha256:<64hex>` or bare 64 hex), a reference (`busybox`, `busybox:1`,
   * `busybox@sha256:…`; a bare name means `:latest`), or a unique ID prefix
   * (`ab12`, `sha256:ab12`). References win over prefixes, as in dockerd.
   * Unknown → not-found `No such image: <name:tag>` (ids and prefixes as given); an ambiguous prefix and a
   * malformed reference → invalid-argument.
   */
  resolve(nameOrId: string): ImageRecord {
    const full = /^(?:sha256:)?([a-f0-9]{64})$/.exec(nameOrId);
    if (full) {
      const r = this.get(`sha256:${full[1]}` as Digest);
      if (!r) throw notFound(`No such image: ${nameOrId}`);
      return r;
    }
    let ref: Reference | undefined;
    let parseError: unknown;
    try {
      ref = parseReference(nameOrId);
    } catch (err) {
      parseError = err;
    }
    if (ref) {
      const id = this.lookupRef(ref);
      if (id) return this.mustGet(id);
    }
    const prefix = /^(?:sha256:)?([a-f0-9]{1,63})$/.exec(nameOrId);
    if (prefix) {
      const matches = Object.keys(this.state.images).filter((id) => hexOf(id as Digest).startsWith(prefix[1]!));
      if (matches.length === 1) return this.mustGet(matches[0] as Digest);
      if (matches.length > 1) {
        throw invalidArgument(`image ID prefix ${nameOrId} is ambiguous: it matches ${matches.length} images; give more characters`);
      }
    }
    if (parseError) throw parseError;
    // Named as dockerd names it: the familiar reference with its default tag (`busybox:latest`).
    throw notFound(`No such image: ${ref && !prefix ? familiarString(withDefaultTag(ref)) : nameOrId}`);
  }

  /** What stillNames found, for the state it was found in. */
  private namesMemo = new Map<string, Digest | null>();
  private namesMemoOf?: PersistedState;

  /**
   * Whether `name` (a reference, ID or ID prefix, as a container was created from it) still
   * names image `id`. Asked for every container of a `ps`: the answers are kept until the
   * next change of the references.
   */
  stillNames(name: string, id: Digest): boolean {
    if (this.namesMemoOf !== this.state || this.namesMemo.size > 4096) {
      this.namesMemo.clear();
      this.namesMemoOf = this.state;
    }
    let found = this.namesMemo.get(name);
    if (found === undefined) {
      try {
        found = this.resolve(name).id;
      } catch {
        found = null;
      }
      this.namesMemo.set(name, found);
    }
    return found === id;
  }

  /** The image a reference names, if any. Tag+digest references are looked up by digest, like dockerd. */
  lookupRef(ref: Reference): Digest | undefined {
    return this.state.references[refKey(ref)];
  }

  /**
   * Points `ref` at image `id`, moving it from any other image. A reference
   * without tag or digest means `:latest`. A digest-only reference records a
   * repository digest (`busybox@sha256:…`, shown as RepoDigests).
   */
  async tag(id: Digest, ref: Reference): Promise<void> {
    checkTaggable(ref);
    const key = refKey(ref);
    await this.mutate((s) => {
      const img = s.images[id];
      if (!img) throw notFound(`No such image: ${id}`);
      s.references[key] = id;
      if (ref.digest === undefined) img.lastTagTime = new Date().toISOString();
    });
  }

  /** Removes a reference and returns the image it named. not-found `No such image: busybox:x` when absent. */
  async untag(ref: Reference): Promise<Digest> {
    const key = refKey(ref);
    return this.mutate((s) => {
      const id = s.references[key];
      if (!id) throw notFound(`No such image: ${familiarString(withDefaultTag(ref))}`);
      delete s.references[key];
      return id;
    });
  }

  /** Tags of an image as familiar strings (`busybox:latest`), sorted. */
  tagsOf(id: Digest): string[] {
    return this.refsOf(id).filter((r) => r.digest === undefined).map(familiarString).sort();
  }

  /** Digest references of an image as familiar strings (`busybox@sha256:…`), sorted. */
  digestsOf(id: Digest): string[] {
    return this.refsOf(id).filter((r) => r.digest !== undefined).map(familiarString).sort();
  }

  /** Every reference (tag or digest) naming the image. */
  refsOf(id: Digest): Reference[] {
    const out: Reference[] = [];
    for (const { ref, id: target } of this.refs.values()) if (target === id) out.push({ ...ref });
    return out;
  }

  /** Every reference in the store with its image. */
  references(): { ref: Reference; id: Digest }[] {
    return [...this.refs.values()].map(({ ref, id }) => ({ ref: { ...ref }, id }));
  }

  /** When a tag was last added to the image (undefined if never tagged here). */
  lastTagTime(id: Digest): string | undefined {
    return this.state.images[id]?.lastTagTime;
  }

  /**
   * Forgets the image and every reference to it. Metadata only: the config
   * blob and layers stay where they are; removing them is the caller's choice.
   */
  async delete(id: Digest): Promise<void> {
    await this.mutate((s) => {
      if (!s.images[id]) throw notFound(`No such image: ${id}`);
      delete s.images[id];
      for (const [key, target] of Object.entries(s.references)) if (target === id) delete s.references[key];
    }, () => this.configs.delete(id));
  }
}

function checkTaggable(ref: Reference): void {
  if (ref.tag !== undefined && ref.digest !== undefined) {
    throw invalidArgument(`refusing to create a tag with a digest reference: ${familiarString(ref)}`);
  }
}

/** The state key of a reference: fullString with default tag; tag+digest → digest only. */
function refKey(ref: Reference): string {
  if (ref.digest !== undefined) return fullString({ domain: ref.domain, path: ref.path, digest: ref.digest });
  return fullString(withDefaultTag(ref));
}

/** Parses and checks a config blob. */
export function parseConfig(buf: Buffer, what?: string): ImageConfig {
  let value: unknown;
  try {
    value = JSON.parse(buf.toString('utf8'));
  } catch (err) {
    throw invalidArgument(`${what ? `image config ${what}` : 'image config'} is not valid JSON`, err);
  }
  validateConfig(value, what);
  return value;
}

/** Checks the fields Berth relies on (config.md: architecture, os, rootfs). */
export function validateConfig(value: unknown, what?: string): asserts value is ImageConfig {
  const name = what ? `image config ${what}` : 'image config';
  if (typeof value !== 'object' || value === null || Array.isArray(value)) throw invalidArgument(`${name} is not a JSON object`);
  const c = value as Record<string, unknown>;
  if (typeof c.architecture !== 'string' || typeof c.os !== 'string') {
    throw invalidArgument(`${name} must have string fields "architecture" and "os"`);
  }
  const rootfs = c.rootfs as Record<string, unknown> | undefined;
  if (typeof rootfs !== 'object' || rootfs === null || rootfs.type !== 'layers' || !Array.isArray(rootfs.diff_ids)) {
    throw invalidArgument(`${name} must have rootfs {"type": "layers", "diff_ids": [...]}`);
  }
  for (const d of rootfs.diff_ids) {
    if (typeof d !== 'string' || !isDigest(d)) throw invalidArgument(`${name} has an invalid diff_id ${JSON.stringify(d)}; expected sha256:<64 hex>`);
  }
  if (c.created !== undefined && typeof c.created !== 'string') throw invalidArgument(`${name} has a non-string "created"`);
  if (c.config !== undefined && c.config !== null && (typeof c.config !== 'object' || Array.isArray(c.config))) {
    throw invalidArgument(`${name} has a "config" that is not an object`);
  }
}
