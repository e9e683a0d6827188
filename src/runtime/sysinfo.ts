/**
 * Which resource controls this host's cgroups offer, read once when berthd starts,
 * and what becomes of a container's limits that the host cannot apply.
 *
 * Contract:
 * - `detectSysInfo(opts)` reads the cgroup hierarchy under `root` (default
 *   /sys/fs/cgroup) and never writes. v1 (and hybrid): each control is present when
 *   its file exists in the root of its controller's hierarchy, as dockerd's sysinfo
 *   decides; the block I/O weight files (plain or BFQ's) only exist below the root, so
 *   they are also looked for in berth's parent cgroup (`parent`, default /berth).
 *   v2: a control is present when its controller is listed in the root's
 *   cgroup.controllers; swap when the daemon's own cgroup has memory.swap.max.
 *   A missing hierarchy or file means "not supported", never an error.
 * - `sysInfoWarnings(info)` is what `docker info` lists for it, in dockerd's words
 *   (v1 says nothing about the blkio weight, v2 nothing about oom-kill-disable or
 *   kernel TCP memory: dockerd stays silent where the user can do nothing about it).
 * - `discardUnsupported(r, info)` applies dockerd's rules for limits the host lacks:
 *   it sets each such limit in `r` to its "unset" value (in place, so the stored
 *   configuration and inspect show what is really applied) and returns one warning per
 *   discarded setting, worded as dockerd's create answers. It refuses (invalid-argument)
 *   only what dockerd refuses for lack of support: NanoCpus without CFS.
 */
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { invalidArgument } from '../common';
import { DEFAULT_CGROUP_PARENT, DEFAULT_CGROUP_ROOT, blkioWeightFile, detectCgroupMode, v1Hierarchies, type CgroupMode } from './cgroups';

export interface SysInfo {
  cgroupMode: CgroupMode;
  memoryLimit: boolean;
  swapLimit: boolean;
  memoryReservation: boolean;
  memorySwappiness: boolean;
  oomKillDisable: boolean;
  kernelMemoryTCP: boolean;
  cpuShares: boolean;
  cpuCfs: boolean;
  cpuRealtime: boolean;
  cpuset: boolean;
  pidsLimit: boolean;
  blkioWeight: boolean;
  blkioWeightDevice: boolean;
  blkioReadBpsDevice: boolean;
  blkioWriteBpsDevice: boolean;
  blkioReadIOpsDevice: boolean;
  blkioWriteIOpsDevice: boolean;
}

export interface DetectOptions {
  root?: string;
  parent?: string;
  /** /proc/self/mountinfo's text (tests give their own). */
  mountinfo?: string;
  /** /proc/self/cgroup's text (tests give their own). */
  selfCgroup?: string;
}

const read = (file: string): string | undefined => {
  try {
    return readFileSync(file, 'utf8');
  } catch {
    return undefined;
  }
};

