/**
 * Thin libc bindings through koffi. No policy: each function makes one system call
 * and reports failure; what a failure means is the caller's business.
 *
 * Contract
 * - koffi and libc are loaded on the first call, so importing sys/ costs nothing.
 * - Calls are synchronous (they block the event loop for one syscall); paths must be
 *   absolute or relative to the process's cwd, exactly as the syscall sees them.
 * - A failing call throws a `SysError`: an Error with `.code` = errno name ('ENOENT'),
 *   `.errno` = errno number, `.syscall` = the call's name, `.path` = the first path
 *   argument, and a message naming the call and the path. This matches the shape of
 *   Node's own fs errors, so `isErrno(err, 'ENOENT')` from common/ works on both.
 * - `lgetxattr` returns null when the attribute is absent (ENODATA); everything else
 *   throws.
 */
import { getSystemErrorName } from 'node:util';

// Mount flags from <sys/mount.h>.
export const MS_RDONLY = 0x1;
export const MS_NOSUID = 0x2;
export const MS_NODEV = 0x4;
export const MS_NOEXEC = 0x8;
export const MS_SYNCHRONOUS = 0x10;
export const MS_REMOUNT = 0x20;
export const MS_MANDLOCK = 0x40;
export const MS_DIRSYNC = 0x80;
export const MS_NOATIME = 0x400;
export const MS_NODIRATIME = 0x800;
export const MS_BIND = 0x1000;
export const MS_MOVE = 0x2000;
export const MS_REC = 0x4000;
export const MS_UNBINDABLE = 0x20000;
export const MS_PRIVATE = 0x40000;
export const MS_SLAVE = 0x80000;
export const MS_SHARED = 0x100000;
export const MS_RELATIME = 0x200000;
export const MS_STRICTATIME = 0x1000000;

// umount2 flags.
export const MNT_FORCE = 0x1;
export const MNT_DETACH = 0x2;
export const MNT_EXPIRE = 0x4;
export const UMOUNT_NOFOLLOW = 0x8;

// File type bits for mknod's mode.
export const S_IFIFO = 0o010000;
export const S_IFCHR = 0o020000;
export const S_IFBLK = 0o060000;
export const S_IFREG = 0o100000;

// setxattr flags.
export const XATTR_CREATE = 0x1;
export const XATTR_REPLACE = 0x2;

export interface SysError extends Error {
  code: string;
  errno: number;
  syscall: string;
  path?: string;
}

interface Libc {
  errno(): number;
  mount(source: string | null, target: string, fstype: string | null, flags: number, data: string | null): number;
  umount2(target: string, flags: number): number;
  /** umount2(2) on a thread of the pool: the callback gets its return value. */
  umount2InPool(target: string, flags: number, done: (err: unknown, ret: number) => void): void;
  statx(dirfd: number, path: string, flags: number, mask: number, buf: Buffer): number;
  mknod(path: string, mode: number, dev: bigint): number;
  lsetxattr(path: string, name: string, value: Buffer, size: number, flags: number): number;
  lgetxattr(path: string, name: string, value: Buffer | null, size: number): number;
  llistxattr(path: string, list: Buffer | null, size: number): number;
  lremovexattr(path: string, name: string): number;
  syncfs(fd: number): number;
  /** syncfs(2) on a thread of the pool: the callback gets its return value. */
  syncfsInPool(fd: number, done: (err: unknown, ret: number) => void): void;
  socket(domain: number, type: number, protocol: number): number;
  connect(fd: number, addr: Buffer, len: number): number;
  recv(fd: number, buf: Buffer, len: number, flags: number): number;
  send(fd: number, buf: Buffer, len: number, flags: number): number;
  /** send(2) on a thread of the pool: the callback gets its return value. */
  sendInPool(fd: number, buf: Buffer, done: (err: unknown, ret: number) => void): void;
  shutdown(fd: number, how: number): number;
  close(fd: number): number;
  mallocTrim(pad: number): number;
  poll(fds: Buffer, nfds: number, timeout: number): number;
  fcntl(fd: number, cmd: number, ...args: unknown[]): number;
  unshare(flags: number): number;
  setns(fd: number, nstype: number): number;
  ioctl(fd: number, request: number, arg: Buffer): number;
}

let libc: Libc | undefined;

