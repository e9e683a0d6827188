/**
 * Making a directory inside a root filesystem as the container would see it: each path is
 * resolved inside the root (links as if the root were `/`), only the missing components are
 * made, each resolved again first, and each gets the given owner. For roots no container
 * process runs in (a build step's, a container's at create).
 */
import { promises as fsp } from 'node:fs';
import { posix } from 'node:path';
import { invalidArgument } from '../common';
import { resolveInRoot } from '../sys';

/** Makes the container directory `dir` (and its parents) and returns its host path. */
export async function mkdirIn(root: string, dir: string, owner: { uid: number; gid: number }, mode = 0o755): Promise<string> {
  const host = await resolveInRoot(root, dir);
  const st = await fsp.lstat(host).catch(() => undefined);
  if (st?.isDirectory()) return host;
  if (st) throw invalidArgument(`cannot make directory ${dir}: it exists and is not a directory`);
  // Parents first, each resolved again: only missing components are created.
  const parent = posix.dirname(dir);
  if (parent !== dir) await mkdirIn(root, parent, owner, mode);
  const again = await resolveInRoot(root, dir);
  await fsp.mkdir(again, { mode }).catch((e: NodeJS.ErrnoException) => {
    if (e.code !== 'EEXIST') throw e;
  });
  await fsp.lchown(again, owner.uid, owner.gid);
  return again;
}
