/**
 * From a container's record (its `ContainerSpec`) to the OCI runtime spec that runc
 * gets. `checkSpec` runs at create time so a bad option is refused before anything
 * exists; `buildSpec` runs at every start.
 *
 * Contract:
 * - Both go through `specOptions`, so create refuses exactly what start would: the
 *   check builds a throwaway spec (with placeholders for what only exists at start:
 *   the rootfs, the user, the processes of `container:X` targets).
 * - Namespace modes: pid '' | host | container:X; ipc '' | private | shareable |
 *   none | host | container:X; uts '' | host; network mode host | container:X (any
 *   other value is a private network namespace); userns '' | host; cgroupns
 *   '' | private | host ('' = private on a cgroup v2 host, host otherwise).
 *   `container:X` joins /proc/<pid>/ns/<type> of X, which must be running (conflict,
 *   409, otherwise). A shareable container's /dev/shm is a tmpfs on the host
 *   (`shareableShmPath`), bound by it and by every container joining its IPC; joining a
 *   private one is refused, as in Docker.
 * - With the host's network and no hostname of its own, the container keeps the host's
 *   name (the spec sets none; HOSTNAME is the host's); with container:X it takes X's.
 * - Security: privileged, capAdd/capDrop, noNewPrivileges, seccomp (default |
 *   unconfined | a profile's JSON, parsed here), systemPathsUnconfined, readonlyRootfs,
 *   maskedPaths, readonlyPaths, sysctls, ulimits, oomScoreAdj, shmSize, groupAdd, init
 *   (tini bound read-only at /sbin/docker-init and put in front of the command, as
 *   Docker does). The default seccomp profile is Docker's, rendered for the
 *   container's capabilities.
 * - Resources: memory, memoryReservation, memorySwap (Docker's default: twice memory),
 *   memorySwappiness, oomKillDisable, nanoCpus, cpuShares, cpuPeriod, cpuQuota,
 *   cpusetCpus, cpusetMems (checked against this host's CPUs/nodes), blkioWeight,
 *   blkioWeightDevice, blkioDevice{Read,Write}{Bps,IOps}, pidsLimit, devices,
 *   deviceCgroupRules. Device paths are stat'ed on the host.
 * - User namespaces: with the daemon's --userns-remap (`userns` mappings given), every
 *   container gets a user namespace of its own unless its userns mode is host. As in Docker,
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
  effectiveMemorySwap,
  ensureBlkioWeight,
  generateSpec,
  hostDevice,
  hostDevices,
  normalizeCapability,
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
  type SpecOptions,
  type ThrottleDevice,
} from '../runtime';
import type { ContainerRecord, ContainerSpec, ThrottleSetting } from './container-model';

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
  /** A network namespace the container-network port made for the container. */
  netns?: string;
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

/** The cgroup namespace a container gets: its own, or on a cgroup v1 host by default the host's. */
function effectiveCgroupns(spec: ContainerSpec, cgroupMode: HostFacts['cgroupMode']): 'host' | 'private' {
  const m = spec.namespaces.cgroupns;
  if (m === 'host' || m === 'private') return m;
  return (cgroupMode ?? detectCgroupMode()) === 'v2' ? 'private' : 'host';
}

/** The values the engine settles for what a spec leaves to it, as inspect shows them. */
export interface SettledSettings {
  ipcMode: string;
  shmSize: number;
  cgroupnsMode: 'host' | 'private';
  memorySwap: number;
  /** null: none (privileged or systempaths=unconfined). */
  maskedPaths: string[] | null;
  readonlyPaths: string[] | null;
}

export function settledSettings(spec: ContainerSpec, cgroupMode: HostFacts['cgroupMode']): SettledSettings {
  const unmasked = spec.security.privileged || spec.security.systemPathsUnconfined;
  const r = spec.resources;
  return {
    ipcMode: spec.namespaces.ipc || 'private',
    shmSize: r.shmSize || DEFAULT_SHM_SIZE,
    cgroupnsMode: effectiveCgroupns(spec, cgroupMode),
    memorySwap: effectiveMemorySwap(r.memory, r.memorySwap),
    maskedPaths: unmasked ? null : spec.security.maskedPaths ?? [...MASKED_PATHS],
    readonlyPaths: unmasked ? null : spec.security.readonlyPaths ?? [...READONLY_PATHS],
  };
}

