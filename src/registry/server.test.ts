import { test, describe, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, readdirSync, readFileSync, utimesSync, writeFileSync } from 'node:fs';
import net from 'node:net';
import { join } from 'node:path';
import bcrypt from 'bcryptjs';
import { collectGarbage } from './gc';
import { sha256, TestRegistry, type Reply } from './test-client';

const code = (r: Reply): string | undefined => r.json?.errors?.[0]?.code;
const OCI_MANIFEST = 'application/vnd.oci.image.manifest.v1+json';
const OCI_INDEX = 'application/vnd.oci.image.index.v1+json';

describe('registry server', () => {
  let reg: TestRegistry;
  before(async () => {
    reg = await new TestRegistry().start();
  });
  after(async () => {
    await reg.stop();
  });

  test('GET /v2/ answers 200 with the API version header', async () => {
    const r = await reg.request('/v2/');
    assert.equal(r.status, 200);
    assert.equal(r.headers['docker-distribution-api-version'], 'registry/2.0');
    assert.deepEqual(r.json, {});
  });

  test('monolithic POST ?digest= stores a blob that HEAD and GET serve', async () => {
    const content = Buffer.from('monolithic blob');
    const digest = sha256(content);
    const post = await reg.request(`/v2/mono/blobs/uploads/?digest=${digest}`, { method: 'POST', body: content });
    assert.equal(post.status, 201);
    assert.equal(post.headers.location, `/v2/mono/blobs/${digest}`);
    assert.equal(post.headers['docker-content-digest'], digest);
    const head = await reg.request(`/v2/mono/blobs/${digest}`, { method: 'HEAD' });
    assert.equal(head.status, 200);
    assert.equal(head.headers['content-length'], String(content.length));
    assert.equal(head.headers['docker-content-digest'], digest);
    assert.equal(head.body.length, 0);
    const get = await reg.request(`/v2/mono/blobs/${digest}`);
    assert.equal(get.status, 200);
    assert.deepEqual(get.body, content);
    assert.equal(get.headers['content-type'], 'application/octet-stream');
  });

  test('monolithic push with the wrong digest is DIGEST_INVALID and stores nothing', async () => {
    const wrong = sha256('something else');
    const r = await reg.request(`/v2/mono/blobs/uploads/?digest=${wrong}`, { method: 'POST', body: 'actual content' });
    assert.equal(r.status, 400);
    assert.equal(code(r), 'DIGEST_INVALID');
    assert.equal((await reg.request(`/v2/mono/blobs/${wrong}`, { method: 'HEAD' })).status, 404);
    assert.equal((await reg.request(`/v2/mono/blobs/${sha256('actual content')}`, { method: 'HEAD' })).status, 404);
    assert.deepEqual(readdirSync(join(reg.root, 'tmp')), []);
  });

  test('GET with Range serves 206 slices; impossible ranges are 416', async () => {
    const content = Buffer.from(Array.from({ length: 2048 }, (_, i) => i % 251));
    const digest = await reg.pushBlob('ranges', content);
    const get = (range: string) => reg.request(`/v2/ranges/blobs/${digest}`, { headers: { Range: range } });
    let r = await get('bytes=500-1499');
    assert.equal(r.status, 206);
    assert.equal(r.headers['content-range'], 'bytes 500-1499/2048');
    assert.equal(r.headers['content-length'], '1000');
    assert.deepEqual(r.body, content.subarray(500, 1500));
    r = await get('bytes=500-');
    assert.equal(r.status, 206);
    assert.deepEqual(r.body, content.subarray(500));
    r = await get('bytes=-500');
    assert.equal(r.status, 206);
    assert.equal(r.headers['content-range'], 'bytes 1548-2047/2048');
    assert.deepEqual(r.body, content.subarray(1548));
    r = await get('bytes=2000-5000');
    assert.equal(r.status, 206);
    assert.deepEqual(r.body, content.subarray(2000));
    for (const bad of ['bytes=500-0', 'bytes=5000-10000', 'bytes=-0']) {
      r = await get(bad);
      assert.equal(r.status, 416, bad);
      assert.equal(r.headers['content-range'], 'bytes */2048');
    }
    r = await get('bytes=0-1,5-6');
    assert.equal(r.status, 200, 'several ranges fall back to the whole blob');
    assert.equal(r.body.length, 2048);
  });

  test('POST then PUT: 202 with a session Location and UUID, then 201', async () => {
    const post = await reg.request('/v2/postput/blobs/uploads/', { method: 'POST' });
    assert.equal(post.status, 202);
    const uuid = post.headers['docker-upload-uuid'] as string;
    assert.match(uuid, /^[0-9a-f-]{36}$/);
    assert.equal(post.headers.location, `/v2/postput/blobs/uploads/${uuid}`);
    assert.equal(post.headers.range, '0-0');
    const content = Buffer.from('post then put');
    const digest = sha256(content);
    const put = await reg.request(`${post.headers.location}?digest=${digest}`, { method: 'PUT', body: content });
    assert.equal(put.status, 201);
    assert.equal(put.headers.location, `/v2/postput/blobs/${digest}`);
    assert.deepEqual((await reg.request(`/v2/postput/blobs/${digest}`)).body, content);
    assert.equal(code(await reg.request(post.headers.location!)), 'BLOB_UPLOAD_UNKNOWN', 'the session is gone once closed');
  });

  test('POST ?digest= without a body starts a session instead', async () => {
    const r = await reg.request(`/v2/postput/blobs/uploads/?digest=${sha256('x')}`, { method: 'POST' });
    assert.equal(r.status, 202);
    assert.ok(r.headers.location);
  });

  test('chunked upload: PATCH in order, 416 out of order, GET status, PUT closes', async () => {
    const content = Buffer.from('0123456789abcdefghij');
    const digest = sha256(content);
    const post = await reg.request('/v2/chunked/blobs/uploads/', { method: 'POST', headers: { 'Content-Length': 0 } });
    const loc = post.headers.location!;
    let r = await reg.request(loc, { method: 'PATCH', body: content.subarray(0, 8), headers: { 'Content-Range': '0-7', 'Content-Type': 'application/octet-stream' } });
    assert.equal(r.status, 202);
    assert.equal(r.headers.range, '0-7');
    assert.equal(r.headers.location, loc);
    r = await reg.request(loc, { method: 'PATCH', body: content.subarray(12, 16), headers: { 'Content-Range': '12-15' } });
    assert.equal(r.status, 416);
    assert.equal(r.headers.range, '0-7');
    assert.equal(r.headers.location, loc);
    r = await reg.request(loc, { method: 'PATCH', body: content.subarray(0, 4), headers: { 'Content-Range': '0-3' } });
    assert.equal(r.status, 416, 'restarting at 0 is out of order too');
    r = await reg.request(loc, { method: 'PATCH', body: content.subarray(8, 12), headers: { 'Content-Range': '8-13' } });
    assert.equal(r.status, 416, 'a Content-Range longer than the body');
    r = await reg.request(loc);
    assert.equal(r.status, 204);
    assert.equal(r.headers.range, '0-7');
    assert.equal(r.headers.location, loc);
    // A chunk without Content-Range (docker's streamed PATCH) appends too.
    r = await reg.request(loc, { method: 'PATCH', body: content.subarray(8, 16) });
    assert.equal(r.status, 202);
    assert.equal(r.headers.range, '0-15');
    r = await reg.request(`${loc}?digest=${digest}`, { method: 'PUT', body: content.subarray(16), headers: { 'Content-Range': '16-19' } });
    assert.equal(r.status, 201);
    assert.deepEqual((await reg.request(`/v2/chunked/blobs/${digest}`)).body, content);
  });

  test('an out-of-order final chunk on PUT is 416 and keeps the session', async () => {
    const content = Buffer.from('abcdefgh');
    const post = await reg.request('/v2/chunked/blobs/uploads/', { method: 'POST' });
    const loc = post.headers.location!;
    await reg.request(loc, { method: 'PATCH', body: content.subarray(0, 4), headers: { 'Content-Range': '0-3' } });
    let r = await reg.request(`${loc}?digest=${sha256(content)}`, { method: 'PUT', body: content.subarray(0, 4), headers: { 'Content-Range': '0-3' } });
    assert.equal(r.status, 416);
    r = await reg.request(`${loc}?digest=${sha256(content)}`, { method: 'PUT', body: content.subarray(4), headers: { 'Content-Range': '4-7' } });
    assert.equal(r.status, 201);
  });

  test('closing PUT with a mismatched or missing digest is DIGEST_INVALID', async () => {
    let post = await reg.request('/v2/chunked/blobs/uploads/', { method: 'POST' });
    let r = await reg.request(`${post.headers.location}?digest=${sha256('other')}`, { method: 'PUT', body: 'content' });
    assert.equal(r.status, 400);
    assert.equal(code(r), 'DIGEST_INVALID');
    post = await reg.request('/v2/chunked/blobs/uploads/', { method: 'POST' });
    r = await reg.request(`${post.headers.location}`, { method: 'PUT', body: 'content' });
    assert.equal(code(r), 'DIGEST_INVALID');
    r = await reg.request(`${post.headers.location}?digest=sha256:short`, { method: 'PUT' });
    assert.equal(code(r), 'DIGEST_INVALID');
  });

  test('unknown, foreign and hostile upload ids are BLOB_UPLOAD_UNKNOWN', async () => {
    const post = await reg.request('/v2/owner/blobs/uploads/', { method: 'POST' });
    const uuid = post.headers['docker-upload-uuid'];
    for (const path of [
      '/v2/owner/blobs/uploads/00000000-0000-4000-8000-000000000000',
      `/v2/other/blobs/uploads/${uuid}`,
      '/v2/owner/blobs/uploads/..%2F..%2Fblobs',
      '/v2/owner/blobs/uploads/..',
    ]) {
      const r = await reg.request(path, { method: 'PATCH', body: 'x' });
      assert.equal(r.status, 404, path);
      assert.equal(code(r), 'BLOB_UPLOAD_UNKNOWN', path);
    }
    const del = await reg.request(post.headers.location!, { method: 'DELETE' });
    assert.equal(del.status, 204);
    assert.equal((await reg.request(post.headers.location!)).status, 404);
  });

  test('cross-repository mount: 201 when the source has the blob, else 202 and an upload', async () => {
    const digest = await reg.pushBlob('mount/src', 'mountable');
    let r = await reg.request(`/v2/mount/dst/blobs/uploads/?mount=${digest}&from=mount/src`, { method: 'POST' });
    assert.equal(r.status, 201);
    assert.equal(r.headers.location, `/v2/mount/dst/blobs/${digest}`);
    assert.equal(r.headers['docker-content-digest'], digest);
    assert.equal((await reg.request(`/v2/mount/dst/blobs/${digest}`)).text, 'mountable');
    r = await reg.request(`/v2/mount/dst2/blobs/uploads/?mount=${sha256('absent')}&from=mount/src`, { method: 'POST' });
    assert.equal(r.status, 202);
    assert.match(r.headers.location!, /^\/v2\/mount\/dst2\/blobs\/uploads\//);
    r = await reg.request(`/v2/mount/dst3/blobs/uploads/?mount=${digest}&from=mount/elsewhere`, { method: 'POST' });
    assert.equal(r.status, 202, 'a source repository without the blob cannot lend it');
    r = await reg.request(`/v2/mount/dst4/blobs/uploads/?mount=${digest}`, { method: 'POST' });
    assert.equal(r.status, 201, 'without from, any stored copy mounts');
  });

  test('manifests: PUT by tag stores exact bytes; GET and HEAD by tag and digest', async () => {
    const img = await reg.pushImage('app', 'v1', 'one');
    const byTag = await reg.request('/v2/app/manifests/v1');
    assert.equal(byTag.status, 200);
    assert.deepEqual(byTag.body, img.bytes);
    assert.equal(byTag.headers['content-type'], OCI_MANIFEST);
    assert.equal(byTag.headers['docker-content-digest'], img.manifestDigest);
    const byDigest = await reg.request(`/v2/app/manifests/${img.manifestDigest}`);
    assert.deepEqual(byDigest.body, img.bytes);
    const head = await reg.request('/v2/app/manifests/v1', { method: 'HEAD' });
    assert.equal(head.status, 200);
    assert.equal(head.headers['content-length'], String(img.bytes.length));
    assert.equal(head.headers['docker-content-digest'], img.manifestDigest);
  });

  test('PUT manifest answers 201 with Location and digest; odd formatting is kept byte for byte', async () => {
    const cfg = await reg.pushBlob('fmt', '{}');
    const text = `{\n   "schemaVersion" : 2,\n "mediaType": "${OCI_MANIFEST}",\n "config": {"mediaType": "application/vnd.oci.empty.v1+json", "digest": "${cfg}", "size": 2},\n "layers": [] }\n\n`;
    const r = await reg.putManifest('fmt', 'spaced', text, OCI_MANIFEST);
    assert.equal(r.status, 201);
    assert.equal(r.headers['docker-content-digest'], sha256(text));
    assert.equal(r.headers.location, `/v2/fmt/manifests/${sha256(text)}`);
    assert.equal((await reg.request('/v2/fmt/manifests/spaced')).text, text);
  });

  test('Docker schema2 manifests and manifest lists are accepted and served with their type', async () => {
    const config = await reg.pushBlob('docker', '{"os":"linux"}');
    const layer = await reg.pushBlob('docker', 'docker layer');
    const m = {
      schemaVersion: 2,
      mediaType: 'application/vnd.docker.distribution.manifest.v2+json',
      config: { mediaType: 'application/vnd.docker.container.image.v1+json', digest: config, size: 14 },
      layers: [{ mediaType: 'application/vnd.docker.image.rootfs.diff.tar.gzip', digest: layer, size: 12 }],
    };
    let r = await reg.putManifest('docker', 'v2', m);
    assert.equal(r.status, 201);
    const digest = r.headers['docker-content-digest'] as string;
    const list = {
      schemaVersion: 2,
      mediaType: 'application/vnd.docker.distribution.manifest.list.v2+json',
      manifests: [{ mediaType: m.mediaType, digest, size: JSON.stringify(m).length, platform: { architecture: 'amd64', os: 'linux' } }],
    };
    r = await reg.putManifest('docker', 'list', list);
    assert.equal(r.status, 201);
    r = await reg.request('/v2/docker/manifests/list');
    assert.equal(r.headers['content-type'], list.mediaType);
    r = await reg.request('/v2/docker/manifests/v2');
    assert.equal(r.headers['content-type'], m.mediaType);
  });

  test('manifests that name missing content are MANIFEST_BLOB_UNKNOWN', async () => {
    const config = await reg.pushBlob('strict', '{}');
    let r = await reg.putManifest('strict', 'x', {
      schemaVersion: 2,
      mediaType: OCI_MANIFEST,
      config: { mediaType: 'application/vnd.oci.image.config.v1+json', digest: config, size: 2 },
      layers: [{ mediaType: 'application/vnd.oci.image.layer.v1.tar', digest: sha256('never pushed'), size: 12 }],
    });
    assert.equal(r.status, 400);
    assert.equal(code(r), 'MANIFEST_BLOB_UNKNOWN');
    assert.equal(r.json.errors[0].detail.digest, sha256('never pushed'));
    // A blob in another repository does not count.
    const elsewhere = await reg.pushBlob('strict-other', 'layer elsewhere');
    r = await reg.putManifest('strict', 'x', {
      schemaVersion: 2,
      mediaType: OCI_MANIFEST,
      config: { mediaType: 'application/vnd.oci.image.config.v1+json', digest: config, size: 2 },
      layers: [{ mediaType: 'application/vnd.oci.image.layer.v1.tar', digest: elsewhere, size: 15 }],
    });
    assert.equal(code(r), 'MANIFEST_BLOB_UNKNOWN');
    r = await reg.putManifest('strict', 'idx', {
      schemaVersion: 2,
      mediaType: OCI_INDEX,
      manifests: [{ mediaType: OCI_MANIFEST, digest: sha256('no such manifest'), size: 3 }],
    });
    assert.equal(code(r), 'MANIFEST_BLOB_UNKNOWN');
    // Foreign layers (with urls) are not expected to be pushed.
    r = await reg.putManifest('strict', 'foreign', {
      schemaVersion: 2,
      mediaType: OCI_MANIFEST,
      config: { mediaType: 'application/vnd.oci.image.config.v1+json', digest: config, size: 2 },
      layers: [{ mediaType: 'application/vnd.oci.image.layer.nondistributable.v1.tar', digest: sha256('remote'), size: 6, urls: ['https://example.invalid/l'] }],
    });
    assert.equal(r.status, 201);
  });

  test('malformed manifests are MANIFEST_INVALID; a digest reference that does not match is DIGEST_INVALID', async () => {
    const img = await reg.pushImage('bad', 'ok', 'bad');
    const cases: [string, unknown, string][] = [
      ['not json', '{nope', OCI_MANIFEST],
      ['schema 1', { schemaVersion: 1 }, OCI_MANIFEST],
      ['array', '[]', OCI_MANIFEST],
      ['no config', { schemaVersion: 2, mediaType: OCI_MANIFEST, layers: [] }, OCI_MANIFEST],
      ['traversal digest', { schemaVersion: 2, mediaType: OCI_MANIFEST, config: { mediaType: 'x', digest: 'sha256:../../etc', size: 1 }, layers: [] }, OCI_MANIFEST],
      ['type mismatch', JSON.parse(img.bytes.toString()), OCI_INDEX],
      ['unknown type', { schemaVersion: 2, config: {}, layers: [] }, 'application/vnd.example.thing'],
    ];
    for (const [what, body, type] of cases) {
      const r = await reg.putManifest('bad', 'x', body, type);
      assert.equal(r.status, 400, what);
      assert.equal(code(r), 'MANIFEST_INVALID', what);
    }
    let r = await reg.putManifest('bad', sha256('something else'), img.bytes, OCI_MANIFEST);
    assert.equal(code(r), 'DIGEST_INVALID');
    r = await reg.putManifest('bad', 'sha256:baddigeststring', img.bytes, OCI_MANIFEST);
    assert.equal(r.status, 400);
    r = await reg.putManifest('bad', img.manifestDigest, img.bytes, OCI_MANIFEST);
    assert.equal(r.status, 201, 'PUT by its own digest is fine');
    r = await reg.putManifest('bad', 'bad:tag', img.bytes, OCI_MANIFEST);
    assert.equal(r.status, 400);
  });

  test('a manifest over 4 MiB is refused with 413 before its body is read', async () => {
    const reply = await new Promise<string>((resolve, reject) => {
      const sock = net.connect(reg.port, '127.0.0.1', () => {
        sock.write(`PUT /v2/big/manifests/latest HTTP/1.1\r\nHost: x\r\nContent-Type: ${OCI_MANIFEST}\r\nContent-Length: ${5 * 1024 * 1024}\r\n\r\n{`);
      });
      let data = '';
      sock.on('data', (c) => (data += c.toString()));
      sock.on('end', () => resolve(data));
      sock.on('error', reject);
    });
    assert.match(reply, /^HTTP\/1\.1 413 /);
    assert.match(reply, /MANIFEST_INVALID/);
  });

  test('a manifest streamed past the limit without Content-Length is refused too', async () => {
    const small = new TestRegistry({ maxManifestBytes: 1024 });
    await small.start();
    try {
      const reply = await new Promise<string>((resolve, reject) => {
        const sock = net.connect(small.port, '127.0.0.1', () => {
          const chunk = 'x'.repeat(2000);
          sock.write(`PUT /v2/big/manifests/latest HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n${chunk.length.toString(16)}\r\n${chunk}\r\n`);
        });
        let data = '';
        sock.on('data', (c) => (data += c.toString()));
        sock.on('end', () => resolve(data));
        sock.on('error', reject);
      });
      assert.match(reply, /^HTTP\/1\.1 413 /);
    } finally {
      await small.stop();
    }
  });

  test('missing things: NAME_UNKNOWN, MANIFEST_UNKNOWN, BLOB_UNKNOWN, all 404', async () => {
    await reg.pushImage('known', 'v1', 'known');
    let r = await reg.request('/v2/unknown/repo/manifests/latest');
    assert.equal(r.status, 404);
    assert.equal(code(r), 'NAME_UNKNOWN');
    r = await reg.request('/v2/known/manifests/missing-tag');
    assert.equal(r.status, 404);
    assert.equal(code(r), 'MANIFEST_UNKNOWN');
    r = await reg.request(`/v2/known/manifests/${sha256('nothing')}`);
    assert.equal(code(r), 'MANIFEST_UNKNOWN');
    r = await reg.request(`/v2/known/blobs/${sha256('nothing')}`);
    assert.equal(r.status, 404);
    assert.equal(code(r), 'BLOB_UNKNOWN');
    r = await reg.request(`/v2/known/blobs/${sha256('nothing')}`, { method: 'HEAD' });
    assert.equal(r.status, 404);
    assert.equal(r.body.length, 0);
    r = await reg.request('/v2/unknown/tags/list');
    assert.equal(code(r), 'NAME_UNKNOWN');
  });

  test('invalid names are NAME_INVALID; nested names work', async () => {
    for (const name of ['Upper', 'a//b', 'a/../b', '-lead', 'trail-', 'a..b', `${'a'.repeat(256)}`]) {
      const r = await reg.request(`/v2/${name}/tags/list`);
      assert.equal(r.status, 400, name);
      assert.equal(code(r), 'NAME_INVALID', name);
    }
    const img = await reg.pushImage('a/b/c', 'deep', 'deep');
    assert.deepEqual((await reg.request('/v2/a/b/c/manifests/deep')).body, img.bytes);
    assert.deepEqual((await reg.request('/v2/a/b/c/tags/list')).json, { name: 'a/b/c', tags: ['deep'] });
    const r = await reg.request('/v2/a/b/c/blobs/sha256:..%2F..%2F..');
    assert.equal(code(r), 'DIGEST_INVALID');
  });

  test('tags list is in code-point order and paginates with n, last and a Link header', async () => {
    const names = ['b', 'A', 'c', 'a1', 'D', 'e'];
    const img = await reg.pushImage('paged', names[0]!, 'paged');
    for (const t of names.slice(1)) assert.equal((await reg.putManifest('paged', t, img.bytes, OCI_MANIFEST)).status, 201);
    const sorted = ['A', 'D', 'a1', 'b', 'c', 'e'];
    let r = await reg.request('/v2/paged/tags/list');
    assert.deepEqual(r.json, { name: 'paged', tags: sorted });
    assert.equal(r.headers.link, undefined);
    r = await reg.request('/v2/paged/tags/list?n=0');
    assert.deepEqual(r.json.tags, []);
    assert.equal(r.headers.link, undefined);
    const seen: string[] = [];
    let path: string | undefined = '/v2/paged/tags/list?n=4';
    while (path) {
      r = await reg.request(path);
      assert.equal(r.status, 200);
      seen.push(...r.json.tags);
      const link = r.headers.link as string | undefined;
      path = link ? /^<([^>]+)>; rel="next"$/.exec(link)![1] : undefined;
    }
    assert.deepEqual(seen, sorted);
    r = await reg.request('/v2/paged/tags/list?n=2&last=D');
    assert.deepEqual(r.json.tags, ['a1', 'b']);
    r = await reg.request('/v2/paged/tags/list?last=b');
    assert.deepEqual(r.json.tags, ['c', 'e']);
    assert.equal((await reg.request('/v2/paged/tags/list?n=-1')).status, 400);
  });

  test('catalog lists repositories, paginated', async () => {
    const r = await reg.request('/v2/_catalog');
    assert.equal(r.status, 200);
    const all: string[] = r.json.repositories;
    assert.ok(all.includes('a/b/c') && all.includes('paged') && all.includes('mono'));
    const seen: string[] = [];
    let path: string | undefined = '/v2/_catalog?n=3';
    while (path) {
      const p = await reg.request(path);
      seen.push(...p.json.repositories);
      const link = p.headers.link as string | undefined;
      path = link ? /^<([^>]+)>; rel="next"$/.exec(link)![1] : undefined;
    }
    assert.deepEqual(seen, all);
  });

  test('deletes: tag, manifest (with its tags), blob; all 202, then 404', async () => {
    const img = await reg.pushImage('del', 'one', 'del');
    await reg.putManifest('del', 'two', img.bytes, OCI_MANIFEST);
    await reg.putManifest('del', 'keep-nothing', img.bytes, OCI_MANIFEST);
    let r = await reg.request('/v2/del/manifests/one', { method: 'DELETE' });
    assert.equal(r.status, 202);
    assert.equal((await reg.request('/v2/del/manifests/one')).status, 404);
    assert.equal((await reg.request('/v2/del/manifests/two')).status, 200);
    r = await reg.request(`/v2/del/manifests/${img.manifestDigest}`, { method: 'DELETE' });
    assert.equal(r.status, 202);
    assert.equal((await reg.request(`/v2/del/manifests/${img.manifestDigest}`)).status, 404);
    assert.equal((await reg.request('/v2/del/manifests/two')).status, 404, 'tags of a deleted manifest go with it');
    assert.deepEqual((await reg.request('/v2/del/tags/list')).json.tags, []);
    r = await reg.request(`/v2/del/manifests/${img.manifestDigest}`, { method: 'DELETE' });
    assert.equal(code(r), 'MANIFEST_UNKNOWN');
    r = await reg.request(`/v2/del/blobs/${img.layerDigest}`, { method: 'DELETE' });
    assert.equal(r.status, 202);
    assert.equal((await reg.request(`/v2/del/blobs/${img.layerDigest}`, { method: 'HEAD' })).status, 404);
    r = await reg.request(`/v2/del/blobs/${img.layerDigest}`, { method: 'DELETE' });
    assert.equal(r.status, 404);
    assert.equal(code(r), 'BLOB_UNKNOWN');
    r = await reg.request('/v2/nope/manifests/x', { method: 'DELETE' });
    assert.equal(r.status, 404);
  });

  test('referrers: manifests with a subject are listed, filtered by artifactType, and leave on delete', async () => {
    const subject = await reg.pushImage('refs', 'base', 'subject');
    const subjectDesc = { mediaType: OCI_MANIFEST, digest: subject.manifestDigest, size: subject.bytes.length };
    const empty = await reg.pushBlob('refs', '{}');
    const artifact = (artifactType: string | undefined, note: string) => ({
      schemaVersion: 2,
      mediaType: OCI_MANIFEST,
      ...(artifactType ? { artifactType } : {}),
      config: { mediaType: 'application/vnd.oci.empty.v1+json', digest: empty, size: 2 },
      layers: [],
      subject: subjectDesc,
      annotations: { note },
    });
    const sbom = Buffer.from(JSON.stringify(artifact('application/vnd.example.sbom', 'sbom')));
    const sig = Buffer.from(JSON.stringify(artifact(undefined, 'sig')));
    let r = await reg.putManifest('refs', sha256(sbom), sbom, OCI_MANIFEST);
    assert.equal(r.status, 201);
    assert.equal(r.headers['oci-subject'], subject.manifestDigest);
    r = await reg.putManifest('refs', sha256(sig), sig, OCI_MANIFEST);
    assert.equal(r.status, 201);
    // A subject that does not exist (yet) is accepted, per the spec.
    const orphan = Buffer.from(JSON.stringify({ ...artifact('application/vnd.example.orphan', 'orphan'), subject: { mediaType: OCI_MANIFEST, digest: sha256('future'), size: 9 } }));
    assert.equal((await reg.putManifest('refs', sha256(orphan), orphan, OCI_MANIFEST)).status, 201);

    r = await reg.request(`/v2/refs/referrers/${subject.manifestDigest}`);
    assert.equal(r.status, 200);
    assert.equal(r.headers['content-type'], OCI_INDEX);
    assert.equal(r.json.schemaVersion, 2);
    assert.equal(r.json.mediaType, OCI_INDEX);
    const byDigest = new Map<string, any>(r.json.manifests.map((d: any) => [d.digest, d]));
    assert.equal(byDigest.size, 2);
    assert.deepEqual(byDigest.get(sha256(sbom)), { mediaType: OCI_MANIFEST, digest: sha256(sbom), size: sbom.length, artifactType: 'application/vnd.example.sbom', annotations: { note: 'sbom' } });
    assert.equal(byDigest.get(sha256(sig)).artifactType, 'application/vnd.oci.empty.v1+json', 'without artifactType, the config media type');

    r = await reg.request(`/v2/refs/referrers/${subject.manifestDigest}?artifactType=application/vnd.example.sbom`);
    assert.equal(r.headers['oci-filters-applied'], 'artifactType');
    assert.deepEqual(r.json.manifests.map((d: any) => d.digest), [sha256(sbom)]);
    assert.deepEqual((await reg.request(`/v2/refs/referrers/${sha256('future')}`)).json.manifests.map((d: any) => d.digest), [sha256(orphan)]);

    await reg.request(`/v2/refs/manifests/${sha256(sbom)}`, { method: 'DELETE' });
    r = await reg.request(`/v2/refs/referrers/${subject.manifestDigest}`);
    assert.deepEqual(r.json.manifests.map((d: any) => d.digest), [sha256(sig)]);
    r = await reg.request(`/v2/never-pushed/referrers/${sha256('x')}`);
    assert.equal(r.status, 200, 'the referrers API never answers 404');
    assert.deepEqual(r.json.manifests, []);
    r = await reg.request('/v2/refs/referrers/sha256:nothex');
    assert.equal(r.status, 400);
  });

  test('sha512 blobs and manifests are stored under their own digest', async () => {
    const { createHash } = await import('node:crypto');
    const content = Buffer.from('sha512 content');
    const digest = `sha512:${createHash('sha512').update(content).digest('hex')}`;
    let r = await reg.request(`/v2/s512/blobs/uploads/?digest=${digest}`, { method: 'POST', body: content });
    assert.equal(r.status, 201);
    assert.deepEqual((await reg.request(`/v2/s512/blobs/${digest}`)).body, content);
    const m = Buffer.from(JSON.stringify({ schemaVersion: 2, mediaType: OCI_MANIFEST, config: { mediaType: 'application/vnd.oci.empty.v1+json', digest, size: content.length }, layers: [] }));
    const mDigest = `sha512:${createHash('sha512').update(m).digest('hex')}`;
    r = await reg.putManifest('s512', mDigest, m, OCI_MANIFEST);
    assert.equal(r.status, 201);
    assert.equal(r.headers['docker-content-digest'], mDigest);
    assert.deepEqual((await reg.request(`/v2/s512/manifests/${mDigest}`)).body, m);
  });

  test('an empty blob can be pushed and pulled', async () => {
    const digest = await reg.pushBlob('empty', '');
    const r = await reg.request(`/v2/empty/blobs/${digest}`);
    assert.equal(r.status, 200);
    assert.equal(r.headers['content-length'], '0');
  });

  test('unsupported methods are 405 and unknown paths 404, in the error form', async () => {
    let r = await reg.request('/v2/app/tags/list', { method: 'POST' });
    assert.equal(r.status, 405);
    assert.equal(code(r), 'UNSUPPORTED');
    r = await reg.request('/v3/');
    assert.equal(r.status, 404);
    assert.ok(r.json.errors);
  });

  test('concurrent pushes of the same blob all succeed and leave one file', async () => {
    const content = Buffer.alloc(1024 * 1024, 7);
    const digest = sha256(content);
    const monolithic = Array.from({ length: 6 }, (_, i) => reg.request(`/v2/race${i % 2}/blobs/uploads/?digest=${digest}`, { method: 'POST', body: content }));
    const chunked = Array.from({ length: 4 }, async (_, i) => {
      const post = await reg.request(`/v2/race${i % 2}/blobs/uploads/`, { method: 'POST' });
      const loc = post.headers.location!;
      const half = content.length / 2;
      await reg.request(loc, { method: 'PATCH', body: content.subarray(0, half), headers: { 'Content-Range': `0-${half - 1}` } });
      return reg.request(`${loc}?digest=${digest}`, { method: 'PUT', body: content.subarray(half), headers: { 'Content-Range': `${half}-${content.length - 1}` } });
    });
    const replies = await Promise.all([...monolithic, ...chunked]);
    assert.deepEqual(replies.map((r) => r.status), Array(10).fill(201));
    const files = readdirSync(join(reg.root, 'blobs', 'sha256')).filter((f) => f === digest.slice(7));
    assert.equal(files.length, 1);
    assert.deepEqual(readdirSync(join(reg.root, 'tmp')), []);
    for (const repo of ['race0', 'race1']) assert.deepEqual((await reg.request(`/v2/${repo}/blobs/${digest}`)).body, content);
  });

  test('a chunk whose client goes away mid-body is cut off; the session resumes at its last good size', async () => {
    const post = await reg.request('/v2/aborted/blobs/uploads/', { method: 'POST' });
    const loc = post.headers.location!;
    await reg.request(loc, { method: 'PATCH', body: 'good', headers: { 'Content-Range': '0-3' } });
    await new Promise<void>((resolve, reject) => {
      const sock = net.connect(reg.port, '127.0.0.1', () => {
        sock.write(`PATCH ${loc} HTTP/1.1\r\nHost: x\r\nContent-Range: 4-103\r\nContent-Length: 100\r\n\r\n${'x'.repeat(50)}`, () => {
          sock.destroy();
          resolve();
        });
      });
      sock.on('error', reject);
    });
    // Chunks of a session are serialised: if the broken one ran first its 50 bytes were cut off, else it met a 416.
    const r = await reg.request(loc, { method: 'PATCH', body: 'more', headers: { 'Content-Range': '4-7' } });
    assert.equal(r.status, 202, r.text);
    const put = await reg.request(`${loc}?digest=${sha256('goodmore')}`, { method: 'PUT' });
    assert.equal(put.status, 201, put.text);
  });

  test('concurrent PATCHes to one session are applied one at a time', async () => {
    const post = await reg.request('/v2/serial/blobs/uploads/', { method: 'POST' });
    const loc = post.headers.location!;
    const chunks = ['aaaa', 'bbbb', 'cccc'];
    const replies = await Promise.all(chunks.map((c) => reg.request(loc, { method: 'PATCH', body: c })));
    assert.deepEqual(replies.map((r) => r.status), [202, 202, 202]);
    assert.equal((await reg.request(loc)).headers.range, '0-11');
  });
});

describe('registry persistence, upload expiry and gc', () => {
  test('everything survives a restart on the same root', async () => {
    const reg = await new TestRegistry().start();
    try {
      const img = await reg.pushImage('persist/me', 'v1', 'persist');
      const post = await reg.request('/v2/persist/me/blobs/uploads/', { method: 'POST' });
      await reg.request(post.headers.location!, { method: 'PATCH', body: 'half' });
      await reg.restart();
      assert.deepEqual((await reg.request('/v2/persist/me/manifests/v1')).body, img.bytes);
      assert.deepEqual((await reg.request(`/v2/persist/me/blobs/${img.layerDigest}`)).body, img.layer);
      assert.deepEqual((await reg.request('/v2/persist/me/tags/list')).json.tags, ['v1']);
      assert.deepEqual((await reg.request('/v2/_catalog')).json.repositories, ['persist/me']);
      const status = await reg.request(post.headers.location!);
      assert.equal(status.status, 204, 'a fresh upload session survives a restart');
      assert.equal(status.headers.range, '0-3');
    } finally {
      await reg.stop();
    }
  });

  test('abandoned uploads are removed at start and by the sweep', async () => {
    const reg = await new TestRegistry({ uploadTimeoutMs: 60_000 }).start();
    try {
      const a = await reg.request('/v2/expire/blobs/uploads/', { method: 'POST' });
      const b = await reg.request('/v2/expire/blobs/uploads/', { method: 'POST' });
      const old = new Date(Date.now() - 120_000);
      const age = (id: string) => {
        const dir = join(reg.root, 'uploads', id);
        for (const f of ['data', 'info.json', '']) utimesSync(join(dir, f), old, old);
      };
      age(a.headers['docker-upload-uuid'] as string);
      assert.equal(await reg.server.storage.sweepUploads(60_000), 1);
      assert.equal((await reg.request(a.headers.location!)).status, 404);
      assert.equal((await reg.request(b.headers.location!)).status, 204);
      age(b.headers['docker-upload-uuid'] as string);
      writeFileSync(join(reg.root, 'tmp', 'partial'), 'left by a crash');
      await reg.restart();
      assert.equal((await reg.request(b.headers.location!)).status, 404);
      assert.deepEqual(readdirSync(join(reg.root, 'uploads')), []);
      assert.deepEqual(readdirSync(join(reg.root, 'tmp')), []);
    } finally {
      await reg.stop();
    }
  });

  test('gc removes blobs no manifest references and keeps the rest', async () => {
    const reg = await new TestRegistry().start();
    try {
      const a = await reg.pushImage('gc/a', 'v1', 'a');
      const b = await reg.pushImage('gc/b', 'v1', 'b');
      const shared = await reg.pushBlob('gc/b', 'shared layer');
      const orphan = await reg.pushBlob('gc/a', 'never referenced');
      const index = { schemaVersion: 2, mediaType: OCI_INDEX, manifests: [{ mediaType: OCI_MANIFEST, digest: a.manifestDigest, size: a.bytes.length }] };
      assert.equal((await reg.putManifest('gc/a', 'idx', index)).status, 201);
      // Untag a's image: the index still names it, so it must stay.
      await reg.request('/v2/gc/a/manifests/v1', { method: 'DELETE' });
      await reg.request(`/v2/gc/b/manifests/${b.manifestDigest}`, { method: 'DELETE' });
      // A copy of the registry's pid file, as another process serving the root would leave it.
      const pidFile = join(reg.root, 'serving.pid');
      const held = readFileSync(pidFile, 'utf8');
      await reg.server.close();
      assert.ok(!existsSync(pidFile), 'close removes the pid file');
      writeFileSync(pidFile, held);
      await assert.rejects(collectGarbage(reg.root), /is serving/);
      writeFileSync(pidFile, '999999999\n');
      assert.ok((await collectGarbage(reg.root, { dryRun: true })).removed.length > 0, 'a stale pid file does not block gc');

      const dry = await collectGarbage(reg.root, { dryRun: true });
      const expected = [b.manifestDigest, b.configDigest, b.layerDigest, shared, orphan].sort();
      assert.deepEqual([...dry.removed].sort(), expected);
      assert.ok(existsSync(join(reg.root, 'blobs', 'sha256', orphan.slice(7))), 'dry run removes nothing');

      const res = await collectGarbage(reg.root);
      assert.deepEqual([...res.removed].sort(), expected);
      assert.ok(res.bytes > 0);
      for (const d of expected) assert.ok(!existsSync(join(reg.root, 'blobs', 'sha256', d.slice(7))), d);

      await reg.restart();
      const pulled = await reg.request('/v2/gc/a/manifests/idx');
      assert.equal(pulled.status, 200);
      assert.deepEqual((await reg.request(`/v2/gc/a/manifests/${a.manifestDigest}`)).body, a.bytes);
      assert.deepEqual((await reg.request(`/v2/gc/a/blobs/${a.layerDigest}`)).body, a.layer);
      assert.equal((await reg.request(`/v2/gc/a/blobs/${orphan}`, { method: 'HEAD' })).status, 404, 'links to removed blobs go too');
      await reg.server.close();
      assert.deepEqual((await collectGarbage(reg.root)).removed, [], 'a second run finds nothing');
    } finally {
      await reg.stop();
    }
  });
});

describe('registry htpasswd auth', () => {
  let reg: TestRegistry;
  let file: string;
  before(async () => {
    const dir = new TestRegistry().root;
    file = join(dir, 'htpasswd');
    // htpasswd -B writes $2y$; bcryptjs writes $2b$; both must work.
    const y = bcrypt.hashSync('s3cret', 4).replace(/^\$2b\$/, '$2y$');
    const b = bcrypt.hashSync('other', 4);
    writeFileSync(file, `# users\nalice:${y}\nbob:${b}\n`);
    reg = await new TestRegistry({ htpasswd: file }).start();
  });
  after(async () => {
    await reg.stop();
  });

  test('without or with wrong credentials: 401 UNAUTHORIZED with a Basic challenge', async () => {
    for (const auth of [undefined, 'alice:wrong', 'mallory:s3cret', 'alice']) {
      const r = await reg.request('/v2/', { auth });
      assert.equal(r.status, 401, String(auth));
      assert.equal(code(r), 'UNAUTHORIZED');
      assert.equal(r.headers['www-authenticate'], 'Basic realm="berth-registry"');
    }
    const r = await reg.request('/v2/x/blobs/uploads/', { method: 'POST', body: 'data' });
    assert.equal(r.status, 401);
  });

  test('with right credentials every endpoint works', async () => {
    assert.equal((await reg.request('/v2/', { auth: 'alice:s3cret' })).status, 200);
    assert.equal((await reg.request('/v2/', { auth: 'bob:other' })).status, 200);
    const digest = sha256('authed');
    const r = await reg.request(`/v2/authed/blobs/uploads/?digest=${digest}`, { method: 'POST', body: 'authed', auth: 'alice:s3cret' });
    assert.equal(r.status, 201);
    assert.equal((await reg.request(`/v2/authed/blobs/${digest}`, { auth: 'alice:s3cret' })).text, 'authed');
    assert.equal((await reg.request(`/v2/authed/blobs/${digest}`)).status, 401);
  });

  test('an htpasswd entry that is not bcrypt stops the server from starting', async () => {
    const bad = join(reg.root, 'htpasswd-md5');
    writeFileSync(bad, 'carol:$apr1$abcdefgh$0123456789abcdefghijkl\n');
    const r = new TestRegistry({ htpasswd: bad });
    await assert.rejects(r.start(), /not a bcrypt hash/);
    await r.stop();
  });
});
