/**
 * Authorized requests to one registry for one set of scopes. A session
 * learns how the registry wants to be authenticated from `GET /v2/` (the
 * "ping" every Docker client does first), gets a bearer token for its scopes
 * when the registry uses the token flow, and sends every request with it.
 *
 * Credentials and tokens go only to the registry's own origin and to the
 * token realm it names; a redirect to another origin (blob storage) is
 * followed without them.
 */
import type { IncomingMessage } from 'node:http';
import { Readable } from 'node:stream';
import { basicAuthorization, parseChallenges, type Challenge, type Credentials } from './auth';
import { isLoopbackHost, type RegistryEndpoint } from './endpoint';
import { errorFromResponse, RegistryError } from './errors';
import { discard, readBody, readErrorBody, send, type HttpAgents, type HttpRequest } from './http';

const MAX_REDIRECTS = 10;
const MAX_TOKEN_RESPONSE = 1 << 20;
/** dockerd's floor for a token's life when the server gives none or less. */
const MIN_TOKEN_SECONDS = 60;
/** The client id sent to OAuth2 token endpoints. */
const CLIENT_ID = 'berth';

export interface SessionRequest {
  method: HttpRequest['method'];
  /** A path under the endpoint (`/v2/…`), or an absolute URL (upload locations). */
  target: string | URL;
  headers?: Record<string, string>;
  body?: Buffer | Readable;
  /** Follow 3xx answers (GET and HEAD only). */
  followRedirects?: boolean;
}

interface Token {
  value: string;
  expiresAt: number;
  scopes: string;
}

export class RegistrySession {
  private auth: { kind: 'none' } | { kind: 'basic' } | { kind: 'bearer'; challenge: Challenge } | undefined;
  private token: Token | undefined;
  private pinging: Promise<void> | undefined;
  private readonly scopes = new Set<string>();
  /** A refresh token the token server handed out (login asks for one). */
  refreshToken: string | undefined;

  constructor(
    private readonly agents: HttpAgents,
    readonly endpoint: RegistryEndpoint,
    private readonly credentials: Credentials | undefined,
    scopes: readonly string[] = [],
  ) {
    for (const s of scopes) this.scopes.add(s);
  }

  /** Adds scopes (a mount's source repository); the next request gets a token that covers them. */
  addScopes(scopes: readonly string[]): void {
    for (const s of scopes) {
      if (!this.scopes.has(s)) {
        this.scopes.add(s);
        this.token = undefined;
      }
    }
  }

  url(target: string | URL): URL {
    return typeof target === 'string' ? new URL(target, this.endpoint.base + '/') : target;
  }

  /**
   * Sends a request with the session's authorization, retrying once after a
   * 401 when the body can be sent again. Resolves with any final response:
   * statuses are the caller's to judge.
   */
  async request(req: SessionRequest): Promise<IncomingMessage> {
    await this.ping();
    let url = this.url(req.target);
    let retried = false;
    for (let redirects = 0; ; ) {
      const headers = { ...req.headers };
      if (this.sameOrigin(url)) {
        const a = await this.authorization();
        if (a) headers.authorization = a;
      }
      const res = await send(this.agents, { method: req.method, url, headers, ...(req.body !== undefined ? { body: req.body } : {}) });
      const status = res.statusCode ?? 0;
      if (status === 401 && !retried && this.sameOrigin(url) && !(req.body instanceof Readable)) {
        retried = true;
        const before = this.auth?.kind;
        if (this.learn(res)) {
          await readErrorBody(res);
          if (before === 'bearer' || this.auth?.kind !== before) continue;
        }
        return res;
      }
      if (req.followRedirects && status >= 300 && status < 400 && status !== 304 && res.headers.location) {
        if (++redirects > MAX_REDIRECTS) {
          discard(res);
          throw new RegistryError('unavailable', `${req.method} ${url.href}: stopped after ${MAX_REDIRECTS} redirects`, status);
        }
        let next: URL | undefined;
        try {
          next = new URL(res.headers.location, url);
        } catch {
          next = undefined;
        }
        res.destroy();
        if (!next || (next.protocol !== 'http:' && next.protocol !== 'https:')) {
          throw new RegistryError('unavailable', `${req.method} ${url.href}: redirected to an unusable location ${JSON.stringify(res.headers.location.slice(0, 256))}`, status);
        }
        url = next;
        continue;
      }
      return res;
    }
  }

