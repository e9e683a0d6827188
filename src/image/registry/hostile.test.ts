/**
 * The client against answers a correct registry never gives, and the bearer
 * token flow, using small HTTP servers on 127.0.0.1 written for each case.
 */
import { after, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import type http from 'node:http';
import { MediaType } from '../media-types';
import { parseReference } from '../../common';
import { RegistryClient } from './client';
import { startServer, type TestServer, kind, readAll, sha } from './test-registry';


const servers: TestServer[] = [];
const client = new RegistryClient({ retryDelayMs: 1 });
after(async () => {
  client.close();
  for (const s of servers) await s.close();
});
async function serve(h: (req: http.IncomingMessage, res: http.ServerResponse, body: Buffer) => void): Promise<TestServer> {
  const s = await startServer(h);
  servers.push(s);
  return s;
}
/** An anonymous registry whose routes (path without /v2/) answer as given. */
function registry(routes: Record<string, (req: http.IncomingMessage, res: http.ServerResponse) => void>) {
  return serve((req, res) => {
    const path = (req.url ?? '').split('?')[0]!;
    if (path === '/v2/') return res.end('{}');
    const h = routes[path.replace(/^\/v2\//, '')];
    if (h) return h(req, res);
    res.writeHead(404, { 'content-type': 'application/json' }).end('{"errors":[{"code":"NAME_UNKNOWN","message":"no such thing"}]}');
  });
}

const data = randomBytes(100_000);
const desc = { mediaType: MediaType.ociLayerGzip, digest: sha(data), size: data.length };

describe('blob verification', () => {
  test('wrong bytes fail the stream, naming the expected and the received digest', async () => {
    const wrong = Buffer.from(data);
    wrong[500] ^= 1;
    const s = await registry({ [`x/blobs/${desc.digest}`]: (_q, res) => res.end(wrong) });
    const repo = client.repository({ domain: s.domain, path: 'x' });
    await assert.rejects(readAll(repo.fetchBlob(desc)),
      kind('invalid-argument', `blob ${desc.digest} of ${s.domain}/x: digest mismatch: expected ${desc.digest}, received ${sha(wrong)}`));
  });

  test('with verify: false the bytes are left to the caller to hash; sizes are still checked', async () => {
    const wrong = Buffer.from(data);
    wrong[500] ^= 1;
    const s = await registry({
      [`x/blobs/${desc.digest}`]: (_q, res) => res.end(wrong),
      [`y/blobs/${desc.digest}`]: (_q, res) => res.end(Buffer.concat([data, Buffer.from('tail')])),
    });
    const back = await readAll(client.repository({ domain: s.domain, path: 'x' }).fetchBlob(desc, { verify: false }));
    assert.ok(back.equals(wrong));
    await assert.rejects(readAll(client.repository({ domain: s.domain, path: 'y' }).fetchBlob(desc, { verify: false })), kind('invalid-argument', /the registry sends 100004 bytes, the descriptor says 100000/));
  });

  test('more bytes than the descriptor says fail at once', async () => {
    const s = await registry({ [`x/blobs/${desc.digest}`]: (_q, res) => res.end(Buffer.concat([data, Buffer.from('tail')])) });
    const repo = client.repository({ domain: s.domain, path: 'x' });
    await assert.rejects(readAll(repo.fetchBlob(desc)), kind('invalid-argument', /sends 100004 bytes, the descriptor says 100000/));
  });

  test('a dropped connection resumes with Range, and redirects are followed without credentials to other hosts', async () => {
    let first = true;
    const storage = await serve((req, res) => {
      const range = /^bytes=(\d+)-$/.exec(req.headers.range ?? '');
      if (first) {
        first = false;
        res.writeHead(200, { 'content-length': String(data.length) });
        res.write(data.subarray(0, 40_000), () => res.socket?.destroy());
        return;
      }
      const from = range ? Number(range[1]) : 0;
      res.writeHead(range ? 206 : 200, { 'content-length': String(data.length - from), ...(range ? { 'content-range': `bytes ${from}-${data.length - 1}/${data.length}` } : {}) });
      res.end(data.subarray(from));
    });
    const s = await serve((req, res) => {
      if (req.headers.authorization !== 'Bearer tok') return void res.writeHead(401, { 'www-authenticate': 'Bearer realm="x"' }).end();
      res.writeHead(307, { location: `http://${storage.domain}/blob?sig=1` }).end();
    });
    const repo = client.repository({ domain: s.domain, path: 'x' }, { credentials: { registryToken: 'tok' } });
    let counted = 0;
    const got = await readAll(repo.fetchBlob(desc, { onBytes: (n) => (counted += n) }));
    assert.ok(got.equals(data));
    assert.equal(counted, data.length);
    assert.equal(storage.log.length, 2);
    assert.equal(storage.log[1]!.range?.startsWith('bytes='), true);
    assert.ok(Number(/\d+/.exec(storage.log[1]!.range!)![0]) > 0, 'the second request resumes past 0');
    assert.ok(storage.log.every((l) => l.authorization === undefined), 'no credentials went to the storage host');
  });

  test('a server that ignores Range on resume is read past what was received', async () => {
    let first = true;
    const s = await registry({
      [`x/blobs/${desc.digest}`]: (_q, res) => {
        res.writeHead(200, { 'content-length': String(data.length) });
        if (first) {
          first = false;
          res.write(data.subarray(0, 30_000), () => res.socket?.destroy());
        } else res.end(data);
      },
    });
    const got = await readAll(client.repository({ domain: s.domain, path: 'x' }).fetchBlob(desc));
    assert.ok(got.equals(data));
  });
});

test('a 503 is retried a bounded number of times; redirect loops and unusable locations fail', async () => {
  let calls = 0;
  const s = await registry({
    [`x/blobs/${desc.digest}`]: (_q, res) => {
      if (++calls === 1) return void res.writeHead(503).end();
      res.end(data);
    },
    [`down/blobs/${desc.digest}`]: (_q, res) => res.writeHead(503, { 'content-type': 'application/json' }).end('{"errors":[{"code":"UNAVAILABLE","message":"maintenance"}]}'),
    [`loop/blobs/${desc.digest}`]: (req, res) => res.writeHead(302, { location: req.url! }).end(),
    [`weird/blobs/${desc.digest}`]: (_q, res) => res.writeHead(302, { location: 'http://[zz' }).end(),
  });
  assert.ok((await readAll(client.repository({ domain: s.domain, path: 'x' }).fetchBlob(desc))).equals(data));
  assert.equal(calls, 2);
  await assert.rejects(readAll(client.repository({ domain: s.domain, path: 'down' }).fetchBlob(desc)), kind('unavailable', /unavailable: maintenance/));
  assert.equal(s.log.filter((l) => l.line.includes('/down/')).length, 4, 'one try and three retries');
  await assert.rejects(readAll(client.repository({ domain: s.domain, path: 'loop' }).fetchBlob(desc)), kind('unavailable', /stopped after 10 redirects/));
  await assert.rejects(readAll(client.repository({ domain: s.domain, path: 'weird' }).fetchBlob(desc)), kind('unavailable', /redirected to an unusable location/));
});

describe('manifests', () => {
  const manifest = Buffer.from(JSON.stringify({
    schemaVersion: 2, mediaType: MediaType.ociManifest,
    config: { mediaType: MediaType.ociConfig, digest: sha(Buffer.from('{}')), size: 2 }, layers: [desc],
  }));

  test('schema 1 is refused by name', async () => {
    const s = await registry({
      'old/manifests/latest': (_q, res) => res.writeHead(200, { 'content-type': 'application/vnd.docker.distribution.manifest.v1+prettyjws' }).end('{"schemaVersion":1}'),
      'old/manifests/json': (_q, res) => res.writeHead(200, { 'content-type': 'application/json' }).end('{"schemaVersion":1,"fsLayers":[]}'),
    });
    await assert.rejects(client.resolveManifest(parseReference(`${s.domain}/old`)),
      kind('failed-precondition', /Docker image manifest version 2, schema 1 \(application\/vnd\.docker\.distribution\.manifest\.v1\+prettyjws\), a format Berth does not support/));
    await assert.rejects(client.resolveManifest(parseReference(`${s.domain}/old:json`)),
      kind('failed-precondition', /schema 1 \(application\/vnd\.docker\.distribution\.manifest\.v1\+json\)/));
  });

  test('bytes that do not match the digest asked for, or the Docker-Content-Digest header, are refused', async () => {
    const other = sha(Buffer.from('other'));
    const s = await registry({
      [`x/manifests/${other}`]: (_q, res) => res.writeHead(200, { 'content-type': MediaType.ociManifest }).end(manifest),
      'x/manifests/t': (_q, res) => res.writeHead(200, { 'content-type': MediaType.ociManifest, 'docker-content-digest': other }).end(manifest),
    });
    await assert.rejects(client.resolveManifest(parseReference(`${s.domain}/x@${other}`)),
      kind('invalid-argument', `manifest for ${s.domain}/x@${other}: digest mismatch: expected ${other}, received ${sha(manifest)}`));
    await assert.rejects(client.resolveManifest(parseReference(`${s.domain}/x:t`)), kind('invalid-argument', /Docker-Content-Digest is .* hashes to/));
  });

  test('oversized, malformed and non-sha256 manifests are refused', async () => {
    const small = new RegistryClient({ maxManifestBytes: 1024 });
    const s = await registry({
      'x/manifests/big': (_q, res) => res.writeHead(200, { 'content-type': MediaType.ociManifest, 'content-length': '4096' }).end(Buffer.alloc(4096, 0x20)),
      'x/manifests/chunked': (_q, res) => {
        res.writeHead(200, { 'content-type': MediaType.ociManifest });
        for (let i = 0; i < 8; i++) res.write(Buffer.alloc(512, 0x20));
        res.end();
      },
      'x/manifests/junk': (_q, res) => res.writeHead(200, { 'content-type': MediaType.ociManifest }).end('{"schemaVersion":2,"config":{"digest":"sha256:../../etc","size":-1},"layers":[]}'),
      'x/manifests/sha512': (_q, res) => res.writeHead(200, { 'content-type': MediaType.ociManifest }).end(JSON.stringify({
        schemaVersion: 2, config: { mediaType: MediaType.ociConfig, digest: `sha512:${'a'.repeat(128)}`, size: 2 }, layers: [],
      })),
    });
    try {
      await assert.rejects(small.resolveManifest(parseReference(`${s.domain}/x:big`)), kind('invalid-argument', /sent 4096 bytes, more than the 1024 allowed/));
      await assert.rejects(small.resolveManifest(parseReference(`${s.domain}/x:chunked`)), kind('invalid-argument', /more than the 1024 bytes allowed/));
    } finally {
      small.close();
    }
    await assert.rejects(client.resolveManifest(parseReference(`${s.domain}/x:junk`)), kind('invalid-argument', /config: invalid mediaType/));
    await assert.rejects(client.resolveManifest(parseReference(`${s.domain}/x:sha512`)), kind('invalid-argument', /unsupported digest "sha512:a+": only sha256/));
  });

  test('429 says rate-limited and when to retry', async () => {
    const s = await registry({
      'x/manifests/latest': (_q, res) => res.writeHead(429, { 'retry-after': '30', 'content-type': 'application/json' })
        .end('{"errors":[{"code":"TOOMANYREQUESTS","message":"You have reached your pull rate limit."}]}'),
    });
    const err = await client.resolveManifest(parseReference(`${s.domain}/x`)).then(() => undefined, (e: unknown) => e);
    kind('unavailable', /rate-limited by the registry \(toomanyrequests: You have reached your pull rate limit\.\); retry after 30 seconds$/)(err as Error);
    assert.equal((err as { retryAfterSeconds?: number }).retryAfterSeconds, 30);
  });

  test('tags follow Link pages on the same host only', async () => {
    const pages: Record<string, [string[], string?]> = {
      '': [['a', 'b'], '</v2/x/tags/list?n=2&last=b>; rel="next"'],
      b: [['c', 'd'], '</v2/x/tags/list?n=2&last=d>; rel="next"'],
      d: [['e']],
    };
    const s = await registry({
      'x/tags/list': (req, res) => {
        const last = new URL(req.url!, 'http://h').searchParams.get('last') ?? '';
        const [tags, link] = pages[last]!;
        res.writeHead(200, { 'content-type': 'application/json', ...(link ? { link } : {}) }).end(JSON.stringify({ name: 'x', tags }));
      },
      'evil/tags/list': (_q, res) => res.writeHead(200, { link: '<http://192.0.2.1/v2/x/tags/list>; rel="next"' }).end('{"name":"evil","tags":["a"]}'),
    });
    assert.deepEqual(await client.repository({ domain: s.domain, path: 'x' }).listTags({ pageSize: 2 }), ['a', 'b', 'c', 'd', 'e']);
    assert.deepEqual(s.log.filter((l) => l.line.includes('tags')).map((l) => l.line), [
      'GET /v2/x/tags/list?n=2', 'GET /v2/x/tags/list?n=2&last=b', 'GET /v2/x/tags/list?n=2&last=d',
    ]);
    await assert.rejects(client.repository({ domain: s.domain, path: 'evil' }).listTags(), kind('unavailable', /on another host/));
  });
});

describe('bearer token flow', () => {
  const manifest = Buffer.from(JSON.stringify({
    schemaVersion: 2, mediaType: MediaType.dockerManifest,
    config: { mediaType: MediaType.dockerConfig, digest: sha(Buffer.from('{}')), size: 2 }, layers: [],
  }));

  /** A token server and a registry that wants its tokens; `tokens` maps a token to the scopes it grants. */
  async function tokenRegistry() {
    const tokens = new Map<string, string[]>();
    const basic = `Basic ${Buffer.from('alice:pw').toString('base64')}`;
    const auth = await serve((req, res, body) => {
      const u = new URL(req.url!, 'http://h');
      let scopes: string[];
      let service: string | null;
      let refresh: string | undefined;
      if (req.method === 'POST') {
        const form = new URLSearchParams(body.toString());
        if (form.get('grant_type') !== 'refresh_token' || form.get('refresh_token') !== 'idtok') return void res.writeHead(401).end('{"details":"bad refresh token"}');
        scopes = (form.get('scope') ?? '').split(' ').filter(Boolean);
        service = form.get('service');
      } else {
        if (req.headers.authorization !== undefined && req.headers.authorization !== basic) {
          return void res.writeHead(401, { 'content-type': 'application/json' }).end('{"details":"incorrect username or password"}');
        }
        scopes = u.searchParams.getAll('scope');
        service = u.searchParams.get('service');
        // Anonymous users get no access; offline_token asks for a refresh token.
        if (req.headers.authorization === undefined) scopes = [];
        if (u.searchParams.get('offline_token') === 'true') refresh = 'idtok';
      }
      if (service !== 'test-registry') return void res.writeHead(400).end();
      const token = `t${tokens.size}`;
      tokens.set(token, scopes);
      res.writeHead(200, { 'content-type': 'application/json' }).end(JSON.stringify({ access_token: token, expires_in: 300, ...(refresh ? { refresh_token: refresh } : {}) }));
    });
    const challenge = (scope?: string) => `Bearer realm="http://${auth.domain}/token",service="test-registry"${scope ? `,scope="${scope}"` : ''}`;
    const reg = await serve((req, res) => {
      const path = (req.url ?? '').split('?')[0]!;
      const granted = tokens.get((req.headers.authorization ?? '').replace(/^Bearer /, '')) ;
      if (path === '/v2/') {
        if (!granted) return void res.writeHead(401, { 'www-authenticate': challenge(), 'content-type': 'application/json' }).end('{"errors":[{"code":"UNAUTHORIZED","message":"authentication required"}]}');
        return void res.end('{}');
      }
      const need = 'repository:team/app:pull';
      if (!granted?.includes(need)) {
        return void res.writeHead(401, { 'www-authenticate': challenge(need), 'content-type': 'application/json' })
          .end('{"errors":[{"code":"UNAUTHORIZED","message":"authentication required"}]}');
      }
      if (path === '/v2/team/app/manifests/latest') return void res.writeHead(200, { 'content-type': MediaType.dockerManifest }).end(manifest);
      res.writeHead(404).end();
    });
    return { auth, reg, tokens };
  }

  test('a password gets a token for the repository scope from the realm', async () => {
    const { auth, reg, tokens } = await tokenRegistry();
    const r = await client.resolveManifest(parseReference(`${reg.domain}/team/app`), { credentials: { username: 'alice', password: 'pw' } });
    assert.equal(r.manifestDigest, sha(manifest));
    assert.deepEqual([...tokens.values()], [['repository:team/app:pull']]);
    assert.ok(auth.log.every((l) => l.authorization?.startsWith('Basic ')));
    assert.ok(reg.log.slice(1).every((l) => l.authorization === 'Bearer t0'));
  });

  test('an identity token is exchanged with an OAuth2 POST; a registry token is sent as it is', async () => {
    const a = await tokenRegistry();
    const r = await client.resolveManifest(parseReference(`${a.reg.domain}/team/app`), { credentials: { identityToken: 'idtok' } });
    assert.equal(r.manifestDigest, sha(manifest));
    assert.equal(a.auth.log[0]!.line, 'POST /token');

    const b = await tokenRegistry();
    b.tokens.set('given', ['repository:team/app:pull']);
    await client.resolveManifest(parseReference(`${b.reg.domain}/team/app`), { credentials: { registryToken: 'given' } });
    assert.equal(b.auth.log.length, 0);
    assert.ok(b.reg.log.every((l) => l.authorization === 'Bearer given'));
  });

  test('without access the pull is refused as dockerd words it', async () => {
    const { reg } = await tokenRegistry();
    await assert.rejects(client.resolveManifest(parseReference(`${reg.domain}/team/app`)),
      kind('forbidden', `pull access denied for ${reg.domain}/team/app, repository does not exist or may require 'docker login': unauthorized: authentication required`));
  });

  test('login returns the refresh token as an identity token, and says why it failed', async () => {
    const { reg } = await tokenRegistry();
    assert.deepEqual(await client.checkLogin(reg.domain, { username: 'alice', password: 'pw' }), { status: 'Login Succeeded', identityToken: 'idtok' });
    await assert.rejects(client.checkLogin(reg.domain, { username: 'alice', password: 'nope' }),
      kind('forbidden', `Get "http://${reg.domain}/v2/": unauthorized: incorrect username or password`));
  });
});
