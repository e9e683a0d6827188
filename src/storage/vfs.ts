/**
 * VfsSnapshotter ("vfs"): each container root is a plain directory holding a full
 * copy of its image's layers applied in order (plus the init layer). No mounts, so it
 * works on any filesystem, at the price of disk space and copy time. Changes are
 * found by comparing the root with the layers (changes.ts, naiveChanges).
 *
 * On disk, under `root` (normally `<dataRoot>/vfs`):
 *   <key>/rootfs     the container's root filesystem
 *   <key>/init       the init layer, kept to compare against
 *   <key>/meta.json  SnapshotInfo
 *   tmp/             snapshots being prepared or removed
 *
 * The contract and lifecycle are Snapshotter's (snapshotter.ts). prepare copies into
 * tmp/ and renames, so a crash leaves either no snapshot or a complete one.
 */
import { randomBytes } from 'node:crypto';
import { constants as fsc, promises as fsp } from 'node:fs';
import { join } from 'node:path';
import type { Readable } from 'node:stream';
import { alreadyExists, isErrno, notFound, type Digest } from '../common';
import { lsetxattr, mknod, S_IFBLK, S_IFCHR, S_IFIFO } from '../sys';
import { changesTar, naiveChanges, type Change } from './changes';
import { buildInitLayer } from './init-layer';
import { LowerView, type ViewEntry } from './lower-view';
import { checkLowerDirs, listSnapshots, prepareAtomically, readSnapshotInfo, snapshotDir, type SnapshotInfo, type Snapshotter, type SnapshotterOptions, type SnapshotView } from './snapshotter';
import { readXattrs } from './tar-writer';


export class VfsSnapshotter implements Snapshotter {
  readonly driver = 'vfs';
  /** `rootOwner`: with user-namespace remapping, the host ids of the container's root (snapshotter.ts). */
  constructor(
    readonly root: string,
    private readonly opts: SnapshotterOptions = {},
  ) {}

  async prepare(key: string, parentChainID: Digest | null, lowerDirs: string[]): Promise<void> {
    this.dir(key);
    await checkLowerDirs(key, lowerDirs);
    if (await this.tryInfo(key)) throw alreadyExists(`snapshot ${key} already exists; remove it first`);
    const info: SnapshotInfo = { key, parent: parentChainID, lowerDirs: [...lowerDirs], created: new Date().toISOString(), init: true };
    await prepareAtomically(this.root, this.dir(key), info, async (tmp) => {
      await fsp.mkdir(join(tmp, 'init'), 0o755);
      await buildInitLayer(join(tmp, 'init'), new LowerView(lowerDirs), this.opts.rootOwner);
      await fsp.mkdir(join(tmp, 'rootfs'), 0o755);
      await copyView(new LowerView([join(tmp, 'init'), ...lowerDirs]), join(tmp, 'rootfs'));
      const owner = this.opts.rootOwner;
      if (owner) {
        await fsp.chmod(this.root, 0o711);
        await fsp.chown(join(tmp, 'rootfs'), owner.uid, owner.gid);
        await fsp.chmod(tmp, 0o711); // the remapped root must reach <key>/rootfs
      }
    });
  }

  async info(key: string): Promise<SnapshotInfo> {
    const info = await this.tryInfo(key);
    if (!info) throw notFound(`snapshot ${key} does not exist in ${this.root}`);
    return info;
  }

  async list(): Promise<string[]> {
    return listSnapshots(this.root);
  }


  /** Nothing to mount: the root is a plain directory (runc bind-mounts it itself). */
  async mount(key: string): Promise<string> {
    await this.info(key);
    return this.mergedDir(key);
  }

  async unmount(key: string): Promise<void> {
    this.dir(key);
  }

  async remove(key: string): Promise<void> {
    await this.info(key);
    await fsp.mkdir(join(this.root, 'tmp'), { recursive: true, mode: 0o700 });
    const doomed = join(this.root, 'tmp', `del-${key}-${randomBytes(4).toString('hex')}`);
    await fsp.rename(this.dir(key), doomed);
    await fsp.rm(doomed, { recursive: true, force: true });
  }

