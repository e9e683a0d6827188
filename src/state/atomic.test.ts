import { after, test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, readdirSync, readFileSync, writeFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { readJSON, writeFileAtomic, writeJSONAtomic } from './atomic';

/** Temp dirs made by these tests, removed when the file's tests are done. */
const temps: string[] = [];
const keep = (dir: string): string => (temps.push(dir), dir);
after(() => {
  for (const d of temps) rmSync(d, { recursive: true, force: true });
});


test('writeFileAtomic replaces content and leaves no temp files', async () => {
  const dir = keep(mkdtempSync(join(tmpdir(), 'berth-atomic-')));
  const p = join(dir, 'f');
  await writeFileAtomic(p, 'one');
  await writeFileAtomic(p, Buffer.from('two'));
  assert.equal(readFileSync(p, 'utf8'), 'two');
  assert.deepEqual(readdirSync(dir), ['f']);
});

test('concurrent writers each land whole', async () => {
  const dir = keep(mkdtempSync(join(tmpdir(), 'berth-atomic-')));
  const p = join(dir, 'f.json');
  await Promise.all(Array.from({ length: 20 }, (_, i) => writeJSONAtomic(p, { i, pad: 'x'.repeat(10_000) })));
  const v = await readJSON<{ i: number }>(p);
  assert.ok(v && v.i >= 0 && v.i < 20);
  assert.deepEqual(readdirSync(dir), ['f.json']);
});

test('readJSON: undefined when missing, invalid-argument when corrupt', async () => {
  const dir = keep(mkdtempSync(join(tmpdir(), 'berth-atomic-')));
  assert.equal(await readJSON(join(dir, 'missing.json')), undefined);
  writeFileSync(join(dir, 'bad.json'), '{"a":');
  await assert.rejects(readJSON(join(dir, 'bad.json')), (e: Error & { kind?: string }) => {
    assert.equal(e.kind, 'invalid-argument');
    assert.match(e.message, /bad\.json is not valid JSON/);
    return true;
  });
  await assert.rejects(writeFileAtomic(join(dir, 'no', 'such', 'dir'), 'x'), /ENOENT/);
});
