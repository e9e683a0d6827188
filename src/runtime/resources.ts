/**
 * A container's resource limits: the one place their rules live, for create/start
 * (spec.ts `generateSpec`) and for `update` alike.
 *
 * Contract
 * - `validateResources(r, host, { update })` applies dockerd's rules (daemon_unix.go
 *   verifyPlatformContainerResources) with its messages, and throws invalid-argument
 *   for the first one broken. `update` skips the one rule an update request may break
 *   on its own (a swap limit without a memory limit: the memory limit is the one
 *   already set). Values that are not whole numbers are refused too, naming the field.
 *   cpuset lists are checked for syntax and against the host's CPUs and memory nodes
 *   (`host`, read once from this host by `hostCpuset()`); lists naming more than
 *   CPUSET_MAX entries are refused before they are expanded (CVE-2018-20699).
 * - `buildResources(r)` renders already-validated options as OCI linux.resources
 *   (devices aside): zero, absent and "unset" values (-1 swappiness, pids ≤ 0) are
 *   left out, so the kernel's defaults apply. NanoCpus becomes quota over a 100 ms
 *   period, as in Docker.
 * - `updateResources(current, change, host)` is Docker's `update`: a zero or absent
 *   field of `change` keeps the current value; it validates the change, refuses
 *   changes that conflict with what is already set (conflict, dockerd's messages:
 *   NanoCpus against a set CpuPeriod/CpuQuota and back, a memory limit above the swap
 *   limit already set), and returns the merged options, validated as a whole, plus
 *   the OCI resources to hand `runc update` (pids ≤ 0 there means "no limit").
 * - `effectiveMemorySwap(memory, swap)` is Docker's default swap limit: twice the
 *   memory limit when only that is given.
 */
import { readFileSync } from 'node:fs';
import { availableParallelism } from 'node:os';
import { conflict, invalidArgument } from '../common';

export interface ResourceOptions {
  /** Bytes; at least 6 MiB. */
  memory?: number;
  memoryReservation?: number;
  /** Memory plus swap, in bytes, as Docker's --memory-swap; -1 = unlimited swap. */
  memorySwap?: number;
  cpuShares?: number;
  cpuQuota?: number;
  cpuPeriod?: number;
  /** Docker's --cpus × 1e9; becomes quota over a 100 ms period. */
  nanoCpus?: number;
  /**
   * Real-time group scheduling (cgroup v1 cpu.rt_period_us / cpu.rt_runtime_us), in µs;
   * 0 leaves the kernel's. A runtime above 0 needs budget in the parent cgroups, which
   * berthd does not give, so runc refuses it at start, as with dockerd's defaults.
   */
  cpuRealtimePeriod?: number;
  cpuRealtimeRuntime?: number;
  cpusetCpus?: string;
  cpusetMems?: string;
  /** > 0 limits; 0 or -1 means unlimited, as in Docker. */
  pidsLimit?: number;
  /** 0-100; -1 or absent leaves the kernel default. */
  memorySwappiness?: number;
  oomKillDisable?: boolean;
  /** 10-1000; 0 leaves the default. */
  blkioWeight?: number;
  blkioWeightDevice?: readonly { major: number; minor: number; weight: number }[];
  throttleReadBpsDevice?: readonly ThrottleDevice[];
  throttleWriteBpsDevice?: readonly ThrottleDevice[];
  throttleReadIOPSDevice?: readonly ThrottleDevice[];
  throttleWriteIOPSDevice?: readonly ThrottleDevice[];
}

export interface ThrottleDevice {
  major: number;
  minor: number;
  rate: number;
}

/** OCI linux.resources, the device rules aside. */
export interface OciLinuxResources {
  memory?: { limit?: number; reservation?: number; swap?: number; swappiness?: number; disableOOMKiller?: boolean };
  blockIO?: {
    weight?: number;
    weightDevice?: Array<{ major: number; minor: number; weight: number }>;
    throttleReadBpsDevice?: ThrottleDevice[];
    throttleWriteBpsDevice?: ThrottleDevice[];
    throttleReadIOPSDevice?: ThrottleDevice[];
    throttleWriteIOPSDevice?: ThrottleDevice[];
  };
  cpu?: { shares?: number; quota?: number; period?: number; realtimePeriod?: number; realtimeRuntime?: number; cpus?: string; mems?: string };
  pids?: { limit: number };
}

