import { test } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { errorKind } from '../common';
import { resolveInRootSync } from '../sys';
import { resolveUser } from './user';

const PASSWD = [
  'root:x:0:0:root:/root:/bin/sh',
  'daemon:x:1:1:daemon:/usr/sbin:/usr/sbin/nologin',
  'app:x:1000:1000:App:/home/app:/bin/sh',
  'nohome:x:1001:1001::::',
  'broken:x:notanumber:0::/:/bin/sh',
  '',
].join('\n');
const GROUP = [
  'root:x:0:',
  'wheel:x:10:root,app',
  'app:x:1000:',
  'staff:x:50:app, daemon',
  'video:x:44:app',
  '',
].join('\n');

/** One temp rootfs per test, removed afterwards. */
function withRootfs(t: { after: (fn: () => void) => void }, files: Record<string, string> = {}): string {
  const dir = mkdtempSync(join(tmpdir(), 'berth-user-'));
  const rootfs = join(dir, 'rootfs');
  mkdirSync(join(rootfs, 'etc'), { recursive: true });
  for (const [p, body] of Object.entries(files)) writeFileSync(join(rootfs, p), body);
  t.after(() => rmSync(dir, { recursive: true, force: true }));
  return rootfs;
}

const fake = (t: Parameters<typeof withRootfs>[0]) =>
  withRootfs(t, { 'etc/passwd': PASSWD, 'etc/group': GROUP });

test("'' is root with root's home and root's supplementary groups", (t) => {
  assert.deepEqual(resolveUser(fake(t), ''), { uid: 0, gid: 0, additionalGids: [10], home: '/root' });
});

test('a name gives its uid, gid, home and the groups listing it', (t) => {
  assert.deepEqual(resolveUser(fake(t), 'app'), { uid: 1000, gid: 1000, additionalGids: [10, 50, 44], home: '/home/app' });
  assert.deepEqual(resolveUser(fake(t), 'daemon'), { uid: 1, gid: 1, additionalGids: [50], home: '/usr/sbin' });
  assert.equal(resolveUser(fake(t), 'nohome').home, '/');
});

test('a numeric uid found in passwd behaves like its name', (t) => {
  assert.deepEqual(resolveUser(fake(t), '1000'), { uid: 1000, gid: 1000, additionalGids: [10, 50, 44], home: '/home/app' });
});

test('a numeric uid absent from passwd is taken as is with gid 0', (t) => {
  assert.deepEqual(resolveUser(fake(t), '4242'), { uid: 4242, gid: 0, additionalGids: [], home: '/' });
});

test('name:group, uid:gid, uid:groupname, name:gid; no supplementary groups when a group is given', (t) => {
  const r = fake(t);
  assert.deepEqual(resolveUser(r, 'app:video'), { uid: 1000, gid: 44, additionalGids: [], home: '/home/app' });
  assert.deepEqual(resolveUser(r, '4242:4343'), { uid: 4242, gid: 4343, additionalGids: [], home: '/' });
  assert.deepEqual(resolveUser(r, '4242:staff'), { uid: 4242, gid: 50, additionalGids: [], home: '/' });
  assert.deepEqual(resolveUser(r, 'app:0'), { uid: 1000, gid: 0, additionalGids: [], home: '/home/app' });
  assert.deepEqual(resolveUser(r, 'app:'), resolveUser(r, 'app'));
});

test('unknown names are invalid-argument with Docker wording', (t) => {
  const r = fake(t);
  assert.throws(
    () => resolveUser(r, 'nobody'),
    (e: unknown) =>
      errorKind(e) === 'invalid-argument' &&
      (e as Error).message === 'unable to find user nobody: no matching entries in passwd file',
  );
  assert.throws(() => resolveUser(r, 'app:nogroup'), /^BerthError: unable to find group nogroup: no matching entries in group file$/);
  assert.throws(() => resolveUser(r, 'broken'), /unable to find user broken/);
});

test('out-of-range ids are refused', (t) => {
  const r = fake(t);
  assert.throws(() => resolveUser(r, '-1'), /must be in range 0-2147483647/);
  assert.throws(() => resolveUser(r, '2147483648'), /must be in range/);
  assert.throws(() => resolveUser(r, '0:99999999999'), /must be in range/);
});

