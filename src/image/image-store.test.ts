import { after, test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createHash } from 'node:crypto';
import { ContentStore } from './content-store';
import { ImageStore } from './image-store';
import type { ImageConfig } from './image-config';
import { type Digest, parseReference } from '../common';

/** Temp dirs made by these tests, removed when the file's tests are done. */
const temps: string[] = [];
const keep = (dir: string): string => (temps.push(dir), dir);
after(() => {
  for (const d of temps) rmSync(d, { recursive: true, force: true });
});


const sha = (s: string) => ('sha256:' + createHash('sha256').update(s).digest('hex')) as Digest;
const kind = (k: string, msg?: string | RegExp) => (e: Error & { kind?: string }) => {
  assert.equal(e.kind, k);
  if (typeof msg === 'string') assert.equal(e.message, msg);
  else if (msg) assert.match(e.message, msg);
  return true;
};

function config(n: number, created = `2024-01-0${n}T00:00:00Z`): ImageConfig {
  return {
    created,
    architecture: 'amd64',
    os: 'linux',
    config: { Env: ['PATH=/bin'], Cmd: ['sh'], Labels: { n: String(n) } },
    rootfs: { type: 'layers', diff_ids: [sha(`layer${n}`)] },
    history: [{ created_by: `step ${n}` }],
  };
}

function fresh() {
  const root = keep(mkdtempSync(join(tmpdir(), 'berth-is-')));
  const content = new ContentStore(join(root, 'blobs'));
  return { root, content, store: new ImageStore(join(root, 'images'), content) };
}

test('create stores the config blob; the ID is its digest', async () => {
  const { content, store } = fresh();
  const cfg = config(1);
  const rec = await store.create(cfg);
  const blob = Buffer.from(JSON.stringify(cfg));
  assert.equal(rec.id, 'sha256:' + createHash('sha256').update(blob).digest('hex'));
  assert.deepEqual(await content.readBuffer(rec.id), blob);
  assert.deepEqual(rec.layers, cfg.rootfs.diff_ids);
  assert.equal(rec.created, cfg.created);
  assert.equal(rec.size, 0);
  assert.deepEqual(store.get(rec.id)?.config, cfg);
  // Idempotent.
  assert.deepEqual((await store.create(cfg)).id, rec.id);
  assert.equal(store.list().length, 1);
});

test('create rejects configs without os/architecture/rootfs', async () => {
  const { store } = fresh();
  await assert.rejects(store.create({ os: 'linux' } as unknown as ImageConfig), kind('invalid-argument', /architecture/));
  await assert.rejects(store.create({ ...config(1), rootfs: { type: 'layers', diff_ids: ['nope' as Digest] } }), kind('invalid-argument', /diff_id/));
});

test('createFromBlob keeps the exact blob bytes', async () => {
  const { content, store } = fresh();
  const bytes = Buffer.from(JSON.stringify(config(2), null, 3));
  const { digest } = await content.writeBuffer(bytes);
  const md = sha('manifest');
  const rec = await store.createFromBlob(digest, { manifestDigest: md });
  assert.equal(rec.id, digest);
  assert.equal(rec.manifestDigest, md);
  const bad = await content.writeBuffer('{"not":"a config"}');
  await assert.rejects(store.createFromBlob(bad.digest), kind('invalid-argument'));
  await assert.rejects(store.createFromBlob(sha('absent')), kind('not-found'));
});

