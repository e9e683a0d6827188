import { Command } from 'commander';
import type http from 'node:http';
import { CliContext, ExitError } from '../context';
import { newCommand } from '../command';
import { configFormat } from '../docker-config';
import { renderRows } from '../format/list';
import { bytesSize, humanSize } from '../format/units';
import { streamLines } from '../../wire';

interface StatsFlags {
  all?: boolean;
  format?: string;
  stream: boolean;
  trunc: boolean;
}

/** The fields of Docker's stats JSON that the table needs. */
export interface StatsJSON {
  id?: string;
  name?: string;
  read?: string;
  pids_stats?: { current?: number };
  blkio_stats?: { io_service_bytes_recursive?: { op: string; value: number }[] | null };
  cpu_stats?: { cpu_usage?: { total_usage?: number; percpu_usage?: number[] }; system_cpu_usage?: number; online_cpus?: number };
  precpu_stats?: { cpu_usage?: { total_usage?: number }; system_cpu_usage?: number };
  memory_stats?: { usage?: number; limit?: number; stats?: Record<string, number> };
  networks?: Record<string, { rx_bytes: number; tx_bytes: number }>;
}

export const STATS_TABLE = 'table {{.ID}}\t{{.Name}}\t{{.CPUPerc}}\t{{.MemUsage}}\t{{.MemPerc}}\t{{.NetIO}}\t{{.BlockIO}}\t{{.PIDs}}';
export const STATS_HEADERS: Record<string, string> = {
  ID: 'CONTAINER ID',
  Container: 'CONTAINER',
  Name: 'NAME',
  CPUPerc: 'CPU %',
  MemUsage: 'MEM USAGE / LIMIT',
  MemPerc: 'MEM %',
  NetIO: 'NET I/O',
  BlockIO: 'BLOCK I/O',
  PIDs: 'PIDS',
};

/** One row of `stats`, computed as docker's CLI does (CPU % over the precpu sample, memory without inactive file cache). */
export function statsRow(container: string, s: StatsJSON | undefined, trunc: boolean): Record<string, string> {
  const id = s?.id ?? '';
  const base = { Container: container, ID: trunc ? id.slice(0, 12) : id, Name: (s?.name ?? '').replace(/^\//, '') };
  if (!s) return { ...base, CPUPerc: '--', MemUsage: '-- / --', MemPerc: '--', NetIO: '--', BlockIO: '--', PIDs: '--' };
  const cpuDelta = (s.cpu_stats?.cpu_usage?.total_usage ?? 0) - (s.precpu_stats?.cpu_usage?.total_usage ?? 0);
  const sysDelta = (s.cpu_stats?.system_cpu_usage ?? 0) - (s.precpu_stats?.system_cpu_usage ?? 0);
  const cpus = s.cpu_stats?.online_cpus || s.cpu_stats?.cpu_usage?.percpu_usage?.length || 0;
  const cpu = cpuDelta > 0 && sysDelta > 0 ? (cpuDelta / sysDelta) * cpus * 100 : 0;
  const m = s.memory_stats ?? {};
  let mem = m.usage ?? 0;
  const inactive = m.stats?.total_inactive_file ?? m.stats?.inactive_file;
  if (inactive !== undefined && inactive < mem) mem -= inactive;
  const limit = m.limit ?? 0;
  let rx = 0;
  let tx = 0;
  for (const n of Object.values(s.networks ?? {})) {
    rx += n.rx_bytes;
    tx += n.tx_bytes;
  }
  let rd = 0;
  let wr = 0;
  for (const e of s.blkio_stats?.io_service_bytes_recursive ?? []) {
    if (e.op.toLowerCase() === 'read') rd += e.value;
    else if (e.op.toLowerCase() === 'write') wr += e.value;
  }
  return {
    ...base,
    CPUPerc: `${cpu.toFixed(2)}%`,
    MemUsage: `${bytesSize(mem)} / ${bytesSize(limit)}`,
    MemPerc: `${(limit ? (mem / limit) * 100 : 0).toFixed(2)}%`,
    NetIO: `${humanSize(rx, 3)} / ${humanSize(tx, 3)}`,
    BlockIO: `${humanSize(rd, 3)} / ${humanSize(wr, 3)}`,
    PIDs: String(s.pids_stats?.current ?? 0),
  };
}

export function statsCommand(ctx: CliContext, name = 'stats'): Command {
  return newCommand(name, 'Display a live stream of container(s) resource usage statistics')
    .argument('[containers...]', 'CONTAINER')
    .option('-a, --all', 'Show all containers (default shows just running)')
    .option('--format <string>', "Format output using a custom template: 'table', 'table TEMPLATE', 'json', or a Go template")
    .option('--no-stream', 'Disable streaming stats and only pull the first result')
    .option('--no-trunc', "Do not truncate output")
    .action(async (containers: string[], f: StatsFlags) => {
      let names = containers;
      if (names.length === 0) names = (await ctx.client.containerList({ all: !!f.all })).map((c) => c.Id);
      const given = f.format ?? configFormat(ctx.io.env, 'statsFormat');
      const format = !given || given === 'table' ? STATS_TABLE : given;
      const trunc = f.trunc !== false;
      const latest = new Map<string, StatsJSON | undefined>();
      const errors: string[] = [];
      if (!f.stream) {
        await Promise.all(
          names.map(async (c) => {
            try {
              latest.set(c, await ctx.client.transport.json<StatsJSON>('GET', `/containers/${encodeURIComponent(c)}/stats`, { query: { stream: false } }));
            } catch (e) {
              errors.push(`Error response from daemon: ${(e as Error).message}`);
            }
          }),
        );
        if (errors.length) throw new ExitError(1, errors.join('\n'));
        ctx.out(renderRows(names.map((c) => statsRow(c, latest.get(c), trunc)), format, STATS_HEADERS, '*container.statsContext'));
        return;
      }
      const ac = new AbortController();
      const streams = names.map(async (c) => {
        const res: http.IncomingMessage = await ctx.client.transport.request('GET', `/containers/${encodeURIComponent(c)}/stats`, { query: { stream: true }, signal: ac.signal });
        for await (const line of streamLines(res)) latest.set(c, JSON.parse(line) as StatsJSON);
      });
      const tty = !!ctx.io.stdout.isTTY;
      const timer = setInterval(() => {
        const table = renderRows(names.map((c) => statsRow(c, latest.get(c), trunc)), format, STATS_HEADERS, '*container.statsContext');
        ctx.out(tty ? `\x1b[2J\x1b[H${table}` : table);
      }, 1000);
      const stop = () => ac.abort();
      ctx.io.signals?.once('SIGINT', stop);
      try {
        await Promise.all(streams);
      } catch (e) {
        if (!ac.signal.aborted) throw e;
      } finally {
        clearInterval(timer);
        ctx.io.signals?.removeListener('SIGINT', stop);
      }
    });
}
