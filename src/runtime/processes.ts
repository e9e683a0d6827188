/**
 * What the host knows about a container's processes, read outside its cgroup files:
 * `ps` for `docker top`, and /proc for the figures `stats` takes from the host
 * (CPU time since boot, the network namespace's interface counters).
 *
 * Contract
 * - `listProcesses(psArgs, pids)` runs the host's `ps` with the user's arguments
 *   (split on white space, no shell) and keeps the rows whose PID column is one of
 *   `pids`: Docker's `top`. A failing `ps` is invalid-argument `Error running ps: …`
 *   (its stderr), as are ps options that leave out the PID column.
 * - `hostCpuSample()` reads /proc/stat; zeros when it cannot (CPU % then shows 0).
 * - `netDevOf(pid)` reads /proc/<pid>/net/dev; undefined once the process is gone.
 */
import { execFile } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { invalidArgument } from '../common';
import { readHostCpu, readNetDev, type NetDevStats } from './cgroup-stats';

export interface ProcessTable {
  titles: string[];
  processes: string[][];
}

export async function listProcesses(psArgs: string, pids: ReadonlySet<number>): Promise<ProcessTable> {
  const args = psArgs.split(/\s+/).filter(Boolean);
  const output = await new Promise<string>((resolve, reject) => {
    execFile('ps', args, { maxBuffer: 16 << 20 }, (err, stdout, stderr) => {
      if (err) reject(invalidArgument(`Error running ps: ${(stderr || err.message).trim()}`));
      else resolve(stdout);
    });
  });
  return parsePsOutput(output, pids);
}

/**
 * `ps` output → the rows whose PID is in `pids`. The last column (the command) may
 * contain spaces, so each row is split into at most as many fields as there are titles.
 */
export function parsePsOutput(output: string, pids: ReadonlySet<number>): ProcessTable {
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

export function hostCpuSample(): { systemNs: number; onlineCpus: number } {
  try {
    return readHostCpu(readFileSync('/proc/stat', 'utf8'));
  } catch {
    return { systemNs: 0, onlineCpus: 0 };
  }
}

export function netDevOf(pid: number): Record<string, NetDevStats> | undefined {
  try {
    return readNetDev(readFileSync(`/proc/${pid}/net/dev`, 'utf8'));
  } catch {
    return undefined;
  }
}
