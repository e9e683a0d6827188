/**
 * The bits of docker's reference grammar the CLI needs: split name/tag/digest,
 * normalise to the full name (`alpine` → `docker.io/library/alpine`) and back.
 */
export interface ParsedReference {
  name: string;
  tag?: string;
  digest?: string;
}

export function splitReference(ref: string): ParsedReference {
  let rest = ref;
  let digest: string | undefined;
  const at = rest.indexOf('@');
  if (at >= 0) {
    digest = rest.slice(at + 1);
    rest = rest.slice(0, at);
  }
  let tag: string | undefined;
  const colon = rest.lastIndexOf(':');
  if (colon > rest.lastIndexOf('/')) {
    tag = rest.slice(colon + 1);
    rest = rest.slice(0, colon);
  }
  return { name: rest, tag, digest };
}

const NAME_COMPONENT = /^[a-z0-9]+(?:(?:[._]|__|-+)[a-z0-9]+)*$/;
const TAG = /^[\w][\w.-]{0,127}$/;

/** Throws a docker-worded error for names docker would refuse. */
export function validateReference(ref: string): ParsedReference {
  const p = splitReference(ref);
  if (!p.name) throw new Error(`invalid reference format`);
  if (p.tag !== undefined && !TAG.test(p.tag)) throw new Error(`invalid reference format`);
  const parts = p.name.split('/');
  const first = parts[0]!;
  const hasDomain = parts.length > 1 && (first.includes('.') || first.includes(':') || first === 'localhost');
  const path = hasDomain ? parts.slice(1) : parts;
  if (path.some((c) => !NAME_COMPONENT.test(c))) {
    if (path.some((c) => /[A-Z]/.test(c))) throw new Error(`invalid reference format: repository name (${path.join('/')}) must be lowercase`);
    throw new Error(`invalid reference format`);
  }
  return p;
}

/** `alpine` → `docker.io/library/alpine`; `me/app` → `docker.io/me/app`; registries kept. */
export function normalizeName(name: string): string {
  const parts = name.split('/');
  const first = parts[0]!;
  if (parts.length > 1 && (first.includes('.') || first.includes(':') || first === 'localhost')) {
    return first === 'index.docker.io' ? `docker.io/${parts.slice(1).join('/')}` : name;
  }
  return parts.length === 1 ? `docker.io/library/${name}` : `docker.io/${name}`;
}

/** The short form docker prints: `docker.io/library/alpine` → `alpine`. */
export function familiarName(name: string): string {
  if (name.startsWith('docker.io/library/') && name.split('/').length === 3) return name.slice('docker.io/library/'.length);
  if (name.startsWith('docker.io/')) return name.slice('docker.io/'.length);
  return name;
}

/** `alpine` → `alpine:latest` (docker's TagNameOnly + FamiliarString), digests kept. */
export function familiarWithDefaultTag(ref: string): string {
  const p = splitReference(ref);
  const name = familiarName(p.name);
  if (p.digest) return `${name}${p.tag ? `:${p.tag}` : ''}@${p.digest}`;
  return `${name}:${p.tag ?? 'latest'}`;
}
