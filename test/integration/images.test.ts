// Images end to end: content-addressed store on disk, save/load in every layout, rmi/prune/history/df,
// driven by the real docker CLI, berth and skopeo against a real berthd.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { createHash, randomBytes } from 'node:crypto';
import { existsSync, mkdirSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import http from 'node:http';
import { gzipSync } from 'node:zlib';
import * as tar from 'tar-stream';
import { httpRequest, useDaemon, run } from './harness';

const d = useDaemon();

interface E { name: string; data?: Buffer | string; type?: 'file' | 'symlink' | 'directory'; linkname?: string }

async function makeTar(entries: E[]): Promise<Buffer> {
  const pack = tar.pack();
  const chunks: Buffer[] = [];
  const done = (async () => {
    for await (const c of pack as unknown as AsyncIterable<Buffer>) chunks.push(c);
  })();
  for (const e of entries) {
    await new Promise<void>((resolve, reject) => {
      const cb = (err?: Error | null) => (err ? reject(err) : resolve());
      if (e.type && e.type !== 'file') pack.entry({ name: e.name, type: e.type, linkname: e.linkname ?? '', mode: 0o755 }, cb);
      else pack.entry({ name: e.name, mode: 0o644 }, Buffer.from(e.data ?? ''), cb);
    });
  }
  pack.finalize();
  await done;
  return Buffer.concat(chunks);
}

async function untar(buf: Buffer): Promise<Map<string, Buffer>> {
  const out = new Map<string, Buffer>();
  const ex = tar.extract();
  ex.end(buf);
  for await (const e of ex) {
    const bufs: Buffer[] = [];
    for await (const c of e as unknown as AsyncIterable<Buffer>) bufs.push(c);
    out.set(e.header.name, Buffer.concat(bufs));
  }
  return out;
}

const hexOf = (b: Buffer | string) => createHash('sha256').update(b).digest('hex');
const sha = (b: Buffer | string) => `sha256:${hexOf(b)}`;
const blobsOnDisk = () => readdirSync(join(d.dataRoot, 'blobs', 'sha256')).sort();
const layersOnDisk = () => readdirSync(join(d.dataRoot, 'layers')).filter((n) => /^[0-9a-f]{64}$/.test(n)).sort();
const tmpOnDisk = () => [...readdirSync(join(d.dataRoot, 'blobs', 'tmp')), ...readdirSync(join(d.dataRoot, 'layers', 'tmp'))];
const chainOf = (diffIDs: string[]) => {
  const out: string[] = [];
  let parent = '';
  for (const id of diffIDs) {
    parent = parent ? sha(`${parent} ${id}`) : id;
    out.push(parent.slice(7));
  }
  return out;
};

/** An image config for these layer tars, with a history that has one empty_layer entry. */
function configFor(layers: Buffer[], labels: Record<string, string> = {}): Buffer {
  const history = layers.flatMap((_, i) => [
    { created: '2024-01-02T03:04:05Z', created_by: `/bin/sh -c #(nop) ADD file:${i} in / ` },
    ...(i === 0 ? [{ created: '2024-01-02T03:04:06Z', created_by: '/bin/sh -c #(nop)  CMD ["sh"]', empty_layer: true }] : []),
  ]);
  return Buffer.from(JSON.stringify({
    architecture: 'amd64', os: 'linux', created: '2024-01-02T03:04:07Z',
    config: { Cmd: ['sh'], Env: ['PATH=/bin'], Labels: labels },
    rootfs: { type: 'layers', diff_ids: layers.map(sha) }, history,
  }));
}

/** A tar exactly as dockerd 24 and older's `docker save` lays it out. */
async function classicArchive(images: { tags: string[]; layers: Buffer[]; config: Buffer }[]): Promise<Buffer> {
  const entries: E[] = [];
  const manifest: unknown[] = [];
  const repositories: Record<string, Record<string, string>> = {};
  const seen = new Set<string>();
  for (const img of images) {
    const v1ids: string[] = [];
    let parent = '';
    for (const l of img.layers) {
      const v1 = hexOf(parent + hexOf(l));
      parent = v1;
      v1ids.push(v1);
      if (seen.has(v1)) continue;
      seen.add(v1);
      entries.push({ name: `${v1}/`, type: 'directory' });
      entries.push({ name: `${v1}/VERSION`, data: '1.0' });
      entries.push({ name: `${v1}/json`, data: JSON.stringify({ id: v1 }) });
      entries.push({ name: `${v1}/layer.tar`, data: l });
    }
    entries.push({ name: `${hexOf(img.config)}.json`, data: img.config });
    manifest.push({ Config: `${hexOf(img.config)}.json`, RepoTags: img.tags, Layers: v1ids.map((v) => `${v}/layer.tar`) });
    for (const t of img.tags) {
      const i = t.lastIndexOf(':');
      (repositories[t.slice(0, i)] ??= {})[t.slice(i + 1)] = v1ids.at(-1)!;
    }
  }
  entries.push({ name: 'manifest.json', data: JSON.stringify(manifest) });
  entries.push({ name: 'repositories', data: JSON.stringify(repositories) });
  return makeTar(entries);
}

/** A tar as dockerd 25+'s `docker save` writes it: an OCI layout plus manifest.json and repositories. */
async function docker25Archive(tag: string, layers: Buffer[], config: Buffer): Promise<Buffer> {
  const b = (x: Buffer) => `blobs/sha256/${hexOf(x)}`;
  const manifest = Buffer.from(JSON.stringify({
    schemaVersion: 2, mediaType: 'application/vnd.oci.image.manifest.v1+json',
    config: { mediaType: 'application/vnd.oci.image.config.v1+json', digest: sha(config), size: config.length },
    layers: layers.map((l) => ({ mediaType: 'application/vnd.oci.image.layer.v1.tar', digest: sha(l), size: l.length })),
  }));
  const [repo, t] = [tag.slice(0, tag.lastIndexOf(':')), tag.slice(tag.lastIndexOf(':') + 1)];
  return makeTar([
    { name: 'blobs/', type: 'directory' },
    { name: 'blobs/sha256/', type: 'directory' },
    ...layers.map((l) => ({ name: b(l), data: l })),
    { name: b(config), data: config },
    { name: b(manifest), data: manifest },
    { name: 'index.json', data: JSON.stringify({ schemaVersion: 2, mediaType: 'application/vnd.oci.image.index.v1+json', manifests: [{ mediaType: 'application/vnd.oci.image.manifest.v1+json', digest: sha(manifest), size: manifest.length, annotations: { 'io.containerd.image.name': `docker.io/library/${tag}`, 'org.opencontainers.image.ref.name': t } }] }) },
    { name: 'manifest.json', data: JSON.stringify([{ Config: b(config), RepoTags: [tag], Layers: layers.map(b) }]) },
    { name: 'oci-layout', data: '{"imageLayoutVersion":"1.0.0"}' },
    { name: 'repositories', data: JSON.stringify({ [repo]: { [t]: hexOf(layers.at(-1)!) } }) },
  ]);
}

const fileLayer = (files: Record<string, string | Buffer>) => makeTar(Object.entries(files).map(([name, data]) => ({ name, data })));

function write(name: string, buf: Buffer): string {
  const p = join(d.dir, name);
  writeFileSync(p, buf);
  return p;
}

test('a docker 24 (classic) archive with shared layers loads once per layer; rmi collects only what nothing uses', async () => {
  const base = await fileLayer({ 'base.txt': 'base\n' });
  const app1 = await fileLayer({ 'app1.txt': 'one\n' });
  const app2 = await fileLayer({ 'app2.txt': 'two\n' });
  const bb = readFileSync(d.busyboxTar()); // busybox:latest's own layer, so that containers can run
  const c1 = configFor([bb, base, app1]);
  const c2 = configFor([bb, base, app2]);
  const blobsBefore = blobsOnDisk();
  const layersBefore = layersOnDisk();
  const archive = write('classic.tar', await classicArchive([{ tags: ['shared/one:1'], layers: [bb, base, app1], config: c1 }, { tags: ['shared/two:1', 'shared/two:latest'], layers: [bb, base, app2], config: c2 }]));
  const out = await d.dockerOk(['load', '-i', archive]);
  assert.equal(out, 'Loaded image: shared/one:1\nLoaded image: shared/two:1\nLoaded image: shared/two:latest');

  const [bl, l1, l2] = [chainOf([sha(bb), sha(base)])[1]!, chainOf([sha(bb), sha(base), sha(app1)])[2]!, chainOf([sha(bb), sha(base), sha(app2)])[2]!];
  assert.deepEqual(layersOnDisk(), [...layersBefore, bl, l1, l2].sort(), 'three new layers: busybox\'s is reused, the shared base is unpacked once');
  assert.deepEqual(blobsOnDisk(), [...blobsBefore, hexOf(base), hexOf(app1), hexOf(app2), hexOf(c1), hexOf(c2)].sort(), 'layer tars and configs, each once');
  assert.deepEqual(tmpOnDisk(), []);

  // The files are really there, seen from a container.
  const r = await d.docker(['run', '--rm', 'shared/two:1', 'cat', '/base.txt', '/app2.txt']);
  assert.equal(r.code, 0, r.stderr);
  assert.equal(r.stdout, 'base\ntwo\n');

  assert.equal(await d.dockerOk(['rmi', 'shared/one:1']), `Untagged: shared/one:1\nDeleted: ${sha(c1)}\nDeleted: sha256:${l1}`);
  assert.ok(layersOnDisk().includes(bl), 'the shared base layer stays while shared/two uses it');
  assert.ok(!blobsOnDisk().includes(hexOf(app1)) && !blobsOnDisk().includes(hexOf(c1)));
  assert.equal(await d.dockerOk(['rmi', 'shared/two:1']), 'Untagged: shared/two:1');
  assert.equal(await d.dockerOk(['rmi', 'shared/two']), `Untagged: shared/two:latest\nDeleted: ${sha(c2)}\nDeleted: sha256:${l2}\nDeleted: sha256:${bl}`);
  assert.deepEqual(layersOnDisk(), layersBefore);
  assert.deepEqual(blobsOnDisk(), blobsBefore);
});

test('save then load round-trips a layered image in docker 25+ layout; dockerd 25 archives and OCI layouts load', async () => {
  const l1 = await fileLayer({ 'etc/hello': 'hello\n', 'bin/x': randomBytes(300_000) });
  const l2 = await fileLayer({ 'etc/second': 'second\n' });
  const cfg = configFor([l1, l2], { 'org.example.kind': 'fixture' });
  const loaded = await d.dockerOk(['load', '-i', write('d25.tar', await docker25Archive('rt/app:v1', [l1, l2], cfg))]);
  assert.equal(loaded, 'Loaded image: rt/app:v1');
  await d.dockerOk(['tag', 'rt/app:v1', 'rt/other:v2']);

  const saved = join(d.dir, 'saved.tar');
  await d.dockerOk(['save', '-o', saved, 'rt/app:v1', 'rt/other:v2', 'busybox']);
  const files = await untar(readFileSync(saved));
  for (const n of ['index.json', 'manifest.json', 'oci-layout', 'repositories']) assert.ok(files.has(n), n);
  assert.ok(files.has(`blobs/sha256/${hexOf(l1)}`) && files.has(`blobs/sha256/${hexOf(l2)}`));
  const manifest = JSON.parse(files.get('manifest.json')!.toString()) as { Config: string; RepoTags: string[]; Layers: string[] }[];
  assert.equal(manifest.length, 2, 'two images: rt/app and rt/other are one image');
  const mine = manifest.find((m) => m.Config === `blobs/sha256/${hexOf(cfg)}`)!;
  assert.deepEqual(mine.RepoTags.sort(), ['rt/app:v1', 'rt/other:v2']);
  assert.deepEqual(mine.Layers, [`blobs/sha256/${hexOf(l1)}`, `blobs/sha256/${hexOf(l2)}`]);
  const index = JSON.parse(files.get('index.json')!.toString()) as { manifests: { annotations?: Record<string, string> }[] };
  assert.ok(index.manifests.some((m) => m.annotations?.['io.containerd.image.name'] === 'docker.io/rt/app:v1'));

  // The same bytes through the API, with several names in one request.
  const api = await d.api('GET', '/images/get?names=rt/app:v1&names=busybox');
  assert.equal(api.status, 200);
  assert.equal(api.headers['content-type'], 'application/x-tar');

  assert.match(await d.dockerOk(['rmi', 'rt/app:v1', 'rt/other:v2']), /Deleted: sha256:/);
  assert.equal(await d.dockerOk(['load', '-q', '-i', saved]), 'Loaded image: rt/app:v1\nLoaded image: rt/other:v2\nLoaded image: busybox:latest');
  const img = JSON.parse(await d.dockerOk(['image', 'inspect', 'rt/other:v2']))[0];
  assert.equal(img.Id, sha(cfg));
  assert.deepEqual(img.Config.Labels, { 'org.example.kind': 'fixture' });

  // berth save → berth load, and the saved tar read as a pure OCI layout (manifest.json and repositories dropped).
  const b2 = join(d.dir, 'berth.tar');
  const bs = await d.berth(['save', '-o', b2, 'rt/app:v1']);
  assert.equal(bs.code, 0, bs.stderr);
  await d.dockerOk(['rmi', '-f', 'rt/app:v1', 'rt/other:v2']);
  const bl = await d.berth(['load', '-i', b2]);
  assert.equal(bl.code, 0, bl.stderr);
  assert.equal(bl.stdout, 'Loaded image: rt/app:v1\n');
  await d.dockerOk(['rmi', 'rt/app:v1']);
  const oci = [...(await untar(readFileSync(b2)))].filter(([n]) => n !== 'manifest.json' && n !== 'repositories' && !n.endsWith('/'));
  const ociTar = gzipSync(await makeTar(oci.map(([name, data]) => ({ name, data }))));
  assert.equal(await d.dockerOk(['load', '-i', write('oci.tar.gz', ociTar)]), 'Loaded image: rt/app:v1');
  await d.dockerOk(['rmi', 'rt/app:v1']);
});

test('a pure OCI layout with gzip and zstd layers loads; names come from annotations', async () => {
  const l1 = await fileLayer({ 'one.txt': '1\n' });
  const l2 = await fileLayer({ 'two.txt': '2\n' });
  const gz = gzipSync(l1);
  const zs = spawnSync('zstd', ['-q', '-c'], { input: l2 }).stdout as Buffer;
  assert.ok(zs.length > 0, 'the zstd CLI made the fixture');
  const bb = readFileSync(d.busyboxTar());
  const cfg = configFor([bb, l1, l2]);
  const manifest = Buffer.from(JSON.stringify({
    schemaVersion: 2, mediaType: 'application/vnd.oci.image.manifest.v1+json',
    config: { mediaType: 'application/vnd.oci.image.config.v1+json', digest: sha(cfg), size: cfg.length },
    layers: [
      { mediaType: 'application/vnd.docker.image.rootfs.diff.tar', digest: sha(bb), size: bb.length },
      { mediaType: 'application/vnd.oci.image.layer.v1.tar+gzip', digest: sha(gz), size: gz.length },
      { mediaType: 'application/vnd.oci.image.layer.v1.tar+zstd', digest: sha(zs), size: zs.length },
    ],
  }));
  const desc = { mediaType: 'application/vnd.oci.image.manifest.v1+json', digest: sha(manifest), size: manifest.length };
  const before = blobsOnDisk();
  const archive = await makeTar([
    { name: 'oci-layout', data: '{"imageLayoutVersion":"1.0.0"}' },
    { name: `blobs/sha256/${hexOf(bb)}`, data: bb },
    { name: `blobs/sha256/${hexOf(gz)}`, data: gz },
    { name: `blobs/sha256/${hexOf(zs)}`, data: zs },
    { name: `blobs/sha256/${hexOf(cfg)}`, data: cfg },
    { name: `blobs/sha256/${hexOf(manifest)}`, data: manifest },
    { name: 'index.json', data: JSON.stringify({ schemaVersion: 2, manifests: [{ ...desc, annotations: { 'org.opencontainers.image.ref.name': 'ocitest/app:1.0' } }, desc] }) },
  ]);
  assert.equal(await d.dockerOk(['load', '-i', write('pure-oci.tar', archive)]), 'Loaded image: ocitest/app:1.0');
  // Compressed blobs were replaced by the uncompressed tars their diffIDs name.
  assert.deepEqual(blobsOnDisk(), [...before, hexOf(l1), hexOf(l2), hexOf(cfg)].sort());
  const r = await d.docker(['run', '--rm', 'ocitest/app:1.0', 'cat', '/one.txt', '/two.txt']);
  assert.equal(r.code, 0, r.stderr);
  assert.equal(r.stdout, '1\n2\n');
  await d.dockerOk(['rmi', 'ocitest/app:1.0']);
  assert.deepEqual(blobsOnDisk(), before);
});

test('a digest mismatch or truncated archive fails the whole load and leaves nothing behind', async () => {
  const good = await fileLayer({ 'ok.txt': 'fine\n' });
  const big = await fileLayer({ 'big.bin': randomBytes(2 << 20) });
  const other = await fileLayer({ 'evil.txt': 'not what the config says\n' });
  const before = { blobs: blobsOnDisk(), layers: layersOnDisk(), images: await d.dockerOk(['images', '-aq', '--no-trunc']) };
  // Config names `good` and `big`, but the second layer entry holds other bytes.
  const cfg = configFor([good, big]);
  const badLayer = await classicArchive([{ tags: ['bad/one:1'], layers: [good, other], config: cfg }]);
  const r1 = await d.docker(['load', '-i', write('mismatch.tar', badLayer)]);
  assert.notEqual(r1.code, 0);
  assert.match(r1.stderr, /diffID|does not match/);
  // A docker 25 archive whose blob does not hash to its name.
  const named = await docker25Archive('bad/two:1', [good, big], cfg);
  const corrupt = Buffer.from(named);
  const at = corrupt.indexOf(big.subarray(100_000, 100_064));
  assert.ok(at > 0);
  corrupt[at] ^= 0xff;
  const r2 = await d.docker(['load', '-i', write('corrupt.tar', corrupt)]);
  assert.notEqual(r2.code, 0);
  assert.match(r2.stderr, /does not match its digest name/);
  const r3 = await d.docker(['load', '-i', write('truncated.tar', named.subarray(0, named.length - 4096 - 600_000))]);
  assert.notEqual(r3.code, 0);
  assert.match(r3.stderr, /truncated|not present/);
  assert.deepEqual(blobsOnDisk(), before.blobs, 'no orphan blob');
  assert.deepEqual(layersOnDisk(), before.layers, 'no layer dir');
  assert.deepEqual(tmpOnDisk(), [], 'no temp files');
  assert.equal(await d.dockerOk(['images', '-aq', '--no-trunc']), before.images, 'no image record');
});

test('rmi follows docker: untag vs delete, conflicts with containers, force', async () => {
  const layer = await fileLayer({ 'x.txt': 'x\n' });
  const cfg = configFor([layer]);
  await d.dockerOk(['load', '-i', write('rmi.tar', await classicArchive([{ tags: ['rmi/a:1', 'rmi/b:1'], layers: [layer], config: cfg }]))]);
  const short = hexOf(cfg).slice(0, 12);
  let r = await d.docker(['rmi', short]);
  assert.equal(r.code, 1);
  assert.equal(r.stderr.trim(), `Error response from daemon: conflict: unable to delete ${short} (must be forced) - image is referenced in multiple repositories`);

  // Busybox-based so that a container can run; tag it and use it.
  await d.dockerOk(['tag', 'busybox', 'rmi/bb:1']);
  const bb = JSON.parse(await d.dockerOk(['image', 'inspect', 'busybox']))[0].Id as string;
  const id = await d.dockerOk(['run', '-d', 'rmi/bb:1', 'sleep', '300']);
  r = await d.docker(['rmi', '-f', bb]);
  assert.equal(r.code, 1);
  assert.equal(r.stderr.trim(), `Error response from daemon: conflict: unable to delete ${bb.slice(7, 19)} (cannot be forced) - image is being used by running container ${id.slice(0, 12)}`);
  assert.equal(await d.dockerOk(['ps', '--filter', `id=${id}`, '--format', '{{.Image}}']), 'rmi/bb:1');
  assert.equal(await d.dockerOk(['rmi', 'rmi/bb:1']), 'Untagged: rmi/bb:1', 'another tag is left: untag only');
  // The name it was created from names nothing now: ps shows the image's ID, as dockerd does; and
  // the same once the name is back but on another image.
  assert.equal(await d.dockerOk(['ps', '--filter', `id=${id}`, '--format', '{{.Image}}']), bb.slice(7, 19));
  await d.dockerOk(['tag', 'rmi/a:1', 'rmi/bb:1']);
  assert.equal(await d.dockerOk(['ps', '--filter', `id=${id}`, '--format', '{{.Image}}']), bb.slice(7, 19));
  assert.equal(await d.dockerOk(['inspect', '-f', '{{.Config.Image}}', id]), 'rmi/bb:1', 'inspect keeps the name given');
  await d.dockerOk(['rmi', 'rmi/bb:1']);
  // The last name of an image a running container uses: dockerd's words for any container.
  await d.dockerOk(['tag', 'busybox', 'only/bb:1']);
  await d.dockerOk(['rmi', 'busybox']);
  r = await d.docker(['rmi', 'only/bb:1']);
  assert.equal(r.code, 1);
  assert.equal(r.stderr.trim(), `Error response from daemon: conflict: unable to remove repository reference "only/bb:1" (must force) - container ${id.slice(0, 12)} is using its referenced image ${bb.slice(7, 19)}`);
  await d.dockerOk(['tag', 'only/bb:1', 'busybox']);
  await d.dockerOk(['rmi', 'only/bb:1']);
  await d.dockerOk(['rm', '-f', id]);

  await d.dockerOk(['tag', 'busybox', 'solo:1']);
  await d.dockerOk(['rmi', 'busybox']);
  const stopped = await d.dockerOk(['create', 'solo:1', 'true']);
  r = await d.docker(['rmi', 'solo:1']);
  assert.equal(r.code, 1);
  assert.equal(r.stderr.trim(), `Error response from daemon: conflict: unable to remove repository reference "solo:1" (must force) - container ${stopped.slice(0, 12)} is using its referenced image ${bb.slice(7, 19)}`);
  r = await d.docker(['rmi', bb.slice(7, 19)]);
  assert.equal(r.stderr.trim(), `Error response from daemon: conflict: unable to delete ${bb.slice(7, 19)} (must be forced) - image is being used by stopped container ${stopped.slice(0, 12)}`);
  await d.dockerOk(['rm', stopped]);
  await d.dockerOk(['tag', 'solo:1', 'busybox:latest']);
  await d.dockerOk(['rmi', 'solo:1']);

  // Forced past a stopped container, the image is deleted as in dockerd; its layers stay for
  // the container (which still starts and shows the image ID), and go when it is removed.
  const forcedLayer = await fileLayer({ 'forced.txt': 'forced' });
  const forcedCfg = configFor([forcedLayer]);
  await d.dockerOk(['load', '-i', write('forced.tar', await classicArchive([{ tags: ['forced:1'], layers: [forcedLayer], config: forcedCfg }]))]);
  const user = await d.dockerOk(['create', '--entrypoint', '/nonexistent', 'forced:1']);
  assert.equal(await d.dockerOk(['rmi', '-f', 'forced:1']), `Untagged: forced:1\nDeleted: ${sha(forcedCfg)}`);
  assert.equal(await d.dockerOk(['ps', '-a', '--filter', `id=${user}`, '--format', '{{.Image}}']), sha(forcedCfg).slice(7, 19));
  const chain = sha(forcedLayer).slice(7);
  assert.ok(existsSync(join(d.dataRoot, 'layers', chain)), 'the container keeps its layer');
  await d.dockerOk(['rm', user]);
  assert.ok(!existsSync(join(d.dataRoot, 'layers', chain)), 'removing the container collects the layer');

  assert.equal(await d.dockerOk(['rmi', '-f', short]), `Untagged: rmi/a:1\nUntagged: rmi/b:1\nDeleted: ${sha(cfg)}\nDeleted: ${sha(layer)}`);
  r = await d.docker(['rmi', 'Busybox']);
  assert.equal(r.code, 1);
  assert.match(r.stderr, /invalid reference format: repository name \(library\/Busybox\) must be lowercase/);
  const api = await d.api('DELETE', '/images/Busybox');
  assert.equal(api.status, 400);
  assert.equal((await d.api('GET', '/images/json?filters=' + encodeURIComponent('{"nope":["x"]}'))).status, 400);
});

test('history, images filters and --digests, system df and prune', async () => {
  const l1 = await fileLayer({ 'a.txt': 'a'.repeat(5000) });
  const l2 = await fileLayer({ 'b.txt': 'b'.repeat(9000) });
  const cfg = configFor([l1, l2], { tier: 'web' });
  await d.dockerOk(['load', '-i', write('hist.tar', await classicArchive([{ tags: ['hist/app:1'], layers: [l1, l2], config: cfg }]))]);
  const hist = (await d.api('GET', '/images/hist/app:1/history')).json as { Id: string; Size: number; CreatedBy: string; Tags: string[] | null }[];
  assert.deepEqual(hist.map((h) => h.Id), [sha(cfg), '<missing>', '<missing>']);
  // A layer's size is its files' bytes, as dockerd counts it (not its tar's).
  assert.deepEqual(hist.map((h) => h.Size), [9000, 0, 5000]);
  assert.deepEqual(hist[0]!.Tags, ['hist/app:1']);
  const table = await d.dockerOk(['history', 'hist/app:1']);
  assert.match(table.split('\n')[0]!, /^IMAGE\s+CREATED\s+CREATED BY\s+SIZE\s+COMMENT$/);
  assert.match(table.split('\n')[2]!, /^<missing>\s+.*CMD \["sh"\]\s+0B/);
  const bh = await d.berth(['history', '--no-trunc', '--format', '{{.ID}}|{{.Size}}', 'hist/app:1']);
  assert.equal(bh.stdout.split('\n')[0], `${sha(cfg)}|9kB`);

  assert.equal(await d.dockerOk(['images', '--filter', 'label=tier=web', '--format', '{{.Repository}}:{{.Tag}}']), 'hist/app:1');
  assert.equal(await d.dockerOk(['images', '--filter', 'reference=hist/*', '--format', '{{.Repository}}']), 'hist/app');
  assert.equal(await d.dockerOk(['images', '--filter', 'since=busybox', '--format', '{{.Repository}}']), '', 'the fixture is older (2024) than busybox');
  assert.match(await d.dockerOk(['images', '--filter', 'before=busybox', '--format', '{{.Repository}}']), /hist\/app/);
  assert.match((await d.dockerOk(['images', '--digests'])).split('\n')[0]!, /^REPOSITORY\s+TAG\s+DIGEST\s+IMAGE ID\s+CREATED\s+SIZE$/);

  const df = await d.dockerOk(['system', 'df']);
  assert.match(df, /^TYPE\s+TOTAL\s+ACTIVE\s+SIZE\s+RECLAIMABLE\nImages\s+\d+\s+0\s+/);
  assert.match(await d.dockerOk(['system', 'df', '-v']), /Images space usage:[\s\S]*hist\/app[\s\S]*Containers space usage:[\s\S]*Local Volumes space usage:/);
  const bdf = await d.berth(['system', 'df']);
  assert.equal(bdf.code, 0, bdf.stderr);
  assert.match(bdf.stdout, /^TYPE\s+TOTAL/);

  // Dangling: untag the fixture, then prune removes it but keeps tagged busybox.
  await d.dockerOk(['tag', 'hist/app:1', 'keep/app:1']);
  await d.dockerOk(['rmi', 'keep/app:1']);
  const dangling = await d.dockerOk(['load', '-i', write('dangling.tar', await classicArchive([{ tags: [], layers: [l1], config: configFor([l1]) }]))]);
  assert.equal(dangling, `Loaded image ID: ${sha(configFor([l1]))}`);
  assert.equal(await d.dockerOk(['images', '-q', '--filter', 'dangling=true']), hexOf(configFor([l1])).slice(0, 12));
  const pruned = await d.dockerOk(['image', 'prune', '-f']);
  assert.match(pruned, new RegExp(`^Deleted Images:\ndeleted: ${sha(configFor([l1]))}\n\nTotal reclaimed space: `));
  assert.ok(layersOnDisk().includes(hexOf(l1)), 'hist/app still uses the layer');
  const all = (await d.api('POST', '/images/prune?filters=' + encodeURIComponent('{"dangling":["false"],"label":["tier=web"]}'))).json as { ImagesDeleted: { Untagged?: string; Deleted?: string }[]; SpaceReclaimed: number };
  assert.deepEqual(all.ImagesDeleted.slice(0, 2), [{ Untagged: 'hist/app:1' }, { Deleted: sha(cfg) }]);
  assert.ok(all.SpaceReclaimed >= l1.length + l2.length);
  assert.ok(!layersOnDisk().includes(hexOf(l1)));
  assert.match(await d.dockerOk(['images', '--format', '{{.Repository}}']), /busybox/, 'busybox has a tag and no label: kept');
});

test('skopeo reads what berth saves (docker-archive and OCI layout)', async () => {
  const which = spawnSync('sh', ['-c', 'command -v skopeo']);
  assert.equal(which.status, 0, 'skopeo is needed for this test: apt-get install skopeo (.ci/run installs it)');
  const saved = join(d.dir, 'skopeo.tar');
  await d.dockerOk(['save', '-o', saved, 'busybox']);
  const inspect = await run('skopeo', ['inspect', `docker-archive:${saved}`]);
  assert.equal(inspect.code, 0, inspect.stderr);
  assert.equal(JSON.parse(inspect.stdout).Architecture, 'amd64');
  const ociDir = join(d.dir, 'skopeo-oci');
  const copy = await run('skopeo', ['copy', `docker-archive:${saved}`, `oci:${ociDir}:bb`], { timeoutMs: 60_000 });
  assert.equal(copy.code, 0, copy.stderr);
  const oi = await run('skopeo', ['inspect', `oci:${ociDir}:bb`]);
  assert.equal(oi.code, 0, oi.stderr);
  // Our archive is itself an OCI layout.
  const unpacked = join(d.dir, 'saved-layout');
  mkdirSync(unpacked);
  assert.equal(spawnSync('tar', ['-C', unpacked, '-xf', saved]).status, 0);
  const own = await run('skopeo', ['inspect', `oci:${unpacked}`]);
  assert.equal(own.code, 0, own.stderr);
  assert.ok(existsSync(join(unpacked, 'oci-layout')));
});

test('history names the local parent images of a committed image, as dockerd does; save and load keep the link', async () => {
  await d.makeBusyboxImage();
  const bbId = await d.dockerOk(['image', 'inspect', '-f', '{{.Id}}', 'busybox']);
  await d.dockerOk(['run', '--name', 'par-1', 'busybox', 'sh', '-c', 'echo 1 > /one']);
  const id1 = await d.dockerOk(['commit', 'par-1', 'par/one:1']);
  await d.dockerOk(['run', '--name', 'par-2', 'par/one:1', 'sh', '-c', 'echo 2 > /two']);
  const id2 = await d.dockerOk(['commit', 'par-2', 'par/two:1']);
  const ids = async () => (await d.dockerOk(['history', '-q', '--no-trunc', 'par/two:1'])).split('\n');
  // busybox was imported: it has no parent, and it has the only history row below the two commits.
  assert.deepEqual(await ids(), [id2, id1, bbId]);
  const rows = (await d.api('GET', '/images/par/two:1/history')).json as { Id: string; Tags: string[] | null }[];
  assert.deepEqual(rows.map((r) => [r.Id, r.Tags]), [[id2, ['par/two:1']], [id1, ['par/one:1']], [bbId, ['busybox:latest']]]);
  assert.equal(await d.dockerOk(['image', 'inspect', '-f', '{{.Parent}}', 'par/two:1']), id1);
  // GraphDriver as dockerd's overlay2 shows an image: the top layer is UpperDir, the ones under it LowerDir.
  const gd = async (ref: string) => JSON.parse(await d.dockerOk(['image', 'inspect', '-f', '{{json .GraphDriver.Data}}', ref]));
  const one = await gd('busybox');
  assert.deepEqual(Object.keys(one), ['MergedDir', 'UpperDir', 'WorkDir']);
  assert.ok(existsSync(join(one.UpperDir, 'bin', 'busybox')), one.UpperDir);
  const three = await gd('par/two:1');
  assert.deepEqual(Object.keys(three), ['LowerDir', 'MergedDir', 'UpperDir', 'WorkDir']);
  assert.ok(existsSync(join(three.UpperDir, 'two')), three.UpperDir);
  assert.deepEqual(three.LowerDir.split(':').map((p: string) => existsSync(join(p, 'one')) || existsSync(join(p, 'bin'))), [true, true]);
  const listed = (await d.api('GET', '/images/json')).json as { Id: string; ParentId: string }[];
  assert.equal(listed.find((i) => i.Id === id2)?.ParentId, id1);

  // Saved together, the link travels in manifest.json's Parent and comes back on load.
  const saved = join(d.dir, 'parents.tar');
  await d.dockerOk(['save', '-o', saved, 'par/one:1', 'par/two:1']);
  const manifest = JSON.parse((await untar(readFileSync(saved))).get('manifest.json')!.toString()) as { Config: string; Parent?: string }[];
  assert.deepEqual(manifest.map((m) => m.Parent), [undefined, id1]);
  await d.dockerOk(['rm', 'par-1', 'par-2']);

  // A parent stays while a child names it, as in dockerd: by ID it is refused, by name only untagged,
  // then hidden from the list (not from -a), no dangling image to prune; it goes with its last child.
  const byId = await d.docker(['rmi', id1]);
  assert.equal(byId.code, 1);
  assert.equal(byId.stderr.trim(), `Error response from daemon: conflict: unable to delete ${id1.slice(7, 19)} (cannot be forced) - image has dependent child images`);
  assert.equal(await d.dockerOk(['rmi', 'par/one:1']), 'Untagged: par/one:1');
  assert.ok(!(await d.dockerOk(['images', '-q', '--no-trunc'])).split('\n').includes(id1));
  assert.ok((await d.dockerOk(['images', '-aq', '--no-trunc'])).split('\n').includes(id1));
  await d.dockerOk(['image', 'prune', '-f']);
  assert.deepEqual(await ids(), [id2, id1, bbId]);
  const gone = (await d.dockerOk(['rmi', 'par/two:1'])).split('\n');
  assert.deepEqual(gone.filter((l) => /^Deleted: sha256:/.test(l) && [id1, id2].includes(l.slice(9))), [`Deleted: ${id2}`, `Deleted: ${id1}`]);
  assert.ok((await d.dockerOk(['images', '-aq', '--no-trunc'])).split('\n').includes(bbId), 'the tagged grandparent stays');

  assert.equal(await d.dockerOk(['load', '-q', '-i', saved]), 'Loaded image: par/one:1\nLoaded image: par/two:1');
  assert.deepEqual(await ids(), [id2, id1, '<missing>']);

  // Loaded alone, the parent is not there to link to: dockerd drops the link too.
  await d.dockerOk(['save', '-o', saved, 'par/two:1']);
  await d.dockerOk(['rmi', 'par/two:1', 'par/one:1']);
  await d.dockerOk(['load', '-q', '-i', saved]);
  assert.deepEqual(await ids(), [id2, '<missing>', '<missing>']);
  assert.equal(await d.dockerOk(['image', 'inspect', '-f', '{{.Parent}}', 'par/two:1']), '');
  await d.dockerOk(['rmi', 'par/two:1']);
});

test('a load body that is not an archive answers 200 with an error line, docker load fails with it, nothing is kept', async () => {
  const before = { blobs: blobsOnDisk(), layers: layersOnDisk(), images: await d.dockerOk(['images', '-aq', '--no-trunc']) };
  const notTar = write('not-a-tar.txt', Buffer.from('this is not a tar archive\n'.repeat(100)));
  const r = await d.docker(['load', '-i', notTar]);
  assert.equal(r.code, 1);
  assert.match(r.stderr, /invalid docker archive: .*not a tar file/);
  const api = await d.api('POST', '/images/load', readFileSync(notTar), { 'Content-Type': 'application/x-tar' });
  assert.equal(api.status, 200);
  assert.equal(api.headers['content-type'], 'application/json');
  const lines = api.body.trim().split('\n').map((l) => JSON.parse(l) as { error?: string; errorDetail?: { message: string } });
  assert.equal(lines.length, 1);
  assert.match(lines[0]!.error!, /not a tar file/);
  assert.deepEqual(lines[0]!.errorDetail, { message: lines[0]!.error });
  assert.deepEqual(blobsOnDisk(), before.blobs);
  assert.deepEqual(layersOnDisk(), before.layers);
  assert.deepEqual(tmpOnDisk(), []);
  assert.equal(await d.dockerOk(['images', '-aq', '--no-trunc']), before.images);
});

test('load reports each layer it unpacks as JSON progress unless quiet', async () => {
  const l1 = await fileLayer({ 'p1.bin': randomBytes(1 << 20) });
  const l2 = await fileLayer({ 'p2.txt': 'two\n' });
  const archive = await docker25Archive('prog/app:1', [l1, l2], configFor([l1, l2]));
  const res = await d.api('POST', '/images/load', archive, { 'Content-Type': 'application/x-tar' });
  assert.equal(res.status, 200);
  const lines = res.body.trim().split('\n').map((l) => JSON.parse(l) as Record<string, any>);
  assert.deepEqual(lines.at(-1), { stream: 'Loaded image: prog/app:1\n' });
  for (const l of [l1, l2]) {
    const mine = lines.filter((m) => m.id === hexOf(l).slice(0, 12));
    assert.ok(mine.length > 0, `progress for layer ${hexOf(l).slice(0, 12)}`);
    assert.ok(mine.every((m) => m.status === 'Loading layer' && m.progressDetail.total === l.length && typeof m.progress === 'string'));
    assert.equal(mine.at(-1)!.progressDetail.current, l.length);
  }
  await d.dockerOk(['rmi', 'prog/app:1']);
  const quiet = await d.api('POST', '/images/load?quiet=1', archive, { 'Content-Type': 'application/x-tar' });
  assert.deepEqual(quiet.body.trim().split('\n').map((l) => JSON.parse(l)), [{ stream: 'Loaded image: prog/app:1\n' }]);
  await d.dockerOk(['rmi', 'prog/app:1']);
});

test('commit with pause of a container that exited before berthd noticed commits it unpaused', async () => {
  await d.makeBusyboxImage();
  await d.dockerOk(['run', '-d', '--name', 'gone-mid-commit', 'busybox', 'sh', '-c', 'echo data > /made; exec sleep 1000']);
  const pid = Number(await d.dockerOk(['inspect', '-f', '{{.State.Pid}}', 'gone-mid-commit']));
  const conmon = Number(readFileSync(`/proc/${pid}/stat`, 'utf8').replace(/^.*\) /, '').split(' ')[1]);
  // conmon stopped: the container's process dies, but no exit is reported, so berthd still has it running.
  process.kill(conmon, 'SIGSTOP');
  try {
    process.kill(pid, 'SIGKILL');
    assert.equal(await d.dockerOk(['inspect', '-f', '{{.State.Status}}', 'gone-mid-commit']), 'running');
    const id = await d.dockerOk(['commit', 'gone-mid-commit', 'gone:1']);
    assert.match(id, /^sha256:[0-9a-f]{64}$/);
  } finally {
    process.kill(conmon, 'SIGCONT');
  }
  assert.equal(await d.dockerOk(['run', '--rm', 'gone:1', 'cat', '/made']), 'data');
  await d.dockerOk(['wait', 'gone-mid-commit']);
  await d.dockerOk(['rm', 'gone-mid-commit']);
  await d.dockerOk(['rmi', 'gone:1']);
});

