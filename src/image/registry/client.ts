/**
 * The registry client: pulls and pushes manifests and blobs over the OCI
 * distribution API (and Docker's registry v2, which it grew from).
 *
 * Shape: one RegistryClient per daemon (connection pools, insecure registry
 * list, limits); one RemoteRepository per pull or push of a repository, which
 * holds that operation's credentials and bearer token. Every answer is
 * hostile input: manifests are bounded and validated, blobs are verified
 * against their digest and size while they stream, and nothing is buffered
 * without a bound.
 */
import { createHash } from 'node:crypto';
import type { IncomingMessage } from 'node:http';
import { Readable, Transform } from 'node:stream';
import {
  asDigest, BerthError, DigestMismatchError, failedPrecondition, invalidArgument, isDigest, type Digest,
} from '../../common';
import type { Descriptor, Index, Manifest, Platform } from '../media-types';
import { familiarName, familiarString, isValidTag, type Reference } from '../../common';
import { repositoryScope, type Credentials } from './auth';
import { resolveEndpoint, type RegistryEndpoint } from './endpoint';
import { errorFromResponse, firstHeader, RegistryError, statusText } from './errors';
import { discard, newAgents, readBody, readErrorBody, transportError, type HttpAgents } from './http';
import { hostPlatform, MANIFEST_ACCEPT, parseManifest, selectPlatform } from './manifest';
import { searchIndex, type SearchResult } from './search';
import { RegistrySession } from './session';

export interface RegistryClientOptions {
  /** Registries reached over plain HTTP besides loopback ones: `host`, `host:port` or a CIDR range. */
  insecureRegistries?: readonly string[];
  /** Registry host → the base URL its content comes from instead (hosts.toml mirrors). */
  mirrors?: ReadonlyMap<string, string>;
  userAgent?: string;
  /** Idle time on a connection before it fails, in milliseconds (default 60 s). */
  idleTimeoutMs?: number;
  /** Largest manifest or index accepted, in bytes (default 4 MiB). */
  maxManifestBytes?: number;
  /** Times a blob download resumes after its connection drops (default 3). */
  blobRetries?: number;
  /** First pause before a resume, doubled each time, in milliseconds (default 100). */
  retryDelayMs?: number;
}

/** A repository on a registry; a Reference is one. */
export interface RepositoryName {
  domain: string;
  path: string;
}

export interface RepositoryOptions {
  credentials?: Credentials;
  /** Ask for push access as well as pull (bearer scopes). */
  push?: boolean;
}

export interface ResolveOptions {
  /** The platform to pick from an index; the host's by default. */
  platform?: Platform;
}

/** A manifest as fetched: verified bytes, their digest, the parsed document. */
export type FetchedManifest =
  | { kind: 'index'; digest: Digest; mediaType: string; raw: Buffer; index: Index }
  | { kind: 'manifest'; digest: Digest; mediaType: string; raw: Buffer; manifest: Manifest };

/** What a pull needs to fetch an image: one platform's manifest, and the index it came from if any. */
export interface ResolvedManifest {
  /** The reference resolved, tag and/or digest as given (tag `latest` when neither was). */
  ref: Reference;
  /** Digest of the image manifest's bytes. */
  manifestDigest: Digest;
  mediaType: string;
  manifest: Manifest;
  /** The manifest bytes exactly as received (their sha256 is manifestDigest). */
  raw: Buffer;
  config: Descriptor;
  layers: Descriptor[];
  /** The index the manifest was picked from; its digest is the repo digest dockerd records. */
  index?: { digest: Digest; mediaType: string; raw: Buffer; index: Index };
}

export interface FetchBlobOptions {
  /** Called with each chunk's length as it is read (feed byteProgress with it). */
  onBytes?: (n: number) => void;
  /**
   * Whether the stream checks the bytes against the descriptor's digest before it
   * ends (default true). A caller that hashes the stream itself and rejects a
   * mismatch (the content store does) passes false, so that each byte is hashed
   * once; sizes are checked either way.
   */
  verify?: boolean;
}

