/**
 * An OCI distribution-spec v1.1 registry over HTTP: pull, push (monolithic,
 * chunked, cross-repository mount), content discovery (tags, catalog,
 * referrers) and content management (deletes), with optional Basic auth from
 * an htpasswd file. The server keeps nothing in memory that a restart would
 * lose: every request reads and writes RegistryStorage.
 *
 *   const s = new RegistryServer({ root: '/var/lib/berth-registry' });
 *   const addr = await s.start({ host: '127.0.0.1', port: 5000 });
 *   …
 *   await s.close();
 */
import { createHash } from 'node:crypto';
import { createReadStream, promises as fsp } from 'node:fs';
import { join } from 'node:path';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { pipeline } from 'node:stream/promises';
import { log } from '../common';
import { writeFileAtomic } from '../state';
import { PID_FILE } from './gc';
import { RegistryError, digestInvalid, manifestInvalid, nameInvalid, unsupported } from './errors';
import { Htpasswd } from './htpasswd';
import { parseManifest, type ManifestDescriptor } from './manifest';
import { isValidRepositoryName, isValidTagName, looksLikeDigest, parseDigest, type ParsedDigest } from './names';
import { lexical, rangeOf, RegistryStorage, type ChunkRange } from './storage';
import { MediaType } from '../image';

export interface RegistryServerOptions {
  /** The storage root; created when missing. */
  root: string;
  /** An htpasswd file of bcrypt entries; when set every request needs Basic auth. */
  htpasswd?: string;
  /** Largest manifest accepted, in bytes (default 4 MiB; larger pushes get 413). */
  maxManifestBytes?: number;
  /** Upload sessions untouched this long are removed (default one hour), at start and periodically. */
  uploadTimeoutMs?: number;
  /** The realm named in WWW-Authenticate (default berth-registry). */
  realm?: string;
}

export interface RegistryAddress {
  host: string;
  port: number;
}

const DEFAULT_MAX_MANIFEST = 4 * 1024 * 1024;
const DEFAULT_UPLOAD_TIMEOUT = 60 * 60 * 1000;
const JSON_TYPE = 'application/json';
const EMPTY_DIGESTS = new Set(['sha256', 'sha512'].map((alg) => `${alg}:${createHash(alg).digest('hex')}`));

type Route =
  | { kind: 'base' }
  | { kind: 'catalog' }
  | { kind: 'tags'; name: string }
  | { kind: 'manifest'; name: string; reference: string }
  | { kind: 'blob'; name: string; digest: string }
  | { kind: 'uploads'; name: string }
  | { kind: 'upload'; name: string; id: string }
  | { kind: 'referrers'; name: string; digest: string };

// The name is greedy: the fixed tail of each path decides where it ends.
const ROUTES: [RegExp, (m: RegExpExecArray) => Route][] = [
  [/^\/v2\/?$/, () => ({ kind: 'base' })],
  [/^\/v2\/_catalog$/, () => ({ kind: 'catalog' })],
  [/^\/v2\/(.+)\/tags\/list$/, (m) => ({ kind: 'tags', name: m[1]! })],
  [/^\/v2\/(.+)\/manifests\/([^/]+)$/, (m) => ({ kind: 'manifest', name: m[1]!, reference: m[2]! })],
  [/^\/v2\/(.+)\/blobs\/uploads\/?$/, (m) => ({ kind: 'uploads', name: m[1]! })],
  [/^\/v2\/(.+)\/blobs\/uploads\/([^/]+)$/, (m) => ({ kind: 'upload', name: m[1]!, id: m[2]! })],
  [/^\/v2\/(.+)\/blobs\/([^/]+)$/, (m) => ({ kind: 'blob', name: m[1]!, digest: m[2]! })],
  [/^\/v2\/(.+)\/referrers\/([^/]+)$/, (m) => ({ kind: 'referrers', name: m[1]!, digest: m[2]! })],
];

export class RegistryServer {
  readonly storage: RegistryStorage;
  private readonly maxManifest: number;
  private readonly uploadTimeout: number;
  private readonly realm: string;
  private auth: Htpasswd | undefined;
  private server: http.Server | undefined;
  private sweeper: NodeJS.Timeout | undefined;