test('docker load and docker rmi of the same image at once: every outcome is clean, what is left is whole, no orphan blob', async () => {
  const l1 = await fileLayer({ 'big.bin': randomBytes(2 << 20) });
  const l2 = await fileLayer({ 'small.txt': 'small\n' });
  const cfg = configFor([l1, l2]);
  const archive = write('race.tar', await docker25Archive('race/app:1', [l1, l2], cfg));
  const before = { blobs: blobsOnDisk(), layers: layersOnDisk() };
  const ours = { blobs: [hexOf(l1), hexOf(l2), hexOf(cfg)], layers: chainOf([sha(l1), sha(l2)]) };
  for (let round = 0; round < 12; round++) {
    // Even rounds start with the image there: the loads then find its blobs and layers stored.
    if (round % 2 === 0) await d.dockerOk(['load', '-q', '-i', archive]);
    const [a, b, rm] = await Promise.all([
      d.docker(['load', '-q', '-i', archive]),
      d.docker(['load', '-q', '-i', archive]),
      d.docker(['rmi', '-f', 'race/app:1']),
    ]);
    for (const r of [a, b]) if (r.code !== 0) assert.match(r.stderr, /was removed while it was being stored.*try again/, `round ${round}: ${r.stderr}`);
    if (rm.code !== 0) assert.match(rm.stderr, /No such image: race\/app:1/, `round ${round}: ${rm.stderr}`);
    const ids = await d.dockerOk(['images', '-q', '--no-trunc', 'race/app']);
    if (ids === '') {
      assert.deepEqual({ blobs: blobsOnDisk(), layers: layersOnDisk() }, before, `round ${round}: no image, nothing of it left`);
      continue;
    }
    assert.equal(ids, sha(cfg));
    assert.deepEqual(JSON.parse(await d.dockerOk(['image', 'inspect', 'race/app:1']))[0].RootFS.Layers, [sha(l1), sha(l2)]);
    assert.deepEqual(blobsOnDisk(), [...before.blobs, ...ours.blobs].sort(), `round ${round}: the image's blobs, each once`);
    assert.deepEqual(layersOnDisk(), [...before.layers, ...ours.layers].sort(), `round ${round}: the image's layers`);
    await d.dockerOk(['rmi', 'race/app:1']);
  }
  assert.deepEqual({ blobs: blobsOnDisk(), layers: layersOnDisk() }, before);
  assert.deepEqual(tmpOnDisk(), []);
});

