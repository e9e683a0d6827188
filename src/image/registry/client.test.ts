import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { Readable } from 'node:stream';
import { MediaType, type Descriptor } from '../media-types';
import { parseReference } from '../../common';
import { RegistryClient } from './client';
import { startRegistry, freePort, type TestRegistry, kind, readAll, sha } from './test-registry';


/** An htpasswd entry for berth / s3cret-pass (bcrypt, cost 5), made once with libxcrypt's crypt(3). */
const HTPASSWD = 'berth:$2b$05$berthtestsaltberthtese3qhZFsKRyZTF4oFupXLVlcklhHRMVVK\n';

let reg: TestRegistry;
let client: RegistryClient;
before(async () => {
  reg = await startRegistry();
  client = new RegistryClient();
});
after(async () => {
  client?.close();
  await reg?.stop();
});

/** Pushes a config and one layer to `path` and returns the descriptors. */
async function pushImage(path: string, arch: string, mediaTypes: { config: string; layer: string }) {
  const repo = client.repository({ domain: reg.domain, path }, { push: true });
  const layer = randomBytes(3000);
  const config = Buffer.from(JSON.stringify({ architecture: arch, os: 'linux', rootfs: { type: 'layers', diff_ids: [sha(layer)] } }));
  for (const b of [layer, config]) await repo.uploadBlob(sha(b), b.length, Readable.from([b]));
  const configDesc: Descriptor = { mediaType: mediaTypes.config, digest: sha(config), size: config.length };
  const layerDesc: Descriptor = { mediaType: mediaTypes.layer, digest: sha(layer), size: layer.length };
  return { repo, layer, config, configDesc, layerDesc };
}

const schema2 = { config: MediaType.dockerConfig, layer: MediaType.dockerLayerGzip };
const oci = { config: MediaType.ociConfig, layer: MediaType.ociLayerGzip };

