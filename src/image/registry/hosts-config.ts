/**
 * Registry mirrors read from a directory in containerd's `hosts.toml` layout
 * (berthd --registry-config DIR): `DIR/<registry host>/hosts.toml` names where that
 * registry's content is fetched from.
 *
 *   server = "http://127.0.0.1:5055"        # the mirror; no fallback to the origin
 *   [host."http://127.0.0.1:5055"]          # (or a host section; the first one wins)
 *     capabilities = ["pull", "resolve"]
 *
 * Only the subset a mirror needs is read: `server` and the `[host."URL"]` section
 * names. A registry with a file is reached at that URL only.
 */
import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { invalidArgument } from '../../common';

/** Registry host (as references name it: `registry.k8s.io`, `docker.io`) → base URL without trailing slash. */
export type RegistryMirrors = Map<string, string>;

export function parseHostsToml(text: string, file: string): string | undefined {
  let server: string | undefined;
  let firstHost: string | undefined;
  let inTable = false;
  for (const raw of text.split('\n')) {
    const line = raw.replace(/(^|\s)#.*$/, '').trim();
    if (!line) continue;
    const table = /^\[\s*host\s*\.\s*"([^"]+)"\s*\]$/.exec(line);
    if (table) {
      firstHost ??= table[1];
      inTable = true;
      continue;
    }
    if (line.startsWith('[')) {
      inTable = true;
      continue;
    }
    const kv = /^server\s*=\s*"([^"]*)"$/.exec(line);
    if (kv && !inTable) server = kv[1];
  }
  const url = firstHost ?? server;
  if (url === undefined) return undefined;
  if (!/^https?:\/\/[^/]+/.test(url)) throw invalidArgument(`${file}: registry address ${JSON.stringify(url)} must start with http:// or https://`);
  return url.replace(/\/+$/, '').replace(/\/v2$/, '');
}

/** Every `<host>/hosts.toml` under `dir`; a missing dir has none. */
export function loadRegistryMirrors(dir: string): RegistryMirrors {
  const out: RegistryMirrors = new Map();
  let names: string[];
  try {
    names = readdirSync(dir);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return out;
    throw err;
  }
  for (const name of names.sort()) {
    const file = join(dir, name, 'hosts.toml');
    let text: string;
    try {
      text = readFileSync(file, 'utf8');
    } catch {
      continue;
    }
    const url = parseHostsToml(text, file);
    if (url) out.set(name, url);
  }
  return out;
}
