#!/usr/bin/env node
// Berth benchmark: compares Berth (berthd) with another Docker-compatible daemon on one machine,
// in one run, through the real docker CLI. See bench/README.md.
//
// Measures, per daemon:
//   1. `docker run --rm IMG true` latency (median, p90) over N runs after warm-ups;
//   2. wall time of 20 concurrent `docker run -d IMG sleep 600`, then of `docker rm -f` of all;
//   3. daemon RSS idle and with 20 containers running;
//   4. per-container memory overhead: PSS (and RSS) of every per-container helper process
//      (conmon, containerd-shim*) plus the daemon's growth, divided by the container count.
//
// Node built-ins only. Every loop is bounded in count and time; everything started here
// (containers, a berthd) is stopped at the end, also on failure or signal.

import { spawn, spawnSync, ChildProcess } from 'node:child_process';
import * as fs from 'node:fs';
import * as http from 'node:http';
import * as os from 'node:os';
import * as path from 'node:path';
import { parseArgs } from 'node:util';
import { RuncBench, type RuncBaseline } from './runc-baseline';
import { phaseTable, readTrace, type TraceLine } from './trace-phases';

// ---------------------------------------------------------------------------------------------
// Options

interface Options {
  berthSock?: string;
  berthPid?: number;
  berthPidfile?: string;
  berthName: string;
  noBerth: boolean;
  berthd: string;
  workDir: string;
  peer?: string;
  peerPid?: number;
  peerPidfile?: string;
  peerName: string;
  image: string;
  runs: number;
  warmups: number;
  containers: number;
  clients: number;
  docker: string;
  busybox: string;
  json: boolean;
  cmdTimeoutMs: number;
  phaseTimeoutMs: number;
  totalTimeoutMs: number;
}

const REPO_ROOT = path.resolve(__dirname, '..', '..');
const LABEL = 'io.berth.bench.run';

const USAGE = `usage: npm run bench -- [options]
       node dist/bench/bench.js [options]

Targets
  --berth-sock unix://PATH   a running berthd; without it one is started from --berthd with
                             temporary data/exec roots and a pidfile, and stopped at the end
  --berth-pid PID | --berth-pidfile FILE
                             berthd's pid (default: the process listening on the socket)
  --berthd PATH              berthd executable to start (default: <repo>/bin/berthd)
  --no-berth                 measure only the peer
  --peer unix://PATH         another Docker-compatible daemon (e.g. dockerd) to compare with
  --peer-pid PID | --peer-pidfile FILE
                             the peer's pid (default: the process listening on the socket)
  --berth-name, --peer-name  column titles (default: berth, peer)
Workload
  --image NAME               image to run (default busybox:latest; created from a static
                             busybox with 'docker import' when a daemon lacks it)
  --runs N                   timed 'docker run --rm IMG true' runs (default 20)
  --warmups N                untimed runs first (default 2)
  --containers N             containers started with run -d (default 20)
  --clients N                docker CLI processes starting them at once, each in turn (default 4)
Other
  --docker PATH              docker CLI (default /usr/local/bin/docker, else docker in PATH)
  --busybox PATH             static busybox for the image (default /usr/bin/busybox)
  --work-dir DIR             where temporary files go (default ${os.tmpdir()})
  --cmd-timeout SEC          limit for one docker CLI call (default 120)
  --phase-timeout SEC        limit for one phase (default 600)
  --timeout SEC              limit for the whole run (default 1800)
  --json                     print results as JSON on stdout (progress always goes to stderr)
`;

function parseOptions(argv: string[]): Options {
  const { values } = parseArgs({
    args: argv,
    strict: true,
    allowPositionals: false,
    options: {
      'berth-sock': { type: 'string' },
      'berth-pid': { type: 'string' },
      'berth-pidfile': { type: 'string' },
      'berth-name': { type: 'string' },
      'no-berth': { type: 'boolean' },
      berthd: { type: 'string' },
      'work-dir': { type: 'string' },
      peer: { type: 'string' },
      'peer-pid': { type: 'string' },
      'peer-pidfile': { type: 'string' },
      'peer-name': { type: 'string' },
      image: { type: 'string' },
      runs: { type: 'string' },
      warmups: { type: 'string' },
      containers: { type: 'string' },
      clients: { type: 'string' },
      docker: { type: 'string' },
      busybox: { type: 'string' },
      json: { type: 'boolean' },
      'cmd-timeout': { type: 'string' },
      'phase-timeout': { type: 'string' },
      timeout: { type: 'string' },
      help: { type: 'boolean', short: 'h' },
    },
  });
  if (values.help) {
    process.stdout.write(USAGE);
    process.exit(0);
  }
  const int = (name: string, v: string | undefined, def: number, min: number, max: number): number => {
    if (v === undefined) return def;
    const n = Number(v);
    if (!Number.isInteger(n) || n < min || n > max) throw new UsageError(`--${name} must be an integer in [${min}, ${max}]`);
    return n;
  };
  const defaultDocker = fs.existsSync('/usr/local/bin/docker') ? '/usr/local/bin/docker' : 'docker';
  const o: Options = {
    berthSock: values['berth-sock'] !== undefined ? unixSocketPath('--berth-sock', values['berth-sock']) : undefined,
    berthPid: values['berth-pid'] !== undefined ? int('berth-pid', values['berth-pid'], 0, 1, 2 ** 22) : undefined,
    berthPidfile: values['berth-pidfile'],
    berthName: values['berth-name'] ?? 'berth',
    noBerth: values['no-berth'] ?? false,
    berthd: path.resolve(values.berthd ?? path.join(REPO_ROOT, 'bin', 'berthd')),
    workDir: path.resolve(values['work-dir'] ?? os.tmpdir()),
    peer: values.peer !== undefined ? unixSocketPath('--peer', values.peer) : undefined,
    peerPid: values['peer-pid'] !== undefined ? int('peer-pid', values['peer-pid'], 0, 1, 2 ** 22) : undefined,
    peerPidfile: values['peer-pidfile'],
    peerName: values['peer-name'] ?? 'peer',
    image: values.image ?? 'busybox:latest',
    runs: int('runs', values.runs, 20, 1, 10000),
    warmups: int('warmups', values.warmups, 2, 0, 100),
    containers: int('containers', values.containers, 20, 1, 500),
    clients: int('clients', values.clients, 4, 1, 500),
    docker: values.docker ?? defaultDocker,
    busybox: values.busybox ?? '/usr/bin/busybox',
    json: values.json ?? false,
    cmdTimeoutMs: int('cmd-timeout', values['cmd-timeout'], 120, 1, 3600) * 1000,
    phaseTimeoutMs: int('phase-timeout', values['phase-timeout'], 600, 1, 36000) * 1000,
    totalTimeoutMs: int('timeout', values.timeout, 1800, 10, 86400) * 1000,
  };
  if (o.noBerth && !o.peer) throw new UsageError('--no-berth needs --peer');
  if (o.noBerth && o.berthSock) throw new UsageError('--no-berth and --berth-sock exclude each other');
  return o;
}

class UsageError extends Error {}

/** Only local unix sockets are ever talked to. */
function unixSocketPath(flag: string, v: string): string {
  if (!v.startsWith('unix://')) throw new UsageError(`${flag} must be unix:///path/to/socket (got ${v})`);
  const p = v.slice('unix://'.length);
  if (!path.isAbsolute(p)) throw new UsageError(`${flag} must name an absolute socket path (got ${v})`);
  return p;
}

// ---------------------------------------------------------------------------------------------
// Logging, cleanup, bounded waiting

function log(msg: string): void {
  process.stderr.write(`[bench ${new Date().toISOString().slice(11, 19)}] ${msg}\n`);
}

const sleep = (ms: number) => new Promise<void>((r) => setTimeout(r, ms));

type Cleanup = { name: string; fn: () => Promise<void> };
const cleanups: Cleanup[] = [];
const activeChildren = new Set<ChildProcess>();
let cleaningUp: Promise<void> | undefined;

function onCleanup(name: string, fn: () => Promise<void>): Cleanup {
  const c = { name, fn };
  cleanups.push(c);
  return c;
}
function dropCleanup(c: Cleanup): void {
  const i = cleanups.indexOf(c);
  if (i >= 0) cleanups.splice(i, 1);
}

/** Runs the registered cleanups once, newest first; each is bounded by its own timeouts. */
function cleanupAll(): Promise<void> {
  if (!cleaningUp) {
    cleaningUp = (async () => {
      for (const ch of activeChildren) {
        try { ch.kill('SIGKILL'); } catch { /* gone */ }
      }
      while (cleanups.length > 0) {
        const c = cleanups.pop()!;
        try {
          await c.fn();
        } catch (e) {
          log(`cleanup '${c.name}' failed: ${errMsg(e)}`);
        }
      }
    })();
  }
  return cleaningUp;
}