test('tag, resolve by name, ID, prefix; tags move between images', async () => {
  const { store } = fresh();
  const a = await store.create(config(1));
  const b = await store.create(config(2));
  await store.tag(a.id, parseReference('busybox'));
  await store.tag(a.id, parseReference('localhost:5000/x/y:v1'));
  assert.deepEqual(store.tagsOf(a.id), ['busybox:latest', 'localhost:5000/x/y:v1']);
  assert.ok(store.lastTagTime(a.id));
  assert.ok(store.get(a.id)?.lastTagTime);

  for (const q of ['busybox', 'busybox:latest', 'library/busybox', 'docker.io/library/busybox:latest',
    'localhost:5000/x/y:v1', a.id, a.id.slice(7), a.id.slice(0, 7 + 12), a.id.slice(7, 7 + 12)]) {
    assert.equal(store.resolve(q).id, a.id, q);
  }
  await store.tag(b.id, parseReference('busybox:latest'));
  assert.equal(store.resolve('busybox').id, b.id);
  assert.deepEqual(store.tagsOf(a.id), ['localhost:5000/x/y:v1']);
  assert.deepEqual(store.tagsOf(b.id), ['busybox:latest']);

  assert.throws(() => store.resolve('nothere'), kind('not-found', 'No such image: nothere:latest'));
  assert.throws(() => store.resolve('busybox:1'), kind('not-found', 'No such image: busybox:1'));
  assert.throws(() => store.resolve('sha256:' + 'f'.repeat(64)), kind('not-found', `No such image: sha256:${'f'.repeat(64)}`));
  assert.throws(() => store.resolve('Busybox'), kind('invalid-argument', /must be lowercase/));
  await assert.rejects(store.tag(sha('nope'), parseReference('x')), kind('not-found'));
  await assert.rejects(store.tag(a.id, parseReference('x:1@' + sha('m'))), kind('invalid-argument', /digest reference/));
});

test('a reference that looks like an ID prefix wins over the prefix', async () => {
  const { store } = fresh();
  const a = await store.create(config(1));
  const b = await store.create(config(2));
  const prefixOfA = a.id.slice(7, 11);
  await store.tag(b.id, parseReference(prefixOfA));
  assert.equal(store.resolve(prefixOfA).id, b.id);
  assert.equal(store.resolve(`sha256:${prefixOfA}`).id, a.id);
});

test('ambiguous ID prefix is invalid-argument', async () => {
  const { store } = fresh();
  const ids: Digest[] = [];
  for (let i = 1; i <= 9; i++) ids.push((await store.create(config(i))).id);
  const byFirst = new Map<string, number>();
  for (const id of ids) byFirst.set(id[7]!, (byFirst.get(id[7]!) ?? 0) + 1);
  const shared = [...byFirst].find(([, n]) => n > 1);
  assert.ok(shared, 'fixture has two IDs sharing a first hex digit');
  assert.throws(() => store.resolve(shared[0]), kind('invalid-argument', /ambiguous/));
  assert.throws(() => store.resolve(''), kind('invalid-argument'));
});

test('digest references', async () => {
  const { store } = fresh();
  const a = await store.create(config(1), { manifestDigest: sha('m') });
  const ref = parseReference('busybox@' + sha('m'));
  await store.tag(a.id, ref);
  assert.equal(store.resolve('busybox@' + sha('m')).id, a.id);
  assert.equal(store.resolve('busybox:whatever@' + sha('m')).id, a.id);
  assert.deepEqual(store.digestsOf(a.id), ['busybox@' + sha('m')]);
  assert.deepEqual(store.tagsOf(a.id), []);
  assert.equal(store.lastTagTime(a.id), undefined);
});