export interface UploadOptions {
  /** Upload in PATCH chunks of this many bytes; one PUT of the whole blob when absent. */
  chunkSize?: number;
  onBytes?: (n: number) => void;
}

export interface ListTagsOptions {
  /** Tags asked per page (`n`); the registry may send fewer. Default 1000. */
  pageSize?: number;
  /** Most tags accepted in all (default 100 000); more is an error. */
  max?: number;
}

export interface LoginResult {
  /** `Login Succeeded`, as dockerd answers POST /auth. */
  status: string;
  /** A refresh token the token server issued, for the client to keep instead of the password. */
  identityToken?: string;
}

/** Layers a pull downloads at once, as dockerd does (`max-concurrent-downloads`). */
export const DEFAULT_PULL_CONCURRENCY = 3;
/** Layers a push uploads at once, as dockerd does (`max-concurrent-uploads`). */
export const DEFAULT_PUSH_CONCURRENCY = 5;

const DEFAULT_MAX_MANIFEST = 4 << 20;
const MAX_TAGS_PAGE = 4 << 20;
const MAX_BLOB_BYTES_DEFAULT = 16 << 20;

export class RegistryClient {
  private readonly agents: HttpAgents;
  private readonly insecure: readonly string[];
  private readonly mirrors: ReadonlyMap<string, string>;
  readonly maxManifestBytes: number;
  readonly blobRetries: number;
  readonly retryDelayMs: number;

  constructor(opts: RegistryClientOptions = {}) {
    this.agents = newAgents(opts.idleTimeoutMs ?? 60_000, opts.userAgent ?? 'berth');
    this.insecure = opts.insecureRegistries ?? [];
    this.mirrors = opts.mirrors ?? new Map();
    this.maxManifestBytes = opts.maxManifestBytes ?? DEFAULT_MAX_MANIFEST;
    this.blobRetries = opts.blobRetries ?? 3;
    this.retryDelayMs = opts.retryDelayMs ?? 100;
  }

  /** Where `domain` is reached (scheme and host). */
  endpoint(domain: string): RegistryEndpoint {
    const mirror = this.mirrors.get(domain);
    if (mirror) return { domain, base: mirror, plainHttp: mirror.startsWith('http:') };
    return resolveEndpoint(domain, this.insecure);
  }

  /** A handle on one repository for one operation (a pull, a push). */
  repository(name: RepositoryName, opts: RepositoryOptions = {}): RemoteRepository {
    const actions = opts.push ? ['pull', 'push'] : ['pull'];
    const session = new RegistrySession(this.agents, this.endpoint(name.domain), opts.credentials, [repositoryScope(name.path, actions)]);
    return new RemoteRepository(this, session, { domain: name.domain, path: name.path });
  }

  /** Resolves `ref` to one platform's image manifest: `repository(ref).resolveManifest(ref)`. */
  resolveManifest(ref: Reference, opts: ResolveOptions & { credentials?: Credentials } = {}): Promise<ResolvedManifest> {
    return this.repository(ref, opts.credentials ? { credentials: opts.credentials } : {}).resolveManifest(ref, opts);
  }

  /**
   * Checks credentials against a registry as `docker login` does (GET /v2/
   * with them). Resolves when they are accepted; a forbidden RegistryError
   * says they were not; unavailable when the registry cannot be reached.
   */
  async checkLogin(domain: string, credentials: Credentials): Promise<LoginResult> {
    const session = new RegistrySession(this.agents, this.endpoint(domain), credentials);
    const v2 = session.url('/v2/');
    try {
      await session.login();
    } catch (err) {
      throw loginFailure(v2, err);
    }
    const res = await session.request({ method: 'GET', target: v2 });
    const status = res.statusCode ?? 0;
    const body = await readErrorBody(res);
    if (status === 401 || status === 403) {
      throw new RegistryError('forbidden', `login attempt to ${v2.href} failed with status: ${statusText(status)}`, status);
    }
    if (status !== 200) throw errorFromResponse(status, res.headers, body, { request: `GET ${v2.href}` });
    return { status: 'Login Succeeded', ...(session.refreshToken ? { identityToken: session.refreshToken } : {}) };
  }