/** The CPUs and memory nodes containers may use, in cpuset list form ("0-3,5"), and the CPU count. */
export interface HostCpuset {
  cpus: string;
  mems: string;
  ncpu: number;
}

const MIN_MEMORY = 6 * 1024 * 1024;
/** Linux's usual CPU maximum; dockerd's bound on cpuset lists. */
export const CPUSET_MAX = 8192;

let cachedHost: HostCpuset | undefined;

/** This host's cpuset (the root cgroup's, else /sys/devices/system), read once. */
export function hostCpuset(): HostCpuset {
  if (cachedHost) return cachedHost;
  const first = (paths: string[], fallback: string): string => {
    for (const p of paths) {
      try {
        const v = readFileSync(p, 'utf8').trim();
        if (v) return v;
      } catch {
        // this cgroup layout or sysfs file is absent here: try the next
      }
    }
    return fallback;
  };
  const ncpu = availableParallelism();
  cachedHost = {
    cpus: first(['/sys/fs/cgroup/cpuset.cpus.effective', '/sys/fs/cgroup/cpuset/cpuset.cpus', '/sys/devices/system/cpu/online'], ncpu === 1 ? '0' : `0-${ncpu - 1}`),
    mems: first(['/sys/fs/cgroup/cpuset.mems.effective', '/sys/fs/cgroup/cpuset/cpuset.mems', '/sys/devices/system/node/online'], '0'),
    ncpu,
  };
  return cachedHost;
}

/**
 * Parses a cpuset list ("0-3,5,7-7"); throws a plain Error with dockerd's wording
 * ("invalid format: …", "value of out range, maximum is N"), which callers wrap.
 */
export function parseCpusetList(list: string, max = CPUSET_MAX): Set<number> {
  const out = new Set<number>();
  if (list === '') return out;
  const bad = () => new Error(`invalid format: ${list}`);
  for (const part of list.split(',')) {
    const m = /^(\d+)(?:-(\d+))?$/.exec(part);
    if (!m) throw bad();
    const lo = Number(m[1]);
    const hi = m[2] === undefined ? lo : Number(m[2]);
    if (hi < lo) throw bad();
    if (hi > max) throw new Error(`value of out range, maximum is ${max}`);
    for (let i = lo; i <= hi; i++) out.add(i);
  }
  return out;
}

function checkCpuset(what: 'cpus' | 'mems', requested: string | undefined, available: string): void {
  if (!requested) return;
  const have = parseCpusetList(available, Number.MAX_SAFE_INTEGER);
  let want: Set<number>;
  try {
    want = parseCpusetList(requested, Math.max(CPUSET_MAX, ...have));
  } catch (err) {
    throw invalidArgument(`Invalid value ${requested} for cpuset ${what}: ${(err as Error).message}`, err);
  }
  for (const n of want) {
    if (!have.has(n)) {
      const noun = what === 'cpus' ? 'CPUs' : 'memory nodes';
      throw invalidArgument(`Requested ${noun} are not available - requested ${requested}, available: ${available}`);
    }
  }
}

function checkInt(field: string, v: number | undefined, min = Number.MIN_SAFE_INTEGER): void {
  if (v !== undefined && (!Number.isSafeInteger(v) || v < min)) {
    throw invalidArgument(`invalid ${field} ${v}: it must be a whole number${min > Number.MIN_SAFE_INTEGER ? ` of at least ${min}` : ''}`);
  }
}

