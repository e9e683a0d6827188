/**
 * OverlaySnapshotter: a container's writable root as an overlayfs over image layers.
 *
 * On disk, under `root` (normally `<dataRoot>/overlay`):
 *   <key>/upper      the container's changes (overlay upperdir)
 *   <key>/work       overlay's workdir (same filesystem as upper)
 *   <key>/merged     where `mount(key)` mounts the union, unless the snapshotter has a
 *                    `mountRoot`: then at <mountRoot>/<key>/merged (made by mount, removed
 *                    by unmount); a snapshot mounted at <key>/merged by an earlier berthd
 *                    stays there until it is unmounted
 *   .init/<name>     init layers (init-layer.ts), each shared by the snapshots of one image
 *                    (and owner): the top-most lower dir. Snapshots made before they were
 *                    shared have their own, <key>/init.
 *   <key>/empty      the lone lower dir of a snapshot with no layers (overlay needs one)
 *   <key>/view-*     temporary read-only mounts made by view(key)
 *   <key>/meta.json  SnapshotInfo
 *   tmp/             snapshots being prepared or removed (a removed one's files are deleted
 *                    in the background; leftovers go when a snapshotter opens the root)
 *
 * Lifecycle: prepare(key) → mounts(key) (a description; the caller mounts it, as in
 * containerd) or mount(key) (the helper that mounts at <key>/merged) → unmount(key)
 * → remove(key). prepare is atomic (built in tmp/, renamed into place).
 *
 * Invariants and caller duties
 * - `lowerDirs` are top-most first (LayerStore.lowerChain or, better, linkChain) and
 *   must outlive the snapshot; the snapshotter neither owns nor checks them later.
 * - The mount description lists paths relative to the snapshot's dir and sets `cwd` to it
 *   when berth-mount.so is there (short mountinfo lines, see overlayMount); whoever mounts
 *   it must do so from that directory (`mount()` does, through sys.mountFrom). Mount data
 *   must fit in one page (4096 bytes): if that does not, nor do absolute paths, every dir
 *   is given relative to their deepest common parent (with LayerStore's short `l/` links,
 *   120 layers take ~2.5 KB).
 * - mount and unmount are idempotent (checked against /proc/self/mountinfo).
 * - One caller at a time per key (the engine holds the container's lock).
 *
 * Failures: bad key or unusable lower dir → invalid-argument; key exists →
 * already-exists; unknown key → not-found; too many layers for one mount →
 * invalid-argument; mount/umount errors → internal with the SysError as cause.
 */
import { createHash, randomBytes } from 'node:crypto';
import { existsSync, mkdirSync, mkdtempSync, promises as fsp, readdirSync, renameSync } from 'node:fs';
import { dirname, isAbsolute, join, relative, sep } from 'node:path';
import type { Readable } from 'node:stream';
import { alreadyExists, internal, invalidArgument, isErrno, log, notFound, type Digest } from '../common';
import { isMountPoint, mount as sysMount, mountFrom, mountFromIsCheap, MNT_DETACH, MS_RDONLY, umount2, umount2Async } from '../sys';
import { deleteInBackground } from '../state';
import { overlayChanges, overlayDiffTar, type Change } from './changes';
import { buildInitLayer } from './init-layer';
import { LowerView } from './lower-view';
import { checkLowerDirs, listSnapshots, moveToTmp, prepareAtomically, readSnapshotInfo, readSnapshotInfoSync, snapshotDir, type PrepareOptions, type SnapshotInfo, type Snapshotter, type SnapshotterOptions, type SnapshotView } from './snapshotter';

/** A mount the caller can perform: mount(source, target, type, 0, options.join(',')). */
export interface Mount {
  type: string;
  source: string;
  options: string[];
  /** When set, relative paths in `options` are relative to this dir; mount from it. */
  cwd?: string;
}

const MAX_MOUNT_DATA = 4095; // one page, minus the terminating NUL
/** Where the shared init layers live: a name no snapshot key can take (keys start with a letter or digit). */
const SHARED_INIT = '.init';

