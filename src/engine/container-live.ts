/**
 * Live control and accounting of a running container: pause, unpause, update (new
 * limits through the runtime, kept in the spec for later starts), stats and top.
 */
import { conflict, invalidArgument } from '../common';
import {
  cgroupDirs,
  cgroupPids,
  detectCgroupMode,
  discardUnsupported,
  hostCpuSample,
  hostCpuset,
  listProcesses,
  netDevOf,
  readCgroupSample,
  updateResources,
  type CgroupMode,
  type CgroupSample,
  type DiscardableResources,
  type HostFacts,
  type NetDevStats,
  type ResourceOptions,
  type SysInfo,
} from '../runtime';
import type { KeyedMutex } from '../state';
import { isLive, type ContainerEvents, type ContainerRecord, type RestartPolicy } from './container-model';
import { checkRestartPolicy } from './restart-manager';
import { containerCgroupsPath } from './container-spec';
import type { ContainerRuntime } from './container-runtime';
import type { ContainerStore } from './container-store';

export class LiveOps {
  private readonly cgroupMode: CgroupMode;

  constructor(
    private readonly store: ContainerStore,
    private readonly runtime: ContainerRuntime,
    private readonly lock: KeyedMutex,
    private readonly events: ContainerEvents,
    private readonly host: HostFacts,
    private readonly sysinfo: SysInfo,
  ) {
    this.cgroupMode = host.cgroupMode ?? detectCgroupMode();
  }

  private cgroupDirsOf(rec: ContainerRecord): Record<string, string> {
    return cgroupDirs(this.cgroupMode, containerCgroupsPath(rec));
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
      const change = { ...u };
      const warnings = discardUnsupported(change, this.sysinfo);
      const r = rec.spec.resources;
      const current: ResourceOptions = {
        memory: r.memory, memorySwap: r.memorySwap, memoryReservation: r.memoryReservation,
        nanoCpus: r.nanoCpus, cpuShares: r.cpuShares, cpuPeriod: r.cpuPeriod, cpuQuota: r.cpuQuota,
        cpusetCpus: r.cpusetCpus, cpusetMems: r.cpusetMems, blkioWeight: r.blkioWeight,
      };
      const { restartPolicy: policy, ...resources } = change;
      const { merged, oci } = updateResources(current, resources, this.host.cpuset ?? hostCpuset());
      if (policy) {
        checkRestartPolicy(policy);
        if (policy.name && policy.name !== 'no' && rec.spec.autoRemove) throw invalidArgument('Restart policy cannot be updated because AutoRemove is enabled for the container');
      }
      // As in the merge: 0 and '' leave a value as it is (the CLI sends them for every flag not given).
      const changesResources = Object.entries(resources).some(([k, v]) => v !== undefined && (k === 'pidsLimit' || (v !== 0 && v !== '')));
      if (isLive(rec) && changesResources) {
        try {
          await this.runtime.update(rec.id, oci);
        } catch (err) {
          // A process that just ended (its exit not handled yet, a restart policy's next run
          // about to start) takes the new values at its next start, as with dockerd.
          const st = await this.runtime.state(rec.id).catch(() => undefined);
          if (st && st.status !== 'stopped') throw invalidArgument(`Cannot update container ${rec.id}: ${err instanceof Error ? err.message : String(err)}`, err);
        }
      }
      Object.assign(r, {
        memory: merged.memory ?? 0, memorySwap: merged.memorySwap ?? 0, memoryReservation: merged.memoryReservation ?? 0,
        nanoCpus: merged.nanoCpus ?? 0, cpuShares: merged.cpuShares ?? 0, cpuPeriod: merged.cpuPeriod ?? 0, cpuQuota: merged.cpuQuota ?? 0,
        cpusetCpus: merged.cpusetCpus ?? '', cpusetMems: merged.cpusetMems ?? '', blkioWeight: merged.blkioWeight ?? 0,
      });
      if (resources.pidsLimit !== undefined) r.pidsLimit = resources.pidsLimit;
      if (policy) rec.spec.restartPolicy = { name: policy.name as RestartPolicy['name'], maximumRetryCount: policy.maximumRetryCount ?? 0 };
      await this.store.save(rec);
      this.events.emit('container', 'update', rec.id, { image: rec.image, name: rec.name });
      return warnings;
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
    const hostCpu = hostCpuSample();
    const out: ContainerStatsSample = { id: rec.id, name: rec.name, read, running: live, systemCpuNs: hostCpu.systemNs, onlineCpus: hostCpu.onlineCpus };
    if (!live) return out;
    out.cgroup = readCgroupSample(this.cgroupMode, this.cgroupDirsOf(rec));
    const networks = rec.state.pid > 0 ? netDevOf(rec.state.pid) : undefined;
    if (networks) out.networks = networks;
    return out;
  }

  /** The container's processes as host `ps` shows them (Docker's `top`). */
  async top(ref: string, psArgs = '-ef'): Promise<{ titles: string[]; processes: string[][] }> {
    const rec = this.store.get(ref);
    if (rec.state.status !== 'running' && rec.state.status !== 'paused') throw conflict(`Container ${rec.id} is not running`);
    const pids = new Set(cgroupPids(this.cgroupMode, this.cgroupDirsOf(rec)));
    const top = await listProcesses(psArgs, pids);
    this.events.emit('container', 'top', rec.id, { image: rec.image, name: rec.name });
    return top;
  }
}

/** What `update` may change; an absent or zero field keeps its value (Docker's semantics). */
export type UpdateOptions = Pick<DiscardableResources, 'memory' | 'memorySwap' | 'memoryReservation' | 'nanoCpus' | 'cpuShares' | 'cpuPeriod' | 'cpuQuota' | 'cpusetCpus' | 'cpusetMems' | 'blkioWeight'> & {
  /** > 0 limits; 0 or -1 removes the limit. */
  pidsLimit?: number;
  restartPolicy?: { name: string; maximumRetryCount?: number };
};

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
