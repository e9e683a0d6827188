/**
 * Accounting readers for one container's cgroup, on cgroup v1 (and hybrid, which
 * counts as v1 for controllers) and on cgroup v2.
 *
 * Contract:
 * - Every reader takes the controller → directory map from `cgroupDirs` (cgroups.ts),
 *   so tests build a v1- or v2-shaped tree in a temp dir and pass its paths. Nothing
 *   here reads anything outside the given dirs except `readHostCpu`/`readNetDev`,
 *   which take the file text so they stay pure too.
 * - A missing controller or file reads as zero / absent: a container that just exited
 *   or a kernel without a controller must not fail `stats`. Values are numbers; limits
 *   the kernel reports as "unlimited" (v1's 2^63-ish page-rounded value, v2's `max`)
 *   come back as undefined.
 * - `readOomKills` is the kernel's oom_kill counter for the cgroup (v1
 *   memory.oom_control, v2 memory.events). The cgroup lives until `runc delete`, so the
 *   count is still readable after the container's last process died.
 */
import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import type { CgroupDirs, CgroupMode } from './cgroups';

export interface BlkioEntry {
  major: number;
  minor: number;
  op: string;
  value: number;
}

export interface CgroupSample {
  memory: {
    usage: number;
    /** v1 only. */
    maxUsage?: number;
    /** v1 only. */
    failcnt?: number;
    /** undefined when unlimited. */
    limit?: number;
    /** memory.stat as read: v1 keys (cache, rss, total_inactive_file …) or v2 keys (anon, file, inactive_file …). */
    stats: Record<string, number>;
  };
  cpu: {
    /** Nanoseconds. */
    total: number;
    /** Nanoseconds per CPU; v1 only. */
    perCpu?: number[];
    userNs: number;
    systemNs: number;
    throttling: { periods: number; throttledPeriods: number; throttledTimeNs: number };
  };
  pids: { current: number; limit?: number };
  blkio: { serviceBytes: BlkioEntry[]; serviced: BlkioEntry[] };
}

/** Linux USER_HZ: cpuacct.stat and /proc/stat count in these ticks on every architecture we run on. */
export const USER_HZ = 100;
const TICK_NS = 1e9 / USER_HZ;
/** v1 reports "no limit" as LONG_MAX rounded down to a page; anything this large is unlimited. */
const V1_UNLIMITED = 2 ** 62;

function readText(dir: string | undefined, file: string): string | undefined {
  if (!dir) return undefined;
  try {
    return readFileSync(join(dir, file), 'utf8');
  } catch {
    return undefined;
  }
}

function readNum(dir: string | undefined, file: string): number | undefined {
  const t = readText(dir, file)?.trim();
  if (t === undefined || t === '' || t === 'max') return undefined;
  const n = Number(t);
  return Number.isFinite(n) ? n : undefined;
}

/** `key value` lines (memory.stat, cpu.stat, cpuacct.stat, memory.events, memory.oom_control). */
export function parseFlatKeyed(text: string | undefined): Record<string, number> {
  const out: Record<string, number> = {};
  for (const line of (text ?? '').split('\n')) {
    const [k, v] = line.trim().split(/\s+/);
    if (k && v !== undefined && /^-?\d+$/.test(v)) out[k] = Number(v);
  }
  return out;
}

/** v1 blkio `MAJ:MIN Op value` lines; the trailing `Total N` line is dropped. */
export function parseV1Blkio(text: string | undefined): BlkioEntry[] {
  const out: BlkioEntry[] = [];
  for (const line of (text ?? '').split('\n')) {
    const m = /^(\d+):(\d+)\s+(\S+)\s+(\d+)$/.exec(line.trim());
    if (m) out.push({ major: Number(m[1]), minor: Number(m[2]), op: m[3]!, value: Number(m[4]) });
  }
  return out;
}