  constructor(private readonly opts: RegistryServerOptions) {
    this.storage = new RegistryStorage(opts.root);
    this.maxManifest = opts.maxManifestBytes ?? DEFAULT_MAX_MANIFEST;
    this.uploadTimeout = opts.uploadTimeoutMs ?? DEFAULT_UPLOAD_TIMEOUT;
    this.realm = opts.realm ?? 'berth-registry';
  }

  /**
   * Prepares the storage (removing abandoned uploads), reads the htpasswd file
   * and listens. Port 0 picks a free port; the returned address has the real one.
   */
  async start(addr: { host?: string; port?: number } = {}): Promise<RegistryAddress> {
    if (this.server) throw new Error('registry server already started');
    await this.storage.init();
    await this.storage.sweepUploads(this.uploadTimeout);
    if (this.opts.htpasswd !== undefined) this.auth = Htpasswd.load(this.opts.htpasswd);
    const server = http.createServer((req, res) => void this.handle(req, res));
    server.keepAliveTimeout = 30_000;
    await new Promise<void>((resolve, reject) => {
      server.once('error', reject);
      server.listen(addr.port ?? 5000, addr.host ?? '127.0.0.1', () => {
        server.off('error', reject);
        resolve();
      });
    });
    this.server = server;
    // Lets `berth registry gc` see that the root is in use.
    await writeFileAtomic(join(this.opts.root, PID_FILE), `${process.pid}\n`, { durable: false });
    this.sweeper = setInterval(() => {
      this.storage.sweepUploads(this.uploadTimeout).catch((err: unknown) => log.warn('registry: upload sweep failed', { error: String(err) }));
    }, Math.min(this.uploadTimeout, 10 * 60 * 1000));
    this.sweeper.unref();
    const a = server.address() as AddressInfo;
    return { host: a.address, port: a.port };
  }

  /** Stops listening and drops open connections. */
  async close(): Promise<void> {
    if (this.sweeper) clearInterval(this.sweeper);
    this.sweeper = undefined;
    const server = this.server;
    this.server = undefined;
    if (!server) return;
    await fsp.rm(join(this.opts.root, PID_FILE), { force: true });
    await new Promise<void>((resolve) => {
      server.close(() => resolve());
      server.closeAllConnections();
    });
  }

  private async handle(req: http.IncomingMessage, res: http.ServerResponse): Promise<void> {
    res.setHeader('Docker-Distribution-API-Version', 'registry/2.0');
    try {
      if (this.auth) await this.authenticate(req);
      const raw = req.url ?? '/';
      const q = raw.indexOf('?');
      // The path is matched as sent: URL parsing would fold `a/../b` into `b` rather than refuse it.
      const path = q < 0 ? raw : raw.slice(0, q);
      const url = new URL(q < 0 ? '/' : raw.slice(q), 'http://registry.invalid');
      const route = matchRoute(path);
      if (!route) throw new RegistryError(404, 'UNSUPPORTED', `no such endpoint: ${path}`);
      if ('name' in route && !isValidRepositoryName(route.name)) throw nameInvalid(route.name);
      await this.dispatch(route, req, res, url);
    } catch (err) {
      this.fail(req, res, err);
    }
  }

  private fail(req: http.IncomingMessage, res: http.ServerResponse, err: unknown): void {
    // A client that went away mid-transfer needs no answer (and is not a server fault to log).
    if (res.headersSent || res.destroyed || req.socket.destroyed) {
      res.destroy();
      return;
    }
    let e: RegistryError;
    if (err instanceof RegistryError) {
      e = err;
    } else {
      log.error('registry: request failed', { method: req.method, url: req.url, error: String(err), stack: (err as Error)?.stack });
      e = new RegistryError(500, 'UNKNOWN', 'internal error; see the registry log');
    }
    for (const [k, v] of Object.entries(e.headers ?? {})) res.setHeader(k, v);
    // An unread request body would be parsed as the next request; close the connection instead.
    if (hasBody(req) && !req.complete) res.setHeader('Connection', 'close');
    const body = e.body();
    res.writeHead(e.status, { 'Content-Type': JSON_TYPE, 'Content-Length': Buffer.byteLength(body) });
    res.end(req.method === 'HEAD' ? undefined : body);
  }

