/**
 * Registry credentials as the docker CLI sends them: the `X-Registry-Auth` header
 * (base64url JSON of an auth config: username, password, serveraddress,
 * identitytoken, registrytoken) on pull and push, and the same JSON as the body
 * of `POST /auth`. Field names match case-insensitively, as dockerd's decoder does.
 */
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
  const raw = Array.isArray(header) ? header[0] : header;
  if (!raw) return undefined;
  let parsed: unknown;
  try {
    parsed = JSON.parse(Buffer.from(raw.replace(/-/g, '+').replace(/_/g, '/'), 'base64').toString('utf8'));
  } catch {
    return undefined;
  }
  return credentialsOf(authConfigOf(parsed));
}

export function credentialsOf(a: AuthConfig): Credentials | undefined {
  if (a.registrytoken) return { registryToken: a.registrytoken };
  if (a.identitytoken) return { identityToken: a.identitytoken, ...(a.username ? { username: a.username } : {}) };
  if (a.username || a.password) return { username: a.username, password: a.password };
  return undefined;
}
