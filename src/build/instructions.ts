/**
 * Small pieces of instruction semantics: flags, key=value lists, ports, durations,
 * mounts of RUN. Each throws invalid-argument worded for the user; builder.ts adds
 * the line.
 */
import { invalidArgument } from '../common';
import { processWord, processWords, splitWordsRaw, type Lookup } from './shell-lex';

export interface Flags {
  values: Map<string, string[]>;
  get(name: string): string | undefined;
  all(name: string): string[];
  has(name: string): boolean;
}

/** Parses `--name=value` / `--name` words, allowing only `allowed` names. */
export function parseFlags(keyword: string, raw: string[], allowed: string[], env: Lookup, escape: string): Flags {
  const values = new Map<string, string[]>();
  for (const w of raw) {
    const m = /^--([A-Za-z0-9-]+)(?:=([\s\S]*))?$/.exec(w);
    if (!m) throw invalidArgument(`${keyword}: invalid flag ${w}`);
    const name = m[1]!;
    if (!allowed.includes(name)) throw invalidArgument(`Unknown flag: ${name}`);
    const v = m[2] === undefined ? 'true' : processWord(m[2], env, escape);
    values.set(name, [...(values.get(name) ?? []), v]);
  }
  return {
    values,
    get: (n) => values.get(n)?.at(-1),
    all: (n) => values.get(n) ?? [],
    has: (n) => values.has(n),
  };
}

/** `k=v k2="v 2"` (or the legacy `k v` form when `legacy`) after substitution. */
export function parseKeyValues(keyword: string, rest: string, env: Lookup, escape: string, legacy: boolean): [string, string][] {
  const raw = splitWordsRaw(rest, escape);
  if (raw.length === 0) throw invalidArgument(`${keyword} requires at least one argument`);
  if (legacy && !raw[0]!.includes('=')) {
    // ENV name value…: the rest of the line is the value
    const name = raw[0]!;
    const value = rest.trim().slice(name.length).trim();
    if (value === '') throw invalidArgument(`${keyword} must have two arguments`);
    return [[processWord(name, env, escape), processWord(value, env, escape)]];
  }
  const out: [string, string][] = [];
  for (const w of raw) {
    const eq = w.indexOf('=');
    if (eq <= 0) throw invalidArgument(`${keyword} names can not be blank` + (eq < 0 ? `: ${w} has no '='; use ${keyword} ${w}=value` : ''));
    out.push([processWord(w.slice(0, eq), env, escape), processWord(w.slice(eq + 1), env, escape)]);
  }
  return out;
}

/** EXPOSE's words as `port/proto` keys (ranges expanded). */
export function exposedPorts(words: string[]): string[] {
  const out: string[] = [];
  for (const w of words) {
    const m = /^(\d+)(?:-(\d+))?(?:\/(tcp|udp|sctp))?$/i.exec(w);
    if (!m) throw invalidArgument(`invalid containerPort: ${w.split('/')[0]}`);
    const a = Number(m[1]);
    const b = m[2] ? Number(m[2]) : a;
    if (b < a || b > 65535) throw invalidArgument(`invalid range specified for container port: ${w}`);
    for (let p = a; p <= b; p++) out.push(`${p}/${(m[3] ?? 'tcp').toLowerCase()}`);
  }
  return out;
}

const UNITS: Record<string, number> = { ns: 1, us: 1e3, µs: 1e3, ms: 1e6, s: 1e9, m: 60e9, h: 3600e9 };

/** A Go duration (`30s`, `1m30s`, `500ms`) in nanoseconds. */
export function parseDuration(flag: string, s: string): number {
  if (s === '0') return 0;
  const re = /(\d+(?:\.\d+)?)(ns|us|µs|ms|s|m|h)/gy;
  let total = 0;
  let pos = 0;
  let m: RegExpExecArray | null;
  while ((m = re.exec(s))) {
    total += Number(m[1]) * UNITS[m[2]!]!;
    pos = re.lastIndex;
  }
  if (pos !== s.length || s === '') throw invalidArgument(`time: invalid duration "${s}" in --${flag}`);
  return Math.round(total);
}