  private async authenticate(req: http.IncomingMessage): Promise<void> {
    const h = req.headers.authorization ?? '';
    const m = /^Basic\s+([A-Za-z0-9+/=]+)\s*$/i.exec(h);
    if (m) {
      const decoded = Buffer.from(m[1]!, 'base64').toString('utf8');
      const colon = decoded.indexOf(':');
      if (colon > 0 && (await this.auth!.verify(decoded.slice(0, colon), decoded.slice(colon + 1)))) return;
    }
    throw new RegistryError(401, 'UNAUTHORIZED', 'authentication required', undefined, {
      'WWW-Authenticate': `Basic realm="${this.realm}"`,
    });
  }

  private async dispatch(route: Route, req: http.IncomingMessage, res: http.ServerResponse, url: URL): Promise<void> {
    const method = req.method ?? 'GET';
    const allow = (...methods: string[]) => {
      if (!methods.includes(method)) throw new RegistryError(405, 'UNSUPPORTED', `${method} is not supported here`, undefined, { Allow: methods.join(', ') });
    };
    switch (route.kind) {
      case 'base':
        allow('GET', 'HEAD');
        return sendJSON(req, res, 200, {});
      case 'catalog': {
        allow('GET');
        const page = paginate(await this.storage.listRepositories(), url, '/v2/_catalog');
        if (page.link) res.setHeader('Link', page.link);
        return sendJSON(req, res, 200, { repositories: page.items });
      }
      case 'tags': {
        allow('GET');
        await this.storage.requireRepository(route.name);
        const page = paginate(await this.storage.listTags(route.name), url, `/v2/${route.name}/tags/list`);
        if (page.link) res.setHeader('Link', page.link);
        return sendJSON(req, res, 200, { name: route.name, tags: page.items });
      }
      case 'manifest':
        allow('GET', 'HEAD', 'PUT', 'DELETE');
        if (method === 'PUT') return this.putManifest(route.name, decode(route.reference), req, res);
        if (method === 'DELETE') return this.deleteManifest(route.name, decode(route.reference), res);
        return this.getManifest(route.name, decode(route.reference), req, res);
      case 'blob':
        allow('GET', 'HEAD', 'DELETE');
        if (method === 'DELETE') {
          const d = requireDigest(decode(route.digest));
          await this.storage.requireRepository(route.name);
          await this.storage.unlinkBlob(route.name, d);
          return sendEmpty(res, 202, { 'Docker-Content-Digest': d.digest });
        }
        return this.getBlob(route.name, decode(route.digest), req, res);
      case 'uploads':
        allow('POST');
        return this.postUpload(route.name, req, res, url);
      case 'upload':
        allow('GET', 'PATCH', 'PUT', 'DELETE');
        return this.upload(route.name, decode(route.id), req, res, url);
      case 'referrers': {
        allow('GET');
        const d = requireDigest(decode(route.digest));
        let list = await this.storage.referrers(route.name, d);
        const artifactType = url.searchParams.get('artifactType');
        if (artifactType !== null) {
          list = list.filter((r) => r.artifactType === artifactType);
          res.setHeader('OCI-Filters-Applied', 'artifactType');
        }
        const body = JSON.stringify({ schemaVersion: 2, mediaType: MediaType.ociIndex, manifests: list });
        res.writeHead(200, { 'Content-Type': MediaType.ociIndex, 'Content-Length': Buffer.byteLength(body) });
        res.end(body);
        return;
      }
    }
  }

  // ---- manifests ---------------------------------------------------------

  private async resolveManifest(name: string, reference: string) {
    await this.storage.requireRepository(name);
    const d = referenceDigest(reference) ?? (await this.storage.resolveTag(name, reference));
    const m = d && (await this.storage.manifestByDigest(name, d));
    if (!m) throw new RegistryError(404, 'MANIFEST_UNKNOWN', 'manifest unknown to registry', { name, reference });
    return m;
  }

  private async getManifest(name: string, reference: string, req: http.IncomingMessage, res: http.ServerResponse): Promise<void> {
    const m = await this.resolveManifest(name, reference);
    res.writeHead(200, {
      'Content-Type': m.mediaType,
      'Content-Length': m.size,
      'Docker-Content-Digest': m.digest,
      ETag: `"${m.digest}"`,
    });
    if (req.method === 'HEAD') return void res.end();
    await pipeline(createReadStream(m.path), res);
  }

