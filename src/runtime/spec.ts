/**
 * OCI runtime config.json generation, shaped like Docker's defaults.
 *
 * Contract:
 * - `generateSpec(opts)` returns the config for one container (ociVersion 1.0.2, what
 *   runc 1.1 implements). It is pure given `opts.host`; facts not supplied there
 *   (cgroup mode, bounding capabilities, rlimits, cpuset) are read from this host, and only
 *   when they matter. Invalid options throw invalid-argument naming the option and
 *   what to do; nothing is silently clamped.
 * - The caller resolves the user first (user.ts `resolveUser`) and passes uid, gid,
 *   additionalGids and home; the spec's additionalGids always start with the primary gid; it also supplies host files for /etc/hostname, /etc/hosts
 *   and /etc/resolv.conf as bind mounts.
 * - Defaults follow Docker: Docker's capability set; namespaces mount, network, uts, pid,
 *   ipc, plus cgroup on a cgroup v2 host; a deny-all device cgroup allowing the standard
 *   character devices and mknod; /proc, /dev, /dev/pts, /sys (ro), /sys/fs/cgroup (ro),
 *   /dev/mqueue, /dev/shm (64 MiB); Docker's masked and read-only paths; PATH, HOSTNAME,
 *   TERM (with a terminal) and HOME in the environment unless the caller's env sets them.
 *   Privileged drops the masked/read-only paths and seccomp, makes /sys and the cgroup
 *   mount writable, allows every device, and grants every capability the host has.
 *   Host device nodes for privileged containers come from the caller (`devices: hostDevices()`).
 * - A namespace may be 'private' (new), 'host' (omitted from the spec) or `{ path }`
 *   (joined). The mount namespace is always private.
 * - Rlimits appear only when given; `validateRlimits` refuses any value above this
 *   host's hard limit, because runc (even as root, when CAP_SYS_RESOURCE is missing from
 *   the bounding set) cannot raise it. -1 means unlimited; in the returned spec it is the
 *   bigint 2^64-1, so write the spec with `serializeSpec`, not JSON.stringify.
 * - `seccomp` is an already-built OCI seccomp object and is passed through unchanged;
 *   `seccompProfile` (Docker's format) is rendered with the container's final
 *   capabilities (seccomp.ts). Privileged containers get neither.
 * - `devices` are created in the container's /dev and allowed in the device cgroup with
 *   their access; `deviceCgroupRules` are Docker's `c 1:3 rwm` strings. `hostDevices()`
 *   lists the host's /dev as Docker does for privileged containers; `hostDevice()` stats
 *   one path (a directory gives every device below it).
 * - `shm`: 'none' leaves /dev/shm out (Docker's --ipc none); `{ bind }` bind-mounts a
 *   host path there (joining another container's IPC namespace).
 * - `systemPaths: 'unconfined'` drops the masked and read-only paths (Docker's
 *   --security-opt systempaths=unconfined).
 */
import { readdirSync, readFileSync, statSync } from 'node:fs';
import { isAbsolute, posix } from 'node:path';
import { invalidArgument, replaceOrAppendEnv } from '../common';
import { hostBoundingCapabilities, resolveCapabilities } from './capabilities';
import { detectCgroupMode, type CgroupMode } from './cgroups';
import { buildResources, hostCpuset, validateResources, type HostCpuset, type OciLinuxResources, type ResourceOptions } from './resources';
import { renderSeccomp, type SeccompProfile } from './seccomp';

export const OCI_VERSION = '1.0.2';
export const DEFAULT_PATH_ENV = 'PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin';
export const DEFAULT_SHM_SIZE = 64 * 1024 * 1024;
const RLIM_INFINITY = 2n ** 64n - 1n;

export const MASKED_PATHS: readonly string[] = [
  '/proc/asound', '/proc/acpi', '/proc/kcore', '/proc/keys', '/proc/latency_stats',
  '/proc/timer_list', '/proc/timer_stats', '/proc/sched_debug', '/proc/scsi',
  '/sys/firmware', '/sys/devices/virtual/powercap',
];
export const READONLY_PATHS: readonly string[] = [
  '/proc/bus', '/proc/fs', '/proc/irq', '/proc/sys', '/proc/sysrq-trigger',
];

export type NamespaceType = 'mount' | 'network' | 'uts' | 'pid' | 'ipc' | 'cgroup';
export type NamespaceMode = 'private' | 'host' | { path: string };

