/**
 * Starting a helper program with posix_spawn(3) instead of Node's child_process.
 *
 * Node (libuv) starts a child with fork(): the kernel copies the page tables of the whole
 * daemon, the event loop waits until the child has exec'd, and both sides then take
 * copy-on-write faults. berthd's heap makes that 5–20 ms of blocked event loop and several
 * ms of CPU per child on a 2-vCPU VM. glibc's posix_spawn shares the address space with
 * the child until it execs (CLONE_VM | CLONE_VFORK), so none of that is paid.
 *
 * Contract
 * - `spawnPiped` runs `file` with `args` (argv[0] included) and exactly `env`; stdin is
 *   /dev/null, stdout and stderr are pipes to the returned streams. With `setsid` the child
 *   leads a new session (as `detached: true` in Node). Every signal is at its default
 *   disposition in the child and none is blocked, as libuv does for its children.
 * - It throws a SysError when the program cannot be started (ENOENT, EACCES…): glibc
 *   reports the failed exec itself.
 * - `exited` resolves once the child is reaped: its exit code, or 128 + the signal that
 *   killed it. Children are reaped with waitpid on SIGCHLD (Node reaps only its own), so
 *   a process using this must not reap other children with waitpid(-1).
 * - Other descriptors of the daemon are not passed on unless they lack O_CLOEXEC; Node
 *   and libuv open theirs with it, as for their own children.
 */
import { closeSync, openSync, readSync, writeSync } from 'node:fs';
import net from 'node:net';
import type { Readable } from 'node:stream';
import { libcHandle, sysError } from './libc';

export interface PipedProcess {
  pid: number;
  stdout: Readable;
  stderr: Readable;
  /** The exit code once the child is reaped (128 + N when signal N killed it). */
  exited: Promise<number>;
}

export interface SpawnOptions {
  env: Record<string, string>;
  /** Run the child in a session of its own (setsid). */
  setsid?: boolean;
  /** The child's working directory (default: berthd's). */
  cwd?: string;
  /** The child does not keep the event loop alive (Node's `unref()`); it is still reaped. */
  unref?: boolean;
  /**
   * The child's nice value (setpriority right after the spawn): clean-up helpers that no
   * answer waits for leave the CPU to those that one does.
   */
  nice?: number;
}

/**
 * What a child's descriptor 0, 1, 2, 3… is: /dev/null, a pipe whose read end berthd gets
 * ('pipe'), or a pipe the child reads these bytes from, then end of file (a Buffer).
 */
export type ChildFd = 'null' | 'pipe' | Buffer;

export interface SpawnedProcess {
  pid: number;
  /** The read end of each descriptor given as 'pipe', by the child's descriptor number. */
  pipes: (Readable | undefined)[];
  /** The exit code once the child is reaped (128 + N when signal N killed it). */
  exited: Promise<number>;
}

// glibc's flags for posix_spawnattr_setflags and the open(2) flags used here (x86-64 and arm64 alike).
const POSIX_SPAWN_SETSIGDEF = 0x04;
const POSIX_SPAWN_SETSIGMASK = 0x08;
const POSIX_SPAWN_SETSID = 0x80;
const O_RDONLY = 0;
const O_WRONLY = 1;
const O_CLOEXEC = 0o2000000;
const WNOHANG = 1;
// Sizes of glibc's opaque types, rounded up: posix_spawnattr_t is 336 bytes and
// posix_spawn_file_actions_t 80 on 64-bit targets; sigset_t is 128.
const ATTR_BYTES = 512;
const ACTIONS_BYTES = 256;
const SIGSET_BYTES = 128;

