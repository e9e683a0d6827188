/**
 * A container's log configuration (Docker's HostConfig.LogConfig), checked at create.
 *
 * Berth keeps a container's output one way: conmon writes it to the container's log
 * file in the k8s-file layout (`TIME STREAM F|P text` lines), also while berthd is
 * down, and `logs` and attach read it back through the API. Drivers are names for that
 * file, as Podman does it: docker-py's `containers.run` returns the output only for
 * json-file (or journald), so json-file is what the default driver is called. The
 * choice against writing Docker's JSON lines: conmon can write k8s-file while no
 * daemon runs, which JSON lines would need berthd for; shippers that parse Docker's
 * JSON files are the cost, and the file's layout is documented here for them.
 *
 * Contract
 * - Drivers: `json-file` (the default), `local`, `k8s-file` and `none`. A container
 *   without a Type gets the daemon's default driver and, for options it does not set,
 *   the daemon's default options (daemon.json `log-driver` / `log-opts`). Any other
 *   driver is refused with dockerd's words (invalid-argument), as is an option the
 *   driver does not know.
 * - `max-size` bounds the file: conmon starts it afresh past that size (keeping the
 *   newest lines, never leaving a half-written file), while the container runs and
 *   while berthd is down. With `max-file` N > 1 the full file is kept as `<LogPath>.1`
 *   (older ones move to `.2` … `.N-1`, the oldest goes), as Docker rotates json-file
 *   logs: conmon does it, with berth-logrotate.so loaded (runtime/monitor.ts), so also
 *   while berthd is down; `logs` reads across the files. `compress=true` gzips the kept
 *   files into `<LogPath>.1.gz` …, as dockerd names them (the same library, right after
 *   each rotation). Without that library (no C compiler at build) max-file and compress
 *   are accepted and not applied, with a warning; create names them.
 * - json-file's `labels`, `labels-regex`, `env`, `env-regex` and `tag` name what
 *   `logs --details` shows before each message (logDetails); k8s-file's `tag` is accepted
 *   and not applied, with a warning.
 * - compress is a Go boolean, and json-file refuses it true without max-size and a
 *   max-file of at least 2, in dockerd's words.
 * - `local` has dockerd's local defaults for what is left out: max-size 20 MiB, max-file 5,
 *   compress true (so max-file=1 alone is refused, as dockerd refuses it). Inspect shows
 *   only what was given, as dockerd's does.
 * - Bad values are refused at create in dockerd's words: max-size a size, max-file a
 *   whole number of at least 1.
 * - `none`: the output is kept in the file for attach, but `logs` refuses with
 *   dockerd's message, as dockerd does for a driver that cannot be read.
 * - The built-in options `mode` and `max-buffer-size` are checked as dockerd checks them.
 */
import { hostname } from 'node:os';
import { invalidArgument } from '../common';
import { logRotationAvailable } from '../runtime';
import type { LogConfig } from './container-model';

export const DEFAULT_LOG_DRIVER = 'json-file';

/** The log drivers `docker info` lists: what a container's LogConfig.Type may name. */
export const LOG_DRIVERS = ['json-file', 'local', 'k8s-file', 'none'] as const;

/** Each driver's options, as dockerd's drivers accept them. */
const DRIVER_OPTIONS: Record<string, ReadonlySet<string>> = {
  'json-file': new Set(['max-file', 'max-size', 'compress', 'labels', 'labels-regex', 'env', 'env-regex', 'tag']),
  local: new Set(['max-file', 'max-size', 'compress']),
  'k8s-file': new Set(['max-size', 'tag']),
  none: new Set(),
};
const BUILT_IN = new Set(['mode', 'max-buffer-size']);
/** Options that take effect (max-file and compress too, where rotation is available); every other known one is accepted with a warning. */
const APPLIED = new Set(['max-size', 'mode', 'max-buffer-size']);
/** json-file's options that name what `logs --details` shows before each message (logDetails). */
const DETAIL_OPTIONS = new Set(['labels', 'labels-regex', 'env', 'env-regex', 'tag']);
const WITH_ROTATION = new Set(['max-file', 'compress']);

/** The message `logs` answers for a container whose driver cannot be read. */
export const UNREADABLE_LOG = 'configured logging driver does not support reading';

/**
 * The configuration a container gets (its type and default options filled in) and the
 * warnings for create. `defaults` is the daemon's default configuration.
 */
