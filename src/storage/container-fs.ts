/**
 * A container's filesystem as its processes see it, for `docker cp`: the root
 * filesystem with the container's volumes and binds laid over it at their mount
 * points, read and written from the host without entering the container.
 *
 * Contract
 * - Paths are container paths. They are resolved with the kernel's rules inside the
 *   container (sys walkInRoot, the engine's one resolver): a symlink restarts at the
 *   container's `/`, `..` never climbs above it; a component that lies in a mount is
 *   read from the mount's source. The host path of anything this class touches is
 *   therefore always below `rootfs` or below a mount's source, whatever links the
 *   tree holds (`ln -s / escape` means the container's root, never the host's).
 * - `stat` and `tar` follow Docker's rules (dockerd's archive.go, go-archive's rebase):
 *   the last component is followed only when the path ends in `/` or `/.`; the tar of a
 *   directory names its entries `<base>/…` (`./…` for a path ending in `/.`), that of
 *   anything else holds the one entry `<base>`. Mount points below a tarred directory
 *   contribute their mount's content.
 * - `extract` unpacks a tar (plain, gzip or zstd) into an existing directory. The tar
 *   is hostile: names are cleaned lexically and refused if they climb out; parents are
 *   resolved inside the container (created 0755 when missing); the last component is
 *   never followed: whatever is there is replaced (a directory over a directory merges).
 *   Files, symlinks, hardlinks and fifos are made under a temporary name in their final
 *   directory and renamed into place, so a reader never sees half a file. Device nodes
 *   are skipped. Hardlinks must name an entry of the same extraction's root.
 *   Directories' times are set last. Writes into read-only mounts or a read-only root
 *   are refused; a mount point itself is never replaced.
 * - The answer is only as good as the tree is still: a process of a running container
 *   may swap a directory for a link between resolution and use. Files are opened and
 *   created O_NOFOLLOW on the last component, which narrows but does not close that
 *   window (dockerd has the same one on the paths it resolves outside a chroot).
 *
 * Failures: a missing path → null (stat, tar); a path ending in `/` that is not a
 * directory → invalid-argument (lstat's ENOTDIR); hostile or
 * corrupt tars and refused writes → invalid-argument; disk errors → internal.
 */
import { randomBytes } from 'node:crypto';
import { chmodSync, closeSync, constants as fsc, fchmodSync, fchownSync, fstatSync, futimesSync, lchownSync, lstatSync, openSync, promises as fsp, readSync, renameSync, writeSync, type Stats } from 'node:fs';
import { join, posix } from 'node:path';
import { Readable } from 'node:stream';
import * as tarStream from 'tar-stream';
import { BerthError, decompressStream, drainOrClose, internal, invalidArgument, isErrno } from '../common';
import { mknod, S_IFIFO, walkInRoot } from '../sys';
import { encodeHeader, endOfArchive, headerFor, padding } from './tar-writer';

/** A volume or bind mount of the container, as cp sees it. */
export interface FsMount {
  /** Absolute, clean container path. */
  destination: string;
  /** Host path of what is mounted there. */
  source: string;
  rw: boolean;
}

/** dockerd's PathStat: `mode` is a Go os.FileMode. */
export interface PathStat {
  name: string;
  size: number;
  mode: number;
  mtime: string;
  linkTarget: string;
}

export interface ExtractOptions {
  /** Refuse to replace a directory with a non-directory or the reverse (dockerd's noOverwriteDirNonDir). */
  noOverwriteDirNonDir: boolean;
  /** Owner of every extracted entry (copyUIDGID), as the container sees it; the tar's owners when absent. */
  owner?: { uid: number; gid: number };
  /** Container ids → host ids (user-namespace remapping); identity when absent. */
  idShift?: (owner: { uid: number; gid: number }) => { uid: number; gid: number };
  /** Longest entry name or link target, in bytes. Default 4096. */
  maxPathLength?: number;
  /**
   * Told, once per directory and before the first temporary name is made in it, the
   * container path of each directory that gets temporary names, so that those a crash
   * leaves behind can be removed later (removeLeftovers).
   */
  journal?: (dirPath: string) => Promise<void>;
}