test('a client that stops reading a save mid-archive: berthd notes nothing uncaught and keeps serving', async () => {
  // A layer large enough that the archive is still being written when the reader goes.
  const big = await makeTar([{ name: 'big.bin', data: randomBytes(8 << 20) }]);
  await d.dockerOk(['import', '-', 'bigsave:1'], { input: big });
  for (let i = 0; i < 3; i++) {
    const got = await new Promise<number>((resolve, reject) => {
      const req = http.request({ socketPath: d.sock, path: '/images/bigsave:1/get' }, (res) => {
        let n = 0;
        res.on('data', (c: Buffer) => {
          n += c.length;
          if (n > 4096) {
            req.destroy();
            resolve(n);
          }
        });
        res.on('error', () => undefined);
      });
      req.on('error', (e) => (e.message.includes('socket hang up') ? undefined : reject(e)));
      req.end();
    });
    assert.ok(got > 4096);
  }
  // The daemon still answers, and its log has no uncaught error from the broken pipes.
  assert.match(await d.dockerOk(['images', '-q', 'bigsave:1']), /^[0-9a-f]{12}$/);
  const saved = await run('sh', ['-c', `docker -H ${d.host} save bigsave:1 | tar t | wc -l`]);
  assert.ok(Number(saved.stdout.trim()) > 3, saved.stdout + saved.stderr);
  assert.doesNotMatch(d.log(), /uncaught exception/);
  await d.dockerOk(['rmi', 'bigsave:1']);
});

