import { humanDuration } from '../../wire';

export { humanDuration };

/** Go's `%.<p>g` (strconv 'g' format): shortest form, exponent as `e+03`. */
export function goFormatG(value: number, precision: number): string {
  if (value === 0) return '0';
  const p = Math.max(1, precision);
  const [mant, e] = value.toExponential(p - 1).split('e') as [string, string];
  const exp = Number(e);
  const strip = (x: string) => (x.includes('.') ? x.replace(/0+$/, '').replace(/\.$/, '') : x);
  if (exp < -4 || exp >= p) return `${strip(mant)}e${exp < 0 ? '-' : '+'}${String(Math.abs(exp)).padStart(2, '0')}`;
  return strip(value.toFixed(Math.max(0, p - 1 - exp)));
}

const DECIMAL_UNITS = ['B', 'kB', 'MB', 'GB', 'TB', 'PB', 'EB', 'ZB', 'YB'];
const BINARY_UNITS = ['B', 'KiB', 'MiB', 'GiB', 'TiB', 'PiB', 'EiB', 'ZiB', 'YiB'];

function scale(size: number, base: number, units: string[]): [number, string] {
  let i = 0;
  while (size >= base && i < units.length - 1) {
    size /= base;
    i++;
  }
  return [size, units[i]!];
}

/** Docker's decimal sizes (`docker images` uses precision 3: `4.27MB`, `128kB`, `0B`). */
export function humanSize(bytes: number, precision = 4): string {
  const [v, u] = scale(bytes, 1000, DECIMAL_UNITS);
  return `${goFormatG(v, precision)}${u}`;
}

/** Docker's binary sizes (`MiB`), used for memory in `info`. */
export function bytesSize(bytes: number): string {
  const [v, u] = scale(bytes, 1024, BINARY_UNITS);
  return `${goFormatG(v, 4)}${u}`;
}

/** `2 minutes ago` for a unix-seconds timestamp; a zero time (unknown) gives ''. */
export function timeAgo(unixSeconds: number, now: number = Date.now()): string {
  if (!unixSeconds) return '';
  return `${humanDuration(Math.max(0, now - unixSeconds * 1000))} ago`;
}

/**
 * Docker's `--since/--until` values: unix seconds (kept), an RFC 3339 time, or a
 * Go duration (`10m`, `1h30m`) meaning that long before now. Returns unix seconds as text.
 */
export function parseTimestamp(value: string, now: number = Date.now()): string {
  const v = value.trim();
  if (/^\d+(\.\d+)?$/.test(v)) return v;
  const dur = /^(?:\d+(?:\.\d+)?(?:ns|us|µs|ms|s|m|h))+$/.test(v) ? v : undefined;
  if (dur) {
    const unit: Record<string, number> = { ns: 1e-6, us: 1e-3, µs: 1e-3, ms: 1, s: 1000, m: 60000, h: 3600000 };
    let total = 0;
    for (const m of dur.matchAll(/(\d+(?:\.\d+)?)(ns|us|µs|ms|s|m|h)/g)) total += Number(m[1]) * unit[m[2]!]!;
    return ((now - total) / 1000).toFixed(9).replace(/\.?0+$/, '');
  }
  const t = Date.parse(v);
  if (Number.isNaN(t)) throw new Error(`invalid value for time "${value}": use unix seconds, an RFC 3339 time or a duration like 10m`);
  return String(Math.floor(t / 1000));
}
