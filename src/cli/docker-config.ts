import { spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, readFileSync, renameSync, statSync, writeFileSync, chmodSync } from 'node:fs';
import { homedir } from 'node:os';
import { delimiter, dirname, join } from 'node:path';
import { DEFAULT_DOMAIN, type Reference } from '../common';

/** The key of Docker Hub's credentials, as the docker CLI stores them. */
export const INDEX_SERVER = 'https://index.docker.io/v1/';

/** Credentials for one registry, with the docker CLI's field names (types.AuthConfig). */
export interface AuthConfig {
  username?: string;
  password?: string;
  auth?: string;
  email?: string;
  serveraddress?: string;
  identitytoken?: string;
  registrytoken?: string;
}

/** `docker-credential-*` answers this when it holds nothing for a server. */
const NOT_FOUND = /credentials not found/i;

/** The config.json key for a reference's registry: Docker Hub's is the v1 index URL. */
export function registryKey(ref: Reference): string {
  return ref.domain === DEFAULT_DOMAIN ? INDEX_SERVER : ref.domain;
}

/** `https://host:port/path` → `host:port`, as the docker CLI's ConvertToHostname. */
export function convertToHostname(address: string): string {
  if (address.includes('://')) {
    try {
      const u = new URL(address);
      if (u.hostname) return u.host;
    } catch {
      // not a URL after all: cut at the first slash below
    }
  }
  return address.split('/')[0]!;
}

