/**
 * The build cache: which image a step made from a given parent, instruction (after
 * substitution), build args and copied content (`key`), and the directories of
 * `RUN --mount=type=cache`. Kept in `<root>/index.json` (written whole, tmp + rename)
 * and `<root>/mounts/<id>/`. An entry whose image was removed is a miss.
 */
import { createHash, randomBytes } from 'node:crypto';
import { promises as fsp } from 'node:fs';
import { join } from 'node:path';
import type { Digest } from '../common';

export interface CacheEntry {
  image: Digest;
  created: string;
  lastUsed: string;
  usage: number;
  /** The step, for `system df -v`. */
  description: string;
}

export interface CacheMountInfo {
  id: string;
  dir: string;
}

export interface CacheUsageRecord {
  id: string;
  type: 'regular' | 'exec.cachemount';
  description: string;
  image?: Digest;
  size: number;
  created: string;
  lastUsed: string;
  usage: number;
}

export class BuildCache {
  private entries = new Map<string, CacheEntry>();
  private loaded = false;
  /** New entries since the last save (use counts alone do not make a write). */
  private dirty = false;
  private saving: Promise<void> = Promise.resolve();
  private readonly locks = new Map<string, Promise<void>>();
  /** Cache mounts steps hold now (any sharing mode), with how many. */
  private readonly inUse = new Map<string, number>();

  constructor(readonly root: string) {}

  private async load(): Promise<void> {
    if (this.loaded) return;
    await fsp.mkdir(join(this.root, 'mounts'), { recursive: true, mode: 0o700 });
    try {
      const raw = JSON.parse(await fsp.readFile(join(this.root, 'index.json'), 'utf8')) as Record<string, CacheEntry>;
      this.entries = new Map(Object.entries(raw));
    } catch {
      this.entries = new Map();
    }
    this.loaded = true;
  }

  static key(parent: Digest | null, text: string): string {
    return createHash('sha256').update(`${parent ?? 'scratch'}\n${text}`).digest('hex');
  }

  async get(key: string, exists: (id: Digest) => boolean): Promise<Digest | undefined> {
    await this.load();
    const e = this.entries.get(key);
    if (!e) return undefined;
    if (!exists(e.image)) {
      this.entries.delete(key);
      this.dirty = true;
      return undefined;
    }
    e.lastUsed = new Date().toISOString();
    e.usage++;
    return e.image;
  }

  async put(key: string, image: Digest, description: string): Promise<void> {
    await this.load();
    const now = new Date().toISOString();
    this.entries.set(key, { image, created: now, lastUsed: now, usage: 1, description });
    this.dirty = true;
  }

  /** Writes the index (after a build) when entries were added or removed. */
  save(): Promise<void> {
    if (!this.dirty) return this.saving;
    this.dirty = false;
    this.saving = this.saving.then(async () => {
      await fsp.mkdir(this.root, { recursive: true, mode: 0o700 });
      const tmp = join(this.root, `.index.${randomBytes(4).toString('hex')}`);
      await fsp.writeFile(tmp, JSON.stringify(Object.fromEntries(this.entries)));
      await fsp.rename(tmp, join(this.root, 'index.json'));
    }).catch(() => undefined);
    return this.saving;
  }

  /** The host directory of a cache mount (made on first use). */
  async mountDir(id: string, owner: { uid: number; gid: number }, mode: number): Promise<string> {
    await this.load();
    const dir = join(this.root, 'mounts', createHash('sha256').update(id).digest('hex').slice(0, 32));
    try {
      await fsp.mkdir(dir, { mode });
      await fsp.chown(dir, owner.uid, owner.gid);
      await fsp.chmod(dir, mode);
      await fsp.writeFile(`${dir}.id`, id);
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code !== 'EEXIST') throw e;
    }
    return dir;
  }

  /** Marks the cache mount `id` in use until the returned function is called. */
  use(id: string): () => Promise<void> {
    this.inUse.set(id, (this.inUse.get(id) ?? 0) + 1);
    let done = false;
    return async () => {
      if (done) return;
      done = true;
      const n = (this.inUse.get(id) ?? 1) - 1;
      if (n > 0) this.inUse.set(id, n);
      else this.inUse.delete(id);
    };
  }

  /**
   * sharing=private: the cache's own directory when no other step has it, else a new
   * empty directory for this step alone, removed when it is released.
   */
  async privateMountDir(id: string, owner: { uid: number; gid: number }, mode: number): Promise<{ dir: string; release(): Promise<void> }> {
    const main = await this.mountDir(id, owner, mode);
    if (!this.inUse.has(id)) return { dir: main, release: this.use(id) };
    const dir = `${main}.private-${randomBytes(6).toString('hex')}`;
    await fsp.mkdir(dir, { mode });
    await fsp.chown(dir, owner.uid, owner.gid);
    await fsp.chmod(dir, mode);
    return { dir, release: () => fsp.rm(dir, { recursive: true, force: true }) };
  }

  /** Runs fn while holding the cache mount `id` alone (sharing=locked|private). */
  async exclusive<T>(id: string, fn: () => Promise<T>): Promise<T> {
    const prev = this.locks.get(id) ?? Promise.resolve();
    let release!: () => void;
    const mine = new Promise<void>((r) => (release = r));
    const chained = prev.then(() => mine);
    this.locks.set(id, chained);
    await prev;
    try {
      return await fn();
    } finally {
      release();
      if (this.locks.get(id) === chained) this.locks.delete(id);
    }
  }

  /** What the cache holds, for `system df`. */
  async usage(imageSize: (id: Digest) => number | undefined, dirSize: (dir: string) => Promise<number>): Promise<CacheUsageRecord[]> {
    await this.load();
    const out: CacheUsageRecord[] = [];
    for (const [key, e] of this.entries) {
      const size = imageSize(e.image);
      if (size === undefined) continue;
      out.push({ id: key.slice(0, 25), type: 'regular', description: e.description, image: e.image, size: 0, created: e.created, lastUsed: e.lastUsed, usage: e.usage });
    }
    const mounts = join(this.root, 'mounts');
    for (const n of await fsp.readdir(mounts).catch(() => [] as string[])) {
      if (n.endsWith('.id')) continue;
      const dir = join(mounts, n);
      const st = await fsp.stat(dir);
      const id = await fsp.readFile(`${dir}.id`, 'utf8').catch(() => n);
      out.push({ id: n.slice(0, 25), type: 'exec.cachemount', description: `mount / from exec (cache id ${id})`, size: await dirSize(dir), created: st.birthtime.toISOString(), lastUsed: st.mtime.toISOString(), usage: 1 });
    }
    return out;
  }

  /** Forgets every entry and removes the cache mounts; returns the records removed. */
  async prune(dirSize: (dir: string) => Promise<number>): Promise<{ ids: string[]; bytes: number }> {
    await this.load();
    const ids = [...this.entries.keys()].map((k) => k.slice(0, 25));
    this.entries.clear();
    this.dirty = true;
    let bytes = 0;
    const mounts = join(this.root, 'mounts');
    for (const n of await fsp.readdir(mounts).catch(() => [] as string[])) {
      const p = join(mounts, n);
      if (!n.endsWith('.id')) {
        bytes += await dirSize(p).catch(() => 0);
        ids.push(n.slice(0, 25));
      }
      await fsp.rm(p, { recursive: true, force: true });
    }
    await this.save();
    return { ids, bytes };
  }
}
