/**
 * The extraction of one tar into a container's directory (ContainerFs.extract), with
 * synchronous system calls only: it runs on a worker thread (extract-worker.ts), where
 * blocking is what is wanted, fed by a TarReader.
 *
 * Rules (ContainerFs's contract): names are cleaned lexically and refused if they climb
 * out; parents are resolved inside the container with the engine's resolver (sys
 * walkInRootSync), created 0755 when missing; the last component is never followed;
 * files, symlinks, hardlinks and fifos are made under a temporary name in their final
 * directory and renamed into place; device nodes are skipped; directories' times are set
 * last. Every path used is a handle path (/proc/self/fd/N/name) reached without following
 * links, so nothing outside the root filesystem or a mount's source is touched.
 *
 * Crash safety: before the first temporary name is made in a directory, its container
 * path is appended to the journal file (when given), so removeLeftovers can clear what a
 * kill -9 leaves. On failure, cleanup() removes the temporary names of this extraction.
 */
import { randomBytes } from 'node:crypto';
import { closeSync, constants as fsc, fchmodSync, fchownSync, futimesSync, lchownSync, linkSync, lutimesSync, mkdirSync, openSync, readdirSync, readlinkSync, renameSync, rmdirSync, symlinkSync, unlinkSync, chmodSync, writeSync, type Stats } from 'node:fs';
import { posix } from 'node:path';
import { invalidArgument, isErrno } from '../common';
import { mknod, S_IFIFO, walkInRootSync } from '../sys';
import { cleanName, openDirNoFollow, TEMP_PREFIX, type ContainerFs, type DirHandle } from './container-fs';
import type { ExtractOptions, IdRange } from './extract-options';
import { lstatOrNullSync } from './lower-view';
import type { TarEntryHeader, TarSink } from './tar-reader';

/** Directory handles an extraction keeps open at most. */
const MAX_KEPT_DIRS = 64;
/** Names made in new directories that an extraction remembers at most (see `fresh`). */
const MAX_TRACKED = 100_000;

interface OpenFile {
  fd: number;
  tmp: string;
  dir: DirHandle;
  name: string;
  h: TarEntryHeader;
  existing: Stats | null;
}

export class SyncExtractor implements TarSink {
  /** Container paths known to be real directories. */
  private readonly dirs = new Set<string>();
  /**
   * Directories this extraction made, and what it made in them: any other name in them
   * is known to be absent without an lstat (most of a copy into a new directory).
   * Dropped past MAX_TRACKED names, which only costs the lstats again.
   */
  private fresh = new Set<string>();
  private made = new Set<string>();
  private readonly dirTimes = new Map<string, { atime: number; mtime: number }>();
  /** Temporary names not yet renamed into place (removed on failure); at most one at a time. */
  private readonly temps = new Set<string>();
  private readonly journalled = new Set<string>();
  private journalFd: number | undefined;
  private readonly tempStem = `${randomBytes(6).toString('hex')}-`;
  private tempCount = 0;
  /** Handles of the directories entries were made in, by container path (see parentOf). */
  private readonly parents = new Map<string, DirHandle>();
  private readonly maxPath: number;
  private readonly destParts: string[];
  /** The regular file whose data is being written. */
  private file: OpenFile | undefined;

  constructor(
    private readonly fs: ContainerFs,
    dest: string,
    private readonly opts: ExtractOptions,
  ) {
    this.maxPath = opts.maxPathLength ?? 4096;
    this.destParts = dest.split('/').filter((c) => c !== '');
  }

