import { createReadStream, createWriteStream, promises as fsp, type Stats } from 'node:fs';
import { posix } from 'node:path';
import { Transform, type Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import * as tar from 'tar-stream';
import { cleanPath, rebaseEntryName, splitPathDirEntry } from './cp-paths';

/**
 * The host side of `berth cp`: a tar of a local path to upload, and extraction of the
 * daemon's tar into a local directory. Extraction treats the archive as hostile: no
 * entry may land outside the destination, whether by `..`, an absolute name, a link
 * created by the archive or one already on disk.
 */

/** An fs error in Go's words (`lstat /x: no such file or directory`), as docker prints them. */
export function goFsError(e: unknown): Error {
  const err = e as NodeJS.ErrnoException;
  const words: Record<string, string> = {
    ENOENT: 'no such file or directory', ENOTDIR: 'not a directory', EACCES: 'permission denied', EPERM: 'operation not permitted',
    EEXIST: 'file exists', EISDIR: 'is a directory', ELOOP: 'too many levels of symbolic links', EROFS: 'read-only file system',
    ENOSPC: 'no space left on device', ENOTEMPTY: 'directory not empty', EXDEV: 'invalid cross-device link',
  };
  if (!err?.code || !words[err.code] || !err.path) return err instanceof Error ? err : new Error(String(e));
  const op = err.syscall === 'symlink' || err.syscall === 'link' ? `${err.syscall} ${err.path} ${(err as { dest?: string }).dest ?? ''}`.trim() : `${err.syscall} ${err.path}`;
  return new Error(`${op}: ${words[err.code]}`);
}

/** What tar-stream's pack.entry takes. */
type EntryHeader = Partial<tar.Header> & Pick<tar.Header, 'name'>;

async function lstatOrUndefined(p: string): Promise<Stats | undefined> {
  try {
    return await fsp.lstat(p);
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
    throw goFsError(e);
  }
}

function tarType(st: Stats): tar.Header['type'] | undefined {
  if (st.isFile()) return 'file';
  if (st.isDirectory()) return 'directory';
  if (st.isSymbolicLink()) return 'symlink';
  if (st.isFIFO()) return 'fifo';
  if (st.isCharacterDevice()) return 'character-device';
  if (st.isBlockDevice()) return 'block-device';
  return undefined; // sockets have no tar form
}

/** Directory entries in Go's lexical (byte) order, as docker's walk writes them. */
async function sortedEntries(dir: string): Promise<string[]> {
  return (await fsp.readdir(dir)).sort((a, b) => Buffer.compare(Buffer.from(a), Buffer.from(b)));
}

/**
 * A tar of the local `source` (a file, link or directory tree), its entries named from
 * the source's last element (`tree/…`, `./…` for `dir/.`) or from `rebaseName` when set.
 * Links are stored, never followed; a second name of a file already sent is a hard link.
 */
export function packLocalPath(source: string, rebaseName = ''): Readable {
  const pack = tar.pack();
  const { dir, base } = splitPathDirEntry(source);
  const root = posix.join(dir, base);
  const seen = new Map<string, string>();
  const entry = (h: EntryHeader, body?: Readable): Promise<void> =>
    new Promise((resolve, reject) => {
      const done = (err?: Error | null) => (err ? reject(err) : resolve());
      if (!body) {
        pack.entry(h, done);
        return;
      }
      const sink = pack.entry(h, done);
      body.on('error', (e) => sink.destroy(e));
      body.pipe(sink as unknown as NodeJS.WritableStream);
    });
  const add = async (path: string, name: string): Promise<void> => {
    const st = await fsp.lstat(path);
    const type = tarType(st);
    if (!type) return;
    const header: EntryHeader = {
      name: type === 'directory' ? `${name}/` : name,
      mode: st.mode & 0o7777,
      uid: st.uid,
      gid: st.gid,
      mtime: new Date(Math.floor(st.mtimeMs / 1000) * 1000),
      type,
    };
    const inode = `${st.dev}:${st.ino}`;
    if (type === 'file' && st.nlink > 1 && seen.has(inode)) {
      await entry({ ...header, type: 'link', linkname: seen.get(inode)!, size: 0 });
      return;
    }
    if (type === 'file' && st.nlink > 1) seen.set(inode, name);
    if (type === 'symlink') header.linkname = await fsp.readlink(path);
    if (type === 'character-device' || type === 'block-device') {
      header.devmajor = Math.floor(st.rdev / 256);
      header.devminor = st.rdev % 256;
    }
    if (type === 'file') {
      await entry({ ...header, size: st.size }, createReadStream(path));
      return;
    }
    await entry(header);
    if (type === 'directory') {
      for (const child of await sortedEntries(path)) await add(posix.join(path, child), `${name}/${child}`);
    }
  };
  add(root, rebaseName ? rebaseEntryName(base, base, rebaseName) : base).then(
    () => pack.finalize(),
    (e) => pack.destroy(goFsError(e)),
  );
  return pack as unknown as Readable;
}

/** Renames the copied thing's entries `from` → `to` as they pass (tar in, tar out). */
export function rebaseArchive(input: Readable, from: string, to: string): Readable {
  const extract = tar.extract();
  const pack = tar.pack();
  (async () => {
    for await (const e of extract) {
      const h = { ...e.header, name: rebaseEntryName(e.header.name, from, to) };
      if (h.type === 'link') h.linkname = rebaseEntryName(h.linkname, from, to);
      await new Promise<void>((resolve, reject) => {
        const sink = pack.entry(h, (err) => (err ? reject(err) : resolve()));
        e.pipe(sink as unknown as NodeJS.WritableStream);
      });
    }
    pack.finalize();
  })().catch((err: Error) => pack.destroy(err));
  input.on('error', (err) => extract.destroy(err));
  input.pipe(extract as unknown as NodeJS.WritableStream);
  return pack as unknown as Readable;
}

/** A byte counter in a stream's path, for docker's "Successfully copied" size. */
export function countBytes(onBytes: (n: number) => void): Transform {
  return new Transform({
    transform(chunk: Buffer, _enc, cb) {
      onBytes(chunk.length);
      cb(null, chunk);
    },
  });
}

function inside(root: string, p: string): boolean {
  return p === root || p.startsWith(root === '/' ? '/' : `${root}/`);
}

/**
 * The real directory `rel` names under `root`, made (0755) where missing. A symlink on
 * the way is followed only while it stays inside the root; one that leads out is refused,
 * so an archive (or the disk) can never redirect a write outside the destination.
 */
async function ensureDirIn(root: string, rel: string, name: string): Promise<string> {
  let cur = root;
  for (const part of rel.split('/').filter((s) => s && s !== '.')) {
    const next = posix.join(cur, part);
    const st = await lstatOrUndefined(next);
    if (!st) {
      await fsp.mkdir(next, 0o755).catch((e) => { throw goFsError(e); });
      cur = next;
    } else if (st.isSymbolicLink()) {
      const real = await fsp.realpath(next).catch(() => '');
      if (!real || !inside(root, real)) throw new Error(`refusing to extract ${JSON.stringify(name)}: ${JSON.stringify(next)} is a symbolic link leading outside ${JSON.stringify(root)}`);
      if (!(await fsp.stat(real)).isDirectory()) throw new Error(`mkdir ${next}: not a directory`);
      cur = real;
    } else if (st.isDirectory()) {
      cur = next;
    } else {
      throw new Error(`mkdir ${next}: not a directory`);
    }
  }
  return cur;
}

interface DirTimes {
  path: string;
  mtime: Date;
}

/**
 * Extracts a tar into `dest` as docker's CLI does (no ownership change; an existing
 * directory and a non-directory never replace each other), refusing any entry that
 * would land outside `dest`.
 */
export async function extractArchive(input: Readable, dest: string): Promise<void> {
  const root = await fsp.realpath(cleanPath(dest)).catch((e) => { throw goFsError(e); });
  const shown = cleanPath(dest);
  const extract = tar.extract();
  input.on('error', (e) => extract.destroy(e));
  input.pipe(extract as unknown as NodeJS.WritableStream);
  const dirs: DirTimes[] = [];
  for await (const e of extract) {
    const h = e.header;
    const name = cleanPath(h.name);
    const rel = posix.relative(root, posix.join(root, name));
    if (rel === '..' || rel.startsWith('../')) throw new Error(`${JSON.stringify(name)} is outside of ${JSON.stringify(shown)}`);
    const parent = await ensureDirIn(root, posix.dirname(rel), name);
    const path = rel === '' ? root : posix.join(parent, posix.basename(rel));
    await extractEntry(e as unknown as Readable, h, path, root, shown, rel === '');
    if (h.type === 'directory') dirs.push({ path, mtime: h.mtime });
  }
  for (const d of dirs) await fsp.utimes(d.path, d.mtime, d.mtime).catch((err) => { throw goFsError(err); });
}

async function extractEntry(body: Readable, h: tar.Header, path: string, root: string, shown: string, isRoot: boolean): Promise<void> {
  const existing = await lstatOrUndefined(path);
  const isDir = h.type === 'directory';
  if (existing) {
    if (existing.isDirectory() && !isDir) throw new Error(`cannot overwrite directory ${JSON.stringify(path)} with non-directory ${JSON.stringify(shown)}`);
    if (!existing.isDirectory() && isDir) throw new Error(`cannot overwrite non-directory ${JSON.stringify(path)} with directory ${JSON.stringify(shown)}`);
    if (existing.isDirectory() && isRoot) return void body.resume();
    if (!existing.isDirectory()) await fsp.rm(path, { recursive: true, force: true });
  }
  const mode = h.mode & 0o7777;
  try {
    switch (h.type) {
      case 'directory':
        if (!existing) await fsp.mkdir(path, mode);
        await fsp.chmod(path, mode);
        body.resume();
        return;
      case 'file':
      case 'contiguous-file':
        // 'wx': never opened through a link that raced in; the path was cleared above.
        await pipeline(body, createWriteStream(path, { flags: 'wx', mode }));
        await fsp.chmod(path, mode);
        await fsp.utimes(path, h.mtime, h.mtime);
        return;
      case 'symlink': {
        const target = posix.join(posix.dirname(path), h.linkname);
        if (!inside(root, target)) throw new Error(`invalid symlink ${JSON.stringify(path)} -> ${JSON.stringify(h.linkname)}`);
        await fsp.symlink(h.linkname, path);
        await fsp.lutimes(path, h.mtime, h.mtime);
        body.resume();
        return;
      }
      case 'link': {
        const target = posix.join(root, h.linkname);
        if (!inside(root, target)) throw new Error(`invalid hardlink ${JSON.stringify(target)} -> ${JSON.stringify(h.linkname)}`);
        const relTarget = posix.relative(root, target);
        const dir = await ensureDirIn(root, posix.dirname(relTarget), h.linkname);
        await fsp.link(posix.join(dir, posix.basename(relTarget)), path);
        body.resume();
        return;
      }
      default:
        // Device nodes and fifos: node cannot make them; the rest of the copy goes on.
        body.resume();
        return;
    }
  } catch (e) {
    body.resume();
    if (e instanceof Error && !(e as NodeJS.ErrnoException).code) throw e;
    throw goFsError(e);
  }
}
