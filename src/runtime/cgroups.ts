/**
 * Where a container's cgroup lives on the host, for runc's cgroupfs driver.
 *
 * Contract:
 * - `detectCgroupMode(root)`: 'v2' when `root` is a cgroup2 mount (it has
 *   cgroup.controllers), 'hybrid' when v1 controllers sit beside a cgroup2 mount at
 *   `root/unified`, else 'v1'. Hybrid counts as v1 for controllers and for the cgroup
 *   namespace decision (Docker only unshares it on v2).
 * - `cgroupsPath(parent, id)` is the OCI `linux.cgroupsPath` for the cgroupfs driver:
 *   absolute, so runc places it at the root of each hierarchy (`/berth/<id>`), not under
 *   runc's own cgroup. Both parts are validated; no `..`, no empty components.
 * - `cgroupDirs(mode, path, root, mountinfo?)` maps each controller to the host directory
 *   of that cgroup. v1/hybrid: one entry per controller found in the mount table for
 *   cgroup v1 mounts directly under `root` (combined mounts such as `cpu,cpuacct` give
 *   both names the same dir; named hierarchies appear as `name=systemd`); hybrid adds
 *   `unified` for the cgroup2 mount, which runc also populates. v2: `{ unified: dir }`.
 *   `mountinfo` defaults to /proc/self/mountinfo; tests pass their own.
 * - `removeCgroup(...)` is best effort, for after `runc delete` (which normally removes
 *   them) or a crash: it removes the container's dirs and any child cgroups, depth first,
 *   retrying briefly while the kernel still reports them busy, and returns the dirs it
 *   could not remove. It refuses paths with fewer than two components so a bad path can
 *   never empty the whole hierarchy.
 * - `blkioWeightFile(mode, dir)` names the file a block I/O weight goes to in a
 *   container's blkio (v1) or unified (v2) dir: the plain `blkio.weight` / `io.weight`
 *   when the kernel has it (CFQ / io.cost), else BFQ's `blkio.bfq.weight` /
 *   `io.bfq.weight`; undefined when neither exists. `ensureBlkioWeight(mode, path, weight,
 *   root?, mountinfo?)` writes the weight there unless it already holds it (runc 1.1.5
 *   already picks the BFQ file on v1, verified here; this makes it so whatever the
 *   runtime did) and returns the file written or checked. Plain io.weight on v2 takes
 *   Docker's 10-1000 scale mapped to 1-10000, as runc maps it.
 */
import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import { readdir, rmdir } from 'node:fs/promises';
import { dirname, join, posix } from 'node:path';
import { invalidArgument, isErrno } from '../common';
import { parseMountInfo } from '../sys';

export type CgroupMode = 'v1' | 'v2' | 'hybrid';

export const DEFAULT_CGROUP_ROOT = '/sys/fs/cgroup';
export const DEFAULT_CGROUP_PARENT = '/berth';

/** Controller (or `name=…`, or `unified`) → host directory of the container's cgroup. */
export type CgroupDirs = Record<string, string>;

export function detectCgroupMode(root: string = DEFAULT_CGROUP_ROOT): CgroupMode {
  if (existsSync(join(root, 'cgroup.controllers'))) return 'v2';
  if (existsSync(join(root, 'unified', 'cgroup.controllers'))) return 'hybrid';
  return 'v1';
}

// No ':' — runc reads 'slice:prefix:name' as a systemd-driver path.
const COMPONENT_RE = /^[A-Za-z0-9_][A-Za-z0-9_.@-]*$/;

function checkPath(path: string): string[] {
  const parts = path.split('/').filter((p) => p !== '');
  if (!path.startsWith('/') || parts.length < 2 || parts.some((p) => !COMPONENT_RE.test(p))) {
    throw invalidArgument(
      `invalid cgroup path ${JSON.stringify(path)}: it must be absolute with at least two plain components, like /berth/<id>`,
    );
  }
  return parts;
}

export function cgroupsPath(parent: string, id: string): string {
  if (!COMPONENT_RE.test(id)) {
    throw invalidArgument(`invalid container id ${JSON.stringify(id)} for a cgroup name: use letters, digits, _ . - only`);
  }
  const parentParts = parent.split('/').filter((p) => p !== '');
  if (parentParts.length === 0 || parentParts.some((p) => !COMPONENT_RE.test(p))) {
    throw invalidArgument(
      `invalid cgroup parent ${JSON.stringify(parent)}: give a path such as /berth with no '..' or empty parts`,
    );
  }
  return posix.join('/', ...parentParts, id);
}

// cgroup v1 super options that are mount flags, not hierarchy names.
const NOT_CONTROLLERS = new Set(['rw', 'ro', 'release_agent', 'clone_children', 'noprefix', 'xattr', 'cpuset_v2_mode', 'favordynmods', 'none']);

