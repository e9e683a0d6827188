/** Unit tests of the registry client's pure parts: endpoints, challenges, platforms, limits, header parsing. */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { parseChallenges } from './auth';
import { nextLink } from './client';
import { isLoopbackHost, resolveEndpoint } from './endpoint';
import { describeEntries, errorFromResponse, parseErrorBody, parseRetryAfter } from './errors';
import { mapLimit, createLimiter } from './limit';
import { formatPlatform, normalizePlatform, parsePlatform, selectPlatform } from './manifest';
import { MediaType, type Index } from '../media-types';
import type { Digest } from '../../common';

test('endpoints: Docker Hub, loopback over HTTP, insecure registries, HTTPS otherwise', () => {
  assert.deepEqual(resolveEndpoint('docker.io'), { domain: 'docker.io', base: 'https://registry-1.docker.io', plainHttp: false });
  assert.equal(resolveEndpoint('localhost:5000').base, 'http://localhost:5000');
  assert.equal(resolveEndpoint('localhost').base, 'http://localhost');
  assert.equal(resolveEndpoint('127.0.0.1:5000').base, 'http://127.0.0.1:5000');
  assert.equal(resolveEndpoint('127.9.8.7:1').base, 'http://127.9.8.7:1');
  assert.equal(resolveEndpoint('[::1]:5000').base, 'http://[::1]:5000');
  assert.equal(resolveEndpoint('ghcr.io').base, 'https://ghcr.io');
  assert.equal(resolveEndpoint('128.0.0.1:5000').base, 'https://128.0.0.1:5000');
  assert.equal(resolveEndpoint('reg.lan:5000', ['reg.lan:5000']).base, 'http://reg.lan:5000');
  assert.equal(resolveEndpoint('reg.lan:5000', ['reg.lan']).base, 'http://reg.lan:5000');
  assert.equal(resolveEndpoint('reg.lan:5000', ['reg.lan:6000']).base, 'https://reg.lan:5000');
  assert.equal(resolveEndpoint('10.1.2.3:5000', ['10.0.0.0/8']).base, 'http://10.1.2.3:5000');
  assert.equal(resolveEndpoint('11.1.2.3:5000', ['10.0.0.0/8']).base, 'https://11.1.2.3:5000');
  assert.throws(() => resolveEndpoint('bad host'), { kind: 'invalid-argument' } as never);
  assert.equal(isLoopbackHost('::ffff:127.0.0.1'), true);
  assert.equal(isLoopbackHost('localhost.example.com'), false);
});

test('WWW-Authenticate challenges parse with quoting, commas in values and several schemes', () => {
  assert.deepEqual(parseChallenges('Bearer realm="https://auth.docker.io/token",service="registry.docker.io",scope="repository:library/a:pull,push"'), [
    { scheme: 'bearer', params: { realm: 'https://auth.docker.io/token', service: 'registry.docker.io', scope: 'repository:library/a:pull,push' } },
  ]);
  assert.deepEqual(parseChallenges(['Basic realm="x y"', 'Bearer realm=https://a/t, error=insufficient_scope']), [
    { scheme: 'basic', params: { realm: 'x y' } },
    { scheme: 'bearer', params: { realm: 'https://a/t', error: 'insufficient_scope' } },
  ]);
  assert.deepEqual(parseChallenges('Basic realm="a\\"b", Bearer realm="r"'), [
    { scheme: 'basic', params: { realm: 'a"b' } },
    { scheme: 'bearer', params: { realm: 'r' } },
  ]);
  assert.deepEqual(parseChallenges(undefined), []);
  assert.deepEqual(parseChallenges('=garbage'), []);
});

test('platforms: aliases and default variants; selection prefers exact, then older compatible variants', () => {
  assert.deepEqual(parsePlatform('linux/x86_64'), { os: 'linux', architecture: 'amd64', variant: 'v1' });
  assert.deepEqual(parsePlatform('linux/aarch64'), { os: 'linux', architecture: 'arm64', variant: 'v8' });
  assert.deepEqual(normalizePlatform({ os: 'linux', architecture: 'arm' }), { os: 'linux', architecture: 'arm', variant: 'v7' });
  assert.equal(formatPlatform({ os: 'linux', architecture: 'arm64', variant: 'v8' }), 'linux/arm64');
  assert.equal(formatPlatform({ os: 'linux', architecture: 'arm', variant: 'v6' }), 'linux/arm/v6');
  assert.throws(() => parsePlatform('linux'), /invalid platform/);

  const d = (n: number) => `sha256:${String(n).repeat(64)}` as Digest;
  const index: Index = {
    schemaVersion: 2,
    manifests: [
      { mediaType: MediaType.ociManifest, digest: d(1), size: 1, platform: { os: 'linux', architecture: 'arm', variant: 'v5' } },
      { mediaType: MediaType.ociManifest, digest: d(2), size: 1, platform: { os: 'linux', architecture: 'arm', variant: 'v6' } },
      { mediaType: MediaType.ociManifest, digest: d(3), size: 1, platform: { os: 'linux', architecture: 'amd64' } },
      { mediaType: MediaType.ociManifest, digest: d(4), size: 1, platform: { os: 'unknown', architecture: 'unknown' } },
      { mediaType: MediaType.ociManifest, digest: d(5), size: 1, platform: { os: 'linux', architecture: 'arm64' } },
    ],
  };
  assert.equal(selectPlatform(index, { os: 'linux', architecture: 'arm', variant: 'v7' }).digest, d(2));
  assert.equal(selectPlatform(index, { os: 'linux', architecture: 'arm', variant: 'v5' }).digest, d(1));
  assert.equal(selectPlatform(index, { os: 'linux', architecture: 'amd64' }).digest, d(3));
  assert.equal(selectPlatform(index, { os: 'linux', architecture: 'arm64', variant: 'v8' }).digest, d(5));
  assert.throws(() => selectPlatform(index, { os: 'windows', architecture: 'amd64' }), {
    kind: 'not-found', message: 'no matching manifest for windows/amd64 in the manifest list entries',
  } as never);
});

