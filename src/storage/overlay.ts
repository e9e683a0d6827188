/**
 * OverlaySnapshotter: a container's writable root as an overlayfs over image layers.
 *
 * On disk, under `root` (normally `<dataRoot>/overlay`):
 *   <key>/upper      the container's changes (overlay upperdir)
 *   <key>/work       overlay's workdir (same filesystem as upper)
 *   <key>/merged     where `mount(key)` mounts the union
 *   <key>/init       the init layer (init-layer.ts), the top-most lower dir
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
 * - Mount data must fit in one page (4096 bytes). If the absolute paths do not fit,
 *   the description lists every dir relative to their deepest common parent (with
 *   LayerStore's short `l/` links, 120 layers take ~2.5 KB) and sets `cwd`: whoever
 *   mounts it must do so from that directory (`mount()` does, through sys.mountFrom).
 * - mount and unmount are idempotent (checked against /proc/self/mountinfo).
 * - One caller at a time per key (the engine holds the container's lock).
 *
 * Failures: bad key or unusable lower dir → invalid-argument; key exists →
 * already-exists; unknown key → not-found; too many layers for one mount →
 * invalid-argument; mount/umount errors → internal with the SysError as cause.
 */
import { mkdirSync, promises as fsp, readdirSync } from 'node:fs';
import { isAbsolute, join, relative, sep } from 'node:path';
import type { Readable } from 'node:stream';
import { internal, invalidArgument, isErrno, notFound, type Digest } from '../common';
import { isMountPoint, mount as sysMount, mountFrom, MNT_DETACH, MS_RDONLY, umount2, umount2Async } from '../sys';
import { overlayChanges, overlayDiffTar, type Change } from './changes';
import { buildInitLayer } from './init-layer';
import { LowerView } from './lower-view';
import { checkLowerDirs, listSnapshots, moveToTmp, prepareAtomically, readSnapshotInfo, snapshotDir, type PrepareOptions, type SnapshotInfo, type Snapshotter, type SnapshotterOptions, type SnapshotView } from './snapshotter';

/** A mount the caller can perform: mount(source, target, type, 0, options.join(',')). */
export interface Mount {
  type: string;
  source: string;
  options: string[];
  /** When set, relative paths in `options` are relative to this dir; mount from it. */
  cwd?: string;
}

const MAX_MOUNT_DATA = 4095; // one page, minus the terminating NUL

export class OverlaySnapshotter implements Snapshotter {
  readonly driver = 'overlay2';
  /** `rootOwner`: with user-namespace remapping, the host ids of the container's root (snapshotter.ts). */
  constructor(
    readonly root: string,
    private readonly opts: SnapshotterOptions = {},
  ) {
    // What removals of an earlier run left half deleted (remove renames a snapshot into tmp/ first).
    void fsp
      .readdir(join(root, 'tmp'))
      .then((names) => Promise.all(names.filter((n) => n.startsWith('del-')).map((n) => fsp.rm(join(root, 'tmp', n), { recursive: true, force: true }))))
      .catch(() => undefined);
  }

  async prepare(key: string, parentChainID: Digest | null, lowerDirs: string[], opts: PrepareOptions = {}): Promise<void> {
    this.dir(key);
    for (const d of lowerDirs) {
      if (!isAbsolute(d) || /[,:\\]/.test(d)) throw invalidArgument(`lower dir ${JSON.stringify(d)} for snapshot ${key} must be an absolute path without ',', ':' or '\\'`);
    }
    if (/[,:\\]/.test(this.root)) throw invalidArgument(`overlay root ${this.root} must not contain ',', ':' or '\\'`);
    // A taken key is found by prepareAtomically's rename (a snapshot dir is never empty).
    const info: SnapshotInfo = { key, parent: parentChainID, lowerDirs: [...lowerDirs], created: new Date().toISOString(), init: true };
    await prepareAtomically(this.root, this.dir(key), info, async (tmp) => {
      await checkLowerDirs(key, lowerDirs);
      for (const d of ['upper', 'work', 'merged', 'init']) mkdirSync(join(tmp, d), 0o755);
      if (!opts.noInit) await buildInitLayer(join(tmp, 'init'), new LowerView(lowerDirs), this.opts.rootOwner);
      const owner = this.opts.rootOwner;
      if (owner) {
        await fsp.chmod(this.root, 0o711);
        for (const d of ['upper', 'work']) await fsp.chown(join(tmp, d), owner.uid, owner.gid);
        await fsp.chmod(tmp, 0o711); // the remapped root must reach <key>/merged
      }
    }, opts.durable ?? true);
  }