/** v2 io.stat (`MAJ:MIN rbytes=… wbytes=… rios=… wios=…`) → Docker's read/write entries. */
export function parseV2IoStat(text: string | undefined): { serviceBytes: BlkioEntry[]; serviced: BlkioEntry[] } {
  const serviceBytes: BlkioEntry[] = [];
  const serviced: BlkioEntry[] = [];
  for (const line of (text ?? '').split('\n')) {
    const [dev, ...kvs] = line.trim().split(/\s+/);
    const m = /^(\d+):(\d+)$/.exec(dev ?? '');
    if (!m) continue;
    const major = Number(m[1]);
    const minor = Number(m[2]);
    const kv: Record<string, number> = {};
    for (const p of kvs) {
      const [k, v] = p.split('=');
      if (k && v !== undefined && /^\d+$/.test(v)) kv[k] = Number(v);
    }
    for (const [key, op] of [['rbytes', 'read'], ['wbytes', 'write']] as const) if (key in kv) serviceBytes.push({ major, minor, op, value: kv[key]! });
    for (const [key, op] of [['rios', 'read'], ['wios', 'write']] as const) if (key in kv) serviced.push({ major, minor, op, value: kv[key]! });
  }
  return { serviceBytes, serviced };
}

function v1Sample(dirs: CgroupDirs): CgroupSample {
  const mem = dirs.memory;
  const limit = readNum(mem, 'memory.limit_in_bytes');
  const cpuacct = dirs.cpuacct ?? dirs.cpu;
  const acctStat = parseFlatKeyed(readText(cpuacct, 'cpuacct.stat'));
  const perCpuText = readText(cpuacct, 'cpuacct.usage_percpu');
  const cpuStat = parseFlatKeyed(readText(dirs.cpu ?? dirs.cpuacct, 'cpu.stat'));
  const pidsMax = readNum(dirs.pids, 'pids.max');
  // CFQ's files are empty when the kernel schedules with something else; the throttle
  // files count every I/O that passed the blkio layer, which is what Docker falls back to.
  const pick = (cfq: string, throttle: string) => {
    const first = parseV1Blkio(readText(dirs.blkio, cfq));
    return first.length ? first : parseV1Blkio(readText(dirs.blkio, throttle));
  };
  return {
    memory: {
      usage: readNum(mem, 'memory.usage_in_bytes') ?? 0,
      maxUsage: readNum(mem, 'memory.max_usage_in_bytes') ?? 0,
      failcnt: readNum(mem, 'memory.failcnt') ?? 0,
      limit: limit !== undefined && limit < V1_UNLIMITED ? limit : undefined,
      stats: parseFlatKeyed(readText(mem, 'memory.stat')),
    },
    cpu: {
      total: readNum(cpuacct, 'cpuacct.usage') ?? 0,
      perCpu: perCpuText?.trim() ? perCpuText.trim().split(/\s+/).map(Number) : undefined,
      userNs: (acctStat.user ?? 0) * TICK_NS,
      systemNs: (acctStat.system ?? 0) * TICK_NS,
      throttling: { periods: cpuStat.nr_periods ?? 0, throttledPeriods: cpuStat.nr_throttled ?? 0, throttledTimeNs: cpuStat.throttled_time ?? 0 },
    },
    pids: { current: readNum(dirs.pids, 'pids.current') ?? 0, limit: pidsMax },
    blkio: {
      serviceBytes: pick('blkio.io_service_bytes_recursive', 'blkio.throttle.io_service_bytes_recursive'),
      serviced: pick('blkio.io_serviced_recursive', 'blkio.throttle.io_serviced_recursive'),
    },
  };
}