  private sameOrigin(url: URL): boolean {
    return url.origin === new URL(this.endpoint.base).origin;
  }

  /** Asks `GET /v2/` how to authenticate, once per session. */
  ping(): Promise<void> {
    if (this.auth) return Promise.resolve();
    if (this.credentials && 'registryToken' in this.credentials) {
      this.auth = { kind: 'bearer', challenge: { scheme: 'bearer', params: {} } };
      return Promise.resolve();
    }
    this.pinging ??= (async () => {
      const res = await send(this.agents, { method: 'GET', url: this.url('/v2/') });
      try {
        if (res.statusCode === 401) {
          if (!this.learn(res)) throw errorFromResponse(401, res.headers, await readErrorBody(res), { request: `GET ${this.url('/v2/').href}` });
        } else this.auth = { kind: 'none' };
      } finally {
        discard(res);
      }
    })().finally(() => {
      this.pinging = undefined;
    });
    return this.pinging;
  }

  /** Takes the scheme a 401 asks for. False when there is nothing new to try. */
  private learn(res: IncomingMessage): boolean {
    const challenges = parseChallenges(res.headers['www-authenticate']);
    const bearer = challenges.find((c) => c.scheme === 'bearer' && c.params.realm);
    if (bearer) {
      const wasBearer = this.auth?.kind === 'bearer';
      // An insufficient_scope answer names the scope the request needs.
      if (bearer.params.scope) this.addScopes(bearer.params.scope.split(' ').filter((s) => s.length > 0));
      const hadToken = this.token !== undefined;
      this.auth = { kind: 'bearer', challenge: bearer };
      this.token = undefined;
      return !wasBearer || hadToken;
    }
    if (challenges.some((c) => c.scheme === 'basic')) {
      const was = this.auth?.kind;
      this.auth = { kind: 'basic' };
      return was !== 'basic' && this.credentials !== undefined && 'password' in this.credentials;
    }
    return false;
  }

  private async authorization(): Promise<string | undefined> {
    const auth = this.auth;
    if (!auth || auth.kind === 'none') return undefined;
    const c = this.credentials;
    if (auth.kind === 'basic') return c && 'password' in c ? basicAuthorization(c.username, c.password) : undefined;
    if (c && 'registryToken' in c) return `Bearer ${c.registryToken}`;
    const scopes = [...this.scopes].sort().join(' ');
    if (!this.token || this.token.scopes !== scopes || this.token.expiresAt <= Date.now()) {
      this.token = await this.fetchToken(auth.challenge, [...this.scopes].sort(), false);
    }
    return `Bearer ${this.token.value}`;
  }

  /**
   * For `docker login`: pings, and under the token flow gets a token (and
   * a refresh token when the server issues one) with no scopes, which later
   * requests of this session use.
   */
  async login(): Promise<void> {
    await this.ping();
    const auth = this.auth;
    if (auth?.kind === 'bearer' && !(this.credentials && 'registryToken' in this.credentials)) {
      this.token = await this.fetchToken(auth.challenge, [...this.scopes].sort(), true);
    }
  }