interface KoffiLib {
  func(sig: string): (...args: unknown[]) => unknown;
}

let handle: { lib: KoffiLib; errno(): number } | undefined;

/**
 * koffi's handle on libc and its errno, loaded once for all of sys/ (the bindings here, and
 * those kept beside their one user: spawn.ts).
 */
export function libcHandle(): { lib: KoffiLib; errno(): number } {
  if (handle) return handle;
  // eslint-disable-next-line @typescript-eslint/no-var-requires
  const koffi = require('koffi') as { load(name: string): KoffiLib; errno(): number };
  handle = { lib: koffi.load('libc.so.6'), errno: () => koffi.errno() };
  return handle;
}

function load(): Libc {
  if (libc) return libc;
  const { lib, errno } = libcHandle();
  // ssize_t is `long` on every Linux ABI we run on.
  const fn = (sig: string) => lib.func(sig) as (...args: unknown[]) => number;
  libc = {
    errno,
    mount: fn('int mount(const char*, const char*, const char*, unsigned long, const char*)'),
    umount2: fn('int umount2(const char*, int)'),
    umount2InPool: (() => {
      const f = lib.func('int umount2(const char*, int)') as unknown as { async(t: string, fl: number, cb: (err: unknown, ret: number) => void): void };
      return (target: string, flags: number, done: (err: unknown, ret: number) => void) => f.async(target, flags, done);
    })(),
    statx: fn('int statx(int, const char*, int, unsigned int, _Out_ void*)'),
    mknod: fn('int mknod(const char*, uint32_t, uint64_t)'),
    lsetxattr: fn('int lsetxattr(const char*, const char*, const void*, size_t, int)'),
    lgetxattr: fn('long lgetxattr(const char*, const char*, _Out_ void*, size_t)'),
    llistxattr: fn('long llistxattr(const char*, _Out_ void*, size_t)'),
    lremovexattr: fn('int lremovexattr(const char*, const char*)'),
    syncfs: fn('int syncfs(int)'),
    syncfsInPool: (() => {
      const f = lib.func('int syncfs(int)') as unknown as { async(fd: number, cb: (err: unknown, ret: number) => void): void };
      return (fd: number, done: (err: unknown, ret: number) => void) => f.async(fd, done);
    })(),
    socket: fn('int socket(int, int, int)'),
    connect: fn('int connect(int, const void*, uint32_t)'),
    recv: fn('long recv(int, _Out_ void*, size_t, int)'),
    send: fn('long send(int, const void*, size_t, int)'),
    sendInPool: (() => {
      const f = lib.func('long send(int, const void*, size_t, int)') as unknown as { async(fd: number, b: Buffer, n: number, fl: number, cb: (err: unknown, ret: number) => void): void };
      return (fd: number, buf: Buffer, done: (err: unknown, ret: number) => void) => f.async(fd, buf, buf.length, 0, done);
    })(),
    shutdown: fn('int shutdown(int, int)'),
    close: fn('int close(int)'),
    mallocTrim: fn('int malloc_trim(size_t)'),
    poll: fn('int poll(_Inout_ void*, unsigned long, int)'),
    fcntl: fn('int fcntl(int, int, ...)'),
    unshare: fn('int unshare(int)'),
    setns: fn('int setns(int, int)'),
    ioctl: fn('int ioctl(int, unsigned long, _Inout_ void *)'),
  };
  return libc;
}

/**
 * Gives the C heap's free pages back to the system, in the main heap and in every thread's
 * arena (glibc's malloc_trim(0)); true when some were. It does nothing while koffi is not
 * loaded yet, and never loads it: loading it costs about 2 MB, more than a daemon that has
 * not needed libc here has to give back.
 */
export function trimMallocIfLoaded(): boolean {
  if (!handle) return false;
  return load().mallocTrim(0) === 1;
}

/** Builds the error a failed call throws; exported so helpers (mountFrom) can rebuild it. */
export function sysError(syscall: string, errno: number, path?: string, detail?: string): SysError {
  let code: string;
  try {
    code = getSystemErrorName(-errno);
  } catch {
    code = `E${errno}`;
  }
  const where = path === undefined ? '' : ` '${path}'`;
  const err = new Error(`${syscall}${where}${detail ? ` (${detail})` : ''} failed: ${code} (errno ${errno})`) as SysError;
  err.code = code;
  err.errno = errno;
  err.syscall = syscall;
  if (path !== undefined) err.path = path;
  return err;
}