function v2Sample(dir: string | undefined): CgroupSample {
  const cpuStat = parseFlatKeyed(readText(dir, 'cpu.stat'));
  const peak = readNum(dir, 'memory.peak');
  return {
    memory: {
      usage: readNum(dir, 'memory.current') ?? 0,
      ...(peak !== undefined ? { maxUsage: peak } : {}),
      limit: readNum(dir, 'memory.max'),
      stats: parseFlatKeyed(readText(dir, 'memory.stat')),
    },
    cpu: {
      total: (cpuStat.usage_usec ?? 0) * 1000,
      userNs: (cpuStat.user_usec ?? 0) * 1000,
      systemNs: (cpuStat.system_usec ?? 0) * 1000,
      throttling: { periods: cpuStat.nr_periods ?? 0, throttledPeriods: cpuStat.nr_throttled ?? 0, throttledTimeNs: (cpuStat.throttled_usec ?? 0) * 1000 },
    },
    pids: { current: readNum(dir, 'pids.current') ?? 0, limit: readNum(dir, 'pids.max') },
    blkio: parseV2IoStat(readText(dir, 'io.stat')),
  };
}

/** One sample of the cgroup's counters. */
export function readCgroupSample(mode: CgroupMode, dirs: CgroupDirs): CgroupSample {
  return mode === 'v2' ? v2Sample(dirs.unified) : v1Sample(dirs);
}

/** How many processes the kernel's OOM killer killed in this cgroup. */
export function readOomKills(mode: CgroupMode, dirs: CgroupDirs): number {
  if (mode === 'v2') return parseFlatKeyed(readText(dirs.unified, 'memory.events')).oom_kill ?? 0;
  return parseFlatKeyed(readText(dirs.memory, 'memory.oom_control')).oom_kill ?? 0;
}

/** Every pid in the cgroup and its child cgroups (pids, else memory controller on v1). */
export function cgroupPids(mode: CgroupMode, dirs: CgroupDirs): number[] {
  const root = mode === 'v2' ? dirs.unified : dirs.pids ?? dirs.memory ?? dirs.freezer;
  const out: number[] = [];
  const walk = (dir: string) => {
    for (const l of (readText(dir, 'cgroup.procs') ?? '').split('\n')) if (/^\d+$/.test(l.trim())) out.push(Number(l));
    let entries: import('node:fs').Dirent[] = [];
    try {
      entries = readdirSync(dir, { withFileTypes: true });
    } catch {
      return;
    }
    for (const e of entries) if (e.isDirectory()) walk(join(dir, e.name));
  };
  if (root) walk(root);
  return out;
}

/** /proc/stat → host CPU time in nanoseconds (as Docker's system_cpu_usage) and online CPUs. */
export function readHostCpu(procStat: string): { systemNs: number; onlineCpus: number } {
  let systemNs = 0;
  let onlineCpus = 0;
  for (const line of procStat.split('\n')) {
    const f = line.trim().split(/\s+/);
    if (f[0] === 'cpu') {
      // user nice system idle iowait irq softirq: steal and guest time are left out, as Docker does.
      systemNs = f.slice(1, 8).reduce((s, v) => s + Number(v), 0) * TICK_NS;
    } else if (/^cpu\d+$/.test(f[0] ?? '')) onlineCpus++;
  }
  return { systemNs, onlineCpus };
}

export interface NetDevStats {
  rx_bytes: number;
  rx_packets: number;
  rx_errors: number;
  rx_dropped: number;
  tx_bytes: number;
  tx_packets: number;
  tx_errors: number;
  tx_dropped: number;
}

/** /proc/<pid>/net/dev (the container's network namespace) → per-interface counters, loopback left out. */
export function readNetDev(text: string): Record<string, NetDevStats> {
  const out: Record<string, NetDevStats> = {};
  for (const line of text.split('\n').slice(2)) {
    const m = /^\s*([^:\s]+):\s*(.*)$/.exec(line);
    if (!m || m[1] === 'lo') continue;
    const v = m[2]!.trim().split(/\s+/).map(Number);
    out[m[1]!] = {
      rx_bytes: v[0] ?? 0, rx_packets: v[1] ?? 0, rx_errors: v[2] ?? 0, rx_dropped: v[3] ?? 0,
      tx_bytes: v[8] ?? 0, tx_packets: v[9] ?? 0, tx_errors: v[10] ?? 0, tx_dropped: v[11] ?? 0,
    };
  }
  return out;
}
