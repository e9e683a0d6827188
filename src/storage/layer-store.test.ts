import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { mkdirSync, mkdtempSync, readFileSync, readdirSync, realpathSync, rmSync, symlinkSync, existsSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, relative } from 'node:path';
import { Readable } from 'node:stream';
import { BerthError, type Digest } from '../common';
import { needsRoot } from '../common/test-root';
import { MNT_DETACH, mountFrom, umount2 } from '../sys';
import { chainIDOf, LayerStore } from './layer-store';
import { makeTar, rawHeader, type FixtureEntry } from './tar-fixtures';

function tempRoot(t: { after(fn: () => void): void }): string {
  const base = mkdtempSync(join(tmpdir(), 'berth-layers-'));
  t.after(() => rmSync(base, { recursive: true, force: true }));
  return join(base, 'layers');
}

const sha = (b: Buffer | string) => `sha256:${createHash('sha256').update(b).digest('hex')}` as Digest;
const tarOf = async (entries: FixtureEntry[]) => makeTar(entries);
const kind = (k: string, re?: RegExp) => (e: unknown) => {
  assert.ok(e instanceof BerthError, String(e));
  assert.equal(e.kind, k);
  if (re) assert.match(e.message, re);
  return true;
};

test('create, get, chainIDs, lowerChain and linkChain', needsRoot('creating a layer applies it with its owners (lchown)'), async (t) => {
  const store = await LayerStore.open(tempRoot(t));
  const t0 = await tarOf([{ name: 'base', data: 'b' }]);
  const t1 = await tarOf([{ name: 'top', data: 't' }]);
  const l0 = await store.create(null, Readable.from([t0]));
  assert.equal(l0.diffID, sha(t0));
  assert.equal(l0.chainID, l0.diffID);
  assert.equal(l0.parent, null);
  assert.equal(l0.size, 1, 'a layer\'s size is its files\' bytes, as dockerd counts it');
  const l1 = await store.create(l0.chainID, Readable.from([t1]));
  assert.equal(l1.chainID, sha(`${l0.chainID} ${sha(t1)}`));
  assert.equal(l1.chainID, chainIDOf(l0.chainID, l1.diffID));
  assert.equal(l1.parent, l0.chainID);
  assert.deepEqual(await store.get(l1.chainID), l1);
  assert.ok(await store.has(l1.chainID));
  assert.equal(readFileSync(join(store.diffDir(l1.chainID), 'top'), 'utf8'), 't');
  assert.deepEqual(await store.lowerChain(l1.chainID), [store.diffDir(l1.chainID), store.diffDir(l0.chainID)]);
  const links = await store.linkChain(l1.chainID);
  assert.deepEqual(links.map((l) => realpathSync(l)), [store.diffDir(l1.chainID), store.diffDir(l0.chainID)]);
  assert.ok(links.every((l) => relative(join(store.root, 'l'), l).length === 12));
  assert.deepEqual((await store.list()).map((l) => l.chainID).sort(), [l0.chainID, l1.chainID].sort());
  await assert.rejects(store.get(sha('nope')), kind('not-found', /does not exist/));
  await assert.rejects(store.get('sha256:zz' as Digest), kind('invalid-argument'));
});

test('a layer is stored once: creating it again returns the existing one', needsRoot('creating a layer applies it with its owners (lchown)'), async (t) => {
  const store = await LayerStore.open(tempRoot(t));
  const tar = await tarOf([{ name: 'f', data: 'same' }]);
  const [a, b] = await Promise.all([store.create(null, Readable.from([tar])), store.create(null, Readable.from([tar]))]);
  const c = await store.create(null, Readable.from([tar]));
  assert.equal(a.chainID, b.chainID);
  assert.deepEqual(c, await store.get(a.chainID));
  assert.equal((await store.list()).length, 1);
  assert.equal(readdirSync(join(store.root, 'l')).length, 1);
  assert.deepEqual(readdirSync(join(store.root, 'tmp')), []);
});

