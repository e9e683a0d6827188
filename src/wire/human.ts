/** Docker's HumanDuration: `Less than a second`, `3 seconds`, `About a minute`, `2 hours`, `3 weeks`. */
export function humanDuration(ms: number): string {
  const seconds = Math.floor(ms / 1000);
  if (seconds < 1) return 'Less than a second';
  if (seconds === 1) return '1 second';
  if (seconds < 60) return `${seconds} seconds`;
  const minutes = Math.floor(ms / 60000);
  if (minutes === 1) return 'About a minute';
  if (minutes < 60) return `${minutes} minutes`;
  const hours = Math.round(ms / 3600000);
  if (hours === 1) return 'About an hour';
  if (hours < 48) return `${hours} hours`;
  if (hours < 24 * 7 * 2) return `${Math.floor(hours / 24)} days`;
  if (hours < 24 * 30 * 2) return `${Math.floor(hours / 24 / 7)} weeks`;
  if (hours < 24 * 365 * 2) return `${Math.floor(hours / 24 / 30)} months`;
  return `${Math.floor(Math.floor(ms / 3600000) / 24 / 365)} years`;
}

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