function namespaces(spec: ContainerSpec, host: HostFacts, self: string | undefined, lookup: Lookup, selfShm?: string): Namespaces {
  const modes: Partial<Record<NamespaceType, NamespaceMode>> = {};
  const out: Namespaces = { modes };
  const ns = spec.namespaces;

  const pid = ns.pid;
  if (pid === 'host') modes.pid = 'host';
  else if (pid.startsWith('container:')) modes.pid = joinNs(target('pid', pid, self, lookup), 'pid');
  else if (pid !== '' && pid !== 'private') throw invalidArgument(`invalid PID mode: ${pid}`);

  const ipc = ns.ipc;
  if (ipc === 'host') modes.ipc = 'host';
  else if (ipc === 'none') out.shm = 'none';
  else if (ipc === 'shareable') {
    if (selfShm) out.shm = { bind: selfShm };
  } else if (ipc.startsWith('container:')) {
    // The donor's IPC namespace and its host-side /dev/shm: only a shareable donor has one.
    const t = target('ipc', ipc, self, lookup);
    modes.ipc = joinNs(t, 'ipc');
    if (t) {
      if (t.spec.namespaces.ipc !== 'shareable') {
        throw conflict(`cannot join IPC of container ${t.id}: non-shareable IPC (hint: use IpcMode:shareable for the donor container)`);
      }
      out.shm = { bind: shareableShmPath(t) };
    }
  } else if (!['', 'private', 'shareable'].includes(ipc)) {
    throw invalidArgument(`invalid IPC mode: ${ipc}: use private, shareable, none, host or container:NAME`);
  }

  const uts = ns.uts;
  if (uts === 'host') modes.uts = 'host';
  else if (uts !== '' && uts !== 'private') throw invalidArgument(`invalid UTS mode: ${uts}`);

  const net = spec.network.mode ?? '';
  if (net === 'host') modes.network = 'host';
  else if (net.startsWith('container:')) {
    const t = target('network', net, self, lookup);
    modes.network = joinNs(t, 'network');
    if (t) out.netTarget = t;
  }

  const userns = ns.userns;
  if (userns !== '' && userns !== 'host') {
    throw invalidArgument(`invalid USER mode: ${userns}: only "host" is supported (user namespace remapping is a daemon option)`);
  }

  const cgroupns = ns.cgroupns;
  if (cgroupns !== '' && cgroupns !== 'host' && cgroupns !== 'private') throw invalidArgument(`invalid cgroup namespace mode: ${cgroupns}: use host or private`);
  modes.cgroup = effectiveCgroupns(spec, host.cgroupMode);
  return out;
}

function throttle(what: string, list: readonly ThrottleSetting[]): ThrottleDevice[] | undefined {
  if (!list.length) return undefined;
  return list.map((d) => ({ ...blockDevice(what, d.path), rate: d.rate }));
}

function blockDevice(what: string, path: string): { major: number; minor: number } {
  if (!path) throw invalidArgument(`${what}: each entry needs the Path of a block device`);
  const [d] = hostDevice(path);
  if (!d || d.type !== 'b') throw invalidArgument(`${what}: ${path} is not a block device`);
  return { major: d.major, minor: d.minor };
}

function devices(spec: ContainerSpec): DeviceOption[] {
  if (spec.security.privileged) return hostDevices();
  const out: DeviceOption[] = [];
  for (const d of spec.resources.devices) {
    if (!d.pathOnHost) throw invalidArgument('each device needs PathOnHost');
    out.push(...hostDevice(d.pathOnHost, d.pathInContainer || d.pathOnHost, d.cgroupPermissions || 'rwm'));
  }
  return out;
}

function rlimits(spec: ContainerSpec): RlimitOption[] {
  return spec.resources.ulimits.map((u) => {
    if (!u.name) throw invalidArgument('each ulimit needs a Name, such as nofile');
    return { type: u.name, soft: u.soft, hard: u.hard };
  });
}

/**
 * The generateSpec options for a container. `run` is absent when only checking at
 * create: then the rootfs, user and targets of container:X modes are placeholders.
 */