  entry(h: TarEntryHeader): void {
    const parts = cleanName(h.name, this.maxPath);
    const base = parts[parts.length - 1];
    if (base === undefined) return; // the archive's root ("./"): the destination itself stays as it is
    const parent = this.resolveParent([...this.destParts, ...parts.slice(0, -1)], true);
    const cpath = posix.join(parent, base);
    const refusal = this.fs.writeRefusal(cpath);
    if (refusal) throw invalidArgument(refusal);
    const isDir = h.type === 'directory';
    const mountPoint = this.fs.isMountPoint(cpath);
    if (mountPoint && !isDir) throw invalidArgument(`cannot replace the mount point ${cpath} with a ${h.type}`);
    const { dir, name } = mountPoint ? this.fs.locateSync(cpath) : this.parentOf(cpath);
    let keep = !mountPoint;
    try {
      const existing = !mountPoint && this.fresh.has(parent) && !this.made.has(cpath) ? null : lstatOrNullSync(dir.at(name));
      if (existing && this.opts.noOverwriteDirNonDir) {
        if (existing.isDirectory() && !isDir) throw invalidArgument(`cannot overwrite directory "${cpath}" with non-directory "${h.name}"`);
        if (!existing.isDirectory() && isDir) throw invalidArgument(`cannot overwrite non-directory "${cpath}" with directory "${h.name}"`);
      }
      keep = this.make(h, dir, name, cpath, existing) || keep;
      if (this.fresh.has(parent)) this.track(cpath);
    } finally {
      if (!keep) dir.close();
    }
  }

  data(chunk: Buffer): void {
    const f = this.file;
    if (!f) return; // data of an entry that was not made (a device node)
    let off = 0;
    while (off < chunk.length) off += writeSync(f.fd, chunk, off, chunk.length - off);
  }

  end(): void {
    const f = this.file;
    if (!f) return;
    this.file = undefined;
    try {
      // Owner, mode and times through the open file: no more path lookups than the open.
      const host = this.hostOwner(f.h);
      fchownSync(f.fd, host.uid, host.gid);
      fchmodSync(f.fd, f.h.mode & 0o7777);
      const t = times(f.h);
      futimesSync(f.fd, t.atime, t.mtime);
    } finally {
      closeSync(f.fd);
    }
    this.rename(f.dir, f.tmp, f.name, f.existing);
  }

  /** Sets the directories' times, last (making entries in them changed their mtime). */
  finish(): void {
    for (const [cpath, t] of this.dirTimes) {
      const { dir, name } = this.fs.locateSync(cpath);
      try {
        if (lstatOrNullSync(dir.at(name))?.isDirectory()) lutimesSync(dir.at(name), t.atime, t.mtime);
      } finally {
        dir.close();
      }
    }
  }

  /** Removes the temporary names not renamed into place (after a failure). */
  cleanup(): void {
    if (this.file) {
      closeSync(this.file.fd);
      this.file = undefined;
    }
    for (const tmp of this.temps) {
      try {
        unlinkSync(tmp);
      } catch {
        // gone already, or the directory with it
      }
    }
    this.temps.clear();
  }

  /** Closes the kept directory handles and the journal (after finish or cleanup). */
  close(): void {
    for (const h of this.parents.values()) h.close();
    this.parents.clear();
    if (this.journalFd !== undefined) closeSync(this.journalFd);
    this.journalFd = undefined;
  }