test('a failed create leaves nothing behind', needsRoot('creating a layer applies it with its owners (lchown)'), async (t) => {
  const store = await LayerStore.open(tempRoot(t));
  const tar = await tarOf([{ name: 'f', data: Buffer.alloc(4000) }]);
  await assert.rejects(store.create(null, Readable.from([tar.subarray(0, 1500)])), kind('invalid-argument', /truncated or corrupt/));
  await assert.rejects(store.create(null, Readable.from([await tarOf([{ name: '../x', data: 'x' }])])), kind('invalid-argument'));
  await assert.rejects(store.create(sha('missing'), Readable.from([tar])), kind('not-found'));
  assert.deepEqual(readdirSync(join(store.root, 'tmp')), []);
  assert.deepEqual(readdirSync(join(store.root, 'l')), []);
  assert.deepEqual(await store.list(), []);
});

test('remove refuses a parent, then deletes child and parent with their links', needsRoot('creating a layer applies it with its owners (lchown)'), async (t) => {
  const store = await LayerStore.open(tempRoot(t));
  const l0 = await store.create(null, Readable.from([await tarOf([{ name: 'a', data: 'a' }])]));
  const l1 = await store.create(l0.chainID, Readable.from([await tarOf([{ name: 'b', data: 'b' }])]));
  await assert.rejects(store.remove(l0.chainID), kind('conflict', /parent of layer/));
  await store.remove(l1.chainID);
  await store.remove(l0.chainID);
  assert.deepEqual(await store.list(), []);
  assert.deepEqual(readdirSync(join(store.root, 'l')), []);
  assert.deepEqual(readdirSync(join(store.root, 'tmp')), []);
  await assert.rejects(store.remove(l0.chainID), kind('not-found'));
});

test('open cleans up after an interrupted create', async (t) => {
  const root = tempRoot(t);
  await LayerStore.open(root);
  mkdirSync(join(root, 'tmp', 'new-half'));
  writeFileSync(join(root, 'tmp', 'new-half', 'junk'), 'x');
  symlinkSync(join('..', 'f'.repeat(64), 'diff'), join(root, 'l', 'DANGLINGLINK'));
  const store = await LayerStore.open(root);
  assert.deepEqual(readdirSync(join(store.root, 'tmp')), []);
  assert.ok(!existsSync(join(root, 'l', 'DANGLINGLINK')));
});

test('120 layers mount as one overlay through the short links', needsRoot('creating a layer applies it with its owners (lchown)'), async (t) => {
  const store = await LayerStore.open(tempRoot(t));
  let parent: Digest | null = null;
  for (let i = 0; i < 120; i++) {
    const info = await store.create(parent, Readable.from([await tarOf([{ name: `f${i}`, data: String(i) }, { name: 'top', data: String(i) }])]));
    parent = info.chainID;
  }
  const links = await store.linkChain(parent!);
  assert.equal(links.length, 120);
  const lowerdir = links.map((l) => relative(join(store.root, 'l'), l)).join(':');
  const data = `lowerdir=${lowerdir}`;
  assert.ok(data.length < 4096, `mount data is ${data.length} bytes`);
  const absolute = `lowerdir=${(await store.lowerChain(parent!)).join(':')}`;
  assert.ok(absolute.length > 4096, 'the test must exceed the page limit without short links');

  const merged = join(store.root, '..', 'merged');
  mkdirSync(merged);
  await mountFrom(join(store.root, 'l'), 'overlay', merged, 'overlay', 0, data);
  try {
    assert.equal(readFileSync(join(merged, 'f0'), 'utf8'), '0');
    assert.equal(readFileSync(join(merged, 'f119'), 'utf8'), '119');
    assert.equal(readFileSync(join(merged, 'top'), 'utf8'), '119');
  } finally {
    umount2(merged, MNT_DETACH);
  }
});

