/**
 * Which bridge devices and subnets the berthd processes of this host hold: one file per
 * daemon (by data root) under /run/berth-networks. A daemon's default bridge and new
 * networks keep clear of what another live daemon holds, even before that daemon's
 * bridges exist (they are made on first use). Files of daemons that are gone are ignored.
 */
import { createHash } from 'node:crypto';
import { promises as fsp, readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';

export const CLAIMS_DIR = '/run/berth-networks';

export interface Claim {
  pid: number;
  dataRoot: string;
  devices: string[];
  subnets: string[];
}

function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
  } catch {
    return false;
  }
  try {
    return !/^\d+ \(.*\) Z /.test(readFileSync(`/proc/${pid}/stat`, 'utf8'));
  } catch {
    return false;
  }
}

const fileOf = (dir: string, dataRoot: string) => join(dir, `${createHash('sha256').update(dataRoot).digest('hex').slice(0, 16)}.json`);

/** Claims of other live daemons. */
export function otherClaims(dataRoot: string, dir = CLAIMS_DIR): Claim[] {
  let names: string[];
  try {
    names = readdirSync(dir);
  } catch {
    return [];
  }
  const out: Claim[] = [];
  for (const n of names) {
    if (!n.endsWith('.json')) continue;
    try {
      const c = JSON.parse(readFileSync(join(dir, n), 'utf8')) as Claim;
      if (c.dataRoot !== dataRoot && c.pid !== process.pid && alive(c.pid)) out.push(c);
    } catch {
      // half-written or foreign: not a claim
    }
  }
  return out;
}

export async function writeClaim(c: Claim, dir = CLAIMS_DIR): Promise<void> {
  await fsp.mkdir(dir, { recursive: true });
  const file = fileOf(dir, c.dataRoot);
  const tmp = `${file}.${process.pid}.tmp`;
  await fsp.writeFile(tmp, JSON.stringify(c));
  await fsp.rename(tmp, file);
}

export async function removeClaim(dataRoot: string, dir = CLAIMS_DIR): Promise<void> {
  await fsp.rm(fileOf(dir, dataRoot), { force: true });
}