export type MountOption =
  | { type: 'bind'; source: string; destination: string; readonly?: boolean; propagation?: string }
  | { type: 'tmpfs'; destination: string; options?: string[] };

/** `type` is Docker's ulimit name (`nofile`) or the OCI one (`RLIMIT_NOFILE`); -1 = unlimited. */
export interface RlimitOption {
  type: string;
  soft: number;
  hard: number;
}

/** A device node to create in the container, with its cgroup access. */
export interface DeviceOption {
  /** Path inside the container. */
  path: string;
  type: 'c' | 'b' | 'p' | 'u';
  major: number;
  minor: number;
  fileMode?: number;
  uid?: number;
  gid?: number;
  /** Any of r, w, m; default rwm. */
  access?: string;
}

/** What generateSpec needs to know about the host; anything missing is read from it. */
export interface HostFacts {
  cgroupMode?: CgroupMode;
  capabilities?: readonly string[];
  rlimits?: HostRlimits;
  cpuset?: HostCpuset;
}

/** RLIMIT_* → the host's limits; Infinity for unlimited. */
export type HostRlimits = Record<string, { soft: number; hard: number }>;

export interface SpecOptions {
  args: readonly string[];
  env?: readonly string[];
  /** Absolute; default '/'. */
  cwd?: string;
  user: { uid: number; gid: number; additionalGids?: readonly number[]; home?: string };
  hostname?: string;
  /** Absolute host path of the container's root filesystem. */
  rootfsPath: string;
  terminal?: boolean;
  readonlyRootfs?: boolean;
  capabilities?: { add?: readonly string[]; drop?: readonly string[]; privileged?: boolean };
  namespaces?: Partial<Record<NamespaceType, NamespaceMode>>;
  cgroupsPath?: string;
  resources?: ResourceOptions;
  /** Bytes for the /dev/shm tmpfs; default 64 MiB. */
  shmSize?: number;
  mounts?: readonly MountOption[];
  rlimits?: readonly RlimitOption[];
  noNewPrivileges?: boolean;
  oomScoreAdj?: number;
  sysctl?: Readonly<Record<string, string>>;
  seccomp?: object;
  seccompProfile?: SeccompProfile;
  devices?: readonly DeviceOption[];
  deviceCgroupRules?: readonly string[];
  shm?: 'none' | { bind: string };
  systemPaths?: 'default' | 'unconfined';
  /** Replace Docker's default masked / read-only paths (HostConfig.MaskedPaths, ReadonlyPaths). */
  maskedPaths?: readonly string[];
  readonlyPaths?: readonly string[];
  host?: HostFacts;
}

export interface OciMount {
  destination: string;
  type: string;
  source: string;
  options: string[];
}

export interface OciRlimit {
  type: string;
  soft: number | bigint;
  hard: number | bigint;
}

export interface OciDeviceRule {
  allow: boolean;
  type?: 'a' | 'c' | 'b';
  major?: number;
  minor?: number;
  access: string;
}

export interface OciSpec {
  ociVersion: string;
  process: {
    terminal: boolean;
    user: { uid: number; gid: number; additionalGids: number[] };
    args: string[];
    env: string[];
    cwd: string;
    capabilities: { bounding: string[]; effective: string[]; permitted: string[]; inheritable: string[]; ambient: string[] };
    rlimits?: OciRlimit[];
    noNewPrivileges: boolean;
    oomScoreAdj?: number;
  };
  root: { path: string; readonly: boolean };
  hostname?: string;
  mounts: OciMount[];
  linux: {
    namespaces: Array<{ type: NamespaceType; path?: string }>;
    devices?: Array<{ path: string; type: string; major: number; minor: number; fileMode?: number; uid?: number; gid?: number }>;
    cgroupsPath?: string;
    resources: { devices: OciDeviceRule[] } & OciLinuxResources;
    maskedPaths: string[];
    readonlyPaths: string[];
    sysctl?: Record<string, string>;
    seccomp?: object;
    /** shared or slave when a bind mount propagates (runc makes the root that, so propagation reaches the host). */
    rootfsPropagation?: string;
  };
}

const rule = (type: 'c' | 'b', major: number | undefined, minor: number | undefined, access = 'rwm'): OciDeviceRule => ({
  allow: true,
  type,
  ...(major === undefined ? {} : { major }),
  ...(minor === undefined ? {} : { minor }),
  access,
});