describe('against docker-registry', () => {
  test('a blob pushed in one PUT is there and comes back verified', async () => {
    const repo = client.repository({ domain: reg.domain, path: 'blobs/mono' }, { push: true });
    const data = randomBytes(200_000);
    const d = sha(data);
    assert.equal(await repo.blobExists(d), false);
    let counted = 0;
    await repo.uploadBlob(d, data.length, Readable.from([data.subarray(0, 1000), data.subarray(1000)]), { onBytes: (n) => (counted += n) });
    assert.equal(counted, data.length);
    assert.equal(await repo.blobExists(d, data.length), true);
    let read = 0;
    const back = await readAll(repo.fetchBlob({ mediaType: 'application/octet-stream', digest: d, size: data.length }, { onBytes: (n) => (read += n) }));
    assert.ok(back.equals(data));
    assert.equal(read, data.length);
  });

  test('a blob pushed in chunks (PATCH … PUT) is there', async () => {
    const repo = client.repository({ domain: reg.domain, path: 'blobs/chunked' }, { push: true });
    const data = randomBytes(25_000);
    // Odd source pieces, so chunks are regrouped across them.
    const pieces = [data.subarray(0, 7), data.subarray(7, 12_345), data.subarray(12_345)];
    await repo.uploadBlob(sha(data), data.length, Readable.from(pieces), { chunkSize: 10_000 });
    const back = await readAll(repo.fetchBlob({ mediaType: 'application/octet-stream', digest: sha(data), size: data.length }));
    assert.ok(back.equals(data));
  });

  test('an empty blob uploads whole and chunked', async () => {
    const repo = client.repository({ domain: reg.domain, path: 'blobs/empty' }, { push: true });
    const empty = Buffer.alloc(0);
    await repo.uploadBlob(sha(empty), 0, Readable.from([]));
    await repo.uploadBlob(sha(empty), 0, Readable.from([]), { chunkSize: 10 });
    assert.equal(await repo.blobExists(sha(empty), 0), true);
    assert.equal((await repo.fetchBlobBytes({ mediaType: 'x/y', digest: sha(empty), size: 0 })).length, 0);
  });

  test('an upload whose source does not match its digest or size is refused and not stored', async () => {
    const repo = client.repository({ domain: reg.domain, path: 'blobs/bad' }, { push: true });
    const data = randomBytes(5000);
    const claimed = sha(randomBytes(10));
    await assert.rejects(repo.uploadBlob(claimed, data.length, Readable.from([data]), { chunkSize: 2000 }),
      kind('invalid-argument', new RegExp(`digest mismatch: expected ${claimed}, received ${sha(data)}`)));
    await assert.rejects(repo.uploadBlob(sha(data), data.length + 5, Readable.from([data]), { chunkSize: 2000 }),
      kind('invalid-argument', /size mismatch: expected 5005 bytes, the source gave 5000/));
    await assert.rejects(repo.uploadBlob(sha(data), 100, Readable.from([data])), kind('invalid-argument', /size mismatch/));
    assert.equal(await repo.blobExists(claimed), false);
  });

  test('a blob mounts from another repository; an unknown one falls back to upload', async () => {
    const src = client.repository({ domain: reg.domain, path: 'mount/src' }, { push: true });
    const data = randomBytes(4000);
    await src.uploadBlob(sha(data), data.length, Readable.from([data]));
    const dst = client.repository({ domain: reg.domain, path: 'mount/dst' }, { push: true });
    assert.equal(await dst.blobExists(sha(data)), false);
    assert.equal(await dst.mountBlob(sha(data), 'mount/src'), true);
    assert.equal(await dst.blobExists(sha(data)), true);
    assert.equal(await dst.mountBlob(sha(randomBytes(8)), 'mount/src'), false);
  });

  for (const [label, types, manifestType] of [['Docker schema2', schema2, MediaType.dockerManifest], ['OCI', oci, MediaType.ociManifest]] as const) {
    test(`a ${label} manifest is pushed and resolves with its config and layers`, async () => {
      const path = `img/${label === 'OCI' ? 'oci' : 'docker'}`;
      const { repo, configDesc, layerDesc, layer } = await pushImage(path, 'amd64', types);
      const bytes = Buffer.from(JSON.stringify({ schemaVersion: 2, mediaType: manifestType, config: configDesc, layers: [layerDesc] }, null, 2));
      const digest = await repo.putManifest('v1', manifestType, bytes);
      assert.equal(digest, sha(bytes));

      const r = await client.resolveManifest(parseReference(`${reg.domain}/${path}:v1`));
      assert.equal(r.manifestDigest, digest);
      assert.equal(r.mediaType, manifestType);
      assert.ok(r.raw.equals(bytes));
      assert.deepEqual(r.config, configDesc);
      assert.deepEqual(r.layers, [layerDesc]);
      assert.equal(r.index, undefined);
      assert.equal(r.ref.tag, 'v1');

      const byDigest = await client.resolveManifest(parseReference(`${reg.domain}/${path}@${digest}`));
      assert.equal(byDigest.manifestDigest, digest);
      const got = await readAll(repo.fetchBlob(r.layers[0]!));
      assert.ok(got.equals(layer));
    });
  }

  test('an index of two platforms resolves to the one asked for, variant aware', async () => {
    const path = 'multi/app';
    const descs: Descriptor[] = [];
    for (const [arch, variant] of [['amd64', undefined], ['arm64', 'v8']] as const) {
      const { repo, configDesc, layerDesc } = await pushImage(path, arch, oci);
      const bytes = Buffer.from(JSON.stringify({ schemaVersion: 2, mediaType: MediaType.ociManifest, config: configDesc, layers: [layerDesc] }));
      const d = await repo.putManifest(sha(bytes), MediaType.ociManifest, bytes);
      descs.push({ mediaType: MediaType.ociManifest, digest: d, size: bytes.length, platform: { os: 'linux', architecture: arch, ...(variant ? { variant } : {}) } });
    }
    const repo = client.repository({ domain: reg.domain, path }, { push: true });
    const indexBytes = Buffer.from(JSON.stringify({ schemaVersion: 2, mediaType: MediaType.ociIndex, manifests: descs }));
    const indexDigest = await repo.putManifest('latest', MediaType.ociIndex, indexBytes);

    const ref = parseReference(`${reg.domain}/${path}`);
    const amd = await client.resolveManifest(ref, { platform: { os: 'linux', architecture: 'amd64' } });
    assert.equal(amd.manifestDigest, descs[0]!.digest);
    assert.equal(amd.index?.digest, indexDigest);
    assert.equal(amd.ref.tag, 'latest');
    // arm64 without a variant means v8; aarch64 is its alias.
    const arm = await client.resolveManifest(ref, { platform: { os: 'linux', architecture: 'aarch64' } });
    assert.equal(arm.manifestDigest, descs[1]!.digest);
    await assert.rejects(client.resolveManifest(ref, { platform: { os: 'linux', architecture: 's390x' } }),
      kind('not-found', 'no matching manifest for linux/s390x in the manifest list entries'));
    await assert.rejects(client.resolveManifest(ref, { platform: { os: 'linux', architecture: 'arm', variant: 'v7' } }),
      kind('not-found', 'no matching manifest for linux/arm/v7 in the manifest list entries'));

    const index = await repo.getManifest('latest');
    assert.equal(index.kind, 'index');
    assert.equal(index.digest, indexDigest);
  });

  test('an unknown tag or repository is not-found in dockerd\'s words', async () => {
    await pushImage('known/repo', 'amd64', schema2);
    await assert.rejects(client.resolveManifest(parseReference(`${reg.domain}/known/repo:nope`)),
      kind('not-found', `manifest for ${reg.domain}/known/repo:nope not found: manifest unknown: manifest unknown`));
    await assert.rejects(client.resolveManifest(parseReference(`${reg.domain}/never/pushed:x`)),
      kind('not-found', new RegExp(`^manifest for ${reg.domain}/never/pushed:x not found: (name|manifest) unknown`)));
    const repo = client.repository({ domain: reg.domain, path: 'known/repo' });
    const missing = sha(Buffer.from('missing'));
    await assert.rejects(readAll(repo.fetchBlob({ mediaType: 'x/y', digest: missing, size: 7 })),
      kind('not-found', `blob ${missing} not found in ${reg.domain}/known/repo: blob unknown: blob unknown to registry`));
  });

  // distribution 2.8 ignores `n` and sends tags unsorted; paging is tested against hostile.test.ts's server.
  test('tags are listed', async () => {
    const { repo, configDesc, layerDesc } = await pushImage('tags/many', 'amd64', oci);
    const bytes = Buffer.from(JSON.stringify({ schemaVersion: 2, mediaType: MediaType.ociManifest, config: configDesc, layers: [layerDesc] }));
    const want = ['a', 'b', 'c', 'd', 'e'];
    for (const t of want) await repo.putManifest(t, MediaType.ociManifest, bytes);
    assert.deepEqual((await repo.listTags()).sort(), want);
    await assert.rejects(repo.listTags({ pageSize: 2, max: 3 }), kind('invalid-argument', /more than 3 tags/));
  });

  test('a registry nobody listens on fails in Go\'s words', async () => {
    const port = await freePort();
    await assert.rejects(client.resolveManifest(parseReference(`127.0.0.1:${port}/x:y`)),
      kind('unavailable', `Get "http://127.0.0.1:${port}/v2/": dial tcp 127.0.0.1:${port}: connect: connection refused`));
  });
});

