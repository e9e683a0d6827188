/**
 * Live control and accounting of a running container: pause, unpause, update (new
 * limits through the runtime, kept in the spec for later starts), stats and top.
 */
import { execFile } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { conflict, invalidArgument } from '../common';
import {
  cgroupDirs,
  cgroupPids,
  cgroupsPath,
  detectCgroupMode,
  readCgroupSample,
  readHostCpu,
  readNetDev,
  type CgroupMode,
  type CgroupSample,
  type HostFacts,
  type NetDevStats,
} from '../runtime';
import { isLive, type ContainerEvents, type RestartPolicy } from './container-model';
import type { ContainerRuntime } from './container-runtime';
import type { ContainerStore } from './container-store';
import type { KeyedMutex } from './mutex';

export class LiveOps {
  private readonly cgroupMode: CgroupMode;

  constructor(
    private readonly store: ContainerStore,
    private readonly runtime: ContainerRuntime,
    private readonly lock: KeyedMutex,
    private readonly events: ContainerEvents,
    host: HostFacts,
  ) {
    this.cgroupMode = host.cgroupMode ?? detectCgroupMode();
  }

  private cgroupDirsOf(id: string): Record<string, string> {
    return cgroupDirs(this.cgroupMode, cgroupsPath('/berth', id));
  }

  pause(ref: string): Promise<void> {
    const rec = this.store.get(ref);
    return this.lock.run(rec.id, async () => {
      if (rec.state.status === 'paused') throw conflict(`Container ${rec.id} is already paused`);
      if (rec.state.status !== 'running') throw conflict(`Container ${rec.id} is not running`);
      await this.runtime.pause(rec.id);
      rec.state.status = 'paused';
      await this.store.save(rec);
      this.events.emit('container', 'pause', rec.id, { image: rec.image, name: rec.name });
    });
  }

  unpause(ref: string): Promise<void> {
    const rec = this.store.get(ref);
    return this.lock.run(rec.id, async () => {
      if (rec.state.status !== 'paused') throw conflict(`Container ${rec.id} is not paused`);
      await this.runtime.resume(rec.id);
      rec.state.status = 'running';
      await this.store.save(rec);
      this.events.emit('container', 'unpause', rec.id, { image: rec.image, name: rec.name });
    });
  }

