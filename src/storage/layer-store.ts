/**
 * LayerStore: unpacked image layers, each stored once, identified by chainID.
 *
 * On disk, under `root` (normally `<dataRoot>/layers`):
 *   <chainID hex>/diff        the layer's files in overlay form (see layer-apply.ts)
 *   <chainID hex>/meta.json   LayerInfo
 *   l/<short id>              symlink → ../<chainID hex>/diff
 *   tmp/                      layers being built or deleted; emptied by `open`
 *
 * chainID (OCI image-spec config.md): chainID(L0) = diffID(L0);
 * chainID(Ln) = sha256(chainID(Ln-1) + " " + diffID(Ln)), both as `sha256:<hex>` text.
 *
 * Short links: overlayfs takes every lower dir in one mount-data page (4096 bytes).
 * `linkChain` gives `<root>/l/<id>` paths, which share one parent dir, so a mounter
 * can pass them relative to `<root>/l` (12 chars + ':' per layer: 120 layers ≈ 1.6 KB).
 *
 * Lifecycle and invariants
 * - `LayerStore.open(root)` creates the dirs and removes leftovers of interrupted
 *   creates/removes (tmp/ and dangling links). Call it once at daemon start.
 * - `create` unpacks into tmp/, computes diffID and chainID, writes meta.json, flushes
 *   the filesystem (syncfs) and renames the dir into place: a layer is either absent
 *   or complete. It is `prepare` (unpack into tmp/, no parent needed) then `commit`
 *   (check the parent, publish); a loader may call the two apart. If that chainID already exists, the new copy is discarded and the
 *   existing layer is returned. On failure the temp dir is removed.
 * - A layer's parent exists for as long as the layer does: `create` checks the parent
 *   once the tar has been read to its end (so it may exist only by then); `remove` refuses (conflict) while another layer names it as parent.
 * - Concurrent `create`s of the same layer are safe (one rename wins). Callers must
 *   not `remove` a layer while creating a child of it or while a container uses it.
 *
 * User-namespace remapping: `open(root, { idShift })` unpacks every layer with its
 * owners shifted (layer-apply.ts); a store holds layers of one mapping only, so the
 * daemon keeps one store per mapping (dockerd's `<data-root>/<uid>.<gid>/`).
 *
 * Failures: unknown chainID → not-found; bad digest text → invalid-argument; hostile
 * or corrupt tar → invalid-argument (from applyLayer); disk errors → internal.
 */
import { createHash, randomBytes } from 'node:crypto';
import { constants as fsc, promises as fsp, readFileSync } from 'node:fs';
import { join } from 'node:path';
import type { Readable } from 'node:stream';
import { asDigest, conflict, hexOf, internal, invalidArgument, isDigest, isErrno, notFound, BerthError, type Digest } from '../common';
import { syncfsAsync } from '../sys';
import { applyLayer, type ApplyLayerOptions } from './layer-apply';
import { dirSize } from './dir-size';

export interface LayerInfo {
  chainID: Digest;
  diffID: Digest;
  parent: Digest | null;
  /** Bytes of the uncompressed layer tar. */
  size: number;
  /** RFC 3339 time the layer was unpacked. */
  created: string;
  /** Short id of the `l/<id>` link to the diff dir. */
  link: string;
}

/** A layer unpacked into a temp dir by `LayerStore.prepare`, not yet visible. */
export interface PreparedLayer {
  readonly dir: string;
  /** sha256 of the uncompressed tar bytes that were unpacked. */
  readonly diffID: Digest;
  readonly size: number;
}

export function chainIDOf(parent: Digest | null, diffID: Digest): Digest {
  if (parent === null) return diffID;
  return asDigest(createHash('sha256').update(`${parent} ${diffID}`).digest('hex'));
}

const LINK_ALPHABET = 'ABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789';
const LINK_LEN = 12;

export class LayerStore {
  /** sizeOf's answers (layers are immutable). */
  private readonly sizes = new Map<Digest, number>();

  private constructor(
    readonly root: string,
    private readonly idShift?: ApplyLayerOptions['idShift'],
  ) {}

  static async open(root: string, opts: { idShift?: ApplyLayerOptions['idShift'] } = {}): Promise<LayerStore> {
    const store = new LayerStore(root, opts.idShift);
    await fsp.mkdir(join(root, 'l'), { recursive: true, mode: 0o700 });
    await fsp.rm(join(root, 'tmp'), { recursive: true, force: true });
    await fsp.mkdir(join(root, 'tmp'), { mode: 0o700 });
    for (const name of await fsp.readdir(join(root, 'l'))) {
      const p = join(root, 'l', name);
      // A link whose layer never got renamed into place (crash) or was half-removed.
      if (!(await exists(p, true))) await fsp.rm(p, { force: true });
    }
    return store;
  }

  /**
   * Unpacks `tar` (plain, gzip or zstd) as a child of `parent` (null for a base layer).
   * Resolves with the stored layer, new or already present.
   */
  async create(parent: Digest | null, tar: Readable): Promise<LayerInfo> {
    return this.commit(await this.prepare(tar), parent);
  }