describe('docker-registry with htpasswd (Basic auth)', () => {
  let secured: TestRegistry;
  before(async () => {
    secured = await startRegistry({ htpasswd: HTPASSWD });
  });
  after(async () => {
    await secured?.stop();
  });

  test('login succeeds with the right password and fails clearly with a wrong one', async () => {
    assert.deepEqual(await client.checkLogin(secured.domain, { username: 'berth', password: 's3cret-pass' }), { status: 'Login Succeeded' });
    await assert.rejects(client.checkLogin(secured.domain, { username: 'berth', password: 'wrong' }),
      kind('forbidden', `login attempt to http://${secured.domain}/v2/ failed with status: 401 Unauthorized`));
  });

  test('push and pull with credentials; anonymous access is refused', async () => {
    const credentials = { username: 'berth', password: 's3cret-pass' };
    const repo = client.repository({ domain: secured.domain, path: 'private/app' }, { push: true, credentials });
    const data = randomBytes(1234);
    await repo.uploadBlob(sha(data), data.length, Readable.from([data]), { chunkSize: 500 });
    const back = await readAll(repo.fetchBlob({ mediaType: 'x/y', digest: sha(data), size: data.length }));
    assert.ok(back.equals(data));
    await assert.rejects(client.resolveManifest(parseReference(`${secured.domain}/private/app:latest`)),
      kind('forbidden', /unauthorized: authentication required/));
  });
});