  /** `docker search` against the index `term` names (see search.ts). */
  search(term: string, limit: number, credentials?: Credentials): Promise<SearchResult[]> {
    return searchIndex(this.agents, this.insecure, term, limit, credentials);
  }

  /** Closes pooled connections. */
  close(): void {
    this.agents.http.destroy();
    this.agents.https.destroy();
  }
}

function loginFailure(v2: URL, err: unknown): unknown {
  if (err instanceof RegistryError && err.kind === 'forbidden') {
    const detail = err.message.replace(/^.*?: unauthorized: /, '');
    return new RegistryError('forbidden', `Get "${v2.href}": unauthorized: ${detail}`, err.status, err.errors, undefined, { cause: err });
  }
  return err;
}

/** One repository on one registry, for one operation with one set of credentials. */
export class RemoteRepository {
  constructor(
    private readonly client: RegistryClient,
    private readonly session: RegistrySession,
    readonly name: RepositoryName,
  ) {}

  private path(kind: 'manifests' | 'blobs' | 'tags', rest: string): string {
    return `/v2/${this.name.path}/${kind}/${rest}`;
  }

  private get display(): string {
    return familiarName({ domain: this.name.domain, path: this.name.path });
  }

  /**
   * Resolves a reference (its digest if it has one, else its tag, else
   * `latest`) to one image manifest. An index is narrowed to the platform
   * asked for (the host's by default), fetched by digest and verified.
   */
  async resolveManifest(ref: { tag?: string; digest?: Digest }, opts: ResolveOptions = {}): Promise<ResolvedManifest> {
    const full: Reference = { ...this.name, ...(ref.tag !== undefined ? { tag: ref.tag } : {}), ...(ref.digest !== undefined ? { digest: ref.digest } : {}) };
    if (full.tag === undefined && full.digest === undefined) full.tag = 'latest';
    const top = await this.getManifest(full.digest ?? full.tag!, familiarString(full));
    if (top.kind === 'manifest') {
      return { ref: full, manifestDigest: top.digest, mediaType: top.mediaType, manifest: top.manifest, raw: top.raw, config: top.manifest.config, layers: top.manifest.layers };
    }
    const chosen = selectPlatform(top.index, opts.platform ?? hostPlatform());
    const m = await this.getManifest(chosen.digest, `${this.display}@${chosen.digest}`);
    if (m.kind !== 'manifest') throw invalidArgument(`${familiarString(full)}: the index entry ${chosen.digest} is itself an index`);
    if (m.mediaType !== chosen.mediaType) {
      throw invalidArgument(`${familiarString(full)}: the index says ${chosen.digest} is ${chosen.mediaType} but the registry sent ${m.mediaType}`);
    }
    if (m.raw.length !== chosen.size) {
      throw invalidArgument(`${familiarString(full)}: the index says ${chosen.digest} has ${chosen.size} bytes but the registry sent ${m.raw.length}`);
    }
    return {
      ref: full, manifestDigest: m.digest, mediaType: m.mediaType, manifest: m.manifest, raw: m.raw, config: m.manifest.config, layers: m.manifest.layers,
      index: { digest: top.digest, mediaType: top.mediaType, raw: top.raw, index: top.index },
    };
  }

