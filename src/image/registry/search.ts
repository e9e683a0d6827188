/**
 * `docker search`: the v1 search API of an index (`GET /v1/search?q=TERM&n=LIMIT`), which
 * Docker Hub's index and some private registries serve (the distribution registry does not).
 *
 * Contract
 * - The index is the term's first component when it names a host (has a `.` or a `:`, or is
 *   `localhost`), else Docker Hub's (https://index.docker.io, where `library/` is dropped from
 *   the term). Any other index is first pinged (`GET /v1/_ping`, any answer will do) over
 *   HTTPS; a loopback or insecure one falls back to HTTP when HTTPS gets no answer, as dockerd
 *   does. The failures read as dockerd's (`invalid registry endpoint …`).
 * - `limit` is 1..100 (0 means 25), else invalid-argument in dockerd's words.
 * - The answer is hostile input: at most 4 MiB, JSON with a `results` array of objects; each
 *   result keeps only name, description, star_count and is_official, of their JSON types
 *   (anything else is dropped or zeroed). A status other than 200 is dockerd's
 *   `Unexpected status code N`.
 * - Credentials go along as basic authorization, only over HTTPS or to a loopback index.
 */
import type { IncomingMessage } from 'node:http';
import { invalidArgument, internal, isValidDomain, splitSearchTerm } from '../../common';
import type { Credentials } from './auth';
import { DOCKER_HUB_INDEX, hostOf, isInsecureRegistry, isLoopbackHost } from './endpoint';
import { discard, readBody, send, type HttpAgents } from './http';

/** One result as the index gives it (dockerd's registry.SearchResult). */
export interface SearchResult {
  star_count: number;
  is_official: boolean;
  name: string;
  is_automated: boolean;
  description: string;
}

const DEFAULT_LIMIT = 25;
const MAX_ANSWER = 4 << 20;

export async function searchIndex(agents: HttpAgents, insecureRegistries: readonly string[], term: string, limit: number, credentials?: Credentials): Promise<SearchResult[]> {
  if (/^[a-z][a-z0-9+.-]*:\/\//i.test(term)) throw invalidArgument(`invalid repository name: repository name (${term}) should not have a scheme`);
  const n = limit === 0 ? DEFAULT_LIMIT : limit;
  if (n < 1 || n > 100) throw invalidArgument(`limit ${n} is outside the range of [1, 100]`);
  const { index, remote } = splitSearchTerm(term);
  // A host as references name one, so the URLs below can only point at it.
  if (index !== undefined && !isValidDomain(index)) throw invalidArgument(`invalid search term ${JSON.stringify(term)}: ${JSON.stringify(index)} is not a registry host`);
  const base = index === undefined ? DOCKER_HUB_INDEX : await v1Base(agents, index, insecureRegistries);
  const query = index === undefined ? remote.replace(/^library\//, '') : remote;
  const url = new URL(`${base}/v1/search?q=${encodeURIComponent(query)}&n=${n}`);
  const headers: Record<string, string> = { 'x-docker-token': 'true' };
  if (credentials && 'password' in credentials && (url.protocol === 'https:' || isLoopbackHost(url.hostname))) {
    headers.authorization = `Basic ${Buffer.from(`${credentials.username}:${credentials.password}`).toString('base64')}`;
  }
  const res = await send(agents, { method: 'GET', url, headers });
  if (res.statusCode !== 200) {
    discard(res);
    throw internal(`Unexpected status code ${res.statusCode ?? 0}`);
  }
  return parseResults(await readAnswer(res));
}

async function readAnswer(res: IncomingMessage): Promise<unknown> {
  const body = await readBody(res, MAX_ANSWER, 'search results');
  try {
    return JSON.parse(body.toString('utf8'));
  } catch (err) {
    throw internal(`error decoding registry search results: ${(err as Error).message}`);
  }
}

function parseResults(v: unknown): SearchResult[] {
  const results = v && typeof v === 'object' ? (v as { results?: unknown }).results : undefined;
  if (results === undefined || results === null) return [];
  if (!Array.isArray(results)) throw internal('error decoding registry search results: "results" is not a list');
  return results.filter((r): r is Record<string, unknown> => !!r && typeof r === 'object' && !Array.isArray(r)).map((r) => ({
    star_count: typeof r.star_count === 'number' && Number.isFinite(r.star_count) ? Math.trunc(r.star_count) : 0,
    is_official: r.is_official === true,
    name: typeof r.name === 'string' ? r.name : '',
    is_automated: false,
    description: typeof r.description === 'string' ? r.description : '',
  }));
}

/** `https://host` when it answers a v1 ping over HTTPS; an insecure index may fall back to `http://host`. */
async function v1Base(agents: HttpAgents, index: string, insecureRegistries: readonly string[]): Promise<string> {
  const secure = `https://${index}`;
  const tried = await ping(agents, secure);
  if (tried === undefined) return secure;
  const insecure = isLoopbackHost(hostOf(index)) || isInsecureRegistry(index, insecureRegistries);
  if (!insecure) {
    throw invalidArgument(`invalid registry endpoint ${secure}/v1/: ${tried}. If this private registry supports only HTTP or HTTPS with an unknown CA certificate, please add \`--insecure-registry ${index}\` to the daemon's arguments. In the case of HTTPS, if you have access to the registry's CA certificate, no need for the flag; simply place the CA certificate at /etc/docker/certs.d/${index}/ca.crt`);
  }
  const plain = `http://${index}`;
  const again = await ping(agents, plain);
  if (again === undefined) return plain;
  throw invalidArgument(`invalid registry endpoint "${plain}/v1/". HTTPS attempt: ${tried}. HTTP attempt: ${again}`);
}

/** undefined when `base` answers `GET /v1/_ping` at all; else why not. */
async function ping(agents: HttpAgents, base: string): Promise<string | undefined> {
  try {
    discard(await send(agents, { method: 'GET', url: new URL(`${base}/v1/_ping`) }));
    return undefined;
  } catch (err) {
    return err instanceof Error ? err.message : String(err);
  }
}