export class OverlaySnapshotter implements Snapshotter {
  readonly driver = 'overlay2';
  /** `rootOwner`: with user-namespace remapping, the host ids of the container's root (snapshotter.ts). */
  constructor(
    readonly root: string,
    private readonly opts: SnapshotterOptions = {},
  ) {
    // What removals of an earlier run left half deleted (remove renames a snapshot into tmp/ first),
    // and init layers a crash left half built.
    void fsp
      .readdir(join(root, 'tmp'))
      .then((names) => Promise.all(names.filter((n) => n.startsWith('del-') || n.startsWith('new-init-')).map((n) => fsp.rm(join(root, 'tmp', n), { recursive: true, force: true }))))
      .catch(() => undefined);
    this.initUsersLoaded = this.loadInitUsers();
  }

  // ---- shared init layers ------------------------------------------------------
  //
  // A container's init layer only depends on its image (what the image lacks of Docker's list)
  // and on the owner of what it adds, so the snapshots of one image share one: a dozen
  // directories and files fewer to create and delete per container. On this host's ext4 each
  // new inode cost 0.3-1 ms of the main thread's time in a burst of starts. A layer no snapshot
  // uses is kept for the image's next container, and deleted once one of its lower dirs is gone
  // (the image was removed; checked at each snapshot's removal) or at the next open. The users
  // of each are known from the snapshots' meta.json, read once at open; until then no shared
  // layer is deleted.

  /** Users (snapshot keys) of each shared init layer, by name. */
  private readonly initUsers = new Map<string, Set<string>>();
  /** The shared init layer of each snapshot that has one. */
  private readonly initOfKey = new Map<string, string>();
  /** The lower dirs each shared layer was made for. */
  private readonly initLowers = new Map<string, string[]>();
  /** Whether initUsers holds every snapshot's layer (loadInitUsers is done). */
  private initUsersKnown = false;
  private readonly initUsersLoaded: Promise<void>;
  private readonly initBuilds = new Map<string, Promise<void>>();

  private initDir(name: string): string {
    return join(this.root, SHARED_INIT, name);
  }

  /** The name of the init layer for these lower dirs and this snapshotter's root owner. */
  private initName(lowerDirs: string[]): string {
    return createHash('sha256').update(JSON.stringify({ lowerDirs, owner: this.opts.rootOwner ?? null })).digest('hex').slice(0, 32);
  }

  private useInit(name: string, key: string, lowerDirs: string[]): void {
    let users = this.initUsers.get(name);
    if (!users) this.initUsers.set(name, (users = new Set()));
    users.add(key);
    this.initOfKey.set(key, name);
    this.initLowers.set(name, lowerDirs);
  }

  /** Drops `key` as a user of `name`, then deletes the unused layers of images that are gone. */
  private releaseInit(name: string, key: string): void {
    this.initOfKey.delete(key);
    const users = this.initUsers.get(name);
    users?.delete(key);
    if (users && !users.size) this.initUsers.delete(name);
    if (!this.initUsersKnown) return;
    for (const [n, lowers] of this.initLowers) {
      // The top layer is enough to ask: the layer store keeps a layer's parents while it exists.
      if (this.initUsers.has(n) || this.initBuilds.has(n) || lowers.length === 0 || existsSync(lowers[0]!)) continue;
      this.initLowers.delete(n);
      this.dropInit(n);
    }
  }

  /** Renames the layer into tmp/ (synchronously, so no prepare finds it half deleted) and deletes it there. */
  private dropInit(name: string): void {
    const dir = this.initDir(name);
    try {
      if (!existsSync(dir)) return;
      mkdirSync(join(this.root, 'tmp'), { recursive: true, mode: 0o700 });
      const doomed = join(this.root, 'tmp', `del-init-${name}-${randomBytes(4).toString('hex')}`);
      renameSync(dir, doomed);
      void fsp.rm(doomed, { recursive: true, force: true }).catch(() => undefined);
    } catch (err) {
      log.warn('cannot remove an unused init layer', { dir, error: String(err) });
    }
  }

  /** Makes the shared init layer `name` unless it is there; concurrent calls share one build. */
  private ensureInit(name: string, lowerDirs: string[]): Promise<void> {
    if (existsSync(this.initDir(name))) return Promise.resolve();
    let build = this.initBuilds.get(name);
    if (!build) {
      build = (async () => {
        mkdirSync(join(this.root, 'tmp'), { recursive: true, mode: 0o700 });
        const tmp = mkdtempSync(join(this.root, 'tmp', 'new-init-'));
        try {
          const layer = join(tmp, 'init');
          mkdirSync(layer, 0o755);
          await buildInitLayer(layer, new LowerView(lowerDirs), this.opts.rootOwner);
          mkdirSync(join(this.root, SHARED_INIT), { recursive: true, mode: 0o711 });
          renameSync(layer, this.initDir(name));
        } finally {
          await fsp.rm(tmp, { recursive: true, force: true });
        }
      })().finally(() => this.initBuilds.delete(name));
      this.initBuilds.set(name, build);
    }
    return build;
  }

