/**
 * COPY and ADD into a container root (a writable snapshot no process runs in): every
 * destination is resolved inside the root (a link in the image to `/etc` means the
 * root's etc), files are created without following a link at their own name, and
 * sources come from directories already resolved inside the context or an image.
 */
import { chmodSync, constants as fsc, lchownSync, lstatSync, lutimesSync, mkdirSync, promises as fsp, rmSync, symlinkSync, utimesSync, type Stats } from 'node:fs';
import { basename, join, posix } from 'node:path';
import { invalidArgument } from '../common';
import { mkdirIn, resolveInRoot } from '../storage';
import { decompressAny, looksLikeTar, unpackTar } from './archive';
import type { Source, SourceTree } from './source-tree';

export interface Owner {
  uid: number;
  gid: number;
}

export interface CopyOptions {
  /** --chown's owner; root when absent. */
  owner?: Owner;
  /** --chmod's mode. */
  chmod?: number;
  /** ADD: local tar archives are unpacked into the destination. */
  extractArchives?: boolean;
  /** Maps an owner the container should see to the one written on disk (--userns-remap). */
  onDisk?(o: Owner): Owner;
  /** --exclude patterns (matched against paths relative to each source). */
  exclude?: (rel: string) => boolean;
}

/** Copies `sources` of `tree` to `dest` (an absolute path in the container) under `root`. */
export async function copyInto(root: string, tree: SourceTree, sources: Source[], dest: string, o: CopyOptions): Promise<void> {
  const owner = o.onDisk ? o.onDisk(o.owner ?? { uid: 0, gid: 0 }) : o.owner ?? { uid: 0, gid: 0 };
  const destIsDir = dest.endsWith('/') || sources.length > 1;
  const destPath = posix.normalize(dest);
  for (const s of sources) {
    const st = tree.lstat(s.key);
    if (!st) continue;
    if (st.kind === 'dir') {
      const target = await mkdirIn(root, destPath, owner);
      await copyTree(root, tree, s.key, target, destPath, o, owner, '');
      continue;
    }
    if (o.extractArchives && st.kind === 'file' && (await isArchive(tree, s.key))) {
      const target = await mkdirIn(root, destPath, owner);
      await unpackTar(tree.open(s.key), target, { ...(o.owner ? { owner: o.owner } : {}), ...(o.onDisk ? { mapOwner: o.onDisk } : {}) });
      continue;
    }
    let containerPath = destPath;
    const name = basename(s.rel || s.key);
    if (destIsDir) containerPath = posix.join(destPath, name);
    else {
      const existing = await fsp.stat(await resolveInRoot(root, destPath)).catch(() => undefined);
      if (existing?.isDirectory()) containerPath = posix.join(destPath, name);
    }
    const parent = await mkdirIn(root, posix.dirname(containerPath), owner);
    copyFileNow(tree, s.key, join(parent, posix.basename(containerPath)), st.mode, o, owner, st.mtime);
  }
}

async function isArchive(tree: SourceTree, key: string): Promise<boolean> {
  try {
    const { head, stream } = await decompressAny(tree.open(key));
    stream.destroy();
    return looksLikeTar(head);
  } catch {
    return false;
  }
}

/** Synchronous: a build copies many small files, and a thread-pool round trip per call costs more than the call. */
function copyFileNow(tree: SourceTree, key: string, dst: string, srcMode: number, o: CopyOptions, owner: Owner, mtime: Date): void {
  const existing = lstatOrUndefined(dst);
  if (existing) rmSync(dst, { recursive: true, force: true });
  tree.copyTo(key, dst);
  lchownSync(dst, owner.uid, owner.gid);
  chmodSync(dst, o.chmod ?? srcMode & 0o7777);
  utimesSync(dst, mtime, mtime);
}

function lstatOrUndefined(p: string): Stats | undefined {
  try {
    return lstatSync(p);
  } catch {
    return undefined;
  }
}