interface SpawnLib {
  errno(): number;
  pipe2(fds: Int32Array, flags: number): number;
  close(fd: number): number;
  actionsInit(a: Buffer): number;
  actionsDestroy(a: Buffer): number;
  addDup2(a: Buffer, fd: number, to: number): number;
  addOpen(a: Buffer, fd: number, path: string, flags: number, mode: number): number;
  addChdir(a: Buffer, path: string): number;
  attrInit(a: Buffer): number;
  attrDestroy(a: Buffer): number;
  setFlags(a: Buffer, flags: number): number;
  setSigDefault(a: Buffer, set: Buffer): number;
  setSigMask(a: Buffer, set: Buffer): number;
  sigfillset(set: Buffer): number;
  sigemptyset(set: Buffer): number;
  spawn(pid: Int32Array, path: string, actions: Buffer, attr: Buffer, argv: (string | null)[], envp: (string | null)[]): number;
  waitpid(pid: number, status: Int32Array, options: number): number;
  setpriority(which: number, who: number, prio: number): number;
}

let lib: SpawnLib | undefined;

function load(): SpawnLib {
  if (lib) return lib;
  const { lib: c, errno } = libcHandle();
  lib = {
    errno,
    pipe2: c.func('int pipe2(void *fds, int flags)'),
    close: c.func('int close(int)'),
    actionsInit: c.func('int posix_spawn_file_actions_init(void *)'),
    actionsDestroy: c.func('int posix_spawn_file_actions_destroy(void *)'),
    addDup2: c.func('int posix_spawn_file_actions_adddup2(void *, int, int)'),
    addOpen: c.func('int posix_spawn_file_actions_addopen(void *, int, const char *, int, uint32_t)'),
    addChdir: c.func('int posix_spawn_file_actions_addchdir_np(void *, const char *)'),
    attrInit: c.func('int posix_spawnattr_init(void *)'),
    attrDestroy: c.func('int posix_spawnattr_destroy(void *)'),
    setFlags: c.func('int posix_spawnattr_setflags(void *, short)'),
    setSigDefault: c.func('int posix_spawnattr_setsigdefault(void *, const void *)'),
    setSigMask: c.func('int posix_spawnattr_setsigmask(void *, const void *)'),
    sigfillset: c.func('int sigfillset(void *)'),
    sigemptyset: c.func('int sigemptyset(void *)'),
    spawn: c.func('int posix_spawn(void *pid, const char *path, const void *actions, const void *attr, const char **argv, const char **envp)'),
    waitpid: c.func('int waitpid(int, void *status, int)'),
    setpriority: c.func('int setpriority(int, uint32_t, int)'),
  } as unknown as SpawnLib;
  return lib;
}

/** Children not reaped yet, by pid. */
const children = new Map<number, { done: (code: number) => void; ref: boolean }>();
let listening = false;
/**
 * While children are out, a slow poll as well: it keeps the event loop alive until they are
 * reaped (Node's signal handles do not) and reaps one whose SIGCHLD was somehow lost.
 */
let poll: NodeJS.Timeout | undefined;
const POLL_MS = 1000;

function reap(): void {
  const l = load();
  const status = new Int32Array(1);
  for (const [pid, { done }] of children) {
    const r = l.waitpid(pid, status, WNOHANG);
    if (r === 0) continue;
    children.delete(pid);
    // r < 0 (ECHILD): someone else reaped it; its status is lost.
    const s = status[0]!;
    done(r < 0 ? 255 : (s & 0x7f) === 0 ? (s >> 8) & 0xff : 128 + (s & 0x7f));
  }
  if (poll && ![...children.values()].some((c) => c.ref)) {
    clearInterval(poll);
    poll = undefined;
  }
}

function pipe(l: SpawnLib): [number, number] {
  const fds = new Int32Array(2);
  if (l.pipe2(fds, O_CLOEXEC) < 0) throw sysError('pipe2', l.errno());
  return [fds[0]!, fds[1]!];
}

/** `file` with stdin from /dev/null and stdout and stderr piped to berthd. */
export function spawnPiped(file: string, args: string[], o: SpawnOptions): PipedProcess {
  const child = spawnWith(file, args, ['null', 'pipe', 'pipe'], o);
  return { pid: child.pid, stdout: child.pipes[1]!, stderr: child.pipes[2]!, exited: child.exited };
}