  /** Learns which snapshot uses which shared init layer, then deletes the layers none uses. */
  private async loadInitUsers(): Promise<void> {
    try {
      let n = 0;
      for (const key of await listSnapshots(this.root)) {
        // With hundreds of containers, let requests in between.
        if (++n % 64 === 0) await new Promise((r) => setImmediate(r));
        const info = readSnapshotInfoSync(this.root, key);
        if (info?.sharedInit) this.useInit(info.sharedInit, key, info.lowerDirs);
      }
      this.initUsersKnown = true;
      for (const name of await fsp.readdir(join(this.root, SHARED_INIT)).catch(() => [] as string[])) {
        if (!this.initUsers.get(name)?.size && !this.initBuilds.has(name)) this.dropInit(name);
      }
    } catch (err) {
      log.warn('cannot list the users of the shared init layers; unused ones stay until the next start', { root: this.root, error: String(err) });
    }
  }

  async prepare(key: string, parentChainID: Digest | null, lowerDirs: string[], opts: PrepareOptions = {}): Promise<void> {
    this.dir(key);
    for (const d of lowerDirs) {
      if (!isAbsolute(d) || /[,:\\]/.test(d)) throw invalidArgument(`lower dir ${JSON.stringify(d)} for snapshot ${key} must be an absolute path without ',', ':' or '\\'`);
    }
    if (/[,:\\]/.test(this.root)) throw invalidArgument(`overlay root ${this.root} must not contain ',', ':' or '\\'`);
    // A taken key is refused before it counts as a user of an init layer (and, in a race, by
    // prepareAtomically's rename: a snapshot dir is never empty).
    if (readSnapshotInfoSync(this.root, key)) throw alreadyExists(`snapshot ${key} already exists; remove it first`);
    const shared = opts.noInit ? undefined : this.initName(lowerDirs);
    const info: SnapshotInfo = { key, parent: parentChainID, lowerDirs: [...lowerDirs], created: new Date().toISOString(), ...(shared ? { sharedInit: shared } : {}) };
    // A user from now on, so that no removal of another snapshot deletes the layer meanwhile.
    if (shared) this.useInit(shared, key, lowerDirs);
    try {
      await checkLowerDirs(key, lowerDirs);
      if (shared) await this.ensureInit(shared, lowerDirs);
      await prepareAtomically(this.root, this.dir(key), info, async (tmp) => {
        for (const d of this.opts.mountRoot ? ['upper', 'work'] : ['upper', 'work', 'merged']) mkdirSync(join(tmp, d), 0o755);
        const owner = this.opts.rootOwner;
        if (owner) {
          await fsp.chmod(this.root, 0o711);
          for (const d of ['upper', 'work']) await fsp.chown(join(tmp, d), owner.uid, owner.gid);
          await fsp.chmod(tmp, 0o711); // the remapped root must reach <key>/merged
        }
      }, opts.durable ?? true);
    } catch (e) {
      if (shared) this.releaseInit(shared, key);
      throw e;
    }
  }

  async info(key: string): Promise<SnapshotInfo> {
    const info = await this.tryInfo(key);
    if (!info) throw notFound(`snapshot ${key} does not exist in ${this.root}`);
    return info;
  }

  /** Where the snapshot is (or would be) mounted. */
  mergedDir(key: string): string {
    const own = join(this.dir(key), 'merged');
    // Only a snapshot prepared without a mountRoot has that dir: a stat, not a mount table read, for the rest.
    if (!this.opts.mountRoot || (existsSync(own) && isMountPoint(own))) return own;
    return join(this.opts.mountRoot, key, 'merged');
  }

  upperDir(key: string): string {
    return join(this.dir(key), 'upper');
  }

  async mounts(key: string): Promise<Mount> {
    const info = await this.info(key);
    const dir = this.dir(key);
    // Made again if it went missing (a crash between its removal and its last user's).
    if (info.sharedInit) await this.ensureInit(info.sharedInit, info.lowerDirs);
    const lowers = this.lowerStack(info);
    if (lowers.length === 0) {
      await fsp.mkdir(join(dir, 'empty'), { recursive: true, mode: 0o755 });
      lowers.push(join(dir, 'empty'));
    }
    return overlayMount(key, dir, lowers, join(dir, 'upper'), join(dir, 'work'));
  }