const MAX_COMPONENT = 255;
const TEMP_PREFIX = '.berth-cp-';
/** Directory handles an extraction keeps open at most. */
const MAX_KEPT_DIRS = 64;

type Entry = tarStream.ExtractEvents['entry'][1];

export class ContainerFs {
  private readonly mounts: FsMount[];

  constructor(
    readonly rootfs: string,
    mounts: readonly FsMount[],
    private readonly readonlyRootfs = false,
  ) {
    // Longest destination first: the innermost mount wins.
    this.mounts = [...mounts].map((m) => ({ ...m, destination: posix.normalize(m.destination).replace(/(.)\/+$/, '$1') })).sort((a, b) => b.destination.length - a.destination.length);
  }

  /** The mount a resolved container path lies in (undefined: the root filesystem) and its host path. */
  hostOf(cpath: string): { host: string; mount?: FsMount } {
    const p = posix.normalize(`/${cpath}`);
    for (const m of this.mounts) {
      if (p === m.destination) return { host: m.source, mount: m };
      if (m.destination === '/' || p.startsWith(`${m.destination}/`)) return { host: join(m.source, p.slice(m.destination.length)), mount: m };
    }
    return { host: join(this.rootfs, p) };
  }

  /** Whether `cpath` is exactly a mount point. */
  isMountPoint(cpath: string): boolean {
    const p = posix.normalize(`/${cpath}`);
    return this.mounts.some((m) => m.destination === p);
  }

  /**
   * An open handle on the directory holding the resolved container path `cpath`, and the
   * name to use below it. The handle is reached one component at a time, none of them
   * followed if it is a symlink, from the root filesystem or the mount's source; a
   * directory swapped for a link since `cpath` was resolved makes this fail instead of
   * leading elsewhere. A mount point itself is located in its source's host directory.
   */
  async locate(cpath: string): Promise<{ dir: DirHandle; name: string }> {
    const p = posix.normalize(`/${cpath}`);
    const mount = this.mounts.find((m) => m.destination === p);
    if (mount) return { dir: openBeneath(posix.dirname(mount.source), [], p), name: posix.basename(mount.source) };
    if (p === '/') return { dir: openBeneath(this.rootfs, [], p), name: '.' };
    const { root, rel } = this.anchor(posix.dirname(p));
    return { dir: openBeneath(root, rel, p), name: posix.basename(p) };
  }

  /** The host directory a resolved container path starts from, and the components below it. */
  private anchor(cpath: string): { root: string; rel: string[] } {
    const p = posix.normalize(`/${cpath}`);
    for (const m of this.mounts) {
      if (p === m.destination) return { root: m.source, rel: [] };
      if (m.destination === '/' || p.startsWith(`${m.destination}/`)) return { root: m.source, rel: comps(p.slice(m.destination.length)) };
    }
    return { root: this.rootfs, rel: comps(p) };
  }

  /** lstat of a resolved container path through a located handle; null when absent. */
  async lstatAt(cpath: string): Promise<Stats | null> {
    const { dir, name } = await this.locate(cpath).catch((err: unknown) => {
      if (isErrno(err, 'ENOENT') || isErrno(err, 'ENOTDIR')) return { dir: null, name: '' };
      throw err;
    });
    if (!dir) return null;
    try {
      return await lstatOrNull(dir.at(name));
    } finally {
      dir.close();
    }
  }

  /**
   * The container path `path` stands for, every symlink resolved inside the container
   * (the last one too when `followLast`); always absolute and clean.
   */
  async resolve(path: string, followLast: boolean): Promise<string> {
    const parts = path.split('/').filter((c) => c !== '');
    const last = parts[parts.length - 1];
    if (followLast || last === undefined || last === '.' || last === '..') return `/${await this.walk(parts.join('/'))}`;
    const parent = await this.walk(parts.slice(0, -1).join('/'));
    return posix.join('/', parent, last);
  }

  private walk(path: string): Promise<string> {
    return walkInRoot(this.rootfs, path, async (rel) => {
      try {
        return await fsp.readlink(this.hostOf(rel).host);
      } catch (err) {
        if (isErrno(err, 'EINVAL') || isErrno(err, 'ENOENT') || isErrno(err, 'ENOTDIR')) return undefined;
        throw err;
      }
    });
  }