  mergedDir(key: string): string {
    return join(this.dir(key), 'rootfs');
  }

  upperDir(key: string): string {
    return this.mergedDir(key);
  }

  async changes(key: string): Promise<Change[]> {
    const info = await this.info(key);
    return naiveChanges(this.mergedDir(key), new LowerView(this.lowerStack(info)));
  }

  async diff(key: string): Promise<Readable> {
    return changesTar(this.mergedDir(key), await this.changes(key));
  }

  async view(key: string): Promise<SnapshotView> {
    await this.info(key);
    return { path: this.mergedDir(key), release: async () => undefined };
  }

  /** Docker shows no GraphDriver data for vfs. */
  graphDriverData(): null {
    return null;
  }

  private lowerStack(info: SnapshotInfo): string[] {
    return [...(info.init ? [join(this.dir(info.key), 'init')] : []), ...info.lowerDirs];
  }

  private dir(key: string): string {
    return snapshotDir(this.root, key);
  }


  private tryInfo(key: string): Promise<SnapshotInfo | null> {
    return readSnapshotInfo(this.root, key);
  }

}

/**
 * Copies the merged view into the empty dir `dest`: contents, owners, modes, times,
 * xattrs (overlay's own left out), devices, fifos; hardlinked files stay hardlinked.
 */
export async function copyView(view: LowerView, dest: string): Promise<void> {
  const root = await view.root();
  if (!root) return;
  const links = new Map<string, string>();
  const dirTimes: Array<[string, number, number]> = [];
  const walk = async (dir: ViewEntry): Promise<void> => {
    for (const e of await view.list(dir)) {
      const to = join(dest, e.rel);
      const st = e.st;
      if (st.isDirectory()) {
        await fsp.mkdir(to, 0o700);
        await walk(e);
      } else if (st.isSymbolicLink()) {
        await fsp.symlink(await fsp.readlink(e.abs), to);
      } else {
        const key = `${st.dev}:${st.ino}`;
        const first = st.nlink > 1 ? links.get(key) : undefined;
        if (first !== undefined) {
          await fsp.link(first, to);
          continue;
        }
        if (st.nlink > 1) links.set(key, to);
        if (st.isFile()) await fsp.copyFile(e.abs, to, fsc.COPYFILE_EXCL | fsc.COPYFILE_FICLONE);
        else if (st.isFIFO()) mknod(to, S_IFIFO | 0o600, 0);
        else if (st.isCharacterDevice() || st.isBlockDevice()) mknod(to, (st.isCharacterDevice() ? S_IFCHR : S_IFBLK) | 0o600, BigInt(st.rdev));
        else continue; // sockets are not copied
      }
      await copyMetadata(e.abs, to, st);
      if (st.isDirectory()) dirTimes.push([to, st.atimeMs / 1000, st.mtimeMs / 1000]);
    }
  };
  await walk(root);
  await copyMetadata(root.abs, dest, root.st);
  dirTimes.push([dest, root.st.atimeMs / 1000, root.st.mtimeMs / 1000]);
  for (const [p, a, m] of dirTimes) await fsp.utimes(p, a, m);
}

/** chown, xattrs, chmod (chown clears setuid bits and capabilities), then times. */
async function copyMetadata(from: string, to: string, st: import('node:fs').Stats): Promise<void> {
  await fsp.lchown(to, st.uid, st.gid);
  for (const [n, v] of readXattrs(from)) {
    try {
      lsetxattr(to, n, v);
    } catch (e) {
      if (st.isSymbolicLink() && (isErrno(e, 'EPERM') || isErrno(e, 'ENOTSUP'))) continue;
      throw e;
    }
  }
  if (!st.isSymbolicLink()) await fsp.chmod(to, st.mode & 0o7777);
  if (!st.isDirectory()) await fsp.lutimes(to, st.atimeMs / 1000, st.mtimeMs / 1000);
}

