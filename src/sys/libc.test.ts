import { test } from 'node:test';
import assert from 'node:assert/strict';
import { openSync, closeSync, mkdtempSync, rmSync, writeFileSync, mkdirSync, lstatSync, symlinkSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import {
  mount, umount2, mknod, makedev, lsetxattr, lgetxattr, llistxattr, lremovexattr,
  MS_BIND, MS_RDONLY, syncfs, syncfsAsync, MS_REMOUNT, MNT_DETACH, S_IFCHR, S_IFIFO, mountFrom, isMountPoint, parseMountInfo,
  mountRootIfLoaded, readMountInfo, umount2Async,
} from './index';
import { needsRoot } from '../common/test-root';

function tempDir(t: { after(fn: () => void): void }): string {
  const dir = mkdtempSync(join(tmpdir(), 'berth-sys-'));
  t.after(() => {
    try { umount2(join(dir, 'mnt'), MNT_DETACH); } catch { /* not mounted */ }
    rmSync(dir, { recursive: true, force: true });
  });
  return dir;
}

test('makedev matches the glibc encoding', () => {
  assert.equal(makedev(0, 0), 0n);
  assert.equal(makedev(1, 3), 0x103n);
  assert.equal(makedev(8, 17), 0x811n);
  // major 0x1234 / minor 0x56789 exercises the split high bits of both numbers.
  assert.equal(makedev(0x1234, 0x56789), 0x100056723489n);
});

test('mknod makes a char device and a fifo; errors carry errno names', needsRoot('mknod of a char device'), (t) => {
  const dir = tempDir(t);
  mknod(join(dir, 'null'), S_IFCHR | 0o600, makedev(1, 3));
  const st = lstatSync(join(dir, 'null'));
  assert.ok(st.isCharacterDevice());
  assert.equal(st.rdev, 0x103);
  mknod(join(dir, 'fifo'), S_IFIFO | 0o644, 0);
  assert.ok(lstatSync(join(dir, 'fifo')).isFIFO());
  assert.throws(() => mknod(join(dir, 'null'), S_IFCHR | 0o600, 0), (e: NodeJS.ErrnoException) => {
    assert.equal(e.code, 'EEXIST');
    assert.equal(e.errno, 17);
    assert.match(e.message, /mknod '.*null'/);
    return true;
  });
  assert.throws(() => mknod(join(dir, 'missing', 'x'), S_IFIFO, 0), { code: 'ENOENT' });
});

test('xattrs: set, get, list, remove; absent reads as null; symlinks are not followed', needsRoot('trusted.* xattrs'), (t) => {
  const dir = tempDir(t);
  const f = join(dir, 'f');
  writeFileSync(f, 'x');
  assert.equal(lgetxattr(f, 'user.none'), null);
  lsetxattr(f, 'user.a', Buffer.from('hello'));
  lsetxattr(f, 'trusted.b', Buffer.alloc(0));
  assert.deepEqual(lgetxattr(f, 'user.a'), Buffer.from('hello'));
  assert.deepEqual(lgetxattr(f, 'trusted.b'), Buffer.alloc(0));
  assert.deepEqual(llistxattr(f).sort(), ['trusted.b', 'user.a']);
  lremovexattr(f, 'user.a');
  assert.deepEqual(llistxattr(f), ['trusted.b']);
  symlinkSync(f, join(dir, 'link'));
  assert.equal(lgetxattr(join(dir, 'link'), 'trusted.b'), null);
  lsetxattr(join(dir, 'link'), 'trusted.onlink', Buffer.from('1'));
  assert.equal(lgetxattr(f, 'trusted.onlink'), null);
  assert.throws(() => lsetxattr(join(dir, 'nope'), 'user.a', Buffer.from('1')), { code: 'ENOENT', syscall: 'lsetxattr' });
});

test('mount and umount2 a bind mount; mountinfo sees it', needsRoot('mount(2)'), (t) => {
  const dir = tempDir(t);
  const src = join(dir, 'src');
  const mnt = join(dir, 'mnt');
  mkdirSync(src);
  mkdirSync(mnt);
  writeFileSync(join(src, 'f'), 'data');
  mount(src, mnt, null, MS_BIND, null);
  assert.ok(isMountPoint(mnt));
  assert.equal(readFileSync(join(mnt, 'f'), 'utf8'), 'data');
  mount(null, mnt, null, MS_BIND | MS_REMOUNT | MS_RDONLY, null);
  assert.throws(() => writeFileSync(join(mnt, 'g'), 'x'), { code: 'EROFS' });
  umount2(mnt, 0);
  assert.ok(!isMountPoint(mnt));
  assert.throws(() => umount2(mnt, 0), { code: 'EINVAL', syscall: 'umount2' });
  assert.throws(() => mount('none', join(dir, 'missing'), 'tmpfs', 0, null), { code: 'ENOENT' });
});

test('statx tells mount roots (a bind mount of a subdirectory, of a file) as mountinfo does; umount2Async unmounts and reports errno', needsRoot('mount(2)'), async (t) => {
  const dir = tempDir(t);
  const sub = join(dir, 'src', 'sub');
  const mnt = join(dir, 'mnt');
  const file = join(dir, 'file');
  const fileMnt = join(dir, 'file-mnt');
  mkdirSync(sub, { recursive: true });
  mkdirSync(mnt);
  writeFileSync(file, 'f');
  writeFileSync(fileMnt, '');
  symlinkSync(mnt, join(dir, 'link'));
  mount(sub, mnt, null, MS_BIND, null); // koffi is loaded from here on
  mount(file, fileMnt, null, MS_BIND, null);
  const inMountInfo = (p: string) => readMountInfo().some((m) => m.mountPoint === p);
  try {
    for (const [p, want] of [[mnt, true], [fileMnt, true], [sub, false], [dir, false], [join(dir, 'link'), false], [join(dir, 'missing'), false], [join(file, 'x'), false]] as const) {
      assert.equal(mountRootIfLoaded(p), want, p);
      assert.equal(inMountInfo(p), want, p);
      assert.equal(isMountPoint(p), want, p);
    }
  } finally {
    umount2(fileMnt, MNT_DETACH);
  }
  await umount2Async(mnt, 0);
  assert.equal(mountRootIfLoaded(mnt), false);
  await assert.rejects(umount2Async(mnt, 0), { code: 'EINVAL', syscall: 'umount2' });
  await assert.rejects(umount2Async(join(dir, 'missing'), 0), { code: 'ENOENT' });
});

test('mountFrom resolves relative overlay paths against its cwd', needsRoot('mount(2) of an overlay'), async (t) => {
  const dir = tempDir(t);
  for (const d of ['lower', 'upper', 'work', 'mnt']) mkdirSync(join(dir, d));
  writeFileSync(join(dir, 'lower', 'f'), 'low');
  await mountFrom(dir, 'overlay', join(dir, 'mnt'), 'overlay', 0, 'lowerdir=lower,upperdir=upper,workdir=work');
  assert.equal(readFileSync(join(dir, 'mnt', 'f'), 'utf8'), 'low');
  umount2(join(dir, 'mnt'), 0);
  await assert.rejects(
    mountFrom(dir, 'overlay', join(dir, 'mnt'), 'overlay', 0, 'lowerdir=nope,upperdir=upper,workdir=work'),
    { code: 'ENOENT', syscall: 'mount' },
  );
});

test('parseMountInfo unescapes octal sequences', () => {
  const [m] = parseMountInfo('36 35 98:0 /mnt1 /mnt\\040two rw,noatime master:1 - ext3 /dev/root rw,errors=continue\n');
  assert.equal(m?.mountPoint, '/mnt two');
  assert.equal(m?.fsType, 'ext3');
  assert.equal(m?.source, '/dev/root');
  assert.equal(m?.root, '/mnt1');
});

test('syncfs flushes an open fd and reports a bad one', () => {
  const fd = openSync('/tmp', 'r');
  try {
    syncfs(fd);
  } finally {
    closeSync(fd);
  }
  assert.throws(() => syncfs(999_999), { code: 'EBADF', syscall: 'syncfs' });
});

test('syncfsAsync flushes a filesystem on a pool thread and rejects a bad descriptor', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'berth-syncfs-'));
  const fd = openSync(dir, 'r');
  try {
    await syncfsAsync(fd);
  } finally {
    closeSync(fd);
    rmSync(dir, { recursive: true, force: true });
  }
  await assert.rejects(syncfsAsync(987654), /syncfs.*EBADF/);
});
