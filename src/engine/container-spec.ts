/**
 * From a container's record (Docker's Config and HostConfig) to the OCI runtime spec
 * that runc gets. `checkHostConfig` runs at create time so a bad option is refused
 * before anything exists; `buildSpec` runs at every start.
 *
 * Contract:
 * - Both go through `specOptions`, so create refuses exactly what start would: the
 *   check builds a throwaway spec (with placeholders for what only exists at start:
 *   the rootfs, the user, the processes of `container:X` targets).
 * - Namespace modes: PidMode '' | host | container:X; IpcMode '' | private | shareable |
 *   none | host | container:X; UTSMode '' | host; NetworkMode host | container:X (any
 *   other value is a private network namespace); UsernsMode '' | host; CgroupnsMode
 *   '' | private | host ('' = private on a cgroup v2 host, host otherwise).
 *   `container:X` joins /proc/<pid>/ns/<type> of X, which must be running (conflict,
 *   409, otherwise). A shareable container's /dev/shm is a tmpfs on the host
 *   (`shareableShmPath`), bound by it and by every container joining its IPC; joining a
 *   private one is refused, as in Docker.
 * - With the host's network and no hostname of its own, the container keeps the host's
 *   name (the spec sets none; HOSTNAME is the host's); with container:X it takes X's.
 * - Security: Privileged, CapAdd/CapDrop, SecurityOpt (no-new-privileges[:bool|=bool],
 *   seccomp=unconfined|<profile JSON>, systempaths=unconfined, apparmor=… and label=…
 *   accepted and ignored: this host has neither), ReadonlyRootfs, MaskedPaths,
 *   ReadonlyPaths, Sysctls, Ulimits, OomScoreAdj, ShmSize, GroupAdd, Init (tini bound
 *   read-only at /sbin/docker-init and put in front of the command, as Docker does).
 *   The default seccomp profile is Docker's, rendered for the container's capabilities.
 * - Resources: Memory, MemoryReservation, MemorySwap (Docker's default: twice Memory),
 *   MemorySwappiness, OomKillDisable, NanoCpus, CpuShares, CpuPeriod, CpuQuota,
 *   CpusetCpus, CpusetMems (checked against this host's CPUs/nodes), BlkioWeight,
 *   BlkioWeightDevice, BlkioDevice{Read,Write}{Bps,IOps}, PidsLimit, Devices,
 *   DeviceCgroupRules. Device paths are stat'ed on the host.
 * - User namespaces: with the daemon's --userns-remap (`userns` mappings given), every
 *   container gets a user namespace of its own unless UsernsMode is host. As in Docker,
 *   such a container cannot be privileged nor share the host's network or PID
 *   namespace (invalid-argument with Docker's words: use --userns host for those).
 */
import { existsSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { hostname as osHostname } from 'node:os';
import { conflict, invalidArgument } from '../common';
import {
  applyUserNamespace,
  DEFAULT_SECCOMP_PROFILE,
  DEFAULT_SHM_SIZE,
  MASKED_PATHS,
  READONLY_PATHS,
  cgroupsPath,
  detectCgroupMode,
  discardUnsupported,
  effectiveMemorySwap,
  ensureBlkioWeight,
  generateSpec,
  hostDevice,
  hostDevices,
  parseSeccompProfile,
  resolveGroups,
  type DeviceOption,
  type HostFacts,
  type IdMappings,
  type MountOption,
  type NamespaceMode,
  type NamespaceType,
  type OciSpec,
  type RlimitOption,
  type SeccompProfile,
  type SpecOptions,
  type SysInfo,
  type ThrottleDevice,
} from '../runtime';
import type { ContainerRecord } from './containers';

export interface SpecContext {
  host: HostFacts;
  /** Host path of the mounted root filesystem. */
  rootfs: string;
  user: { uid: number; gid: number; additionalGids?: readonly number[]; home?: string };
  /** Volumes, binds and tmpfs mounts of the container (container-mounts.ts). */
  mounts: readonly MountOption[];
  /** Another container, for `container:NAME` namespace modes. */
  lookup(ref: string): ContainerRecord;
  /** The daemon's --userns-remap mappings, if any. */
  userns?: IdMappings;
}

/** The HostConfig fields read here, as Docker's API names and types them. */
interface HostConfigFields {
  Privileged?: boolean;
  CapAdd?: string[] | null;
  CapDrop?: string[] | null;
  ReadonlyRootfs?: boolean;
  Init?: boolean | null;
  GroupAdd?: string[] | null;
  SecurityOpt?: string[] | null;
  Sysctls?: Record<string, string> | null;
  Ulimits?: Array<{ Name?: string; Soft?: number; Hard?: number }> | null;
  OomScoreAdj?: number;
  ShmSize?: number;
  MaskedPaths?: string[] | null;
  ReadonlyPaths?: string[] | null;
  PidMode?: string;
  IpcMode?: string;
  UTSMode?: string;
  NetworkMode?: string;
  UsernsMode?: string;
  CgroupnsMode?: string;
  Memory?: number;
  MemoryReservation?: number;
  MemorySwap?: number;
  MemorySwappiness?: number | null;
  OomKillDisable?: boolean | null;
  NanoCpus?: number;
  CpuShares?: number;
  CpuPeriod?: number;
  CpuQuota?: number;
  CpuRealtimePeriod?: number;
  CpuRealtimeRuntime?: number;
  CpusetCpus?: string;
  CpusetMems?: string;
  BlkioWeight?: number;
  BlkioWeightDevice?: Array<{ Path?: string; Weight?: number }> | null;
  BlkioDeviceReadBps?: Array<{ Path?: string; Rate?: number }> | null;
  BlkioDeviceWriteBps?: Array<{ Path?: string; Rate?: number }> | null;
  BlkioDeviceReadIOps?: Array<{ Path?: string; Rate?: number }> | null;
  BlkioDeviceWriteIOps?: Array<{ Path?: string; Rate?: number }> | null;
  PidsLimit?: number | null;
  Devices?: Array<{ PathOnHost?: string; PathInContainer?: string; CgroupPermissions?: string }> | null;
  DeviceCgroupRules?: string[] | null;
}

/** Where `--init` comes from: the static tini from the tini package, or docker's name for it. */
const INIT_CANDIDATES = ['/usr/bin/tini-static', '/usr/bin/docker-init', '/usr/libexec/docker/docker-init', '/usr/bin/tini'];
export const INIT_PATH_IN_CONTAINER = '/sbin/docker-init';

let initBinary: string | null | undefined;
/** The host's tini that `--init` binds into containers, if there is one. */
export function initBinaryPath(): string | undefined {
  if (initBinary === undefined) initBinary = INIT_CANDIDATES.find((p) => existsSync(p)) ?? null;
  return initBinary ?? undefined;
}
function findInit(): string {
  const path = initBinaryPath();
  if (!path) throw invalidArgument(`--init needs tini on the daemon's host (looked for ${INIT_CANDIDATES.join(', ')}); install the tini package`);
  return path;
}

interface SecurityOpts {
  noNewPrivileges: boolean;
  seccomp: 'default' | 'unconfined' | SeccompProfile;
  systemPathsUnconfined: boolean;
}

const parseBool = (opt: string, v: string): boolean => {
  if (/^(1|t|true)$/i.test(v)) return true;
  if (/^(0|f|false)$/i.test(v)) return false;
  throw invalidArgument(`invalid --security-opt 2: "${opt}"`);
};

/** Docker's SecurityOpt strings (`key=value`, or the older `key:value`). */
export function parseSecurityOpts(list: readonly string[]): SecurityOpts {
  const out: SecurityOpts = { noNewPrivileges: false, seccomp: 'default', systemPathsUnconfined: false };
  for (const opt of list) {
    if (opt === 'no-new-privileges') {
      out.noNewPrivileges = true;
      continue;
    }
    const eq = opt.indexOf('=');
    const colon = opt.indexOf(':');
    const sep = eq >= 0 && (colon < 0 || eq < colon) ? eq : colon;
    if (sep < 0) throw invalidArgument(`invalid --security-opt 1: "${opt}"`);
    const key = opt.slice(0, sep);
    const value = opt.slice(sep + 1);
    switch (key) {
      case 'no-new-privileges':
        out.noNewPrivileges = parseBool(opt, value);
        break;
      case 'seccomp':
        out.seccomp = value === 'unconfined' ? 'unconfined' : parseSeccompProfile(value);
        break;
      case 'systempaths':
        if (value !== 'unconfined') throw invalidArgument(`invalid --security-opt 2: "${opt}": systempaths only takes unconfined`);
        out.systemPathsUnconfined = true;
        break;
      case 'apparmor':
      case 'label':
      case 'writable-cgroups':
        // No AppArmor or SELinux on this host; cgroup writability follows --privileged.
        break;
      default:
        throw invalidArgument(`invalid --security-opt 2: "${opt}"`);
    }
  }
  return out;
}

type Lookup = ((ref: string) => ContainerRecord) | undefined;

const NS_FILE: Record<NamespaceType, string> = { mount: 'mnt', network: 'net', uts: 'uts', pid: 'pid', ipc: 'ipc', cgroup: 'cgroup' };
const NS_WORD: Record<string, string> = { pid: 'PID', ipc: 'IPC', network: 'network' };

/** `container:X` → the running target (or, when only checking, nothing). */
function target(kind: 'pid' | 'ipc' | 'network', mode: string, self: string | undefined, lookup: Lookup): ContainerRecord | undefined {
  const ref = mode.slice('container:'.length);
  if (ref === '') throw invalidArgument(`invalid ${NS_WORD[kind]} mode "${mode}": name the container, as container:NAME`);
  if (!lookup) return undefined;
  const t = lookup(ref);
  if (t.id === self) throw invalidArgument(`cannot join own ${NS_WORD[kind]} namespace: ${mode}`);
  if (t.state.status !== 'running' || !t.state.pid) {
    throw conflict(`cannot join ${NS_WORD[kind]} of a non running container: ${ref}`);
  }
  return t;
}

const joinNs = (t: ContainerRecord | undefined, type: NamespaceType): NamespaceMode =>
  // While checking at create, the target may not run yet: our own namespace stands in.
  ({ path: t ? `/proc/${t.state.pid}/ns/${NS_FILE[type]}` : `/proc/self/ns/${NS_FILE[type]}` });

interface Namespaces {
  modes: Partial<Record<NamespaceType, NamespaceMode>>;
  shm?: 'none' | { bind: string };
  netTarget?: ContainerRecord;
}

/** Where a shareable container's /dev/shm lives on the host. */
export function shareableShmPath(rec: Pick<ContainerRecord, 'hostsPath'>): string {
  return join(dirname(rec.hostsPath), 'shm');
}

function namespaces(hc: HostConfigFields, host: HostFacts, self: string | undefined, lookup: Lookup, selfShm?: string): Namespaces {
  const modes: Partial<Record<NamespaceType, NamespaceMode>> = {};
  const out: Namespaces = { modes };

  const pid = hc.PidMode ?? '';
  if (pid === 'host') modes.pid = 'host';
  else if (pid.startsWith('container:')) modes.pid = joinNs(target('pid', pid, self, lookup), 'pid');
  else if (pid !== '' && pid !== 'private') throw invalidArgument(`invalid PID mode: ${pid}`);

  const ipc = hc.IpcMode ?? '';
  if (ipc === 'host') modes.ipc = 'host';
  else if (ipc === 'none') out.shm = 'none';
  else if (ipc === 'shareable') {
    if (selfShm) out.shm = { bind: selfShm };
  } else if (ipc.startsWith('container:')) {
    // The donor's IPC namespace and its host-side /dev/shm: only a shareable donor has one.
    const t = target('ipc', ipc, self, lookup);
    modes.ipc = joinNs(t, 'ipc');
    if (t) {
      if ((t.hostConfig as HostConfigFields).IpcMode !== 'shareable') {
        throw conflict(`cannot join IPC of container ${t.id}: non-shareable IPC (hint: use IpcMode:shareable for the donor container)`);
      }
      out.shm = { bind: shareableShmPath(t) };
    }
  } else if (!['', 'private', 'shareable'].includes(ipc)) {
    throw invalidArgument(`invalid IPC mode: ${ipc}: use private, shareable, none, host or container:NAME`);
  }

  const uts = hc.UTSMode ?? '';
  if (uts === 'host') modes.uts = 'host';
  else if (uts !== '' && uts !== 'private') throw invalidArgument(`invalid UTS mode: ${uts}`);

  const net = hc.NetworkMode ?? '';
  if (net === 'host') modes.network = 'host';
  else if (net.startsWith('container:')) {
    const t = target('network', net, self, lookup);
    modes.network = joinNs(t, 'network');
    if (t) out.netTarget = t;
  }

  const userns = hc.UsernsMode ?? '';
  if (userns !== '' && userns !== 'host') {
    throw invalidArgument(`invalid USER mode: ${userns}: only "host" is supported (user namespace remapping is a daemon option)`);
  }

  const cgroupns = hc.CgroupnsMode ?? '';
  if (cgroupns === 'host') modes.cgroup = 'host';
  else if (cgroupns === 'private') modes.cgroup = 'private';
  else if (cgroupns !== '') throw invalidArgument(`invalid cgroup namespace mode: ${cgroupns}: use host or private`);
  else modes.cgroup = (host.cgroupMode ?? detectCgroupMode()) === 'v2' ? 'private' : 'host';
  return out;
}

function throttle(what: string, list: HostConfigFields['BlkioDeviceReadBps']): ThrottleDevice[] | undefined {
  if (!list?.length) return undefined;
  return list.map((d) => {
    const dev = blockDevice(what, d.Path);
    return { ...dev, rate: d.Rate ?? 0 };
  });
}

function blockDevice(what: string, path: string | undefined): { major: number; minor: number } {
  if (!path) throw invalidArgument(`${what}: each entry needs the Path of a block device`);
  const [d] = hostDevice(path);
  if (!d || d.type !== 'b') throw invalidArgument(`${what}: ${path} is not a block device`);
  return { major: d.major, minor: d.minor };
}

function devices(hc: HostConfigFields): DeviceOption[] {
  if (hc.Privileged) return hostDevices();
  const out: DeviceOption[] = [];
  for (const d of hc.Devices ?? []) {
    if (!d.PathOnHost) throw invalidArgument('each device needs PathOnHost');
    out.push(...hostDevice(d.PathOnHost, d.PathInContainer || d.PathOnHost, d.CgroupPermissions || 'rwm'));
  }
  return out;
}

function rlimits(hc: HostConfigFields): RlimitOption[] {
  return (hc.Ulimits ?? []).map((u) => {
    if (!u.Name) throw invalidArgument('each ulimit needs a Name, such as nofile');
    return { type: u.Name, soft: u.Soft ?? 0, hard: u.Hard ?? 0 };
  });
}

/**
 * The generateSpec options for a container. `run` is absent when only checking at
 * create: then the rootfs, user and targets of container:X modes are placeholders.
 */
function specOptions(
  rec: Pick<ContainerRecord, 'path' | 'args' | 'config' | 'hostConfig' | 'id' | 'hostnamePath' | 'hostsPath' | 'resolvConfPath'>,
  host: HostFacts,
  run: SpecContext | undefined,
): SpecOptions {
  const hc = rec.hostConfig as HostConfigFields;
  const ns = namespaces(hc, host, rec.id, run?.lookup, run ? shareableShmPath(rec) : undefined);
  const sec = parseSecurityOpts(hc.SecurityOpt ?? []);
  if (hc.ShmSize !== undefined && hc.ShmSize < 0) throw invalidArgument('SHM size can not be less than 0');
  if (hc.OomScoreAdj !== undefined && (hc.OomScoreAdj < -1000 || hc.OomScoreAdj > 1000)) {
    throw invalidArgument(`Invalid value ${hc.OomScoreAdj}, range for oom score adj is [-1000, 1000]`);
  }

  let args = [rec.path, ...rec.args];
  const extraMounts: MountOption[] = [];
  if (hc.Init) {
    extraMounts.push({ type: 'bind', source: findInit(), destination: INIT_PATH_IN_CONTAINER, readonly: true });
    args = [INIT_PATH_IN_CONTAINER, '--', ...args];
  }

  const user = run?.user ?? { uid: 0, gid: 0 };
  const groupAdd = hc.GroupAdd ?? [];
  const additionalGids = run
    ? [...(user.additionalGids ?? []), ...resolveGroups(run.rootfs, groupAdd)]
    : groupAdd.map((g) => (/^\d+$/.test(g) ? Number(g) : 0));

  // Docker's hostname rules for shared network namespaces.
  let hostname: string | undefined = rec.config.Hostname;
  const env = [...rec.config.Env];
  const defaultHostname = rec.config.Hostname === rec.id.slice(0, 12);
  if (ns.modes.network === 'host' && defaultHostname) {
    hostname = undefined;
    env.unshift(`HOSTNAME=${osHostname()}`);
  } else if (ns.netTarget && defaultHostname) {
    hostname = ns.netTarget.config.Hostname;
  }

  const memory = hc.Memory ?? 0;
  const memorySwap = effectiveMemorySwap(memory, hc.MemorySwap ?? 0);

  const opts: SpecOptions = {
    args,
    env,
    cwd: rec.config.WorkingDir || '/',
    user: { ...user, additionalGids },
    ...(hostname !== undefined ? { hostname } : {}),
    rootfsPath: run?.rootfs ?? '/',
    terminal: rec.config.Tty,
    readonlyRootfs: !!hc.ReadonlyRootfs,
    capabilities: { add: hc.CapAdd ?? [], drop: hc.CapDrop ?? [], privileged: !!hc.Privileged },
    namespaces: ns.modes,
    cgroupsPath: cgroupsPath('/berth', rec.id),
    resources: {
      memory,
      memoryReservation: hc.MemoryReservation ?? 0,
      memorySwap,
      ...(hc.MemorySwappiness !== undefined && hc.MemorySwappiness !== null ? { memorySwappiness: hc.MemorySwappiness } : {}),
      oomKillDisable: !!hc.OomKillDisable,
      nanoCpus: hc.NanoCpus ?? 0,
      cpuShares: hc.CpuShares ?? 0,
      cpuPeriod: hc.CpuPeriod ?? 0,
      cpuQuota: hc.CpuQuota ?? 0,
      cpuRealtimePeriod: hc.CpuRealtimePeriod ?? 0,
      cpuRealtimeRuntime: hc.CpuRealtimeRuntime ?? 0,
      cpusetCpus: hc.CpusetCpus ?? '',
      cpusetMems: hc.CpusetMems ?? '',
      pidsLimit: hc.PidsLimit ?? 0,
      blkioWeight: hc.BlkioWeight ?? 0,
      blkioWeightDevice: (hc.BlkioWeightDevice ?? []).map((d) => ({ ...blockDevice('blkio weight device', d.Path), weight: d.Weight ?? 0 })),
      throttleReadBpsDevice: throttle('device read bps', hc.BlkioDeviceReadBps),
      throttleWriteBpsDevice: throttle('device write bps', hc.BlkioDeviceWriteBps),
      throttleReadIOPSDevice: throttle('device read iops', hc.BlkioDeviceReadIOps),
      throttleWriteIOPSDevice: throttle('device write iops', hc.BlkioDeviceWriteIOps),
    },
    ...(hc.ShmSize ? { shmSize: hc.ShmSize } : {}),
    ...(ns.shm ? { shm: ns.shm } : {}),
    mounts: [
      { type: 'bind', source: rec.hostnamePath, destination: '/etc/hostname' },
      { type: 'bind', source: rec.hostsPath, destination: '/etc/hosts' },
      { type: 'bind', source: rec.resolvConfPath, destination: '/etc/resolv.conf' },
      ...extraMounts,
      ...(run?.mounts ?? []),
    ],
    rlimits: rlimits(hc),
    noNewPrivileges: sec.noNewPrivileges,
    ...(hc.OomScoreAdj !== undefined ? { oomScoreAdj: hc.OomScoreAdj } : {}),
    ...(hc.Sysctls ? { sysctl: hc.Sysctls } : {}),
    ...(sec.seccomp === 'unconfined' ? {} : { seccompProfile: sec.seccomp === 'default' ? DEFAULT_SECCOMP_PROFILE : sec.seccomp }),
    devices: devices(hc),
    deviceCgroupRules: hc.DeviceCgroupRules ?? [],
    ...(sec.systemPathsUnconfined ? { systemPaths: 'unconfined' as const } : {}),
    ...(hc.MaskedPaths ? { maskedPaths: hc.MaskedPaths } : {}),
    ...(hc.ReadonlyPaths ? { readonlyPaths: hc.ReadonlyPaths } : {}),
    host,
  };
  return opts;
}

/** Whether the container gets a user namespace: the daemon remaps and the container did not opt out. */
function remapped(hc: HostConfigFields, userns: IdMappings | undefined): userns is IdMappings {
  return !!userns && hc.UsernsMode !== 'host';
}

/** What Docker refuses in a user namespace; the fix is --userns host. */
function checkUserns(hc: HostConfigFields, userns: IdMappings | undefined): void {
  if (!remapped(hc, userns)) return;
  if (hc.Privileged) throw invalidArgument('privileged mode is incompatible with user namespaces.  You must run the container in the host namespace when running privileged mode');
  if (hc.NetworkMode === 'host') throw invalidArgument("cannot share the host's network namespace when user namespaces are enabled");
  if (hc.PidMode === 'host') throw invalidArgument('cannot share the host PID namespace when user namespaces are enabled');
}

/** Refuses HostConfig options this host cannot honour; invalid-argument naming the option. */
export function checkHostConfig(hostConfig: ContainerRecord['hostConfig'], host: HostFacts, userns?: IdMappings): void {
  checkUserns(hostConfig as HostConfigFields, userns);
  const placeholder = {
    id: 'create-check' as ContainerRecord['id'],
    path: '/bin/true',
    args: [],
    config: { Env: [], Hostname: 'check', WorkingDir: '/', Tty: false } as unknown as ContainerRecord['config'],
    hostConfig,
    hostnamePath: '/etc/hostname',
    hostsPath: '/etc/hosts',
    resolvConfPath: '/etc/resolv.conf',
  };
  const opts = specOptions(placeholder, host, undefined);
  generateSpec(opts);
}

/** HostConfig's names of the limits `discardUnsupported` handles (its names, capitalised). */
const DISCARDABLE = [
  'Memory', 'MemorySwap', 'MemoryReservation', 'MemorySwappiness', 'OomKillDisable', 'PidsLimit', 'NanoCpus', 'CpuShares',
  'CpuPeriod', 'CpuQuota', 'CpusetCpus', 'CpusetMems', 'BlkioWeight', 'BlkioWeightDevice', 'BlkioDeviceReadBps',
  'BlkioDeviceWriteBps', 'BlkioDeviceReadIOps', 'BlkioDeviceWriteIOps',
] as const;

/**
 * dockerd's treatment of limits this host lacks, on the HostConfig as sent: each one the
 * host cannot apply is reset in `hostConfig` (so inspect shows what really applies) and
 * named in the returned warnings, which create answers with.
 */
export function discardUnsupportedLimits(hostConfig: ContainerRecord['hostConfig'], info: SysInfo): string[] {
  const camel = (k: string) => k[0]!.toLowerCase() + k.slice(1);
  const r: Record<string, unknown> = {};
  for (const k of DISCARDABLE) if (hostConfig[k] !== undefined) r[camel(k)] = hostConfig[k];
  const warnings = discardUnsupported(r, info);
  for (const k of DISCARDABLE) if (r[camel(k)] !== undefined) hostConfig[k] = r[camel(k)];
  return warnings;
}

export function buildSpec(rec: ContainerRecord, ctx: SpecContext): OciSpec {
  const hc = rec.hostConfig as HostConfigFields;
  checkUserns(hc, ctx.userns);
  const spec = generateSpec(specOptions(rec, ctx.host, ctx));
  return remapped(hc, ctx.userns) ? applyUserNamespace(spec, ctx.userns) : spec;
}

/**
 * Settings runc may leave out, applied once the container's cgroup exists (after
 * `runc create`, before `runc start`): the block I/O weight lands in the BFQ file when
 * the kernel has no plain weight file. A no-op when runc already wrote it.
 */
export function afterCreate(rec: ContainerRecord, host: HostFacts): void {
  const weight = (rec.hostConfig as HostConfigFields).BlkioWeight ?? 0;
  if (weight) ensureBlkioWeight(host.cgroupMode ?? detectCgroupMode(), cgroupsPath('/berth', rec.id), weight);
}

/**
 * HostConfig as `docker inspect` shows it: Docker's zero values for every resource
 * field, then what the client sent, then the values the daemon settles (IPC mode, shm
 * size, cgroup namespace mode, swap default, masked and read-only paths).
 */
export function inspectHostConfig(hostConfig: ContainerRecord['hostConfig'], cgroupMode: HostFacts['cgroupMode']): Record<string, unknown> {
  const hc = hostConfig as HostConfigFields & Record<string, unknown>;
  const sec = (() => {
    try {
      return parseSecurityOpts(hc.SecurityOpt ?? []);
    } catch {
      return undefined;
    }
  })();
  const unmasked = !!hc.Privileged || !!sec?.systemPathsUnconfined;
  const memory = hc.Memory ?? 0;
  return {
    Binds: null, ContainerIDFile: '', PortBindings: {}, AutoRemove: false, VolumeDriver: '', VolumesFrom: null,
    CapAdd: null, CapDrop: null, Dns: [], DnsOptions: [], DnsSearch: [], ExtraHosts: null, GroupAdd: null, Links: null,
    OomScoreAdj: 0, PidMode: '', Privileged: false, PublishAllPorts: false, ReadonlyRootfs: false, SecurityOpt: null,
    UTSMode: '', UsernsMode: '', Runtime: 'runc', Isolation: '', Cgroup: '', CgroupParent: '',
    CpuShares: 0, Memory: 0, NanoCpus: 0, BlkioWeight: 0, BlkioWeightDevice: [], BlkioDeviceReadBps: [], BlkioDeviceWriteBps: [],
    BlkioDeviceReadIOps: [], BlkioDeviceWriteIOps: [], CpuPeriod: 0, CpuQuota: 0, CpuRealtimePeriod: 0, CpuRealtimeRuntime: 0,
    CpusetCpus: '', CpusetMems: '', Devices: [], DeviceCgroupRules: null, DeviceRequests: null, MemoryReservation: 0,
    MemorySwappiness: null, OomKillDisable: cgroupMode === 'v2' ? null : false, PidsLimit: null, Ulimits: [], CpuCount: 0, CpuPercent: 0,
    IOMaximumIOps: 0, IOMaximumBandwidth: 0,
    ...hc,
    IpcMode: hc.IpcMode || 'private',
    ShmSize: hc.ShmSize || DEFAULT_SHM_SIZE,
    CgroupnsMode: hc.CgroupnsMode || ((cgroupMode ?? detectCgroupMode()) === 'v2' ? 'private' : 'host'),
    MemorySwap: effectiveMemorySwap(memory, hc.MemorySwap ?? 0),
    ...(hc.OomKillDisable === null && cgroupMode !== 'v2' ? { OomKillDisable: false } : {}),
    ...(hc.PidsLimit === 0 ? { PidsLimit: null } : {}),
    MaskedPaths: unmasked ? null : hc.MaskedPaths ?? [...MASKED_PATHS],
    ReadonlyPaths: unmasked ? null : hc.ReadonlyPaths ?? [...READONLY_PATHS],
  };
}
