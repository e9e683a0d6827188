import { test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, lstatSync, mkdirSync, mkdtempSync, readFileSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Readable } from 'node:stream';
import * as tar from 'tar-stream';
import { extractArchive, packLocalPath } from './cp-archive';
import { getRebaseName, preserveTrailingDotOrSeparator, prepareCopy, rebaseEntryName, splitCpArg, splitPathDirEntry } from './cp-paths';

type Entry = Partial<tar.Header> & { name: string; body?: string };

async function tarOf(entries: Entry[]): Promise<Readable> {
  const pack = tar.pack();
  for (const e of entries) {
    await new Promise<void>((resolve, reject) => pack.entry({ mode: 0o644, ...e }, e.body ?? '', (err) => (err ? reject(err) : resolve())));
  }
  pack.finalize();
  return pack as unknown as Readable;
}

function scratch(): { outside: string; dest: string } {
  const base = mkdtempSync(join(tmpdir(), 'berth-cp-'));
  const dest = join(base, 'dest');
  mkdirSync(dest);
  const outside = join(base, 'outside');
  mkdirSync(outside);
  return { outside, dest };
}

test('splitCpArg: CONTAINER:PATH unless the path is absolute or starts with a dot', () => {
  assert.deepEqual(splitCpArg('c1:/etc'), { container: 'c1', path: '/etc' });
  assert.deepEqual(splitCpArg('/a:b'), { container: '', path: '/a:b' });
  assert.deepEqual(splitCpArg('./a:b'), { container: '', path: './a:b' });
  assert.deepEqual(splitCpArg('plain'), { container: '', path: 'plain' });
});

test('path helpers keep the trailing / and /. that carry meaning', () => {
  assert.equal(preserveTrailingDotOrSeparator('/x/dir', 'dir/.'), '/x/dir/.');
  assert.equal(preserveTrailingDotOrSeparator('/x/dir', 'dir/'), '/x/dir/');
  assert.deepEqual(splitPathDirEntry('/a/b/.'), { dir: '/a/b', base: '.' });
  assert.deepEqual(splitPathDirEntry('/'), { dir: '/', base: '/' });
  assert.deepEqual(getRebaseName('/src/link/', '/src/tree'), { path: '/src/tree/', rebaseName: 'link' });
  assert.equal(rebaseEntryName('./a', '.', 'new'), 'new/a');
  assert.equal(rebaseEntryName('tree/sub/b', 'tree', 'copy'), 'copy/sub/b');
});

test('prepareCopy follows docker: into a directory, renamed onto a file or a new name, and its two refusals', () => {
  const file = { path: '/s/f', exists: true, isDir: false, rebaseName: '' };
  const dir = { path: '/s/d', exists: true, isDir: true, rebaseName: '' };
  assert.deepEqual(prepareCopy(file, { path: '/t', exists: true, isDir: true, rebaseName: '' }), { dir: '/t' });
  assert.deepEqual(prepareCopy(file, { path: '/t/g', exists: false, isDir: false, rebaseName: '' }), { dir: '/t', rename: { from: 'f', to: 'g' } });
  assert.throws(() => prepareCopy(dir, { path: '/t/g', exists: true, isDir: false, rebaseName: '' }), /^Error: cannot copy directory$/);
  assert.throws(() => prepareCopy(file, { path: '/t/new/', exists: false, isDir: false, rebaseName: '' }), /^Error: no such directory$/);
});

test('extraction refuses an entry that climbs out with ..', async () => {
  const { dest, outside } = scratch();
  await assert.rejects(extractArchive(await tarOf([{ name: '../outside/pwned', body: 'x' }]), dest), /"\.\.\/outside\/pwned" is outside of/);
  assert.ok(!existsSync(join(outside, 'pwned')));
});

test('an absolute entry name lands under the destination', async () => {
  const { dest } = scratch();
  await extractArchive(await tarOf([{ name: '/etc/abs', body: 'inside' }]), dest);
  assert.equal(readFileSync(join(dest, 'etc', 'abs'), 'utf8'), 'inside');
});

test('a relative symlink leading out is refused; an absolute one is kept but never written through', async () => {
  const { dest, outside } = scratch();
  await assert.rejects(extractArchive(await tarOf([{ name: 'up', type: 'symlink', linkname: '../../..' }]), dest), /invalid symlink/);
  const through = await tarOf([
    { name: 'esc', type: 'symlink', linkname: outside },
    { name: 'esc/pwned', body: 'x' },
  ]);
  await assert.rejects(extractArchive(through, dest), /symbolic link leading outside/);
  assert.ok(lstatSync(join(dest, 'esc')).isSymbolicLink());
  assert.ok(!existsSync(join(outside, 'pwned')));
});

test('a symlink already on disk that leads out is not followed; a file entry replaces a link rather than writing through it', async () => {
  const { dest, outside } = scratch();
  symlinkSync(outside, join(dest, 'pre'));
  await assert.rejects(extractArchive(await tarOf([{ name: 'pre/pwned', body: 'x' }]), dest), /symbolic link leading outside/);
  writeFileSync(join(outside, 'target'), 'keep');
  symlinkSync(join(outside, 'target'), join(dest, 'f'));
  await extractArchive(await tarOf([{ name: 'f', body: 'new' }]), dest);
  assert.equal(readFileSync(join(outside, 'target'), 'utf8'), 'keep');
  assert.equal(readFileSync(join(dest, 'f'), 'utf8'), 'new');
});

test('a hard link to a file outside the destination is refused', async () => {
  const { dest } = scratch();
  await assert.rejects(extractArchive(await tarOf([{ name: 'h', type: 'link', linkname: '../outside/x' }]), dest), /invalid hardlink/);
});

test('pack then extract round-trips a tree with its modes and links', async () => {
  const { dest, outside } = scratch();
  mkdirSync(join(outside, 'tree', 'sub'), { recursive: true });
  writeFileSync(join(outside, 'tree', 'a'), 'A', { mode: 0o600 });
  symlinkSync('a', join(outside, 'tree', 'la'));
  await extractArchive(packLocalPath(join(outside, 'tree')), dest);
  assert.equal(readFileSync(join(dest, 'tree', 'a'), 'utf8'), 'A');
  assert.equal(lstatSync(join(dest, 'tree', 'a')).mode & 0o777, 0o600);
  assert.ok(lstatSync(join(dest, 'tree', 'la')).isSymbolicLink());
  assert.ok(lstatSync(join(dest, 'tree', 'sub')).isDirectory());
});
