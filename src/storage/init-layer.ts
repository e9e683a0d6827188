/**
 * The init layer: a small per-container layer between the image and the container's
 * own changes, holding the mount points the runtime needs (/etc/hosts, /proc …) that
 * the image lacks. Docker has the same layer (`<id>-init`); because it sits below the
 * writable layer, these entries never show in `docker diff`, commit or a layer export,
 * while the runtime still finds its mount points. `docker export` shows them.
 *
 * Only missing entries are made. A dir the init layer must create because a child is
 * missing (e.g. /etc when /etc/hosts is) copies the image's dir metadata, times last,
 * so the container sees /etc exactly as the image has it.
 *
 * `owner` (user-namespace remapping: the host ids of the container's root) owns the
 * entries made without an image counterpart; absent, they stay the caller's (root's).
 */
import { chmodSync, lchownSync, mkdirSync, symlinkSync, utimesSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { LowerView, lstatOrNullSync } from './lower-view';

type InitEntry = { path: string; kind: 'dir' | 'file' | 'symlink'; target?: string };

/** Docker's list (daemon/initlayer), in creation order. */
const ENTRIES: InitEntry[] = [
  { path: 'dev/pts', kind: 'dir' },
  { path: 'dev/shm', kind: 'dir' },
  { path: 'proc', kind: 'dir' },
  { path: 'sys', kind: 'dir' },
  { path: '.dockerenv', kind: 'file' },
  { path: 'etc/resolv.conf', kind: 'file' },
  { path: 'etc/hosts', kind: 'file' },
  { path: 'etc/hostname', kind: 'file' },
  { path: 'dev/console', kind: 'file' },
  { path: 'etc/mtab', kind: 'symlink', target: '/proc/mounts' },
];

/**
 * Fills the empty dir `dir` with what the image seen through `image` is missing. Synchronous
 * calls throughout: a dozen stats, mkdirs and small files in the page cache (made once per
 * image for overlay snapshots, which share it, and for every vfs container), where a trip
 * through the thread pool each cost about 2 ms of turns of the event loop.
 */
export async function buildInitLayer(dir: string, image: LowerView, owner?: { uid: number; gid: number }): Promise<void> {
  const madeDirs = new Map<string, { atime: number; mtime: number } | null>();
  const ensureDir = (rel: string): boolean => {
    if (rel === '' || madeDirs.has(rel)) return true;
    const parent = rel.includes('/') ? rel.slice(0, rel.lastIndexOf('/')) : '';
    if (!ensureDir(parent)) return false;
    const low = image.dirs.length ? image.lookup(rel) : null;
    if (low && !low.st.isDirectory()) return false; // e.g. /etc is a symlink: leave it alone
    const abs = join(dir, rel);
    if (!lstatOrNullSync(abs)) mkdirSync(abs, 0o755);
    if (low) {
      lchownSync(abs, low.st.uid, low.st.gid);
      chmodSync(abs, low.st.mode & 0o7777);
      madeDirs.set(rel, { atime: low.st.atimeMs / 1000, mtime: low.st.mtimeMs / 1000 });
    } else {
      if (owner) lchownSync(abs, owner.uid, owner.gid);
      madeDirs.set(rel, null);
    }
    return true;
  };
  for (const e of ENTRIES) {
    if (image.dirs.length && image.lookup(e.path)) continue;
    const parent = e.path.includes('/') ? e.path.slice(0, e.path.lastIndexOf('/')) : '';
    if (!ensureDir(parent)) continue;
    const abs = join(dir, e.path);
    if (e.kind === 'dir') {
      mkdirSync(abs, 0o755);
      madeDirs.set(e.path, null);
    } else if (e.kind === 'file') writeFileSync(abs, '', { mode: 0o755 });
    else symlinkSync(e.target!, abs);
    if (owner) lchownSync(abs, owner.uid, owner.gid);
  }
  // Deepest first, so setting a dir's times is not undone by touching its children.
  for (const [rel, t] of [...madeDirs].sort((a, b) => b[0].length - a[0].length)) {
    if (t) utimesSync(join(dir, rel), t.atime, t.mtime);
  }
}