  /** Makes the entry; true when a file's data is to follow in `dir` (the caller must not close it). */
  private make(h: TarEntryHeader, dir: DirHandle, name: string, cpath: string, existing: Stats | null): boolean {
    const abs = dir.at(name);
    switch (h.type) {
      case 'directory':
        if (!existing?.isDirectory()) {
          if (existing) removeTree(dir, name);
          mkdirSync(abs, 0o700);
          this.track(cpath, true);
        }
        this.dirs.add(cpath);
        this.setOwnerAndMode(abs, h, false);
        this.dirTimes.set(cpath, times(h));
        return false;
      case 'file':
      case 'contiguous-file': {
        const tmp = this.tempName(dir, cpath);
        const fd = openSync(tmp, fsc.O_WRONLY | fsc.O_CREAT | fsc.O_EXCL | fsc.O_NOFOLLOW, 0o600);
        this.file = { fd, tmp, dir, name, h, existing };
        return true;
      }
      case 'symlink': {
        const target = h.linkname;
        if (target === '' || target.includes('\0') || Buffer.byteLength(target) > this.maxPath) throw invalidArgument(`the archive's symlink ${JSON.stringify(h.name)} has an invalid target`);
        const tmp = this.tempName(dir, cpath);
        symlinkSync(target, tmp);
        this.setOwnerAndMode(tmp, h, true);
        const t = times(h);
        lutimesSync(tmp, t.atime, t.mtime);
        this.rename(dir, tmp, name, existing);
        return false;
      }
      case 'link': {
        const tparts = cleanName(h.linkname, this.maxPath);
        const tbase = tparts[tparts.length - 1];
        if (tbase === undefined) throw invalidArgument(`the archive's hardlink ${JSON.stringify(h.name)} points at the destination itself`);
        const tparent = this.resolveParent([...this.destParts, ...tparts.slice(0, -1)], false);
        const target = this.fs.locateSync(posix.join(tparent, tbase));
        try {
          const tabs = target.dir.at(target.name);
          const tst = lstatOrNullSync(tabs);
          if (!tst || tst.isDirectory()) throw invalidArgument(`the archive's hardlink ${JSON.stringify(h.name)} points at ${JSON.stringify(h.linkname)}, which is not a file the archive holds`);
          if (existing && existing.ino === tst.ino && existing.dev === tst.dev) return false;
          const tmp = this.tempName(dir, cpath);
          // link(2) does not follow a symlink it is given as the old name.
          linkSync(tabs, tmp);
          this.rename(dir, tmp, name, existing);
          // rename(2) of two names of one inode does nothing: the temporary name stays.
          try {
            unlinkSync(tmp);
          } catch (err) {
            if (!isErrno(err, 'ENOENT')) throw err;
          }
        } finally {
          target.dir.close();
        }
        return false;
      }
      case 'fifo': {
        const tmp = this.tempName(dir, cpath);
        mknod(tmp, S_IFIFO | 0o600, 0);
        this.setOwnerAndMode(tmp, h, false);
        this.rename(dir, tmp, name, existing);
        return false;
      }
      case 'character-device':
      case 'block-device':
        return false; // never: a copy has no business handing a container a host device
    }
  }

  /** Notes that `cpath` exists now (and is a directory this extraction made, when `dir`). */
  private track(cpath: string, dir = false): void {
    if (this.made.size >= MAX_TRACKED) {
      this.fresh = new Set();
      this.made = new Set();
      return;
    }
    this.made.add(cpath);
    if (dir) this.fresh.add(cpath);
  }

  /** A new temporary name in `dir`, journalled first. */
  private tempName(dir: DirHandle, cpath: string): string {
    const parent = posix.dirname(cpath);
    if (this.opts.journal && !this.journalled.has(parent)) {
      this.journalFd ??= openSync(this.opts.journal, 'a', 0o600);
      writeSync(this.journalFd, `${parent}\n`);
      this.journalled.add(parent);
    }
    const tmp = dir.at(`${TEMP_PREFIX}${this.tempStem}${(this.tempCount++).toString(36)}`);
    this.temps.add(tmp);
    return tmp;
  }

  private rename(dir: DirHandle, tmp: string, name: string, existing: Stats | null): void {
    if (existing?.isDirectory()) removeTree(dir, name);
    renameSync(tmp, dir.at(name));
    this.temps.delete(tmp);
  }

  /**
   * The handle of the directory holding `cpath`, located once per directory and kept for
   * the extraction: entries of one directory come one after another in an archive. A kept
   * handle names the directory itself: a container that renames or swaps the path
   * meanwhile can only move it within the same mount, never make the copy reach the host.
   */
  private parentOf(cpath: string): { dir: DirHandle; name: string } {
    const parent = posix.dirname(cpath);
    let dir = this.parents.get(parent);
    if (!dir) {
      dir = this.fs.locateSync(cpath).dir;
      if (this.parents.size >= MAX_KEPT_DIRS) {
        const [oldest, h] = this.parents.entries().next().value as [string, DirHandle];
        this.parents.delete(oldest);
        // Never the directory of a pending file: a file's data ends before the next entry.
        h.close();
      }
      this.parents.set(parent, dir);
    }
    return { dir, name: posix.basename(cpath) };
  }

