/** Go's time.Duration text, as Docker's flags and Dockerfile options take it. */
import { invalidArgument } from './errors';

const UNIT_NS: Record<string, number> = { ns: 1, us: 1e3, µs: 1e3, ms: 1e6, s: 1e9, m: 60e9, h: 3600e9 };

/**
 * `1m30s`, `200ms`, `-5s`, `0` → nanoseconds; anything else is invalid-argument in the words
 * of Go's time.ParseDuration (`invalid duration`, `missing unit in duration`, `unknown unit`).
 */
export function parseGoDuration(text: string): number {
  if (text === '0' || text === '+0' || text === '-0') return 0;
  const sign = text.startsWith('-') ? -1 : 1;
  let rest = text.replace(/^[-+]/, '');
  const invalid = () => invalidArgument(`time: invalid duration "${text}"`);
  if (rest === '') throw invalid();
  let total = 0;
  while (rest !== '') {
    const num = /^(\d+(?:\.\d*)?|\.\d+)/.exec(rest);
    if (!num) throw invalid();
    rest = rest.slice(num[0].length);
    const unit = /^[^\d.]*/.exec(rest)![0];
    if (unit === '') throw invalidArgument(`time: missing unit in duration "${text}"`);
    const ns = UNIT_NS[unit];
    if (ns === undefined) throw invalidArgument(`time: unknown unit "${unit}" in duration "${text}"`);
    rest = rest.slice(unit.length);
    total += Number(num[0]) * ns;
  }
  return sign * Math.round(total);
}