/** The X-Registry-Auth header value: base64url (padded) of the auth config's JSON, as docker's EncodeAuthConfig. */
export function encodeAuthHeader(a: AuthConfig): string {
  const ordered: AuthConfig = {};
  for (const k of ['username', 'password', 'auth', 'email', 'serveraddress', 'identitytoken', 'registrytoken'] as const) if (a[k]) ordered[k] = a[k];
  return Buffer.from(JSON.stringify(ordered)).toString('base64').replace(/\+/g, '-').replace(/\//g, '_');
}

function findOnPath(name: string, env: Record<string, string | undefined>): string | undefined {
  for (const dir of (env.PATH ?? '').split(delimiter)) {
    if (!dir) continue;
    const p = join(dir, name);
    try {
      if (statSync(p).isFile()) return p;
    } catch {
      // not in this directory
    }
  }
  return undefined;
}

/** A list's default format from the config file; none when the file is missing or unreadable. */
export function configFormat(env: Record<string, string | undefined>, key: Parameters<DockerConfig['format']>[0]): string | undefined {
  try {
    return new DockerConfig(env, () => undefined).format(key);
  } catch {
    return undefined;
  }
}

/**
 * The docker CLI's config file (`$DOCKER_CONFIG/config.json`, else `~/.docker/config.json`):
 * read once, credentials kept in `auths` as base64 `user:pass` (plus `identitytoken`),
 * or in a `docker-credential-<name>` helper named by `credHelpers`/`credsStore`. Keys
 * this class does not know are written back as they were.
 */
export class DockerConfig {
  readonly filename: string;
  private data: Record<string, unknown> = {};
  private warned = false;

  constructor(
    private readonly env: Record<string, string | undefined>,
    private readonly warn: (text: string) => void,
  ) {
    const dir = env.DOCKER_CONFIG || join(env.HOME || homedir(), '.docker');
    this.filename = join(dir, 'config.json');
    if (existsSync(this.filename)) {
      const text = readFileSync(this.filename, 'utf8');
      if (text.trim()) {
        try {
          this.data = JSON.parse(text) as Record<string, unknown>;
        } catch (e) {
          throw new Error(`loading config file: ${this.filename}: ${(e as Error).message}`);
        }
      }
    }
  }

  /** A list's default format from the file (`psFormat`, `imagesFormat`, …), used when no --format is given. */
  format(key: 'psFormat' | 'imagesFormat' | 'networksFormat' | 'volumesFormat' | 'statsFormat'): string | undefined {
    const v = this.data[key];
    return typeof v === 'string' && v ? v : undefined;
  }

  private auths(): Record<string, AuthConfig> {
    if (typeof this.data.auths !== 'object' || this.data.auths === null) this.data.auths = {};
    return this.data.auths as Record<string, AuthConfig>;
  }

  /** The helper configured for a server (credHelpers first, then credsStore), if any. */
  private helperFor(server: string): string | undefined {
    const helpers = this.data.credHelpers as Record<string, string> | undefined;
    const name = (helpers && helpers[server]) || (this.data.credsStore as string | undefined);
    return name || undefined;
  }

  /** The helper binary, or undefined (with docker-like warning) when it is not on PATH. */
  private helperBinary(server: string): string | undefined {
    const name = this.helperFor(server);
    if (!name) return undefined;
    const bin = findOnPath(`docker-credential-${name}`, this.env);
    if (!bin) this.warn(`WARNING: credential helper docker-credential-${name} not found in $PATH; using ${this.filename} instead\n`);
    return bin;
  }

  private runHelper(bin: string, action: 'get' | 'store' | 'erase', input: string): { ok: boolean; out: string } {
    const r = spawnSync(bin, [action], { input, env: this.env as NodeJS.ProcessEnv, encoding: 'utf8' });
    // A helper that exits without reading its input leaves EPIPE behind; its answer still counts.
    if (r.error && !((r.error as NodeJS.ErrnoException).code === 'EPIPE' && r.status !== null)) return { ok: false, out: r.error.message };
    return { ok: r.status === 0, out: (r.stdout || r.stderr || '').trim() };
  }

  /** Stored credentials for a server key (empty when none), with `serveraddress` set. */
  get(server: string): AuthConfig {
    const bin = this.helperBinary(server);
    if (bin) {
      const r = this.runHelper(bin, 'get', server);
      if (!r.ok) {
        if (NOT_FOUND.test(r.out)) return {};
        throw new Error(`error getting credentials - err: ${r.out}`);
      }
      const c = JSON.parse(r.out) as { ServerURL?: string; Username?: string; Secret?: string };
      if (c.Username === '<token>') return { identitytoken: c.Secret, serveraddress: server };
      return { username: c.Username, password: c.Secret, serveraddress: server };
    }
    const auths = this.auths();
    let key: string | undefined = server in auths ? server : undefined;
    // Old config files keyed a registry by its URL: match them by host name.
    if (key === undefined) key = Object.keys(auths).find((k) => convertToHostname(k) === server);
    if (key === undefined) return {};
    const entry = auths[key]!;
    const out: AuthConfig = { serveraddress: server };
    if (entry.auth) {
      const decoded = Buffer.from(entry.auth, 'base64').toString('utf8');
      const i = decoded.indexOf(':');
      if (i <= 0) throw new Error('Invalid auth configuration file');
      out.username = decoded.slice(0, i);
      out.password = decoded.slice(i + 1).replace(/\0+$/, '');
    }
    if (entry.email) out.email = entry.email;
    if (entry.identitytoken) out.identitytoken = entry.identitytoken;
    if (entry.registrytoken) out.registrytoken = entry.registrytoken;
    return out;
  }

  /** Stores credentials under `server`: in its helper, or base64 in the file (with docker's warning for a password). */
  store(server: string, a: AuthConfig): void {
    const bin = this.helperBinary(server);
    if (bin) {
      const body = a.identitytoken
        ? { ServerURL: server, Username: '<token>', Secret: a.identitytoken }
        : { ServerURL: server, Username: a.username ?? '', Secret: a.password ?? '' };
      const r = this.runHelper(bin, 'store', JSON.stringify(body));
      if (!r.ok) throw new Error(`Error saving credentials: error storing credentials - err: ${r.out}`);
      // As docker's native store: the file keeps an empty entry (only an email, if any).
      this.auths()[server] = a.email ? { email: a.email } : {};
      this.save();
      return;
    }
    const entry: AuthConfig = {};
    if (a.username || a.password) entry.auth = Buffer.from(`${a.username ?? ''}:${a.password ?? ''}`).toString('base64');
    if (a.email) entry.email = a.email;
    if (a.identitytoken) entry.identitytoken = a.identitytoken;
    if (a.registrytoken) entry.registrytoken = a.registrytoken;
    // Unchanged credentials leave the file (and the warning) alone, as docker's file store does.
    const before = this.auths()[server];
    if (before && JSON.stringify(before) === JSON.stringify(entry)) return;
    this.auths()[server] = entry;
    this.save();
    if (a.password && !this.warned) {
      this.warned = true;
      this.warn(`\nWARNING! Your credentials are stored unencrypted in '${this.filename}'.\nConfigure a credential helper to remove this warning. See\nhttps://docs.docker.com/go/credential-store/\n\n`);
    }
  }

  /** Removes a server's credentials; true when something was there. */
  erase(server: string): boolean {
    let found = false;
    const bin = this.helperBinary(server);
    if (bin) found = this.runHelper(bin, 'erase', server).ok;
    const auths = this.auths();
    if (server in auths) {
      delete auths[server];
      this.save();
      found = true;
    }
    return found;
  }

  /** tmp + rename in the same directory, mode 0600 (the directory 0700), as the docker CLI saves it. */
  private save(): void {
    const dir = dirname(this.filename);
    mkdirSync(dir, { recursive: true, mode: 0o700 });
    const auths = this.auths();
    const sorted: Record<string, AuthConfig> = {};
    for (const k of Object.keys(auths).sort()) sorted[k] = auths[k]!;
    const { auths: _, ...rest } = this.data;
    const text = JSON.stringify({ auths: sorted, ...rest }, null, '\t');
    const tmp = join(dir, `.config.json.${process.pid}.tmp`);
    writeFileSync(tmp, text, { mode: 0o600 });
    try {
      chmodSync(tmp, statSync(this.filename).mode & 0o777);
    } catch {
      // no earlier file: keep 0600
    }
    renameSync(tmp, this.filename);
  }
}