export function detectSysInfo(opts: DetectOptions = {}): SysInfo {
  const root = opts.root ?? DEFAULT_CGROUP_ROOT;
  const parent = opts.parent ?? DEFAULT_CGROUP_PARENT;
  const cgroupMode = detectCgroupMode(root);
  if (cgroupMode === 'v2') {
    const ctrls = new Set((read(join(root, 'cgroup.controllers')) ?? '').split(/\s+/).filter(Boolean));
    const self = /^0::(.*)$/m.exec(opts.selfCgroup ?? read('/proc/self/cgroup') ?? '')?.[1];
    const memory = ctrls.has('memory');
    const io = ctrls.has('io');
    return {
      cgroupMode,
      memoryLimit: memory,
      swapLimit: memory && self !== undefined && existsSync(join(root, self, 'memory.swap.max')),
      memoryReservation: memory,
      // cgroup v2 has neither: dockerd reports both as missing.
      memorySwappiness: false,
      oomKillDisable: false,
      kernelMemoryTCP: false,
      cpuShares: ctrls.has('cpu'),
      cpuCfs: ctrls.has('cpu'),
      cpuRealtime: false,
      cpuset: ctrls.has('cpuset'),
      pidsLimit: ctrls.has('pids'),
      blkioWeight: io,
      blkioWeightDevice: io,
      blkioReadBpsDevice: io,
      blkioWriteBpsDevice: io,
      blkioReadIOpsDevice: io,
      blkioWriteIOpsDevice: io,
    };
  }
  const mounts = new Map<string, string>();
  for (const [mountpoint, ctrls] of v1Hierarchies(root, opts.mountinfo ?? read('/proc/self/mountinfo') ?? '')) {
    for (const c of ctrls) if (!mounts.has(c)) mounts.set(c, mountpoint);
  }
  const has = (ctrl: string, file?: string) => {
    const dir = mounts.get(ctrl);
    return dir !== undefined && (file === undefined || existsSync(join(dir, file)));
  };
  const blkio = mounts.get('blkio');
  const weightIn = (file: string) => blkio !== undefined && [blkio, join(blkio, parent)].some((d) => existsSync(join(d, file)));
  return {
    cgroupMode,
    memoryLimit: has('memory'),
    swapLimit: has('memory', 'memory.memsw.limit_in_bytes'),
    memoryReservation: has('memory', 'memory.soft_limit_in_bytes'),
    memorySwappiness: has('memory', 'memory.swappiness'),
    oomKillDisable: has('memory', 'memory.oom_control'),
    kernelMemoryTCP: has('memory', 'memory.kmem.tcp.limit_in_bytes'),
    cpuShares: has('cpu', 'cpu.shares'),
    cpuCfs: has('cpu', 'cpu.cfs_quota_us'),
    cpuRealtime: has('cpu', 'cpu.rt_period_us'),
    cpuset: has('cpuset'),
    pidsLimit: has('pids'),
    // runc writes BFQ's file when the plain one is missing (see ensureBlkioWeight).
    blkioWeight: blkio !== undefined && [blkio, join(blkio, parent)].some((d) => blkioWeightFile('v1', d) !== undefined),
    blkioWeightDevice: weightIn('blkio.weight_device') || weightIn('blkio.bfq.weight_device'),
    blkioReadBpsDevice: has('blkio', 'blkio.throttle.read_bps_device'),
    blkioWriteBpsDevice: has('blkio', 'blkio.throttle.write_bps_device'),
    blkioReadIOpsDevice: has('blkio', 'blkio.throttle.read_iops_device'),
    blkioWriteIOpsDevice: has('blkio', 'blkio.throttle.write_iops_device'),
  };
}

export function sysInfoWarnings(i: SysInfo): string[] {
  const v2 = i.cgroupMode === 'v2';
  const w: string[] = [];
  const no = (missing: boolean, what: string) => {
    if (missing) w.push(`WARNING: No ${what} support`);
  };
  no(!i.memoryLimit, 'memory limit');
  no(!i.swapLimit, 'swap limit');
  no(!v2 && !i.kernelMemoryTCP, 'kernel memory TCP limit');
  no(!v2 && !i.oomKillDisable, 'oom kill disable');
  no(!i.cpuCfs, 'cpu cfs quota');
  no(!i.cpuCfs, 'cpu cfs period');
  no(!i.cpuShares, 'cpu shares');
  no(!i.cpuset, 'cpuset');
  no(v2 && !i.blkioWeight, 'io.weight');
  no(v2 && !i.blkioWeightDevice, 'io.weight (per device)');
  no(!i.blkioReadBpsDevice, v2 ? 'io.max (rbps)' : 'blkio throttle.read_bps_device');
  no(!i.blkioWriteBpsDevice, v2 ? 'io.max (wbps)' : 'blkio throttle.write_bps_device');
  no(!i.blkioReadIOpsDevice, v2 ? 'io.max (riops)' : 'blkio throttle.read_iops_device');
  no(!i.blkioWriteIOpsDevice, v2 ? 'io.max (wiops)' : 'blkio throttle.write_iops_device');
  return w;
}

/** The limits `discardUnsupported` may drop; names as in the engine's resources. */
export interface DiscardableResources {
  memory?: number;
  memorySwap?: number;
  memoryReservation?: number;
  memorySwappiness?: number | null;
  oomKillDisable?: boolean | null;
  pidsLimit?: number | null;
  nanoCpus?: number;
  cpuShares?: number;
  cpuPeriod?: number;
  cpuQuota?: number;
  cpusetCpus?: string;
  cpusetMems?: string;
  blkioWeight?: number;
  blkioWeightDevice?: readonly unknown[] | null;
  blkioDeviceReadBps?: readonly unknown[] | null;
  blkioDeviceWriteBps?: readonly unknown[] | null;
  blkioDeviceReadIOps?: readonly unknown[] | null;
  blkioDeviceWriteIOps?: readonly unknown[] | null;
}

const UNSUPPORTED = 'Your kernel does not support';
const NOT_MOUNTED = 'or the cgroup is not mounted.';