function errMsg(e: unknown): string {
  return e instanceof Error ? e.message : String(e);
}

// ---------------------------------------------------------------------------------------------
// Running the docker CLI

interface CmdResult {
  code: number | null;
  signal: NodeJS.Signals | null;
  stdout: string;
  stderr: string;
  ms: number;
  timedOut: boolean;
}

let dockerEnv: NodeJS.ProcessEnv = process.env;

function run(file: string, args: string[], timeoutMs: number, input?: string): Promise<CmdResult> {
  return new Promise((resolve) => {
    const t0 = process.hrtime.bigint();
    let tExit: bigint | undefined;
    let timedOut = false;
    let stdout = '';
    let stderr = '';
    const ch = spawn(file, args, { env: dockerEnv, stdio: [input === undefined ? 'ignore' : 'pipe', 'pipe', 'pipe'] });
    activeChildren.add(ch);
    const timer = setTimeout(() => {
      timedOut = true;
      try { ch.kill('SIGKILL'); } catch { /* gone */ }
    }, timeoutMs);
    ch.stdout!.setEncoding('utf8').on('data', (d: string) => { if (stdout.length < 1 << 20) stdout += d; });
    ch.stderr!.setEncoding('utf8').on('data', (d: string) => { if (stderr.length < 1 << 20) stderr += d; });
    if (input !== undefined) ch.stdin!.end(input);
    ch.on('exit', () => { tExit = process.hrtime.bigint(); });
    ch.on('error', (e) => { stderr += `spawn failed: ${e.message}`; });
    ch.on('close', (code, signal) => {
      clearTimeout(timer);
      activeChildren.delete(ch);
      const t1 = tExit ?? process.hrtime.bigint();
      resolve({ code, signal, stdout, stderr, ms: Number(t1 - t0) / 1e6, timedOut });
    });
  });
}

function cmdError(what: string, r: CmdResult): Error {
  const why = r.timedOut ? 'timed out' : r.code !== null ? `exit ${r.code}` : `signal ${r.signal}`;
  return new Error(`${what}: ${why}: ${(r.stderr || r.stdout).trim().split('\n').slice(-3).join(' | ')}`);
}

// ---------------------------------------------------------------------------------------------
// /proc

interface Proc {
  pid: number;
  ppid: number;
  pgrp: number;
  state: string;
  comm: string;
  cmdline: string[];
}

function fileSize(f: string): number {
  try {
    return fs.statSync(f).size;
  } catch {
    return 0;
  }
}

function readProc(pid: number): Proc | undefined {
  try {
    const stat = fs.readFileSync(`/proc/${pid}/stat`, 'utf8');
    const close = stat.lastIndexOf(')');
    const comm = stat.slice(stat.indexOf('(') + 1, close);
    const rest = stat.slice(close + 2).split(' ');
    let cmdline: string[] = [];
    try {
      cmdline = fs.readFileSync(`/proc/${pid}/cmdline`, 'utf8').split('\0');
      if (cmdline.length > 0 && cmdline[cmdline.length - 1] === '') cmdline.pop();
    } catch { /* kernel thread or gone */ }
    return { pid, ppid: Number(rest[1]), pgrp: Number(rest[2]), state: rest[0], comm, cmdline };
  } catch {
    return undefined;
  }
}

export function listProcs(): Map<number, Proc> {
  const m = new Map<number, Proc>();
  for (const n of fs.readdirSync('/proc')) {
    if (!/^\d+$/.test(n)) continue;
    const p = readProc(Number(n));
    if (p) m.set(p.pid, p);
  }
  return m;
}

function childrenMap(procs: Map<number, Proc>): Map<number, number[]> {
  const m = new Map<number, number[]>();
  for (const p of procs.values()) {
    const l = m.get(p.ppid);
    if (l) l.push(p.pid);
    else m.set(p.ppid, [p.pid]);
  }
  return m;
}

function descendants(roots: Iterable<number>, kids: Map<number, number[]>, includeRoots: boolean): Set<number> {
  const out = new Set<number>();
  const stack = [...roots];
  if (includeRoots) for (const r of stack) out.add(r);
  let guard = 0;
  while (stack.length > 0 && guard++ < 1_000_000) {
    const p = stack.pop()!;
    for (const c of kids.get(p) ?? []) {
      if (!out.has(c)) {
        out.add(c);
        stack.push(c);
      }
    }
  }
  return out;
}

/** kB from a "Key:   123 kB" line of a /proc file; undefined if absent. */
function procKb(file: string, key: string): number | undefined {
  let text: string;
  try {
    text = fs.readFileSync(file, 'utf8');
  } catch {
    return undefined;
  }
  const m = new RegExp(`^${key}:\\s+(\\d+) kB`, 'm').exec(text);
  return m ? Number(m[1]) : undefined;
}

export function rssKb(pid: number): number {
  return procKb(`/proc/${pid}/status`, 'VmRSS') ?? 0;
}

export function pssKb(pid: number): number {
  const v = procKb(`/proc/${pid}/smaps_rollup`, 'Pss');
  if (v !== undefined) return v;
  // Older kernels: add up smaps.
  try {
    let sum = 0;
    for (const m of fs.readFileSync(`/proc/${pid}/smaps`, 'utf8').matchAll(/^Pss:\s+(\d+) kB/gm)) sum += Number(m[1]);
    return sum;
  } catch {
    return rssKb(pid);
  }
}

/** The pid of the process that listens on a unix socket path (via /proc/net/unix inodes). */
function socketOwnerPid(sockPath: string): number | undefined {
  const inodes = new Set<string>();
  try {
    for (const line of fs.readFileSync('/proc/net/unix', 'utf8').split('\n').slice(1)) {
      const f = line.trim().split(/\s+/);
      // Num RefCount Protocol Flags Type St Inode Path; Flags 00010000 = __SO_ACCEPTCON (listening)
      if (f.length >= 8 && f[7] === sockPath && f[3] === '00010000') inodes.add(f[6]);
    }
  } catch {
    return undefined;
  }
  if (inodes.size === 0) return undefined;
  const owners: number[] = [];
  for (const n of fs.readdirSync('/proc')) {
    if (!/^\d+$/.test(n)) continue;
    let fds: string[];
    try {
      fds = fs.readdirSync(`/proc/${n}/fd`);
    } catch {
      continue;
    }
    for (const fd of fds) {
      let l: string;
      try {
        l = fs.readlinkSync(`/proc/${n}/fd/${fd}`);
      } catch {
        continue;
      }
      const m = /^socket:\[(\d+)\]$/.exec(l);
      if (m && inodes.has(m[1])) {
        owners.push(Number(n));
        break;
      }
    }
  }
  // The topmost owner (one whose parent does not also hold the socket).
  const set = new Set(owners);
  return owners.find((p) => !set.has(readProc(p)?.ppid ?? -1)) ?? owners[0];
}

function pidAlive(pid: number): boolean {
  const p = readProc(pid);
  return p !== undefined && p.state !== 'Z';
}

function readPidfile(file: string): number | undefined {
  try {
    const n = Number(fs.readFileSync(file, 'utf8').trim());
    return Number.isInteger(n) && n > 0 ? n : undefined;
  } catch {
    return undefined;
  }
}

// ---------------------------------------------------------------------------------------------
// Talking to a daemon directly (only /_ping, only on its unix socket)

function ping(sockPath: string): Promise<boolean> {
  return new Promise((resolve) => {
    const req = http.request({ socketPath: sockPath, path: '/_ping', method: 'GET', timeout: 2000 }, (res) => {
      res.resume();
      res.on('end', () => resolve(res.statusCode === 200));
    });
    req.on('timeout', () => req.destroy(new Error('timeout')));
    req.on('error', () => resolve(false));
    req.end();
  });
}

// ---------------------------------------------------------------------------------------------
// Image: a rootfs tar made from a static busybox, written here (ustar)