/** Deny everything, then what Docker allows unprivileged containers. */
export const DEFAULT_DEVICE_RULES: readonly OciDeviceRule[] = [
  { allow: false, access: 'rwm' },
  rule('c', undefined, undefined, 'm'), // mknod of any char device (CAP_MKNOD is a default)
  rule('b', undefined, undefined, 'm'), // … and any block device; using them stays denied
  rule('c', 1, 3), // /dev/null
  rule('c', 1, 5), // /dev/zero
  rule('c', 1, 7), // /dev/full
  rule('c', 1, 8), // /dev/random
  rule('c', 1, 9), // /dev/urandom
  rule('c', 5, 0), // /dev/tty
  rule('c', 5, 1), // /dev/console
  rule('c', 5, 2), // /dev/ptmx
  rule('c', 136, undefined), // /dev/pts/*
];

const RLIMIT_TYPES = [
  'CPU', 'FSIZE', 'DATA', 'STACK', 'CORE', 'RSS', 'NPROC', 'NOFILE', 'MEMLOCK', 'AS',
  'LOCKS', 'SIGPENDING', 'MSGQUEUE', 'NICE', 'RTPRIO', 'RTTIME',
] as const;

// Row names of /proc/<pid>/limits, in the order of RLIMIT_TYPES.
const PROC_LIMIT_NAMES = [
  'Max cpu time', 'Max file size', 'Max data size', 'Max stack size', 'Max core file size',
  'Max resident set', 'Max processes', 'Max open files', 'Max locked memory', 'Max address space',
  'Max file locks', 'Max pending signals', 'Max msgqueue size', 'Max nice priority',
  'Max realtime priority', 'Max realtime timeout',
];

/** Parses /proc/self/limits (or the given text). */
export function readHostRlimits(limitsText?: string): HostRlimits {
  const text = limitsText ?? readFileSync('/proc/self/limits', 'utf8');
  const out: HostRlimits = {};
  for (const line of text.split('\n')) {
    const m = /^(Max [a-z ]+?)\s{2,}(\S+)\s+(\S+)/.exec(line);
    if (!m) continue;
    const i = PROC_LIMIT_NAMES.indexOf(m[1] as string);
    if (i < 0) continue;
    const num = (s: string) => (s === 'unlimited' ? Infinity : Number(s));
    out[`RLIMIT_${RLIMIT_TYPES[i]}`] = { soft: num(m[2] as string), hard: num(m[3] as string) };
  }
  return out;
}

function rlimitName(type: string): string {
  const upper = type.trim().toUpperCase();
  const short = upper.startsWith('RLIMIT_') ? upper.slice('RLIMIT_'.length) : upper;
  if (!(RLIMIT_TYPES as readonly string[]).includes(short)) {
    throw invalidArgument(`invalid ulimit type: ${type}; use one of ${RLIMIT_TYPES.map((t) => t.toLowerCase()).join(', ')}`);
  }
  return `RLIMIT_${short}`;
}

const asLimit = (v: number): number => (v === -1 ? Infinity : v);
const showLimit = (v: number): string => (v === Infinity || v === -1 ? 'unlimited' : String(v));

/**
 * Checks rlimits against each other and against this host's hard limits and returns
 * them in OCI form. Throws invalid-argument naming the limit and the host maximum.
 */
export function validateRlimits(rlimits: readonly RlimitOption[], host?: HostRlimits): OciRlimit[] {
  let hostLimits = host;
  const seen = new Set<string>();
  const out: OciRlimit[] = [];
  for (const r of rlimits) {
    const type = rlimitName(r.type);
    const short = type.slice('RLIMIT_'.length).toLowerCase();
    if (seen.has(type)) throw invalidArgument(`ulimit ${short} is given more than once; keep one`);
    seen.add(type);
    for (const v of [r.soft, r.hard]) {
      if (!Number.isSafeInteger(v) || v < -1) {
        throw invalidArgument(`invalid ulimit ${short}=${r.soft}:${r.hard}: values must be whole numbers ≥ 0, or -1 for unlimited`);
      }
    }
    if (asLimit(r.soft) > asLimit(r.hard)) {
      throw invalidArgument(
        `ulimit soft limit must be less than or equal to hard limit: ${short}=${showLimit(r.soft)}:${showLimit(r.hard)}`,
      );
    }
    hostLimits ??= readHostRlimits();
    const max = hostLimits[type]?.hard ?? Infinity;
    if (asLimit(r.hard) > max) {
      throw invalidArgument(
        `ulimit ${short}=${showLimit(r.soft)}:${showLimit(r.hard)} exceeds this host's hard limit for ${type} (${showLimit(max)}); ` +
          `set it to at most ${showLimit(max)}`,
      );
    }
    const oci = (v: number) => (v === -1 ? RLIM_INFINITY : v);
    out.push({ type, soft: oci(r.soft), hard: oci(r.hard) });
  }
  return out;
}