  private hostOwner(h: TarEntryHeader): { uid: number; gid: number } {
    const owner = this.opts.owner ?? { uid: h.uid, gid: h.gid };
    const m = this.opts.idMap;
    return m ? { uid: toHost(m.uids, owner.uid, 'uid'), gid: toHost(m.gids, owner.gid, 'gid') } : owner;
  }

  private setOwnerAndMode(abs: string, h: TarEntryHeader, isLink: boolean): void {
    const host = this.hostOwner(h);
    lchownSync(abs, host.uid, host.gid);
    if (!isLink) chmodSync(abs, h.mode & 0o7777);
  }

  /**
   * The container path of the directory `parts` names, resolved inside the container;
   * missing directories are created (0755) when `create`, anything else in the way is
   * refused. Every look and every mkdir goes through a located handle.
   */
  private resolveParent(parts: string[], create: boolean): string {
    const path = parts.join('/');
    const rel = walkInRootSync(this.fs.rootfs, path, (r) => {
      const cpath = `/${r}`;
      if (this.dirs.has(cpath)) return undefined;
      const { dir, name } = this.fs.locateSync(cpath);
      try {
        const abs = dir.at(name);
        const st = lstatOrNullSync(abs);
        if (!st) {
          if (!create) throw invalidArgument(`the archive refers to ${cpath}, which does not exist`);
          const refusal = this.fs.writeRefusal(cpath);
          if (refusal) throw invalidArgument(refusal);
          mkdirSync(abs, 0o755);
          this.track(cpath, true);
          // Made for the copy: root's, as the container sees root.
          if (this.opts.idMap) {
            const root = { uid: toHost(this.opts.idMap.uids, 0, 'uid'), gid: toHost(this.opts.idMap.gids, 0, 'gid') };
            lchownSync(abs, root.uid, root.gid);
          }
        } else if (st.isSymbolicLink()) {
          return readlinkSync(abs);
        } else if (!st.isDirectory()) {
          throw invalidArgument(`cannot copy to ${JSON.stringify(`/${path}`)}: ${cpath} is not a directory`);
        }
      } finally {
        dir.close();
      }
      this.dirs.add(cpath);
      return undefined;
    });
    return `/${rel}`;
  }
}

/** runtime's toHost, on plain ranges: the host id of a container id. */
function toHost(map: readonly IdRange[], id: number, what: string): number {
  for (const m of map) if (id >= m.containerID && id < m.containerID + m.size) return m.hostID + (id - m.containerID);
  throw invalidArgument(`container ${what} ${id} cannot be mapped to a host ${what}: it is outside the daemon's --userns-remap ranges`);
}

function times(h: TarEntryHeader): { atime: number; mtime: number } {
  return { atime: h.atime ?? h.mtime, mtime: h.mtime };
}


/**
 * Removes `name` in `dir` and, for a directory, everything below it, each level through
 * a handle opened without following: a directory swapped for a link meanwhile is refused,
 * never descended into.
 */
function removeTree(dir: DirHandle, name: string): void {
  const abs = dir.at(name);
  const st = lstatOrNullSync(abs);
  if (!st) return;
  if (!st.isDirectory()) {
    try {
      unlinkSync(abs);
    } catch (err) {
      if (!isErrno(err, 'ENOENT')) throw err;
    }
    return;
  }
  const sub = openDirNoFollow(abs, name);
  try {
    for (const child of readdirSync(sub.path())) removeTree(sub, child);
  } finally {
    sub.close();
  }
  rmdirSync(abs);
}
