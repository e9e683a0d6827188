/**
 * Docker's list filters (`?filters={"label":{"app=web":true}}`), shared by every
 * layer that filters: the API parses the query once with parseFilterArgs; each
 * service checks the keys it accepts with checkFilterKeys and reads boolean
 * filters with filterBool; every label filter goes through matchLabelFilters.
 *
 * Semantics follow dockerd's filters.Args: values of one key are alternatives
 * unless a matcher says otherwise (labels: every value must match), keys are
 * combined with AND. Errors are invalid-argument with dockerd's wording
 * (`invalid filter 'x'`), which clients show as is.
 */
import { invalidArgument } from './errors';

/** Filter key → the values given for it, in the order sent. */
export type FilterArgs = Map<string, string[]>;

/**
 * Parses the `filters` query value: the current `{"key":{"value":true}}` form
 * (values mapped to false are left out) or the legacy `{"key":["value"]}`.
 * An absent or empty value is no filter at all.
 */
export function parseFilterArgs(raw: string | null | undefined): FilterArgs {
  const out: FilterArgs = new Map();
  if (!raw) return out;
  let v: unknown;
  try {
    v = JSON.parse(raw);
  } catch (err) {
    throw invalidArgument(`invalid JSON in filters: ${(err as Error).message}`);
  }
  if (typeof v !== 'object' || v === null || Array.isArray(v)) throw invalidArgument('invalid filters: expected a JSON object such as {"status":{"running":true}}');
  for (const [k, vals] of Object.entries(v)) {
    if (Array.isArray(vals)) out.set(k, vals.map(String));
    else if (typeof vals === 'object' && vals !== null) out.set(k, Object.entries(vals).filter(([, b]) => b).map(([s]) => s));
    else throw invalidArgument(`invalid filters: the value of "${k}" must be an object or an array`);
  }
  return out;
}

/** Throws `invalid filter 'k'` for the first key not in `accepted`. */
export function checkFilterKeys(filters: FilterArgs, accepted: Iterable<string>): void {
  const ok = new Set(accepted);
  for (const k of filters.keys()) if (!ok.has(k)) throw invalidArgument(`invalid filter '${k}'`);
}

/**
 * A boolean filter such as `dangling=true`: undefined when the key is absent;
 * `true`/`1` or `false`/`0`, else (no value, another word, or both answers)
 * `invalid filter 'key=[values]'` as dockerd words it.
 */
export function filterBool(filters: FilterArgs, key: string): boolean | undefined {
  const values = filters.get(key);
  if (values === undefined) return undefined;
  const isTrue = values.some((v) => v === 'true' || v === '1');
  const isFalse = values.some((v) => v === 'false' || v === '0');
  if (isTrue === isFalse) throw invalidArgument(values.length ? `invalid filter '${key}=[${values.join(' ')}]'` : `invalid filter '${key}'`);
  return isTrue;
}

/**
 * Whether `labels` pass label filters: each `key` must be present and each
 * `key=value` present with that value (all of them, as dockerd's MatchKVList).
 * No filters pass everything; with filters, an object without labels fails.
 */
export function matchLabelFilters(filters: readonly string[] | undefined, labels: Readonly<Record<string, string>> | null | undefined): boolean {
  if (!filters || filters.length === 0) return true;
  if (!labels) return false;
  return filters.every((f) => {
    const eq = f.indexOf('=');
    const key = eq < 0 ? f : f.slice(0, eq);
    if (!Object.prototype.hasOwnProperty.call(labels, key)) return false;
    return eq < 0 || labels[key] === f.slice(eq + 1);
  });
}

/**
 * The `label` and `label!` keys together, as dockerd's prune filters read them:
 * `label` values must all match, and the object is excluded when every `label!`
 * value matches it.
 */
export function matchLabelArgs(filters: FilterArgs, labels: Readonly<Record<string, string>> | null | undefined): boolean {
  if (!matchLabelFilters(filters.get('label'), labels)) return false;
  const not = filters.get('label!');
  return !(not && not.length > 0 && matchLabelFilters(not, labels));
}