  private async putManifest(name: string, reference: string, req: http.IncomingMessage, res: http.ServerResponse): Promise<void> {
    const byDigest = referenceDigest(reference);
    if (!byDigest && !isValidTagName(reference)) throw manifestInvalid(`invalid tag ${JSON.stringify(reference)}`, { reference });
    const bytes = await readBounded(req, this.maxManifest);
    const info = parseManifest(bytes, req.headers['content-type']);
    const digest = parseDigest(`${byDigest?.algorithm ?? 'sha256'}:${createHash(byDigest?.algorithm ?? 'sha256').update(bytes).digest('hex')}`)!;
    if (byDigest && byDigest.digest !== digest.digest) {
      throw digestInvalid('manifest digest did not match the reference', { expected: byDigest.digest, actual: digest.digest });
    }
    for (const b of info.blobs) {
      if ((await this.storage.repoBlobSize(name, b)) === undefined) throw manifestBlobUnknown(b);
    }
    for (const child of info.manifests) {
      if (!(await this.storage.manifestByDigest(name, child))) throw manifestBlobUnknown(child);
    }
    let referrer: { subject: ParsedDigest; descriptor: ManifestDescriptor } | undefined;
    if (info.subject) {
      const descriptor: ManifestDescriptor = { mediaType: info.mediaType, digest: digest.digest, size: bytes.length };
      if (info.artifactType) descriptor.artifactType = info.artifactType;
      if (info.annotations) descriptor.annotations = info.annotations;
      referrer = { subject: info.subject, descriptor };
    }
    await this.storage.putManifest(name, bytes, digest, info.mediaType, byDigest ? undefined : reference, referrer);
    const headers: Record<string, string> = {
      Location: `/v2/${name}/manifests/${digest.digest}`,
      'Docker-Content-Digest': digest.digest,
    };
    if (info.subject) headers['OCI-Subject'] = info.subject.digest;
    sendEmpty(res, 201, headers);
  }

  private async deleteManifest(name: string, reference: string, res: http.ServerResponse): Promise<void> {
    await this.storage.requireRepository(name);
    const d = referenceDigest(reference);
    if (d) await this.storage.deleteManifest(name, d);
    else await this.storage.deleteTag(name, reference);
    sendEmpty(res, 202);
  }

  // ---- blobs ---------------------------------------------------------------

  private async getBlob(name: string, digest: string, req: http.IncomingMessage, res: http.ServerResponse): Promise<void> {
    const d = requireDigest(digest);
    await this.storage.requireRepository(name);
    const size = await this.storage.repoBlobSize(name, d);
    if (size === undefined) throw new RegistryError(404, 'BLOB_UNKNOWN', 'blob unknown to registry', { digest: d.digest });
    const headers: Record<string, string | number> = {
      'Content-Type': 'application/octet-stream',
      'Docker-Content-Digest': d.digest,
      'Accept-Ranges': 'bytes',
      ETag: `"${d.digest}"`,
      'Cache-Control': 'max-age=31536000',
    };
    const range = parseRange(req.headers.range, size);
    if (range === 'unsatisfiable') {
      throw new RegistryError(416, 'UNSUPPORTED', `range not satisfiable for a blob of ${size} bytes`, undefined, { 'Content-Range': `bytes */${size}` });
    }
    if (range) {
      headers['Content-Range'] = `bytes ${range.start}-${range.end}/${size}`;
      headers['Content-Length'] = range.end - range.start + 1;
      res.writeHead(206, headers);
    } else {
      headers['Content-Length'] = size;
      res.writeHead(200, headers);
    }
    if (req.method === 'HEAD' || size === 0) return void res.end();
    await pipeline(createReadStream(this.storage.blobPath(d), range ?? {}), res);
  }

  // ---- uploads -------------------------------------------------------------

  private async postUpload(name: string, req: http.IncomingMessage, res: http.ServerResponse, url: URL): Promise<void> {
    const mount = url.searchParams.get('mount');
    const from = url.searchParams.get('from');
    if (mount !== null) {
      const d = requireDigest(mount);
      // Without `from` any stored copy will do (the spec lets a registry treat it as optional).
      const source = from === null ? await this.storage.blobSize(d) : isValidRepositoryName(from) ? await this.storage.repoBlobSize(from, d) : undefined;
      if (source !== undefined) {
        await this.storage.linkBlob(name, d);
        req.resume();
        return sendEmpty(res, 201, { Location: `/v2/${name}/blobs/${d.digest}`, 'Docker-Content-Digest': d.digest });
      }
      // Not mountable: start an ordinary upload, as the spec asks.
    } else {
      const digest = url.searchParams.get('digest');
      // A POST ?digest= without a body starts a session, unless the blob is the empty one.
      if (digest !== null && (hasBody(req) || EMPTY_DIGESTS.has(digest))) {
        const d = requireDigest(digest);
        await this.storage.putBlob(name, req, d);
        return sendEmpty(res, 201, { Location: `/v2/${name}/blobs/${d.digest}`, 'Docker-Content-Digest': d.digest });
      }
    }
    req.resume();
    const id = await this.storage.startUpload(name);
    sendEmpty(res, 202, {
      Location: `/v2/${name}/blobs/uploads/${id}`,
      'Docker-Upload-UUID': id,
      Range: rangeOf(0),
    });
  }

