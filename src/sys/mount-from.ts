/**
 * mount(2) run from another working directory.
 *
 * Why: overlayfs takes its layer list in the mount data, which the kernel caps at one
 * page (4096 bytes). Relative lowerdir paths are resolved against the calling
 * process's cwd, so many layers fit when the mount is made from their common parent.
 * Relative paths also keep each line of /proc/<pid>/mountinfo short, which every runc
 * create reads four times (native/berth-mount.c says by how much).
 *
 * Changing berthd's own cwd would race with everything else in the process, so the call
 * runs in a thread of its own cwd, inside berthd (berth-mount.so, built from
 * native/berth-mount.c), or, where that library was not built, in a short-lived child
 * process started with that cwd.
 *
 * Contract: resolves when the mount exists; rejects with the same `SysError` shape as
 * `mount()` (code/errno/syscall/path) if the kernel refused, or with a plain Error if
 * the helper process itself could not run. `target` should be absolute.
 */
import { execFile } from 'node:child_process';
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { sysError } from './libc';

const LIBRARY = join(__dirname, '..', '..', 'native', 'berth-mount.so');
type MountIn = (dir: string, source: string | null, target: string, fstype: string | null, flags: number, data: string | null) => number;
let mountIn: MountIn | null | undefined;

/** berth-mount.so's berth_mount_in, loaded on first use; null when the library was not built. */
function inProcess(): MountIn | null {
  if (mountIn !== undefined) return mountIn;
  if (!existsSync(LIBRARY)) return (mountIn = null);
  // eslint-disable-next-line @typescript-eslint/no-var-requires
  const koffi = require('koffi') as { load(path: string): { func(sig: string): unknown } };
  mountIn = koffi.load(LIBRARY).func('int berth_mount_in(const char*, const char*, const char*, const char*, unsigned long, const char*)') as MountIn;
  return mountIn;
}

/** True when mountFrom costs no more than mount(2) (the library is there): a thread, not a process. */
export function mountFromIsCheap(): boolean {
  return inProcess() !== null;
}

export function mountFrom(
  cwd: string,
  source: string | null,
  target: string,
  fstype: string | null,
  flags: number,
  data: string | null,
): Promise<void> {
  const fast = inProcess();
  if (fast) {
    const errno = fast(cwd, source, target, fstype, flags, data);
    return errno === 0 ? Promise.resolve() : Promise.reject(sysError('mount', errno, target, `type ${fstype ?? 'none'}, from cwd ${cwd}`));
  }
  const libcModule = require.resolve('./libc');
  const script = `
    const [mod, args] = [process.argv[1], JSON.parse(process.argv[2])];
    try { require(mod).mount(...args); }
    catch (e) { process.stderr.write(JSON.stringify({ errno: e.errno, message: String(e.message) })); process.exit(1); }
  `;
  const args = JSON.stringify([source, target, fstype, flags, data]);
  return new Promise((resolve, reject) => {
    execFile(process.execPath, ['-e', script, libcModule, args], { cwd, timeout: 60_000 }, (err, _stdout, stderr) => {
      if (!err) return resolve();
      let parsed: { errno?: number } | undefined;
      try {
        parsed = JSON.parse(stderr) as { errno?: number };
      } catch {
        parsed = undefined;
      }
      if (parsed && typeof parsed.errno === 'number') {
        return reject(sysError('mount', parsed.errno, target, `type ${fstype ?? 'none'}, from cwd ${cwd}`));
      }
      reject(new Error(`mount helper for '${target}' failed to run in '${cwd}': ${stderr.trim() || err.message}`, { cause: err }));
    });
  });
}