/** Docker's resource rules; see the contract. */
export function validateResources(r: ResourceOptions, host: HostCpuset, opts: { update?: boolean } = {}): void {
  for (const [field, v] of [
    ['Memory', r.memory], ['MemoryReservation', r.memoryReservation], ['MemorySwap', r.memorySwap],
    ['MemorySwappiness', r.memorySwappiness], ['CpuShares', r.cpuShares], ['CpuPeriod', r.cpuPeriod],
    ['CpuQuota', r.cpuQuota], ['NanoCpus', r.nanoCpus], ['PidsLimit', r.pidsLimit], ['BlkioWeight', r.blkioWeight],
  ] as const) {
    checkInt(field, v);
  }
  checkInt('CpuShares', r.cpuShares, 0);
  checkInt('MemorySwap', r.memorySwap, -1);
  checkInt('CpuQuota', r.cpuQuota, -1);
  const memory = r.memory ?? 0;
  const swap = r.memorySwap ?? 0;
  const reservation = r.memoryReservation ?? 0;
  if (memory !== 0 && memory < MIN_MEMORY) throw invalidArgument('Minimum memory limit allowed is 6MB');
  if (memory > 0 && swap > 0 && swap < memory) throw invalidArgument('Minimum memoryswap limit should be larger than memory limit, see usage');
  if (memory === 0 && swap > 0 && !opts.update) throw invalidArgument('You should always set the Memory limit when using Memoryswap limit, see usage');
  const swappiness = r.memorySwappiness ?? -1;
  if (swappiness !== -1 && (swappiness < 0 || swappiness > 100)) {
    throw invalidArgument(`Invalid value: ${swappiness}, valid memory swappiness range is 0-100`);
  }
  if (reservation > 0 && reservation < MIN_MEMORY) throw invalidArgument('Minimum memory reservation allowed is 6MB');
  if (memory > 0 && reservation > 0 && memory < reservation) {
    throw invalidArgument('Minimum memory limit can not be less than memory reservation limit, see usage');
  }

  const nano = r.nanoCpus ?? 0;
  const period = r.cpuPeriod ?? 0;
  const quota = r.cpuQuota ?? 0;
  if (nano > 0 && period > 0) throw invalidArgument('Conflicting options: Nano CPUs and CPU Period cannot both be set');
  if (nano > 0 && quota > 0) throw invalidArgument('Conflicting options: Nano CPUs and CPU Quota cannot both be set');
  if (nano !== 0 && (nano < 0 || nano > host.ncpu * 1e9)) {
    throw invalidArgument(`range of CPUs is from 0.01 to ${host.ncpu}.00, as there are only ${host.ncpu} CPUs available`);
  }
  if (period !== 0 && (period < 1000 || period > 1_000_000)) {
    throw invalidArgument('CPU cfs period can not be less than 1ms (i.e. 1000) or larger than 1s (i.e. 1000000)');
  }
  if (quota > 0 && quota < 1000) throw invalidArgument('CPU cfs quota can not be less than 1ms (i.e. 1000)');
  checkInt('CpuRealtimePeriod', r.cpuRealtimePeriod, 0);
  checkInt('CpuRealtimeRuntime', r.cpuRealtimeRuntime, -1);
  if ((r.cpuRealtimePeriod ?? 0) > 0 && (r.cpuRealtimeRuntime ?? 0) > (r.cpuRealtimePeriod ?? 0)) {
    throw invalidArgument('cpu real-time runtime cannot be higher than cpu real-time period');
  }

  checkCpuset('cpus', r.cpusetCpus, host.cpus);
  checkCpuset('mems', r.cpusetMems, host.mems);

  const weight = r.blkioWeight ?? 0;
  if (weight > 0 && (weight < 10 || weight > 1000)) throw invalidArgument('Range of blkio weight is from 10 to 1000');
  for (const d of r.blkioWeightDevice ?? []) {
    if (!Number.isSafeInteger(d.weight) || d.weight < 10 || d.weight > 1000) {
      throw invalidArgument(`invalid weight for device ${d.major}:${d.minor}: ${d.weight}. Range of blkio weight is from 10 to 1000`);
    }
  }
  for (const [field, list] of [
    ['BlkioDeviceReadBps', r.throttleReadBpsDevice], ['BlkioDeviceWriteBps', r.throttleWriteBpsDevice],
    ['BlkioDeviceReadIOps', r.throttleReadIOPSDevice], ['BlkioDeviceWriteIOps', r.throttleWriteIOPSDevice],
  ] as const) {
    for (const d of list ?? []) checkInt(`${field} rate for device ${d.major}:${d.minor}`, d.rate, 0);
  }
}

