/**
 * Registry credentials as the docker CLI sends them: the `X-Registry-Auth` header
 * (base64url JSON of an auth config: username, password, serveraddress,
 * identitytoken, registrytoken) on pull and push, and the same JSON as the body
 * of `POST /auth`. Field names match case-insensitively, as dockerd's decoder does.
 */
import { invalidArgument, parseReference } from '../common';
import type { Credentials } from '../engine';

export interface AuthConfig {
  username: string;
  password: string;
  serveraddress: string;
  identitytoken: string;
  registrytoken: string;
}

/** An auth config object (already parsed JSON) with its fields picked whatever their case. */
export function authConfigOf(value: unknown): AuthConfig {
  const out: AuthConfig = { username: '', password: '', serveraddress: '', identitytoken: '', registrytoken: '' };
  if (typeof value !== 'object' || value === null || Array.isArray(value)) return out;
  for (const [k, v] of Object.entries(value)) {
    const key = k.toLowerCase() as keyof AuthConfig;
    if (key in out && typeof v === 'string') out[key] = v;
  }
  return out;
}

/**
 * The credentials an `X-Registry-Auth` value carries; undefined for none. A value
 * that does not decode is treated as no credentials, as dockerd does.
 */
export function registryCredentials(header: string | string[] | undefined): Credentials | undefined {
  const parsed = decodeHeader(header);
  return parsed === undefined ? undefined : credentialsOf(authConfigOf(parsed));
}

/** A header's base64url JSON, parsed; undefined when absent or not decodable. */
function decodeHeader(header: string | string[] | undefined): unknown {
  const raw = Array.isArray(header) ? header[0] : header;
  if (!raw) return undefined;
  try {
    return JSON.parse(Buffer.from(raw.replace(/-/g, '+').replace(/_/g, '/'), 'base64').toString('utf8'));
  } catch {
    return undefined;
  }
}

export function credentialsOf(a: AuthConfig): Credentials | undefined {
  if (a.registrytoken) return { registryToken: a.registrytoken };
  if (a.identitytoken) return { identityToken: a.identitytoken, ...(a.username ? { username: a.username } : {}) };
  if (a.username || a.password) return { username: a.username, password: a.password };
  return undefined;
}

/**
 * The credentials `docker build` sends for every registry it knows (`X-Registry-Config`:
 * base64 JSON of registry address → auth config), by registry domain. Entries that do
 * not decode are left out, as an undecodable X-Registry-Auth is.
 */
export function registryConfigCredentials(header: string | string[] | undefined): Record<string, Credentials> | undefined {
  const parsed = decodeHeader(header);
  if (typeof parsed !== 'object' || parsed === null || Array.isArray(parsed)) return undefined;
  const out: Record<string, Credentials> = {};
  for (const [address, config] of Object.entries(parsed)) {
    const credentials = credentialsOf(authConfigOf(config));
    if (!credentials) continue;
    try {
      out[registryDomain(address)] = credentials;
    } catch {
      // not a registry address
    }
  }
  return out;
}

/** dockerd's names for Docker Hub in auth configs. */
const HUB_ADDRESSES = new Set(['', 'docker.io', 'index.docker.io', 'https://index.docker.io/v1/', 'registry-1.docker.io']);

/** The registry an auth config's serveraddress names (`https://host:5000/v2/` → `host:5000`). */
export function registryDomain(address: string): string {
  if (HUB_ADDRESSES.has(address)) return 'docker.io';
  const host = address.replace(/^https?:\/\//, '').replace(/\/.*$/, '');
  try {
    // The reference grammar checks the host (and port) the same way a pull would.
    return parseReference(`${host}/x`).domain;
  } catch (err) {
    throw invalidArgument(`invalid registry address ${JSON.stringify(address)}: use HOST[:PORT], e.g. 127.0.0.1:5000`, err);
  }
}
