/**
 * Columns laid out like Go's text/tabwriter as docker configures it
 * (minwidth 10, padding 3, pad with spaces): every column but the last is padded
 * to max(10, widest cell + 3); widths count code points.
 */
export function renderTable(rows: string[][], opts: { minWidth?: number; padding?: number } = {}): string {
  const minWidth = opts.minWidth ?? 10;
  const padding = opts.padding ?? 3;
  const width = (s: string) => [...s].length;
  const cols = Math.max(0, ...rows.map((r) => r.length));
  const widths: number[] = [];
  for (let c = 0; c < cols - 1; c++) {
    let w = minWidth;
    for (const r of rows) if (c < r.length - 1) w = Math.max(w, width(r[c] ?? '') + padding);
    widths.push(w);
  }
  let out = '';
  for (const r of rows) {
    let line = '';
    r.forEach((cell, c) => {
      line += c < r.length - 1 ? cell + ' '.repeat(widths[c]! - width(cell)) : cell;
    });
    out += line + '\n';
  }
  return out;
}

/** Docker's Ellipsis: cut to `max` code points, the last one an ellipsis. */
export function ellipsis(s: string, max: number): string {
  const chars = [...s];
  if (chars.length <= max) return s;
  if (max <= 1) return chars.slice(0, max).join('');
  return chars.slice(0, max - 1).join('') + '…';
}