  /** The lower dirs of a mount, top-most first: the init layer, then the image's. */
  private lowerStack(info: SnapshotInfo): string[] {
    const init = info.sharedInit ? [this.initDir(info.sharedInit)] : info.init ? [join(this.dir(info.key), 'init')] : [];
    return [...init, ...info.lowerDirs];
  }

  async changes(key: string): Promise<Change[]> {
    const info = await this.info(key);
    return overlayChanges(this.upperDir(key), new LowerView(this.lowerStack(info)));
  }

  async hasDirectory(key: string, path: string): Promise<boolean> {
    // The upper dir over the lower ones is what the mount shows (its whiteouts and opaque dirs included).
    const info = await this.info(key);
    return new LowerView([this.upperDir(key), ...this.lowerStack(info)]).lookup(path.replace(/^\/+/, ''))?.st.isDirectory() ?? false;
  }

  async diff(key: string): Promise<Readable> {
    await this.info(key);
    return overlayDiffTar(this.upperDir(key));
  }

  /**
   * A read-only overlay with the upper dir as its top lower dir: it never takes the
   * upper/work dirs from the container's own mount, so it works running or stopped.
   */
  async view(key: string): Promise<SnapshotView> {
    const info = await this.info(key);
    const dir = this.dir(key);
    const lowers = [this.upperDir(key), ...this.lowerStack(info)];
    if (lowers.length < 2) {
      await fsp.mkdir(join(dir, 'empty'), { recursive: true, mode: 0o755 });
      lowers.push(join(dir, 'empty'));
    }
    const m = overlayMount(key, dir, lowers);
    const target = await fsp.mkdtemp(join(dir, 'view-'));
    try {
      await doMount(key, m, target, MS_RDONLY);
    } catch (e) {
      await fsp.rmdir(target).catch(() => undefined);
      throw e;
    }
    let released = false;
    return {
      path: target,
      release: async () => {
        if (released) return;
        released = true;
        await unmountAll(key, target);
        await fsp.rmdir(target).catch(() => undefined);
      },
    };
  }

  graphDriverData(key: string, imageLowerDirs: string[]): Record<string, string> {
    const dir = this.dir(key);
    const shared = this.initOfKey.get(key) ?? readSnapshotInfoSync(this.root, key)?.sharedInit;
    const lower = [shared ? this.initDir(shared) : join(dir, 'init'), ...imageLowerDirs].join(':');
    return { LowerDir: lower, MergedDir: this.mergedDir(key), UpperDir: join(dir, 'upper'), WorkDir: join(dir, 'work') };
  }

  /** Mounts the snapshot at mergedDir(key); a no-op if it is mounted already. */
  async mount(key: string): Promise<string> {
    const m = await this.mounts(key);
    const target = this.mergedDir(key);
    if (isMountPoint(target)) return target;
    if (this.opts.mountRoot) mkdirSync(target, { recursive: true, mode: 0o755 });
    await doMount(key, m, target, 0);
    return target;
  }

  mounted(key: string): boolean {
    return isMountPoint(this.mergedDir(key));
  }

  /** Unmounts mergedDir(key) (every mount stacked there); a no-op if not mounted. */
  async unmount(key: string): Promise<void> {
    const target = this.mergedDir(key);
    await unmountAll(key, target);
    if (this.opts.mountRoot && target.startsWith(this.opts.mountRoot + '/')) {
      await fsp.rmdir(target).catch(() => undefined);
      await fsp.rmdir(dirname(target)).catch(() => undefined);
    }
  }

  /** Unmounts and deletes the snapshot, upper dir included. Unknown key → not-found. */
  async remove(key: string): Promise<void> {
    const dir = this.dir(key);
    let names: string[];
    try {
      names = readdirSync(dir);
    } catch (e) {
      if (!isErrno(e, 'ENOENT')) throw e;
      names = [];
    }
    if (!names.includes('meta.json')) throw notFound(`snapshot ${key} does not exist in ${this.root}`);
    // Once the users are loaded, they name this snapshot's layer too (no meta.json read).
    await this.initUsersLoaded;
    const shared = this.initOfKey.get(key);
    await this.unmount(key);
    for (const n of names) if (n.startsWith('view-')) await unmountAll(key, join(dir, n));
    const doomed = await moveToTmp(this.root, dir, `del-${key}-`);
    if (shared) this.releaseInit(shared, key);
    // Gone under its key now; the files go in the background (a crash leaves them in tmp/,
    // which the next snapshotter on this root clears).
    void deleteInBackground(doomed);
  }