  /**
   * Gets a token from the realm: OAuth2 refresh-token POST for an identity
   * token, else GET with the service and scopes (and Basic credentials when
   * given). `login` asks for a refresh token as well.
   */
  private async fetchToken(challenge: Challenge, scopes: string[], login: boolean): Promise<Token> {
    const realm = this.realmOf(challenge);
    const service = challenge.params.service;
    const c = this.credentials;
    let res: IncomingMessage;
    let method = 'GET';
    if (c && 'identityToken' in c) {
      method = 'POST';
      const form = new URLSearchParams({ grant_type: 'refresh_token', refresh_token: c.identityToken, client_id: CLIENT_ID });
      if (service) form.set('service', service);
      if (scopes.length > 0) form.set('scope', scopes.join(' '));
      res = await send(this.agents, {
        method: 'POST', url: realm, headers: { 'content-type': 'application/x-www-form-urlencoded' }, body: Buffer.from(form.toString()),
      });
    } else {
      const url = new URL(realm);
      if (service) url.searchParams.set('service', service);
      for (const s of scopes) url.searchParams.append('scope', s);
      const headers: Record<string, string> = {};
      if (c && 'password' in c) {
        headers.authorization = basicAuthorization(c.username, c.password);
        if (login) {
          url.searchParams.set('offline_token', 'true');
          url.searchParams.set('client_id', CLIENT_ID);
        }
      }
      res = await send(this.agents, { method: 'GET', url, headers });
    }
    const request = `${method} ${realm.href}`;
    if (res.statusCode !== 200) {
      const body = await readErrorBody(res);
      throw tokenError(res, body, request);
    }
    const body = await readBody(res, MAX_TOKEN_RESPONSE, `token from ${realm.href}`);
    let v: unknown;
    try {
      v = JSON.parse(body.toString('utf8'));
    } catch {
      throw new RegistryError('unavailable', `${request}: the token server's answer is not JSON`, 200);
    }
    const o = (v ?? {}) as Record<string, unknown>;
    const value = typeof o.token === 'string' && o.token ? o.token : typeof o.access_token === 'string' ? o.access_token : '';
    if (!value || !/^[\x21-\x7e]+$/.test(value) || value.length > 64 * 1024) {
      throw new RegistryError('unavailable', `${request}: the token server's answer has no usable token`, 200);
    }
    if (typeof o.refresh_token === 'string' && /^[\x21-\x7e]+$/.test(o.refresh_token)) this.refreshToken = o.refresh_token;
    const life = typeof o.expires_in === 'number' && Number.isFinite(o.expires_in) ? Math.max(o.expires_in, MIN_TOKEN_SECONDS) : MIN_TOKEN_SECONDS;
    // Renew a little early so a token does not expire in flight.
    return { value, expiresAt: Date.now() + (life - 10) * 1000, scopes: scopes.join(' ') };
  }

  private realmOf(challenge: Challenge): URL {
    let realm: URL;
    try {
      realm = new URL(challenge.params.realm ?? '');
    } catch {
      throw new RegistryError('unavailable', `${this.endpoint.domain}: the registry names an invalid token realm ${JSON.stringify(challenge.params.realm)}`, 401);
    }
    if (realm.protocol !== 'https:' && realm.protocol !== 'http:') {
      throw new RegistryError('unavailable', `${this.endpoint.domain}: the token realm ${realm.href} is not an http(s) URL`, 401);
    }
    // Credentials never go over plain HTTP to a remote host the user did not mark insecure.
    if (realm.protocol === 'http:' && !this.endpoint.plainHttp && !isLoopbackHost(realm.hostname)) {
      throw new RegistryError('unavailable', `${this.endpoint.domain}: refusing the plain-HTTP token realm ${realm.href} of an HTTPS registry`, 401);
    }
    return realm;
  }
}

function tokenError(res: IncomingMessage, body: Buffer, request: string): RegistryError {
  const status = res.statusCode ?? 0;
  if (status === 401 || status === 403) {
    // Docker Hub's token server says why in `details`.
    let details: string | undefined;
    try {
      const d = (JSON.parse(body.toString('utf8')) as { details?: unknown }).details;
      if (typeof d === 'string') details = d.slice(0, 512);
    } catch {
      details = undefined;
    }
    if (details) return new RegistryError('forbidden', `${request}: unauthorized: ${details}`, status);
  }
  return errorFromResponse(status, res.headers, body, { request });
}