export function checkLogConfig(given: LogConfig, defaults: LogConfig = { type: DEFAULT_LOG_DRIVER, config: {} }): { logConfig: LogConfig; warnings: string[] } {
  const type = given.type || defaults.type || DEFAULT_LOG_DRIVER;
  const config = type === defaults.type ? { ...defaults.config, ...given.config } : { ...given.config };
  const logConfig = { type, config };
  const mode = config.mode ?? '';
  if (!['', 'blocking', 'non-blocking'].includes(mode)) throw invalidArgument(`logger: logging mode not supported: ${mode}`);
  if ('max-buffer-size' in config && mode !== 'non-blocking') {
    throw invalidArgument("logger: max-buffer-size option is only supported with 'mode=non-blocking'");
  }
  const known = DRIVER_OPTIONS[type];
  if (!known) throw invalidArgument(`logger: no log driver named '${type}' is registered`);
  const unapplied: string[] = [];
  for (const key of Object.keys(config)) {
    if (BUILT_IN.has(key)) continue;
    if (!known.has(key)) throw invalidArgument(`unknown log opt '${key}' for ${type} log driver`);
    if (APPLIED.has(key) || (type === 'json-file' && DETAIL_OPTIONS.has(key))) continue;
    if (!(WITH_ROTATION.has(key) && logRotationAvailable())) unapplied.push(key);
  }
  if (config['max-size'] !== undefined) parseSize(config['max-size'], type);
  if (config['max-file'] !== undefined) parseFileCount(config['max-file']);
  if (config.compress !== undefined || type === 'local') checkCompress(type, { ...(type === 'local' ? LOCAL_DEFAULTS : {}), ...config });
  const why = unapplied.includes('max-file') ? "the container's log is one file, bounded by max-size" : 'berth keeps the log as conmon writes it';
  const warnings = unapplied.length ? [`log options not applied: ${unapplied.join(', ')}: ${why}`] : [];
  return { logConfig, warnings };
}

/** What logDetails needs to know of the container. */
export interface LogSubject {
  id: string;
  name: string;
  imageId: string;
  /** The image as the user named it. */
  image: string;
  labels: Record<string, string>;
  env: readonly string[];
  path: string;
  args: readonly string[];
}

/**
 * What `logs --details` shows before each message of a json-file log, as dockerd keeps it
 * with each line: the container labels that `labels` names or `labels-regex` matches, the
 * environment variables that `env` names or `env-regex` matches, and `tag` (its template
 * filled in), as `key=value` pairs sorted by key and joined with commas, each side escaped
 * as Go's url.QueryEscape does. Empty when none applies. berth writes no attributes into
 * the log file; they are the same for every line of a container, so they are worked out here.
 */
export function logDetails(c: LogConfig, ctr: LogSubject): string {
  if (c.type !== 'json-file') return '';
  const attrs = new Map<string, string>();
  const matching = (source: string | undefined): RegExp | undefined => {
    if (!source) return undefined;
    try {
      return new RegExp(source);
    } catch {
      // dockerd refuses to start such a container's logger; here the option shows nothing.
      return undefined;
    }
  };
  const pick = (named: string | undefined, pattern: string | undefined, from: Map<string, string>) => {
    for (const k of named ? named.split(',') : []) if (from.has(k)) attrs.set(k, from.get(k)!);
    const re = matching(pattern);
    if (re) for (const [k, v] of from) if (re.test(k)) attrs.set(k, v);
  };
  pick(c.config.labels, c.config['labels-regex'], new Map(Object.entries(ctr.labels)));
  const env = new Map<string, string>();
  for (const e of ctr.env) {
    const i = e.indexOf('=');
    if (i >= 0) env.set(e.slice(0, i), e.slice(i + 1));
  }
  pick(c.config.env, c.config['env-regex'], env);
  const tag = c.config.tag ? logTag(c.config.tag, ctr) : '';
  if (tag) attrs.set('tag', tag);
  return [...attrs].sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0)).map(([k, v]) => `${queryEscape(k)}=${queryEscape(v)}`).join(',');
}

