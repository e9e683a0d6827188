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
import { promises as fsp } from 'node:fs';
import { join } from 'node:path';
import type { Readable } from 'node:stream';
import { alreadyExists, notFound, type Digest } from '../common';
import { changesTar, naiveChanges, type Change } from './changes';
import { copyTree } from './copy-tree';
import { buildInitLayer } from './init-layer';
import { LowerView } from './lower-view';
import { checkLowerDirs, listSnapshots, moveToTmp, prepareAtomically, readSnapshotInfo, snapshotDir, type PrepareOptions, type SnapshotInfo, type Snapshotter, type SnapshotterOptions, type SnapshotView } from './snapshotter';


export class VfsSnapshotter implements Snapshotter {
  readonly driver = 'vfs';
  /** `rootOwner`: with user-namespace remapping, the host ids of the container's root (snapshotter.ts). */
  constructor(
    readonly root: string,
    private readonly opts: SnapshotterOptions = {},
  ) {}

  async prepare(key: string, parentChainID: Digest | null, lowerDirs: string[], opts: PrepareOptions = {}): Promise<void> {
    this.dir(key);
    await checkLowerDirs(key, lowerDirs);
    if (await this.tryInfo(key)) throw alreadyExists(`snapshot ${key} already exists; remove it first`);
    const info: SnapshotInfo = { key, parent: parentChainID, lowerDirs: [...lowerDirs], created: new Date().toISOString(), init: true };
    await prepareAtomically(this.root, this.dir(key), info, async (tmp) => {
      await fsp.mkdir(join(tmp, 'init'), 0o755);
      if (!opts.noInit) await buildInitLayer(join(tmp, 'init'), new LowerView(lowerDirs), this.opts.rootOwner);
      await fsp.mkdir(join(tmp, 'rootfs'), 0o755);
      await copyTree(new LowerView([join(tmp, 'init'), ...lowerDirs]), join(tmp, 'rootfs'));
      const owner = this.opts.rootOwner;
      if (owner) {
        await fsp.chmod(this.root, 0o711);
        await fsp.chown(join(tmp, 'rootfs'), owner.uid, owner.gid);
        await fsp.chmod(tmp, 0o711); // the remapped root must reach <key>/rootfs
      }
    }, opts.durable ?? true);
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

  mounted(_key: string): boolean {
    return false;
  }

  async remove(key: string): Promise<void> {
    await this.info(key);
    await fsp.rm(await moveToTmp(this.root, this.dir(key), `del-${key}-`), { recursive: true, force: true });
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

  async hasDirectory(key: string, path: string): Promise<boolean> {
    await this.info(key);
    return new LowerView([this.mergedDir(key)]).lookup(path.replace(/^\/+/, ''))?.st.isDirectory() ?? false;
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