/** OCI linux.resources for validated options; see the contract. */
export function buildResources(r: ResourceOptions): OciLinuxResources {
  const out: OciLinuxResources = {};
  const memory: NonNullable<OciLinuxResources['memory']> = {};
  if (r.memory) memory.limit = r.memory;
  if (r.memoryReservation) memory.reservation = r.memoryReservation;
  if (r.memorySwap) memory.swap = r.memorySwap;
  if (r.memorySwappiness !== undefined && r.memorySwappiness >= 0) memory.swappiness = r.memorySwappiness;
  if (r.oomKillDisable) memory.disableOOMKiller = true;
  if (Object.keys(memory).length > 0) out.memory = memory;

  const cpu: NonNullable<OciLinuxResources['cpu']> = {};
  if (r.cpuShares) cpu.shares = r.cpuShares;
  if (r.nanoCpus) {
    cpu.period = 100_000;
    cpu.quota = Math.round((r.nanoCpus * 100_000) / 1e9);
  }
  if (r.cpuQuota) cpu.quota = r.cpuQuota;
  if (r.cpuPeriod) cpu.period = r.cpuPeriod;
  if (r.cpuRealtimePeriod) cpu.realtimePeriod = r.cpuRealtimePeriod;
  if (r.cpuRealtimeRuntime) cpu.realtimeRuntime = r.cpuRealtimeRuntime;
  if (r.cpusetCpus) cpu.cpus = r.cpusetCpus;
  if (r.cpusetMems) cpu.mems = r.cpusetMems;
  if (Object.keys(cpu).length > 0) out.cpu = cpu;

  if (r.pidsLimit !== undefined && r.pidsLimit > 0) out.pids = { limit: r.pidsLimit };

  const blk: NonNullable<OciLinuxResources['blockIO']> = {};
  if (r.blkioWeight) blk.weight = r.blkioWeight;
  if (r.blkioWeightDevice?.length) blk.weightDevice = r.blkioWeightDevice.map((d) => ({ ...d }));
  const copy = (list: readonly ThrottleDevice[] | undefined) => (list?.length ? list.map((d) => ({ ...d })) : undefined);
  const throttles = {
    throttleReadBpsDevice: copy(r.throttleReadBpsDevice),
    throttleWriteBpsDevice: copy(r.throttleWriteBpsDevice),
    throttleReadIOPSDevice: copy(r.throttleReadIOPSDevice),
    throttleWriteIOPSDevice: copy(r.throttleWriteIOPSDevice),
  };
  for (const [k, v] of Object.entries(throttles)) if (v) blk[k as keyof typeof throttles] = v;
  if (Object.keys(blk).length > 0) out.blockIO = blk;
  return out;
}

/** Docker's default swap limit: twice the memory limit when only that is set. */
export function effectiveMemorySwap(memory: number, swap: number): number {
  return memory > 0 && swap === 0 ? memory * 2 : swap;
}

const UPDATABLE = [
  'memory', 'memorySwap', 'memoryReservation', 'nanoCpus', 'cpuShares', 'cpuPeriod', 'cpuQuota',
  'cpusetCpus', 'cpusetMems', 'blkioWeight',
] as const;

/** Docker's update of a container's resources; see the contract. */
export function updateResources(
  current: ResourceOptions,
  change: ResourceOptions,
  host: HostCpuset,
): { merged: ResourceOptions; oci: OciLinuxResources } {
  validateResources(change, host, { update: true });
  const set = (v: number | undefined): v is number => v !== undefined && v !== 0;
  if (set(change.nanoCpus) && change.nanoCpus > 0) {
    if ((current.cpuPeriod ?? 0) > 0) throw conflict('Conflicting options: Nano CPUs cannot be updated as CPU Period has already been set');
    if ((current.cpuQuota ?? 0) > 0) throw conflict('Conflicting options: Nano CPUs cannot be updated as CPU Quota has already been set');
  }
  if ((current.nanoCpus ?? 0) > 0) {
    if ((change.cpuPeriod ?? 0) > 0) throw conflict('Conflicting options: CPU Period cannot be updated as NanoCPUs has already been set');
    if ((change.cpuQuota ?? 0) > 0) throw conflict('Conflicting options: CPU Quota cannot be updated as NanoCPUs has already been set');
  }
  const currentSwap = effectiveMemorySwap(current.memory ?? 0, current.memorySwap ?? 0);
  if (set(change.memory) && !set(change.memorySwap) && change.memory > currentSwap) {
    throw conflict('Memory limit should be smaller than already set memoryswap limit, update the memoryswap at the same time');
  }
  const merged: ResourceOptions = { ...current };
  for (const k of UPDATABLE) {
    const v = change[k];
    if (v !== undefined && v !== 0 && v !== '') (merged as Record<string, unknown>)[k] = v;
  }
  if (change.pidsLimit !== undefined) merged.pidsLimit = change.pidsLimit;
  validateResources(merged, host, { update: true });
  const oci = buildResources({ ...merged, memorySwap: effectiveMemorySwap(merged.memory ?? 0, merged.memorySwap ?? 0) });
  if (change.pidsLimit !== undefined && change.pidsLimit <= 0) oci.pids = { limit: -1 };
  return { merged, oci };
}