function specOptions(
  rec: Pick<ContainerRecord, 'path' | 'args' | 'spec' | 'id' | 'hostnamePath' | 'hostsPath' | 'resolvConfPath'>,
  host: HostFacts,
  run: SpecContext | undefined,
): SpecOptions {
  const spec = rec.spec;
  const res = spec.resources;
  const sec = spec.security;
  const ns = namespaces(spec, host, rec.id, run?.lookup, run ? shareableShmPath(rec) : undefined);
  if (run?.netns) ns.modes.network = { path: run.netns };
  const seccomp = sec.seccomp === 'default' || sec.seccomp === 'unconfined' ? sec.seccomp : parseSeccompProfile(sec.seccomp.profile);
  if (res.shmSize < 0) throw invalidArgument('SHM size can not be less than 0');
  if (sec.oomScoreAdj < -1000 || sec.oomScoreAdj > 1000) {
    throw invalidArgument(`Invalid value ${sec.oomScoreAdj}, range for oom score adj is [-1000, 1000]`);
  }

  let args = [rec.path, ...rec.args];
  const extraMounts: MountOption[] = [];
  if (spec.process.init) {
    extraMounts.push({ type: 'bind', source: findInit(), destination: INIT_PATH_IN_CONTAINER, readonly: true });
    args = [INIT_PATH_IN_CONTAINER, '--', ...args];
  }

  const user = run?.user ?? { uid: 0, gid: 0 };
  const groupAdd = sec.groupAdd ?? [];
  const additionalGids = run
    ? [...(user.additionalGids ?? []), ...resolveGroups(run.rootfs, groupAdd)]
    : groupAdd.map((g) => (/^\d+$/.test(g) ? Number(g) : 0));

  // Docker's hostname rules for shared network namespaces.
  let hostname: string | undefined = spec.hostname;
  const env = [...spec.process.env];
  const defaultHostname = spec.hostname === rec.id.slice(0, 12);
  if (ns.modes.network === 'host' && defaultHostname) {
    hostname = undefined;
    env.unshift(`HOSTNAME=${osHostname()}`);
  } else if (ns.netTarget && defaultHostname) {
    hostname = ns.netTarget.spec.hostname;
  }

  const memory = res.memory;
  const memorySwap = effectiveMemorySwap(memory, res.memorySwap);

  const opts: SpecOptions = {
    args,
    env,
    cwd: spec.process.workingDir || '/',
    user: { ...user, additionalGids },
    ...(hostname !== undefined ? { hostname } : {}),
    rootfsPath: run?.rootfs ?? '/',
    terminal: spec.process.tty,
    readonlyRootfs: sec.readonlyRootfs,
    capabilities: { add: sec.capAdd ?? [], drop: sec.capDrop ?? [], privileged: sec.privileged },
    namespaces: ns.modes,
    cgroupsPath: containerCgroupsPath(rec),
    resources: {
      memory,
      memoryReservation: res.memoryReservation,
      memorySwap,
      ...(res.memorySwappiness !== null ? { memorySwappiness: res.memorySwappiness } : {}),
      oomKillDisable: !!res.oomKillDisable,
      nanoCpus: res.nanoCpus,
      cpuShares: res.cpuShares,
      cpuPeriod: res.cpuPeriod,
      cpuQuota: res.cpuQuota,
      cpuRealtimePeriod: res.cpuRealtimePeriod,
      cpuRealtimeRuntime: res.cpuRealtimeRuntime,
      cpusetCpus: res.cpusetCpus,
      cpusetMems: res.cpusetMems,
      pidsLimit: res.pidsLimit ?? 0,
      blkioWeight: res.blkioWeight,
      blkioWeightDevice: res.blkioWeightDevice.map((d) => ({ ...blockDevice('blkio weight device', d.path), weight: d.weight })),
      throttleReadBpsDevice: throttle('device read bps', res.blkioDeviceReadBps),
      throttleWriteBpsDevice: throttle('device write bps', res.blkioDeviceWriteBps),
      throttleReadIOPSDevice: throttle('device read iops', res.blkioDeviceReadIOps),
      throttleWriteIOPSDevice: throttle('device write iops', res.blkioDeviceWriteIOps),
    },
    ...(res.shmSize ? { shmSize: res.shmSize } : {}),
    ...(ns.shm ? { shm: ns.shm } : {}),
    mounts: [
      // With --network container:X the container shares X's files, as dockerd does.
      { type: 'bind', source: (ns.netTarget ?? rec).hostnamePath, destination: '/etc/hostname' },
      { type: 'bind', source: (ns.netTarget ?? rec).hostsPath, destination: '/etc/hosts' },
      { type: 'bind', source: (ns.netTarget ?? rec).resolvConfPath, destination: '/etc/resolv.conf' },
      ...extraMounts,
      ...(run?.mounts ?? []),
    ],
    rlimits: rlimits(spec),
    noNewPrivileges: sec.noNewPrivileges,
    oomScoreAdj: sec.oomScoreAdj,
    ...(sec.sysctls ? { sysctl: sec.sysctls } : {}),
    ...(seccomp === 'unconfined' ? {} : { seccompProfile: seccomp === 'default' ? DEFAULT_SECCOMP_PROFILE : seccomp }),
    devices: devices(spec),
    deviceCgroupRules: res.deviceCgroupRules ?? [],
    ...(sec.systemPathsUnconfined ? { systemPaths: 'unconfined' as const } : {}),
    ...(sec.maskedPaths ? { maskedPaths: sec.maskedPaths } : {}),
    ...(sec.readonlyPaths ? { readonlyPaths: sec.readonlyPaths } : {}),
    host,
  };
  return opts;
}

