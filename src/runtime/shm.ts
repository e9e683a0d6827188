/**
 * A host-side /dev/shm for containers whose IPC namespace others may join
 * (`--ipc shareable`): a tmpfs on the host that the donor and every joiner bind
 * at /dev/shm, so POSIX shared memory is shared along with SysV IPC, as in Docker.
 */
import { mkdirSync } from 'node:fs';
import { MNT_DETACH, MS_NODEV, MS_NOEXEC, MS_NOSUID, isMountPoint, mount, umount2 } from '../sys';

/** Mounts the tmpfs (mode 1777, `sizeBytes` big) at `path` unless it is already there. */
export function mountShm(path: string, sizeBytes: number): void {
  mkdirSync(path, { recursive: true, mode: 0o700 });
  if (isMountPoint(path)) return;
  mount('shm', path, 'tmpfs', MS_NOSUID | MS_NODEV | MS_NOEXEC, `mode=1777,size=${Math.max(1, Math.floor(sizeBytes / 1024))}k`);
}

/** Unmounts it if mounted (lazily: a joiner may still hold it). */
export function unmountShm(path: string): void {
  if (!isMountPoint(path)) return;
  umount2(path, MNT_DETACH);
}
