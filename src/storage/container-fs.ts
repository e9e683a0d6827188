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
 *   directory names its entries `<base>/…` (`./…` for a path ending in `/.`, `/…` for the
 *   root itself), that of anything else holds the one entry `<base>`. Mount points below
 *   a tarred directory contribute their mount's content.
 * - `extract` unpacks a tar (plain, gzip or zstd) into an existing directory, on a worker
 *   thread (extract-thread.ts, tar-extract.ts) so the API's thread only hands bytes over;
 *   it resolves once the worker is done, and after a failure once the worker has removed
 *   its temporary names. The tar
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
import { closeSync, constants as fsc, fstatSync, openSync, promises as fsp, readdirSync, readSync, type Stats } from 'node:fs';
import { join, posix } from 'node:path';
import { Readable } from 'node:stream';
import { decompressStream, detectCompression, invalidArgument, isErrno, MAGIC_BYTES, rawBodyOf } from '../common';
import { dupCloexec, walkInRoot } from '../sys';
import { extractOnWorker, extractRawOnWorker } from './extract-thread';
import type { ExtractOptions, FsMount } from './extract-options';
import { lstatOrNullSync } from './lower-view';

export type { ExtractOptions, FsMount, IdRange } from './extract-options';
import { encodeHeader, endOfArchive, headerForSync } from './tar-writer';

/** dockerd's PathStat: `mode` is a Go os.FileMode. */
export interface PathStat {
  name: string;
  size: number;
  mode: number;
  mtime: string;
  linkTarget: string;
}

