/**
 * dockerd's check of a bind mount's propagation against its source: a shared or rshared
 * bind needs a source on a shared mount, a slave or rslave one a source on a shared or slave
 * mount; otherwise the propagation could not happen and the start is refused in dockerd's
 * words. The source's mount is the one with the longest mount point that holds its real path.
 */
import { realpathSync } from 'node:fs';
import { readMountInfo } from '../sys';

export function propagationRefusal(source: string, propagation: string): string | undefined {
  const shared = propagation === 'shared' || propagation === 'rshared';
  const slave = propagation === 'slave' || propagation === 'rslave';
  if (!shared && !slave) return undefined;
  let real: string;
  try {
    real = realpathSync(source);
  } catch {
    return undefined; // a missing source is refused by its own check
  }
  let best: { mountPoint: string; optional: string[] } | undefined;
  for (const m of readMountInfo()) {
    const holds = m.mountPoint === '/' || real === m.mountPoint || real.startsWith(m.mountPoint + '/');
    if (holds && (!best || m.mountPoint.length >= best.mountPoint.length)) best = m;
  }
  if (!best) return undefined;
  const has = (field: string) => best!.optional.some((o) => o.startsWith(field));
  if (shared && !has('shared:')) return `path ${source} is mounted on ${best.mountPoint} but it is not a shared mount`;
  if (slave && !has('shared:') && !has('master:')) return `path ${source} is mounted on ${best.mountPoint} but it is not a shared or slave mount`;
  return undefined;
}