test('missing passwd and group files are fine for numeric ids, not for names', (t) => {
  const r = withRootfs(t);
  assert.deepEqual(resolveUser(r, ''), { uid: 0, gid: 0, additionalGids: [], home: '/' });
  assert.deepEqual(resolveUser(r, '5:6'), { uid: 5, gid: 6, additionalGids: [], home: '/' });
  assert.throws(() => resolveUser(r, 'app'), /unable to find user app: no matching entries in passwd file/);
  assert.throws(() => resolveUser(r, '5:grp'), /unable to find group grp/);
});

test('an absolute symlink /etc/passwd pointing outside resolves inside the rootfs', (t) => {
  const r = withRootfs(t, { 'etc/group': GROUP });
  const outside = join(r, '..', 'host-passwd');
  writeFileSync(outside, 'evil:x:0:0::/root:/bin/sh\n');
  symlinkSync(outside, join(r, 'etc/passwd'));
  // The host file is not read: "evil" is unknown; nothing exists at that path in the rootfs.
  assert.throws(() => resolveUser(r, 'evil'), /unable to find user evil/);
  // And the same path inside the rootfs is what gets read.
  mkdirSync(join(r, outside, '..'), { recursive: true });
  writeFileSync(join(r, outside), 'inside:x:7:8::/in:/bin/sh\n');
  assert.deepEqual(resolveUser(r, 'inside'), { uid: 7, gid: 8, additionalGids: [], home: '/in' });
});

test('a relative ../../ symlink cannot climb out of the rootfs', (t) => {
  const r = withRootfs(t);
  writeFileSync(join(r, '..', 'passwd'), 'evil:x:0:0::/root:/bin/sh\n');
  symlinkSync('../../passwd', join(r, 'etc/passwd'));
  assert.equal(resolveInRootSync(r, '/etc/passwd'), join(r, 'passwd'));
  assert.throws(() => resolveUser(r, 'evil'), /unable to find user evil/);
});

test('symlink loops and non-regular files are handled', (t) => {
  const r = withRootfs(t);
  symlinkSync('/etc/group', join(r, 'etc/passwd'));
  symlinkSync('/etc/passwd', join(r, 'etc/group'));
  assert.throws(() => resolveUser(r, 'x'), /too many levels of symbolic links/);

  const r2 = withRootfs(t);
  execFileSync('mkfifo', [join(r2, 'etc/passwd')]);
  mkdirSync(join(r2, 'etc/group'));
  // A FIFO must not block; a directory is treated as absent.
  assert.deepEqual(resolveUser(r2, '3:4'), { uid: 3, gid: 4, additionalGids: [], home: '/' });
});

test('a symlinked /etc directory is followed within the rootfs', (t) => {
  const r = withRootfs(t);
  rmSync(join(r, 'etc'), { recursive: true });
  mkdirSync(join(r, 'real-etc'));
  writeFileSync(join(r, 'real-etc/passwd'), PASSWD);
  symlinkSync('/real-etc', join(r, 'etc'));
  assert.equal(resolveUser(r, 'app').uid, 1000);
});

test('passwd is read whole whatever its size below 4 MiB; at 4 MiB it is refused', (t) => {
  // A long file (far past any first guess of its size) whose last line is the one asked for.
  const filler = Array.from({ length: 40_000 }, (_, i) => `u${i}:x:${20_000 + i}:${20_000 + i}::/:/bin/sh`).join('\n');
  const long = withRootfs(t, { 'etc/passwd': `${filler}\nlast:x:4242:4343::/home/last:/bin/sh\n`, 'etc/group': GROUP });
  const u = resolveUser(long, 'last');
  assert.equal(u.uid, 4242);
  assert.equal(u.gid, 4343);
  const huge = withRootfs(t, { 'etc/passwd': 'x'.repeat(4 * 1024 * 1024), 'etc/group': GROUP });
  assert.throws(() => resolveUser(huge, 'root'), (e: unknown) => errorKind(e) === 'invalid-argument' && /larger than 4194304 bytes/.test(String(e)));
});
