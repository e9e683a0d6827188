/**
 * Disk usage of a directory tree as Docker reports it (volume sizes, a container's
 * SizeRw, `system df`): the apparent sizes (st_size, not blocks) of everything that
 * is not a directory, symlinks included, each inode counted once however many
 * hardlinks name it (as `du` does). Symlinks are not followed; mount points below
 * `dir` are walked like any directory.
 *
 * Contract: resolves 0 when `dir` does not exist; entries that vanish during the
 * walk are skipped (a running container may delete files meanwhile); any other
 * failure (EACCES, EIO …) rejects with the errno error, for the caller to report.
 */
import { promises as fsp } from 'node:fs';
import { join } from 'node:path';
import { isErrno } from '../common';

export async function dirSize(dir: string): Promise<number> {
  const seen = new Set<string>();
  let total = 0;
  const stack = [dir];
  while (stack.length > 0) {
    const d = stack.pop() as string;
    let entries;
    try {
      entries = await fsp.readdir(d, { withFileTypes: true });
    } catch (err) {
      if (isErrno(err, 'ENOENT') || (d !== dir && isErrno(err, 'ENOTDIR'))) continue;
      throw err;
    }
    const files: string[] = [];
    for (const e of entries) {
      if (e.isDirectory()) stack.push(join(d, e.name));
      else files.push(join(d, e.name));
    }
    const stats = await Promise.all(
      files.map((p) =>
        fsp.lstat(p).catch((err: unknown) => {
          if (isErrno(err, 'ENOENT')) return undefined;
          throw err;
        }),
      ),
    );
    for (const st of stats) {
      if (!st || st.isDirectory()) continue;
      const key = `${st.dev}:${st.ino}`;
      if (seen.has(key)) continue;
      seen.add(key);
      total += st.size;
    }
  }
  return total;
}
