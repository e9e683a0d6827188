import { randomInt } from 'node:crypto';
import { invalidArgument } from '../common';

const NAME_RE = /^\/?[a-zA-Z0-9][a-zA-Z0-9_.-]+$/;

/** Validates a user-given container name and returns it without the leading slash. */
export function checkName(name: string): string {
  if (!NAME_RE.test(name)) throw invalidArgument(`Invalid container name (${name}), only [a-zA-Z0-9][a-zA-Z0-9_.-] are allowed`);
  return name.replace(/^\//, '');
}

const LEFT = ['brave', 'calm', 'eager', 'fond', 'gentle', 'happy', 'jolly', 'keen', 'lucid', 'merry', 'nimble', 'proud', 'quiet', 'rapid', 'sharp', 'steady', 'sunny', 'tidy', 'vivid', 'witty', 'bold', 'clever', 'daring', 'elegant'];
const RIGHT = ['anchor', 'beacon', 'buoy', 'cutter', 'dinghy', 'dock', 'ferry', 'harbor', 'hull', 'jetty', 'keel', 'lighthouse', 'mast', 'mooring', 'pier', 'quay', 'rudder', 'schooner', 'sextant', 'skiff', 'sloop', 'tugboat', 'wharf', 'yawl'];

/** A readable random name such as `steady_harbor`, with a number when the plain ones are taken. */
export function randomName(taken: (n: string) => boolean): string {
  for (let i = 0; i < 100; i++) {
    const n = `${LEFT[randomInt(LEFT.length)]}_${RIGHT[randomInt(RIGHT.length)]}${i >= 10 ? randomInt(10) : ''}`;
    if (!taken(n)) return n;
  }
  return `berth_${randomInt(1e9)}`;
}