  /**
   * First half of `create`: unpacks `tar` into a temp dir and hashes it. A layer's
   * files do not depend on its parent, so this may run before the parent is known
   * (a loader unpacks while the archive still streams in). Nothing is visible until
   * `commit`; `discard` drops it. On failure nothing is left behind. `inputDigest`:
   * see ApplyLayerOptions (the caller already hashes the same bytes). Temp dirs of a
   * crashed daemon are removed by `open`.
   */
  async prepare(tar: Readable, opts: { inputDigest?: Promise<Digest> } = {}): Promise<PreparedLayer> {
    opts.inputDigest?.catch(() => undefined); // applyLayer reports it
    const tmp = await fsp.mkdtemp(join(this.root, 'tmp', 'new-'));
    try {
      const diff = join(tmp, 'diff');
      await fsp.mkdir(diff, 0o755);
      const { diffID, size } = await applyLayer(tar, diff, { ...(this.idShift ? { idShift: this.idShift } : {}), ...opts });
      return { dir: tmp, diffID, size };
    } catch (e) {
      await fsp.rm(tmp, { recursive: true, force: true }).catch(() => undefined);
      if (e instanceof BerthError) throw e;
      throw internal(`creating a layer in ${this.root} failed: ${(e as Error).message}`, e);
    }
  }

  /**
   * `prepare` for a directory already in overlay form that the caller gives up (a
   * builder's snapshot upper dir, unmounted, on the same filesystem): it is moved in,
   * not unpacked again. `diffID` is the digest of the caller's tar of the same
   * changes; the caller vouches that they match.
   */
  async prepareFromDir(dir: string, diffID: Digest): Promise<PreparedLayer> {
    const tmp = await fsp.mkdtemp(join(this.root, 'tmp', 'new-'));
    try {
      await fsp.rename(dir, join(tmp, 'diff'));
      return { dir: tmp, diffID, size: await dirSize(join(tmp, 'diff')) };
    } catch (e) {
      await fsp.rm(tmp, { recursive: true, force: true }).catch(() => undefined);
      throw internal(`moving ${dir} into the layer store failed: ${(e as Error).message}`, e);
    }
  }

  /** Drops a prepared layer that will not be committed. Harmless after `commit`. */
  async discard(p: PreparedLayer): Promise<void> {
    await fsp.rm(p.dir, { recursive: true, force: true });
  }

  /**
   * Second half of `create`: publishes a prepared layer as a child of `parent`,
   * which must exist by now. Consumes `p` whatever happens (renamed into place, or
   * removed on failure or when that chainID already exists).
   */
  async commit(p: PreparedLayer, parent: Digest | null): Promise<LayerInfo> {
    const tmp = p.dir;
    let linkName: string | undefined;
    try {
      // Checked only now: a loader may unpack a child while its parent is still unpacking.
      if (parent !== null) await this.get(parent);
      const chainID = chainIDOf(parent, p.diffID);
      const existing = await this.tryGet(chainID);
      if (existing) {
        await fsp.rm(tmp, { recursive: true, force: true });
        return existing;
      }
      linkName = await this.makeLink(hexOf(chainID));
      const info: LayerInfo = { chainID, diffID: p.diffID, parent, size: p.size, created: new Date().toISOString(), link: linkName };
      await writeDurable(join(tmp, 'meta.json'), `${JSON.stringify(info, null, 2)}\n`);
      await flushFilesystem(tmp);
      try {
        await fsp.rename(tmp, this.layerDir(chainID));
      } catch (e) {
        if (!isErrno(e, 'ENOTEMPTY') && !isErrno(e, 'EEXIST')) throw e;
        // Another create of the same layer won the race; its link stays, ours goes.
        await fsp.rm(tmp, { recursive: true, force: true });
        await fsp.rm(join(this.root, 'l', linkName), { force: true });
        return await this.get(chainID);
      }
      await syncDir(this.root);
      return info;
    } catch (e) {
      await fsp.rm(tmp, { recursive: true, force: true }).catch(() => undefined);
      if (linkName && !(await exists(join(this.root, 'l', linkName), true))) {
        await fsp.rm(join(this.root, 'l', linkName), { force: true }).catch(() => undefined);
      }
      if (e instanceof BerthError) throw e;
      throw internal(`creating a layer in ${this.root} failed: ${(e as Error).message}`, e);
    }
  }

  async get(chainID: Digest): Promise<LayerInfo> {
    const info = await this.tryGet(chainID);
    if (!info) throw notFound(`layer ${chainID} does not exist in ${this.root}; pull or load the image again`);
    return info;
  }

  async has(chainID: Digest): Promise<boolean> {
    return (await this.tryGet(chainID)) !== null;
  }

  /**
   * A layer's size (its files' bytes) without waiting: layers do not change once made, so it
   * is read once from the layer's metadata and kept. 0 for a layer that is not there.
   */
  sizeOf(chainID: Digest): number {
    let size = this.sizes.get(chainID);
    if (size === undefined) {
      try {
        size = (JSON.parse(readFileSync(join(this.layerDir(chainID), 'meta.json'), 'utf8')) as LayerInfo).size;
      } catch {
        return 0;
      }
      this.sizes.set(chainID, size);
    }
    return size;
  }