test('add records images with size, parent and names in one write, or nothing', async () => {
  const { root, content, store } = fresh();
  const a = await content.writeBuffer(Buffer.from(JSON.stringify(config(1))));
  const b = await content.writeBuffer(Buffer.from(JSON.stringify(config(2))));
  const old = await store.create(config(3), { refs: [parseReference('app:1')] });
  const bad = await content.writeBuffer('{"not":"a config"}');
  // One bad entry: nothing of the batch is recorded, not even the good one's names.
  await assert.rejects(store.add([{ configDigest: a.digest, size: 1, refs: [parseReference('base:1')] }, { configDigest: bad.digest, size: 2 }]), kind('invalid-argument'));
  await assert.rejects(store.add([{ configDigest: a.digest, refs: [parseReference(`app:1@${sha('m')}`)] }]), kind('invalid-argument', /digest reference/));
  assert.deepEqual(store.list().map((i) => i.id), [old.id]);
  assert.equal(store.lookupRef(parseReference('app:1')), old.id);

  const [ra, rb] = await store.add([
    { configDigest: a.digest, size: 10, refs: [parseReference('base:1')] },
    { configDigest: b.digest, size: 20, parent: a.digest, refs: [parseReference('app:1')] },
  ]);
  assert.deepEqual([ra!.size, ra!.parent, rb!.size, rb!.parent], [10, undefined, 20, a.digest]);
  assert.equal(store.lookupRef(parseReference('app:1')), b.digest, 'the name moved');
  assert.deepEqual(store.tagsOf(old.id), []);
  assert.ok(rb!.lastTagTime);
  // An image already there keeps its size when none is given; the parent survives a reopen.
  await store.add([{ configDigest: b.digest }]);
  const again = new ImageStore(join(root, 'images'), content);
  assert.deepEqual([again.get(b.digest)?.size, again.get(b.digest)?.parent], [20, a.digest]);
});

test('untag and delete', async () => {
  const { store } = fresh();
  const a = await store.create(config(1));
  await store.tag(a.id, parseReference('x:1'));
  await store.tag(a.id, parseReference('x:2'));
  assert.equal(await store.untag(parseReference('x:1')), a.id);
  await assert.rejects(store.untag(parseReference('x:1')), kind('not-found', 'No such image: x:1'));
  await assert.rejects(store.untag(parseReference('x')), kind('not-found', 'No such image: x:latest'));
  assert.deepEqual(store.tagsOf(a.id), ['x:2']);
  await store.delete(a.id);
  assert.equal(store.get(a.id), undefined);
  assert.deepEqual(store.list(), []);
  assert.deepEqual(store.references(), []);
  assert.throws(() => store.resolve('x:2'), kind('not-found'));
  await assert.rejects(store.delete(a.id), kind('not-found'));
});

test('state survives a reopen; list is newest first; sizes persist', async () => {
  const { root, content, store } = fresh();
  const a = await store.create(config(1, '2020-01-01T00:00:00Z'));
  const b = await store.create(config(2, '2023-01-01T00:00:00Z'));
  await store.tag(a.id, parseReference('old'));
  await store.tag(b.id, parseReference('new:v'));
  await store.add([{ configDigest: b.id, size: 1234 }]);
  await assert.rejects(store.add([{ configDigest: b.id, size: -1 }]), kind('invalid-argument'));

  const again = new ImageStore(join(root, 'images'), content);
  assert.deepEqual(again.list().map((r) => r.id), [b.id, a.id]);
  assert.equal(again.get(b.id)?.size, 1234);
  assert.equal(again.resolve('old').id, a.id);
  assert.deepEqual(again.tagsOf(b.id), ['new:v']);
  JSON.parse(readFileSync(join(root, 'images', 'images.json'), 'utf8'));

  // An image whose config blob vanished is dropped on load, with its tags.
  await content.delete(a.id);
  const third = new ImageStore(join(root, 'images'), content);
  assert.deepEqual(third.list().map((r) => r.id), [b.id]);
  assert.throws(() => third.resolve('old'), kind('not-found'));
});

test('concurrent mutations are serialized and all land', async () => {
  const { root, content, store } = fresh();
  const a = await store.create(config(1));
  await Promise.all(Array.from({ length: 30 }, (_, i) => store.tag(a.id, parseReference(`t:${i}`))));
  assert.equal(store.tagsOf(a.id).length, 30);
  assert.equal(new ImageStore(join(root, 'images'), content).tagsOf(a.id).length, 30);
  // A failing mutation does not block the queue or change state.
  await assert.rejects(store.untag(parseReference('t:none')));
  await store.untag(parseReference('t:0'));
  assert.equal(store.tagsOf(a.id).length, 29);
});
