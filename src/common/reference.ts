import { type Digest, isDigest } from './ids';
import { invalidArgument } from './errors';

/**
 * A normalized image reference, as Docker's distribution/reference package
 * produces with ParseNormalizedNamed: `busybox` is domain `docker.io`, path
 * `library/busybox`. A reference may carry a tag, a digest, both or neither.
 */
export interface Reference {
  domain: string;
  path: string;
  tag?: string;
  digest?: Digest;
}

export const DEFAULT_DOMAIN = 'docker.io';
export const DEFAULT_TAG = 'latest';
const LEGACY_DEFAULT_DOMAIN = 'index.docker.io';
const OFFICIAL_REPO_PREFIX = 'library/';
const NAME_TOTAL_LENGTH_MAX = 255;

// The grammar from distribution/reference (regexp.go), assembled the same way.
const alphaNumeric = '[a-z0-9]+';
const separator = '(?:[._]|__|[-]+)';
const pathComponent = `${alphaNumeric}(?:${separator}${alphaNumeric})*`;
const domainNameComponent = '(?:[a-zA-Z0-9]|[a-zA-Z0-9][a-zA-Z0-9-]*[a-zA-Z0-9])';
const domainName = `${domainNameComponent}(?:\\.${domainNameComponent})*`;
const ipv6address = '\\[(?:[a-fA-F0-9:]+)\\]';
const host = `(?:${domainName}|${ipv6address})`;
const domainAndPort = `${host}(?::[0-9]+)?`;
const tagPattern = '[\\w][\\w.-]{0,127}';
const digestPattern = '[A-Za-z][A-Za-z0-9]*(?:[-_+.][A-Za-z][A-Za-z0-9]*)*[:][0-9a-fA-F]{32,}';
const namePattern = `(?:${domainAndPort}/)?${pathComponent}(?:/${pathComponent})*`;
const REFERENCE_RE = new RegExp(`^(${namePattern})(?::(${tagPattern}))?(?:@(${digestPattern}))?$`);
const ANCHORED_IDENTIFIER_RE = /^[a-f0-9]{64}$/;
const TAG_RE = new RegExp(`^${tagPattern}$`);
const DOMAIN_RE = new RegExp(`^${domainAndPort}$`);

const invalidFormat = (detail?: string) =>
  invalidArgument(detail ? `invalid reference format: ${detail}` : 'invalid reference format');

/**
 * Parses and normalizes an image reference the way the docker CLI and daemon do.
 * Failures are invalid-argument errors with Docker's wording
 * (`invalid reference format`, `… repository name (library/Busybox) must be lowercase`).
 */
export function parseReference(s: string): Reference {
  if (ANCHORED_IDENTIFIER_RE.test(s)) {
    throw invalidArgument(`invalid repository name (${s}), cannot specify 64-byte hexadecimal strings`);
  }
  const [domain, remainder] = splitDockerDomain(s);
  const tagSep = remainder.indexOf(':');
  const remoteName = tagSep > -1 ? remainder.slice(0, tagSep) : remainder;
  if (remoteName.toLowerCase() !== remoteName) {
    throw invalidFormat(`repository name (${remoteName}) must be lowercase`);
  }
  const full = `${domain}/${remainder}`;
  const m = REFERENCE_RE.exec(full);
  if (!m) {
    if (s === '') throw invalidFormat('repository name must have at least one component');
    throw invalidFormat();
  }
  const name = m[1]!;
  if (name.length > NAME_TOTAL_LENGTH_MAX) {
    throw invalidFormat(`repository name must not be more than ${NAME_TOTAL_LENGTH_MAX} characters`);
  }
  const ref: Reference = { domain, path: name.slice(domain.length + 1) };
  if (m[2] !== undefined) ref.tag = m[2];
  if (m[3] !== undefined) {
    if (!isDigest(m[3])) {
      // Only sha256 is supported, lowercase, exactly 64 hex characters.
      throw invalidFormat(`invalid digest ${m[3]}: only sha256 digests of 64 lowercase hex characters are supported`);
    }
    ref.digest = m[3];
  }
  return ref;
}