/** cgroup v1 mounts directly under `root`: mountpoint → its controllers. */
export function v1Hierarchies(root: string, mountinfo: string): Map<string, string[]> {
  const out = new Map<string, string[]>();
  for (const m of parseMountInfo(mountinfo)) {
    if (m.fsType !== 'cgroup' || dirname(m.mountPoint) !== root) continue;
    const ctrls = m.superOptions.split(',').filter((o) => !NOT_CONTROLLERS.has(o.split('=')[0] ?? ''));
    if (ctrls.length > 0) out.set(m.mountPoint, ctrls);
  }
  return out;
}

/**
 * The host's v1 hierarchies under `root`, read from mountinfo once: they are mounted at boot
 * and stay, while mountinfo grows with every container's mounts (reading it at each exit's
 * OOM check cost about 0.6 ms with 20 containers running).
 */
const hostHierarchyCache = new Map<string, Map<string, string[]>>();
function hostHierarchies(root: string): Map<string, string[]> {
  let h = hostHierarchyCache.get(root);
  if (!h) {
    h = v1Hierarchies(root, readFileSync('/proc/self/mountinfo', 'utf8'));
    // An empty answer is not kept: the hierarchies may not be mounted yet.
    if (h.size > 0) hostHierarchyCache.set(root, h);
  }
  return h;
}

export function cgroupDirs(
  mode: CgroupMode,
  path: string,
  root: string = DEFAULT_CGROUP_ROOT,
  mountinfo?: string,
): CgroupDirs {
  const parts = checkPath(path);
  if (mode === 'v2') return { unified: join(root, ...parts) };
  const dirs: CgroupDirs = {};
  const hierarchies = mountinfo !== undefined ? v1Hierarchies(root, mountinfo) : hostHierarchies(root);
  for (const [mountpoint, ctrls] of hierarchies) {
    for (const c of ctrls) dirs[c] = join(mountpoint, ...parts);
  }
  if (mode === 'hybrid') dirs.unified = join(root, 'unified', ...parts);
  return dirs;
}

const BUSY_RETRIES = 10;
const BUSY_DELAY_MS = 50;

async function removeTree(dir: string): Promise<boolean> {
  let entries;
  try {
    entries = await readdir(dir, { withFileTypes: true });
  } catch (err) {
    if (isErrno(err, 'ENOENT')) return true;
    return false;
  }
  let ok = true;
  // Child cgroups (a container may nest its own) must go before their parent.
  for (const e of entries) if (e.isDirectory()) ok = (await removeTree(join(dir, e.name))) && ok;
  if (!ok) return false;
  for (let attempt = 0; ; attempt++) {
    try {
      await rmdir(dir);
      return true;
    } catch (err) {
      if (isErrno(err, 'ENOENT')) return true;
      // EBUSY: the last task is still exiting; the kernel frees the cgroup shortly after.
      if (!isErrno(err, 'EBUSY') || attempt >= BUSY_RETRIES) return false;
      await new Promise((r) => setTimeout(r, BUSY_DELAY_MS));
    }
  }
}

/** Removes the container's cgroup dirs; returns those left behind. */
export async function removeCgroup(
  mode: CgroupMode,
  path: string,
  root: string = DEFAULT_CGROUP_ROOT,
  mountinfo?: string,
): Promise<string[]> {
  const dirs = [...new Set(Object.values(cgroupDirs(mode, path, root, mountinfo)))];
  const left: string[] = [];
  for (const d of dirs) if (!(await removeTree(d))) left.push(d);
  return left;
}

export function blkioWeightFile(mode: CgroupMode, dir: string): string | undefined {
  const names = mode === 'v2' ? ['io.weight', 'io.bfq.weight'] : ['blkio.weight', 'blkio.bfq.weight'];
  for (const n of names) if (existsSync(join(dir, n))) return join(dir, n);
  return undefined;
}

/** Docker's 10-1000 blkio weight on cgroup v2's 1-10000 io.weight scale. */
export function ioWeightFromBlkio(weight: number): number {
  return 1 + Math.round(((weight - 10) * 9999) / 990);
}

/** The weight a file holds: a bare number, or the `default N` line of io.weight / io.bfq.weight. */
function readWeight(file: string): number | undefined {
  const text = readFileSync(file, 'utf8').trim();
  const m = /^(?:default\s+)?(\d+)$/m.exec(text);
  return m ? Number(m[1]) : undefined;
}

export function ensureBlkioWeight(
  mode: CgroupMode,
  path: string,
  weight: number,
  root: string = DEFAULT_CGROUP_ROOT,
  mountinfo?: string,
): string | undefined {
  if (!weight) return undefined;
  const dirs = cgroupDirs(mode, path, root, mountinfo);
  const dir = mode === 'v2' ? dirs.unified : dirs.blkio;
  if (!dir) return undefined;
  const file = blkioWeightFile(mode, dir);
  if (!file) return undefined;
  const want = file.endsWith('/io.weight') ? ioWeightFromBlkio(weight) : weight;
  if (readWeight(file) !== want) writeFileSync(file, mode === 'v2' ? `default ${want}` : String(want));
  return file;
}