  /** Docker's rule: a path ending in `/` or `/.` means what the last component points at. */
  private static followsLast(path: string): boolean {
    return path.endsWith('/') || path.endsWith('/.') || path === '.';
  }

  /** dockerd's stat of `path` (HEAD /archive), or null when it does not exist. */
  async stat(path: string): Promise<PathStat | null> {
    const found = await this.lookup(path);
    if (!found) return null;
    const { cpath, st } = found;
    const linkTarget = st.isSymbolicLink() ? await this.resolve(cpath, true) : '';
    return { name: dockerBase(path), size: st.size, mode: goFileMode(st), mtime: st.mtime.toISOString(), linkTarget };
  }

  private async lookup(path: string): Promise<{ cpath: string; st: Stats } | null> {
    const cpath = await this.resolve(path, ContainerFs.followsLast(path));
    const st = await this.lstatAt(cpath);
    if (!st) return null;
    // As lstat(2) answers for `file/`: a trailing slash asks for a directory.
    if (ContainerFs.followsLast(path) && !st.isDirectory()) throw invalidArgument(`lstat ${path}: not a directory`);
    return { cpath, st };
  }

  /** The tar of `path` (GET /archive) with its stat, or null when it does not exist. */
  async tar(path: string): Promise<{ stat: PathStat; stream: Readable } | null> {
    const stat = await this.stat(path);
    const found = await this.lookup(path);
    if (!stat || !found) return null;
    const rebase = dockerBase(path) === '/' ? '.' : dockerBase(path);
    const links = new Map<string, string>();
    const self = this;
    // One entry: `abs` is a handle path (/proc/self/fd/N/name), so nothing in it is followed.
    async function* entry(abs: string, cpath: string, name: string): AsyncGenerator<Buffer> {
      const st = lstatOrNullSync(abs);
      if (!st) return; // removed while we walked
      const h = await headerFor(abs, st, name, links);
      if (!h) return;
      yield encodeHeader(h);
      if (h.type === 'file' && h.size > 0) {
        yield* fileChunks(abs, st);
        yield padding(h.size);
      }
      if (!st.isDirectory()) return;
      const dir = openDirNoFollow(abs, cpath);
      try {
        for (const child of (await fsp.readdir(dir.path())).sort()) {
          const ccpath = posix.join(cpath, child);
          if (self.isMountPoint(ccpath)) {
            const loc = await self.locate(ccpath);
            try {
              yield* entry(loc.dir.at(loc.name), ccpath, `${name}/${child}`);
            } finally {
              loc.dir.close();
            }
          } else {
            yield* entry(dir.at(child), ccpath, `${name}/${child}`);
          }
        }
      } finally {
        dir.close();
      }
    }
    // Located before the answer starts, so that a path that moved fails the request, not the stream.
    const loc = await self.locate(found.cpath);
    const stream = Readable.from(
      (async function* () {
        try {
          yield* entry(loc.dir.at(loc.name), found.cpath, rebase);
        } finally {
          loc.dir.close();
        }
        yield endOfArchive();
      })(),
      { objectMode: false },
    );
    stream.once('close', () => loc.dir.close());
    return { stat, stream };
  }

