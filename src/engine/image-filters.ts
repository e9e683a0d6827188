/**
 * Image list and prune filters, with dockerd's names and value syntax
 * (`dangling`, `label`, `reference`, `before`, `since`, `until`).
 */
import { invalidArgument } from '../common';
import { familiarName, familiarString, parseReference, type ImageRecord } from '../image';

/** Filters as the API gives them: name → values. */
export type ImageFilters = Map<string, string[]>;

export const LIST_FILTERS = new Set(['dangling', 'label', 'reference', 'before', 'since', 'until']);
export const PRUNE_FILTERS = new Set(['dangling', 'label', 'label!', 'until']);

/** invalid-argument for a filter name outside `allowed`. */
export function checkFilterNames(filters: ImageFilters, allowed: Set<string>): void {
  for (const k of filters.keys()) if (!allowed.has(k)) throw invalidArgument(`invalid filter '${k}'`);
}

/** A boolean filter's value (`true`/`1`, `false`/`0`); anything else is invalid-argument. */
export function boolFilter(name: string, values: string[]): boolean {
  const v = values[0]!.toLowerCase();
  if (v === 'true' || v === '1') return true;
  if (v === 'false' || v === '0') return false;
  throw invalidArgument(`invalid filter '${name}=${values[0]}': use true or false`);
}

/** Whether the image's labels satisfy a `label` filter value: `key` (present) or `key=value`. */
export function labelMatches(img: ImageRecord, filter: string): boolean {
  const labels = img.config.config?.Labels ?? {};
  const eq = filter.indexOf('=');
  if (eq < 0) return Object.prototype.hasOwnProperty.call(labels, filter);
  return labels[filter.slice(0, eq)] === filter.slice(eq + 1);
}

/** Docker's `until`/`since` values: RFC 3339 times, unix seconds (with fraction), or durations like `10m` before now. */
export function parseTimestamp(v: string): number {
  if (/^\d+(\.\d+)?$/.test(v)) return Number(v) * 1000;
  const dur = /^(\d+(?:\.\d+)?)(ns|us|µs|ms|s|m|h)$/.exec(v);
  if (dur) {
    const mult: Record<string, number> = { ns: 1e-6, us: 1e-3, µs: 1e-3, ms: 1, s: 1000, m: 60_000, h: 3_600_000 };
    return Date.now() - Number(dur[1]) * mult[dur[2]!]!;
  }
  const t = Date.parse(v);
  if (Number.isNaN(t)) throw invalidArgument(`invalid timestamp "${v}": use RFC 3339, unix seconds or a duration such as 10m`);
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
