/**
 * Copying a file tree with everything `cp -a` keeps: contents, owners, modes (setuid
 * bits included), times, xattrs (overlay's own left out), symlinks as links, devices
 * and fifos; files hardlinked inside the tree stay hardlinked in the copy. Sockets are
 * not copied. Nothing is followed: a symlink is copied as a symlink, so a hostile tree
 * cannot make the copy read or write outside it.
 *
 * Contract
 * - `copyTree(source, dest)`: `dest` must exist and be empty; it ends up with the
 *   source root's owner, mode, xattrs and times too (as `cp -a src/. dest/`). The
 *   source is a `TreeSource`: a layer stack seen as one tree (`LowerView`) or a plain
 *   directory (`DirTree`). It must not change during the copy.
 * - `copyUp(sourceDir, dest)`: Docker's volume copy-up. When `dest` is empty and
 *   `sourceDir` is a directory, copies it there and returns true; otherwise leaves
 *   `dest` alone and returns false. Errors are the file system's, unwrapped.
 */
import { constants as fsc, promises as fsp, type Stats } from 'node:fs';
import { join } from 'node:path';
import { isErrno } from '../common';
import { lsetxattr, mknod, S_IFBLK, S_IFCHR, S_IFIFO } from '../sys';
import { byteOrder, type ViewEntry } from './lower-view';
import { readXattrs } from './tar-writer';

/** A read-only tree to walk: its root, and each directory's children. */
export interface TreeSource {
  root(): ViewEntry | null | Promise<ViewEntry | null>;
  list(dir: ViewEntry): Promise<ViewEntry[]>;
}

/** A plain directory as a TreeSource: what is on disk, nothing hidden. */
export class DirTree implements TreeSource {
  constructor(readonly dir: string) {}

  async root(): Promise<ViewEntry> {
    return { name: '', rel: '', abs: this.dir, st: await fsp.lstat(this.dir), layers: [] };
  }

  async list(dir: ViewEntry): Promise<ViewEntry[]> {
    const out: ViewEntry[] = [];
    for (const name of (await fsp.readdir(dir.abs)).sort(byteOrder)) {
      const abs = join(dir.abs, name);
      out.push({ name, rel: dir.rel ? `${dir.rel}/${name}` : name, abs, st: await fsp.lstat(abs), layers: [] });
    }
    return out;
  }
}

export async function copyTree(source: TreeSource, dest: string): Promise<void> {
  const root = await source.root();
  if (!root) return;
  const links = new Map<string, string>();
  const dirTimes: Array<[string, number, number]> = [];
  const walk = async (dir: ViewEntry): Promise<void> => {
    for (const e of await source.list(dir)) {
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
  // Directory times last: creating their entries above changed them.
  for (const [p, a, m] of dirTimes) await fsp.utimes(p, a, m);
}

export async function copyUp(sourceDir: string, dest: string): Promise<boolean> {
  if ((await fsp.readdir(dest)).length > 0) return false;
  let st: Stats;
  try {
    st = await fsp.lstat(sourceDir);
  } catch (err) {
    if (isErrno(err, 'ENOENT') || isErrno(err, 'ENOTDIR')) return false;
    throw err;
  }
  if (!st.isDirectory()) return false;
  await copyTree(new DirTree(sourceDir), dest);
  return true;
}

/** chown, xattrs, chmod (chown clears setuid bits and capabilities), then times. */
async function copyMetadata(from: string, to: string, st: Stats): Promise<void> {
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