/** A log tag template's fields (`{{.Name}}`, `{{.ID}}` …) filled in, as dockerd's log drivers fill them. */
function logTag(template: string, ctr: LogSubject): string {
  const fields: Record<string, string> = {
    ID: ctr.id.slice(0, 12),
    FullID: ctr.id,
    Name: ctr.name.replace(/^\//, ''),
    Command: [ctr.path, ...ctr.args].join(' '),
    ImageID: ctr.imageId.replace(/^sha256:/, '').slice(0, 12),
    ImageFullID: ctr.imageId,
    ImageName: ctr.image,
    DaemonName: 'docker',
    Hostname: hostname(),
  };
  return template.replace(/\{\{\s*\.(\w+)\s*\}\}/g, (whole, f: string) => fields[f] ?? whole);
}

/** Go's url.QueryEscape: all but letters, digits and `-_.~` as %XX, a space as `+`. */
function queryEscape(s: string): string {
  return encodeURIComponent(s).replace(/[!'()*]/g, (ch) => `%${ch.charCodeAt(0).toString(16).toUpperCase()}`).replace(/%20/g, '+');
}

/** Whether `logs` can read what a container with this configuration wrote. */
export function logsReadable(c: LogConfig): boolean {
  return c.type !== 'none';
}

/**
 * What dockerd's local driver does with options left out: files of 20 MiB, five of them,
 * the kept ones compressed.
 */
const LOCAL_DEFAULTS: Record<string, string> = { 'max-size': String(20 * 1024 * 1024), 'max-file': '5', compress: 'true' };

/** An option's value, the local driver's default where it is not given. */
function option(c: LogConfig, key: string): string | undefined {
  return c.config[key] ?? (c.type === 'local' ? LOCAL_DEFAULTS[key] : undefined);
}

/** The bytes `max-size` allows the container's log file, or undefined for no bound. */
export function logSizeLimit(c: LogConfig): number | undefined {
  const v = option(c, 'max-size');
  return sizeGiven(v) ? parseSize(v, c.type) : undefined;
}

/** How many files the log keeps (max-file, 1 when unset): rotation needs max-size too. */
export function logFileCount(c: LogConfig): number {
  const v = option(c, 'max-file');
  return v === undefined || !logRotationAvailable() ? 1 : parseFileCount(v);
}

/** Whether the kept files of the log are gzipped (compress=true, with max-file > 1 and a max-size). */
export function logCompressed(c: LogConfig): boolean {
  const v = option(c, 'compress');
  return v !== undefined && parseBool(v) === true && logFileCount(c) > 1 && logSizeLimit(c) !== undefined;
}

/** compress as dockerd's drivers check it: a Go boolean, and for json-file only with rotation. */
function checkCompress(type: string, config: Record<string, string>): void {
  const v = parseBool(config.compress!);
  if (v === undefined) {
    const why = `strconv.ParseBool: parsing ${JSON.stringify(config.compress)}: invalid syntax`;
    throw invalidArgument(`failed to initialize logging driver: ${type === 'local' ? `invalid boolean value for compress: ${why}` : why}`);
  }
  const files = config['max-file'] === undefined ? 1 : parseFileCount(config['max-file']);
  if (v && type === 'json-file' && (files < 2 || !sizeGiven(config['max-size']))) {
    throw invalidArgument('failed to initialize logging driver: compress cannot be true when max-file is less than 2 or max-size is not set');
  }
  if (v && type === 'local' && files < 2) {
    throw invalidArgument('failed to initialize logging driver: compression cannot be enabled when max file count is 1');
  }
}

/** Whether a max-size value bounds the log (empty and -1 mean no bound, as in dockerd). */
function sizeGiven(v: string | undefined): v is string {
  return v !== undefined && v !== '' && v !== '-1';
}

/** Go's strconv.ParseBool: undefined for anything it refuses. */
function parseBool(v: string): boolean | undefined {
  if (['1', 't', 'T', 'TRUE', 'true', 'True'].includes(v)) return true;
  if (['0', 'f', 'F', 'FALSE', 'false', 'False'].includes(v)) return false;
  return undefined;
}

function parseFileCount(v: string): number {
  if (!/^[+-]?\d+$/.test(v)) throw invalidArgument(`failed to initialize logging driver: max-file must be a whole number: ${JSON.stringify(v)}`);
  const n = Number(v);
  if (n < 1) throw invalidArgument('failed to initialize logging driver: max-file cannot be less than 1');
  // Beyond any count of files a log could reach: what the rotation library reads as an int.
  return Math.min(n, 2 ** 31 - 1);
}

/** Docker's size strings: `100`, `10k`, `20m`, `1g`: binary units as dockerd's RAMInBytes reads them, decimal for the local driver. */
function parseSize(v: string, type: string): number {
  const m = /^(\d+(?:\.\d+)?)\s*([kmgt]?)i?b?$/i.exec(v.trim());
  if (!m) throw invalidArgument(`invalid value for max-size: ${v}: use a size such as 10m`);
  // dockerd's local driver reads sizes in decimal units (go-units' FromHumanSize), json-file in binary ones.
  const k = type === 'local' ? 1000 : 1024;
  const unit = { '': 1, k, m: k ** 2, g: k ** 3, t: k ** 4 }[m[2]!.toLowerCase() as '' | 'k' | 'm' | 'g' | 't'];
  const bytes = Math.floor(Number(m[1]) * unit);
  if (bytes <= 0) throw invalidArgument(`invalid value for max-size: ${v}: it must be more than 0`);
  return bytes;
}