function tarHeader(name: string, type: '0' | '2' | '5', mode: number, size: number, linkname = ''): Buffer {
  const h = Buffer.alloc(512, 0);
  const str = (s: string, off: number, len: number) => {
    const b = Buffer.from(s, 'utf8');
    if (b.length > len) throw new Error(`tar: field too long: ${s}`);
    b.copy(h, off);
  };
  const oct = (n: number, off: number, len: number) => str(n.toString(8).padStart(len - 1, '0') + '\0', off, len);
  str(name, 0, 100);
  oct(mode, 100, 8);
  oct(0, 108, 8); // uid
  oct(0, 116, 8); // gid
  oct(size, 124, 12);
  oct(Math.floor(Date.now() / 1000), 136, 12);
  h.fill(0x20, 148, 156); // checksum placeholder: spaces
  str(type, 156, 1);
  str(linkname, 157, 100);
  str('ustar\0', 257, 6);
  str('00', 263, 2);
  str('root', 265, 32);
  str('root', 297, 32);
  let sum = 0;
  for (const b of h) sum += b;
  str(sum.toString(8).padStart(6, '0') + '\0 ', 148, 8);
  return h;
}

function tarFile(name: string, mode: number, data: Buffer): Buffer[] {
  const pad = (512 - (data.length % 512)) % 512;
  return [tarHeader(name, '0', mode, data.length), data, Buffer.alloc(pad, 0)];
}

/** True if the ELF file has no PT_INTERP program header (i.e. is statically linked). */
function isStaticElf(file: string): boolean {
  const b = fs.readFileSync(file);
  if (b.length < 64 || b.readUInt32BE(0) !== 0x7f454c46) throw new Error(`${file} is not an ELF file`);
  if (b[4] !== 2) throw new Error(`${file}: only 64-bit ELF is handled`);
  const le = b[5] === 1;
  const u16 = (o: number) => (le ? b.readUInt16LE(o) : b.readUInt16BE(o));
  const u32 = (o: number) => (le ? b.readUInt32LE(o) : b.readUInt32BE(o));
  const phoff = Number(le ? b.readBigUInt64LE(0x20) : b.readBigUInt64BE(0x20));
  const phentsize = u16(0x36);
  const phnum = u16(0x38);
  for (let i = 0; i < phnum && i < 4096; i++) {
    if (u32(phoff + i * phentsize) === 3 /* PT_INTERP */) return false;
  }
  return true;
}

export function writeBusyboxRootfsTar(busybox: string, out: string): void {
  if (!fs.existsSync(busybox)) throw new Error(`${busybox} not found: apt-get install busybox-static`);
  if (!isStaticElf(busybox)) throw new Error(`${busybox} is dynamically linked: apt-get install busybox-static`);
  const parts: Buffer[] = [];
  for (const d of ['bin/', 'dev/', 'etc/', 'proc/', 'sys/', 'root/']) parts.push(tarHeader(d, '5', 0o755, 0));
  parts.push(tarHeader('tmp/', '5', 0o1777, 0));
  parts.push(...tarFile('bin/busybox', 0o755, fs.readFileSync(busybox)));
  for (const l of ['sh', 'true', 'sleep', 'echo']) parts.push(tarHeader(`bin/${l}`, '2', 0o777, 0, 'busybox'));
  parts.push(...tarFile('etc/passwd', 0o644, Buffer.from('root:x:0:0:root:/root:/bin/sh\n')));
  parts.push(...tarFile('etc/group', 0o644, Buffer.from('root:x:0:\n')));
  parts.push(Buffer.alloc(1024, 0));
  fs.writeFileSync(out, Buffer.concat(parts));
}

// ---------------------------------------------------------------------------------------------
// Targets

interface Target {
  key: 'berth' | 'peer';
  name: string;
  sock: string;
  host: string; // unix://sock
  pid: number;
  /** Paths whose presence in a helper's command line ties it to this daemon. */
  tieTokens: string[];
  /** Set when the bench started the daemon (a berthd): its exec root and trace file. */
  own?: OwnDaemon;
}

function resolvePid(what: string, sock: string, pid?: number, pidfile?: string): number {
  if (pid !== undefined) return pid;
  if (pidfile !== undefined) {
    const p = readPidfile(pidfile);
    if (p === undefined) throw new Error(`${what}: cannot read a pid from ${pidfile}`);
    return p;
  }
  const p = socketOwnerPid(sock);
  if (p === undefined) throw new Error(`${what}: no process found listening on ${sock}; pass --${what}-pid or --${what}-pidfile`);
  return p;
}

function argValue(cmdline: string[], flag: string): string | undefined {
  for (let i = 0; i < cmdline.length; i++) {
    if (cmdline[i] === flag && i + 1 < cmdline.length) return cmdline[i + 1];
    if (cmdline[i].startsWith(flag + '=')) return cmdline[i].slice(flag.length + 1);
  }
  return undefined;
}

/**
 * What ties a per-container helper to this daemon: its exec and data roots (conmon's command
 * line names files under berthd's roots; a managed containerd's socket lives under dockerd's
 * exec root), an external containerd's address, and the address of a containerd child.
 */
function tieTokensFor(pid: number): string[] {
  const tokens = new Set<string>();
  const me = readProc(pid);
  if (!me) return [];
  const add = (p: string | undefined) => { if (p && path.isAbsolute(p) && p !== '/') tokens.add(path.normalize(p)); };
  add(argValue(me.cmdline, '--exec-root'));
  add(argValue(me.cmdline, '--data-root'));
  add(argValue(me.cmdline, '--containerd'));
  const procs = listProcs();
  for (const c of procs.values()) {
    if (c.ppid !== pid || c.comm !== 'containerd') continue;
    add(argValue(c.cmdline, '--address') ?? argValue(c.cmdline, '-a'));
    const cfg = argValue(c.cmdline, '--config') ?? argValue(c.cmdline, '-c');
    if (cfg) add(path.join(path.dirname(cfg), 'containerd.sock'));
  }
  if (tokens.size === 0 && /dockerd/.test(me.comm)) add('/var/run/docker/containerd/containerd.sock');
  return [...tokens];
}

export function hasToken(cmdline: string[], tokens: string[]): boolean {
  const text = cmdline.join(' ');
  return tokens.some((t) => {
    let i = text.indexOf(t);
    while (i >= 0) {
      const next = text[i + t.length];
      if (next === undefined || next === '/' || next === ' ' || next === '"' || next === ',') return true;
      i = text.indexOf(t, i + 1);
    }
    return false;
  });
}

const HELPER_COMM = /^(conmon|containerd-shim.*)$/;
const HELPER_EXE = /(^|\/)(conmon|containerd-shim[^/]*)$/;

interface MemSample {
  daemonRssKb: number;
  daemonPssKb: number;
  /** The daemon plus its own long-lived children (e.g. dockerd's managed containerd). */
  stackRssKb: number;
  stackPssKb: number;
  stackPids: number[];
  helperCount: number;
  helperRssKb: number;
  helperPssKb: number;
  helpers: { pid: number; comm: string; rssKb: number; pssKb: number }[];
}

/**
 * One look at memory. Helpers: processes named conmon / containerd-shim* whose command line
 * carries one of the daemon's tie tokens, plus the parent of every container's init process
 * that is neither the daemon nor pid 1. Container processes (the init pids, and everything
 * below a helper) are excluded everywhere.
 */
function sampleMemory(t: Target, containerPids: number[]): MemSample {
  const procs = listProcs();
  const kids = childrenMap(procs);
  const helpers = new Set<number>();
  for (const p of procs.values()) {
    if (p.state === 'Z' || p.pid === t.pid) continue;
    const named = HELPER_COMM.test(p.comm) || (p.cmdline.length > 0 && HELPER_EXE.test(p.cmdline[0]));
    if (named && hasToken(p.cmdline, t.tieTokens)) helpers.add(p.pid);
  }
  for (const c of containerPids) {
    const parent = procs.get(c)?.ppid;
    if (parent !== undefined && parent > 1 && parent !== t.pid && procs.get(parent)?.state !== 'Z') helpers.add(parent);
  }
  const containerProcs = descendants(containerPids, kids, true);
  for (const h of [...helpers]) if (containerProcs.has(h)) helpers.delete(h);
  const underHelpers = descendants(helpers, kids, false);
  const stack = [t.pid, ...descendants([t.pid], kids, false)].filter(
    (p) => !helpers.has(p) && !underHelpers.has(p) && !containerProcs.has(p) && procs.get(p)?.state !== 'Z',
  );
  const hl = [...helpers].map((pid) => ({ pid, comm: procs.get(pid)?.comm ?? '?', rssKb: rssKb(pid), pssKb: pssKb(pid) }));
  return {
    daemonRssKb: rssKb(t.pid),
    daemonPssKb: pssKb(t.pid),
    stackRssKb: stack.reduce((s, p) => s + rssKb(p), 0),
    stackPssKb: stack.reduce((s, p) => s + pssKb(p), 0),
    stackPids: stack,
    helperCount: hl.length,
    helperRssKb: hl.reduce((s, h) => s + h.rssKb, 0),
    helperPssKb: hl.reduce((s, h) => s + h.pssKb, 0),
    helpers: hl,
  };
}

