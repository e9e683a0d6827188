/**
 * The files bound at /etc/hostname, /etc/hosts and /etc/resolv.conf, written as
 * dockerd writes them.
 */
import { promises as fsp, readFileSync, writeFileSync } from 'node:fs';

export const LOOPBACK_HOSTS = '127.0.0.1\tlocalhost\n::1\tlocalhost ip6-localhost ip6-loopback\nfe00::0\tip6-localnet\nff00::0\tip6-mcastprefix\nff02::1\tip6-allnodes\nff02::2\tip6-allrouters\n';

/** The host's resolver config without loopback nameservers. */
export function containerResolvConf(hostText: string): string {
  return hostText
    .split('\n')
    .filter((l) => !/^\s*nameserver\s+(127\.|::1\s*$)/.test(l))
    .join('\n');
}

export interface ResolvOptions {
  /** Replace the host's nameservers. */
  nameservers?: string[] | null;
  search?: string[] | null;
  options?: string[] | null;
}

/** resolv.conf from the host's text (loopback resolvers dropped) with the container's overrides. */
export function resolvConf(hostText: string, o: ResolvOptions): string {
  const lines = containerResolvConf(hostText).split('\n');
  const ns = lines.filter((l) => /^\s*nameserver\s/.test(l));
  const search = lines.filter((l) => /^\s*(search|domain)\s/.test(l));
  const opts = lines.filter((l) => /^\s*options\s/.test(l));
  const rest = lines.filter((l) => l.trim() !== '' && !/^\s*(nameserver|search|domain|options)\s/.test(l) && !l.trim().startsWith('#'));
  if (!o.nameservers?.length && !o.search?.length && !o.options?.length) return containerResolvConf(hostText);
  const out = [...rest];
  out.push(...(o.search?.length ? [`search ${o.search.join(' ')}`] : search));
  out.push(...(o.nameservers?.length ? o.nameservers.map((n) => `nameserver ${n}`) : ns));
  out.push(...(o.options?.length ? [`options ${o.options.join(' ')}`] : opts));
  return out.join('\n') + '\n';
}

export interface HostsEntry {
  ip: string;
  names: string[];
}

/**
 * A legacy `--link` as given (`NAME[:ALIAS]`, either side perhaps with a leading `/`, the
 * alias perhaps as dockerd stores it, `/container/alias`): the linked container's name and the
 * alias it is known by (its name when none is given).
 */
export function parseLink(link: string): { name: string; alias: string } {
  const [target = '', alias] = link.split(':');
  const name = target.replace(/^\//, '');
  return { name, alias: (alias ?? name).split('/').filter(Boolean).pop() ?? name };
}

export const hostsLine = (ip: string, names: readonly string[]) => `${ip}\t${names.join(' ')}`;

/** Loopback names, extra hosts (--add-host, --link), then the container's own addresses (one per network). */
export function hostsFile(extra: readonly HostsEntry[], self?: HostsEntry | readonly HostsEntry[]): string {
  let s = LOOPBACK_HOSTS;
  for (const e of extra) s += `${hostsLine(e.ip, e.names)}\n`;
  for (const e of self === undefined ? [] : Array.isArray(self) ? self : [self]) s += `${hostsLine(e.ip, e.names)}\n`;
  return s;
}

export async function writeFiles(
  files: { hostname: string; hosts: string; resolvConf: string },
  content: { hostname: string; hosts: string; resolvConf: string },
  owner?: { uid: number; gid: number },
): Promise<void> {
  // Three small files into the page cache: synchronous writes take microseconds, where
  // nine trips through the thread pool waited behind whatever else was queued there.
  writeFileSync(files.hostname, content.hostname);
  writeFileSync(files.hosts, content.hosts);
  writeFileSync(files.resolvConf, content.resolvConf);
  if (owner) await Promise.all([files.hostname, files.hosts, files.resolvConf].map((p) => fsp.chown(p, owner.uid, owner.gid)));
}

let hostResolvCache: { text: string; at: number } | undefined;
/** The host's /etc/resolv.conf, read at most once a second. */
export async function hostResolvConf(path = '/etc/resolv.conf'): Promise<string> {
  if (path === '/etc/resolv.conf' && hostResolvCache && Date.now() - hostResolvCache.at < 1000) return hostResolvCache.text;
  let text = '';
  try {
    text = readFileSync(path, 'utf8');
  } catch {
    // no host resolver config: the container gets an empty one
  }
  if (path === '/etc/resolv.conf') hostResolvCache = { text, at: Date.now() };
  return text;
}