  /**
   * Fetches a manifest or index by tag or digest. By digest, the bytes must
   * hash to it; a Docker-Content-Digest header, when sha256, must match the
   * bytes too. `display` names it in errors (`localhost:5000/x:nope`).
   */
  async getManifest(reference: string, display = `${this.display}${reference.startsWith('sha256:') ? '@' : ':'}${reference}`): Promise<FetchedManifest> {
    const byDigest = isDigest(reference);
    if (!byDigest && !isValidTag(reference)) throw invalidArgument(`invalid tag or digest ${JSON.stringify(reference)}`);
    const url = this.session.url(this.path('manifests', reference));
    const res = await this.session.request({ method: 'GET', target: url, headers: { accept: MANIFEST_ACCEPT }, followRedirects: true });
    const status = res.statusCode ?? 0;
    if (status !== 200) {
      const body = await readErrorBody(res);
      const err = errorFromResponse(status, res.headers, body, { request: `GET ${url.href}`, notFoundPrefix: `manifest for ${display} not found` });
      if (err.kind === 'forbidden' && (status === 401 || status === 403)) {
        throw new RegistryError('forbidden', `pull access denied for ${this.display}, repository does not exist or may require 'docker login': ${err.message.replace(/^GET \S+: /, '')}`, status, err.errors, undefined, { cause: err });
      }
      throw err;
    }
    const raw = await readBody(res, this.client.maxManifestBytes, `manifest for ${display}`);
    const digest = asDigest(createHash('sha256').update(raw).digest('hex'));
    if (byDigest && digest !== reference) {
      throw new DigestMismatchError(reference, digest, `manifest for ${display}: digest mismatch: expected ${reference}, received ${digest}`);
    }
    const header = firstHeader(res.headers['docker-content-digest'])?.trim();
    if (header && header.startsWith('sha256:') && header !== digest) {
      throw new DigestMismatchError(header, digest, `manifest for ${display}: digest mismatch: the registry's Docker-Content-Digest is ${header} but the manifest received hashes to ${digest}`);
    }
    const parsed = parseManifest(raw, firstHeader(res.headers['content-type']), `manifest for ${display}`);
    return parsed.kind === 'index'
      ? { kind: 'index', digest, mediaType: parsed.mediaType, raw, index: parsed.index }
      : { kind: 'manifest', digest, mediaType: parsed.mediaType, raw, manifest: parsed.manifest };
  }

  /**
   * Streams a blob, verifying it as it flows: more bytes than the
   * descriptor's size fail at once, and at the end the size and sha256 must
   * match, else the stream is destroyed with an invalid-argument error
   * (`digest mismatch … expected …, received …`). Redirects (to blob storage)
   * are followed; a dropped connection resumes with a Range request, a
   * bounded number of times. Destroying the stream cancels the download.
   */
  fetchBlob(desc: Descriptor, opts: FetchBlobOptions = {}): Readable {
    if (!isDigest(desc.digest)) throw invalidArgument(`invalid blob digest ${JSON.stringify(desc.digest)}`);
    if (!Number.isSafeInteger(desc.size) || desc.size < 0) throw invalidArgument(`invalid blob size ${desc.size} for ${desc.digest}`);
    return Readable.from(this.blobChunks(desc, opts), { objectMode: false, highWaterMark: 1 << 20 });
  }

