/**
 * The bearer token flow against the real docker-registry with `auth: token`:
 * a token server written here issues ES256 JWTs signed by a key whose
 * self-signed certificate (made with openssl for this run) is the registry's
 * root bundle; the registry checks issuer, audience, expiry, signature and
 * the access each token grants.
 */
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { randomBytes, sign, X509Certificate } from 'node:crypto';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Readable } from 'node:stream';
import { MediaType } from '../media-types';
import { parseReference } from '../../common';
import { RegistryClient } from './client';
import { startRegistry, startServer, type TestRegistry, type TestServer, kind, sha } from './test-registry';

const b64url = (b: Buffer | string) => Buffer.from(b).toString('base64url');

const SERVICE = 'berth-test-registry';
const ISSUER = 'berth-test-issuer';
const ALICE = `Basic ${Buffer.from('alice:wonderland').toString('base64')}`;

let dir: string;
let reg: TestRegistry;
let tokens: TestServer;
const client = new RegistryClient();
/** The scopes asked for in each token request, in order. */
const asked: string[][] = [];

before(async () => {
  dir = mkdtempSync(join(tmpdir(), 'berth-token-'));
  // openssl is part of the test environment like docker-registry; without it this fails, it does not skip.
  execFileSync('openssl', ['req', '-x509', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:prime256v1', '-nodes',
    '-keyout', join(dir, 'key.pem'), '-out', join(dir, 'cert.pem'), '-days', '2', '-subj', '/CN=berth test token issuer'], { stdio: 'pipe' });
  const key = readFileSync(join(dir, 'key.pem'));
  const certPem = readFileSync(join(dir, 'cert.pem'), 'utf8');
  const x5c = [new X509Certificate(certPem).raw.toString('base64')];
  const jwt = (sub: string, access: { type: string; name: string; actions: string[] }[]) => {
    const now = Math.floor(Date.now() / 1000);
    const input = `${b64url(JSON.stringify({ typ: 'JWT', alg: 'ES256', x5c }))}.${b64url(JSON.stringify({
      iss: ISSUER, sub, aud: SERVICE, exp: now + 300, nbf: now - 5, iat: now, jti: randomBytes(8).toString('hex'), access,
    }))}`;
    return `${input}.${b64url(sign('sha256', Buffer.from(input), { key, dsaEncoding: 'ieee-p1363' }))}`;
  };
  // alice may do anything she asks; anonymous users may pull public/*.
  tokens = await startServer((req, res, body) => {
    const u = new URL(req.url!, 'http://h');
    let user: string | undefined;
    let scopes: string[];
    let service: string | null;
    if (req.method === 'POST') {
      const form = new URLSearchParams(body.toString());
      if (form.get('grant_type') !== 'refresh_token' || form.get('refresh_token') !== 'alice-refresh') {
        res.writeHead(401, { 'content-type': 'application/json' }).end('{"details":"invalid refresh token"}');
        return;
      }
      user = 'alice';
      scopes = (form.get('scope') ?? '').split(' ').filter(Boolean);
      service = form.get('service');
    } else {
      if (req.headers.authorization !== undefined) {
        if (req.headers.authorization !== ALICE) {
          res.writeHead(401, { 'content-type': 'application/json' }).end('{"details":"incorrect username or password"}');
          return;
        }
        user = 'alice';
      }
      scopes = u.searchParams.getAll('scope');
      service = u.searchParams.get('service');
    }
    asked.push(scopes);
    if (service !== SERVICE) {
      res.writeHead(400).end();
      return;
    }
    const access = scopes.map((s) => {
      const [type, name, actions] = s.split(':') as [string, string, string];
      const wanted = actions.split(',');
      return { type, name, actions: user ? wanted : name.startsWith('public/') ? wanted.filter((a) => a === 'pull') : [] };
    });
    const refresh = user && u.searchParams.get('offline_token') === 'true' ? { refresh_token: 'alice-refresh' } : {};
    res.writeHead(200, { 'content-type': 'application/json' }).end(JSON.stringify({ token: jwt(user ?? '', access), expires_in: 300, ...refresh }));
  });
  reg = await startRegistry({ token: { realm: `http://${tokens.domain}/token`, service: SERVICE, issuer: ISSUER, rootCertBundle: certPem } });
});
after(async () => {
  client.close();
  await reg?.stop();
  await tokens?.close();
  if (dir) rmSync(dir, { recursive: true, force: true });
});

async function pushImage(path: string, credentials = { username: 'alice', password: 'wonderland' }) {
  const repo = client.repository({ domain: reg.domain, path }, { push: true, credentials });
  const layer = randomBytes(2000);
  const config = Buffer.from(JSON.stringify({ architecture: 'amd64', os: 'linux', rootfs: { type: 'layers', diff_ids: [sha(layer)] } }));
  for (const b of [layer, config]) await repo.uploadBlob(sha(b), b.length, Readable.from([b]));
  const manifest = Buffer.from(JSON.stringify({
    schemaVersion: 2, mediaType: MediaType.ociManifest,
    config: { mediaType: MediaType.ociConfig, digest: sha(config), size: config.length },
    layers: [{ mediaType: MediaType.ociLayerGzip, digest: sha(layer), size: layer.length }],
  }));
  return { repo, layer, digest: await repo.putManifest('latest', MediaType.ociManifest, manifest) };
}

test('a password buys a token for push; anonymous pulls work where the token server allows them', async () => {
  asked.length = 0;
  const { digest } = await pushImage('public/app');
  assert.deepEqual(asked, [['repository:public/app:pull,push']]);
  const r = await client.resolveManifest(parseReference(`${reg.domain}/public/app`));
  assert.equal(r.manifestDigest, digest);
});

test('an anonymous pull of a private repository is refused as dockerd words it', async () => {
  await pushImage('private/app');
  await assert.rejects(client.resolveManifest(parseReference(`${reg.domain}/private/app`)),
    kind('forbidden', `pull access denied for ${reg.domain}/private/app, repository does not exist or may require 'docker login': unauthorized: authentication required`));
});

test('a cross-repository mount asks for pull on the source repository too', async () => {
  const { layer } = await pushImage('team/a');
  const dst = client.repository({ domain: reg.domain, path: 'team/b' }, { push: true, credentials: { username: 'alice', password: 'wonderland' } });
  asked.length = 0;
  assert.equal(await dst.mountBlob(sha(layer), 'team/a'), true);
  assert.ok(asked.some((s) => s.includes('repository:team/a:pull') && s.includes('repository:team/b:pull,push')), JSON.stringify(asked));
  assert.equal(await dst.blobExists(sha(layer)), true);
});

test('login hands back an identity token, which then pulls through the OAuth2 refresh grant', async () => {
  const { digest } = await pushImage('private/login');
  const login = await client.checkLogin(reg.domain, { username: 'alice', password: 'wonderland' });
  assert.deepEqual(login, { status: 'Login Succeeded', identityToken: 'alice-refresh' });
  const r = await client.resolveManifest(parseReference(`${reg.domain}/private/login`), { credentials: { identityToken: login.identityToken! } });
  assert.equal(r.manifestDigest, digest);
  await assert.rejects(client.checkLogin(reg.domain, { username: 'alice', password: 'rabbit' }),
    kind('forbidden', `Get "http://${reg.domain}/v2/": unauthorized: incorrect username or password`));
});