  /** Keys of all prepared snapshots. */
  async list(): Promise<string[]> {
    return listSnapshots(this.root);
  }


  private dir(key: string): string {
    return snapshotDir(this.root, key);
  }


  private tryInfo(key: string): Promise<SnapshotInfo | null> {
    return readSnapshotInfo(this.root, key);
  }

}

/**
 * The overlay mount for these dirs. Where mounting from a directory costs no more than a
 * plain mount (sys.mountFromIsCheap), the paths are relative to the snapshot's own dir
 * `home`: they make half as long a line in every reader's /proc/<pid>/mountinfo, which runc
 * reads four times per container start. Else they are all absolute if they fit in one page,
 * else all relative to their deepest common parent. Upper and work are optional: without
 * them the mount is a read-only union.
 */
function overlayMount(key: string, home: string, lowers: string[], upper?: string, work?: string): Mount {
  for (const d of [...lowers, upper ?? '/', work ?? '/']) {
    if (!isAbsolute(d) || /[,:\\]/.test(d)) throw invalidArgument(`overlay dir ${JSON.stringify(d)} for snapshot ${key} must be an absolute path without ',', ':' or '\\'`);
  }
  const data = (ls: string[], u?: string, w?: string) => [`lowerdir=${ls.join(':')}`, ...(u && w ? [`upperdir=${u}`, `workdir=${w}`] : []), 'index=off'];
  const fits = (options: string[]) => options.join(',').length <= MAX_MOUNT_DATA;
  const from = (cwd: string): Mount => {
    const rel = (p: string) => relative(cwd, p) || '.';
    return { type: 'overlay', source: 'overlay', options: data(lowers.map(rel), upper && rel(upper), work && rel(work)), cwd };
  };
  if (mountFromIsCheap()) {
    const local = from(home);
    if (fits(local.options)) return local;
  }
  const absolute = data(lowers, upper, work);
  if (fits(absolute)) return { type: 'overlay', source: 'overlay', options: absolute };
  const cwd = commonParent([...lowers, ...(upper ? [upper] : []), ...(work ? [work] : [])]);
  const shared = from(cwd);
  if (cwd !== '/' && fits(shared.options)) return shared;
  throw invalidArgument(`snapshot ${key} has ${lowers.length} lower layers, too many for one overlay mount; flatten the image (docker export | docker import) or use the vfs storage driver`);
}

function commonParent(paths: string[]): string {
  let parts = paths[0]!.split(sep).slice(0, -1);
  for (const p of paths.slice(1)) {
    const q = p.split(sep);
    let i = 0;
    while (i < parts.length && i < q.length - 1 && parts[i] === q[i]) i++;
    parts = parts.slice(0, i);
  }
  return parts.join(sep) || '/';
}

async function doMount(key: string, m: Mount, target: string, flags: number): Promise<void> {
  const data = m.options.join(',');
  try {
    if (m.cwd) await mountFrom(m.cwd, m.source, target, m.type, flags, data);
    else sysMount(m.source, target, m.type, flags, data);
  } catch (e) {
    throw internal(`mounting snapshot ${key} at ${target} failed: ${(e as Error).message}`, e);
  }
}

async function unmountAll(key: string, target: string): Promise<void> {
  // Unmounting an overlay flushes its upper filesystem (the kernel syncs it as the mount goes),
  // which can take long after a container wrote many files: the umount runs on a pool thread.
  // No syncfs of its own before it: that was a second flush and three more pool trips per
  // container, and with 20 removed at once they queued behind one another (issue 14).
  for (let i = 0; i < 16 && isMountPoint(target); i++) {
    try {
      // On a pool thread: the kernel's wait for an RCU grace period is not the event loop's.
      await umount2Async(target, 0);
    } catch (e) {
      if (isErrno(e, 'EINVAL')) continue; // raced with another unmount
      if (!isErrno(e, 'EBUSY')) throw internal(`unmounting snapshot ${key} at ${target} failed: ${(e as Error).message}`, e);
      // Still in use (a process has its cwd there): detach now, the kernel frees it later.
      umount2(target, MNT_DETACH);
    }
  }
}
