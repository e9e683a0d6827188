import { bytesSize, goFormatG, humanDuration, humanSize } from '../../wire';

export { bytesSize, goFormatG, humanDuration, humanSize };

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
  // The docker CLI's words (its callers add `invalid value for "since": ` where docker does).
  if (Number.isNaN(t)) throw new Error(`failed to parse value as time or duration: "${value}"`);
  return String(Math.floor(t / 1000));
}