  private async *blobChunks(desc: Descriptor, opts: FetchBlobOptions): AsyncGenerator<Buffer> {
    const url = this.session.url(this.path('blobs', desc.digest));
    const what = `blob ${desc.digest} of ${this.display}`;
    const hash = opts.verify === false ? undefined : createHash('sha256');
    let received = 0;
    for (let attempt = 0; ; attempt++) {
      const canRetry = attempt < this.client.blobRetries;
      let res: IncomingMessage;
      try {
        res = await this.openBlob(url, desc, received);
      } catch (err) {
        if (canRetry && isTransient(err)) {
          await pause(this.client.retryDelayMs * 2 ** attempt);
          continue;
        }
        throw err;
      }
      let skip = res.statusCode === 200 ? received : 0;
      const declared = Number(res.headers['content-length']);
      if (Number.isFinite(declared) && declared + (received - skip) > desc.size) {
        res.destroy();
        throw invalidArgument(`${what}: the registry sends ${declared} bytes, the descriptor says ${desc.size}`);
      }
      try {
        for await (const chunk of res) {
          let b = chunk as Buffer;
          if (skip > 0) {
            if (b.length <= skip) {
              skip -= b.length;
              continue;
            }
            b = b.subarray(skip);
            skip = 0;
          }
          received += b.length;
          if (received > desc.size) throw invalidArgument(`${what}: size mismatch: expected ${desc.size} bytes, received more`);
          hash?.update(b);
          opts.onBytes?.(b.length);
          yield b;
        }
      } catch (err) {
        res.destroy();
        if (err instanceof BerthError) throw err;
        if (canRetry) {
          await pause(this.client.retryDelayMs * 2 ** attempt);
          continue;
        }
        throw transportError('GET', url, err);
      }
      if (received < desc.size && skip === 0) {
        // The body ended early without an error (a close-delimited answer cut short).
        if (canRetry) continue;
        throw invalidArgument(`${what}: size mismatch: expected ${desc.size} bytes, received ${received}`);
      }
      if (skip > 0) throw invalidArgument(`${what}: the registry resent fewer bytes than were already received`);
      break;
    }
    if (!hash) return;
    const actual = asDigest(hash.digest('hex'));
    if (actual !== desc.digest) throw new DigestMismatchError(desc.digest, actual, `${what}: digest mismatch: expected ${desc.digest}, received ${actual}`);
  }

  /** The blob's GET response, asking for bytes from `from` on. Its status is 200, or 206 starting at `from`. */
  private async openBlob(url: URL, desc: Descriptor, from: number): Promise<IncomingMessage> {
    const headers: Record<string, string> = from > 0 ? { range: `bytes=${from}-` } : {};
    const res = await this.session.request({ method: 'GET', target: url, headers, followRedirects: true });
    const status = res.statusCode ?? 0;
    if (status === 200) return res;
    if (status === 206 && from > 0) {
      const m = /^bytes (\d+)-(\d+)\/(\d+|\*)$/.exec(firstHeader(res.headers['content-range']) ?? '');
      if (m && Number(m[1]) === from) return res;
      res.destroy();
      throw invalidArgument(`blob ${desc.digest} of ${this.display}: the registry answered a resume at byte ${from} with range ${JSON.stringify(res.headers['content-range'] ?? '')}`);
    }
    const body = await readErrorBody(res);
    throw errorFromResponse(status, res.headers, body, { request: `GET ${url.href}`, notFoundPrefix: `blob ${desc.digest} not found in ${this.display}` });
  }

  /** A small blob (an image config) read whole and verified; refused when its descriptor says it exceeds `max`. */
  async fetchBlobBytes(desc: Descriptor, max = MAX_BLOB_BYTES_DEFAULT): Promise<Buffer> {
    if (desc.size > max) throw invalidArgument(`blob ${desc.digest} of ${this.display} is ${desc.size} bytes, more than the ${max} allowed here`);
    const chunks: Buffer[] = [];
    for await (const c of this.fetchBlob(desc)) chunks.push(c as Buffer);
    return Buffer.concat(chunks);
  }

  /** True when the repository has the blob (HEAD); when `size` is given the registry's size must agree. */
  async blobExists(digest: Digest, size?: number): Promise<boolean> {
    if (!isDigest(digest)) throw invalidArgument(`invalid blob digest ${JSON.stringify(digest)}`);
    const url = this.session.url(this.path('blobs', digest));
    const res = await this.session.request({ method: 'HEAD', target: url, followRedirects: true });
    // A HEAD answer has no body, whatever its Content-Length says.
    res.resume();
    const status = res.statusCode ?? 0;
    if (status === 404) return false;
    if (status !== 200) throw errorFromResponse(status, res.headers, undefined, { request: `HEAD ${url.href}` });
    const len = Number(res.headers['content-length']);
    if (size !== undefined && Number.isFinite(len) && len !== size) {
      throw failedPrecondition(`blob ${digest} in ${this.display} has ${len} bytes, expected ${size}`);
    }
    return true;
  }