/** Median of several samples, field by field (samples taken a little apart). */
async function sampleMemoryStable(t: Target, containerPids: number[], n = 3, gapMs = 500): Promise<MemSample> {
  const s: MemSample[] = [];
  for (let i = 0; i < n; i++) {
    if (i > 0) await sleep(gapMs);
    s.push(sampleMemory(t, containerPids));
  }
  const med = (f: (x: MemSample) => number) => median(s.map(f));
  const last = s[s.length - 1];
  return {
    ...last,
    daemonRssKb: med((x) => x.daemonRssKb),
    daemonPssKb: med((x) => x.daemonPssKb),
    stackRssKb: med((x) => x.stackRssKb),
    stackPssKb: med((x) => x.stackPssKb),
    helperCount: Math.round(med((x) => x.helperCount)),
    helperRssKb: med((x) => x.helperRssKb),
    helperPssKb: med((x) => x.helperPssKb),
  };
}

// ---------------------------------------------------------------------------------------------
// Stats

export function median(xs: number[]): number {
  if (xs.length === 0) return NaN;
  const s = [...xs].sort((a, b) => a - b);
  const m = s.length >> 1;
  return s.length % 2 ? s[m] : (s[m - 1] + s[m]) / 2;
}

/** Nearest-rank percentile. */
function percentile(xs: number[], p: number): number {
  if (xs.length === 0) return NaN;
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.min(s.length - 1, Math.max(0, Math.ceil((p / 100) * s.length) - 1))];
}

// ---------------------------------------------------------------------------------------------
// A berthd of our own

interface OwnDaemon {
  sock: string;
  pid: number;
  dir: string;
  execRoot: string;
  /** BERTH_TRACE file of the berthd (phase timing). */
  traceFile: string;
}

async function startBerthd(o: Options, runId: string): Promise<OwnDaemon> {
  if (!fs.existsSync(o.berthd)) throw new Error(`${o.berthd} not found`);
  const dir = fs.mkdtempSync(path.join(o.workDir, 'berth-bench-d-'));
  const dataRoot = path.join(dir, 'data');
  const execRoot = path.join(dir, 'exec');
  const pidfile = path.join(dir, 'berthd.pid');
  const sock = path.join(dir, 'berthd.sock');
  const logFile = path.join(dir, 'berthd.log');
  fs.mkdirSync(dataRoot);
  fs.mkdirSync(execRoot);
  const logFd = fs.openSync(logFile, 'a');
  const args = ['-H', `unix://${sock}`, '--data-root', dataRoot, '--exec-root', execRoot, '--pidfile', pidfile];
  log(`starting ${o.berthd} ${args.join(' ')}`);
  const traceFile = path.join(dir, 'trace.jsonl');
  const ch = spawn(o.berthd, args, { stdio: ['ignore', logFd, logFd], detached: true, cwd: REPO_ROOT, env: { ...process.env, BERTH_TRACE: traceFile } });
  fs.closeSync(logFd);
  let exited = false;
  ch.on('exit', () => { exited = true; });
  ch.on('error', () => { exited = true; });
  const pgid = ch.pid;
  const own: OwnDaemon = { sock, pid: ch.pid ?? -1, dir, execRoot, traceFile };
  const keptLog = path.join(os.tmpdir(), `berth-bench-${runId}-berthd.log`);
  onCleanup('stop berthd', () => stopOwnBerthd(own, pgid, () => exited, logFile, keptLog));
  const deadline = Date.now() + 60_000;
  for (let i = 0; i < 600 && Date.now() < deadline; i++) {
    if (exited) break;
    if (fs.existsSync(sock) && (await ping(sock))) {
      own.pid = readPidfile(pidfile) ?? own.pid;
      log(`berthd is up, pid ${own.pid}`);
      return own;
    }
    await sleep(100);
  }
  throw new Error(`berthd did not come up (${exited ? 'it exited' : 'timed out'}); log kept at ${keptLog}:\n${tail(logFile, 15)}`);
}

function tail(file: string, n: number): string {
  try {
    return fs.readFileSync(file, 'utf8').trimEnd().split('\n').slice(-n).join('\n');
  } catch {
    return '(no log)';
  }
}

/** Processes tied to our own berthd's roots that were still alive after it stopped. */
let ownBerthdLeftovers: string[] | undefined;

async function stopOwnBerthd(d: OwnDaemon, pgid: number | undefined, exited: () => boolean, logFile: string, kept: string): Promise<void> {
  log(`stopping berthd (pid ${d.pid})`);
  const pids = new Set([d.pid, pgid ?? -1].filter((p) => p > 1));
  for (const p of pids) signal(p, 'SIGTERM');
  for (let i = 0; i < 150 && [...pids].some(pidAlive) && !(exited() && !pidAlive(d.pid)); i++) await sleep(100);
  for (const p of pids) if (pidAlive(p)) { log(`berthd pid ${p} still alive: SIGKILL`); signal(p, 'SIGKILL'); }
  // Anything left in its process group, and helpers tied to its private exec root.
  if (pgid !== undefined && pgid > 1) {
    try { process.kill(-pgid, 'SIGKILL'); } catch { /* empty group */ }
  }
  const left = [...listProcs().values()].filter(
    (p) => p.state !== 'Z' && p.pid !== process.pid && hasToken(p.cmdline, [d.execRoot, d.dir]),
  );
  ownBerthdLeftovers = left.map((p) => `${p.comm} ${p.pid}`);
  for (const p of left) { log(`killing leftover ${p.comm} ${p.pid}`); signal(p.pid, 'SIGKILL'); }
  if (left.length > 0) await sleep(500);
  if (!unmountUnder(d.dir)) {
    log(`mounts remain under ${d.dir}: leaving it in place`);
    return;
  }
  try {
    fs.cpSync(logFile, kept);
    log(`berthd's log kept at ${kept}`);
  } catch { /* no log */ }
  fs.rmSync(d.dir, { recursive: true, force: true, maxRetries: 3 });
}

function signal(pid: number, sig: NodeJS.Signals): void {
  try { process.kill(pid, sig); } catch { /* gone */ }
}

/** Lazily unmounts every mount at or below dir (deepest first); true if none remain. */
export function unmountUnder(dir: string): boolean {
  const under = () => {
    const out: string[] = [];
    try {
      for (const line of fs.readFileSync('/proc/self/mountinfo', 'utf8').split('\n')) {
        const mp = line.split(' ')[4];
        if (!mp) continue;
        const p = mp.replace(/\\(\d{3})/g, (_, o: string) => String.fromCharCode(parseInt(o, 8)));
        if (p === dir || p.startsWith(dir + '/')) out.push(p);
      }
    } catch { /* no /proc */ }
    return out.sort((a, b) => b.length - a.length);
  };
  for (let round = 0; round < 3; round++) {
    const mps = under();
    if (mps.length === 0) return true;
    for (const mp of mps) {
      const r = spawnSync('umount', ['-l', mp], { stdio: 'ignore', timeout: 10_000 });
      if (r.status !== 0) log(`umount -l ${mp} failed`);
    }
  }
  return under().length === 0;
}

/** Mount points at or below any of the given directories. */
function mountsUnder(dirs: string[]): string[] {
  const out: string[] = [];
  if (dirs.length === 0) return out;
  try {
    for (const line of fs.readFileSync('/proc/self/mountinfo', 'utf8').split('\n')) {
      const mp = line.split(' ')[4];
      if (!mp) continue;
      const p = mp.replace(/\\(\d{3})/g, (_, o: string) => String.fromCharCode(parseInt(o, 8)));
      if (dirs.some((d) => p === d || p.startsWith(d + '/'))) out.push(p);
    }
  } catch { /* no /proc */ }
  return out;
}

// ---------------------------------------------------------------------------------------------
// The measurements

interface Series {
  samples: number[];
  failures: number;
  median: number;
  min: number;
  max: number;
}

function series(samples: number[], failures: number): Series {
  return { samples: samples.map((x) => Math.round(x * 10) / 10), failures, median: median(samples), min: Math.min(...samples), max: Math.max(...samples) };
}