function check(ret: number, syscall: string, path: string, detail?: string): number {
  if (ret < 0) throw sysError(syscall, load().errno(), path, detail);
  return ret;
}

export function mount(source: string | null, target: string, fstype: string | null, flags: number, data: string | null): void {
  const l = load();
  check(l.mount(source, target, fstype, flags, data), 'mount', target, `type ${fstype ?? 'none'}, source ${source ?? 'none'}`);
}

export function umount2(target: string, flags: number): void {
  check(load().umount2(target, flags), 'umount2', target);
}

/**
 * umount2(2) off the event loop: the kernel waits for an RCU grace period before it
 * frees an unmounted tree, about a millisecond that berthd's one thread need not sit
 * out. A failure is reported with the errno of the same call made once more here (the
 * pool thread's errno is not ours to read).
 */
export function umount2Async(target: string, flags: number): Promise<void> {
  return new Promise((resolve, reject) => {
    load().umount2InPool(target, flags, (err, ret) => {
      if (err) reject(err instanceof Error ? err : new Error(String(err)));
      else if (ret < 0) {
        try {
          umount2(target, flags);
          resolve();
        } catch (e) {
          reject(e);
        }
      } else resolve();
    });
  });
}

const AT_FDCWD = -100;
const AT_SYMLINK_NOFOLLOW = 0x100;
const AT_NO_AUTOMOUNT = 0x800;
const STATX_ATTR_MOUNT_ROOT = 0x2000n;
const statxBuf = Buffer.alloc(256);

/**
 * Whether `path` (not followed if a symlink) is the root of a mount, from statx(2)'s
 * STATX_ATTR_MOUNT_ROOT (Linux 5.8): one syscall instead of reading and parsing
 * /proc/self/mountinfo. Undefined when koffi is not loaded yet (it is not loaded for
 * this), or when the kernel does not say: the caller then reads mountinfo.
 */
export function mountRootIfLoaded(path: string): boolean | undefined {
  if (!handle) return undefined;
  if (load().statx(AT_FDCWD, path, AT_SYMLINK_NOFOLLOW | AT_NO_AUTOMOUNT, 0, statxBuf) < 0) {
    const errno = load().errno();
    return errno === 2 /* ENOENT */ || errno === 20 /* ENOTDIR */ ? false : undefined;
  }
  // struct statx: stx_attributes at byte 8, stx_attributes_mask at byte 56.
  if (!(statxBuf.readBigUInt64LE(56) & STATX_ATTR_MOUNT_ROOT)) return undefined;
  return (statxBuf.readBigUInt64LE(8) & STATX_ATTR_MOUNT_ROOT) !== 0n;
}

/** `mode` includes the file type bits (S_IFCHR, S_IFBLK, S_IFIFO…); `dev` comes from makedev. */
export function mknod(path: string, mode: number, dev: bigint | number): void {
  check(load().mknod(path, mode, BigInt(dev)), 'mknod', path);
}

/** The glibc encoding of dev_t (12+20 bit legacy split extended to 64 bits). */
export function makedev(major: number, minor: number): bigint {
  const ma = BigInt(major >>> 0);
  const mi = BigInt(minor >>> 0);
  return ((ma & 0xfffn) << 8n) | ((ma & ~0xfffn) << 32n) | (mi & 0xffn) | ((mi & ~0xffn) << 12n);
}

export function lsetxattr(path: string, name: string, value: Buffer, flags = 0): void {
  check(load().lsetxattr(path, name, value, value.length, flags), 'lsetxattr', path, name);
}

export function lgetxattr(path: string, name: string): Buffer | null {
  const l = load();
  // The value can change between the size probe and the read; retry on ERANGE.
  for (let attempt = 0; attempt < 8; attempt++) {
    const size = l.lgetxattr(path, name, null, 0);
    if (size < 0) {
      const errno = l.errno();
      if (getSystemErrorName(-errno) === 'ENODATA') return null;
      throw sysError('lgetxattr', errno, path, name);
    }
    const buf = Buffer.alloc(size);
    if (size === 0) return buf;
    const n = l.lgetxattr(path, name, buf, size);
    if (n >= 0) return buf.subarray(0, n);
    const errno = l.errno();
    const code = getSystemErrorName(-errno);
    if (code === 'ENODATA') return null;
    if (code !== 'ERANGE') throw sysError('lgetxattr', errno, path, name);
  }
  throw sysError('lgetxattr', 34 /* ERANGE */, path, name);
}

