/**
 * Network namespaces kept open by a bind mount on a file (like `ip netns add`), so
 * a namespace exists before the container does: the network is wired into it while
 * runc creates the container, and runc joins it by path.
 */
import { execFile } from 'node:child_process';
import { promises as fsp } from 'node:fs';
import { dirname } from 'node:path';
import { promisify } from 'node:util';
import { mount, umount2, MNT_DETACH, MS_BIND } from '../sys';

const run = promisify(execFile);

export async function createNetns(path: string): Promise<void> {
  await fsp.mkdir(dirname(path), { recursive: true });
  if (await isNetns(path)) return;
  await fsp.writeFile(path, '', { flag: 'w' });
  // util-linux unshare bind-mounts the new namespace onto the file and exits.
  await run('unshare', [`--net=${path}`, 'true']);
}

/** Keeps an existing namespace (a process's `/proc/PID/ns/net`) open at `path`. */
export async function keepNetns(source: string, path: string): Promise<void> {
  await fsp.mkdir(dirname(path), { recursive: true });
  if (await isNetns(path)) return;
  await fsp.writeFile(path, '', { flag: 'w' });
  mount(source, path, null, MS_BIND, null);
}

export async function isNetns(path: string): Promise<boolean> {
  try {
    const mi = await fsp.readFile('/proc/self/mountinfo', 'utf8');
    return mi.split('\n').some((l) => l.split(' ')[4] === path);
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
  await fsp.rm(path, { force: true });
}