/** `n` timed runs of `args` after `warm` untimed ones; the failures are counted, not timed. */
async function timedSeries(t: Target, o: Options, what: string, n: number, warm: number, args: () => string[], after?: (warm: boolean) => Promise<void>): Promise<Series> {
  const xs: number[] = [];
  let failures = 0;
  const end = Date.now() + o.phaseTimeoutMs;
  for (let i = 0; i < n + warm && Date.now() < end; i++) {
    const r = await docker(t, o, args());
    await after?.(i < warm);
    if (r.code !== 0) {
      failures++;
      if (failures === 1) log(`${t.name}: ${cmdError(what, r).message}`);
      if (failures >= 3 && xs.length === 0) throw new Error(`${t.name}: ${what} keeps failing`);
    } else if (i >= warm) xs.push(r.ms);
  }
  if (xs.length === 0) throw new Error(`${t.name}: no successful ${what}`);
  const s = series(xs, failures);
  log(`${t.name}: ${what} median ${s.median.toFixed(1)} ms (${s.min.toFixed(1)}–${s.max.toFixed(1)}, ${xs.length} runs)`);
  return s;
}

interface TargetResult {
  name: string;
  ok: boolean;
  error?: string;
  server?: string;
  pid?: number;
  tieTokens?: string[];
  imageImported?: boolean;
  runLatencyMs?: { samples: number[]; failures: number; median: number; p90: number; min: number; max: number; mean: number };
  /** The same with `--network none`. */
  runNoneLatencyMs?: Series;
  /** `docker create` + `docker start` (detached `sleep`), summed: until the API says it runs. */
  createStartMs?: Series;
  /** `docker exec CTR true`. */
  execMs?: Series;
  /** Per phase of the timed `run --rm`s, as berthd's BERTH_TRACE saw them (own berthd only). */
  phases?: { phase: string; n: number; median: number; min: number; max: number }[];

  /** `docker version` against the daemon: the CLI's own start-up plus two trivial API calls. */
  cliFloorMs?: { samples: number[]; median: number };
  /** What is left once every bench container was removed (and, for a berthd of our own, once it stopped). */
  leftovers?: { containers: number; helpers: number; mountsIdle: number; mountsAfterRm: number; mountPoints: string[] };
  start?: { n: number; wallMs: number; failures: number; running: number; errors: string[] };
  rm?: { n: number; wallMs: number; ok: boolean; error?: string };
  memory?: {
    idle: MemSample;
    beforeContainers: MemSample;
    withContainers: MemSample;
    afterRm?: MemSample;
    containersMeasured: number;
    perContainerPssKb: number;
    perContainerRssKb: number;
    stackGrowthPssKb: number;
    stackGrowthRssKb: number;
  };
}

async function docker(t: Target, o: Options, args: string[], timeoutMs = o.cmdTimeoutMs): Promise<CmdResult> {
  return run(o.docker, ['-H', t.host, ...args], timeoutMs);
}

async function ensureImage(t: Target, o: Options, tmp: string): Promise<boolean> {
  const r = await docker(t, o, ['image', 'inspect', '--format', '{{.Id}}', o.image]);
  if (r.code === 0) return false;
  const tar = path.join(tmp, 'busybox-rootfs.tar');
  if (!fs.existsSync(tar)) writeBusyboxRootfsTar(o.busybox, tar);
  if (!o.image.startsWith('busybox')) log(`note: ${o.image} is made from busybox (sh, true, sleep, echo)`);
  log(`${t.name}: importing ${o.image} from ${o.busybox}`);
  const imp = await docker(t, o, ['import', tar, o.image]);
  if (imp.code !== 0) throw cmdError(`${t.name}: docker import`, imp);
  const chk = await docker(t, o, ['image', 'inspect', '--format', '{{.Id}}', o.image]);
  if (chk.code !== 0) throw cmdError(`${t.name}: image inspect after import`, chk);
  return true;
}

async function removeContainers(t: Target, o: Options, ids: string[], runId: string): Promise<void> {
  const byLabel = await docker(t, o, ['ps', '-aq', '--no-trunc', '--filter', `label=${LABEL}=${runId}`], 30_000);
  const all = new Set(ids);
  if (byLabel.code === 0) for (const id of byLabel.stdout.split(/\s+/)) if (id) all.add(id);
  if (all.size === 0) return;
  log(`${t.name}: removing ${all.size} container(s)`);
  const r = await docker(t, o, ['rm', '-f', ...all], 120_000);
  if (r.code !== 0) log(`${t.name}: rm -f: ${(r.stderr || '').trim().split('\n').slice(-2).join(' | ')}`);
}

async function inspectState(t: Target, o: Options, ids: string[]): Promise<{ running: boolean; pid: number }[]> {
  if (ids.length === 0) return [];
  const r = await docker(t, o, ['inspect', '--format', '{{.State.Running}} {{.State.Pid}}', ...ids], 30_000);
  return r.stdout
    .split('\n')
    .filter((l) => l.trim())
    .map((l) => {
      const [running, pid] = l.trim().split(' ');
      return { running: running === 'true', pid: Number(pid) || 0 };
    });
}

/** Bare runc sampled beside the berth target (see benchTarget). */
let runcBench: RuncBench | undefined;