  /**
   * Changes resource limits (Docker's update semantics: an absent or zero field keeps
   * its value) and the restart policy. A running or paused container gets them at
   * once through the runtime; the spec keeps them for later starts.
   */
  update(ref: string, u: UpdateOptions): Promise<string[]> {
    const rec = this.store.get(ref);
    return this.lock.run(rec.id, async () => {
      const r = rec.spec.resources;
      const cur = (k: 'memory' | 'memorySwap' | 'nanoCpus' | 'cpuPeriod' | 'cpuQuota'): number => r[k];
      const set = (v: number | undefined): v is number => v !== undefined && v !== 0;
      if (set(u.nanoCpus) && (set(u.cpuPeriod) || set(u.cpuQuota))) throw invalidArgument('Conflicting options: Nano CPUs and CPU Period/Quota cannot both be set');
      if (set(u.nanoCpus) && cur('cpuPeriod') > 0) throw conflict('Conflicting options: Nano CPUs cannot be updated as CPU Period has already been set');
      if (set(u.nanoCpus) && cur('cpuQuota') > 0) throw conflict('Conflicting options: Nano CPUs cannot be updated as CPU Quota has already been set');
      if (set(u.cpuPeriod) && cur('nanoCpus') > 0) throw conflict('Conflicting options: CPU Period cannot be updated as NanoCPUs has already been set');
      if (set(u.cpuQuota) && cur('nanoCpus') > 0) throw conflict('Conflicting options: CPU Quota cannot be updated as NanoCPUs has already been set');
      if (set(u.blkioWeight) && (u.blkioWeight < 10 || u.blkioWeight > 1000)) throw invalidArgument('Range of blkio weight is from 10 to 1000');
      if (set(u.cpuShares) && u.cpuShares < 2 && u.cpuShares > 0) throw invalidArgument('minimum cpu shares is 2');
      const memory = set(u.memory) ? u.memory : cur('memory');
      const swap = set(u.memorySwap) ? u.memorySwap : cur('memorySwap');
      if (set(u.memory) && u.memory < 6 * 1024 * 1024) throw invalidArgument('Minimum memory limit allowed is 6MB');
      if (set(u.memory) && !set(u.memorySwap) && swap > 0 && u.memory > swap) {
        throw conflict('Memory limit should be smaller than already set memoryswap limit, update the memoryswap at the same time');
      }
      if (swap > 0 && memory > 0 && swap < memory) throw invalidArgument('Minimum memoryswap limit should be larger than memory limit, see usage');
      if (swap > 0 && memory === 0) throw invalidArgument('You should always set the Memory limit when using Memoryswap limit, see usage');
      if (set(u.memoryReservation) && memory > 0 && u.memoryReservation > memory) throw invalidArgument('Minimum memory limit can not be less than memory reservation limit, see usage');
      if (u.cpusetCpus && !/^\d+(-\d+)?(,\d+(-\d+)?)*$/.test(u.cpusetCpus)) throw invalidArgument(`invalid cpuset cpus ${JSON.stringify(u.cpusetCpus)}: use a list like 0-3,5`);
      if (u.cpusetMems && !/^\d+(-\d+)?(,\d+(-\d+)?)*$/.test(u.cpusetMems)) throw invalidArgument(`invalid cpuset mems ${JSON.stringify(u.cpusetMems)}: use a list like 0`);
      const policy = u.restartPolicy;
      if (policy) {
        if (!['', 'no', 'always', 'unless-stopped', 'on-failure'].includes(policy.name)) throw invalidArgument(`invalid restart policy '${policy.name}': use no, always, unless-stopped or on-failure`);
        if (policy.name !== 'on-failure' && (policy.maximumRetryCount ?? 0) !== 0) throw invalidArgument(`invalid restart policy: maximum retry count can only be used with 'on-failure'`);
        if (policy.name && policy.name !== 'no' && rec.spec.autoRemove) throw invalidArgument('Restart policy cannot be updated because AutoRemove is enabled for the container');
      }

      // The OCI linux.resources that change; runc keeps the rest.
      const res: Record<string, Record<string, unknown>> = {};
      const mem: Record<string, number> = {};
      if (set(u.memory)) mem.limit = u.memory;
      if (set(u.memory) || set(u.memorySwap)) {
        if (swap !== 0) mem.swap = swap;
        if (!mem.limit && memory > 0) mem.limit = memory;
      }
      if (set(u.memoryReservation)) mem.reservation = u.memoryReservation;
      if (Object.keys(mem).length) res.memory = mem;
      const cpu: Record<string, unknown> = {};
      if (set(u.cpuShares)) cpu.shares = u.cpuShares;
      if (set(u.nanoCpus)) {
        cpu.period = 100_000;
        cpu.quota = Math.round((u.nanoCpus * 100_000) / 1e9);
      }
      if (set(u.cpuPeriod)) cpu.period = u.cpuPeriod;
      if (set(u.cpuQuota)) cpu.quota = u.cpuQuota;
      if (u.cpusetCpus) cpu.cpus = u.cpusetCpus;
      if (u.cpusetMems) cpu.mems = u.cpusetMems;
      if (Object.keys(cpu).length) res.cpu = cpu;
      if (u.pidsLimit !== undefined) res.pids = { limit: u.pidsLimit > 0 ? u.pidsLimit : -1 };
      if (set(u.blkioWeight)) res.blockIO = { weight: u.blkioWeight };

      const live = isLive(rec);
      if (live && Object.keys(res).length) {
        try {
          await this.runtime.update(rec.id, res);
        } catch (err) {
          throw invalidArgument(`Cannot update container ${rec.id}: ${err instanceof Error ? err.message : String(err)}`, err);
        }
      }
      if (set(u.memory)) r.memory = u.memory;
      if (set(u.memorySwap)) r.memorySwap = u.memorySwap;
      if (set(u.memoryReservation)) r.memoryReservation = u.memoryReservation;
      if (set(u.nanoCpus)) r.nanoCpus = u.nanoCpus;
      if (set(u.cpuShares)) r.cpuShares = u.cpuShares;
      if (set(u.cpuPeriod)) r.cpuPeriod = u.cpuPeriod;
      if (set(u.cpuQuota)) r.cpuQuota = u.cpuQuota;
      if (u.cpusetCpus) r.cpusetCpus = u.cpusetCpus;
      if (u.cpusetMems) r.cpusetMems = u.cpusetMems;
      if (u.pidsLimit !== undefined) r.pidsLimit = u.pidsLimit;
      if (set(u.blkioWeight)) r.blkioWeight = u.blkioWeight;
      if (policy) rec.spec.restartPolicy = { name: policy.name as RestartPolicy['name'], maximumRetryCount: policy.maximumRetryCount ?? 0 };
      await this.store.save(rec);
      this.events.emit('container', 'update', rec.id, { image: rec.image, name: rec.name });
      return [];
    });
  }