/** Names of all extended attributes of `path` (not following a final symlink). */
export function llistxattr(path: string): string[] {
  const l = load();
  for (let attempt = 0; attempt < 8; attempt++) {
    const size = check(l.llistxattr(path, null, 0), 'llistxattr', path);
    if (size === 0) return [];
    const buf = Buffer.alloc(size);
    const n = l.llistxattr(path, buf, size);
    if (n >= 0) return buf.subarray(0, n).toString('utf8').split('\0').filter((s) => s.length > 0);
    const errno = l.errno();
    if (getSystemErrorName(-errno) !== 'ERANGE') throw sysError('llistxattr', errno, path);
  }
  throw sysError('llistxattr', 34 /* ERANGE */, path);
}

export function lremovexattr(path: string, name: string): void {
  check(load().lremovexattr(path, name), 'lremovexattr', path, name);
}

/** Flushes the whole filesystem that holds the open file `fd` (cheaper than an fsync per file). */
/**
 * syncfs(2) off the event loop: flushing a filesystem can take hundreds of milliseconds
 * while other work writes to it, and berthd's one thread must keep serving meanwhile.
 * When it fails there, errno stayed on the pool's thread: the call is made once more here,
 * so the rejection carries the real reason.
 */
export function syncfsAsync(fd: number): Promise<void> {
  return new Promise((resolve, reject) => {
    load().syncfsInPool(fd, (err, ret) => {
      if (err) reject(err instanceof Error ? err : new Error(String(err)));
      else if (ret < 0) {
        try {
          syncfs(fd);
          resolve();
        } catch (e) {
          reject(e);
        }
      } else resolve();
    });
  });
}

export function syncfs(fd: number): void {
  check(load().syncfs(fd), 'syncfs', `fd ${fd}`);
}

// Sockets (<sys/socket.h>): only what a unix SOCK_SEQPACKET client needs.
export const AF_UNIX = 1;
export const SOCK_STREAM = 1;
export const SOCK_SEQPACKET = 5;
export const SOCK_CLOEXEC = 0o2000000;
export const MSG_DONTWAIT = 0x40;
export const MSG_NOSIGNAL = 0x4000;
export const SHUT_RD = 0;
export const SHUT_WR = 1;
export const SHUT_RDWR = 2;
const EAGAIN = 11;
const EINTR = 4;

/** A new socket's fd. */
export function socket(domain: number, type: number, protocol = 0): number {
  return check(load().socket(domain, type, protocol), 'socket', `domain ${domain}, type ${type}`);
}

/**
 * connect(2) to a unix socket path (at most 107 bytes: longer paths can be
 * reached through `/proc/self/fd/<dirfd>/name`).
 */
export function connectUnix(fd: number, path: string): void {
  const addr = Buffer.alloc(110);
  addr.writeUInt16LE(AF_UNIX, 0);
  if (Buffer.byteLength(path) > 107) throw sysError('connect', 36 /* ENAMETOOLONG */, path);
  addr.write(path, 2);
  check(load().connect(fd, addr, addr.length), 'connect', path);
}

/**
 * recv(2) into `buf`: the byte count, 0 at end of stream, or -1 when the call
 * would block (EAGAIN with MSG_DONTWAIT is not a failure).
 */
export function recv(fd: number, buf: Buffer, flags = 0): number {
  const l = load();
  for (;;) {
    const n = l.recv(fd, buf, buf.length, flags);
    if (n >= 0) return n;
    const errno = l.errno();
    if (errno === EINTR) continue;
    if (errno === EAGAIN) return -1;
    throw sysError('recv', errno, `fd ${fd}`);
  }
}

/** send(2): the bytes sent, or -1 when the call would block. */
export function send(fd: number, buf: Buffer, flags = 0): number {
  const l = load();
  for (;;) {
    const n = l.send(fd, buf, buf.length, flags);
    if (n >= 0) return n;
    const errno = l.errno();
    if (errno === EINTR) continue;
    if (errno === EAGAIN) return -1;
    throw sysError('send', errno, `fd ${fd}`);
  }
}