const MAX_COMPONENT = 255;
export const TEMP_PREFIX = '.berth-cp-';

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
    return this.locateSync(cpath);
  }

  /** locate, synchronously (for the extraction's worker thread). */
  locateSync(cpath: string): { dir: DirHandle; name: string } {
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

  /**
   * The tar of `path` (GET /archive) with its stat, or null when it does not exist.
   * `recycle` takes back a chunk of the stream once its reader is done with it: the next
   * chunks are read into it (a fresh 512 KiB buffer per chunk made V8 run full
   * collections for the external memory, several per 100 MB).
   */
  async tar(path: string): Promise<{ stat: PathStat; stream: Readable; recycle: (chunk: Buffer) => void } | null> {
    const stat = await this.stat(path);
    const found = await this.lookup(path);
    if (!stat || !found) return null;
    // The root is named `/` and its entries `/bin`, …, as dockerd names them: the docker CLI
    // rebases names that start with the base it asked for, and finds nothing in `./…`.
    const rebase = dockerBase(path);
    const links = new Map<string, string>();
    const self = this;
    const out = new TarOut();
    // One entry: `abs` is a handle path (/proc/self/fd/N/name), so nothing in it is followed.
    // Synchronous throughout (short calls on the page cache), writing into large buffers:
    // an await and a stream chunk per header, per read and per padding cost more than the reads.
    function* entry(abs: string, cpath: string, name: string): Generator<Buffer> {
      const st = lstatOrNullSync(abs);
      if (!st) return; // removed while we walked
      const h = headerForSync(abs, st, name, links);
      if (!h) return;
      out.put(encodeHeader(h));
      if (h.type === 'file' && h.size > 0) {
        yield* fileInto(out, abs, st);
        out.zero((512 - (h.size % 512)) % 512);
      }
      yield* out.full();
      if (!st.isDirectory()) return;
      const dir = openDirNoFollow(abs, cpath);
      try {
        for (const child of readdirSync(dir.path()).sort()) {
          const ccpath = posix.join(cpath, child);
          if (self.isMountPoint(ccpath)) {
            const loc = self.locateSync(ccpath);
            try {
              yield* entry(loc.dir.at(loc.name), ccpath, childName(name, child));
            } finally {
              loc.dir.close();
            }
          } else {
            yield* entry(dir.at(child), ccpath, childName(name, child));
          }
        }
      } finally {
        dir.close();
      }
    }
    // Located before the answer starts, so that a path that moved fails the request, not the stream.
    const loc = self.locateSync(found.cpath);
    const chunks = (function* () {
      try {
        yield* entry(loc.dir.at(loc.name), found.cpath, rebase);
      } finally {
        loc.dir.close();
      }
      out.put(endOfArchive());
      yield* out.rest();
    })();
    const stream = new Readable({
      highWaterMark: TAR_CHUNK,
      read() {
        try {
          const r = chunks.next();
          this.push(r.done ? null : r.value);
        } catch (err) {
          this.destroy(err as Error);
        }
      },
      destroy(err, cb) {
        try {
          chunks.return(undefined);
        } catch {
          // closing handles only
        }
        loc.dir.close();
        cb(err);
      },
    });
    return { stat, stream, recycle: (chunk) => out.recycle(chunk) };
  }

  /**
   * Unpacks `input` into the directory `dest` (a container path, already resolved and
   * checked to be a directory by the caller). See the contract. A failure of the input
   * (the client went away) is thrown as it is; the archive's own faults are
   * invalid-argument, disk errors internal.
   */
  async extract(input: Readable, dest: string, opts: ExtractOptions): Promise<void> {
    const job = { rootfs: this.rootfs, mounts: this.mounts, readonlyRootfs: this.readonlyRootfs, dest, opts };
    // A request body the worker can read from the connection itself: the fast way, unless it is compressed.
    const source = rawBodyOf(input);
    const raw = source?.takeConnection();
    if (raw) {
      const r = await extractRawOnWorker(job, dupCloexec(raw.fd), raw.head, raw.framing);
      if (!r) return;
      source!.returnConnection(r.declined);
    }
    const head = await peek(input, MAGIC_BYTES);
    const stream = detectCompression(head) === 'none' ? input : (await decompressStream(input)).stream;
    await extractOnWorker(job, stream);
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

/** A tar entry name → its components below the extraction root; refuses names that climb out. */
export function cleanName(name: string, maxLen: number): string[] {
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


async function lstatOrNull(p: string): Promise<Stats | null> {
  try {
    return await fsp.lstat(p);
  } catch (e) {
    if (isErrno(e, 'ENOENT') || isErrno(e, 'ENOTDIR')) return null;
    throw e;
  }
}

/** An entry's name below the directory named `parent` in a tar (`/` for the root). */
function childName(parent: string, child: string): string {
  return parent === '/' ? `/${child}` : `${parent}/${child}`;
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
export function openDirNoFollow(abs: string, what: string): DirHandle {
  try {
    return handle(openSync(abs, O_PATH | fsc.O_DIRECTORY | fsc.O_NOFOLLOW));
  } catch (err) {
    if (isErrno(err, 'ENOTDIR') || isErrno(err, 'ELOOP')) throw invalidArgument(`${what} changed while it was being copied: try again`, err);
    throw err;
  }
}

/** The first `n` bytes of `input` (fewer if it ends first), left in it to be read again. */
async function peek(input: Readable, n: number): Promise<Buffer> {
  const got: Buffer[] = [];
  let len = 0;
  try {
    while (len < n && !input.readableEnded) {
      const c = input.read() as Buffer | string | null;
      if (c === null) {
        const more = await new Promise<boolean>((resolve, reject) => {
          const done = (v: boolean) => () => {
            input.off('readable', onReadable);
            input.off('end', onEnd);
            input.off('error', onError);
            input.off('close', onEnd);
            resolve(v);
          };
          const onReadable = done(true);
          const onEnd = done(false);
          const onError = (e: Error) => {
            done(false)();
            reject(e);
          };
          input.once('readable', onReadable);
          input.once('end', onEnd);
          input.once('close', onEnd);
          input.once('error', onError);
        });
        if (!more) break;
        continue;
      }
      const b = typeof c === 'string' ? Buffer.from(c) : c;
      got.push(b);
      len += b.length;
    }
  } finally {
    const all = Buffer.concat(got);
    if (all.length > 0 && !input.destroyed) input.unshift(all);
  }
  return Buffer.concat(got);
}

/** Size of the chunks a tar is read out in (GET /archive). */
const TAR_CHUNK = 512 * 1024;

/** Gathers a tar's bytes into TAR_CHUNK buffers: one stream chunk and one socket write for many small files. */
class TarOut {
  buf: Buffer = Buffer.allocUnsafeSlow(TAR_CHUNK);
  used = 0;
  private readonly ready: Buffer[] = [];
  private readonly spare: Buffer[] = [];

  /** Takes back a chunk handed out (see ContainerFs.tar). */
  recycle(chunk: Buffer): void {
    if (chunk.buffer.byteLength === TAR_CHUNK && chunk.byteOffset === 0 && this.spare.length < 8) this.spare.push(Buffer.from(chunk.buffer, 0, TAR_CHUNK));
  }

  put(b: Buffer): void {
    for (let off = 0; off < b.length; ) {
      const n = b.copy(this.buf, this.used, off);
      off += n;
      this.advance(n);
    }
  }

  zero(n: number): void {
    while (n > 0) {
      const k = Math.min(n, TAR_CHUNK - this.used);
      this.buf.fill(0, this.used, this.used + k);
      n -= k;
      this.advance(k);
    }
  }

  /** Counts `n` bytes just written at `used`. */
  advance(n: number): void {
    this.used += n;
    if (this.used === TAR_CHUNK) {
      this.ready.push(this.buf);
      this.buf = this.spare.pop() ?? Buffer.allocUnsafeSlow(TAR_CHUNK);
      this.used = 0;
    }
  }

  /** The chunks filled so far. */
  *full(): Generator<Buffer> {
    while (this.ready.length > 0) yield this.ready.shift()!;
  }

  /** Everything, the last partial chunk included. */
  *rest(): Generator<Buffer> {
    yield* this.full();
    if (this.used > 0) yield this.buf.subarray(0, this.used);
    this.used = 0;
  }
}

/**
 * The contents of the regular file at the handle path `abs` that `st` described, read
 * into `out`: opened without following, and refused if it is no longer that file or no
 * longer that size.
 */
function* fileInto(out: TarOut, abs: string, st: Stats): Generator<Buffer> {
  const fd = openSync(abs, fsc.O_RDONLY | fsc.O_NOFOLLOW | fsc.O_NONBLOCK);
  try {
    const now = fstatSync(fd);
    if (!now.isFile() || now.ino !== st.ino || now.dev !== st.dev) throw invalidArgument(`a file changed while it was being copied: try again`);
    let left = st.size;
    while (left > 0) {
      const n = readSync(fd, out.buf, out.used, Math.min(left, TAR_CHUNK - out.used), null);
      if (n === 0) throw invalidArgument('a file shrank while it was being copied; retry when nothing writes to it');
      left -= n;
      out.advance(n);
      yield* out.full();
    }
  } finally {
    closeSync(fd);
  }
}

function comps(p: string): string[] {
  return p.split('/').filter((c) => c !== '' && c !== '.');
}