  /**
   * One accounting sample. `cgroup` is absent when the container is not running
   * (Docker then reports zeros).
   */
  stats(ref: string): ContainerStatsSample {
    const rec = this.store.get(ref);
    const read = new Date();
    const live = isLive(rec);
    let hostCpu = { systemNs: 0, onlineCpus: 0 };
    try {
      hostCpu = readHostCpu(readFileSync('/proc/stat', 'utf8'));
    } catch {
      // no /proc/stat: CPU % cannot be computed and shows 0
    }
    const out: ContainerStatsSample = { id: rec.id, name: rec.name, read, running: live, systemCpuNs: hostCpu.systemNs, onlineCpus: hostCpu.onlineCpus };
    if (!live) return out;
    out.cgroup = readCgroupSample(this.cgroupMode, this.cgroupDirsOf(rec.id));
    if (rec.state.pid > 0) {
      try {
        out.networks = readNetDev(readFileSync(`/proc/${rec.state.pid}/net/dev`, 'utf8'));
      } catch {
        // the process just exited: no network figures for this sample
      }
    }
    return out;
  }

  /** The container's processes as host `ps` shows them (Docker's `top`). */
  async top(ref: string, psArgs = '-ef'): Promise<{ titles: string[]; processes: string[][] }> {
    const rec = this.store.get(ref);
    if (rec.state.status !== 'running' && rec.state.status !== 'paused') throw conflict(`Container ${rec.id} is not running`);
    const pids = new Set(cgroupPids(this.cgroupMode, this.cgroupDirsOf(rec.id)));
    const args = psArgs.split(/\s+/).filter(Boolean);
    const output = await new Promise<string>((resolve, reject) => {
      execFile('ps', args, { maxBuffer: 16 << 20 }, (err, stdout, stderr) => {
        if (err) reject(invalidArgument(`Error running ps: ${(stderr || err.message).trim()}`));
        else resolve(stdout);
      });
    });
    const top = parsePsOutput(output, pids);
    this.events.emit('container', 'top', rec.id, { image: rec.image, name: rec.name });
    return top;
  }
}

/** What `update` may change; an absent or zero field keeps its value (Docker's semantics). */
export interface UpdateOptions {
  memory?: number;
  memorySwap?: number;
  memoryReservation?: number;
  nanoCpus?: number;
  cpuShares?: number;
  cpuPeriod?: number;
  cpuQuota?: number;
  cpusetCpus?: string;
  cpusetMems?: string;
  /** > 0 limits; 0 or -1 removes the limit. */
  pidsLimit?: number;
  blkioWeight?: number;
  restartPolicy?: { name: string; maximumRetryCount?: number };
}

export interface ContainerStatsSample {
  id: string;
  name: string;
  read: Date;
  running: boolean;
  /** Host CPU time in nanoseconds since boot (Docker's system_cpu_usage). */
  systemCpuNs: number;
  onlineCpus: number;
  cgroup?: CgroupSample;
  networks?: Record<string, NetDevStats>;
}

/**
 * `ps` output → the rows whose PID is in `pids`. The last column (the command) may
 * contain spaces, so each row is split into at most as many fields as there are titles.
 */
export function parsePsOutput(output: string, pids: ReadonlySet<number>): { titles: string[]; processes: string[][] } {
  const lines = output.split('\n').filter((l) => l.trim() !== '');
  const titles = (lines[0] ?? '').trim().split(/\s+/);
  const pidIndex = titles.indexOf('PID');
  if (pidIndex < 0) throw invalidArgument('Couldn\'t find PID field in ps output: keep the PID column in the ps options');
  const processes: string[][] = [];
  for (const line of lines.slice(1)) {
    const fields = line.trim().split(/\s+/);
    if (fields.length > titles.length) fields.splice(titles.length - 1, fields.length, fields.slice(titles.length - 1).join(' '));
    if (pids.has(Number(fields[pidIndex]))) processes.push(fields);
  }
  return { titles, processes };
}