async function benchTarget(t: Target, o: Options, runId: string, tmp: string): Promise<TargetResult> {
  const res: TargetResult = { name: t.name, ok: false, pid: t.pid, tieTokens: t.tieTokens };
  const ver = await docker(t, o, ['version', '--format', '{{.Server.Version}}'], 30_000);
  if (ver.code !== 0) throw cmdError(`${t.name}: docker version`, ver);
  res.server = ver.stdout.trim();
  log(`${t.name}: server ${res.server}, daemon pid ${t.pid} (${readProc(t.pid)?.comm}), helpers tied by ${JSON.stringify(t.tieTokens)}`);

  // Leftovers of an earlier, killed bench run (they carry our label).
  const stale = await docker(t, o, ['ps', '-aq', '--filter', `label=${LABEL}`], 30_000);
  if (stale.code === 0 && stale.stdout.trim()) {
    log(`${t.name}: removing containers left by an earlier bench run`);
    await docker(t, o, ['rm', '-f', ...stale.stdout.trim().split(/\s+/)], 120_000);
  }

  res.imageImported = await ensureImage(t, o, tmp);
  // Idle as the README says: image present, before any container (the bare-runc set-up below
  // runs one on berthd).
  await sleep(1000);
  const idle = await sampleMemoryStable(t, []);

  // Bare runc beside berthd: one bare sample right after each berthd sample, so that both
  // see the same machine load. Its config.json is that of a berthd container when we can read it.
  let bare: RuncBench | undefined;
  if (t.key === 'berth') {
    let config: Record<string, unknown> | undefined;
    if (t.own) {
      const c = await docker(t, o, ['run', '-d', '--label', `${LABEL}=${runId}`, o.image, 'sleep', '600']);
      const id = c.stdout.trim().split('\n').pop() ?? '';
      if (c.code === 0 && id) {
        const full = await docker(t, o, ['inspect', '--format', '{{.Id}}', id]);
        try {
          config = JSON.parse(fs.readFileSync(path.join(t.own.execRoot, 'containers', full.stdout.trim(), 'config.json'), 'utf8'));
        } catch (e) {
          log(`${t.name}: cannot read the container's config.json: ${errMsg(e)}`);
        }
        await docker(t, o, ['rm', '-f', id]);
      }
    }
    const tar = path.join(tmp, 'busybox-rootfs.tar');
    if (!fs.existsSync(tar)) writeBusyboxRootfsTar(o.busybox, tar);
    bare = new RuncBench(path.join(tmp, 'bare'), tar, config);
    runcBench = bare;
    onCleanup('bare runc', () => bare!.close());
  }

  const mountsIdle = mountsUnder(t.tieTokens).length;

  // 0. the CLI floor: `docker version` (CLI start-up, /_ping, /version)
  const floor: number[] = [];
  for (let i = 0; i < Math.min(o.runs, 10) + 1; i++) {
    const r = await docker(t, o, ['version', '--format', '{{.Server.Version}}'], 30_000);
    if (r.code === 0 && i > 0) floor.push(r.ms);
  }
  if (floor.length > 0) {
    res.cliFloorMs = { samples: floor.map((x) => Math.round(x * 10) / 10), median: median(floor) };
    log(`${t.name}: docker version (CLI floor) median ${res.cliFloorMs.median.toFixed(1)} ms`);
  }
  log(`${t.name}: idle daemon RSS ${mib(idle.daemonRssKb)} MiB (stack ${mib(idle.stackRssKb)} MiB)`);

  // 1. run --rm latency
  const traceFrom = t.own ? fileSize(t.own.traceFile) : 0;
  const samples: number[] = [];
  let failures = 0;
  const phaseEnd = Date.now() + o.phaseTimeoutMs;
  const total = o.warmups + o.runs;
  let lastErr = '';
  for (let i = 0; i < total && Date.now() < phaseEnd; i++) {
    const r = await docker(t, o, ['run', '--rm', '--label', `${LABEL}=${runId}`, o.image, 'true']);
    await bare?.run(i < o.warmups);
    if (r.code !== 0) {
      lastErr = cmdError('docker run --rm', r).message;
      if (i >= o.warmups) failures++;
      if (i === 0 || failures <= 1) log(`${t.name}: ${lastErr}`);
      if (i - o.warmups + 1 >= 3 && samples.length === 0) throw new Error(`${t.name}: every run fails: ${lastErr}`);
      continue;
    }
    if (i >= o.warmups) samples.push(r.ms);
  }
  if (samples.length === 0) throw new Error(`${t.name}: no successful run: ${lastErr}`);
  res.runLatencyMs = {
    samples: samples.map((x) => Math.round(x * 10) / 10),
    failures,
    median: median(samples),
    p90: percentile(samples, 90),
    min: Math.min(...samples),
    max: Math.max(...samples),
    mean: samples.reduce((a, b) => a + b, 0) / samples.length,
  };
  log(`${t.name}: run --rm median ${res.runLatencyMs.median.toFixed(1)} ms, p90 ${res.runLatencyMs.p90.toFixed(1)} ms (${samples.length} runs, ${failures} failed)`);
  if (t.own) {
    const lines: TraceLine[] = readTrace(t.own.traceFile, traceFrom);
    res.phases = phaseTable(lines);
  }
  res.runNoneLatencyMs = await timedSeries(t, o, 'run --rm --network none', o.runs, 1, () => ['run', '--rm', '--network', 'none', '--label', `${LABEL}=${runId}`, o.image, 'true'], bare && ((w) => bare!.run(w)));

  // 1b. create + start of a detached container, then exec in one
  {
    const made: string[] = [];
    const g = onCleanup(`containers on ${t.name} (create/start)`, () => removeContainers(t, o, made, runId));
    const xs: number[] = [];
    let fails = 0;
    // As many samples as the other rows: with 10, the median moved by ±10% between runs.
    const n = o.runs;
    for (let i = 0; i < n + 1; i++) {
      const c = await docker(t, o, ['create', '--label', `${LABEL}=${runId}`, o.image, 'sleep', '600']);
      const id = c.stdout.trim().split('\n').pop() ?? '';
      if (c.code !== 0 || !id) { fails++; log(`${t.name}: ${cmdError('create', c).message}`); continue; }
      made.push(id);
      const st = await docker(t, o, ['start', id]);
      if (st.code !== 0) { fails++; log(`${t.name}: ${cmdError('start', st).message}`); continue; }
      if (i >= 1) xs.push(c.ms + st.ms);
      await bare?.createStart(i < 1);
    }
    if (xs.length) {
      res.createStartMs = series(xs, fails);
      log(`${t.name}: create + start median ${res.createStartMs.median.toFixed(1)} ms (${res.createStartMs.min.toFixed(1)}–${res.createStartMs.max.toFixed(1)})`);
    }
    const target = made[made.length - 1];
    if (target) {
      res.execMs = await timedSeries(t, o, 'exec true', o.runs, 2, () => ['exec', target, 'true'], bare && ((w) => bare!.exec(w)));
    }
    if (made.length) await docker(t, o, ['rm', '-f', ...made], 120_000);
    made.length = 0;
    dropCleanup(g);
  }

  // 2. concurrent run -d, then rm -f
  await sleep(1000);
  const before = await sampleMemoryStable(t, []);
  const ids: string[] = [];
  const guard = onCleanup(`containers on ${t.name}`, () => removeContainers(t, o, ids, runId));
  const n = o.containers;
  const t0 = process.hrtime.bigint();
  // `clients` CLI processes at a time, each starting its share in turn.
  const starts: CmdResult[] = [];
  let next = 0;
  await Promise.all(
    Array.from({ length: Math.min(o.clients, n) }, async () => {
      for (let i = next++; i < n; i = next++) {
        starts[i] = await docker(t, o, ['run', '-d', '--label', `${LABEL}=${runId}`, '--name', `berth-bench-${runId}-${i}`, o.image, 'sleep', '600']);
      }
    }),
  );
  const startWall = Number(process.hrtime.bigint() - t0) / 1e6;
  const errors: string[] = [];
  for (const r of starts) {
    const id = r.stdout.trim().split('\n').pop() ?? '';
    if (r.code === 0 && /^[0-9a-f]{12,64}$/.test(id)) ids.push(id);
    else errors.push(cmdError('run -d', r).message);
  }
  // Wait (bounded) for all started containers to be running.
  let states: { running: boolean; pid: number }[] = [];
  for (let i = 0; i < 60; i++) {
    states = await inspectState(t, o, ids);
    if (states.length === ids.length && states.every((s) => s.running && s.pid > 0)) break;
    await sleep(500);
  }
  const running = states.filter((s) => s.running).length;
  res.start = { n, wallMs: startWall, failures: n - ids.length, running, errors: errors.slice(0, 3) };
  log(`${t.name}: ${n} run -d from ${Math.min(o.clients, n)} clients: ${startWall.toFixed(0)} ms, ${ids.length} started, ${running} running`);
  if (ids.length === 0) throw new Error(`${t.name}: no container started: ${errors[0] ?? ''}`);

  // 3./4. memory with containers running
  await sleep(2000);
  const containerPids = states.filter((s) => s.running && s.pid > 0).map((s) => s.pid);
  const loaded = await sampleMemoryStable(t, containerPids);
  const nMeasured = running;
  const growthRss = loaded.stackRssKb - before.stackRssKb;
  const growthPss = loaded.stackPssKb - before.stackPssKb;
  res.memory = {
    idle,
    beforeContainers: before,
    withContainers: loaded,
    containersMeasured: nMeasured,
    stackGrowthRssKb: growthRss,
    stackGrowthPssKb: growthPss,
    perContainerPssKb: nMeasured > 0 ? (loaded.helperPssKb + growthPss) / nMeasured : NaN,
    perContainerRssKb: nMeasured > 0 ? (loaded.helperRssKb + growthRss) / nMeasured : NaN,
  };
  if (loaded.helperCount !== nMeasured) {
    log(`${t.name}: note: ${loaded.helperCount} helper process(es) for ${nMeasured} running containers`);
  }
  log(`${t.name}: with ${nMeasured} containers: daemon RSS ${mib(loaded.daemonRssKb)} MiB, ${loaded.helperCount} helpers PSS ${mib(loaded.helperPssKb)} MiB, per container ${res.memory.perContainerPssKb.toFixed(0)} KiB PSS`);

  const t1 = process.hrtime.bigint();
  const rm = await docker(t, o, ['rm', '-f', ...ids], Math.max(o.cmdTimeoutMs, 120_000));
  const rmWall = Number(process.hrtime.bigint() - t1) / 1e6;
  res.rm = { n: ids.length, wallMs: rmWall, ok: rm.code === 0, error: rm.code === 0 ? undefined : cmdError('rm -f', rm).message };
  log(`${t.name}: rm -f of ${ids.length}: ${rmWall.toFixed(0)} ms${rm.code === 0 ? '' : ' (failed: ' + res.rm.error + ')'}`);
  await removeContainers(t, o, rm.code === 0 ? [] : ids, runId);
  dropCleanup(guard);
  await sleep(1000);
  res.memory.afterRm = await sampleMemoryStable(t, []);
  const leftPs = await docker(t, o, ['ps', '-aq', '--filter', `label=${LABEL}=${runId}`], 30_000);
  const leftMounts = mountsUnder(t.tieTokens);
  res.leftovers = {
    containers: leftPs.code === 0 ? leftPs.stdout.split(/\s+/).filter(Boolean).length : NaN,
    helpers: res.memory.afterRm.helperCount,
    mountsIdle,
    mountsAfterRm: leftMounts.length,
    mountPoints: leftMounts.slice(0, 20),
  };
  if (res.leftovers.containers || res.leftovers.helpers || leftMounts.length > mountsIdle) {
    log(`${t.name}: LEFTOVERS after rm -f: ${res.leftovers.containers} container(s), ${res.leftovers.helpers} helper(s) ${JSON.stringify(res.memory.afterRm.helpers.map((h) => h.pid))}, ${leftMounts.length} mount(s) under the roots (${mountsIdle} when idle)`);
  }
  res.ok = true;
  return res;
}

// ---------------------------------------------------------------------------------------------
// Output

function mib(kb: number): string {
  return (kb / 1024).toFixed(1);
}