/**
 * `file` with its descriptors 0, 1, 2… set as `fds` says (anything past them is closed at
 * its exec unless it lacks O_CLOEXEC). Throws when it cannot be started.
 */
export function spawnWith(file: string, args: string[], fds: ChildFd[], o: SpawnOptions): SpawnedProcess {
  const l = load();
  // [berthd's end, the child's end] of each piped descriptor: the read end of an output,
  // the write end of an input are berthd's.
  const ends: ([number, number] | undefined)[] = [];
  const actions = Buffer.alloc(ACTIONS_BYTES);
  const attr = Buffer.alloc(ATTR_BYTES);
  let pid: number;
  try {
    for (const kind of fds) {
      if (kind === 'null') ends.push(undefined);
      else {
        const [r, w] = pipe(l);
        ends.push(kind === 'pipe' ? [r, w] : [w, r]);
      }
    }
    l.actionsInit(actions);
    l.attrInit(attr);
    fds.forEach((kind, fd) => {
      const end = ends[fd];
      if (end) l.addDup2(actions, end[1], fd);
      else l.addOpen(actions, fd, '/dev/null', fd === 0 ? O_RDONLY : O_WRONLY, 0);
    });
    if (o.cwd !== undefined) l.addChdir(actions, o.cwd);
    // Every signal back to its default, glibc's own two (32 and 33) too: sigfillset leaves
    // them out, and posix_spawn would otherwise leave them ignored across the exec.
    const all = Buffer.alloc(SIGSET_BYTES);
    const none = Buffer.alloc(SIGSET_BYTES);
    l.sigfillset(all);
    all.fill(0xff, 0, 8);
    l.sigemptyset(none);
    l.setSigDefault(attr, all);
    l.setSigMask(attr, none);
    l.setFlags(attr, POSIX_SPAWN_SETSIGDEF | POSIX_SPAWN_SETSIGMASK | (o.setsid ? POSIX_SPAWN_SETSID : 0));
    const env = Object.entries(o.env).map(([k, v]) => `${k}=${v}`);
    const out = new Int32Array(1);
    // The listener must be there before the child can exit, or its SIGCHLD is missed.
    if (!listening) {
      process.on('SIGCHLD', reap);
      listening = true;
    }
    const err = l.spawn(out, file, actions, attr, [...args, null], [...env, null]);
    if (err !== 0) throw sysError('posix_spawn', err, file);
    pid = out[0]!;
    // PRIO_PROCESS (0); best effort: a child that already exited has no priority to set.
    if (o.nice !== undefined) l.setpriority(0, pid, o.nice);
  } catch (err) {
    for (const end of ends) if (end) l.close(end[0]);
    throw err;
  } finally {
    for (const end of ends) if (end) l.close(end[1]);
    l.actionsDestroy(actions);
    l.attrDestroy(attr);
  }
  const exited = new Promise<number>((resolve) => children.set(pid, { done: resolve, ref: !o.unref }));
  if (!o.unref) poll ??= setInterval(reap, POLL_MS);
  const pipes = ends.map((end, fd) => {
    const kind = fds[fd]!;
    if (!end || kind === 'null') return undefined;
    if (kind === 'pipe') return new net.Socket({ fd: end[0], readable: true, writable: false });
    // The input goes out as the child reads it; a child that exits without reading it all is no error.
    const input = new net.Socket({ fd: end[0], readable: false, writable: true });
    input.on('error', () => undefined);
    input.end(kind);
    return undefined;
  });
  return { pid, pipes, exited };
}

export interface CollectedRun {
  code: number;
  stdout: string;
  stderr: string;
}

/** What `runCollected` keeps of each output stream; past it the bytes are read and dropped. */
const COLLECT_LIMIT = 4 << 20;