  private async upload(name: string, id: string, req: http.IncomingMessage, res: http.ServerResponse, url: URL): Promise<void> {
    const location = `/v2/${name}/blobs/uploads/${id}`;
    switch (req.method) {
      case 'GET': {
        const s = await this.storage.uploadStatus(name, id);
        return sendEmpty(res, 204, { Location: location, Range: rangeOf(s.size), 'Docker-Upload-UUID': id });
      }
      case 'DELETE':
        await this.storage.cancelUpload(name, id);
        return sendEmpty(res, 204);
      case 'PATCH': {
        const range = parseContentRange(req.headers['content-range']);
        const s = await withLocation(location, this.storage.appendUpload(name, id, req, range, contentLength(req)));
        return sendEmpty(res, 202, { Location: location, Range: rangeOf(s.size), 'Docker-Upload-UUID': id });
      }
      case 'PUT': {
        const digest = url.searchParams.get('digest');
        if (digest === null) throw digestInvalid('the closing PUT needs ?digest=');
        const d = requireDigest(digest);
        const length = contentLength(req);
        const withChunk = hasBody(req);
        const range = parseContentRange(req.headers['content-range']);
        if (!withChunk) req.resume();
        await withLocation(location, this.storage.finishUpload(name, id, d, withChunk ? req : undefined, withChunk ? range : undefined, length));
        return sendEmpty(res, 201, { Location: `/v2/${name}/blobs/${d.digest}`, 'Docker-Content-Digest': d.digest });
      }
    }
  }
}

/** A 416 on a chunk also says where the session is, so the client can ask for its status and resume. */
async function withLocation<T>(location: string, p: Promise<T>): Promise<T> {
  try {
    return await p;
  } catch (err) {
    if (err instanceof RegistryError && err.status === 416) {
      throw new RegistryError(err.status, err.code, err.message, err.detail, { ...err.headers, Location: location });
    }
    throw err;
  }
}

function matchRoute(path: string): Route | undefined {
  for (const [re, make] of ROUTES) {
    const m = re.exec(path);
    if (m) return make(m);
  }
  return undefined;
}

function decode(s: string): string {
  try {
    return decodeURIComponent(s);
  } catch {
    throw new RegistryError(400, 'UNSUPPORTED', 'malformed percent-encoding in the path');
  }
}

function requireDigest(s: string): ParsedDigest {
  const d = parseDigest(s);
  if (!d) throw digestInvalid(`invalid digest ${JSON.stringify(s)}: expected sha256 or sha512 with lowercase hex`, { digest: s });
  return d;
}

/** The digest a manifest reference names, undefined for a tag; DIGEST_INVALID for a malformed digest. */
function referenceDigest(reference: string): ParsedDigest | undefined {
  if (reference.includes(':') || looksLikeDigest(reference)) return requireDigest(reference);
  if (!isValidTagName(reference)) throw new RegistryError(404, 'MANIFEST_UNKNOWN', 'manifest unknown to registry', { reference });
  return undefined;
}

const manifestBlobUnknown = (d: ParsedDigest) =>
  new RegistryError(400, 'MANIFEST_BLOB_UNKNOWN', 'manifest references a manifest or blob unknown to registry', { digest: d.digest });

function hasBody(req: http.IncomingMessage): boolean {
  const length = contentLength(req);
  return (length !== undefined && length > 0) || req.headers['transfer-encoding'] !== undefined;
}

function contentLength(req: http.IncomingMessage): number | undefined {
  const h = req.headers['content-length'];
  if (h === undefined) return undefined;
  const n = Number(h);
  return Number.isSafeInteger(n) && n >= 0 ? n : undefined;
}

