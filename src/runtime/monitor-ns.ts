/**
 * A mount namespace for each container's monitor without the other containers' mounts.
 *
 * runc reads /proc/self/mountinfo four times per container it creates; with every
 * running container's root (an overlay) and network namespace (a bind mount) in the
 * host's table, that cost grows with the number running (bench/README.md, issue 14).
 * conmon is therefore started through berth-monns (native/berth-monns.c), which, in a copy
 * of the host's namespace, detaches the dir that holds all container roots and the dir
 * that holds the network namespaces, each in one call, and attaches again only this
 * container's two mounts. For that each of those dirs must be a mount of its own: berthd
 * binds it onto itself (private: what is mounted below it is not copied into other
 * namespaces either) when it opens, if nothing is mounted below it yet. A dir that holds
 * mounts already (containers an earlier berthd version mounted there, still running) is left as
 * it is until they are gone and berthd starts again; the helper then leaves it alone.
 */
import { spawnSync } from 'node:child_process';
import { mkdirSync, realpathSync } from 'node:fs';
import { log } from '../common';
import { builtHelper, readMountInfo, type MountInfo } from '../sys';

/** berth-monns, when it was built (no C compiler: conmon runs in berthd's namespace). */
export function findMonitorNsHelper(): string | undefined {
  return builtHelper('berth-monns');
}

/**
 * Makes `dir` a mount of its own (a private bind onto itself) unless it is one already.
 * False when it is not and cannot become one: something is mounted below it (a bind over
 * it would hide those mounts), or mount(8) failed. Run once per dir when berthd opens, with
 * mount(8) rather than through koffi, which berthd does not load until it needs it.
 */
export function holdOwnMount(dir: string, table: readonly MountInfo[] = readMountInfo()): boolean {
  mkdirSync(dir, { recursive: true });
  const real = realpathSync(dir);
  if (table.some((m) => m.mountPoint === real)) return true;
  if (table.some((m) => m.mountPoint.startsWith(real + '/'))) return false;
  const r = spawnSync('mount', ['--bind', '--make-private', real, real], { encoding: 'utf8' });
  if (r.status !== 0) {
    log.warn('cannot bind a dir onto itself; monitors will see every container mount', { dir: real, error: (r.stderr || r.error?.message || '').trim() });
    return false;
  }
  return true;
}

/**
 * Undoes holdOwnMount when berthd stops, if nothing is mounted below `dir` any more (a
 * plain unmount, which the kernel refuses while containers left running hold mounts there).
 */
export function releaseOwnMount(dir: string): void {
  spawnSync('umount', [dir], { stdio: 'ignore' });
}

/**
 * berth-monns's arguments before the monitor's own: the dirs to detach, of `keep` the paths
 * below one of them (the container's root, its network namespace file), and the variables
 * the monitor's environment gets beyond the helper's own (berth-logrotate.so's LD_PRELOAD).
 */
export function monitorNsArgs(dirs: readonly string[], keep: readonly (string | undefined)[], env: Record<string, string> = {}): string[] {
  const args: string[] = [];
  for (const d of dirs) args.push('--detach', d);
  for (const k of keep) if (k && dirs.some((d) => k.startsWith(d + '/'))) args.push('--keep', k);
  for (const [name, value] of Object.entries(env)) args.push('--setenv', `${name}=${value}`);
  args.push('--');
  return args;
}