/** JSON for config.json; writes the bigint RLIM_INFINITY as the plain uint64 runc expects. */
export function serializeSpec(spec: OciSpec): string {
  const marker = '__berth_uint64__';
  const json = JSON.stringify(spec, (_k, v: unknown) => (typeof v === 'bigint' ? `${marker}${v}` : v), 2);
  return json.replace(new RegExp(`"${marker}(\\d+)"`, 'g'), '$1');
}

function checkAbsolute(what: string, p: string): void {
  if (!isAbsolute(p)) throw invalidArgument(`${what} ${JSON.stringify(p)} must be an absolute path`);
}

const ipcSysctls = new Set([
  'kernel.msgmax', 'kernel.msgmnb', 'kernel.msgmni', 'kernel.sem', 'kernel.shmall',
  'kernel.shmmax', 'kernel.shmmni', 'kernel.shm_rmid_forced',
]);

/** Throws invalid-argument for a sysctl a container may not set with these namespaces. */
export function checkSysctls(sysctl: Readonly<Record<string, string>>, ns: Partial<Record<NamespaceType, NamespaceMode>>): void {
  for (const k of Object.keys(sysctl)) {
    if (ipcSysctls.has(k) || k.startsWith('fs.mqueue.')) {
      if (ns.ipc === 'host') throw invalidArgument(`sysctl ${k} is not allowed with the host's IPC namespace; drop it or use a private one`);
    } else if (k.startsWith('net.')) {
      if (ns.network === 'host') throw invalidArgument(`sysctl ${k} is not allowed with the host's network namespace; drop it or use a private network`);
    } else if (k === 'kernel.domainname') {
      if ((ns.uts ?? 'private') !== 'private') throw invalidArgument(`sysctl ${k} needs a private UTS namespace`);
    } else {
      throw invalidArgument(
        `sysctl ${k} is not allowed: only namespaced sysctls (kernel.msg*, kernel.sem, kernel.shm*, fs.mqueue.*, net.*, kernel.domainname) can be set in a container`,
      );
    }
  }
}

function checkInt(what: string, v: number | undefined, min: number, max = Number.MAX_SAFE_INTEGER): void {
  if (v !== undefined && (!Number.isSafeInteger(v) || v < min || v > max)) {
    throw invalidArgument(`invalid ${what} ${v}: it must be a whole number from ${min} to ${max}`);
  }
}

/** Docker's device cgroup rule syntax: `c 1:3 rwm`, `b *:* m`, `a *:* rwm`. */
export function parseDeviceCgroupRule(text: string): OciDeviceRule {
  const m = /^([acb]) (\d+|\*):(\d+|\*) ([rwm]{1,3})$/.exec(text.trim());
  if (!m || new Set(m[4]).size !== (m[4] as string).length) {
    throw invalidArgument(`invalid device cgroup format '${text}': use TYPE MAJOR:MINOR ACCESS, e.g. 'c 1:3 rwm' or 'b *:* m'`);
  }
  const num = (s: string) => (s === '*' ? undefined : Number(s));
  const r: OciDeviceRule = { allow: true, type: m[1] as 'a' | 'c' | 'b', access: m[4] as string };
  const major = num(m[2] as string);
  const minor = num(m[3] as string);
  if (major !== undefined) r.major = major;
  if (minor !== undefined) r.minor = minor;
  return r;
}

function devNumbers(rdev: bigint): { major: number; minor: number } {
  // glibc's gnu_dev_major/minor split of a 64-bit dev_t.
  const major = Number(((rdev >> 8n) & 0xfffn) | ((rdev >> 32n) & ~0xfffn));
  const minor = Number((rdev & 0xffn) | ((rdev >> 12n) & ~0xffn));
  return { major, minor };
}