  /**
   * Asks the registry to link a blob from repository `from` (same registry)
   * into this one. True when mounted (201); false when the registry would
   * rather receive it (202): the upload session it opened is cancelled and
   * the caller uploads as usual.
   */
  async mountBlob(digest: Digest, from: string): Promise<boolean> {
    if (!isDigest(digest)) throw invalidArgument(`invalid blob digest ${JSON.stringify(digest)}`);
    this.session.addScopes([repositoryScope(from, ['pull'])]);
    const url = this.session.url(this.path('blobs', 'uploads/'));
    url.searchParams.set('mount', digest);
    url.searchParams.set('from', from);
    const res = await this.session.request({ method: 'POST', target: url });
    const status = res.statusCode ?? 0;
    const body = await readErrorBody(res);
    if (status === 201) return true;
    if (status === 202) {
      const loc = res.headers.location;
      const at = loc ? parseUrl(loc, url) : undefined;
      if (at) await this.cancelUpload(at);
      return false;
    }
    throw errorFromResponse(status, res.headers, body, { request: `POST ${url.href}` });
  }

  /**
   * Uploads a blob: POST for a session, then one PUT of the whole stream, or
   * PATCHes of `chunkSize` bytes (each to the Location the last answer gave)
   * and a closing PUT. The stream must hold exactly `size` bytes hashing to
   * `digest`; otherwise the upload is cancelled and an invalid-argument error
   * says so. At most one chunk is held in memory.
   */
  async uploadBlob(digest: Digest, size: number, stream: Readable, opts: UploadOptions = {}): Promise<void> {
    if (!isDigest(digest)) throw invalidArgument(`invalid blob digest ${JSON.stringify(digest)}`);
    if (!Number.isSafeInteger(size) || size < 0) throw invalidArgument(`invalid blob size ${size}`);
    if (opts.chunkSize !== undefined && (!Number.isSafeInteger(opts.chunkSize) || opts.chunkSize < 1)) throw invalidArgument(`invalid chunk size ${opts.chunkSize}`);
    const what = `blob ${digest} for ${this.display}`;
    const startUrl = this.session.url(this.path('blobs', 'uploads/'));
    const start = await this.session.request({ method: 'POST', target: startUrl });
    let location = await this.nextLocation(start, 202, 'POST', startUrl);
    const hash = createHash('sha256');
    let sent = 0;
    const check = (): void => {
      if (sent !== size) throw invalidArgument(`${what}: size mismatch: expected ${size} bytes, the source gave ${sent}`);
      const actual = asDigest(hash.digest('hex'));
      if (actual !== digest) throw new DigestMismatchError(digest, actual, `${what}: digest mismatch: expected ${digest}, received ${actual}`);
    };
    try {
      if (opts.chunkSize === undefined) {
        const verified = new Transform({
          transform(chunk: Buffer, _enc, cb) {
            sent += chunk.length;
            if (sent > size) return cb(invalidArgument(`${what}: size mismatch: expected ${size} bytes, the source gave more`));
            hash.update(chunk);
            opts.onBytes?.(chunk.length);
            cb(null, chunk);
          },
          flush(cb) {
            try {
              check();
              cb();
            } catch (err) {
              cb(err as Error);
            }
          },
        });
        stream.once('error', (e) => verified.destroy(e));
        const put = withDigest(location, digest);
        const res = await this.session.request({
          method: 'PUT', target: put, body: stream.pipe(verified),
          headers: { 'content-type': 'application/octet-stream', 'content-length': String(size) },
        });
        await this.finished(res, put, digest);
      } else {
        for await (const chunk of chunks(stream, opts.chunkSize)) {
          if (sent + chunk.length > size) throw invalidArgument(`${what}: size mismatch: expected ${size} bytes, the source gave more`);
          hash.update(chunk);
          const res = await this.session.request({
            method: 'PATCH', target: location, body: chunk,
            headers: { 'content-type': 'application/octet-stream', 'content-range': `${sent}-${sent + chunk.length - 1}` },
          });
          const range = firstHeader(res.headers.range);
          location = await this.nextLocation(res, 202, 'PATCH', location);
          sent += chunk.length;
          const m = range ? /^(?:bytes=)?0-(\d+)$/.exec(range) : null;
          if (range && (!m || Number(m[1]) !== sent - 1)) {
            throw invalidArgument(`${what}: after ${sent} bytes the registry reports having range ${JSON.stringify(range)}`);
          }
          opts.onBytes?.(chunk.length);
        }
        check();
        const put = withDigest(location, digest);
        const res = await this.session.request({ method: 'PUT', target: put });
        await this.finished(res, put, digest);
      }
    } catch (err) {
      stream.destroy();
      await this.cancelUpload(location);
      throw err;
    }
  }

