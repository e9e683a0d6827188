/** Go's time.Duration text, as Docker's flags and Dockerfile options take it. */
import { invalidArgument } from './errors';

const UNIT_NS: Record<string, number> = { ns: 1, us: 1e3, µs: 1e3, ms: 1e6, s: 1e9, m: 60e9, h: 3600e9 };

/** `1m30s`, `200ms`, `-5s`, `0` → nanoseconds; anything else is invalid-argument in Go's words. */
export function parseGoDuration(text: string): number {
  if (text === '0') return 0;
  const sign = text.startsWith('-') ? -1 : 1;
  const body = text.replace(/^[-+]/, '');
  const parts = [...body.matchAll(/(\d+(?:\.\d+)?|\.\d+)(ns|us|µs|ms|s|m|h)/g)];
  if (!parts.length || parts.map((p) => p[0]).join('') !== body) throw invalidArgument(`time: invalid duration "${text}"`);
  return sign * Math.round(parts.reduce((sum, p) => sum + Number(p[1]) * UNIT_NS[p[2]!]!, 0));
}
