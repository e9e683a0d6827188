/**
 * Snapshotter: the contract for a container's root filesystem on top of image layers.
 * Two implementations: OverlaySnapshotter ("overlay2": an overlayfs mount over the
 * layer dirs, changes in an upper dir) and VfsSnapshotter ("vfs": a full copy of the
 * layers, changes found by comparing). Both run the suite in snapshotter.test.ts.
 *
 * Lifecycle of one snapshot, named by a key (the container id):
 *
 *   prepare(key, parentChainID, lowerDirs)   make it (atomically: all or nothing)
 *   mount(key) → rootfs path                 before the runtime starts the container
 *   unmount(key)                             after the container stopped
 *   changes(key) / diff(key) / view(key)     any time, running or not
 *   remove(key)                              unmounts and deletes it, changes included
 *
 * Invariants and caller duties
 * - `lowerDirs` are overlay-form layer dirs (layer-apply.ts), top-most first, and must
 *   outlive the snapshot. They are never written.
 * - Each snapshot gets an init layer (init-layer.ts) between the image and its own
 *   changes; changes/diff never include it, view and mount do.
 * - One caller at a time per key for prepare/mount/unmount/remove (the engine holds
 *   the container's lock). changes, diff and view only read and may run alongside a
 *   running container; what they see of files written meanwhile is unspecified.
 * - mount and unmount are idempotent.
 *
 * Failures: bad key or unusable lower dir → invalid-argument; key exists →
 * already-exists; unknown key → not-found; disk or mount errors → internal.
 */
import { randomBytes } from 'node:crypto';
import { closeSync, constants as fsc, mkdtempSync, openSync, promises as fsp, readFileSync, renameSync, statSync, writeFileSync, type Stats } from 'node:fs';
import { isAbsolute, join } from 'node:path';
import type { Readable } from 'node:stream';
import { alreadyExists, BerthError, internal, invalidArgument, isErrno, type Digest } from '../common';
import { fsyncFd } from '../state';
import type { Change } from './changes';

export interface SnapshotInfo {
  key: string;
  parent: Digest | null;
  lowerDirs: string[];
  created: string;
  /** Whether the snapshot has an init layer of its own, `<key>/init` (snapshots made before it existed do not). */
  init?: boolean;
  /** The name of the init layer it shares with the other snapshots of the same image (overlay.ts). */
  sharedInit?: string;
}

/** Options of prepare. */
export interface PrepareOptions {
  /** Leave the init layer empty: a root for the builder's file steps and views, not for a container. */
  noInit?: boolean;
  /** false: meta.json is not fsynced (the snapshot survives a kill of the daemon, not a power loss). */
  durable?: boolean;
}

/** A read-only look at the snapshot's whole tree; call release() when done. */
export interface SnapshotView {
  path: string;
  release(): Promise<void>;
}

export interface Snapshotter {
  /** Docker's name of the storage driver: "overlay2" or "vfs". */
  readonly driver: string;
  readonly root: string;

  prepare(key: string, parentChainID: Digest | null, lowerDirs: string[], opts?: PrepareOptions): Promise<void>;
  info(key: string): Promise<SnapshotInfo>;
  /** Keys of all prepared snapshots. */
  list(): Promise<string[]>;

  /** Makes the root filesystem available and returns its path. */
  mount(key: string): Promise<string>;
  unmount(key: string): Promise<void>;
  /** Whether mount(key) has mounted something that unmount(key) would take away. */
  mounted(key: string): boolean;
  remove(key: string): Promise<void>;

  /** Where mount(key) puts the root filesystem. */
  mergedDir(key: string): string;
  /** Where the snapshot's own changes are kept (vfs: the full root). */
  upperDir(key: string): string;
  /**
   * Whether `path` (absolute, in the root filesystem) is a directory there, reached through
   * directories only (no link followed): a look at the layers that needs no mount. False
   * when it is not, or cannot be told this way.
   */
  hasDirectory(key: string, path: string): Promise<boolean>;

  /** The container's changes against its image, as `docker diff` lists them. */
  changes(key: string): Promise<Change[]>;
  /** The changes as an OCI layer tar, streamed. */
  diff(key: string): Promise<Readable>;
  /** The whole tree, read-only, without disturbing mount(key) (mounts temporarily if needed). */
  view(key: string): Promise<SnapshotView>;
  /** Docker's GraphDriver.Data for the snapshot (null where Docker shows none). */
  graphDriverData(key: string, imageLowerDirs: string[]): Record<string, string> | null;
}

/** Construction options shared by both drivers. */
export interface SnapshotterOptions {
  /**
   * User-namespace remapping: the host uid/gid of the container's root. The snapshot's
   * root dir, its own layer and the init layer's new entries get this owner, and the
   * snapshot dir is made traversable (0711) for it. Layers must be unpacked shifted.
   */
  rootOwner?: { uid: number; gid: number };
  /**
   * overlay: the dir that holds the snapshots' mount points, `<mountRoot>/<key>/merged`, instead of
   * `<key>/merged` beside the upper dir. A dir of mount points alone can be a mount of its own
   * (runtime/monitor-ns.ts) without renames of upper dirs into the layer store crossing it.
   */
  mountRoot?: string;
}

export const STORAGE_DRIVERS = ['overlay2', 'vfs'] as const;

/** Normalises a driver name given by a user (flag or daemon.json); null if unknown. */
export function storageDriverName(name: string | undefined): (typeof STORAGE_DRIVERS)[number] | null {
  const n = (name ?? '').trim().toLowerCase();
  if (n === '' || n === 'overlay' || n === 'overlay2' || n === 'overlayfs') return 'overlay2';
  if (n === 'vfs') return 'vfs';
  return null;
}