  /** The Location of an upload-session answer with status `want`; otherwise the registry's error. */
  private async nextLocation(res: IncomingMessage, want: number, method: string, url: URL): Promise<URL> {
    const request = `${method} ${url.href}`;
    const status = res.statusCode ?? 0;
    const body = await readErrorBody(res);
    if (status !== want) throw errorFromResponse(status, res.headers, body, { request });
    const loc = res.headers.location;
    if (!loc) throw new RegistryError('unavailable', `${request}: the registry gave no upload Location`, status);
    const next = parseUrl(loc, url);
    if (!next || (next.protocol !== 'http:' && next.protocol !== 'https:')) throw new RegistryError('unavailable', `${request}: invalid upload Location ${JSON.stringify(loc)}`, status);
    return next;
  }

  private async finished(res: IncomingMessage, url: URL, digest: Digest): Promise<void> {
    const status = res.statusCode ?? 0;
    const body = await readErrorBody(res);
    if (status !== 201) throw errorFromResponse(status, res.headers, body, { request: `PUT ${url.href}` });
    const said = firstHeader(res.headers['docker-content-digest'])?.trim();
    if (said && said.startsWith('sha256:') && said !== digest) {
      throw new RegistryError('unavailable', `PUT ${url.href}: the registry stored the blob as ${said}, expected ${digest}`, status);
    }
  }

  private async cancelUpload(location: URL): Promise<void> {
    try {
      const res = await this.session.request({ method: 'DELETE', target: location });
      discard(res);
    } catch {
      // Best effort: registries expire abandoned sessions themselves.
    }
  }

  /**
   * Stores a manifest under a tag or its digest and returns its digest. The
   * bytes are sent as they are, so the digest is theirs; when the registry
   * names another digest that is an error.
   */
  async putManifest(reference: string, mediaType: string, bytes: Buffer): Promise<Digest> {
    if (!isDigest(reference) && !isValidTag(reference)) throw invalidArgument(`invalid tag or digest ${JSON.stringify(reference)}`);
    if (bytes.length > this.client.maxManifestBytes) throw invalidArgument(`manifest of ${bytes.length} bytes exceeds the ${this.client.maxManifestBytes} allowed`);
    const digest = asDigest(createHash('sha256').update(bytes).digest('hex'));
    if (isDigest(reference) && reference !== digest) throw invalidArgument(`manifest bytes hash to ${digest}, not ${reference}`);
    // Checked like a pulled one, so Berth never pushes what it would refuse to pull.
    parseManifest(bytes, mediaType, `manifest for ${this.display}:${reference}`);
    const url = this.session.url(this.path('manifests', reference));
    const res = await this.session.request({ method: 'PUT', target: url, body: bytes, headers: { 'content-type': mediaType } });
    const status = res.statusCode ?? 0;
    const body = await readErrorBody(res);
    if (status !== 201) throw errorFromResponse(status, res.headers, body, { request: `PUT ${url.href}` });
    const said = firstHeader(res.headers['docker-content-digest'])?.trim();
    if (said && said.startsWith('sha256:') && said !== digest) {
      throw new RegistryError('unavailable', `PUT ${url.href}: the registry stored the manifest as ${said}, expected ${digest}`, status);
    }
    return digest;
  }

