import type http from 'node:http';
import type { Readable } from 'node:stream';
import type {
  ContainerCreateRequest,
  ContainerCreateResponse,
  ContainerInspect,
  ContainerSummary,
  DeleteItem,
  ImageInspect,
  ImageSummary,
  SystemInfo,
  VersionResponse,
  WaitResponse,
} from '../wire';
import { DaemonAddress } from './host';
import { Hijacked, readAll, Transport } from './transport';

/** Docker's filter form: key → set of values, sent as JSON `{"k":{"v":true}}`. */
export type Filters = Record<string, string[]>;

export function encodeFilters(f: Filters | undefined): string | undefined {
  if (!f || Object.keys(f).length === 0) return undefined;
  const out: Record<string, Record<string, boolean>> = {};
  for (const [k, vs] of Object.entries(f)) {
    out[k] = {};
    for (const v of vs) out[k]![v] = true;
  }
  return JSON.stringify(out);
}

const enc = encodeURIComponent;

export type WaitCondition = 'not-running' | 'next-exit' | 'removed';

/** A wait whose headers have arrived: the daemon is now watching for the condition. */
export interface WaitHandle {
  result: Promise<WaitResponse>;
  /** Drops the connection (docker does this for `run -d`). */
  abort(): void;
}

export interface LogsOptions {
  follow?: boolean;
  stdout?: boolean;
  stderr?: boolean;
  timestamps?: boolean;
  tail?: string;
  since?: string;
  until?: string;
  details?: boolean;
}

export interface AttachOptions {
  stdin?: boolean;
  stdout?: boolean;
  stderr?: boolean;
  detachKeys?: string;
  logs?: boolean;
}

/** The typed Engine API (1.45) over one daemon address. */
export class EngineClient {
  readonly transport: Transport;

  constructor(address: DaemonAddress, opts: { apiVersion?: string; userAgent?: string } = {}) {
    this.transport = new Transport(address, opts);
  }

  get address(): DaemonAddress {
    return this.transport.address;
  }

  // ---- system

  version(): Promise<VersionResponse> {
    return this.transport.json('GET', '/version');
  }

  info(): Promise<SystemInfo> {
    return this.transport.json('GET', '/info');
  }

  async ping(): Promise<string> {
    return (await readAll(await this.transport.request('GET', '/_ping'))).toString('utf8');
  }

  // ---- containers

  containerCreate(body: ContainerCreateRequest, opts: { name?: string; platform?: string } = {}): Promise<ContainerCreateResponse> {
    return this.transport.json('POST', '/containers/create', { query: { name: opts.name || undefined, platform: opts.platform || undefined }, body });
  }

  containerList(opts: { all?: boolean; limit?: number; size?: boolean; filters?: Filters } = {}): Promise<ContainerSummary[]> {
    return this.transport.json('GET', '/containers/json', {
      query: {
        all: opts.all ? true : undefined,
        limit: opts.limit !== undefined && opts.limit > 0 ? opts.limit : undefined,
        size: opts.size ? true : undefined,
        filters: encodeFilters(opts.filters),
      },
    });
  }

  containerInspect(id: string, opts: { size?: boolean } = {}): Promise<ContainerInspect> {
    return this.transport.json('GET', `/containers/${enc(id)}/json`, { query: { size: opts.size ? true : undefined } });
  }

  /** Resolves true when the daemon answered 304 (already started). */
  async containerStart(id: string, opts: { detachKeys?: string } = {}): Promise<boolean> {
    return (await this.transport.call('POST', `/containers/${enc(id)}/start`, { query: { detachKeys: opts.detachKeys } })) === 304;
  }

  async containerStop(id: string, opts: { timeout?: number; signal?: string } = {}): Promise<boolean> {
    return (await this.transport.call('POST', `/containers/${enc(id)}/stop`, { query: { t: opts.timeout, signal: opts.signal } })) === 304;
  }

  async containerRestart(id: string, opts: { timeout?: number; signal?: string } = {}): Promise<void> {
    await this.transport.call('POST', `/containers/${enc(id)}/restart`, { query: { t: opts.timeout, signal: opts.signal } });
  }

  async containerKill(id: string, signal?: string): Promise<void> {
    await this.transport.call('POST', `/containers/${enc(id)}/kill`, { query: { signal: signal || undefined } });
  }

  async containerRemove(id: string, opts: { force?: boolean; volumes?: boolean; link?: boolean } = {}): Promise<void> {
    await this.transport.call('DELETE', `/containers/${enc(id)}`, {
      query: { force: opts.force ? true : undefined, v: opts.volumes ? true : undefined, link: opts.link ? true : undefined },
    });
  }

  async containerResize(id: string, height: number, width: number): Promise<void> {
    await this.transport.call('POST', `/containers/${enc(id)}/resize`, { query: { h: height, w: width } });
  }

  /**
   * Starts a wait and resolves once the reply headers arrive, so the caller can start
   * the container knowing the daemon will not miss the exit.
   */
  async containerWait(id: string, condition: WaitCondition = 'not-running'): Promise<WaitHandle> {
    const ac = new AbortController();
    const res = await this.transport.request('POST', `/containers/${enc(id)}/wait`, { query: { condition }, signal: ac.signal });
    const result = readAll(res).then((b) => {
      const text = b.toString('utf8').trim();
      if (!text) throw new Error(`wait for container ${id} ended without a result`);
      return JSON.parse(text) as WaitResponse;
    });
    result.catch(() => undefined);
    return { result, abort: () => ac.abort() };
  }

