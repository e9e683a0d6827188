/**
 * JSON as Go's encoding/json writes it, for output that must match the docker CLI's: U+2028
 * and U+2029 always escaped, and `<`, `>` and `&` too unless HTML escaping is off (the CLI's
 * `json` template function turns it off; json.Marshal, which its list contexts use, does not).
 */
export function goEscape(json: string, html = true): string {
  return json.replace(html ? /[<>&\u2028\u2029]/g : /[\u2028\u2029]/g, (c) => `\\u${c.charCodeAt(0).toString(16).padStart(4, '0')}`);
}

/**
 * Where a list's row keeps the fields its JSON has when they differ from what its template
 * reads (`docker search` marshals IsOfficial as `true`, prints it as `[OK]`).
 */
export const JSON_FORM = Symbol('the row as JSON');

/** Go's json.Marshal of a string map: keys sorted, escaped as goEscape does. */
export function goJSON(row: Record<string, unknown>): string {
  const obj = (row as { [JSON_FORM]?: Record<string, unknown> })[JSON_FORM] ?? row;
  const sorted: Record<string, unknown> = {};
  for (const k of Object.keys(obj).sort()) sorted[k] = obj[k];
  return goEscape(JSON.stringify(sorted));
}