  /**
   * Unpacks `input` into the directory `dest` (a container path, already resolved and
   * checked to be a directory by the caller). See the contract.
   */
  async extract(input: Readable, dest: string, opts: ExtractOptions): Promise<void> {
    const extractor = new Extractor(this, dest, opts);
    const extract = tarStream.extract();
    let streamError: Error | undefined;
    extract.on('error', (e: Error) => {
      streamError ??= e;
    });
    const feed = (async () => {
      const { stream } = await decompressStream(input);
      for await (const chunk of stream) {
        if (extract.destroyed) break;
        if (!extract.write(chunk as Buffer)) await drainOrClose(extract);
      }
      if (!extract.destroyed) extract.end(undefined);
    })().then(
      () => undefined,
      (e: unknown) => {
        extract.destroy(e as Error);
        return e as Error;
      },
    );
    try {
      for await (const entry of extract) {
        await extractor.apply(entry);
        for await (const _ of entry) {
          // data an entry type does not use
        }
      }
      const feedErr = await feed;
      if (feedErr) throw feedErr;
      if (streamError) throw streamError;
      await extractor.finish();
    } catch (err) {
      extract.destroy();
      await feed;
      if (err instanceof BerthError) throw err;
      // What a process of the container changing the tree under the copy looks like.
      if (['ENOTDIR', 'ELOOP', 'EEXIST', 'ENOENT'].some((c) => isErrno(err, c))) throw invalidArgument(`copying into ${dest} failed: the tree changed while it was being copied: ${(err as Error).message}`, err);
      if (isErrno(err, 'ENOSPC') || isErrno(err, 'EDQUOT') || isErrno(err, 'EIO')) throw internal(`copying into ${dest} failed: ${(err as Error).message}`, err);
      if ((err as { code?: string }).code === undefined) throw invalidArgument(`the archive to copy is truncated or corrupt: ${(err as Error).message}`, err);
      throw internal(`copying into ${dest} failed: ${(err as Error).message}`, err);
    } finally {
      await extractor.cleanup();
      extractor.close();
    }
  }

  /**
   * Removes the temporary names an extraction left behind in the directories its journal
   * named: entries whose name is ours and that are not directories.
   */
  async removeLeftovers(dirPaths: readonly string[]): Promise<void> {
    for (const p of new Set(dirPaths)) {
      if (!p.startsWith('/')) continue;
      const loc = await this.locate(p).catch(() => undefined);
      if (!loc) continue;
      let sub: DirHandle | undefined;
      try {
        const st = await lstatOrNull(loc.dir.at(loc.name));
        if (!st?.isDirectory()) continue;
        sub = openDirNoFollow(loc.dir.at(loc.name), p);
        for (const n of await fsp.readdir(sub.path())) {
          if (!n.startsWith(TEMP_PREFIX)) continue;
          const nst = await lstatOrNull(sub.at(n));
          if (nst && !nst.isDirectory()) await fsp.unlink(sub.at(n));
        }
      } finally {
        sub?.close();
        loc.dir.close();
      }
    }
  }

  /** Whether a write at the resolved container path `cpath` is allowed; the refusal, as dockerd words it. */
  writeRefusal(cpath: string): string | undefined {
    const { mount } = this.hostOf(cpath);
    if (mount) return mount.rw ? undefined : 'mounted volume is marked read-only';
    return this.readonlyRootfs ? 'container rootfs is marked read-only' : undefined;
  }
}

/** Extraction of one tar: the state that spans entries. */
class Extractor {
  /** Container paths known to be real directories. */
  private readonly dirs = new Set<string>();
  private readonly dirTimes = new Map<string, { atime: number; mtime: number }>();
  /** Temporary names not yet renamed into place (removed on failure), with the handle of their directory. */
  private readonly temps = new Map<string, DirHandle>();
  /** Directories already named in the journal. */
  private readonly journalled = new Set<string>();
  /** Temporary names: a random stem per extraction and a counter (made with O_EXCL, so a clash fails, never overwrites). */
  private readonly tempStem = `${randomBytes(6).toString('hex')}-`;
  private tempCount = 0;
  /** Handles of the directories entries were made in, by container path (see parentOf). */
  private readonly parents = new Map<string, DirHandle>();
  private readonly maxPath: number;

  constructor(
    private readonly fs: ContainerFs,
    private readonly dest: string,
    private readonly opts: ExtractOptions,
  ) {
    this.maxPath = opts.maxPathLength ?? 4096;
  }