/** Whether the container gets a user namespace: the daemon remaps and the container did not opt out. */
function remapped(spec: ContainerSpec, userns: IdMappings | undefined): userns is IdMappings {
  return !!userns && spec.namespaces.userns !== 'host';
}

/** What Docker refuses in a user namespace; the fix is --userns host. */
function checkUserns(spec: ContainerSpec, userns: IdMappings | undefined): void {
  if (!remapped(spec, userns)) return;
  if (spec.security.privileged) throw invalidArgument('privileged mode is incompatible with user namespaces.  You must run the container in the host namespace when running privileged mode');
  if (spec.network.mode === 'host') throw invalidArgument("cannot share the host's network namespace when user namespaces are enabled");
  if (spec.namespaces.pid === 'host') throw invalidArgument('cannot share the host PID namespace when user namespaces are enabled');
}

/** Refuses settings this host cannot honour; invalid-argument naming the option. */
export function checkSpec(spec: ContainerSpec, host: HostFacts, userns?: IdMappings): void {
  checkUserns(spec, userns);
  // Named by the field, in dockerd's words (invalid CapAdd: unknown capability: "CAP_X").
  for (const [field, names] of [['CapAdd', spec.security.capAdd], ['CapDrop', spec.security.capDrop]] as const) {
    for (const name of names ?? []) {
      try {
        normalizeCapability(name);
      } catch (err) {
        throw invalidArgument(`invalid ${field}: ${err instanceof Error ? err.message : String(err)}`, err);
      }
    }
  }
  const placeholder = {
    id: 'create-check' as ContainerRecord['id'],
    path: '/bin/true',
    args: [],
    spec: { ...spec, hostname: 'check', process: { ...spec.process, env: [], workingDir: '/', tty: false } },
    hostnamePath: '/etc/hostname',
    hostsPath: '/etc/hosts',
    resolvConfPath: '/etc/resolv.conf',
  };
  generateSpec(specOptions(placeholder, host, undefined));
}

export function buildSpec(rec: ContainerRecord, ctx: SpecContext): OciSpec {
  checkUserns(rec.spec, ctx.userns);
  const spec = generateSpec(specOptions(rec, ctx.host, ctx));
  // The client's terminal size at create (docker run -t): the TTY starts with it, before any resize call.
  const cs = rec.spec.process.consoleSize;
  if (rec.spec.process.tty && cs && cs.every((n) => Number.isInteger(n) && n > 0)) {
    (spec.process as { consoleSize?: { height: number; width: number } }).consoleSize = { height: cs[0], width: cs[1] };
  }
  return remapped(rec.spec, ctx.userns) ? applyUserNamespace(spec, ctx.userns) : spec;
}

/**
 * Settings runc may leave out, applied once the container's cgroup exists (after
 * `runc create`, before `runc start`): the block I/O weight lands in the BFQ file when
 * the kernel has no plain weight file. A no-op when runc already wrote it.
 */
/** The container's cgroup: under its spec's parent (a CRI pod's), else /berth. */
export function containerCgroupsPath(rec: Pick<ContainerRecord, 'id' | 'spec'>): string {
  return cgroupsPath(rec.spec.cgroupParent || '/berth', rec.id);
}

export function afterCreate(rec: ContainerRecord, host: HostFacts): void {
  const weight = rec.spec.resources.blkioWeight;
  if (weight) ensureBlkioWeight(host.cgroupMode ?? detectCgroupMode(), containerCgroupsPath(rec), weight);
}