/**
 * Runs `file` (argv[0] = `file`, then `args`) with `input` on its stdin and collects what
 * it prints: a helper that answers in one go (netavark, CNI plugins). Throws when it cannot
 * be started; after `timeoutMs` it is killed and its code is 128 + 9.
 */
export function runCollected(file: string, args: string[], input: Buffer, o: SpawnOptions & { timeoutMs?: number }): Promise<CollectedRun> {
  const child = spawnWith(file, [file, ...args], [input, 'pipe', 'pipe'], o);
  const collect = (s: Readable) =>
    new Promise<string>((resolve) => {
      const chunks: Buffer[] = [];
      let size = 0;
      s.on('data', (d: Buffer) => {
        if ((size += d.length) <= COLLECT_LIMIT) chunks.push(d);
      });
      const done = () => resolve(Buffer.concat(chunks).toString());
      s.on('error', done);
      s.on('close', done);
    });
  const timer =
    o.timeoutMs === undefined
      ? undefined
      : setTimeout(() => {
          try {
            process.kill(child.pid, 'SIGKILL');
          } catch {
            /* gone already */
          }
        }, o.timeoutMs);
  return Promise.all([child.exited, collect(child.pipes[1]!), collect(child.pipes[2]!)]).then(([code, stdout, stderr]) => {
    clearTimeout(timer);
    return { code, stdout, stderr };
  });
}

const MFD_CLOEXEC = 0x1;
const MFD_ALLOW_SEALING = 0x2;
const F_ADD_SEALS = 1033;
// F_SEAL_SEAL | F_SEAL_SHRINK | F_SEAL_GROW | F_SEAL_WRITE: nothing can change the copy any more.
const SEALS_ALL = 0x1 | 0x2 | 0x4 | 0x8;

interface MemfdLib {
  errno(): number;
  memfdCreate(name: string, flags: number): number;
  addSeals(fd: number, cmd: number, seals: number): number;
}

let memfdLib: MemfdLib | undefined;

/**
 * A sealed in-memory copy of the executable at `path` (memfd_create(2) with every seal
 * added): the descriptor, close-on-exec. Executing `/proc/self/fd/<fd>` then runs a copy
 * that no one can write to, which is what runc 1.1 otherwise makes of itself (an 8–9 MB
 * copy and a second exec) in every `runc init`, as its defence against CVE-2019-5736; it
 * skips that when it already runs from such a sealed memfd (runc's memfd-bind does this
 * for a whole host). Throws a SysError when the kernel refuses.
 */
export function sealedCopy(path: string): number {
  if (!memfdLib) {
    const { lib: c, errno } = libcHandle();
    const fcntl = c.func('int fcntl(int, int, ...)');
    memfdLib = {
      errno,
      memfdCreate: c.func('int memfd_create(const char *, unsigned int)') as MemfdLib['memfdCreate'],
      addSeals: (fd, cmd, seals) => fcntl(fd, cmd, 'int', seals) as number,
    };
  }
  const l = memfdLib;
  const fd = l.memfdCreate(path.slice(path.lastIndexOf('/') + 1) || 'exe', MFD_CLOEXEC | MFD_ALLOW_SEALING);
  if (fd < 0) throw sysError('memfd_create', l.errno(), path);
  let src = -1;
  try {
    src = openSync(path, 'r');
    const buf = Buffer.allocUnsafe(1 << 20);
    for (let n; (n = readSync(src, buf, 0, buf.length, null)) > 0; ) {
      for (let off = 0; off < n; ) off += writeSync(fd, buf, off, n - off);
    }
    if (l.addSeals(fd, F_ADD_SEALS, SEALS_ALL) < 0) throw sysError('fcntl(F_ADD_SEALS)', l.errno(), path);
  } catch (err) {
    closeSync(fd);
    throw err;
  } finally {
    if (src >= 0) closeSync(src);
  }
  return fd;
}