/**
 * The device(s) at `hostPath`, to appear at `containerPath`. A directory gives every
 * device below it, at the same relative paths. Throws invalid-argument when the path is
 * missing or holds no device.
 */
export function hostDevice(hostPath: string, containerPath: string = hostPath, access = 'rwm'): DeviceOption[] {
  checkAbsolute('device path', hostPath);
  checkAbsolute('device path in the container', containerPath);
  if (!/^[rwm]{1,3}$/.test(access)) throw invalidArgument(`invalid device mode: ${access}: use a combination of r, w and m`);
  let st;
  try {
    st = statSync(hostPath, { bigint: true });
  } catch {
    throw invalidArgument(`error gathering device information while adding custom device "${hostPath}": no such file or directory`);
  }
  if (st.isDirectory()) {
    const out: DeviceOption[] = [];
    for (const e of readdirSync(hostPath)) {
      try {
        out.push(...hostDevice(posix.join(hostPath, e), posix.join(containerPath, e), access));
      } catch {
        // not a device: skipped, as Docker does inside a directory
      }
    }
    if (out.length === 0) throw invalidArgument(`no devices found in ${hostPath}`);
    return out;
  }
  const type = st.isCharacterDevice() ? 'c' : st.isBlockDevice() ? 'b' : undefined;
  if (!type) throw invalidArgument(`${hostPath} is not a device node; --device takes a character or block device`);
  return [{
    path: containerPath,
    type,
    ...devNumbers(st.rdev),
    fileMode: Number(st.mode & 0o7777n),
    uid: Number(st.uid),
    gid: Number(st.gid),
    access,
  }];
}

// Directories and files of /dev that are not given to privileged containers (as runc's HostDevices).
const SKIP_HOST_DEV = new Set(['pts', 'shm', 'fd', 'mqueue', '.lxc', '.lxd-mounts', '.udev', 'console']);

/** Every device node under the host's /dev (or `root`), for privileged containers. */
export function hostDevices(root = '/dev'): DeviceOption[] {
  const out: DeviceOption[] = [];
  const walk = (dir: string) => {
    let entries;
    try {
      entries = readdirSync(dir, { withFileTypes: true });
    } catch {
      return;
    }
    for (const e of entries) {
      if (SKIP_HOST_DEV.has(e.name)) continue;
      const p = posix.join(dir, e.name);
      if (e.isDirectory()) walk(p);
      else if (e.isCharacterDevice() || e.isBlockDevice()) {
        try {
          out.push(...hostDevice(p, p.replace(root, '/dev')));
        } catch {
          // vanished while we looked
        }
      }
    }
  };
  walk(root);
  return out;
}

const depth = (p: string) => posix.normalize(p).split('/').filter((c) => c !== '').length;
const covers = (outer: string, inner: string) =>
  posix.normalize(outer) === posix.normalize(inner) || posix.normalize(inner).startsWith(`${posix.normalize(outer).replace(/\/$/, '')}/`);

function defaultMounts(privileged: boolean, shmSize: number, ipcHost: boolean, shm?: 'none' | { bind: string }): OciMount[] {
  const sysOpts = privileged ? ['nosuid', 'noexec', 'nodev', 'rw'] : ['nosuid', 'noexec', 'nodev', 'ro'];
  return [
    { destination: '/proc', type: 'proc', source: 'proc', options: ['nosuid', 'noexec', 'nodev'] },
    { destination: '/dev', type: 'tmpfs', source: 'tmpfs', options: ['nosuid', 'strictatime', 'mode=755', 'size=65536k'] },
    {
      destination: '/dev/pts',
      type: 'devpts',
      source: 'devpts',
      options: ['nosuid', 'noexec', 'newinstance', 'ptmxmode=0666', 'mode=0620', 'gid=5'],
    },
    { destination: '/sys', type: 'sysfs', source: 'sysfs', options: sysOpts },
    { destination: '/sys/fs/cgroup', type: 'cgroup', source: 'cgroup', options: [...sysOpts] },
    // An mqueue mount shows the queues of the IPC namespace it is mounted from, so this
    // is right for --ipc host too (and needs no /dev/mqueue on the host).
    { destination: '/dev/mqueue', type: 'mqueue', source: 'mqueue', options: ['nosuid', 'noexec', 'nodev'] },
    shm !== undefined && shm !== 'none'
      ? { destination: '/dev/shm', type: 'bind', source: shm.bind, options: ['rbind', 'rprivate'] }
      : ipcHost
      ? { destination: '/dev/shm', type: 'bind', source: '/dev/shm', options: ['rbind', 'rprivate'] }
      : {
          destination: '/dev/shm',
          type: 'tmpfs',
          source: 'shm',
          options: ['nosuid', 'noexec', 'nodev', 'mode=1777', `size=${Math.floor(shmSize / 1024)}k`],
        },
  ].filter((m) => !(shm === 'none' && m.destination === '/dev/shm'));
}