interface Row { metric: string; get: (r: TargetResult) => number | undefined; fmt: (v: number) => string; show?: (r: TargetResult) => string }

function fmtS(xs: number[]): string {
  return xs.length ? `${median(xs).toFixed(1)} [${Math.min(...xs).toFixed(1)}–${Math.max(...xs).toFixed(1)}]` : '-';
}

function phaseLines(ph: NonNullable<TargetResult['phases']>): string {
  const w = Math.max(...ph.map((p) => p.phase.length));
  return ph.map((p) => `  ${p.phase.padEnd(w)}  ${p.median.toFixed(2).padStart(8)}  [${p.min.toFixed(2)}–${p.max.toFixed(2)}]  n=${p.n}`).join('\n');
}

/** Each target of issue 14 that this run measures, with its figure and whether it is met. */
function targetRows(results: (TargetResult | undefined)[], rb: RuncBaseline | undefined, o: Options): { name: string; value: string; ok?: boolean }[] {
  const b = results[0]?.ok ? results[0] : undefined;
  const peer = results[1]?.ok ? results[1] : undefined;
  const rows: { name: string; value: string; ok?: boolean }[] = [];
  const ratio = (what: string, s: { median: number; min: number; max: number } | undefined, base: number[] | undefined, limit: number) => {
    if (!s || !base || !base.length) return;
    const m = median(base);
    rows.push({ name: `${what} <= ${limit}x bare runc`, value: `${s.median.toFixed(1)} ms [${s.min.toFixed(1)}–${s.max.toFixed(1)}] / ${m.toFixed(1)} ms = ${(s.median / m).toFixed(2)}x${peer ? '' : ''}`, ok: s.median <= limit * m });
  };
  if (b) {
    ratio('run --rm (default network)', b.runLatencyMs, rb?.runMs, 3);
    ratio('run --rm --network none', b.runNoneLatencyMs, rb?.runMs, 3);
    ratio('create + start until running', b.createStartMs, rb?.createStartMs, 2);
    ratio('exec true', b.execMs, rb?.execMs, 2);
    if (b.start) rows.push({ name: `${o.containers} x run -d from ${o.clients} clients <= 0.6 s`, value: `${(b.start.wallMs / 1000).toFixed(2)} s`, ok: o.containers === 20 ? b.start.wallMs <= 600 : undefined });
    if (b.rm) rows.push({ name: `rm -f of the ${b.rm.n} <= 0.2 s`, value: `${(b.rm.wallMs / 1000).toFixed(2)} s`, ok: b.rm.n === 20 ? b.rm.wallMs <= 200 : undefined });
    if (b.memory) {
      rows.push({ name: 'berthd idle RSS <= 50 MiB', value: `${mib(b.memory.idle.daemonRssKb)} MiB (PSS ${mib(b.memory.idle.daemonPssKb)})`, ok: b.memory.idle.daemonRssKb <= 50 * 1024 });
      // The monitor's own RSS, beside the total: most of it is the shared libraries' pages it maps (libc, glib).
      const w = b.memory.withContainers;
      const helperAlone = w.helperCount > 0 ? `; ${w.helpers[0]!.comm} alone RSS ${(w.helperRssKb / w.helperCount / 1024).toFixed(2)} MiB` : '';
      rows.push({ name: 'per running container (conmon + berthd share), RSS <= 2.0 MiB', value: `RSS ${(b.memory.perContainerRssKb / 1024).toFixed(2)} MiB, PSS ${(b.memory.perContainerPssKb / 1024).toFixed(2)} MiB${helperAlone}`, ok: b.memory.perContainerRssKb <= 2048 });
    }
  }
  if (peer && b) {
    const r = (x?: number, y?: number) => (x !== undefined && y !== undefined ? `${(x / y).toFixed(2)}x` : '-');
    rows.push({ name: `against ${o.peerName} (berth / peer, medians)`, value: `run --rm ${r(b.runLatencyMs?.median, peer.runLatencyMs?.median)}, --network none ${r(b.runNoneLatencyMs?.median, peer.runNoneLatencyMs?.median)}, create+start ${r(b.createStartMs?.median, peer.createStartMs?.median)}, exec ${r(b.execMs?.median, peer.execMs?.median)}, run -d x${o.containers} ${r(b.start?.wallMs, peer.start?.wallMs)}, rm -f ${r(b.rm?.wallMs, peer.rm?.wallMs)}` });
  }
  return rows;
}

const ROWS: Row[] = [
  { metric: 'run --rm true: median (ms)', get: (r) => r.runLatencyMs?.median, fmt: (v) => v.toFixed(1) },
  { metric: 'run --rm true: p90 (ms)', get: (r) => r.runLatencyMs?.p90, fmt: (v) => v.toFixed(1) },
  { metric: 'run --rm true: failed runs', get: (r) => r.runLatencyMs?.failures, fmt: (v) => String(v) },
  { metric: 'run --rm --network none true: median (ms)', get: (r) => r.runNoneLatencyMs?.median, fmt: (v) => v.toFixed(1) },
  { metric: 'create + start (sleep) until running: median (ms)', get: (r) => r.createStartMs?.median, fmt: (v) => v.toFixed(1) },
  { metric: 'exec CTR true: median (ms)', get: (r) => r.execMs?.median, fmt: (v) => v.toFixed(1) },
  { metric: 'docker version (CLI floor): median (ms)', get: (r) => r.cliFloorMs?.median, fmt: (v) => v.toFixed(1) },
  { metric: 'run --rm minus CLI floor (ms)', get: (r) => (r.runLatencyMs && r.cliFloorMs ? r.runLatencyMs.median - r.cliFloorMs.median : undefined), fmt: (v) => v.toFixed(1) },
  { metric: 'N run -d from the clients: wall (ms)', get: (r) => r.start?.wallMs, fmt: (v) => v.toFixed(0) },
  { metric: 'N run -d: failed', get: (r) => r.start?.failures, fmt: (v) => String(v) },
  { metric: 'rm -f of all N: wall (ms)', get: (r) => r.rm?.wallMs, fmt: (v) => v.toFixed(0) },
  { metric: 'daemon RSS idle (MiB)', get: (r) => r.memory?.idle.daemonRssKb, fmt: (v) => mib(v) },
  { metric: 'daemon RSS, N running (MiB)', get: (r) => r.memory?.withContainers.daemonRssKb, fmt: (v) => mib(v) },
  { metric: 'daemon+children RSS idle (MiB)', get: (r) => r.memory?.idle.stackRssKb, fmt: (v) => mib(v) },
  { metric: 'daemon+children RSS, N running (MiB)', get: (r) => r.memory?.withContainers.stackRssKb, fmt: (v) => mib(v) },
  { metric: 'helper processes, N running', get: (r) => r.memory?.withContainers.helperCount, fmt: (v) => String(v) },
  { metric: 'helpers PSS total, N running (MiB)', get: (r) => r.memory?.withContainers.helperPssKb, fmt: (v) => mib(v) },
  { metric: 'helpers RSS total, N running (MiB)', get: (r) => r.memory?.withContainers.helperRssKb, fmt: (v) => mib(v) },
  { metric: 'daemon+children growth, RSS (MiB)', get: (r) => r.memory?.stackGrowthRssKb, fmt: (v) => mib(v) },
  { metric: 'daemon+children growth, PSS (MiB)', get: (r) => r.memory?.stackGrowthPssKb, fmt: (v) => mib(v) },
  { metric: 'per-container overhead, PSS (KiB)', get: (r) => r.memory?.perContainerPssKb, fmt: (v) => v.toFixed(0) },
  { metric: 'per-container overhead, RSS (KiB)', get: (r) => r.memory?.perContainerRssKb, fmt: (v) => v.toFixed(0) },
  { metric: 'left after rm -f: containers', get: (r) => r.leftovers?.containers, fmt: (v) => String(v) },
  { metric: 'left after rm -f: helpers', get: (r) => r.leftovers?.helpers, fmt: (v) => String(v) },
  { metric: 'mounts under roots: idle / after rm', get: (r) => r.leftovers?.mountsAfterRm, fmt: (v) => String(v), show: (r) => `${r.leftovers!.mountsIdle} / ${r.leftovers!.mountsAfterRm}` },
];

