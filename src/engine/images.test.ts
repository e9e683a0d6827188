import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createHash, randomBytes } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Readable } from 'node:stream';
import * as tar from 'tar-stream';
import { BerthError, type ProgressEvent } from '../common';
import { ContentStore, ImageStore } from '../image';
import { LayerStore } from '../storage';
import { ImageService } from './images';

const hex = (b: Buffer) => createHash('sha256').update(b).digest('hex');

async function makeTar(entries: { name: string; data: Buffer }[]): Promise<Buffer> {
  const pack = tar.pack();
  const chunks: Buffer[] = [];
  const done = (async () => {
    for await (const c of pack as unknown as AsyncIterable<Buffer>) chunks.push(c);
  })();
  for (const e of entries) {
    await new Promise<void>((resolve, reject) => {
      // Owned by whoever runs the test, so that unpacking needs no privilege.
      pack.entry({ name: e.name, mode: 0o644, uid: process.getuid!(), gid: process.getgid!() }, e.data, (err) => (err ? reject(err) : resolve()));
    });
  }
  pack.finalize();
  await done;
  return Buffer.concat(chunks);
}

/** A docker 25+ style archive of one image; `diffIDs` default to the layers' own digests. */
async function archive(tag: string, layers: Buffer[], diffIDs = layers.map((l) => `sha256:${hex(l)}`)): Promise<Buffer> {
  const config = Buffer.from(JSON.stringify({ architecture: 'amd64', os: 'linux', rootfs: { type: 'layers', diff_ids: diffIDs } }));
  const b = (x: Buffer) => `blobs/sha256/${hex(x)}`;
  return makeTar([
    ...layers.map((l) => ({ name: b(l), data: l })),
    { name: b(config), data: config },
    { name: 'manifest.json', data: Buffer.from(JSON.stringify([{ Config: b(config), RepoTags: [tag], Layers: layers.map(b) }])) },
  ]);
}

/** The bytes in 64 KiB pieces, as they come off a socket. */
function body(buf: Buffer): Readable {
  const pieces: Buffer[] = [];
  for (let i = 0; i < buf.length; i += 64 << 10) pieces.push(buf.subarray(i, i + (64 << 10)));
  return Readable.from(pieces);
}

async function service(t: { after(fn: () => void): void }) {
  const root = mkdtempSync(join(tmpdir(), 'berth-images-'));
  t.after(() => rmSync(root, { recursive: true, force: true }));
  const content = new ContentStore(join(root, 'blobs'));
  await content.init();
  const store = new ImageStore(join(root, 'images'), content);
  const layers = await LayerStore.open(join(root, 'layers'));
  const svc = new ImageService(content, store, layers, () => []);
  const left = async () => ({ blobs: await content.list(), layers: await layers.list(), images: store.list() });
  return { svc, left };
}

test('load reports each layer it unpacks with its bytes, then the loaded names', async (t) => {
  const { svc } = await service(t);
  const l1 = await makeTar([{ name: 'big.bin', data: randomBytes(3 << 20) }]);
  const l2 = await makeTar([{ name: 'small.txt', data: Buffer.from('small\n') }]);
  const events: ProgressEvent[] = [];
  const done = await svc.load(body(await archive('ev/app:1', [l1, l2])), (e) => events.push(e));
  assert.equal(done.length, 1);
  assert.deepEqual(done[0]!.tags, [{ name: 'ev/app:1' }]);
  assert.deepEqual(events.at(-1), { kind: 'message', text: 'Loaded image: ev/app:1' });
  const statuses = events.slice(0, -1);
  for (const l of [l1, l2]) {
    const mine = statuses.filter((e) => e.kind === 'status' && e.id === hex(l).slice(0, 12));
    assert.ok(mine.length > 0, 'a status per layer');
    const currents = mine.map((e) => (e.kind === 'status' ? e.current : undefined));
    assert.deepEqual(currents, [...currents].sort((a, b) => a! - b!), 'bytes only grow');
    assert.deepEqual(mine.at(-1), { kind: 'status', id: hex(l).slice(0, 12), status: 'Loading layer', current: l.length, total: l.length });
  }
  assert.equal(statuses.length, events.length - 1, 'only statuses before the names');
  assert.ok(statuses.filter((e) => e.kind === 'status' && e.id === hex(l1).slice(0, 12)).length > 1, 'a big layer moves in steps');

  // Loading it again unpacks nothing: the layers are there, so only the names are reported.
  events.length = 0;
  await svc.load(body(await archive('ev/app:1', [l1, l2])), (e) => events.push(e));
  assert.deepEqual(events, [{ kind: 'message', text: 'Loaded image: ev/app:1' }]);
});

test('a load that fails leaves no blob, layer or image and reports no names', async (t) => {
  const { svc, left } = await service(t);
  const invalid = (re: RegExp) => (e: unknown) => e instanceof BerthError && e.kind === 'invalid-argument' && re.test(e.message);
  const events: ProgressEvent[] = [];
  await assert.rejects(svc.load(body(Buffer.from('not a tar at all\n'.repeat(64))), (e) => events.push(e)), invalid(/not a tar file/));
  const good = await makeTar([{ name: 'a.txt', data: Buffer.from('a\n') }]);
  const other = await makeTar([{ name: 'b.txt', data: Buffer.from('b\n') }]);
  // The config says the second layer is `other`, the archive holds `good` twice.
  await assert.rejects(svc.load(body(await archive('bad/app:1', [good, good], [`sha256:${hex(good)}`, `sha256:${hex(other)}`])), (e) => events.push(e)), invalid(/invalid image archive: image 1 layer 2/));
  assert.deepEqual(await left(), { blobs: [], layers: [], images: [] });
  assert.ok(events.every((e) => e.kind === 'status'));
});

test('load and rmi of the same image at once: each ends cleanly, and what is left is whole', async (t) => {
  const { svc, left } = await service(t);
  const l1 = await makeTar([{ name: 'big.bin', data: randomBytes(1 << 20) }]);
  const l2 = await makeTar([{ name: 'small.txt', data: Buffer.from('small\n') }]);
  const arc = await archive('race/app:1', [l1, l2]);
  const clean = (e: unknown) => e instanceof BerthError && (e.kind === 'not-found' || e.kind === 'conflict');
  for (let round = 0; round < 60; round++) {
    // Half the rounds start with the image there: a load then finds its blobs and layers stored.
    if (round % 2 === 0) await svc.load(body(arc));
    const outcomes = await Promise.allSettled([
      svc.load(body(arc)),
      svc.load(body(arc)),
      // Let the loads get going, then remove what they load.
      (async () => {
        for (let i = 0; i < (round >> 1) % 6; i++) await new Promise((r) => setImmediate(r));
        return svc.remove('race/app:1', true);
      })(),
    ]);
    for (const o of outcomes) if (o.status === 'rejected') assert.ok(clean(o.reason), `round ${round}: ${String(o.reason)}`);
    const { blobs, layers, images } = await left();
    if (images.length === 0) {
      assert.deepEqual({ blobs, layers }, { blobs: [], layers: [] }, `round ${round}: no image, yet something is left`);
      continue;
    }
    assert.equal(images.length, 1);
    const img = images[0]!;
    for (const d of [img.id, ...img.layers]) assert.ok(blobs.includes(d), `round ${round}: blob ${d} of the image is missing`);
    assert.equal(layers.length, 2, `round ${round}: the image's layers`);
    assert.equal(blobs.length, 3, `round ${round}: only the image's blobs`);
    await svc.remove(img.id, true);
  }
  assert.deepEqual(await left(), { blobs: [], layers: [], images: [] });
});
