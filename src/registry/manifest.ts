/**
 * Reading a pushed manifest: which of the four supported media types it is, the
 * content it references (so the push can be refused when that content is not in
 * the repository) and its referrers-API fields (subject, artifactType,
 * annotations). The bytes themselves are stored untouched.
 */
import { MediaType } from '../image';
import { manifestInvalid } from './errors';
import { parseDigest, type ParsedDigest } from './names';

export const MANIFEST_MEDIA_TYPES: readonly string[] = [
  MediaType.ociManifest,
  MediaType.ociIndex,
  MediaType.dockerManifest,
  MediaType.dockerManifestList,
];
const INDEX_TYPES = new Set<string>([MediaType.ociIndex, MediaType.dockerManifestList]);
// Content types a client may send when it does not name the manifest's type.
const GENERIC_TYPES = new Set(['', 'application/json', 'application/octet-stream']);

export interface ManifestDescriptor {
  mediaType: string;
  digest: string;
  size: number;
  artifactType?: string;
  annotations?: Record<string, string>;
}

export interface ManifestInfo {
  mediaType: string;
  isIndex: boolean;
  /** Blobs that must be in the repository: config and layers (foreign layers with `urls` excluded). */
  blobs: ParsedDigest[];
  /** Manifests an index lists; they must be in the repository. */
  manifests: ParsedDigest[];
  /** Every blob and manifest digest the manifest references, for garbage collection. */
  references: ParsedDigest[];
  subject?: ParsedDigest;
  /** The referrers-API artifactType: the field, else (manifests only) the config's media type. */
  artifactType?: string;
  annotations?: Record<string, string>;
}

/** The media type part of a Content-Type header, without parameters. */
export function baseMediaType(contentType: string | undefined): string {
  return (contentType ?? '').split(';')[0]!.trim().toLowerCase();
}

/**
 * Parses and checks a manifest. `contentType` is the request's Content-Type;
 * when it is generic the type comes from the `mediaType` field or, failing that,
 * from the document's shape. Throws MANIFEST_INVALID for anything malformed.
 */
export function parseManifest(bytes: Buffer, contentType: string | undefined): ManifestInfo {
  let doc: unknown;
  try {
    doc = JSON.parse(bytes.toString('utf8'));
  } catch {
    throw manifestInvalid('manifest is not valid JSON');
  }
  if (!isObject(doc)) throw manifestInvalid('manifest must be a JSON object');
  if (doc.schemaVersion !== 2) throw manifestInvalid('only schemaVersion 2 manifests are supported', { schemaVersion: doc.schemaVersion ?? null });
  const header = baseMediaType(contentType);
  const field = doc.mediaType;
  if (field !== undefined && typeof field !== 'string') throw manifestInvalid('mediaType must be a string');
  let mediaType: string;
  if (!GENERIC_TYPES.has(header)) {
    mediaType = header;
    // distribution-spec: a manifest's mediaType field and the Content-Type must agree.
    if (field !== undefined && field !== header) {
      throw manifestInvalid(`Content-Type ${header} does not match the manifest's mediaType ${field}`);
    }
  } else if (field !== undefined) {
    mediaType = field;
  } else {
    mediaType = Array.isArray(doc.manifests) ? MediaType.ociIndex : MediaType.ociManifest;
  }
  if (!MANIFEST_MEDIA_TYPES.includes(mediaType)) {
    throw manifestInvalid(`unsupported manifest media type ${mediaType}; supported are ${MANIFEST_MEDIA_TYPES.join(', ')}`);
  }
  const isIndex = INDEX_TYPES.has(mediaType);
  const info: ManifestInfo = { mediaType, isIndex, blobs: [], manifests: [], references: [] };
  if (isIndex) {
    if (!Array.isArray(doc.manifests)) throw manifestInvalid('an index needs a manifests array');
    doc.manifests.forEach((d, i) => {
      const p = descriptor(d, `manifests[${i}]`);
      info.manifests.push(p);
      info.references.push(p);
    });
  } else {
    const config = descriptor(doc.config, 'config');
    info.blobs.push(config);
    info.references.push(config);
    const layers = doc.layers ?? [];
    if (!Array.isArray(layers)) throw manifestInvalid('layers must be an array');
    layers.forEach((d, i) => {
      const p = descriptor(d, `layers[${i}]`);
      info.references.push(p);
      const urls = (d as { urls?: unknown }).urls;
      if (!(Array.isArray(urls) && urls.length > 0)) info.blobs.push(p);
    });
    const configType = (doc.config as { mediaType: string }).mediaType;
    info.artifactType = typeof doc.artifactType === 'string' && doc.artifactType ? doc.artifactType : configType;
  }
  if (isIndex && typeof doc.artifactType === 'string' && doc.artifactType) info.artifactType = doc.artifactType;
  if (doc.artifactType !== undefined && typeof doc.artifactType !== 'string') throw manifestInvalid('artifactType must be a string');
  if (doc.subject !== undefined) info.subject = descriptor(doc.subject, 'subject');
  if (doc.annotations !== undefined) {
    if (!isObject(doc.annotations) || Object.values(doc.annotations).some((v) => typeof v !== 'string')) {
      throw manifestInvalid('annotations must map strings to strings');
    }
    info.annotations = doc.annotations as Record<string, string>;
  }
  return info;
}

function descriptor(d: unknown, where: string): ParsedDigest {
  if (!isObject(d)) throw manifestInvalid(`${where} must be a descriptor object`);
  if (typeof d.mediaType !== 'string' || d.mediaType === '') throw manifestInvalid(`${where}.mediaType must be a non-empty string`);
  if (typeof d.size !== 'number' || !Number.isSafeInteger(d.size) || d.size < 0) throw manifestInvalid(`${where}.size must be a non-negative integer`);
  const p = parseDigest(d.digest);
  if (!p) throw manifestInvalid(`${where}.digest ${JSON.stringify(d.digest)} is not a supported digest (sha256 or sha512, lowercase hex)`);
  return p;
}

function isObject(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}
