/** Facts about host processes read from /proc. */
import { readFileSync } from 'node:fs';

/**
 * A live (not zombie) process's start time in clock ticks since boot, from /proc: with the
 * pid it names one process for good, as pids are reused. Undefined when it is gone.
 */
export function procStartTime(pid: number): string | undefined {
  let stat: string;
  try {
    stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
  } catch {
    return undefined;
  }
  const f = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  return f[0] === 'Z' || f[0] === 'X' ? undefined : f[19];
}