  async apply(entry: Entry): Promise<void> {
    const h = entry.header;
    const parts = cleanName(h.name, this.maxPath);
    const base = parts[parts.length - 1];
    if (base === undefined) return; // the archive's root ("./"): the destination itself stays as it is
    const parent = await this.resolveParent([...this.destParts(), ...parts.slice(0, -1)], true);
    const cpath = posix.join(parent, base);
    const refusal = this.fs.writeRefusal(cpath);
    if (refusal) throw invalidArgument(refusal);
    const isDir = h.type === 'directory';
    if (this.fs.isMountPoint(cpath) && !isDir) throw invalidArgument(`cannot replace the mount point ${cpath} with a ${h.type}`);
    const cached = !this.fs.isMountPoint(cpath);
    const { dir, name } = cached ? await this.parentOf(cpath) : await this.fs.locate(cpath);
    try {
      const abs = dir.at(name);
      const existing = lstatOrNullSync(abs);
      if (existing && this.opts.noOverwriteDirNonDir) {
        if (existing.isDirectory() && !isDir) throw invalidArgument(`cannot overwrite directory "${cpath}" with non-directory "${h.name}"`);
        if (!existing.isDirectory() && isDir) throw invalidArgument(`cannot overwrite non-directory "${cpath}" with directory "${h.name}"`);
      }
      await this.make(entry, dir, name, cpath, existing);
    } finally {
      if (!cached && ![...this.temps.values()].includes(dir)) dir.close();
    }
  }

  /**
   * The handle of the directory holding `cpath`, located once per directory and kept for
   * the extraction: entries of one directory come one after another in an archive, and
   * locating (one open per component) was most of the cost of a copy of many small files.
   * A kept handle names the directory itself: a container that renames or swaps the path
   * meanwhile can only move it within the same mount, never make the copy reach the host.
   */
  private async parentOf(cpath: string): Promise<{ dir: DirHandle; name: string }> {
    const parent = posix.dirname(cpath);
    let dir = this.parents.get(parent);
    if (!dir) {
      dir = (await this.fs.locate(cpath)).dir;
      if (this.parents.size >= MAX_KEPT_DIRS) {
        const [oldest, h] = this.parents.entries().next().value as [string, DirHandle];
        this.parents.delete(oldest);
        if (![...this.temps.values()].includes(h)) h.close();
      }
      this.parents.set(parent, dir);
    }
    return { dir, name: posix.basename(cpath) };
  }

  /** Closes the kept directory handles (after finish or cleanup). */
  close(): void {
    for (const h of this.parents.values()) h.close();
    this.parents.clear();
  }

  private async make(entry: Entry, dir: DirHandle, name: string, cpath: string, existing: Stats | null): Promise<void> {
    const h = entry.header;
    const abs = dir.at(name);
    switch (h.type) {
      case 'directory':
        if (!existing?.isDirectory()) {
          if (existing) await removeTree(dir, name);
          await fsp.mkdir(abs, 0o700);
        }
        this.dirs.add(cpath);
        this.setOwnerAndMode(abs, h, false);
        this.dirTimes.set(cpath, times(h));
        return;
      case 'file':
      case 'contiguous-file':
        await this.place(dir, cpath, name, existing, async (tmp) => {
          // Owner, mode and times through the open file: no more path lookups than the open.
          await writeFile(entry, tmp, (fd) => {
            const host = this.hostOwner(h);
            fchownSync(fd, host.uid, host.gid);
            fchmodSync(fd, (h.mode ?? 0o644) & 0o7777);
            const t = times(h);
            futimesSync(fd, t.atime, t.mtime);
          });
        });
        return;
      case 'symlink': {
        const target = h.linkname ?? '';
        if (target === '' || target.includes('\0') || Buffer.byteLength(target) > this.maxPath) throw invalidArgument(`the archive's symlink ${JSON.stringify(h.name)} has an invalid target`);
        await this.place(dir, cpath, name, existing, async (tmp) => {
          await fsp.symlink(target, tmp);
          this.setOwnerAndMode(tmp, h, true);
          const t = times(h);
          await fsp.lutimes(tmp, t.atime, t.mtime);
        });
        return;
      }
      case 'link': {
        const tparts = cleanName(h.linkname ?? '', this.maxPath);
        const tbase = tparts[tparts.length - 1];
        if (tbase === undefined) throw invalidArgument(`the archive's hardlink ${JSON.stringify(h.name)} points at the destination itself`);
        const tparent = await this.resolveParent([...this.destParts(), ...tparts.slice(0, -1)], false);
        const target = await this.fs.locate(posix.join(tparent, tbase));
        try {
          const tabs = target.dir.at(target.name);
          const tst = await lstatOrNull(tabs);
          if (!tst || tst.isDirectory()) throw invalidArgument(`the archive's hardlink ${JSON.stringify(h.name)} points at ${JSON.stringify(h.linkname)}, which is not a file the archive holds`);
          if (existing && existing.ino === tst.ino && existing.dev === tst.dev) return;
          // link(2) does not follow a symlink it is given as the old name.
          await this.place(dir, cpath, name, existing, (tmp) => fsp.link(tabs, tmp), true);
        } finally {
          target.dir.close();
        }
        return;
      }
      case 'fifo':
        await this.place(dir, cpath, name, existing, async (tmp) => {
          mknod(tmp, S_IFIFO | 0o600, 0);
          this.setOwnerAndMode(tmp, h, false);
        });
        return;
      case 'character-device':
      case 'block-device':
        return; // never: a copy has no business handing a container a host device
      default:
        throw invalidArgument(`the archive's entry ${JSON.stringify(h.name)} has an unsupported type (${h.type ?? 'unknown'})`);
    }
  }

