import { after, test } from 'node:test';
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { mkdtempSync, readdirSync, writeFileSync, mkdirSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Readable } from 'node:stream';
import { text } from 'node:stream/consumers';
import { ContentStore } from './content-store';
import type { Digest } from '../common';

/** Temp dirs made by these tests, removed when the file's tests are done. */
const temps: string[] = [];
const keep = (dir: string): string => (temps.push(dir), dir);
after(() => {
  for (const d of temps) rmSync(d, { recursive: true, force: true });
});


const sha = (b: Buffer | string) => ('sha256:' + createHash('sha256').update(b).digest('hex')) as Digest;
const tempRoot = () => keep(mkdtempSync(join(tmpdir(), 'berth-cs-')));

test('writeBuffer/writeStream store by digest and read back', async () => {
  const cs = new ContentStore(tempRoot());
  const { digest, size } = await cs.writeBuffer(Buffer.from('hello'));
  assert.equal(digest, sha('hello'));
  assert.equal(size, 5);
  assert.ok(await cs.has(digest));
  assert.equal((await cs.readBuffer(digest)).toString(), 'hello');
  assert.equal(await cs.size(digest), 5);
  assert.equal(await text(cs.openRead(digest)), 'hello');

  const chunks = Array.from({ length: 100 }, (_, i) => Buffer.alloc(10_000, i));
  const all = Buffer.concat(chunks);
  const r = await cs.writeStream(Readable.from(chunks), sha(all));
  assert.deepEqual(r, { digest: sha(all), size: all.length });
  assert.deepEqual((await cs.list()).sort(), [sha('hello'), sha(all)].sort());
});

test('writing existing content is idempotent', async () => {
  const cs = new ContentStore(tempRoot());
  const a = await cs.writeBuffer('same');
  const b = await cs.writeStream(Readable.from([Buffer.from('sa'), Buffer.from('me')]));
  assert.deepEqual(a, b);
  assert.equal((await cs.list()).length, 1);
  assert.deepEqual(readdirSync(join(cs.root, 'tmp')), []);
});

test('digest mismatch is invalid-argument and leaves nothing behind', async () => {
  const cs = new ContentStore(tempRoot());
  await assert.rejects(cs.writeBuffer('data', sha('other')), (e: Error & { kind?: string }) => {
    assert.equal(e.kind, 'invalid-argument');
    assert.match(e.message, /digest mismatch/);
    return true;
  });
  assert.deepEqual(await cs.list(), []);
  assert.deepEqual(readdirSync(join(cs.root, 'tmp')), []);
});

test('a failing input stream leaves no temp file', async () => {
  const cs = new ContentStore(tempRoot());
  const input = new Readable({
    read() {
      this.push(Buffer.alloc(1000));
      this.destroy(new Error('connection reset'));
    },
  });
  await assert.rejects(cs.writeStream(input), /connection reset/);
  assert.deepEqual(await cs.list(), []);
  assert.deepEqual(readdirSync(join(cs.root, 'tmp')), []);
});

test('malformed digests are rejected before touching the filesystem', async () => {
  const cs = new ContentStore(tempRoot());
  for (const bad of ['sha256:../../etc/passwd', 'sha256:' + 'A'.repeat(64), '../x', 'sha256:' + 'a'.repeat(63), 'sha512:' + 'a'.repeat(64)]) {
    const d = bad as Digest;
    assert.throws(() => cs.path(d), { name: 'BerthError' }, bad);
    await assert.rejects(cs.has(d), { name: 'BerthError' }, bad);
    await assert.rejects(cs.readBuffer(d), { name: 'BerthError' }, bad);
    await assert.rejects(cs.delete(d), { name: 'BerthError' }, bad);
    await assert.rejects(cs.writeBuffer('x', d), { name: 'BerthError' }, bad);
  }
});

test('missing blobs are not-found; delete is idempotent; init clears stale temps', async () => {
  const cs = new ContentStore(tempRoot());
  const d = sha('nope');
  assert.equal(await cs.has(d), false);
  assert.throws(() => cs.openRead(d), (e: Error & { kind?: string }) => e.kind === 'not-found');
  await assert.rejects(cs.readBuffer(d), (e: Error & { kind?: string }) => e.kind === 'not-found');
  await assert.rejects(cs.size(d), (e: Error & { kind?: string }) => e.kind === 'not-found');
  await cs.delete(d);
  const { digest } = await cs.writeBuffer('x');
  await cs.delete(digest);
  assert.equal(await cs.has(digest), false);

  mkdirSync(join(cs.root, 'tmp'), { recursive: true });
  writeFileSync(join(cs.root, 'tmp', 'stale'), 'partial');
  writeFileSync(join(cs.root, 'sha256', 'not-a-digest'), '');
  await cs.init();
  assert.deepEqual(readdirSync(join(cs.root, 'tmp')), []);
  assert.deepEqual(await cs.list(), []);
});
