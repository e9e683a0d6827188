/**
 * Validation of everything a client puts in a registry URL before it is used to
 * build a path: repository names, tags, digests and upload ids. Each pattern is
 * anchored and excludes `/`-escapes and dot segments, so a value that passes can
 * be joined under the registry root without leaving it.
 */

// distribution-spec "Pulling manifests": the <name> grammar, one or more path components.
const COMPONENT = '[a-z0-9]+(?:(?:\\.|_|__|-+)[a-z0-9]+)*';
const NAME_RE = new RegExp(`^${COMPONENT}(?:/${COMPONENT})*$`);
// Clients limit host + "/" + name to 255 characters; a longer name alone can never be pulled.
export const MAX_NAME_LENGTH = 255;
const TAG_RE = /^[a-zA-Z0-9_][a-zA-Z0-9._-]{0,127}$/;
const UPLOAD_ID_RE = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/;

/** The digest algorithms this registry can verify, with their hex lengths. */
export const DIGEST_ALGORITHMS = { sha256: 64, sha512: 128 } as const;
export type DigestAlgorithm = keyof typeof DIGEST_ALGORITHMS;

/** A digest split into its parts; `digest` is the canonical `alg:hex` string. */
export interface ParsedDigest {
  algorithm: DigestAlgorithm;
  hex: string;
  digest: string;
}

export const isValidRepositoryName = (name: string): boolean => name.length <= MAX_NAME_LENGTH && NAME_RE.test(name);
export const isValidTagName = (tag: string): boolean => TAG_RE.test(tag);
export const isValidUploadId = (id: string): boolean => UPLOAD_ID_RE.test(id);

/**
 * Parses `alg:hex` for a supported algorithm with lowercase hex of the right
 * length; anything else (other algorithms, uppercase, short hex) is undefined.
 */
export function parseDigest(s: unknown): ParsedDigest | undefined {
  if (typeof s !== 'string') return undefined;
  const colon = s.indexOf(':');
  if (colon < 0) return undefined;
  const algorithm = s.slice(0, colon);
  const hex = s.slice(colon + 1);
  if (!Object.prototype.hasOwnProperty.call(DIGEST_ALGORITHMS, algorithm)) return undefined;
  const len = DIGEST_ALGORITHMS[algorithm as DigestAlgorithm];
  if (hex.length !== len || !/^[a-f0-9]+$/.test(hex)) return undefined;
  return { algorithm: algorithm as DigestAlgorithm, hex, digest: s };
}

/** True when `s` looks like a digest of any algorithm (`alg:encoded`), supported or not. */
export const looksLikeDigest = (s: string): boolean => /^[a-z0-9]+(?:[+._-][a-z0-9]+)*:[a-zA-Z0-9=_-]+$/.test(s);