/**
 * send(2) of all of `buf` on a thread of the pool, for a send that may block for long in the
 * kernel (a netlink request that holds the kernel's locks while it works). A failure is
 * reported without its errno (errno belongs to the pool's thread).
 */
export function sendAsync(fd: number, buf: Buffer): Promise<void> {
  return new Promise((resolve, reject) => {
    load().sendInPool(fd, buf, (err, ret) => {
      if (err) reject(err instanceof Error ? err : new Error(String(err)));
      else if (ret !== buf.length) reject(new Error(`send on fd ${fd} failed (returned ${ret})`));
      else resolve();
    });
  });
}

export function shutdown(fd: number, how: number): void {
  check(load().shutdown(fd, how), 'shutdown', `fd ${fd}`);
}

export function close(fd: number): void {
  check(load().close(fd), 'close', `fd ${fd}`);
}

const F_DUPFD_CLOEXEC = 1030;
const POLLIN = 0x1;

/** A duplicate of `fd` (close-on-exec, so no child process inherits it). */
export function dupCloexec(fd: number): number {
  return check(load().fcntl(fd, F_DUPFD_CLOEXEC, 'int', 0), 'fcntl', `fd ${fd}`, 'F_DUPFD_CLOEXEC');
}

/**
 * poll(2) for input on one fd, at most `timeoutMs`: true when a read will not block (data,
 * end of stream or an error to report), false on timeout.
 */
export function pollIn(fd: number, timeoutMs: number): boolean {
  const l = load();
  const pfd = Buffer.alloc(8);
  pfd.writeInt32LE(fd, 0);
  pfd.writeInt16LE(POLLIN, 4);
  for (;;) {
    const n = l.poll(pfd, 1, timeoutMs);
    if (n >= 0) return n > 0;
    const errno = l.errno();
    if (errno !== EINTR) throw sysError('poll', errno, `fd ${fd}`);
  }
}

// Namespace types (<sched.h>).
export const CLONE_NEWNET = 0x40000000;

/** unshare(2) for the calling thread (berthd's main thread when called from JavaScript). */
export function unshare(flags: number): void {
  check(load().unshare(flags), 'unshare', `flags 0x${flags.toString(16)}`);
}

/** setns(2) of the calling thread into the namespace open as `fd`. */
export function setns(fd: number, nstype: number): void {
  check(load().setns(fd, nstype), 'setns', `fd ${fd}`);
}

// Interface flags ioctls (<linux/sockios.h>, <net/if.h>).
const SIOCGIFINDEX = 0x8933;
const SIOCGIFFLAGS = 0x8913;
const SIOCSIFFLAGS = 0x8914;
const IFF_UP = 0x1;
const AF_INET = 2;
const SOCK_DGRAM = 2;

/**
 * Runs interface ioctls for `name` on a datagram socket of the calling thread's network
 * namespace; `ioctl(request)` fills `req`, a struct ifreq: the name (16 bytes), then the value.
 */
function withIfreq<T>(name: string, fn: (req: Buffer, ioctl: (request: number, what: string) => void) => T): T {
  const l = load();
  const fd = check(l.socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0), 'socket', name);
  try {
    const req = Buffer.alloc(40);
    req.write(name, 0, 15);
    return fn(req, (request, what) => void check(l.ioctl(fd, request, req), `ioctl(${what})`, name));
  } finally {
    l.close(fd);
  }
}

/** The index of interface `name` in the calling thread's network namespace (if_nametoindex). */
export function ifIndex(name: string): number {
  return withIfreq(name, (req, ioctl) => {
    ioctl(SIOCGIFINDEX, 'SIOCGIFINDEX');
    return req.readInt32LE(16);
  });
}

/**
 * Sets interface `name` up in the calling thread's network namespace (what `ip link set
 * NAME up` does, through SIOCSIFFLAGS on a datagram socket of that namespace).
 */
export function linkUp(name: string): void {
  withIfreq(name, (req, ioctl) => {
    ioctl(SIOCGIFFLAGS, 'SIOCGIFFLAGS');
    req.writeUInt16LE(req.readUInt16LE(16) | IFF_UP, 16);
    ioctl(SIOCSIFFLAGS, 'SIOCSIFFLAGS');
  });
}