export function discardUnsupported(r: DiscardableResources, i: SysInfo): string[] {
  const w: string[] = [];
  if ((r.memory ?? 0) > 0 && !i.memoryLimit) {
    w.push(`${UNSUPPORTED} memory limit capabilities ${NOT_MOUNTED} Limitation discarded.`);
    r.memory = 0;
    r.memorySwap = -1;
  }
  if ((r.memory ?? 0) > 0 && r.memorySwap !== -1 && !i.swapLimit) {
    w.push(`${UNSUPPORTED} swap limit capabilities ${NOT_MOUNTED} Memory limited without swap.`);
    r.memorySwap = -1;
  }
  // -1 is Docker's "unset" for swappiness.
  if (r.memorySwappiness !== undefined && r.memorySwappiness !== null && r.memorySwappiness !== -1 && !i.memorySwappiness) {
    w.push(`${UNSUPPORTED} memory swappiness capabilities ${NOT_MOUNTED} Memory swappiness discarded.`);
    r.memorySwappiness = null;
  }
  if ((r.memoryReservation ?? 0) > 0 && !i.memoryReservation) {
    w.push(`${UNSUPPORTED} memory soft limit capabilities ${NOT_MOUNTED} Limitation discarded.`);
    r.memoryReservation = 0;
  }
  if (r.oomKillDisable !== undefined && r.oomKillDisable !== null && !i.oomKillDisable) {
    // Asking for the default (false) is not worth a warning.
    if (r.oomKillDisable) w.push(`${UNSUPPORTED} OomKillDisable. OomKillDisable discarded.`);
    r.oomKillDisable = null;
  }
  if (r.oomKillDisable && !(r.memory ?? 0)) {
    w.push('OOM killer is disabled for the container, but no memory limit is set, this can result in the system running out of resources.');
  }
  if (r.pidsLimit !== undefined && r.pidsLimit !== null && !i.pidsLimit) {
    if (r.pidsLimit > 0) w.push(`${UNSUPPORTED} PIDs limit capabilities ${NOT_MOUNTED} PIDs limit discarded.`);
    r.pidsLimit = null;
  }
  if ((r.nanoCpus ?? 0) > 0 && !i.cpuCfs) {
    throw invalidArgument('NanoCPUs can not be set, as your kernel does not support CPU CFS scheduler or the cgroup is not mounted');
  }
  if ((r.cpuShares ?? 0) > 0 && !i.cpuShares) {
    w.push(`${UNSUPPORTED} CPU shares ${NOT_MOUNTED} Shares discarded.`);
    r.cpuShares = 0;
  }
  if (((r.cpuPeriod ?? 0) !== 0 || (r.cpuQuota ?? 0) !== 0) && !i.cpuCfs) {
    w.push(`${UNSUPPORTED} CPU CFS scheduler. CPU period/quota discarded.`);
    r.cpuPeriod = 0;
    r.cpuQuota = 0;
  }
  if ((r.cpusetCpus || r.cpusetMems) && !i.cpuset) {
    w.push(`${UNSUPPORTED} cpuset ${NOT_MOUNTED} Cpuset discarded.`);
    r.cpusetCpus = '';
    r.cpusetMems = '';
  }
  if ((r.blkioWeight ?? 0) > 0 && !i.blkioWeight) {
    w.push(`${UNSUPPORTED} Block I/O weight ${NOT_MOUNTED} Weight discarded.`);
    r.blkioWeight = 0;
  }
  const lists: [keyof DiscardableResources & `blkio${string}`, keyof SysInfo, string][] = [
    ['blkioWeightDevice', 'blkioWeightDevice', `Block I/O weight_device ${NOT_MOUNTED} Weight-device discarded.`],
    ['blkioDeviceReadBps', 'blkioReadBpsDevice', `BPS Block I/O read limit ${NOT_MOUNTED} Block I/O BPS read limit discarded.`],
    ['blkioDeviceWriteBps', 'blkioWriteBpsDevice', `BPS Block I/O write limit ${NOT_MOUNTED} Block I/O BPS write limit discarded.`],
    ['blkioDeviceReadIOps', 'blkioReadIOpsDevice', `IOPS Block read limit ${NOT_MOUNTED} Block I/O IOPS read limit discarded.`],
    ['blkioDeviceWriteIOps', 'blkioWriteIOpsDevice', `IOPS Block write limit ${NOT_MOUNTED} Block I/O IOPS write limit discarded.`],
  ];
  for (const [field, support, what] of lists) {
    const v = r[field];
    if (Array.isArray(v) && v.length > 0 && !i[support]) {
      w.push(`${UNSUPPORTED} ${what}`);
      (r as Record<string, unknown>)[field] = [];
    }
  }
  return w;
}