test('registry error bodies are read defensively and worded as dockerd does', () => {
  const body = Buffer.from('{"errors":[{"code":"MANIFEST_UNKNOWN","message":"manifest unknown","detail":{"Tag":"x"}}]}');
  assert.equal(describeEntries(parseErrorBody(body)), 'manifest unknown: manifest unknown');
  assert.deepEqual(parseErrorBody(Buffer.from('<html>')), []);
  assert.deepEqual(parseErrorBody(Buffer.from('{"errors":[{"code":5},{"code":"denied","message":"a\\nb"}]}')), [{ code: 'DENIED', message: 'a b' }]);
  const e = errorFromResponse(404, {}, body, { request: 'GET u', notFoundPrefix: 'manifest for a:x not found' });
  assert.equal(e.kind, 'not-found');
  assert.equal(e.message, 'manifest for a:x not found: manifest unknown: manifest unknown');
  assert.equal(errorFromResponse(500, {}, undefined, { request: 'GET u' }).message, 'GET u: received unexpected HTTP status: 500 Internal Server Error');
  assert.equal(errorFromResponse(500, {}, undefined, { request: 'GET u' }).kind, 'unavailable');
  assert.equal(errorFromResponse(403, {}, Buffer.from('{"errors":[{"code":"DENIED","message":"requested access to the resource is denied"}]}'), { request: 'GET u' }).kind, 'forbidden');
  assert.equal(parseRetryAfter('120'), 120);
  assert.equal(parseRetryAfter(new Date(Date.UTC(2030, 0, 1, 0, 1)).toUTCString(), Date.UTC(2030, 0, 1)), 60);
  assert.equal(parseRetryAfter('soon'), undefined);
});

test('Link headers: rel="next" on the same origin', () => {
  const base = new URL('http://r:5000/v2/x/tags/list?n=2');
  assert.equal(nextLink('</v2/x/tags/list?n=2&last=b>; rel="next"', base)?.href, 'http://r:5000/v2/x/tags/list?n=2&last=b');
  assert.equal(nextLink('</a>; rel="prev", </b>; rel=next', base)?.href, 'http://r:5000/b');
  assert.equal(nextLink(undefined, base), undefined);
  assert.throws(() => nextLink('<https://elsewhere/v2/x/tags/list>; rel="next"', base), /another host/);
});

test('mapLimit keeps at most n calls in flight, keeps order, and stops starting after a failure', async () => {
  let running = 0;
  let peak = 0;
  const gates: (() => void)[] = [];
  const p = mapLimit([1, 2, 3, 4, 5, 6, 7], 3, async (n) => {
    running++;
    peak = Math.max(peak, running);
    await new Promise<void>((r) => gates.push(r));
    running--;
    return n * 10;
  });
  while (gates.length > 0 || running > 0) {
    await new Promise<void>((r) => setImmediate(r));
    gates.shift()?.();
  }
  assert.deepEqual(await p, [10, 20, 30, 40, 50, 60, 70]);
  assert.equal(peak, 3);

  const started: number[] = [];
  await assert.rejects(mapLimit([1, 2, 3, 4, 5], 2, async (n) => {
    started.push(n);
    if (n === 2) throw new Error('boom');
    await new Promise<void>((r) => setImmediate(r));
    return n;
  }), /boom/);
  assert.ok(!started.includes(5), `started ${started.join(',')}`);

  const limit = createLimiter(1);
  const order: string[] = [];
  await Promise.all([
    limit(async () => { order.push('a+'); await new Promise<void>((r) => setImmediate(r)); order.push('a-'); }),
    limit(async () => { order.push('b+'); order.push('b-'); }),
  ]);
  assert.deepEqual(order, ['a+', 'a-', 'b+', 'b-']);
});