test('import from a URL (docker and berth): downloaded by berthd with Importing progress, named and commented as dockerd does; a 404, a refused connection or a body that is not a tar leave nothing', async (t) => {
  const rootfs = readFileSync(d.busyboxTar());
  const served: string[] = [];
  const server = http.createServer((req, res) => {
    served.push(req.url ?? '');
    if (req.url === '/rootfs.tar') res.end(rootfs);
    else if (req.url === '/rootfs.tar.gz') res.end(gzipSync(rootfs));
    else if (req.url === '/page.html') res.end('<html>not a tar</html>');
    else {
      res.statusCode = 404;
      res.end('no such file here\n');
    }
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  t.after(() => server.close());
  const base = `http://127.0.0.1:${(server.address() as { port: number }).port}`;
  const imagesBefore = await d.dockerOk(['images', '-aq']);

  const out = await d.dockerOk(['import', '-c', 'CMD ["echo", "from-url"]', `${base}/rootfs.tar`, 'fromurl:1']);
  assert.match(out, new RegExp(`^Downloading from ${base}/rootfs\\.tar\\nsha256:[0-9a-f]{64}$`));
  assert.equal(await d.dockerOk(['run', '--rm', 'fromurl:1']), 'from-url');
  assert.equal(await d.dockerOk(['history', '--format', '{{.Comment}}', 'fromurl:1']), `Imported from ${base}/rootfs.tar`);
  const own = await d.berth(['import', '-m', 'mine', `${base}/rootfs.tar.gz`, 'fromurl:2']);
  assert.equal(own.code, 0, own.stderr);
  assert.equal(await d.dockerOk(['history', '--format', '{{.Comment}}', 'fromurl:2']), 'mine');
  assert.equal(await d.dockerOk(['run', '--rm', 'fromurl:2', 'cat', '/etc/group']), 'root:x:0:\nnogroup:x:65534:');

  // The API: no scheme means http://; the bytes come as Importing progress with their total.
  const api = await httpRequest(d.sock, 'POST', `/v1.45/images/create?fromSrc=${encodeURIComponent(base.slice('http://'.length) + '/rootfs.tar')}&repo=fromurl&tag=3`);
  assert.equal(api.status, 200);
  const lines = api.body.trim().split('\n').map((l) => JSON.parse(l) as { status: string; progressDetail?: { current: number; total: number }; id?: string });
  assert.equal(lines[0]!.status, `Downloading from ${base}/rootfs.tar`);
  const last = lines.filter((l) => l.status === 'Importing').pop()!;
  assert.deepEqual(last.progressDetail, { current: rootfs.length, total: rootfs.length });
  assert.equal(last.id, undefined);
  assert.match(lines[lines.length - 1]!.status, /^sha256:[0-9a-f]{64}$/);
  assert.equal(await d.dockerOk(['image', 'inspect', '--format', '{{.Id}}', 'fromurl:3']), lines[lines.length - 1]!.status);

  const missing = await d.docker(['import', `${base}/nope.tar`, 'fromurl:bad']);
  assert.equal(missing.code, 1);
  assert.equal(missing.stderr.trim(), `Error response from daemon: failed to GET ${base}/nope.tar with status 404 Not Found: no such file here`);
  const refused = await d.docker(['import', 'http://127.0.0.1:1/x.tar', 'fromurl:bad']);
  assert.equal(refused.code, 1);
  assert.equal(refused.stderr.trim(), 'Error response from daemon: Get "http://127.0.0.1:1/x.tar": dial tcp 127.0.0.1:1: connect: connection refused');
  const html = await d.docker(['import', `${base}/page.html`, 'fromurl:bad']);
  assert.equal(html.code, 1);
  // The reply had started (Downloading from …): the error comes as its last line.
  assert.match(html.stdout, /^Downloading from /);
  assert.equal(html.stderr, 'layer tar is truncated or corrupt: Unexpected end of data\n');
  const badName = await httpRequest(d.sock, 'POST', `/v1.45/images/create?fromSrc=${encodeURIComponent(`${base}/rootfs.tar`)}&repo=Bad`);
  assert.equal(badName.status, 400);
  assert.equal(served.filter((u) => u === '/rootfs.tar').length, 2, 'a bad name is refused before the download');
  const scheme = await httpRequest(d.sock, 'POST', `/v1.45/images/create?fromSrc=${encodeURIComponent('ftp://127.0.0.1/x')}`);
  assert.equal(scheme.status, 400);
  assert.equal(JSON.parse(scheme.body).message, 'Get "ftp://127.0.0.1/x": unsupported protocol scheme "ftp"');

  const count = (s: string) => s.split('\n').filter(Boolean).length;
  assert.equal(count(await d.dockerOk(['images', '-aq'])), count(imagesBefore) + 3, 'the three imports and nothing of the failed ones');
});

test('import and load take bzip2 and xz as well as gzip and zstd, as dockerd\'s archive code does; a corrupt one is refused and leaves nothing', async () => {
  const rootfs = readFileSync(d.busyboxTar());
  const pack = (tool: string, input: Buffer) => {
    const r = spawnSync(tool, ['-c'], { input, maxBuffer: 1 << 28 });
    assert.equal(r.status, 0, `${tool}: ${r.stderr}`);
    return r.stdout as Buffer;
  };
  const before = (await d.dockerOk(['images', '-aq'])).split('\n').filter(Boolean).length;
  for (const tool of ['bzip2', 'xz']) {
    const packed = write(`rootfs.tar.${tool}`, pack(tool, rootfs));
    await d.dockerOk(['import', packed, `packed-${tool}:1`]);
    assert.equal(await d.dockerOk(['run', '--rm', `packed-${tool}:1`, 'cat', '/etc/group']), 'root:x:0:\nnogroup:x:65534:');
  }
  // A saved image, compressed by the user, loads back.
  const saved = join(d.dir, 'saved.tar');
  await d.dockerOk(['save', '-o', saved, 'packed-xz:1']);
  await d.dockerOk(['rmi', 'packed-xz:1', 'packed-bzip2:1']);
  const loaded = await d.dockerOk(['load', '-i', write('saved.tar.xz', pack('xz', readFileSync(saved)))]);
  assert.equal(loaded, 'Loaded image: packed-xz:1');
  assert.equal(await d.dockerOk(['run', '--rm', 'packed-xz:1', 'echo', 'ran']), 'ran');
  await d.dockerOk(['rmi', 'packed-xz:1']);
  // Cut short: refused with what xz said, and no image is kept.
  const xz = pack('xz', rootfs);
  const cut = await d.docker(['import', write('cut.tar.xz', xz.subarray(0, xz.length >> 1)), 'packed-cut:1']);
  assert.equal(cut.code, 1);
  assert.match(cut.stderr, /xz data is corrupt or truncated: .*Unexpected end of input/);
  assert.equal((await d.dockerOk(['images', '-aq'])).split('\n').filter(Boolean).length, before);
});