async function copyTree(root: string, tree: SourceTree, srcDir: string, dstDir: string, containerDir: string, o: CopyOptions, owner: Owner, rel: string): Promise<void> {
  for (const name of tree.readdir(srcDir)) {
    const r = rel ? `${rel}/${name}` : name;
    if (o.exclude?.(r)) continue;
    const src = tree.join(srcDir, name);
    const st = tree.lstat(src);
    if (!st) continue;
    const cPath = posix.join(containerDir, name);
    let dst = join(dstDir, name);
    if (st.kind === 'dir') {
      const ex = lstatOrUndefined(dst);
      // A link in the image where the source has a directory is followed, inside the root.
      if (ex?.isSymbolicLink()) dst = await resolveInRoot(root, cPath);
      const ex2 = ex?.isSymbolicLink() ? lstatOrUndefined(dst) : ex;
      if (ex2 && !ex2.isDirectory()) rmSync(dst, { force: true });
      if (!ex2?.isDirectory()) mkdirSync(dst, { mode: st.mode });
      lchownSync(dst, owner.uid, owner.gid);
      chmodSync(dst, o.chmod ?? st.mode);
      await copyTree(root, tree, src, dst, cPath, o, owner, r);
      utimesSync(dst, st.mtime, st.mtime);
    } else if (st.kind === 'symlink') {
      if (lstatOrUndefined(dst)) rmSync(dst, { recursive: true, force: true });
      symlinkSync(tree.readlink(src), dst);
      lchownSync(dst, owner.uid, owner.gid);
      try {
        lutimesSync(dst, st.mtime, st.mtime);
      } catch {
        // not every filesystem keeps link times
      }
    } else if (st.kind === 'file') {
      copyFileNow(tree, src, dst, st.mode, o, owner, st.mtime);
    }
  }
}

/** Writes `content` as the file `dest` (COPY <<EOF). */
export async function writeFileIn(root: string, dest: string, content: string, owner: Owner, mode: number): Promise<void> {
  const parent = await mkdirIn(root, posix.dirname(dest), owner);
  const dst = join(parent, posix.basename(dest));
  const existing = await fsp.lstat(dst).catch(() => undefined);
  if (existing) await fsp.rm(dst, { recursive: true, force: true });
  const fh = await fsp.open(dst, fsc.O_WRONLY | fsc.O_CREAT | fsc.O_EXCL | fsc.O_NOFOLLOW, mode);
  try {
    await fh.writeFile(content);
    await fh.chown(owner.uid, owner.gid);
    await fh.chmod(mode);
  } finally {
    await fh.close();
  }
}

/** `user[:group]` of --chown, names looked up in the root's /etc/passwd and /etc/group. */
export async function resolveOwner(root: string, spec: string): Promise<Owner> {
  const [u, g] = spec.split(':') as [string, string | undefined];
  const read = async (f: string) => (await fsp.readFile(await resolveInRoot(root, f), 'utf8').catch(() => '')).split('\n').map((l) => l.split(':'));
  let uid: number;
  let gid: number | undefined;
  if (/^\d+$/.test(u)) uid = Number(u);
  else {
    const row = (await read('/etc/passwd')).find((r) => r[0] === u);
    if (!row) throw invalidArgument(`unable to convert uid/gid chown string to host mapping: can't find uid for user ${u}: no such user: ${u}`);
    uid = Number(row[2]);
    if (g === undefined) gid = Number(row[3]);
  }
  if (g !== undefined && g !== '') {
    if (/^\d+$/.test(g)) gid = Number(g);
    else {
      const row = (await read('/etc/group')).find((r) => r[0] === g);
      if (!row) throw invalidArgument(`unable to convert uid/gid chown string to host mapping: can't find gid for group ${g}: no such group: ${g}`);
      gid = Number(row[2]);
    }
  }
  return { uid, gid: gid ?? uid };
}