  /** All tags of the repository, following `Link: <…>; rel="next"` pages on the same registry. */
  async listTags(opts: ListTagsOptions = {}): Promise<string[]> {
    const pageSize = opts.pageSize ?? 1000;
    const max = opts.max ?? 100_000;
    let url: URL | undefined = this.session.url(this.path('tags', 'list'));
    url.searchParams.set('n', String(pageSize));
    const tags: string[] = [];
    const seen = new Set<string>();
    while (url) {
      if (seen.has(url.href)) throw new RegistryError('unavailable', `GET ${url.href}: the registry's tag pages loop`, 200);
      seen.add(url.href);
      const res = await this.session.request({ method: 'GET', target: url, followRedirects: true });
      const status = res.statusCode ?? 0;
      if (status !== 200) {
        const body = await readErrorBody(res);
        throw errorFromResponse(status, res.headers, body, { request: `GET ${url.href}`, notFoundPrefix: `repository ${this.display} not found` });
      }
      const body = await readBody(res, MAX_TAGS_PAGE, `tags of ${this.display}`);
      let doc: unknown;
      try {
        doc = JSON.parse(body.toString('utf8'));
      } catch {
        throw invalidArgument(`tags of ${this.display}: the registry's answer is not JSON`);
      }
      const list = (doc as { tags?: unknown } | null)?.tags;
      if (list !== null && list !== undefined) {
        if (!Array.isArray(list)) throw invalidArgument(`tags of ${this.display}: "tags" is not a list`);
        for (const t of list) {
          if (typeof t !== 'string' || !isValidTag(t)) throw invalidArgument(`tags of ${this.display}: invalid tag ${JSON.stringify(t)}`);
          tags.push(t);
        }
      }
      if (tags.length > max) throw invalidArgument(`tags of ${this.display}: more than ${max} tags`);
      url = nextLink(firstHeader(res.headers.link), url);
    }
    return tags;
  }
}

/** The `rel="next"` target of a Link header, resolved against `base`; only on the same origin. */
export function nextLink(header: string | undefined, base: URL): URL | undefined {
  if (!header) return undefined;
  for (const part of header.split(/,(?=\s*<)/)) {
    const m = /^\s*<([^>]*)>(.*)$/.exec(part);
    if (!m || !/;\s*rel="?next"?(?:\s*;|\s*$)/i.test(m[2]!)) continue;
    const next = new URL(m[1]!, base);
    if (next.origin !== base.origin) throw new RegistryError('unavailable', `the registry's next page ${next.href} is on another host`, 200);
    return next;
  }
  return undefined;
}

function withDigest(location: URL, digest: Digest): URL {
  const u = new URL(location);
  u.searchParams.set('digest', digest);
  return u;
}

/** `stream` regrouped into Buffers of exactly `size` bytes (the last may be shorter). */
async function* chunks(stream: Readable, size: number): AsyncGenerator<Buffer> {
  let parts: Buffer[] = [];
  let n = 0;
  for await (const c of stream) {
    let b = typeof c === 'string' ? Buffer.from(c) : (c as Buffer);
    while (n + b.length >= size) {
      const take = size - n;
      parts.push(b.subarray(0, take));
      yield Buffer.concat(parts, size);
      parts = [];
      n = 0;
      b = b.subarray(take);
    }
    if (b.length > 0) {
      parts.push(b);
      n += b.length;
    }
  }
  if (n > 0) yield Buffer.concat(parts, n);
}

/** Worth another try: no answer at all, or a gateway or server that is briefly down. */
function isTransient(err: unknown): boolean {
  return err instanceof RegistryError && (err.status === 0 || err.status === 502 || err.status === 503 || err.status === 504) && err.kind === 'unavailable';
}

/** `s` resolved against `base`, or undefined when it is no URL (a hostile header). */
export function parseUrl(s: string, base: URL): URL | undefined {
  try {
    return new URL(s, base);
  } catch {
    return undefined;
  }
}

const pause = (ms: number) => new Promise<void>((r) => setTimeout(r, ms));
