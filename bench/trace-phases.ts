// Reads berthd's BERTH_TRACE file (one JSON line per span, see src/common/trace.ts) and turns
// the spans of a series of `docker run --rm` into one row per phase: median, min and max over
// the containers (a phase seen once per container), and over requests for the HTTP spans.

import * as fs from 'node:fs';

export interface TraceLine {
  key: string;
  phase: string;
  at: number;
  ms: number;
}

/** The lines appended to `file` after byte `from`. */
export function readTrace(file: string, from: number): TraceLine[] {
  let text: string;
  try {
    const fd = fs.openSync(file, 'r');
    try {
      const size = fs.fstatSync(fd).size;
      const buf = Buffer.alloc(Math.max(0, size - from));
      fs.readSync(fd, buf, 0, buf.length, from);
      text = buf.toString('utf8');
    } finally {
      fs.closeSync(fd);
    }
  } catch {
    return [];
  }
  const out: TraceLine[] = [];
  for (const line of text.split('\n')) {
    if (!line) continue;
    try {
      out.push(JSON.parse(line) as TraceLine);
    } catch {
      /* a torn last line */
    }
  }
  return out;
}

/** Ids and hex names in a request path become `{id}`, so requests of different containers group. */
function normalizePhase(p: string): string {
  return p.replace(/\/v\d+\.\d+\//, '/').replace(/\/[0-9a-f]{12,64}(?=\/|$| )/g, '/{id}');
}

const ORDER = [
  'request parse',
  'image resolve + spec',
  'snapshot prepare',
  'record save (create)',
  'snapshot mount',
  'volumes + network',
  'spec render',
  'bundle write',
  'conmon spawn (posix_spawn)',
  'conmon + runc create (until pid)',
  'runtime create (total)',
  'start (exec fifo)',
  'record save (start)',
  'exit noticed (since exit file mtime)',
  'exit cleanup (runc delete, unmount, record)',
  'remove',
];

function med(xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  const m = s.length >> 1;
  return s.length % 2 ? s[m]! : (s[m - 1]! + s[m]!) / 2;
}

/** Median, min, max of each phase; container phases first in lifecycle order, then HTTP requests. */
export function phaseTable(lines: TraceLine[]): { phase: string; n: number; median: number; min: number; max: number }[] {
  const by = new Map<string, number[]>();
  for (const l of lines) {
    const name = l.key === 'http' ? `http ${normalizePhase(l.phase)}` : l.phase;
    let xs = by.get(name);
    if (!xs) by.set(name, (xs = []));
    xs.push(l.ms);
  }
  const rank = (p: string) => {
    const i = ORDER.indexOf(p);
    return i >= 0 ? i : p.startsWith('http ') ? 1000 : 500;
  };
  return [...by.entries()]
    .sort((a, b) => rank(a[0]) - rank(b[0]) || a[0].localeCompare(b[0]))
    .map(([phase, xs]) => ({ phase, n: xs.length, median: med(xs), min: Math.min(...xs), max: Math.max(...xs) }));
}