/** Like distribution/reference's splitDockerDomain. */
function splitDockerDomain(name: string): [string, string] {
  const slash = name.indexOf('/');
  if (slash < 0) return [DEFAULT_DOMAIN, OFFICIAL_REPO_PREFIX + name];
  const maybeDomain = name.slice(0, slash);
  const maybeRemote = name.slice(slash + 1);
  let domain: string;
  let remote: string;
  if (maybeDomain === 'localhost') [domain, remote] = [maybeDomain, maybeRemote];
  else if (maybeDomain === LEGACY_DEFAULT_DOMAIN) [domain, remote] = [DEFAULT_DOMAIN, maybeRemote];
  else if (/[.:]/.test(maybeDomain)) [domain, remote] = [maybeDomain, maybeRemote];
  // Namespaces are lowercase, so an uppercase first element must be a host name.
  else if (maybeDomain.toLowerCase() !== maybeDomain) [domain, remote] = [maybeDomain, maybeRemote];
  else [domain, remote] = [DEFAULT_DOMAIN, name];
  if (domain === DEFAULT_DOMAIN && !remote.includes('/')) remote = OFFICIAL_REPO_PREFIX + remote;
  return [domain, remote];
}

/** True when `tag` is a valid tag (`[\w][\w.-]{0,127}`). */
export const isValidTag = (tag: string): boolean => TAG_RE.test(tag);
/** True when `domain` is a valid registry host[:port]. */
export const isValidDomain = (domain: string): boolean => DOMAIN_RE.test(domain);

/** The short name users type: `busybox`, `myorg/app`, `localhost:5000/x`. */
export function familiarName(ref: Reference): string {
  if (ref.domain !== DEFAULT_DOMAIN) return `${ref.domain}/${ref.path}`;
  if (ref.path.startsWith(OFFICIAL_REPO_PREFIX)) {
    const rest = ref.path.slice(OFFICIAL_REPO_PREFIX.length);
    if (!rest.includes('/')) return rest;
  }
  return ref.path;
}

/** familiarName plus `:tag` and `@digest` when present: `busybox:latest`. */
export function familiarString(ref: Reference): string {
  return familiarName(ref) + suffix(ref);
}

/** The fully qualified name without tag or digest: `docker.io/library/busybox`. */
export function fullName(ref: Reference): string {
  return `${ref.domain}/${ref.path}`;
}

/** fullName plus `:tag` and `@digest` when present: `docker.io/library/busybox:latest`. */
export function fullString(ref: Reference): string {
  return fullName(ref) + suffix(ref);
}

function suffix(ref: Reference): string {
  return (ref.tag !== undefined ? `:${ref.tag}` : '') + (ref.digest !== undefined ? `@${ref.digest}` : '');
}

/** Adds the `latest` tag when the reference has neither tag nor digest. */
export function withDefaultTag(ref: Reference): Reference {
  if (ref.tag !== undefined || ref.digest !== undefined) return ref;
  return { ...ref, tag: DEFAULT_TAG };
}

/** The same repository with `tag` (validated) and no digest. */
export function withTag(ref: Reference, tag: string): Reference {
  if (!isValidTag(tag)) throw invalidArgument(`invalid tag format: ${JSON.stringify(tag)}`);
  return { domain: ref.domain, path: ref.path, tag };
}

/**
 * The index a `docker search` term names (its first component, when that names a host: it
 * has a `.` or a `:`, or is `localhost`), and the rest; no index means Docker Hub's.
 */
export function splitSearchTerm(term: string): { index: string | undefined; remote: string } {
  const slash = term.indexOf('/');
  const first = slash < 0 ? '' : term.slice(0, slash);
  if (slash < 0 || (!first.includes('.') && !first.includes(':') && first !== 'localhost')) return { index: undefined, remote: term };
  return { index: first, remote: term.slice(slash + 1) };
}