  /** The log stream: multiplexed without a TTY, raw with one. */
  containerLogs(id: string, opts: LogsOptions): Promise<http.IncomingMessage> {
    return this.transport.request('GET', `/containers/${enc(id)}/logs`, {
      query: {
        stdout: opts.stdout ?? true ? true : undefined,
        stderr: opts.stderr ?? true ? true : undefined,
        follow: opts.follow ? true : undefined,
        timestamps: opts.timestamps ? true : undefined,
        tail: opts.tail ?? 'all',
        since: opts.since,
        until: opts.until,
        details: opts.details ? true : undefined,
      },
    });
  }

  /** The hijacked attach: `101` then a raw socket carrying frames (no TTY) or raw bytes (TTY). */
  containerAttach(id: string, opts: AttachOptions): Promise<Hijacked> {
    return this.transport.hijack('POST', `/containers/${enc(id)}/attach`, {
      query: {
        stream: true,
        stdin: opts.stdin ? true : undefined,
        stdout: opts.stdout ? true : undefined,
        stderr: opts.stderr ? true : undefined,
        logs: opts.logs ? true : undefined,
        detachKeys: opts.detachKeys,
      },
    });
  }

  // ---- images

  imageList(opts: { all?: boolean; filters?: Filters } = {}): Promise<ImageSummary[]> {
    return this.transport.json('GET', '/images/json', { query: { all: opts.all ? true : undefined, filters: encodeFilters(opts.filters) } });
  }

  imageInspect(name: string): Promise<ImageInspect> {
    return this.transport.json('GET', `/images/${name.split('/').map(enc).join('/')}/json`);
  }

  async imageTag(source: string, repo: string, tag: string): Promise<void> {
    await this.transport.call('POST', `/images/${source.split('/').map(enc).join('/')}/tag`, { query: { repo, tag: tag || undefined } });
  }

  imageRemove(name: string, opts: { force?: boolean; noPrune?: boolean } = {}): Promise<DeleteItem[]> {
    return this.transport.json('DELETE', `/images/${name.split('/').map(enc).join('/')}`, {
      query: { force: opts.force ? true : undefined, noprune: opts.noPrune ? true : undefined },
    });
  }

  /**
   * `POST /images/create?fromSrc=`: the body is a rootfs tarball, or, with a URL for `source`,
   * the daemon downloads it. The reply is a JSON progress stream.
   */
  imageImport(source: Readable | Buffer | string, opts: { repo?: string; tag?: string; message?: string; changes?: string[]; platform?: string } = {}): Promise<http.IncomingMessage> {
    const url = typeof source === 'string';
    return this.transport.request('POST', '/images/create', {
      query: {
        fromSrc: url ? source : '-',
        repo: opts.repo || undefined,
        tag: opts.tag || undefined,
        message: opts.message || undefined,
        changes: opts.changes && opts.changes.length ? opts.changes : undefined,
        platform: opts.platform || undefined,
      },
      ...(url ? {} : { headers: { 'Content-Type': 'application/x-tar' }, body: source }),
    });
  }

  /**
   * `POST /images/create?fromImage=`: pull from a registry. `tag` is a tag or a digest;
   * none pulls every tag. `registryAuth` is the X-Registry-Auth header value.
   * The reply is a JSON progress stream; errors before it are thrown.
   */
  imagePull(fromImage: string, opts: { tag?: string; platform?: string; registryAuth?: string } = {}): Promise<http.IncomingMessage> {
    return this.transport.request('POST', '/images/create', {
      query: { fromImage, tag: opts.tag || undefined, platform: opts.platform || undefined },
      headers: opts.registryAuth ? { 'X-Registry-Auth': opts.registryAuth } : {},
    });
  }

  /** `POST /images/{name}/push`: an empty `tag` pushes every local tag of the repository. */
  imagePush(name: string, opts: { tag?: string; registryAuth?: string } = {}): Promise<http.IncomingMessage> {
    return this.transport.request('POST', `/images/${name.split('/').map(enc).join('/')}/push`, {
      query: { tag: opts.tag ?? '' },
      headers: opts.registryAuth ? { 'X-Registry-Auth': opts.registryAuth } : {},
    });
  }

  /** `POST /auth`: checks credentials against a registry. */
  registryLogin(auth: { username?: string; password?: string; serveraddress?: string; identitytoken?: string }): Promise<{ Status: string; IdentityToken?: string }> {
    return this.transport.json('POST', '/auth', { body: auth });
  }

  /** `POST /images/load`: the body is a docker-archive/OCI tar; the reply is JSON lines (or text). */
  imageLoad(source: Readable | Buffer, opts: { quiet?: boolean } = {}): Promise<http.IncomingMessage> {
    return this.transport.request('POST', '/images/load', {
      query: { quiet: opts.quiet ? true : false },
      headers: { 'Content-Type': 'application/x-tar' },
      body: source,
    });
  }
}