function table(results: (TargetResult | undefined)[], names: string[], n: number): string {
  const header = ['metric', names[0], names[1], 'ratio'];
  const rows: string[][] = [];
  for (const row of ROWS) {
    const vals = results.map((r) => (r && r.ok ? row.get(r) : undefined));
    const cells = vals.map((v, i) => (v === undefined || Number.isNaN(v) ? (results[i] && !results[i]!.ok ? 'error' : '-') : row.show ? row.show(results[i]!) : row.fmt(v)));
    const [a, b] = vals;
    const ratio = a !== undefined && b !== undefined && b !== 0 && !/failed|processes|left |mounts /.test(row.metric) ? `${(a / b).toFixed(2)}x` : '';
    rows.push([row.metric.replace(/\bN\b/g, String(n)), cells[0], cells[1], ratio]);
  }
  const w = header.map((h, i) => Math.max(h.length, ...rows.map((r) => r[i].length)));
  const line = (cells: string[]) => '| ' + cells.map((c, i) => (i === 0 ? c.padEnd(w[i]) : c.padStart(w[i]))).join(' | ') + ' |';
  const sep = '|' + w.map((x, i) => (i === 0 ? '-'.repeat(x + 2) : '-'.repeat(x + 1) + ':')).join('|') + '|';
  return [line(header), sep, ...rows.map(line)].join('\n');
}

// ---------------------------------------------------------------------------------------------
// Main

async function main(): Promise<number> {
  let o: Options;
  try {
    o = parseOptions(process.argv.slice(2));
  } catch (e) {
    process.stderr.write(`${errMsg(e)}\n\n${USAGE}`);
    return 2;
  }
  armWatchdog(o.totalTimeoutMs);
  const runId = `${Date.now().toString(36)}${process.pid.toString(36)}`;
  const tmp = fs.mkdtempSync(path.join(o.workDir, 'berth-bench-'));
  onCleanup('temp dir', async () => fs.rmSync(tmp, { recursive: true, force: true }));
  const dockerConfig = path.join(tmp, 'docker-config');
  fs.mkdirSync(dockerConfig);
  dockerEnv = { ...process.env, DOCKER_CONFIG: dockerConfig, DOCKER_CLI_HINTS: 'false' };
  for (const k of ['DOCKER_HOST', 'DOCKER_CONTEXT', 'DOCKER_TLS_VERIFY', 'DOCKER_CERT_PATH']) delete dockerEnv[k];

  const cli = await run(o.docker, ['version', '--format', '{{.Client.Version}}'], 30_000);
  const cliVersion = cli.stdout.trim().split('\n')[0] || '?';
  log(`docker CLI ${o.docker} (${cliVersion}), image ${o.image}, ${o.runs} runs after ${o.warmups} warm-ups, ${o.containers} containers`);

  const results: (TargetResult | undefined)[] = [undefined, undefined];
  const names = [o.berthName, o.peerName];

  // Berth
  if (!o.noBerth) {
    try {
      let sock: string;
      let pid: number;
      let own: OwnDaemon | undefined;
      if (o.berthSock) {
        sock = o.berthSock;
        pid = resolvePid('berth', sock, o.berthPid, o.berthPidfile);
      } else {
        own = await startBerthd(o, runId);
        sock = own.sock;
        pid = own.pid;
      }
      if (!pidAlive(pid)) throw new Error(`berth pid ${pid} is not running`);
      const t: Target = { key: 'berth', name: o.berthName, sock, host: `unix://${sock}`, pid, tieTokens: tieTokensFor(pid), ...(own ? { own } : {}) };
      results[0] = await benchTarget(t, o, runId, tmp);
    } catch (e) {
      log(`${o.berthName}: FAILED: ${errMsg(e)}`);
      results[0] = { name: o.berthName, ok: false, error: errMsg(e) };
    }
    // Stop our own berthd before measuring the peer, so it does not share the machine.
    const own = cleanups.find((c) => c.name === 'stop berthd');
    for (const c of cleanups.filter((c) => c.name.startsWith('containers on '))) { dropCleanup(c); await c.fn().catch(() => {}); }
    const bareCleanup = cleanups.find((c) => c.name === 'bare runc');
    if (bareCleanup) { dropCleanup(bareCleanup); await bareCleanup.fn().catch((e) => log(`bare runc: ${errMsg(e)}`)); }
    if (own) { dropCleanup(own); await own.fn().catch((e) => log(`stop berthd: ${errMsg(e)}`)); }
  }

  // The physical floor, sampled beside berthd's (bare runc on the same rootfs, berthd's config.json).
  const runcBase: RuncBaseline | undefined = runcBench?.result.runMs.length ? runcBench.result : undefined;

  // Peer
  if (o.peer) {
    try {
      const pid = resolvePid('peer', o.peer, o.peerPid, o.peerPidfile);
      if (!pidAlive(pid)) throw new Error(`peer pid ${pid} is not running`);
      const t: Target = { key: 'peer', name: o.peerName, sock: o.peer, host: `unix://${o.peer}`, pid, tieTokens: tieTokensFor(pid) };
      results[1] = await benchTarget(t, o, runId, tmp);
    } catch (e) {
      log(`${o.peerName}: FAILED: ${errMsg(e)}`);
      results[1] = { name: o.peerName, ok: false, error: errMsg(e) };
    }
  }

  await cleanupAll();

  const out = {
    date: new Date().toISOString(),
    host: { kernel: os.release(), cpus: os.cpus().length, memMiB: Math.round(os.totalmem() / 2 ** 20) },
    dockerCli: { path: o.docker, version: cliVersion },
    image: o.image,
    runs: o.runs,
    warmups: o.warmups,
    containers: o.containers,
    runcBaseline: runcBase ? { ...runcBase, runMedian: median(runcBase.runMs), createStartMedian: median(runcBase.createStartMs), execMedian: median(runcBase.execMs) } : null,
    targets: targetRows(results, runcBase, o),
    berth: results[0] ?? null,
    ownBerthdLeftoverProcesses: ownBerthdLeftovers ?? null,
    peer: results[1] ?? null,
  };
  if (o.json) {
    process.stdout.write(JSON.stringify(out, null, 2) + '\n');
  } else {
    const lines = [
      '',
      `Berth bench  ${out.date}  kernel ${out.host.kernel}, ${out.host.cpus} CPUs, ${out.host.memMiB} MiB`,
      `docker CLI ${cliVersion}; image ${o.image}; ${o.runs} timed runs after ${o.warmups} warm-ups; N = ${o.containers}`,
      ...results.map((r, i) => (r ? `${names[i]}: ${r.ok ? `server ${r.server}, pid ${r.pid}` : `ERROR ${(r.error ?? '').split('\n')[0]}`}` : '')).filter(Boolean),
      '',
      table(results, names, o.containers),
      '',
      ...(runcBase ? [`bare runc (${runcBase.configFrom}): run ${fmtS(runcBase.runMs)}; create+start ${fmtS(runcBase.createStartMs)}; exec ${fmtS(runcBase.execMs)} (ms: median [min–max])`, ''] : []),
      ...(results[0]?.phases ? ['berthd phases of the timed run --rm (BERTH_TRACE, ms):', phaseLines(results[0].phases), ''] : []),
      'targets (issue 14):',
      ...out.targets.map((r) => `  ${r.ok === undefined ? '   ' : r.ok ? 'ok ' : 'NO '} ${r.name}: ${r.value}`),
      '',
      ...(ownBerthdLeftovers !== undefined ? [`processes left by our berthd after it stopped: ${ownBerthdLeftovers.length ? ownBerthdLeftovers.join(', ') : 'none'}`, ''] : []),
      'ratio = ' + names[0] + ' / ' + names[1] + '; lower is better everywhere. Per-container overhead = (helpers + daemon+children growth) / N.',
      '',
    ];
    process.stdout.write(lines.join('\n'));
  }
  return results.every((r) => r === undefined || r.ok) ? 0 : 1;
}

function installSignalHandlers(): void {
  for (const sig of ['SIGINT', 'SIGTERM', 'SIGHUP'] as const) {
    process.once(sig, () => {
      log(`${sig}: cleaning up`);
      cleanupAll().finally(() => process.exit(128 + (os.constants.signals[sig] ?? 1)));
    });
  }
}

let watchdog: NodeJS.Timeout | undefined;

function armWatchdog(ms: number): void {
  watchdog = setTimeout(() => {
    log(`overall time limit (${ms / 1000} s) reached: cleaning up`);
    cleanupAll().finally(() => process.exit(124));
  }, ms);
}

if (require.main === module) {
  installSignalHandlers();
  main()
    .then(async (code) => {
      await cleanupAll();
      clearTimeout(watchdog);
      process.exit(code);
    })
    .catch(async (e) => {
      log(`fatal: ${e instanceof Error ? e.stack : String(e)}`);
      await cleanupAll();
      clearTimeout(watchdog);
      process.exit(1);
    });
}