export interface MountSpec {
  type: 'bind' | 'cache' | 'tmpfs';
  target: string;
  source?: string;
  from?: string;
  id?: string;
  sharing: 'shared' | 'private' | 'locked';
  readonly: boolean;
  mode?: number;
  uid?: number;
  gid?: number;
  size?: number;
}

/** One `--mount=type=…,target=…` of RUN. */
export function parseMount(text: string): MountSpec {
  const fields = new Map<string, string>();
  for (const part of text.split(',')) {
    if (part === '') continue;
    const eq = part.indexOf('=');
    const k = (eq < 0 ? part : part.slice(0, eq)).trim().toLowerCase();
    fields.set(k, eq < 0 ? 'true' : part.slice(eq + 1));
  }
  const type = fields.get('type') ?? 'bind';
  if (type === 'secret' || type === 'ssh') throw invalidArgument(`mount type ${type} is not supported by this builder: no secrets or ssh agents are forwarded`);
  if (type !== 'bind' && type !== 'cache' && type !== 'tmpfs') throw invalidArgument(`unsupported mount type "${type}"`);
  const target = fields.get('target') ?? fields.get('dst') ?? fields.get('destination');
  if (!target) throw invalidArgument(`mount type=${type} needs a target: add target=/path`);
  const known = ['type', 'target', 'dst', 'destination', 'source', 'src', 'from', 'id', 'sharing', 'readonly', 'ro', 'rw', 'readwrite', 'mode', 'uid', 'gid', 'size', 'required'];
  for (const k of fields.keys()) if (!known.includes(k)) throw invalidArgument(`unexpected key '${k}' in '${text}'`);
  const sharing = (fields.get('sharing') ?? 'shared') as MountSpec['sharing'];
  if (!['shared', 'private', 'locked'].includes(sharing)) throw invalidArgument(`unsupported sharing value "${sharing}"`);
  const bool = (k: string) => fields.has(k) && ['', 'true', '1'].includes(fields.get(k)!.toLowerCase());
  const ro = bool('readonly') || bool('ro');
  const rw = bool('rw') || bool('readwrite');
  const num = (k: string, base = 10) => (fields.has(k) ? parseInt(fields.get(k)!, base) : undefined);
  const src = fields.get('source') ?? fields.get('src');
  return {
    type,
    target,
    ...(src !== undefined ? { source: src } : {}),
    ...(fields.has('from') ? { from: fields.get('from')! } : {}),
    ...(fields.has('id') ? { id: fields.get('id')! } : {}),
    sharing,
    readonly: type === 'bind' ? !rw : ro,
    ...(fields.has('mode') ? { mode: num('mode', 8)! } : {}),
    ...(fields.has('uid') ? { uid: num('uid')! } : {}),
    ...(fields.has('gid') ? { gid: num('gid')! } : {}),
    ...(fields.has('size') ? { size: parseSize(fields.get('size')!) } : {}),
  };
}

function parseSize(s: string): number {
  const m = /^(\d+)([kmgt]?)b?$/i.exec(s.trim());
  if (!m) throw invalidArgument(`invalid size ${s}`);
  const mult = { '': 1, k: 1024, m: 1024 ** 2, g: 1024 ** 3, t: 1024 ** 4 }[m[2]!.toLowerCase()]!;
  return Number(m[1]) * mult;
}

/** Words after substitution (COPY sources, VOLUME, EXPOSE). */
export function words(rest: string, env: Lookup, escape: string): string[] {
  return processWords(rest, env, escape);
}

/** Proxy variables usable without an ARG, left out of history and cache keys (Docker's). */
export const PROXY_ARGS = ['HTTP_PROXY', 'http_proxy', 'HTTPS_PROXY', 'https_proxy', 'FTP_PROXY', 'ftp_proxy', 'NO_PROXY', 'no_proxy', 'ALL_PROXY', 'all_proxy'];
