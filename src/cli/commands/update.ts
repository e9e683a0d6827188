import { Command } from 'commander';
import { CliContext, ExitError } from '../context';
import { newCommand, requireArgs, forEachArg, intFlag } from '../command';
import { parseMemory, parseRestart } from '../container-options';

interface UpdateFlags {
  blkioWeight?: string;
  cpuPeriod?: string;
  cpuQuota?: string;
  cpuRtPeriod?: string;
  cpuRtRuntime?: string;
  cpuShares?: string;
  cpus?: string;
  cpusetCpus?: string;
  cpusetMems?: string;
  memory?: string;
  memoryReservation?: string;
  memorySwap?: string;
  pidsLimit?: string;
  restart?: string;
}

/** docker update's flags → the UpdateConfig body (zero means "unchanged", as the daemon reads it). */
export function updateBody(f: UpdateFlags): Record<string, unknown> {
  const size = (v: string | undefined, flag: string) => {
    if (v === undefined) return 0;
    try {
      return v.trim() === '-1' ? -1 : parseMemory(v);
    } catch {
      throw new ExitError(125, `invalid argument "${v}" for "${flag}" flag: invalid size: '${v}'`);
    }
  };
  let nanoCpus = 0;
  if (f.cpus !== undefined) {
    const n = Number(f.cpus);
    if (!Number.isFinite(n) || n < 0) throw new ExitError(125, `invalid argument "${f.cpus}" for "--cpus" flag: failed to parse ${f.cpus} as a rational number`);
    nanoCpus = Math.round(n * 1e9);
  }
  let restart: Record<string, unknown> = { Name: '', MaximumRetryCount: 0 };
  if (f.restart !== undefined) {
    try {
      restart = parseRestart(f.restart);
    } catch (e) {
      // A plain error in the docker CLI's update (exit 1).
      throw new ExitError(1, (e as Error).message);
    }
  }
  return {
    BlkioWeight: intFlag(f.blkioWeight, '--blkio-weight') ?? 0,
    CpuPeriod: intFlag(f.cpuPeriod, '--cpu-period') ?? 0,
    CpuQuota: intFlag(f.cpuQuota, '--cpu-quota') ?? 0,
    CpuRealtimePeriod: intFlag(f.cpuRtPeriod, '--cpu-rt-period') ?? 0,
    CpuRealtimeRuntime: intFlag(f.cpuRtRuntime, '--cpu-rt-runtime') ?? 0,
    CpuShares: intFlag(f.cpuShares, '--cpu-shares') ?? 0,
    NanoCpus: nanoCpus,
    CpusetCpus: f.cpusetCpus ?? '',
    CpusetMems: f.cpusetMems ?? '',
    Memory: size(f.memory, '--memory'),
    MemoryReservation: size(f.memoryReservation, '--memory-reservation'),
    MemorySwap: size(f.memorySwap, '--memory-swap'),
    ...(f.pidsLimit !== undefined ? { PidsLimit: intFlag(f.pidsLimit, '--pids-limit') } : {}),
    RestartPolicy: restart,
  };
}

export function updateCommand(ctx: CliContext, name = 'update'): Command {
  const cmd: Command = newCommand(name, 'Update configuration of one or more containers')
    .argument('[containers...]', 'CONTAINER')
    .option('--blkio-weight <uint16>', 'Block IO (relative weight), between 10 and 1000, or 0 to disable (default 0)')
    .option('--cpu-period <int>', 'Limit CPU CFS (Completely Fair Scheduler) period')
    .option('--cpu-quota <int>', 'Limit CPU CFS (Completely Fair Scheduler) quota')
    .option('--cpu-rt-period <int>', 'Limit the CPU real-time period in microseconds')
    .option('--cpu-rt-runtime <int>', 'Limit the CPU real-time runtime in microseconds')
    .option('-c, --cpu-shares <int>', 'CPU shares (relative weight)')
    .option('--cpus <decimal>', 'Number of CPUs')
    .option('--cpuset-cpus <string>', 'CPUs in which to allow execution (0-3, 0,1)')
    .option('--cpuset-mems <string>', 'MEMs in which to allow execution (0-3, 0,1)')
    .option('-m, --memory <bytes>', 'Memory limit')
    .option('--memory-reservation <bytes>', 'Memory soft limit')
    .option('--memory-swap <bytes>', 'Swap limit equal to memory plus swap: -1 to enable unlimited swap')
    .option('--pids-limit <int>', 'Tune container pids limit (set -1 for unlimited)')
    .option('--restart <string>', 'Restart policy to apply when a container exits')
    .action(async (containers: string[], f: UpdateFlags) => {
      requireArgs(cmd, containers, 1);
      if (Object.values(f).every((v) => v === undefined)) throw new ExitError(1, 'You must provide one or more flags when using this command.');
      const body = updateBody(f);
      // As docker: the names as they are updated, then every warning, on stdout.
      const warnings: string[] = [];
      try {
        await forEachArg(containers, async (c) => {
          const r = await ctx.client.transport.json<{ Warnings?: string[] | null }>('POST', `/containers/${encodeURIComponent(c)}/update`, { body });
          warnings.push(...(r.Warnings ?? []));
          ctx.out(`${c}\n`);
        });
      } finally {
        if (warnings.length) ctx.out(`${warnings.join('\n')}\n`);
      }
    });
  return cmd;
}
