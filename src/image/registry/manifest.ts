/**
 * Reading manifests and indexes a registry sent: hostile input, so every
 * field Berth uses is type-checked, digests must be sha256 in canonical form,
 * sizes non-negative safe integers, and lists bounded. Also: choosing one
 * platform's manifest from an index.
 */
import { isDigest, invalidArgument, failedPrecondition, notFound } from '../../common';
import { isIndexType, isManifestType, MediaType, type Descriptor, type Index, type Manifest, type Platform } from '../media-types';

export const SCHEMA1_TYPES = [
  'application/vnd.docker.distribution.manifest.v1+json',
  'application/vnd.docker.distribution.manifest.v1+prettyjws',
] as const;

/** The Accept list for manifest GETs: what Berth can use, index types first. */
export const MANIFEST_ACCEPT = [MediaType.ociIndex, MediaType.dockerManifestList, MediaType.ociManifest, MediaType.dockerManifest].join(', ');

const MAX_DESCRIPTORS = 4096;
const MEDIA_TYPE_RE = /^[A-Za-z0-9][A-Za-z0-9!#$&^_.+-]{0,126}\/[A-Za-z0-9][A-Za-z0-9!#$&^_.+-]{0,126}$/;
/** The digest grammar of the OCI image spec (descriptor.md), any algorithm. */
const ANY_DIGEST_RE = /^[a-z0-9]+(?:[+._-][a-z0-9]+)*:[a-zA-Z0-9=_-]+$/;

export type ParsedManifest =
  | { kind: 'index'; mediaType: string; index: Index }
  | { kind: 'manifest'; mediaType: string; manifest: Manifest };

/**
 * Parses manifest bytes. The media type is the Content-Type the registry
 * sent, unless that is missing or generic, then the document's own
 * `mediaType` (or its shape). Schema 1 is refused with a failed-precondition
 * error naming it. `what` names the manifest in messages.
 */
export function parseManifest(raw: Buffer, contentType: string | undefined, what: string): ParsedManifest {
  const headerType = contentType?.split(';')[0]!.trim().toLowerCase() || undefined;
  if (headerType && (SCHEMA1_TYPES as readonly string[]).includes(headerType)) throw schema1(what, headerType);
  let doc: unknown;
  try {
    doc = JSON.parse(raw.toString('utf8'));
  } catch {
    throw invalidArgument(`${what}: the manifest is not valid JSON`);
  }
  if (!isObject(doc)) throw invalidArgument(`${what}: the manifest is not a JSON object`);
  if (doc.schemaVersion === 1) throw schema1(what, headerType && headerType !== 'application/json' ? headerType : SCHEMA1_TYPES[0]);
  if (doc.schemaVersion !== 2) throw invalidArgument(`${what}: unsupported manifest schemaVersion ${JSON.stringify(doc.schemaVersion)}`);
  const bodyType = doc.mediaType;
  if (bodyType !== undefined && (typeof bodyType !== 'string' || !MEDIA_TYPE_RE.test(bodyType))) {
    throw invalidArgument(`${what}: the manifest's mediaType is invalid`);
  }
  let mediaType: string;
  if (headerType && (isIndexType(headerType) || isManifestType(headerType))) mediaType = headerType;
  else if (typeof bodyType === 'string') mediaType = bodyType;
  else if (Array.isArray(doc.manifests)) mediaType = MediaType.ociIndex;
  else mediaType = MediaType.ociManifest;
  if (typeof bodyType === 'string' && bodyType !== mediaType) {
    throw invalidArgument(`${what}: the registry sent it as ${mediaType} but the manifest says it is ${bodyType}`);
  }
  if (isIndexType(mediaType)) {
    if (!Array.isArray(doc.manifests)) throw invalidArgument(`${what}: the index has no manifests list`);
    if (doc.manifests.length > MAX_DESCRIPTORS) throw invalidArgument(`${what}: the index lists more than ${MAX_DESCRIPTORS} manifests`);
    const index: Index = { schemaVersion: 2, mediaType, manifests: doc.manifests.map((d, i) => descriptor(d, `${what}: manifests[${i}]`)) };
    if (isObject(doc.annotations)) index.annotations = stringMap(doc.annotations, `${what}: annotations`);
    return { kind: 'index', mediaType, index };
  }
  if (isManifestType(mediaType)) {
    if (!Array.isArray(doc.layers)) throw invalidArgument(`${what}: the manifest has no layers list`);
    if (doc.layers.length > MAX_DESCRIPTORS) throw invalidArgument(`${what}: the manifest lists more than ${MAX_DESCRIPTORS} layers`);
    const manifest: Manifest = {
      schemaVersion: 2,
      mediaType,
      config: descriptor(doc.config, `${what}: config`),
      layers: doc.layers.map((d, i) => descriptor(d, `${what}: layers[${i}]`)),
    };
    if (isObject(doc.annotations)) manifest.annotations = stringMap(doc.annotations, `${what}: annotations`);
    return { kind: 'manifest', mediaType, manifest };
  }
  throw failedPrecondition(`${what}: unsupported manifest media type ${JSON.stringify(mediaType)}`);
}

function schema1(what: string, type: string) {
  return failedPrecondition(
    `${what}: the registry serves it as a Docker image manifest version 2, schema 1 (${type}), a format Berth does not support; ` +
    'ask its publisher to push it again as a Docker schema 2 or OCI image',
  );
}

const isObject = (v: unknown): v is Record<string, unknown> => typeof v === 'object' && v !== null && !Array.isArray(v);

/** A checked descriptor. Only sha256 digests can be used; another valid algorithm is refused as unsupported. */
export function descriptor(v: unknown, where: string): Descriptor {
  if (!isObject(v)) throw invalidArgument(`${where}: not a descriptor object`);
  const { mediaType, digest, size } = v;
  if (typeof mediaType !== 'string' || !MEDIA_TYPE_RE.test(mediaType)) throw invalidArgument(`${where}: invalid mediaType`);
  if (typeof digest !== 'string' || !ANY_DIGEST_RE.test(digest) || digest.length > 256) throw invalidArgument(`${where}: invalid digest`);
  if (!isDigest(digest)) {
    throw invalidArgument(`${where}: unsupported digest ${JSON.stringify(digest)}: only sha256 digests of 64 lowercase hex characters are supported`);
  }
  if (typeof size !== 'number' || !Number.isSafeInteger(size) || size < 0) throw invalidArgument(`${where}: invalid size`);
  const d: Descriptor = { mediaType, digest, size };
  if (v.urls !== undefined) {
    if (!Array.isArray(v.urls) || v.urls.length > 64 || !v.urls.every((u) => typeof u === 'string' && u.length <= 4096)) throw invalidArgument(`${where}: invalid urls`);
    d.urls = v.urls as string[];
  }
  if (v.annotations !== undefined) d.annotations = stringMap(v.annotations, `${where}: annotations`);
  if (v.platform !== undefined) d.platform = platform(v.platform, `${where}: platform`);
  return d;
}

function stringMap(v: unknown, where: string): Record<string, string> {
  if (!isObject(v)) throw invalidArgument(`${where}: not an object`);
  const out: Record<string, string> = {};
  for (const [k, val] of Object.entries(v)) {
    if (typeof val !== 'string') throw invalidArgument(`${where}: value of ${JSON.stringify(k)} is not a string`);
    out[k] = val;
  }
  return out;
}

function platform(v: unknown, where: string): Platform {
  if (!isObject(v) || typeof v.os !== 'string' || typeof v.architecture !== 'string') throw invalidArgument(`${where}: os and architecture must be strings`);
  const p: Platform = { os: v.os, architecture: v.architecture };
  if (v.variant !== undefined) {
    if (typeof v.variant !== 'string') throw invalidArgument(`${where}: variant must be a string`);
    p.variant = v.variant;
  }
  if (v['os.version'] !== undefined) {
    if (typeof v['os.version'] !== 'string') throw invalidArgument(`${where}: os.version must be a string`);
    p['os.version'] = v['os.version'];
  }
  return p;
}

/** The platform this process runs on, in OCI terms (`linux/amd64`). */
export function hostPlatform(): Platform {
  const arch: Record<string, string> = { x64: 'amd64', ia32: '386', arm64: 'arm64', arm: 'arm', ppc64: 'ppc64le', s390x: 's390x', riscv64: 'riscv64', mips64el: 'mips64le', loong64: 'loong64' };
  const p: Platform = { os: process.platform === 'win32' ? 'windows' : process.platform, architecture: arch[process.arch] ?? process.arch };
  if (p.architecture === 'arm') p.variant = `v${(process.config.variables as { arm_version?: string }).arm_version ?? '7'}`;
  return p;
}

/**
 * Parses `os/arch[/variant]` (`linux/arm64/v8`), as `--platform` takes it.
 * Common aliases are normalized (x86_64 → amd64, aarch64 → arm64).
 */
export function parsePlatform(s: string): Platform {
  const parts = s.trim().toLowerCase().split('/');
  if (parts.length < 2 || parts.length > 3 || parts.some((p) => !/^[a-z0-9._-]+$/.test(p))) {
    throw invalidArgument(`invalid platform ${JSON.stringify(s)}: expected os/arch[/variant]`);
  }
  return normalizePlatform({ os: parts[0]!, architecture: parts[1]!, ...(parts[2] ? { variant: parts[2] } : {}) });
}

/** Aliases to OCI names and default variants made explicit (arm64 → v8, arm → v7, amd64 → v1). */
export function normalizePlatform(p: Platform): Platform {
  const os = p.os.toLowerCase();
  let arch = p.architecture.toLowerCase();
  let variant = p.variant?.toLowerCase();
  if (arch === 'x86_64' || arch === 'x86-64') arch = 'amd64';
  else if (arch === 'i386' || arch === 'i686') arch = '386';
  else if (arch === 'aarch64') arch = 'arm64';
  else if (arch === 'armhf') [arch, variant] = ['arm', variant ?? 'v7'];
  else if (arch === 'armel') [arch, variant] = ['arm', variant ?? 'v6'];
  if (arch === 'arm64' && (!variant || variant === '8')) variant = 'v8';
  if (arch === 'arm' && !variant) variant = 'v7';
  if (arch === 'arm' && /^[5-8]$/.test(variant!)) variant = `v${variant}`;
  if (arch === 'amd64' && !variant) variant = 'v1';
  const out: Platform = { os, architecture: arch };
  if (variant) out.variant = variant;
  return out;
}

/** `linux/amd64`, `linux/arm/v7`: the form dockerd prints; default variants left out. */
export function formatPlatform(p: Platform): string {
  const n = normalizePlatform(p);
  const defaultVariant = (n.architecture === 'arm64' && n.variant === 'v8') || (n.architecture === 'amd64' && n.variant === 'v1');
  return [p.os, p.architecture, ...(p.variant && !defaultVariant ? [p.variant] : [])].join('/');
}

/**
 * The index entry to pull for `want`: os and architecture must match; for
 * the variant, an exact match wins, then (arm and amd64, which run older
 * variants' code) the highest lower variant. Entries without a platform are
 * skipped, as are attestation manifests. Not found: dockerd's wording.
 */
export function selectPlatform(index: Index, want: Platform): Descriptor {
  const w = normalizePlatform(want);
  let best: { d: Descriptor; rank: number } | undefined;
  for (const d of index.manifests) {
    if (!d.platform || !isManifestType(d.mediaType)) continue;
    const p = normalizePlatform(d.platform);
    if (p.os !== w.os || p.architecture !== w.architecture) continue;
    const rank = variantRank(w, p);
    if (rank < 0) continue;
    if (!best || rank > best.rank) best = { d, rank };
  }
  if (!best) throw notFound(`no matching manifest for ${formatPlatform(want)} in the manifest list entries`);
  return best.d;
}

/** Whether an image for `have` runs where `want` is asked for: same os and architecture, and a variant selectPlatform would take. */
export function platformServes(want: Platform, have: Platform): boolean {
  const w = normalizePlatform(want);
  const h = normalizePlatform(have);
  return w.os === h.os && w.architecture === h.architecture && variantRank(w, h) >= 0;
}

/** How well `have` serves `want`: 1000 exact, lower for older compatible variants, -1 not at all. */
function variantRank(want: Platform, have: Platform): number {
  if (want.variant === have.variant) return 1000;
  if (want.architecture !== 'arm' && want.architecture !== 'amd64') return -1;
  const num = (v: string | undefined) => (v && /^v\d+$/.test(v) ? Number(v.slice(1)) : NaN);
  const a = num(want.variant);
  const b = num(have.variant);
  if (Number.isNaN(a) || Number.isNaN(b) || b > a) return -1;
  return b;
}