  async info(key: string): Promise<SnapshotInfo> {
    const info = await this.tryInfo(key);
    if (!info) throw notFound(`snapshot ${key} does not exist in ${this.root}`);
    return info;
  }

  /** Where the snapshot is (or would be) mounted. */
  mergedDir(key: string): string {
    return join(this.dir(key), 'merged');
  }

  upperDir(key: string): string {
    return join(this.dir(key), 'upper');
  }

  async mounts(key: string): Promise<Mount> {
    const info = await this.info(key);
    const dir = this.dir(key);
    const lowers = this.lowerStack(info);
    if (lowers.length === 0) {
      await fsp.mkdir(join(dir, 'empty'), { recursive: true, mode: 0o755 });
      lowers.push(join(dir, 'empty'));
    }
    return overlayMount(key, lowers, join(dir, 'upper'), join(dir, 'work'));
  }

  /** The lower dirs of a mount, top-most first: the init layer, then the image's. */
  private lowerStack(info: SnapshotInfo): string[] {
    return [...(info.init ? [join(this.dir(info.key), 'init')] : []), ...info.lowerDirs];
  }

  async changes(key: string): Promise<Change[]> {
    const info = await this.info(key);
    return overlayChanges(this.upperDir(key), new LowerView(this.lowerStack(info)));
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
    const m = overlayMount(key, lowers);
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
    const lower = [join(dir, 'init'), ...imageLowerDirs].join(':');
    return { LowerDir: lower, UpperDir: join(dir, 'upper'), WorkDir: join(dir, 'work'), MergedDir: join(dir, 'merged') };
  }

  /** Mounts the snapshot at mergedDir(key); a no-op if it is mounted already. */
  async mount(key: string): Promise<string> {
    const m = await this.mounts(key);
    const target = this.mergedDir(key);
    if (isMountPoint(target)) return target;
    await doMount(key, m, target, 0);
    return target;
  }

  /** Unmounts mergedDir(key) (every mount stacked there); a no-op if not mounted. */
  async unmount(key: string): Promise<void> {
    await unmountAll(key, this.mergedDir(key));
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
    await this.unmount(key);
    for (const n of names) if (n.startsWith('view-')) await unmountAll(key, join(dir, n));
    const doomed = await moveToTmp(this.root, dir, `del-${key}-`);
    // Gone under its key now; the files go in the background (a crash leaves them in tmp/,
    // which the next snapshotter on this root clears).
    void fsp.rm(doomed, { recursive: true, force: true }).catch(() => undefined);
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
 * The overlay mount for these dirs, all absolute if they fit in one page, else all
 * relative to their deepest common parent (mounted from there). Upper and work are
 * optional: without them the mount is a read-only union.
 */
function overlayMount(key: string, lowers: string[], upper?: string, work?: string): Mount {
  for (const d of [...lowers, upper ?? '/', work ?? '/']) {
    if (!isAbsolute(d) || /[,:\\]/.test(d)) throw invalidArgument(`overlay dir ${JSON.stringify(d)} for snapshot ${key} must be an absolute path without ',', ':' or '\\'`);
  }
  const data = (ls: string[], u?: string, w?: string) => [`lowerdir=${ls.join(':')}`, ...(u && w ? [`upperdir=${u}`, `workdir=${w}`] : []), 'index=off'];
  const absolute = data(lowers, upper, work);
  if (absolute.join(',').length <= MAX_MOUNT_DATA) return { type: 'overlay', source: 'overlay', options: absolute };
  const all = [...lowers, ...(upper ? [upper] : []), ...(work ? [work] : [])];
  const cwd = commonParent(all);
  const rel = (p: string) => relative(cwd, p);
  const relativeData = data(lowers.map(rel), upper && rel(upper), work && rel(work));
  if (cwd !== '/' && relativeData.join(',').length <= MAX_MOUNT_DATA) return { type: 'overlay', source: 'overlay', options: relativeData, cwd };
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
