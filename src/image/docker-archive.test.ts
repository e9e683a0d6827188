import { after, test } from 'node:test';
import assert from 'node:assert/strict';
import { createHash, randomBytes } from 'node:crypto';
import { existsSync, mkdtempSync, readdirSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { PassThrough, Readable } from 'node:stream';
import * as tar from 'tar-stream';
import { ContentStore } from './content-store';
import { readArchive, writeArchive } from './docker-archive';
import { ImageStore } from './image-store';
import { parseReference } from '../common';
import type { ImageConfig } from './image-config';
import type { Digest } from '../common';

/** Temp dirs made by these tests, removed when the file's tests are done. */
const temps: string[] = [];
const keep = (dir: string): string => (temps.push(dir), dir);
after(() => {
  for (const d of temps) rmSync(d, { recursive: true, force: true });
});


interface E { name: string; data?: Buffer | string; type?: 'file' | 'symlink' | 'link' | 'directory'; linkname?: string }

async function makeTar(entries: E[]): Promise<Buffer> {
  const pack = tar.pack();
  const chunks: Buffer[] = [];
  const done = (async () => {
    for await (const c of pack as unknown as AsyncIterable<Buffer>) chunks.push(c);
  })();
  for (const e of entries) {
    await new Promise<void>((resolve, reject) => {
      const cb = (err?: Error | null) => (err ? reject(err) : resolve());
      if (e.type && e.type !== 'file') pack.entry({ name: e.name, type: e.type, linkname: e.linkname ?? '' }, cb);
      else pack.entry({ name: e.name }, Buffer.from(e.data ?? ''), cb);
    });
  }
  pack.finalize();
  await done;
  return Buffer.concat(chunks);
}

const sha = (b: Buffer | string) => ('sha256:' + createHash('sha256').update(b).digest('hex')) as Digest;
const hex = (d: Digest) => d.slice(7);
const tmpFiles = (cs: ContentStore) => (existsSync(join(cs.root, 'tmp')) ? readdirSync(join(cs.root, 'tmp')) : []);
const store = () => new ContentStore(keep(mkdtempSync(join(tmpdir(), 'berth-arch-'))));
const invalid = (re: RegExp) => (e: Error & { kind?: string }) => {
  assert.equal(e.kind, 'invalid-argument', e.message);
  assert.match(e.message, /^invalid docker archive: /);
  assert.match(e.message, re);
  return true;
};

function configFor(layers: Buffer[], extra: Partial<ImageConfig> = {}): Buffer {
  const cfg: ImageConfig = {
    architecture: 'amd64',
    os: 'linux',
    config: { Cmd: ['/bin/sh'] },
    rootfs: { type: 'layers', diff_ids: layers.map(sha) },
    ...extra,
  };
  return Buffer.from(JSON.stringify(cfg));
}

let layerA: Buffer;
let layerB: Buffer;
let bigLayer: Buffer;

test.before(async () => {
  layerA = await makeTar([{ name: 'bin/', type: 'directory' }, { name: 'bin/hello', data: 'hello\n' }]);
  layerB = await makeTar([{ name: 'etc/motd', data: 'hi' }]);
  bigLayer = await makeTar([{ name: 'big.bin', data: randomBytes(3 << 20) }]);
});

function classicArchive(): { entries: E[]; cfg1: Buffer; cfg2: Buffer } {
  const cfg1 = configFor([layerA, layerB]);
  const cfg2 = configFor([layerA], { author: 'x' });
  const entries: E[] = [
    { name: 'l1/', type: 'directory' },
    { name: 'l1/VERSION', data: '1.0' },
    { name: 'l1/json', data: '{}' },
    { name: 'l1/layer.tar', data: layerA },
    { name: 'l2/layer.tar', data: layerB },
    { name: 'l3/layer.tar', type: 'symlink', linkname: '../l1/layer.tar' },
    { name: `${hex(sha(cfg1))}.json`, data: cfg1 },
    { name: `${hex(sha(cfg2))}.json`, data: cfg2 },
    {
      name: 'manifest.json',
      data: JSON.stringify([
        { Config: `${hex(sha(cfg1))}.json`, RepoTags: ['busybox:latest', 'localhost:5000/a/b:t'], Layers: ['l1/layer.tar', 'l2/layer.tar'] },
        { Config: `${hex(sha(cfg2))}.json`, RepoTags: null, Layers: ['l3/layer.tar'] },
      ]),
    },
    { name: 'repositories', data: '{"busybox":{"latest":"l2"}}' },
  ];
  return { entries, cfg1, cfg2 };
}

test('reads the classic layout with a symlinked layer', async () => {
  const cs = store();
  const { entries, cfg1, cfg2 } = classicArchive();
  const { images } = await readArchive(Readable.from(await makeTar(entries)), cs);
  assert.equal(images.length, 2);
  assert.equal(images[0]!.configDigest, sha(cfg1));
  assert.deepEqual(images[0]!.repoTags, ['busybox:latest', 'localhost:5000/a/b:t']);
  assert.deepEqual(images[0]!.layerBlobs, [sha(layerA), sha(layerB)]);
  assert.deepEqual(images[0]!.config.rootfs.diff_ids, [sha(layerA), sha(layerB)]);
  assert.equal(images[1]!.configDigest, sha(cfg2));
  assert.deepEqual(images[1]!.repoTags, []);
  assert.deepEqual(images[1]!.layerBlobs, [sha(layerA)]);
  assert.deepEqual(await cs.readBuffer(sha(layerB)), layerB);
  assert.deepEqual(await cs.readBuffer(sha(cfg1)), cfg1);
  // Unreferenced small files (VERSION, json, repositories) are not stored.
  assert.deepEqual((await cs.list()).sort(), [sha(layerA), sha(layerB), sha(cfg1), sha(cfg2)].sort());
});

test('reads the docker 25+ OCI layout, with a large streamed layer and a hard link', async () => {
  const cs = store();
  const cfg = configFor([bigLayer, layerA]);
  const ociManifest = Buffer.from(JSON.stringify({ schemaVersion: 2, config: { digest: sha(cfg) }, layers: [] }));
  const b = (d: Digest) => `blobs/sha256/${hex(d)}`;
  const entries: E[] = [
    { name: 'blobs/', type: 'directory' },
    { name: 'blobs/sha256/', type: 'directory' },
    { name: b(sha(bigLayer)), data: bigLayer },
    { name: b(sha(layerA)), data: layerA },
    { name: 'extra/layer.tar', type: 'link', linkname: b(sha(layerA)) },
    { name: b(sha(cfg)), data: cfg },
    { name: b(sha(ociManifest)), data: ociManifest },
    { name: 'index.json', data: JSON.stringify({ schemaVersion: 2, manifests: [{ digest: sha(ociManifest) }] }) },
    { name: 'manifest.json', data: JSON.stringify([{ Config: b(sha(cfg)), RepoTags: ['app:v1'], Layers: [b(sha(bigLayer)), 'extra/layer.tar'], LayerSources: {} }]) },
    { name: 'oci-layout', data: '{"imageLayoutVersion":"1.0.0"}' },
  ];
  const { images } = await readArchive(Readable.from(await makeTar(entries)), cs);
  assert.equal(images.length, 1);
  assert.equal(images[0]!.configDigest, sha(cfg));
  assert.deepEqual(images[0]!.layerBlobs, [sha(bigLayer), sha(layerA)]);
  assert.equal(await cs.size(sha(bigLayer)), bigLayer.length);
  assert.equal(await cs.has(sha(ociManifest)), false);
});

test('writeArchive output reads back identically', async () => {
  const cs = store();
  const { entries, cfg1, cfg2 } = classicArchive();
  const first = await readArchive(Readable.from(await makeTar(entries)), cs);
  const out = new PassThrough();
  const chunks: Buffer[] = [];
  out.on('data', (c: Buffer) => chunks.push(c));
  await writeArchive(out, first.images.map((i) => ({ configDigest: i.configDigest, repoTags: i.repoTags, layerBlobs: i.layerBlobs })), cs);
  const archive = Buffer.concat(chunks);

  // Inspect the tar: docker 25+ layout, shared layer written once.
  const names: string[] = [];
  const ex = tar.extract();
  Readable.from(archive).pipe(ex);
  const small = new Map<string, unknown>();
  for await (const e of ex) {
    names.push(e.header.name);
    const bufs: Buffer[] = [];
    for await (const c of e as unknown as AsyncIterable<Buffer>) bufs.push(c);
    if (!e.header.name.startsWith('blobs/') || bufs.reduce((n, b) => n + b.length, 0) < 2000) {
      try { small.set(e.header.name, JSON.parse(Buffer.concat(bufs).toString())); } catch { /* a layer */ }
    }
  }
  const b = (d: Digest) => `blobs/sha256/${hex(d)}`;
  assert.equal(names.filter((n) => n === b(sha(layerA))).length, 1);
  assert.deepEqual(names.slice(-4), ['index.json', 'manifest.json', 'oci-layout', 'repositories']);
  assert.deepEqual(small.get('manifest.json'), [
    { Config: b(sha(cfg1)), RepoTags: ['busybox:latest', 'localhost:5000/a/b:t'], Layers: [b(sha(layerA)), b(sha(layerB))] },
    { Config: b(sha(cfg2)), RepoTags: [], Layers: [b(sha(layerA))] },
  ]);
  assert.deepEqual(small.get('repositories'), { busybox: { latest: hex(sha(layerB)) }, 'localhost:5000/a/b': { t: hex(sha(layerB)) } });
  assert.deepEqual(small.get('oci-layout'), { imageLayoutVersion: '1.0.0' });
  const index = small.get('index.json') as { manifests: { digest: Digest; annotations?: Record<string, string> }[] };
  assert.deepEqual(index.manifests.map((m) => m.annotations?.['io.containerd.image.name']), ['docker.io/library/busybox:latest', 'localhost:5000/a/b:t', undefined]);
  assert.deepEqual(index.manifests.map((m) => m.annotations?.['org.opencontainers.image.ref.name']), ['latest', 't', undefined]);
  const m0 = small.get(b(index.manifests[0]!.digest)) as { mediaType: string; config: { digest: Digest }; layers: { mediaType: string; digest: Digest; size: number }[] };
  assert.equal(m0.mediaType, 'application/vnd.oci.image.manifest.v1+json');
  assert.equal(m0.config.digest, sha(cfg1));
  assert.deepEqual(m0.layers, [
    { mediaType: 'application/vnd.oci.image.layer.v1.tar', digest: sha(layerA), size: layerA.length },
    { mediaType: 'application/vnd.oci.image.layer.v1.tar', digest: sha(layerB), size: layerB.length },
  ]);

  const cs2 = store();
  const second = await readArchive(Readable.from(archive), cs2);
  assert.deepEqual(second, first);
});

test('writeArchive fails before writing when a blob is missing', async () => {
  const cs = store();
  const out = new PassThrough();
  let wrote = 0;
  out.on('data', (c: Buffer) => (wrote += c.length));
  await assert.rejects(writeArchive(out, [{ configDigest: sha('nope'), repoTags: [], layerBlobs: [] }], cs), (e: Error & { kind?: string }) => e.kind === 'not-found');
  assert.equal(wrote, 0);
});

test('rejects malformed archives with clear messages', async () => {
  const cfg = configFor([layerA]);
  const cfgName = `${hex(sha(cfg))}.json`;
  const good = (over: Partial<{ Config: string; RepoTags: unknown; Layers: string[] }> = {}) =>
    JSON.stringify([{ Config: cfgName, RepoTags: ['x:1'], Layers: ['l/layer.tar'], ...over }]);
  const base: E[] = [{ name: 'l/layer.tar', data: layerA }, { name: cfgName, data: cfg }];
  const cases: [string, E[], RegExp][] = [
    ['no manifest', base, /manifest\.json is missing/],
    ['bad JSON', [...base, { name: 'manifest.json', data: '[{' }], /manifest\.json is not valid JSON/],
    ['not an array', [...base, { name: 'manifest.json', data: '{}' }], /must be a JSON array/],
    ['config absent', [{ name: 'l/layer.tar', data: layerA }, { name: 'manifest.json', data: good() }], /config ".*\.json" is referenced by manifest\.json but not present/],
    ['layer absent', [{ name: cfgName, data: cfg }, { name: 'manifest.json', data: good() }], /layer "l\/layer\.tar" is referenced/],
    ['dangling symlink', [...base, { name: 'm/layer.tar', type: 'symlink', linkname: '../n/layer.tar' }, { name: 'manifest.json', data: good({ Layers: ['m/layer.tar'] }) }], /not present/],
    ['symlink loop', [...base, { name: 'a', type: 'symlink', linkname: 'b' }, { name: 'b', type: 'symlink', linkname: 'a' }, { name: 'manifest.json', data: good({ Layers: ['a'] }) }], /not present/],
    ['dotdot entry', [...base, { name: 'x/../../etc/passwd', data: 'x' }, { name: 'manifest.json', data: good() }], /contains "\.\."/],
    ['absolute entry', [...base, { name: '/etc/passwd', data: 'x' }, { name: 'manifest.json', data: good() }], /is absolute/],
    ['symlink escape', [...base, { name: 'l2/layer.tar', type: 'symlink', linkname: '../../outside' }, { name: 'manifest.json', data: good() }], /points outside the archive/],
    ['absolute symlink', [...base, { name: 'l2/layer.tar', type: 'symlink', linkname: '/etc/passwd' }, { name: 'manifest.json', data: good() }], /only relative targets/],
    ['dotdot in manifest', [...base, { name: 'manifest.json', data: good({ Layers: ['../l/layer.tar'] }) }], /contains "\.\."/],
    ['bad config JSON', [{ name: 'l/layer.tar', data: layerA }, { name: 'c.json', data: '{nope' }, { name: 'manifest.json', data: good({ Config: 'c.json' }) }], /not valid JSON/],
    ['config not an image config', [{ name: 'l/layer.tar', data: layerA }, { name: 'c.json', data: '{}' }, { name: 'manifest.json', data: good({ Config: 'c.json' }) }], /architecture/],
    ['layer count mismatch', [...base, { name: 'manifest.json', data: good({ Layers: ['l/layer.tar', 'l/layer.tar'] }) }], /lists 2 layers but its config has 1 diff_ids/],
    ['invalid tag', [...base, { name: 'manifest.json', data: good({ RepoTags: ['Bad:1'] }) }], /invalid tag "Bad:1"/],
    ['untagged RepoTag', [...base, { name: 'manifest.json', data: good({ RepoTags: ['x'] }) }], /expected name:tag/],
    ['blob name mismatch', [{ name: `blobs/sha256/${hex(sha('other'))}`, data: layerA }, { name: cfgName, data: cfg }, { name: 'manifest.json', data: good({ Layers: [`blobs/sha256/${hex(sha('other'))}`] }) }], /does not match its digest name/],
  ];
  for (const [what, entries, re] of cases) {
    const cs = store();
    await assert.rejects(readArchive(Readable.from(await makeTar(entries)), cs), invalid(re), what);
    assert.deepEqual(tmpFiles(cs), [], what);
  }
  await assert.rejects(readArchive(Readable.from([Buffer.alloc(0)]), store()), invalid(/manifest\.json is missing/));
  await assert.rejects(readArchive(Readable.from([Buffer.from('this is not a tar file'.repeat(40))]), store()), invalid(/truncated or not a tar file/));
});

test('a truncated archive fails cleanly and leaves no temp files', async () => {
  const cfg = configFor([bigLayer]);
  const full = await makeTar([
    { name: 'big/layer.tar', data: bigLayer },
    { name: `${hex(sha(cfg))}.json`, data: cfg },
    { name: 'manifest.json', data: JSON.stringify([{ Config: `${hex(sha(cfg))}.json`, RepoTags: [], Layers: ['big/layer.tar'] }]) },
  ]);
  for (const cut of [100, 512 + 1000, 512 + (2 << 20), full.length - 2000]) {
    const cs = store();
    // Chunked, so the cut lands mid-entry while the layer is streaming to disk.
    const chunks: Buffer[] = [];
    for (let o = 0; o < cut; o += 65536) chunks.push(full.subarray(o, Math.min(cut, o + 65536)));
    await assert.rejects(readArchive(Readable.from(chunks), cs), invalid(/truncated/), `cut at ${cut}`);
    assert.deepEqual(tmpFiles(cs), [], `cut at ${cut}`);
  }
});

test('an input stream error is reported and leaves no temp files', async () => {
  const cs = store();
  const full = await makeTar([{ name: 'big/layer.tar', data: bigLayer }]);
  let sent = false;
  const input = new Readable({
    read() {
      if (!sent) {
        sent = true;
        this.push(full.subarray(0, 1 << 20));
      } else {
        this.destroy(new Error('client went away'));
      }
    },
  });
  await assert.rejects(readArchive(input, cs), invalid(/client went away/));
  assert.deepEqual(tmpFiles(cs), []);
});

test('loaded images register in the image store under their config digest', async () => {
  const cs = store();
  const { entries, cfg1 } = classicArchive();
  const { images } = await readArchive(Readable.from(await makeTar(entries)), cs);
  const is = new ImageStore(join(cs.root, 'images'), cs);
  for (const img of images) {
    const rec = await is.createFromBlob(img.configDigest);
    for (const t of img.repoTags) await is.tag(rec.id, parseReference(t));
  }
  assert.equal(is.resolve('busybox').id, sha(cfg1));
  assert.deepEqual(is.tagsOf(sha(cfg1)), ['busybox:latest', 'localhost:5000/a/b:t']);
  assert.equal(is.list().length, 2);
});

test('reads a pure OCI image layout: names from annotations, compressed layers, nested index, gzip-compressed archive', async () => {
  const { gzipSync } = await import('node:zlib');
  const { spawnSync } = await import('node:child_process');
  const gzA = gzipSync(layerA);
  const zstdB = spawnSync('zstd', ['-q', '-c'], { input: layerB }).stdout as Buffer;
  assert.ok(zstdB.length > 0, 'zstd CLI compresses the fixture');
  const cfg = configFor([layerA, layerB]);
  const b = (d: Digest) => `blobs/sha256/${hex(d)}`;
  const manifest = Buffer.from(JSON.stringify({
    schemaVersion: 2,
    mediaType: 'application/vnd.oci.image.manifest.v1+json',
    config: { mediaType: 'application/vnd.oci.image.config.v1+json', digest: sha(cfg), size: cfg.length },
    layers: [
      { mediaType: 'application/vnd.oci.image.layer.v1.tar+gzip', digest: sha(gzA), size: gzA.length },
      { mediaType: 'application/vnd.oci.image.layer.v1.tar+zstd', digest: sha(zstdB), size: zstdB.length },
    ],
  }));
  const mdesc = { mediaType: 'application/vnd.oci.image.manifest.v1+json', digest: sha(manifest), size: manifest.length };
  const inner = Buffer.from(JSON.stringify({
    schemaVersion: 2,
    mediaType: 'application/vnd.oci.image.index.v1+json',
    manifests: [{ ...mdesc, platform: { os: 'linux', architecture: 'arm64' }, digest: sha('other') }, { ...mdesc, platform: { os: 'linux', architecture: 'amd64' } }],
  }));
  const index = {
    schemaVersion: 2,
    manifests: [
      { ...mdesc, annotations: { 'org.opencontainers.image.ref.name': 'localhost:5000/app:1.0' } },
      { ...mdesc, annotations: { 'io.containerd.image.name': 'docker.io/library/app:2.0', 'org.opencontainers.image.ref.name': '2.0' } },
      { mediaType: 'application/vnd.oci.image.index.v1+json', digest: sha(inner), size: inner.length, annotations: { 'org.opencontainers.image.ref.name': 'latest' } },
    ],
  };
  const entries: E[] = [
    { name: 'oci-layout', data: '{"imageLayoutVersion":"1.0.0"}' },
    { name: b(sha(gzA)), data: gzA },
    { name: b(sha(zstdB)), data: zstdB },
    { name: b(sha(cfg)), data: cfg },
    { name: b(sha(manifest)), data: manifest },
    { name: b(sha(inner)), data: inner },
    { name: 'index.json', data: JSON.stringify(index) },
  ];
  const cs = store();
  const seen: Digest[] = [];
  const r = await readArchive(Readable.from([gzipSync(await makeTar(entries))]), cs, { onBlob: (d) => seen.push(d), platform: { os: 'linux', architecture: 'amd64' } });
  assert.equal(r.layout, 'oci');
  assert.equal(r.images.length, 1);
  assert.deepEqual(r.images[0]!.repoTags, ['localhost:5000/app:1.0', 'app:2.0']);
  assert.deepEqual(r.images[0]!.layerBlobs, [sha(gzA), sha(zstdB)]);
  assert.deepEqual(new Set(seen), new Set([sha(gzA), sha(zstdB), sha(cfg)]));

  const badManifest = Buffer.from(JSON.stringify({ schemaVersion: 2, config: { digest: sha(cfg) }, layers: [{ mediaType: 'application/vnd.oci.image.layer.v1.tar+bzip2', digest: sha(gzA) }] }));
  const bad: E[] = [
    { name: b(sha(gzA)), data: gzA },
    { name: b(sha(cfg)), data: cfg },
    { name: b(sha(badManifest)), data: badManifest },
    { name: 'index.json', data: JSON.stringify({ schemaVersion: 2, manifests: [{ digest: sha(badManifest) }] }) },
  ];
  await assert.rejects(readArchive(Readable.from(await makeTar(bad)), store()), invalid(/unsupported layer media type "application\/vnd\.oci\.image\.layer\.v1\.tar\+bzip2"/));
});

test('the archive writeArchive makes reads back as a pure OCI layout too', async () => {
  const cs = store();
  const { entries } = classicArchive();
  const first = await readArchive(Readable.from(await makeTar(entries)), cs);
  const out = new PassThrough();
  const chunks: Buffer[] = [];
  out.on('data', (c: Buffer) => chunks.push(c));
  await writeArchive(out, first.images.map((i) => ({ configDigest: i.configDigest, repoTags: i.repoTags, layerBlobs: i.layerBlobs })), cs);
  // Drop manifest.json and repositories: what is left is an OCI image layout.
  const ex = tar.extract();
  Readable.from([Buffer.concat(chunks)]).pipe(ex);
  const kept: E[] = [];
  for await (const e of ex) {
    const bufs: Buffer[] = [];
    for await (const c of e as unknown as AsyncIterable<Buffer>) bufs.push(c);
    if (e.header.type === 'file' && e.header.name !== 'manifest.json' && e.header.name !== 'repositories') kept.push({ name: e.header.name, data: Buffer.concat(bufs) });
  }
  const oci = await readArchive(Readable.from(await makeTar(kept)), store());
  assert.equal(oci.layout, 'oci');
  assert.deepEqual(oci.images.map((i) => [i.configDigest, i.repoTags, i.layerBlobs]), first.images.map((i) => [i.configDigest, i.repoTags, i.layerBlobs]));
});

test('unpack: large entries stream to the content store and to run at once; run failing or a corrupt blob never hangs the read', async () => {
  const b = (d: Digest) => `blobs/sha256/${hex(d)}`;
  const big2 = await makeTar([{ name: 'big2.bin', data: randomBytes(5 << 20) }]);
  const cfg = configFor([bigLayer, layerA, big2]);
  const entries: E[] = [
    { name: b(sha(bigLayer)), data: bigLayer },
    { name: b(sha(layerA)), data: layerA },
    { name: b(sha(big2)), data: big2 },
    { name: b(sha(cfg)), data: cfg },
    { name: 'manifest.json', data: JSON.stringify([{ Config: b(sha(cfg)), RepoTags: ['app:v1'], Layers: [b(sha(bigLayer)), b(sha(layerA)), b(sha(big2))] }]) },
  ];
  const archive = await makeTar(entries);
  const collectAll = async (s: Readable, digest: Promise<Digest>) => {
    const chunks: Buffer[] = [];
    for await (const c of s) {
      chunks.push(c as Buffer);
      await new Promise((r) => setImmediate(r)); // a slow consumer: backpressure on both sides
    }
    return { bytes: Buffer.concat(chunks), digest: await digest };
  };

  // Every large entry is handed over whole, with its verified digest; small ones are not.
  let cs = store();
  const asked: (Digest | undefined)[] = [];
  const made = new Map<string, Promise<{ bytes: Buffer; digest: Digest }>>();
  const seen: { name: string; named?: Digest; size: number }[] = [];
  await readArchive(Readable.from([archive]), cs, {
    unpack: { want: (d) => (asked.push(d), true), run: (s, d, e) => { seen.push(e); const p = collectAll(s, d); made.set(e.name, p); return p; } },
  });
  assert.deepEqual(asked, [sha(bigLayer), sha(big2)]);
  assert.deepEqual(seen, [{ name: b(sha(bigLayer)), named: sha(bigLayer), size: bigLayer.length }, { name: b(sha(big2)), named: sha(big2), size: big2.length }]);
  for (const layer of [bigLayer, big2]) {
    const got = await made.get(b(sha(layer)));
    assert.ok(got);
    assert.equal(got.digest, sha(layer));
    assert.ok(got.bytes.equals(layer));
    assert.ok((await cs.readBuffer(sha(layer))).equals(layer));
  }

  // `want` false: nothing is run. A run that fails without reading a byte only loses its result.
  cs = store();
  let ran = 0;
  await readArchive(Readable.from([archive]), cs, {
    unpack: { want: (d) => d !== sha(bigLayer), run: async () => { ran++; throw new Error('not a layer'); } },
  });
  assert.equal(ran, 1);
  assert.ok((await cs.readBuffer(sha(big2))).equals(big2));
  assert.deepEqual(tmpFiles(cs), []);

  // A blob that does not match its name fails the read; every run settles and learns the digest failed.
  const corrupt = Buffer.from(archive);
  const at = corrupt.indexOf(big2.subarray(200_000, 200_064));
  assert.ok(at > 0);
  corrupt[at] ^= 0xff;
  cs = store();
  const runs: Promise<unknown>[] = [];
  await assert.rejects(
    readArchive(Readable.from([corrupt]), cs, { unpack: { want: () => true, run: (s, d) => { const p = collectAll(s, d); runs.push(p); return p; } } }),
    invalid(/does not match its digest name/),
  );
  const settled = await Promise.allSettled(runs);
  assert.equal(settled.length, 2);
  assert.equal(settled[0]!.status, 'fulfilled');
  assert.equal(settled[1]!.status, 'rejected');
  assert.deepEqual(tmpFiles(cs), []);

  // A truncated archive: the run of the cut entry sees its stream fail or end short, and settles.
  cs = store();
  runs.length = 0;
  await assert.rejects(
    readArchive(Readable.from([archive.subarray(0, archive.indexOf(big2.subarray(300_000, 300_064)))]), cs, { unpack: { want: () => true, run: (s, d) => { const p = collectAll(s, d); runs.push(p); return p; } } }),
    invalid(/truncated/),
  );
  assert.equal((await Promise.allSettled(runs))[1]!.status, 'rejected');
  assert.deepEqual(tmpFiles(cs), []);
});