  async finish(): Promise<void> {
    for (const [cpath, t] of this.dirTimes) {
      const { dir, name } = await this.fs.locate(cpath);
      try {
        const st = await lstatOrNull(dir.at(name));
        if (st?.isDirectory()) await fsp.lutimes(dir.at(name), t.atime, t.mtime);
      } finally {
        dir.close();
      }
    }
  }

  async cleanup(): Promise<void> {
    for (const [tmp, dir] of this.temps) {
      await fsp.rm(tmp, { force: true }).catch(() => undefined);
      dir.close();
    }
    this.temps.clear();
  }

  private destParts(): string[] {
    return this.dest.split('/').filter((c) => c !== '');
  }

  /** Builds the entry under a temporary name in `dir`, then renames it to `name`. */
  private async place(dir: DirHandle, cpath: string, name: string, existing: Stats | null, build: (tmp: string) => Promise<void>, sameInodePossible = false): Promise<void> {
    const parent = posix.dirname(cpath);
    if (this.opts.journal && !this.journalled.has(parent)) {
      await this.opts.journal(parent);
      this.journalled.add(parent);
    }
    const tmp = dir.at(`${TEMP_PREFIX}${this.tempStem}${(this.tempCount++).toString(36)}`);
    this.temps.set(tmp, dir);
    await build(tmp);
    if (existing?.isDirectory()) await removeTree(dir, name);
    renameSync(tmp, dir.at(name));
    // rename(2) of two names of one inode does nothing: the temporary name stays.
    if (sameInodePossible) await fsp.rm(tmp, { force: true });
    this.temps.delete(tmp);
  }

  /** Synchronous, as the other metadata calls of an extraction: each is a short system call, and a thread-pool round trip per call made a copy of many small files several times slower. */
  private hostOwner(h: tarStream.Header): { uid: number; gid: number } {
    const owner = this.opts.owner ?? { uid: paxNumber(h, 'uid') ?? h.uid ?? 0, gid: paxNumber(h, 'gid') ?? h.gid ?? 0 };
    return this.opts.idShift ? this.opts.idShift(owner) : owner;
  }

  private setOwnerAndMode(abs: string, h: tarStream.Header, isLink: boolean): void {
    const host = this.hostOwner(h);
    lchownSync(abs, host.uid, host.gid);
    if (!isLink) chmodSync(abs, (h.mode ?? 0o644) & 0o7777);
  }

