/** Facts about host processes read from /proc, and where our own helper programs are. */
import { accessSync, constants, readFileSync } from 'node:fs';
import { join } from 'node:path';

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

/**
 * One of the programs `npm run build` compiles from native/ into dist/native (berth-exec,
 * berth-proxy), when it was built and is executable; undefined otherwise.
 */
export function builtHelper(name: string): string | undefined {
  const path = join(__dirname, '..', '..', 'native', name);
  try {
    accessSync(path, constants.X_OK);
    return path;
  } catch {
    return undefined;
  }
}
