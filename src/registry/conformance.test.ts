/**
 * The expectations of the OCI distribution-spec v1.1 conformance workflow
 * (pull, push, content discovery, content management) that apply to this
 * registry, written as tests over real HTTP. Each test names the spec clause
 * or the conformance suite's case it stands for.
 */
import { test, describe, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { createHash, randomBytes } from 'node:crypto';
import { TestRegistry, type Reply } from './test-client';

const OCI_MANIFEST = 'application/vnd.oci.image.manifest.v1+json';
const OCI_INDEX = 'application/vnd.oci.image.index.v1+json';
const OCI_CONFIG = 'application/vnd.oci.image.config.v1+json';
const OCI_LAYER_GZ = 'application/vnd.oci.image.layer.v1.tar+gzip';
const EMPTY_JSON = 'application/vnd.oci.empty.v1+json';
const REPO = 'conformance/repo1';
const REPO2 = 'conformance/repo2';

type Alg = 'sha256' | 'sha512';
const digestOf = (b: Buffer | string, alg: Alg = 'sha256') => `${alg}:${createHash(alg).update(b).digest('hex')}`;
const code = (r: Reply) => r.json?.errors?.[0]?.code as string | undefined;

interface Desc {
  mediaType: string;
  digest: string;
  size: number;
  [k: string]: unknown;
}

describe('OCI distribution-spec conformance', () => {
  let reg: TestRegistry;
  before(async () => {
    reg = await new TestRegistry().start();
  });
  after(async () => {
    await reg.stop();
  });

  const blob = async (repo: string, bytes: Buffer | string, mediaType = OCI_LAYER_GZ, alg: Alg = 'sha256'): Promise<Desc> => {
    const b = Buffer.from(bytes);
    const digest = digestOf(b, alg);
    const r = await reg.request(`/v2/${repo}/blobs/uploads/?digest=${digest}`, { method: 'POST', body: b });
    assert.equal(r.status, 201, r.text);
    return { mediaType, digest, size: b.length };
  };
  const manifest = async (repo: string, ref: string, doc: Record<string, unknown>, expect = 201): Promise<Desc & { bytes: Buffer }> => {
    const bytes = Buffer.from(JSON.stringify(doc));
    const mediaType = doc.mediaType as string;
    const r = await reg.request(`/v2/${repo}/manifests/${ref}`, { method: 'PUT', body: bytes, headers: { 'Content-Type': mediaType } });
    assert.equal(r.status, expect, r.text);
    return { mediaType, digest: digestOf(bytes), size: bytes.length, bytes };
  };
  const image = async (repo: string, tag: string, opts: { layers?: number; extra?: Record<string, unknown>; config?: Desc } = {}) => {
    const layers: Desc[] = [];
    for (let i = 0; i < (opts.layers ?? 2); i++) layers.push(await blob(repo, randomBytes(64 + i)));
    const config = opts.config ?? (await blob(repo, JSON.stringify({ architecture: 'amd64', os: 'linux', rootfs: { type: 'layers', diff_ids: [] }, n: randomBytes(4).toString('hex') }), OCI_CONFIG));
    return manifest(repo, tag, { schemaVersion: 2, mediaType: OCI_MANIFEST, config, layers, ...(opts.extra ?? {}) });
  };

  describe('pull', () => {
    test('GET /v2/ is 200 (determining support)', async () => {
      assert.equal((await reg.request('/v2/')).status, 200);
    });

    test('pulling a manifest by tag and by digest returns the pushed bytes, type and digest', async () => {
      const m = await image(REPO, 'pull-me');
      for (const ref of ['pull-me', m.digest]) {
        const r = await reg.request(`/v2/${REPO}/manifests/${ref}`, { headers: { Accept: `${OCI_MANIFEST}, ${OCI_INDEX}` } });
        assert.equal(r.status, 200);
        assert.deepEqual(r.body, m.bytes);
        assert.equal(r.headers['content-type'], OCI_MANIFEST);
        assert.equal(r.headers['docker-content-digest'], m.digest);
      }
    });

    test('a missing manifest is 404 by digest and by tag', async () => {
      assert.equal((await reg.request(`/v2/${REPO}/manifests/${digestOf(randomBytes(1024))}`)).status, 404);
      assert.equal((await reg.request(`/v2/${REPO}/manifests/missing-${randomBytes(6).toString('hex')}`)).status, 404);
    });

    test('pulling a blob returns its bytes with a matching Docker-Content-Digest; a missing one is 404', async () => {
      const bytes = randomBytes(512);
      const d = await blob(REPO, bytes);
      const r = await reg.request(`/v2/${REPO}/blobs/${d.digest}`);
      assert.equal(r.status, 200);
      assert.deepEqual(r.body, bytes);
      assert.equal(r.headers['docker-content-digest'], d.digest);
      assert.equal((await reg.request(`/v2/${REPO}/blobs/${digestOf(randomBytes(8))}`)).status, 404);
    });

    test('HEAD answers existence with Content-Length and Docker-Content-Digest', async () => {
      const m = await image(REPO, 'head-me');
      let r = await reg.request(`/v2/${REPO}/manifests/head-me`, { method: 'HEAD' });
      assert.equal(r.status, 200);
      assert.equal(r.headers['content-length'], String(m.size));
      assert.equal(r.headers['docker-content-digest'], m.digest);
      const d = await blob(REPO, randomBytes(100));
      r = await reg.request(`/v2/${REPO}/blobs/${d.digest}`, { method: 'HEAD' });
      assert.equal(r.status, 200);
      assert.equal(r.headers['content-length'], '100');
      assert.equal((await reg.request(`/v2/${REPO}/blobs/${digestOf('absent')}`, { method: 'HEAD' })).status, 404);
    });

    test('Range requests on a 2048-byte blob (the suite\'s six cases)', async () => {
      const bytes = randomBytes(2048);
      const d = await blob(REPO, bytes);
      const cases: [string, number, Buffer | undefined, string | undefined][] = [
        ['bytes=500-1499', 206, bytes.subarray(500, 1500), 'bytes 500-1499/2048'],
        ['bytes=500-', 206, bytes.subarray(500), 'bytes 500-2047/2048'],
        ['bytes=-500', 206, bytes.subarray(1548), 'bytes 1548-2047/2048'],
        ['bytes=2000-5000', 206, bytes.subarray(2000), 'bytes 2000-2047/2048'],
        ['bytes=500-0', 416, undefined, undefined],
        ['bytes=5000-10000', 416, undefined, undefined],
      ];
      for (const [range, status, body, contentRange] of cases) {
        const r = await reg.request(`/v2/${REPO}/blobs/${d.digest}`, { headers: { Range: range } });
        assert.equal(r.status, status, range);
        if (body) {
          assert.deepEqual(r.body, body, range);
          assert.equal(r.headers['content-length'], String(body.length));
          assert.equal(r.headers['content-range'], contentRange);
        }
      }
    });
  });

  describe('push', () => {
    for (const alg of ['sha256', 'sha512'] as Alg[]) {
      describe(`${alg} blobs`, () => {
        const fresh = () => {
          const bytes = randomBytes(512);
          return { bytes, digest: digestOf(bytes, alg) };
        };
        const pulls = async (repo: string, b: { bytes: Buffer; digest: string }) => {
          const r = await reg.request(`/v2/${repo}/blobs/${b.digest}`);
          assert.equal(r.status, 200);
          assert.deepEqual(r.body, b.bytes);
        };

        test('get-missing is 404', async () => {
          assert.equal((await reg.request(`/v2/${REPO}/blobs/${fresh().digest}`)).status, 404);
        });

        test('post only: a single POST ?digest= is 201 with a pullable Location', async () => {
          const b = fresh();
          const r = await reg.request(`/v2/${REPO}/blobs/uploads/?digest=${b.digest}`, { method: 'POST', body: b.bytes, headers: { 'Content-Type': 'application/octet-stream' } });
          assert.equal(r.status, 201);
          assert.ok(r.headers.location);
          assert.deepEqual((await reg.request(r.headers.location!)).body, b.bytes);
        });

        test('post+put: 202 with Location, then PUT <location>?digest= is 201', async () => {
          const b = fresh();
          const post = await reg.request(`/v2/${REPO}/blobs/uploads/`, { method: 'POST' });
          assert.equal(post.status, 202);
          const put = await reg.request(`${post.headers.location}?digest=${b.digest}`, { method: 'PUT', body: b.bytes });
          assert.equal(put.status, 201);
          await pulls(REPO, b);
        });

        test('chunked: PATCH chunks with Content-Range in order, 416 out of order, recover with GET, last chunk on PUT', async () => {
          const b = fresh();
          const post = await reg.request(`/v2/${REPO}/blobs/uploads/`, { method: 'POST', headers: { 'Content-Length': 0 } });
          let loc = post.headers.location!;
          const size = 128;
          let last = -1;
          for (let start = 0; start < b.bytes.length - size; start += size) {
            const end = start + size - 1;
            if (start === size * 2) {
              const bad = await reg.request(loc, { method: 'PATCH', body: b.bytes.subarray(start + size, end + size + 1), headers: { 'Content-Range': `${start + size}-${end + size}` } });
              assert.equal(bad.status, 416);
              const status = await reg.request(bad.headers.location ?? loc);
              assert.equal(status.status, 204);
              assert.equal(status.headers.range, `0-${last}`);
              loc = status.headers.location!;
            }
            const r = await reg.request(loc, { method: 'PATCH', body: b.bytes.subarray(start, end + 1), headers: { 'Content-Range': `${start}-${end}`, 'Content-Type': 'application/octet-stream' } });
            assert.equal(r.status, 202);
            assert.equal(r.headers.range, `0-${end}`);
            last = end;
            loc = r.headers.location!;
          }
          const put = await reg.request(`${loc}?digest=${b.digest}`, { method: 'PUT', body: b.bytes.subarray(last + 1), headers: { 'Content-Range': `${last + 1}-${b.bytes.length - 1}` } });
          assert.equal(put.status, 201);
          await pulls(REPO, b);
        });

        test('stream: one PATCH without Content-Range, then an empty PUT', async () => {
          const b = fresh();
          const post = await reg.request(`/v2/${REPO}/blobs/uploads/`, { method: 'POST' });
          const patch = await reg.request(post.headers.location!, { method: 'PATCH', body: b.bytes });
          assert.equal(patch.status, 202);
          const put = await reg.request(`${patch.headers.location}?digest=${b.digest}`, { method: 'PUT' });
          assert.equal(put.status, 201);
          await pulls(REPO, b);
        });

        test('mount from another repository is 201; anonymous mount is 201; a missing blob is 202', async () => {
          const b = fresh();
          await reg.request(`/v2/${REPO}/blobs/uploads/?digest=${b.digest}`, { method: 'POST', body: b.bytes });
          let r = await reg.request(`/v2/${REPO2}/blobs/uploads/?mount=${b.digest}&from=${REPO}`, { method: 'POST' });
          assert.equal(r.status, 201);
          await pulls(REPO2, b);
          r = await reg.request(`/v2/${REPO2}-anon/blobs/uploads/?mount=${b.digest}`, { method: 'POST' });
          assert.ok([201, 202].includes(r.status));
          r = await reg.request(`/v2/${REPO2}/blobs/uploads/?mount=${fresh().digest}&from=${REPO}`, { method: 'POST' });
          assert.equal(r.status, 202);
          assert.ok(r.headers.location);
        });

        test('post cancel: DELETE on the session, and the blob was never stored', async () => {
          const b = fresh();
          const post = await reg.request(`/v2/${REPO}/blobs/uploads/`, { method: 'POST' });
          await reg.request(post.headers.location!, { method: 'PATCH', body: b.bytes });
          assert.equal((await reg.request(post.headers.location!, { method: 'DELETE' })).status, 204);
          assert.equal((await reg.request(`/v2/${REPO}/blobs/${b.digest}`)).status, 404);
        });
      });
    }

    test('push by tag and by digest: 201 with Location and Docker-Content-Digest', async () => {
      const layer = await blob(REPO, randomBytes(32));
      const config = await blob(REPO, '{"os":"linux","architecture":"amd64"}', OCI_CONFIG);
      const doc = { schemaVersion: 2, mediaType: OCI_MANIFEST, config, layers: [layer] };
      const bytes = Buffer.from(JSON.stringify(doc));
      for (const ref of ['by-tag', digestOf(bytes)]) {
        const r = await reg.request(`/v2/${REPO}/manifests/${ref}`, { method: 'PUT', body: bytes, headers: { 'Content-Type': OCI_MANIFEST } });
        assert.equal(r.status, 201, ref);
        assert.equal(r.headers['docker-content-digest'], digestOf(bytes));
        assert.equal((await reg.request(r.headers.location!)).status, 200);
      }
    });

    test('PUT to sha256:baddigeststring is 400; GET of it is 400 or 404', async () => {
      const m = await image(REPO, 'bad-digest-base');
      const r = await reg.request(`/v2/${REPO}/manifests/sha256:baddigeststring`, { method: 'PUT', body: m.bytes, headers: { 'Content-Type': OCI_MANIFEST } });
      assert.equal(r.status, 400);
      assert.ok([400, 404].includes((await reg.request(`/v2/${REPO}/manifests/sha256:baddigeststring`)).status));
    });

    test('data sets: index, nested index, artifact, no layers, custom fields, data field, non-distributable, empty blob', async () => {
      const a = await image(REPO, 'img-amd64');
      const b = await image(REPO, 'img-arm64');
      const index = await manifest(REPO, 'index', {
        schemaVersion: 2,
        mediaType: OCI_INDEX,
        manifests: [
          { mediaType: a.mediaType, digest: a.digest, size: a.size, platform: { os: 'linux', architecture: 'amd64' } },
          { mediaType: b.mediaType, digest: b.digest, size: b.size, platform: { os: 'linux', architecture: 'arm64' } },
        ],
      });
      await manifest(REPO, 'index-of-index', { schemaVersion: 2, mediaType: OCI_INDEX, manifests: [{ mediaType: OCI_INDEX, digest: index.digest, size: index.size }] });
      const artifactConfig = await blob(REPO, '{"kind":"example"}', 'application/vnd.example.oci.conformance.v1');
      await manifest(REPO, 'artifact', {
        schemaVersion: 2,
        mediaType: OCI_MANIFEST,
        artifactType: 'application/vnd.example.oci.conformance.v1',
        config: artifactConfig,
        layers: [await blob(REPO, 'artifact payload', 'application/vnd.example.payload')],
      });
      await image(REPO, 'no-layers', { layers: 0 });
      await image(REPO, 'custom-fields', { extra: { 'org.example.unknown': { nested: [1, 2, 3] } } });
      const empty = await blob(REPO, '{}', EMPTY_JSON);
      await image(REPO, 'data-field', { layers: 0, config: { ...empty, data: Buffer.from('{}').toString('base64') } });
      const cfg = await blob(REPO, '{"os":"linux"}', OCI_CONFIG);
      await manifest(REPO, 'non-distributable', {
        schemaVersion: 2,
        mediaType: OCI_MANIFEST,
        config: cfg,
        layers: [
          { mediaType: 'application/vnd.oci.image.layer.nondistributable.v1.tar+gzip', digest: digestOf(randomBytes(8)), size: 123456, urls: ['https://store.example.com/blob'] },
          await blob(REPO, randomBytes(16)),
        ],
      });
      const zero = await blob(REPO, '');
      assert.equal((await reg.request(`/v2/${REPO}/blobs/${zero.digest}`)).headers['content-length'], '0');
      for (const tag of ['index', 'index-of-index', 'artifact', 'no-layers', 'custom-fields', 'data-field', 'non-distributable']) {
        assert.equal((await reg.request(`/v2/${REPO}/manifests/${tag}`)).status, 200, tag);
      }
    });

    test('a manifest whose subject does not exist is accepted, with OCI-Subject', async () => {
      const missing = digestOf(randomBytes(16));
      const empty = await blob(REPO, '{}', EMPTY_JSON);
      const bytes = Buffer.from(JSON.stringify({ schemaVersion: 2, mediaType: OCI_MANIFEST, artifactType: 'application/vnd.example.sig', config: empty, layers: [], subject: { mediaType: OCI_MANIFEST, digest: missing, size: 100 } }));
      const r = await reg.request(`/v2/${REPO}/manifests/${digestOf(bytes)}`, { method: 'PUT', body: bytes, headers: { 'Content-Type': OCI_MANIFEST } });
      assert.equal(r.status, 201);
      assert.equal(r.headers['oci-subject'], missing);
    });

    test('a manifest naming a blob that was never pushed may be refused, and then only with MANIFEST_BLOB_UNKNOWN', async () => {
      const cfg = await blob(REPO, '{"os":"linux"}', OCI_CONFIG);
      const bytes = JSON.stringify({ schemaVersion: 2, mediaType: OCI_MANIFEST, config: cfg, layers: [{ mediaType: OCI_LAYER_GZ, digest: digestOf(randomBytes(9)), size: 9 }] });
      const r = await reg.request(`/v2/${REPO}/manifests/sparse`, { method: 'PUT', body: bytes, headers: { 'Content-Type': OCI_MANIFEST } });
      assert.equal(r.status, 400);
      assert.equal(code(r), 'MANIFEST_BLOB_UNKNOWN');
    });
  });

  describe('content discovery', () => {
    test('tag list of an empty repository is 200 or 404; referrers of an unknown digest is an empty OCI index', async () => {
      const r = await reg.request('/v2/conformance/empty/tags/list');
      assert.ok([200, 404].includes(r.status));
      const refs = await reg.request(`/v2/conformance/empty/referrers/${digestOf(randomBytes(4))}`);
      assert.equal(refs.status, 200);
      assert.equal(refs.headers['content-type'], OCI_INDEX);
      assert.deepEqual(refs.json, { schemaVersion: 2, mediaType: OCI_INDEX, manifests: [] });
    });

    test('tags are listed in (bytewise) lexical order and paged with n and last', async () => {
      const repo = 'conformance/tags';
      const m = await image(repo, 'seed');
      const tags = ['seed', 'Upper', ...Array.from({ length: 8 }, (_, i) => `t${i}`)];
      for (const t of tags.slice(1)) await reg.request(`/v2/${repo}/manifests/${t}`, { method: 'PUT', body: m.bytes, headers: { 'Content-Type': OCI_MANIFEST } });
      const all = (await reg.request(`/v2/${repo}/tags/list`)).json;
      assert.deepEqual(all, { name: repo, tags: [...tags].sort() });
      const page = await reg.request(`/v2/${repo}/tags/list?n=4`);
      assert.equal(page.json.tags.length, 4, 'n results when more exist');
      assert.match(page.headers.link as string, /rel="next"/);
      const next = await reg.request(`/v2/${repo}/tags/list?n=4&last=${page.json.tags[3]}`);
      assert.deepEqual(next.json.tags, all.tags.slice(4, 8));
      // The suite's own check: sort bytewise, ask for the tags after the middle one.
      const sorted = [...all.tags].sort();
      const half = sorted.length / 2;
      const rest = await reg.request(`/v2/${repo}/tags/list?last=${sorted[half - 1]}`);
      assert.deepEqual(rest.json.tags, sorted.slice(half));
      const zero = await reg.request(`/v2/${repo}/tags/list?n=0`);
      assert.deepEqual(zero.json.tags, []);
      assert.equal(zero.headers.link, undefined);
    });

    test('referrers: manifests and indexes with a subject, artifactType rules, annotations, filtering', async () => {
      const repo = 'conformance/referrers';
      const subject = await image(repo, 'subject');
      const sub = { mediaType: subject.mediaType, digest: subject.digest, size: subject.size };
      const empty = await blob(repo, '{}', EMPTY_JSON);
      const sbomCfg = await blob(repo, '{"sbom":true}', 'application/vnd.example.sbom.config');
      const withType = await manifest(repo, 'ref-typed', { schemaVersion: 2, mediaType: OCI_MANIFEST, artifactType: 'application/vnd.example.sig', config: empty, layers: [], subject: sub, annotations: { 'org.example.k': 'v' } });
      const fromConfig = await manifest(repo, 'ref-config', { schemaVersion: 2, mediaType: OCI_MANIFEST, config: sbomCfg, layers: [], subject: sub });
      const idxTyped = await manifest(repo, 'ref-index-typed', { schemaVersion: 2, mediaType: OCI_INDEX, artifactType: 'application/vnd.example.list', manifests: [], subject: sub });
      const idxPlain = await manifest(repo, 'ref-index', { schemaVersion: 2, mediaType: OCI_INDEX, manifests: [], subject: sub });
      const r = await reg.request(`/v2/${repo}/referrers/${subject.digest}`);
      assert.equal(r.status, 200);
      const got = new Map<string, Desc>(r.json.manifests.map((d: Desc) => [d.digest, d]));
      assert.equal(got.size, 4);
      assert.deepEqual(got.get(withType.digest), { mediaType: OCI_MANIFEST, digest: withType.digest, size: withType.size, artifactType: 'application/vnd.example.sig', annotations: { 'org.example.k': 'v' } });
      assert.equal(got.get(fromConfig.digest)!.artifactType, 'application/vnd.example.sbom.config');
      assert.equal(got.get(idxTyped.digest)!.artifactType, 'application/vnd.example.list');
      assert.equal(got.get(idxPlain.digest)!.mediaType, OCI_INDEX);
      assert.ok(!('artifactType' in got.get(idxPlain.digest)!), 'an index without artifactType has none');
      const f = await reg.request(`/v2/${repo}/referrers/${subject.digest}?artifactType=application/vnd.example.sig`);
      assert.equal(f.headers['oci-filters-applied'], 'artifactType');
      assert.deepEqual(f.json.manifests.map((d: Desc) => d.digest), [withType.digest]);
      assert.equal((await reg.request(`/v2/${repo}/referrers/not-a-digest`)).status, 400);
    });
  });

  describe('content management', () => {
    test('delete a tag: 202, then the tag is 404 but the manifest stays', async () => {
      const m = await image(REPO, 'delete-tag');
      assert.equal((await reg.request(`/v2/${REPO}/manifests/delete-tag`, { method: 'DELETE' })).status, 202);
      assert.equal((await reg.request(`/v2/${REPO}/manifests/delete-tag`, { method: 'HEAD' })).status, 404);
      assert.equal((await reg.request(`/v2/${REPO}/manifests/${m.digest}`, { method: 'HEAD' })).status, 200);
    });

    test('delete a manifest: 202, then it and its tags are 404', async () => {
      const m = await image(REPO, 'delete-manifest');
      assert.equal((await reg.request(`/v2/${REPO}/manifests/${m.digest}`, { method: 'DELETE' })).status, 202);
      assert.equal((await reg.request(`/v2/${REPO}/manifests/${m.digest}`, { method: 'HEAD' })).status, 404);
      assert.equal((await reg.request(`/v2/${REPO}/manifests/delete-manifest`, { method: 'HEAD' })).status, 404);
      assert.equal((await reg.request(`/v2/conformance/no-such-repo/manifests/${m.digest}`, { method: 'DELETE' })).status, 404);
    });

    test('delete a blob: 202, then 404; deleting it again is 404', async () => {
      const d = await blob(REPO, randomBytes(40));
      assert.equal((await reg.request(`/v2/${REPO}/blobs/${d.digest}`, { method: 'DELETE' })).status, 202);
      assert.equal((await reg.request(`/v2/${REPO}/blobs/${d.digest}`, { method: 'HEAD' })).status, 404);
      assert.equal((await reg.request(`/v2/${REPO}/blobs/${d.digest}`, { method: 'DELETE' })).status, 404);
    });
  });
});