/** Each lower dir must be an absolute path to an existing directory. */
export async function checkLowerDirs(key: string, lowerDirs: readonly string[]): Promise<void> {
  // stat(2) of a few cached inodes: synchronous calls cost microseconds, a pool trip each far more.
  for (const d of lowerDirs) {
    if (!isAbsolute(d)) throw invalidArgument(`lower dir ${JSON.stringify(d)} for snapshot ${key} must be an absolute path`);
    let st: Stats;
    try {
      st = statSync(d);
    } catch (e) {
      throw invalidArgument(`lower dir ${d} for snapshot ${key} is not usable: ${(e as Error).message}`, e);
    }
    if (!st.isDirectory()) throw invalidArgument(`lower dir ${d} for snapshot ${key} is not a directory`);
  }
}

/** Roots whose tmp/ was made by this process: made once, not once per snapshot. */
const tmpMade = new Set<string>();

/** Runs `fn` with `<root>/tmp`, made first when this process has not made it yet (or it went). */
async function inTmp<T>(root: string, fn: (tmpDir: string) => Promise<T>): Promise<T> {
  const dir = join(root, 'tmp');
  if (!tmpMade.has(dir)) {
    await fsp.mkdir(dir, { recursive: true, mode: 0o700 });
    tmpMade.add(dir);
  }
  try {
    return await fn(dir);
  } catch (e) {
    if (!isErrno(e, 'ENOENT') || (await fsp.stat(dir).then(() => true, () => false))) throw e;
    await fsp.mkdir(dir, { recursive: true, mode: 0o700 });
    return fn(dir);
  }
}

/**
 * Renames `dir` to a fresh name under `<root>/tmp` (prefix + random) and returns it, for
 * deleting it from there: a crash midway leaves a dir under tmp/, never a half-deleted one
 * under its key.
 */
export function moveToTmp(root: string, dir: string, prefix: string): Promise<string> {
  return inTmp(root, async (tmpDir) => {
    const doomed = join(tmpDir, `${prefix}${randomBytes(4).toString('hex')}`);
    renameSync(dir, doomed);
    return doomed;
  });
}

/**
 * Builds a snapshot directory all or nothing: `build` fills a fresh dir under
 * `<root>/tmp`, then meta.json is written (fsynced unless not `durable`) and the dir renamed to `dest`.
 * On any failure the temp dir is removed; a taken `dest` is already-exists.
 */
export async function prepareAtomically(root: string, dest: string, info: SnapshotInfo, build: (tmp: string) => Promise<void>, durable = true): Promise<void> {
  // The directory operations are synchronous (metadata into the page cache, microseconds
  // each); only the fsync of meta.json goes to the thread pool.
  const tmp = await inTmp(root, async (tmpDir) => mkdtempSync(join(tmpDir, 'new-')));
  try {
    await build(tmp);
    const fd = openSync(join(tmp, 'meta.json'), fsc.O_WRONLY | fsc.O_CREAT | fsc.O_EXCL, 0o600);
    try {
      writeFileSync(fd, `${JSON.stringify(info, null, 2)}\n`);
      if (durable) await fsyncFd(fd);
    } finally {
      closeSync(fd);
    }
    try {
      renameSync(tmp, dest);
    } catch (e) {
      if (isErrno(e, 'ENOTEMPTY') || isErrno(e, 'EEXIST')) throw alreadyExists(`snapshot ${info.key} already exists; remove it first`);
      throw e;
    }
  } catch (e) {
    await fsp.rm(tmp, { recursive: true, force: true }).catch(() => undefined);
    if (e instanceof BerthError) throw e;
    throw internal(`preparing snapshot ${info.key} in ${root} failed: ${(e as Error).message}`, e);
  }
}

const KEY_RE = /^[A-Za-z0-9][A-Za-z0-9_.-]{0,127}$/;

/** `<root>/<key>`; a key that is not 1-128 of [A-Za-z0-9_.-] (or is `tmp`) is invalid-argument. */
export function snapshotDir(root: string, key: string): string {
  if (!KEY_RE.test(key) || key === 'tmp') throw invalidArgument(`invalid snapshot key ${JSON.stringify(key)}: use 1-128 of [A-Za-z0-9_.-], not starting with a dot`);
  return join(root, key);
}

/** A snapshot's meta.json, or null when it has none. */
export async function readSnapshotInfo(root: string, key: string): Promise<SnapshotInfo | null> {
  return readSnapshotInfoSync(root, key);
}

export function readSnapshotInfoSync(root: string, key: string): SnapshotInfo | null {
  try {
    // A few hundred bytes, read at every mount and look-up: synchronously (see prepareAtomically).
    return JSON.parse(readFileSync(join(snapshotDir(root, key), 'meta.json'), 'utf8')) as SnapshotInfo;
  } catch (e) {
    if (isErrno(e, 'ENOENT')) return null;
    throw internal(`reading snapshot ${key} metadata failed: ${(e as Error).message}`, e);
  }
}

/** Keys of every prepared snapshot under root. */
export async function listSnapshots(root: string): Promise<string[]> {
  let names: string[];
  try {
    names = await fsp.readdir(root);
  } catch (e) {
    if (isErrno(e, 'ENOENT')) return [];
    throw e;
  }
  const out: string[] = [];
  for (const n of names) if (n !== 'tmp' && KEY_RE.test(n) && (await readSnapshotInfo(root, n))) out.push(n);
  return out;
}