function userMount(m: MountOption): OciMount {
  checkAbsolute('mount destination', m.destination);
  if (m.type === 'bind') {
    checkAbsolute('bind mount source', m.source);
    const options = ['rbind', m.propagation ?? 'rprivate'];
    if (m.readonly) options.push('ro');
    return { destination: m.destination, type: 'bind', source: m.source, options };
  }
  return { destination: m.destination, type: 'tmpfs', source: 'tmpfs', options: [...(m.options ?? ['nosuid', 'nodev', 'noexec'])] };
}

const NAMESPACE_ORDER: readonly NamespaceType[] = ['mount', 'network', 'uts', 'pid', 'ipc', 'cgroup'];

/** A process's supplementary groups as runc gets them: the primary gid first, then the others once each. */
export function processGroups(gid: number, others: Iterable<number>): number[] {
  return [...new Set([gid, ...others])];
}

export function generateSpec(opts: SpecOptions): OciSpec {
  if (opts.args.length === 0) throw invalidArgument('no command given: the container needs an entrypoint or a command to run');
  checkAbsolute('rootfs path', opts.rootfsPath);
  const cwd = opts.cwd || '/';
  if (!posix.isAbsolute(cwd)) {
    throw invalidArgument(`the working directory '${cwd}' is invalid, it needs to be an absolute path`);
  }
  checkInt('uid', opts.user.uid, 0, 2 ** 31 - 1);
  checkInt('gid', opts.user.gid, 0, 2 ** 31 - 1);
  for (const g of opts.user.additionalGids ?? []) checkInt('additional gid', g, 0, 2 ** 31 - 1);
  checkInt('oom score adj', opts.oomScoreAdj, -1000, 1000);
  checkInt('shm size', opts.shmSize, 1);

  const host = opts.host ?? {};
  const privileged = opts.capabilities?.privileged ?? false;
  const cgroupMode = host.cgroupMode ?? detectCgroupMode();
  const resources = opts.resources ?? {};
  validateResources(resources, host.cpuset ?? hostCpuset());

  const ns: Record<NamespaceType, NamespaceMode> = {
    mount: 'private',
    network: 'private',
    uts: 'private',
    pid: 'private',
    ipc: 'private',
    cgroup: cgroupMode === 'v2' ? 'private' : 'host',
    ...opts.namespaces,
  };
  if (ns.mount !== 'private') throw invalidArgument('the mount namespace must be private to the container');
  const namespaces: OciSpec['linux']['namespaces'] = [];
  for (const type of NAMESPACE_ORDER) {
    const mode = ns[type];
    if (mode === 'private') namespaces.push({ type });
    else if (typeof mode === 'object') {
      checkAbsolute(`${type} namespace path`, mode.path);
      namespaces.push({ type, path: mode.path });
    } else if (mode !== 'host') {
      throw invalidArgument(`invalid ${type} namespace mode ${JSON.stringify(mode)}: use private, host or { path }`);
    }
  }

  const caps = resolveCapabilities(
    opts.capabilities?.add,
    opts.capabilities?.drop,
    privileged,
    host.capabilities ?? hostBoundingCapabilities(),
  );

  const envDefaults = [DEFAULT_PATH_ENV];
  if (opts.hostname !== undefined) envDefaults.push(`HOSTNAME=${opts.hostname}`);
  if (opts.terminal) envDefaults.push('TERM=xterm');
  let env = replaceOrAppendEnv(envDefaults, opts.env ?? []);
  if (!env.some((e) => e.startsWith('HOME='))) env = [...env, `HOME=${opts.user.home || '/'}`];

  const userMounts = (opts.mounts ?? []).map(userMount);
  const mounts = [
    ...defaultMounts(privileged, opts.shmSize ?? DEFAULT_SHM_SIZE, ns.ipc === 'host', opts.shm).filter(
      (d) => !userMounts.some((u) => covers(u.destination, d.destination)),
    ),
    // Parents before children, as Docker sorts them; sort is stable for equal depth.
    ...[...userMounts].sort((a, b) => depth(a.destination) - depth(b.destination)),
  ];

  const spec: OciSpec = {
    ociVersion: OCI_VERSION,
    process: {
      terminal: opts.terminal ?? false,
      user: {
        uid: opts.user.uid,
        gid: opts.user.gid,
        // The primary gid is always a supplementary group too (Docker/containerd since
        // GHSA-hmfx-3pcx-653p), so the process cannot shed it to escape a group deny rule.
        additionalGids: processGroups(opts.user.gid, opts.user.additionalGids ?? []),
      },
      args: [...opts.args],
      env,
      cwd,
      capabilities: { bounding: caps, effective: [...caps], permitted: [...caps], inheritable: [], ambient: [] },
      noNewPrivileges: opts.noNewPrivileges ?? false,
    },
    root: { path: opts.rootfsPath, readonly: opts.readonlyRootfs ?? false },
    mounts,
    linux: {
      namespaces,
      resources: {
        devices: privileged ? [{ allow: true, access: 'rwm' }] : DEFAULT_DEVICE_RULES.map((r) => ({ ...r })),
        ...buildResources(resources),
      },
      maskedPaths: privileged || opts.systemPaths === 'unconfined' ? [] : [...(opts.maskedPaths ?? MASKED_PATHS)],
      readonlyPaths: privileged || opts.systemPaths === 'unconfined' ? [] : [...(opts.readonlyPaths ?? READONLY_PATHS)],
    },
  };
  // runc refuses a hostname without a UTS namespace of its own.
  if (opts.hostname !== undefined && ns.uts === 'private') spec.hostname = opts.hostname;
  if (opts.rlimits && opts.rlimits.length > 0) spec.process.rlimits = validateRlimits(opts.rlimits, host.rlimits);
  if (opts.oomScoreAdj !== undefined) spec.process.oomScoreAdj = opts.oomScoreAdj;
  // As dockerd does: a shared bind mount needs a shared root, a slave one a slave root.
  const propagations = (opts.mounts ?? []).flatMap((m) => (m.type === 'bind' && m.propagation ? [m.propagation] : []));
  if (propagations.some((p) => p === 'shared' || p === 'rshared')) spec.linux.rootfsPropagation = 'rshared';
  else if (propagations.some((p) => p === 'slave' || p === 'rslave')) spec.linux.rootfsPropagation = 'rslave';
  if (opts.cgroupsPath !== undefined) {
    checkAbsolute('cgroups path', opts.cgroupsPath);
    spec.linux.cgroupsPath = opts.cgroupsPath;
  }
  if (opts.sysctl && Object.keys(opts.sysctl).length > 0) {
    checkSysctls(opts.sysctl, ns);
    spec.linux.sysctl = { ...opts.sysctl };
  }
  if (opts.seccomp && !privileged) spec.linux.seccomp = opts.seccomp;
  else if (opts.seccompProfile && !privileged) spec.linux.seccomp = renderSeccomp(opts.seccompProfile, { capabilities: caps });
  if (opts.devices && opts.devices.length > 0) {
    const seen = new Set<string>();
    spec.linux.devices = [];
    for (const d of opts.devices) {
      checkAbsolute('device path in the container', d.path);
      if (seen.has(d.path)) continue;
      seen.add(d.path);
      const dev: NonNullable<OciSpec['linux']['devices']>[number] = { path: d.path, type: d.type, major: d.major, minor: d.minor };
      if (d.fileMode !== undefined) dev.fileMode = d.fileMode;
      if (d.uid !== undefined) dev.uid = d.uid;
      if (d.gid !== undefined) dev.gid = d.gid;
      spec.linux.devices.push(dev);
      if (!privileged && (d.type === 'c' || d.type === 'b')) {
        spec.linux.resources.devices.push({ allow: true, type: d.type, major: d.major, minor: d.minor, access: d.access ?? 'rwm' });
      }
    }
  }
  if (!privileged) for (const r of opts.deviceCgroupRules ?? []) spec.linux.resources.devices.push(parseDeviceCgroupRule(r));
  return spec;
}
