import { test } from 'node:test';
import assert from 'node:assert/strict';
import { linkSync, mkdirSync, mkdtempSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { dirSize } from './dir-size';

test('dirSize: apparent sizes of non-directories, each inode once, links not followed', async (t) => {
  const base = mkdtempSync(join(tmpdir(), 'berth-du-'));
  t.after(() => rmSync(base, { recursive: true, force: true }));
  const root = join(base, 'tree');
  mkdirSync(join(root, 'a', 'b'), { recursive: true });
  writeFileSync(join(root, 'f'), Buffer.alloc(1000));
  writeFileSync(join(root, 'a', 'b', 'g'), Buffer.alloc(234));
  linkSync(join(root, 'f'), join(root, 'a', 'hard'));
  linkSync(join(root, 'f'), join(root, 'a', 'b', 'hard2'));
  writeFileSync(join(base, 'outside'), Buffer.alloc(50_000));
  symlinkSync(join(base, 'outside'), join(root, 'link'));
  symlinkSync(base, join(root, 'dirlink'));
  const linkSizes = join(base, 'outside').length + base.length;
  assert.equal(await dirSize(root), 1000 + 234 + linkSizes);
  assert.equal(await dirSize(join(base, 'missing')), 0);
  assert.equal(await dirSize(join(root, 'a', 'b')), 1234);
});