/** Content-Range of an upload chunk: `start-end`, inclusive (also tolerating `bytes ` and `/total`). */
function parseContentRange(h: string | undefined): ChunkRange | undefined {
  if (h === undefined) return undefined;
  const m = /^(?:bytes[ =])?(\d+)-(\d+)(?:\/(?:\d+|\*))?$/.exec(h.trim());
  if (!m) throw new RegistryError(400, 'BLOB_UPLOAD_INVALID', `malformed Content-Range ${JSON.stringify(h)}: expected start-end`);
  const start = Number(m[1]);
  const end = Number(m[2]);
  if (!Number.isSafeInteger(start) || !Number.isSafeInteger(end) || end < start) {
    throw new RegistryError(416, 'BLOB_UPLOAD_INVALID', `invalid Content-Range ${JSON.stringify(h)}`);
  }
  return { start, end };
}

/**
 * A single `bytes=` range (RFC 9110 §14.1.2) resolved against `size`. Several
 * ranges or a malformed header are ignored (the whole blob is sent), which the
 * RFC allows; a range that starts past the end or ends before it starts is
 * unsatisfiable (the OCI conformance suite expects 416 for both).
 */
export function parseRange(h: string | undefined, size: number): ChunkRange | 'unsatisfiable' | undefined {
  if (h === undefined) return undefined;
  const m = /^bytes=(\d*)-(\d*)$/.exec(h.trim());
  if (!m || (m[1] === '' && m[2] === '')) return undefined;
  if (m[1] === '') {
    const suffix = Number(m[2]);
    if (suffix === 0 || size === 0) return 'unsatisfiable';
    return { start: Math.max(0, size - suffix), end: size - 1 };
  }
  const start = Number(m[1]);
  if (start >= size || (m[2] !== '' && Number(m[2]) < start)) return 'unsatisfiable';
  const end = m[2] === '' ? size - 1 : Math.min(Number(m[2]), size - 1);
  return { start, end };
}

/**
 * One page of a sorted list per `?n=&last=`: the items after `last`, at most n,
 * with an RFC 5988 Link to the next page when more remain. n=0 is an empty page
 * without a Link.
 */
function paginate(all: string[], url: URL, path: string): { items: string[]; link?: string } {
  const nParam = url.searchParams.get('n');
  const last = url.searchParams.get('last');
  let n: number | undefined;
  if (nParam !== null) {
    if (!/^\d{1,9}$/.test(nParam)) throw unsupported(`n must be a non-negative integer, not ${JSON.stringify(nParam)}`);
    n = Number(nParam);
  }
  const after = last === null ? all : all.filter((x) => lexical(x, last) > 0);
  if (n === undefined) return { items: after };
  if (n === 0) return { items: [] };
  const items = after.slice(0, n);
  if (after.length <= n) return { items };
  const next = new URLSearchParams({ n: String(n), last: items[items.length - 1]! });
  return { items, link: `<${path}?${next.toString()}>; rel="next"` };
}

/** Reads a request body of at most `limit` bytes; 413 beyond it. */
function readBounded(req: http.IncomingMessage, limit: number): Promise<Buffer> {
  const tooLarge = () => new RegistryError(413, 'MANIFEST_INVALID', `manifest larger than the limit of ${limit} bytes`);
  const declared = contentLength(req);
  if (declared !== undefined && declared > limit) return Promise.reject(tooLarge());
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    let size = 0;
    const onData = (c: Buffer) => {
      size += c.length;
      if (size > limit) {
        req.off('data', onData);
        req.pause();
        reject(tooLarge());
        return;
      }
      chunks.push(c);
    };
    req.on('data', onData);
    req.once('end', () => resolve(Buffer.concat(chunks)));
    req.once('error', reject);
  });
}

function sendJSON(req: http.IncomingMessage, res: http.ServerResponse, status: number, value: unknown): void {
  const body = JSON.stringify(value);
  res.writeHead(status, { 'Content-Type': JSON_TYPE, 'Content-Length': Buffer.byteLength(body) });
  res.end(req.method === 'HEAD' ? undefined : body);
}

function sendEmpty(res: http.ServerResponse, status: number, headers: Record<string, string> = {}): void {
  res.writeHead(status, status === 204 ? headers : { ...headers, 'Content-Length': 0 });
  res.end();
}