test('bad checksums, absurd sizes and hostile entries fail cleanly: no layer, no temp dir, no link, nothing outside', needsRoot('creating a layer applies it with its owners (lchown)'), async (t) => {
  const root = tempRoot(t);
  const store = await LayerStore.open(root);
  const sentinel = join(root, '..', 'sentinel');
  writeFileSync(sentinel, 'untouched');
  const good = await tarOf([{ name: 'ok', data: 'ok' }]);
  const badSum = Buffer.from(good);
  badSum[148] = 0x37; // corrupt the first header's checksum field
  const hugeHeader = rawHeader('huge', '0', 0o77777777777); // ~8 GiB promised, 512 bytes given
  const cases: Array<[string, Buffer]> = [
    ['bad checksum', badSum],
    ['absurd size', Buffer.concat([hugeHeader, Buffer.alloc(512)])],
    ['truncated', good.subarray(0, 700)],
    ['dot-dot', await tarOf([{ name: '../../sentinel', data: 'pwned' }])],
    ['symlink then write through it', await tarOf([{ name: 'esc', type: 'symlink', linkname: '../../..' }, { name: 'esc/sentinel', data: 'pwned' }, { name: 'x/../../sentinel', data: 'pwned' }])],
    ['hardlink outside', await tarOf([{ name: 'h', type: 'link', linkname: '../../sentinel' }])],
  ];
  for (const [what, tar] of cases) {
    await assert.rejects(store.create(null, Readable.from([tar])), (e: unknown) => e instanceof BerthError && e.kind === 'invalid-argument', what);
    assert.deepEqual(readdirSync(join(root, 'tmp')), [], `${what}: temp dir left`);
    assert.deepEqual(readdirSync(join(root, 'l')), [], `${what}: link left`);
    assert.deepEqual(readdirSync(root).sort(), ['l', 'tmp'], `${what}: layer left`);
    assert.equal(readFileSync(sentinel, 'utf8'), 'untouched', `${what}: wrote outside`);
  }
});

test('prepare then commit: the parent is needed only at commit; discard and failures leave no temp dir', needsRoot('creating a layer applies it with its owners (lchown)'), async (t) => {
  const store = await LayerStore.open(tempRoot(t));
  const t0 = await tarOf([{ name: 'base', data: 'b' }]);
  const t1 = await tarOf([{ name: 'top', data: 't' }]);
  // The child is unpacked before its parent exists.
  const p1 = await store.prepare(Readable.from([t1]));
  assert.equal(p1.diffID, sha(t1));
  assert.equal(await store.has(chainIDOf(sha(t0), p1.diffID)), false, 'nothing visible before commit');
  const l0 = await store.commit(await store.prepare(Readable.from([t0])), null);
  const l1 = await store.commit(p1, l0.chainID);
  assert.equal(l1.chainID, chainIDOf(l0.chainID, sha(t1)));
  assert.equal(readFileSync(join(store.diffDir(l1.chainID), 'top'), 'utf8'), 't');
  await store.discard(p1); // harmless after commit
  assert.ok(await store.has(l1.chainID));

  // A commit whose parent is missing consumes the prepared dir.
  const orphan = await store.prepare(Readable.from([await tarOf([{ name: 'o', data: 'o' }])]));
  await assert.rejects(store.commit(orphan, sha('missing')), kind('not-found'));
  const dropped = await store.prepare(Readable.from([await tarOf([{ name: 'd', data: 'd' }])]));
  await store.discard(dropped);
  // A digest the caller computed that turns out wrong fails the prepare.
  await assert.rejects(store.prepare(Readable.from([t0]), { inputDigest: Promise.reject(new Error('disk on fire')) }), kind('internal'));
  assert.deepEqual(readdirSync(join(store.root, 'tmp')), []);
  assert.equal((await store.list()).length, 2);
  assert.equal(readdirSync(join(store.root, 'l')).length, 2);
});
