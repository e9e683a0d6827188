/**
 * Network namespaces kept open by a bind mount on a file (like `ip netns add`), so
 * a namespace exists before the container does: the network is wired into it while
 * runc creates the container, and runc joins it by path.
 *
 * A namespace is made in-process, on berthd's main thread, in one synchronous stretch:
 * the thread unshares a new network namespace, bind-mounts it onto the file and goes
 * back to its own with setns. Namespaces are per thread, so nothing else of berthd (the
 * thread pool, libuv's I/O) ever sees the new one, and no JavaScript runs in between.
 * That costs about half a millisecond, where running `unshare --net=FILE true` forked
 * berthd and took 5-10 ms.
 */
import { closeSync, mkdirSync, openSync, rmSync, statfsSync, writeFileSync } from 'node:fs';
import { dirname } from 'node:path';
import { log } from '../common';
import { CLONE_NEWNET, linkUp, MNT_DETACH, MS_BIND, mount, setns, umount2, unshare } from '../sys';

/** statfs(2)'s f_type of nsfs, the file system of the files in /proc/PID/ns and of their bind mounts. */
const NSFS_MAGIC = 0x6e736673;
const OWN = '/proc/thread-self/ns/net';

/** `loopbackUp`: `lo` is set up in it as well (what the CNI loopback plugin does). */
export async function createNetns(path: string, opts: { loopbackUp?: boolean } = {}): Promise<void> {
  mkdirSync(dirname(path), { recursive: true });
  if (await isNetns(path)) return;
  writeFileSync(path, '', { flag: 'w' });
  const home = openSync(OWN, 'r');
  try {
    unshare(CLONE_NEWNET);
    try {
      if (opts.loopbackUp) linkUp('lo');
      mount(OWN, path, null, MS_BIND, null);
    } finally {
      goHome(home);
    }
  } finally {
    closeSync(home);
  }
}

/**
 * Runs `fn` with berthd's main thread in the namespace at `path`, and returns to its own
 * before anything else runs. `fn` must be synchronous: no JavaScript of anyone else may run
 * while the thread is away (sockets made in between belong to that namespace).
 */
export function inNetns<T>(path: string, fn: () => T): T {
  const home = openSync(OWN, 'r');
  try {
    const target = openSync(path, 'r');
    try {
      setns(target, CLONE_NEWNET);
    } finally {
      closeSync(target);
    }
    try {
      return fn();
    } finally {
      goHome(home);
    }
  } finally {
    closeSync(home);
  }
}

/** Back into berthd's own namespace; a main thread left elsewhere would wire every later network there. */
function goHome(fd: number): void {
  try {
    setns(fd, CLONE_NEWNET);
  } catch (err) {
    try {
      setns(fd, CLONE_NEWNET);
    } catch {
      log.error('cannot return to the daemon network namespace after making a pod namespace: exiting', { error: String(err) });
      process.exit(70);
    }
  }
}

/** Whether `path` is a namespace's bind mount (the file system at it is nsfs). */
export async function isNetns(path: string): Promise<boolean> {
  try {
    return statfsSync(path).type === NSFS_MAGIC;
  } catch {
    return false;
  }
}

export async function removeNetns(path: string): Promise<void> {
  try {
    umount2(path, MNT_DETACH);
  } catch {
    // not mounted (already removed, or never set up)
  }
  rmSync(path, { force: true });
}
