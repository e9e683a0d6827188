import { test } from 'node:test';
import assert from 'node:assert/strict';
import { chownSync, linkSync, lstatSync, mkdirSync, mkdtempSync, readFileSync, readlinkSync, readdirSync, rmSync, symlinkSync, utimesSync, writeFileSync, chmodSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { lgetxattr, lsetxattr, mknod, S_IFIFO } from '../sys';
import { copyUp } from './copy-tree';

function tempDir(t: { after(fn: () => void): void }): string {
  const dir = mkdtempSync(join(tmpdir(), 'berth-copy-'));
  t.after(() => rmSync(dir, { recursive: true, force: true }));
  return dir;
}

test('copyUp copies a tree as cp -a does: modes, owners, times, xattrs, links, fifos, the root dir too', async (t) => {
  const dir = tempDir(t);
  const src = join(dir, 'src');
  const dest = join(dir, 'dest');
  mkdirSync(join(src, 'sub', 'deep'), { recursive: true });
  mkdirSync(dest);
  writeFileSync(join(src, 'file'), 'content');
  writeFileSync(join(src, 'sub', 'deep', 'x'), 'x');
  linkSync(join(src, 'file'), join(src, 'sub', 'hard'));
  symlinkSync('../file', join(src, 'sub', 'rel-link'));
  symlinkSync('/etc/passwd', join(src, 'abs-link'));
  mknod(join(src, 'fifo'), S_IFIFO | 0o640, 0);
  lsetxattr(join(src, 'sub'), 'user.tag', Buffer.from('kept'));
  // Other owners than ours need root to set; without it the files keep ours, which must be kept too.
  const owner = process.getuid?.() === 0 ? { uid: 1234, gid: 2345 } : { uid: process.getuid!(), gid: process.getgid!() };
  for (const p of ['', 'file', 'sub', 'fifo']) chownSync(join(src, p), owner.uid, owner.gid);
  // After the chown, which clears setuid/setgid.
  chmodSync(join(src, 'file'), 0o4751);
  chmodSync(join(src, 'sub'), 0o2750);
  chmodSync(src, 0o750);
  utimesSync(join(src, 'sub', 'deep'), 1_000_000, 1_000_000);
  utimesSync(src, 2_000_000, 2_000_000);

  assert.equal(await copyUp(src, dest), true);

  assert.equal(readFileSync(join(dest, 'file'), 'utf8'), 'content');
  assert.equal(lstatSync(join(dest, 'file')).mode & 0o7777, 0o4751, 'setuid bit survives the chown');
  assert.equal(lstatSync(join(dest, 'file')).ino, lstatSync(join(dest, 'sub', 'hard')).ino, 'hardlinks stay linked');
  assert.equal(lstatSync(join(dest, 'file')).nlink, 2);
  assert.equal(readlinkSync(join(dest, 'sub', 'rel-link')), '../file');
  assert.equal(readlinkSync(join(dest, 'abs-link')), '/etc/passwd', 'links are copied, never followed');
  assert.ok(lstatSync(join(dest, 'fifo')).isFIFO());
  assert.equal(lstatSync(join(dest, 'fifo')).mode & 0o777, 0o640);
  assert.deepEqual(lgetxattr(join(dest, 'sub'), 'user.tag'), Buffer.from('kept'));
  assert.equal(lstatSync(join(dest, 'sub')).mode & 0o7777, 0o2750);
  assert.equal(lstatSync(join(dest, 'sub', 'deep')).mtimeMs, 1_000_000_000, 'dir times are set after their entries');
  for (const p of ['file', 'sub', 'fifo']) {
    const st = lstatSync(join(dest, p));
    assert.deepEqual({ uid: st.uid, gid: st.gid }, owner, p);
  }
  const root = lstatSync(dest);
  assert.equal(root.mode & 0o7777, 0o750, 'the volume root takes the source dir\'s mode');
  assert.deepEqual({ uid: root.uid, gid: root.gid }, owner);
  assert.equal(root.mtimeMs, 2_000_000_000);
});

test('copyUp leaves a non-empty volume alone and skips a missing or non-directory source', async (t) => {
  const dir = tempDir(t);
  const src = join(dir, 'src');
  mkdirSync(src);
  writeFileSync(join(src, 'from-image'), 'x');
  const full = join(dir, 'full');
  mkdirSync(full);
  writeFileSync(join(full, 'mine'), 'y');
  assert.equal(await copyUp(src, full), false);
  assert.deepEqual(readdirSync(full), ['mine']);

  const empty = join(dir, 'empty');
  mkdirSync(empty);
  assert.equal(await copyUp(join(dir, 'nope'), empty), false);
  assert.equal(await copyUp(join(src, 'from-image'), empty), false);
  symlinkSync(src, join(dir, 'link-to-src'));
  assert.equal(await copyUp(join(dir, 'link-to-src'), empty), false, 'a symlink source is not followed');
  assert.deepEqual(readdirSync(empty), []);
  await assert.rejects(copyUp(src, join(dir, 'no-dest')), { code: 'ENOENT' });
});
