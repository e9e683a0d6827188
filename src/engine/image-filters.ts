/**
 * Image list and prune filters, with dockerd's names and value syntax
 * (`dangling`, `label`, `reference`, `before`, `since`, `until`).
 */
import { invalidArgument, type FilterArgs } from '../common';
import { familiarName, familiarString, parseReference } from '../common';

/** Filters as the API gives them: name → values. */
export type ImageFilters = FilterArgs;

export const LIST_FILTERS = new Set(['dangling', 'label', 'reference', 'before', 'since', 'until']);
export const PRUNE_FILTERS = new Set(['dangling', 'label', 'label!', 'until']);

/** Docker's `until`/`since` values: RFC 3339 times, unix seconds (with fraction), or durations like `10m` before now. */
export function parseTimestamp(v: string): number {
  if (/^\d+(\.\d+)?$/.test(v)) return Number(v) * 1000;
  const dur = /^(\d+(?:\.\d+)?)(ns|us|µs|ms|s|m|h)$/.exec(v);
  if (dur) {
    const mult: Record<string, number> = { ns: 1e-6, us: 1e-3, µs: 1e-3, ms: 1, s: 1000, m: 60_000, h: 3_600_000 };
    return Date.now() - Number(dur[1]) * mult[dur[2]!]!;
  }
  const t = Date.parse(v);
  if (Number.isNaN(t)) throw invalidArgument(`failed to parse value as time or duration: "${v}": use RFC 3339, unix seconds or a duration such as 10m`);
  return t;
}

/**
 * Docker's reference filter: a glob (`*` within one path component) matched
 * against `name:tag` and, when the pattern has no tag, against the name alone.
 */
export function matchReference(pattern: string, familiar: string): boolean {
  const glob = (p: string) => new RegExp('^' + p.split('*').map((s) => s.replace(/[.+?^${}()|[\]\\/]/g, '\\$&')).join('[^/]*') + '$');
  if (glob(pattern).test(familiar)) return true;
  const name = familiar.replace(/[:@][^/]*$/, '');
  if (glob(pattern).test(name)) return true;
  // `docker.io/library/busybox` style patterns match their familiar form too.
  try {
    const ref = parseReference(pattern.replace(/\*/g, 'x'));
    if (!pattern.includes('*')) {
      const want = familiarString(ref);
      return want === familiar || familiarName(ref) === name && ref.tag === undefined;
    }
  } catch {
    /* not a reference: globs only */
  }
  return false;
}