  /** Path of the layer's unpacked files (does not check that the layer exists). */
  diffDir(chainID: Digest): string {
    return join(this.layerDir(chainID), 'diff');
  }

  /** The layer's diff dir and its ancestors', top-most (this layer) first. */
  async lowerChain(chainID: Digest): Promise<string[]> {
    return (await this.chain(chainID)).map((l) => this.diffDir(l.chainID));
  }

  /** Like lowerChain, but as the short `<root>/l/<id>` links (all in one dir). */
  async linkChain(chainID: Digest): Promise<string[]> {
    return (await this.chain(chainID)).map((l) => join(this.root, 'l', l.link));
  }

  async list(): Promise<LayerInfo[]> {
    const out: LayerInfo[] = [];
    for (const name of await fsp.readdir(this.root)) {
      if (!/^[a-f0-9]{64}$/.test(name)) continue;
      const info = await this.tryGet(asDigest(name));
      if (info) out.push(info);
    }
    return out;
  }

  /** Deletes a layer. Refuses with conflict while another layer has it as parent. */
  async remove(chainID: Digest): Promise<void> {
    const info = await this.get(chainID);
    const children = (await this.list()).filter((l) => l.parent === chainID);
    if (children.length > 0) {
      throw conflict(`layer ${chainID} is the parent of layer ${children[0]!.chainID}; remove the child layers first`);
    }
    // Renaming first makes the layer vanish at once; the slow delete happens in tmp/.
    const doomed = join(this.root, 'tmp', `del-${hexOf(chainID)}-${randomBytes(4).toString('hex')}`);
    await fsp.rename(this.layerDir(chainID), doomed);
    this.sizes.delete(chainID);
    await fsp.rm(join(this.root, 'l', info.link), { force: true });
    await fsp.rm(doomed, { recursive: true, force: true });
  }

  private layerDir(chainID: Digest): string {
    if (!isDigest(chainID)) throw invalidArgument(`invalid layer chainID ${JSON.stringify(chainID)}: expected sha256:<64 hex>`);
    return join(this.root, hexOf(chainID));
  }

  private async tryGet(chainID: Digest): Promise<LayerInfo | null> {
    const meta = join(this.layerDir(chainID), 'meta.json');
    let text: string;
    try {
      text = await fsp.readFile(meta, 'utf8');
    } catch (e) {
      if (isErrno(e, 'ENOENT')) return null;
      throw internal(`reading layer ${chainID} metadata failed: ${(e as Error).message}`, e);
    }
    try {
      return JSON.parse(text) as LayerInfo;
    } catch (e) {
      throw internal(`layer ${chainID} metadata in ${this.root} is corrupt; remove the layer and pull its image again`, e);
    }
  }

  private async chain(chainID: Digest): Promise<LayerInfo[]> {
    const out: LayerInfo[] = [];
    for (let id: Digest | null = chainID; id !== null; ) {
      const info: LayerInfo = await this.get(id);
      out.push(info);
      if (out.length > 1000) throw internal(`layer ${chainID} has a parent loop or more than 1000 ancestors`);
      id = info.parent;
    }
    return out;
  }

  private async makeLink(hex: string): Promise<string> {
    for (let attempt = 0; attempt < 16; attempt++) {
      const bytes = randomBytes(LINK_LEN);
      let name = '';
      for (const b of bytes) name += LINK_ALPHABET[b % LINK_ALPHABET.length];
      try {
        await fsp.symlink(join('..', hex, 'diff'), join(this.root, 'l', name));
        return name;
      } catch (e) {
        if (!isErrno(e, 'EEXIST')) throw e;
      }
    }
    throw internal(`could not pick a free short link name in ${join(this.root, 'l')}`);
  }
}

async function exists(p: string, follow: boolean): Promise<boolean> {
  try {
    await (follow ? fsp.stat(p) : fsp.lstat(p));
    return true;
  } catch (e) {
    if (isErrno(e, 'ENOENT')) return false;
    throw e;
  }
}

/** Writes a small file and fsyncs it (the dir rename that follows is the commit). */
async function writeDurable(path: string, text: string): Promise<void> {
  const fh = await fsp.open(path, fsc.O_WRONLY | fsc.O_CREAT | fsc.O_EXCL, 0o600);
  try {
    await fh.writeFile(text);
    await fh.sync();
  } finally {
    await fh.close();
  }
}

/** The unpacked files must be on disk before the rename publishes them; one syncfs beats an fsync per file. */
async function flushFilesystem(dir: string): Promise<void> {
  const fh = await fsp.open(dir, fsc.O_RDONLY | fsc.O_DIRECTORY);
  try {
    await syncfsAsync(fh.fd);
  } finally {
    await fh.close();
  }
}

/** Makes a rename inside `dir` durable. */
async function syncDir(dir: string): Promise<void> {
  const fh = await fsp.open(dir, fsc.O_RDONLY | fsc.O_DIRECTORY);
  try {
    await fh.sync();
  } finally {
    await fh.close();
  }
}