  /**
   * The container path of the directory `parts` names, resolved inside the container;
   * missing directories are created (0755) when `create`, anything else in the way is
   * refused. Every look and every mkdir goes through a located handle.
   */
  private async resolveParent(parts: string[], create: boolean): Promise<string> {
    const path = parts.join('/');
    const rel = await walkInRoot(this.fs.rootfs, path, async (r) => {
      const cpath = `/${r}`;
      if (this.dirs.has(cpath)) return undefined;
      const { dir, name } = await this.fs.locate(cpath);
      try {
        const abs = dir.at(name);
        const st = await lstatOrNull(abs);
        if (!st) {
          if (!create) throw invalidArgument(`the archive refers to ${cpath}, which does not exist`);
          const refusal = this.fs.writeRefusal(cpath);
          if (refusal) throw invalidArgument(refusal);
          await fsp.mkdir(abs, 0o755);
          // Made for the copy: root's, as the container sees root.
          if (this.opts.idShift) {
            const root = this.opts.idShift({ uid: 0, gid: 0 });
            await fsp.lchown(abs, root.uid, root.gid);
          }
        } else if (st.isSymbolicLink()) {
          return await fsp.readlink(abs);
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

/** A tar entry name → its components below the extraction root; refuses names that climb out. */
function cleanName(name: string, maxLen: number): string[] {
  if (name.includes('\0')) throw invalidArgument(`the archive holds a name with a NUL byte: ${JSON.stringify(name)}`);
  if (Buffer.byteLength(name) > maxLen) throw invalidArgument(`the archive holds a name longer than ${maxLen} bytes: ${name.slice(0, 80)}…`);
  const out: string[] = [];
  for (const c of name.split('/')) {
    if (c === '' || c === '.') continue;
    if (c === '..') {
      if (out.length === 0) throw invalidArgument(`the archive's entry ${JSON.stringify(name)} would land outside the destination`);
      out.pop();
      continue;
    }
    if (Buffer.byteLength(c) > MAX_COMPONENT) throw invalidArgument(`the archive's entry ${JSON.stringify(name.slice(0, 80))} has a component over ${MAX_COMPONENT} bytes`);
    out.push(c);
  }
  return out;
}

/** The entry's bytes into a new file; written synchronously chunk by chunk (to the page cache: short calls). */
async function writeFile(entry: Entry, abs: string, finish: (fd: number) => void): Promise<void> {
  const fd = openSync(abs, fsc.O_WRONLY | fsc.O_CREAT | fsc.O_EXCL | fsc.O_NOFOLLOW, 0o600);
  try {
    for await (const chunk of entry) {
      const buf = chunk as Buffer;
      let off = 0;
      while (off < buf.length) off += writeSync(fd, buf, off, buf.length - off);
    }
    finish(fd);
  } finally {
    closeSync(fd);
  }
}

function times(h: tarStream.Header): { atime: number; mtime: number } {
  const mtime = paxNumber(h, 'mtime') ?? (h.mtime ? h.mtime.getTime() / 1000 : Date.now() / 1000);
  return { atime: paxNumber(h, 'atime') ?? mtime, mtime };
}

function paxNumber(h: tarStream.Header, key: string): number | undefined {
  const v = (h as { pax?: Record<string, string> }).pax?.[key];
  if (v === undefined) return undefined;
  const n = Number(v);
  if (!Number.isFinite(n) || n < 0) throw invalidArgument(`the archive's entry ${JSON.stringify(h.name)} has an invalid PAX ${key} ${JSON.stringify(v)}`);
  return n;
}

function lstatOrNullSync(p: string): Stats | null {
  try {
    return lstatSync(p);
  } catch (e) {
    if (isErrno(e, 'ENOENT') || isErrno(e, 'ENOTDIR')) return null;
    throw e;
  }
}

async function lstatOrNull(p: string): Promise<Stats | null> {
  try {
    return await fsp.lstat(p);
  } catch (e) {
    if (isErrno(e, 'ENOENT') || isErrno(e, 'ENOTDIR')) return null;
    throw e;
  }
}

/** Go's filepath.Base of the path as dockerd joins it with `/` (a trailing `/.` kept). */
export function dockerBase(path: string): string {
  const abs = posix.join('/', path);
  if (path.endsWith('/.') || path === '.') return '.';
  if (abs === '/') return '/';
  return posix.basename(abs.replace(/\/+$/, ''));
}

/** A stat's mode as a Go os.FileMode (what dockerd's PathStat carries). */
export function goFileMode(st: Stats): number {
  let m = st.mode & 0o777;
  if (st.isDirectory()) m += 2 ** 31;
  else if (st.isSymbolicLink()) m += 2 ** 27;
  else if (st.isBlockDevice()) m += 2 ** 26;
  else if (st.isCharacterDevice()) m += 2 ** 26 + 2 ** 21;
  else if (st.isFIFO()) m += 2 ** 25;
  else if (st.isSocket()) m += 2 ** 24;
  if (st.mode & 0o4000) m += 2 ** 23;
  if (st.mode & 0o2000) m += 2 ** 22;
  if (st.mode & 0o1000) m += 2 ** 20;
  return m;
}

/** Whether a Go os.FileMode is a directory. */
export const isGoDir = (mode: number): boolean => mode >= 2 ** 31;

/** Linux's O_PATH (Node does not export it): a handle for path walks, not for I/O. */
const O_PATH = 0o10000000;

/**
 * An open directory. Paths below it go through /proc/self/fd/N, which the kernel
 * resolves to this very directory whatever happens to the names that led to it.
 */
export interface DirHandle {
  /** The path of `name` in this directory; its last component is what callers must not follow. */
  at(name: string): string;
  path(): string;
  close(): void;
}

function handle(fd: number): DirHandle {
  let open = true;
  return {
    at: (name) => `/proc/self/fd/${fd}/${name}`,
    path: () => `/proc/self/fd/${fd}`,
    close: () => {
      if (open) closeSync(fd);
      open = false;
    },
  };
}

/** Opens `root` (a trusted host path), then each of `rel`, refusing symlinks on the way. */
function openBeneath(root: string, rel: readonly string[], what: string): DirHandle {
  let fd = openSync(root, O_PATH | fsc.O_DIRECTORY);
  try {
    for (const c of rel) {
      const next = openSync(`/proc/self/fd/${fd}/${c}`, O_PATH | fsc.O_DIRECTORY | fsc.O_NOFOLLOW);
      closeSync(fd);
      fd = next;
    }
  } catch (err) {
    closeSync(fd);
    // ENOTDIR: a component is not a directory (any more), a symlink included.
    if (isErrno(err, 'ENOTDIR') || isErrno(err, 'ELOOP')) (err as Error).message = `${(err as Error).message} (locating ${what})`;
    throw err;
  }
  return handle(fd);
}

/** Opens the directory at the handle path `abs` without following it. */
function openDirNoFollow(abs: string, what: string): DirHandle {
  try {
    return handle(openSync(abs, O_PATH | fsc.O_DIRECTORY | fsc.O_NOFOLLOW));
  } catch (err) {
    if (isErrno(err, 'ENOTDIR') || isErrno(err, 'ELOOP')) throw invalidArgument(`${what} changed while it was being copied: try again`, err);
    throw err;
  }
}

/**
 * The contents of the regular file at the handle path `abs` that `st` described: opened
 * without following, and refused if it is no longer that file or no longer that size.
 */
async function* fileChunks(abs: string, st: Stats): AsyncGenerator<Buffer> {
  // Synchronous reads, as the extraction's writes: short calls on the page cache, without a thread-pool round trip each.
  const fd = openSync(abs, fsc.O_RDONLY | fsc.O_NOFOLLOW | fsc.O_NONBLOCK);
  try {
    const now = fstatSync(fd);
    if (!now.isFile() || now.ino !== st.ino || now.dev !== st.dev) throw invalidArgument(`a file changed while it was being copied: try again`);
    let left = st.size;
    while (left > 0) {
      const buf = Buffer.allocUnsafe(Math.min(left, 256 * 1024));
      const bytesRead = readSync(fd, buf, 0, buf.length, null);
      if (bytesRead === 0) throw invalidArgument('a file shrank while it was being copied; retry when nothing writes to it');
      left -= bytesRead;
      yield bytesRead === buf.length ? buf : buf.subarray(0, bytesRead);
    }
  } finally {
    closeSync(fd);
  }
}

/**
 * Removes `name` in `dir` and, for a directory, everything below it, each level through
 * a handle opened without following: a directory swapped for a link meanwhile is refused,
 * never descended into.
 */
async function removeTree(dir: DirHandle, name: string): Promise<void> {
  const abs = dir.at(name);
  const st = await lstatOrNull(abs);
  if (!st) return;
  if (!st.isDirectory()) {
    await fsp.unlink(abs).catch((err: unknown) => {
      if (!isErrno(err, 'ENOENT')) throw err;
    });
    return;
  }
  const sub = openDirNoFollow(abs, name);
  try {
    for (const child of await fsp.readdir(sub.path())) await removeTree(sub, child);
  } finally {
    sub.close();
  }
  await fsp.rmdir(abs);
}

function comps(p: string): string[] {
  return p.split('/').filter((c) => c !== '' && c !== '.');
}
