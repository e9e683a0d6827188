import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { existsSync, lstatSync, mkdirSync, mkdtempSync, readFileSync, readdirSync, readlinkSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Readable } from 'node:stream';
import { gzipSync } from 'node:zlib';
import { BerthError, invalidArgument, type asDigest } from '../common';
import { needsRoot } from '../common/test-root';
import { lgetxattr } from '../sys';
import { applyLayer } from './layer-apply';
import { makeTar, padBlock, paxRecord, rawHeader } from './tar-fixtures';

interface Dirs {
  dest: string;
  outside: string;
}

function dirs(t: { after(fn: () => void): void }): Dirs {
  const base = mkdtempSync(join(tmpdir(), 'berth-apply-'));
  t.after(() => rmSync(base, { recursive: true, force: true }));
  const dest = join(base, 'dest');
  const outside = join(base, 'outside');
  mkdirSync(dest);
  mkdirSync(outside);
  writeFileSync(join(outside, 'target'), 'original', { mode: 0o644 });
  return { dest, outside };
}

const apply = (tar: Buffer, dest: string) => applyLayer(Readable.from([tar]), dest);

/** The host side of an escape attempt must be exactly as the test left it. */
function assertOutsideUntouched(outside: string): void {
  assert.deepEqual(readdirSync(outside), ['target']);
  assert.equal(readFileSync(join(outside, 'target'), 'utf8'), 'original');
}

async function rejectsInvalid(p: Promise<unknown>, re: RegExp): Promise<void> {
  await assert.rejects(p, (e: unknown) => {
    assert.ok(e instanceof BerthError, `expected BerthError, got ${String(e)}`);
    assert.equal(e.kind, 'invalid-argument');
    assert.match(e.message, re);
    return true;
  });
}

test('full fidelity: types, owners, modes, times, xattrs; diffID is sha256 of the tar', needsRoot('applying a layer sets owners (lchown), device nodes and trusted.* xattrs'), async (t) => {
  const { dest } = dirs(t);
  const tar = await makeTar([
    { name: './', type: 'directory', mode: 0o755 },
    { name: 'bin/', type: 'directory', mode: 0o755, mtime: new Date(1_500_000_000_000) },
    { name: 'bin/su', data: 'suid', mode: 0o4755, uid: 1000, gid: 1001 },
    { name: 'bin/sg', data: 'sgid', mode: 0o2711 },
    { name: 'tmp/', type: 'directory', mode: 0o1777 },
    { name: 'bin/sh', type: 'symlink', linkname: '/bin/busybox', uid: 7, gid: 8 },
    { name: 'bin/su-again', type: 'link', linkname: 'bin/su' },
    { name: 'dev/null', type: 'character-device', devmajor: 1, devminor: 3, mode: 0o666 },
    { name: 'dev/sda', type: 'block-device', devmajor: 8, devminor: 0, mode: 0o660 },
    { name: 'run/fifo', type: 'fifo', mode: 0o600 },
    { name: 'etc/x', data: 'x', pax: { 'SCHILY.xattr.user.comment': 'hello', 'SCHILY.xattr.trusted.t': 'tv' } },
    { name: 'big', data: Buffer.alloc(3 * 65536 + 17, 7) },
  ]);
  const result = await apply(tar, dest);
  assert.equal(result.diffID, `sha256:${createHash('sha256').update(tar).digest('hex')}`);
  // The files' bytes, not the tar's (dockerd's layer size).
  assert.equal(result.size, 4 + 4 + 1 + 3 * 65536 + 17);

  const su = lstatSync(join(dest, 'bin/su'));
  assert.equal(su.mode & 0o7777, 0o4755);
  assert.equal(su.uid, 1000);
  assert.equal(su.gid, 1001);
  assert.equal(su.nlink, 2);
  assert.equal(lstatSync(join(dest, 'bin/su-again')).ino, su.ino);
  assert.equal(readFileSync(join(dest, 'bin/su'), 'utf8'), 'suid');
  assert.equal(su.mtimeMs, 1_600_000_000_000);
  assert.equal(lstatSync(join(dest, 'bin/sg')).mode & 0o7777, 0o2711);
  assert.equal(lstatSync(join(dest, 'tmp')).mode & 0o7777, 0o1777);
  assert.equal(statSync(join(dest, 'bin')).mtimeMs, 1_500_000_000_000, 'dir mtime set after its contents');
  assert.equal(readlinkSync(join(dest, 'bin/sh')), '/bin/busybox');
  assert.equal(lstatSync(join(dest, 'bin/sh')).uid, 7);
  assert.ok(!existsSync(join(dest, 'dev/null')) && !existsSync(join(dest, 'dev/sda')), 'device nodes are skipped');
  assert.ok(lstatSync(join(dest, 'run/fifo')).isFIFO());
  assert.deepEqual(lgetxattr(join(dest, 'etc/x'), 'user.comment'), Buffer.from('hello'));
  assert.deepEqual(lgetxattr(join(dest, 'etc/x'), 'trusted.t'), Buffer.from('tv'));
  assert.deepEqual(readFileSync(join(dest, 'big')), Buffer.alloc(3 * 65536 + 17, 7));
  assert.equal(lstatSync(dest).mode & 0o7777, 0o755);
});

test('binary PAX xattr values (security.capability) keep their raw bytes', needsRoot('applying a layer sets owners (lchown), device nodes and trusted.* xattrs'), async (t) => {
  const { dest } = dirs(t);
  // Shaped like a v2 capability blob, with bytes above 0x7f that UTF-8 decoding would mangle.
  const value = Buffer.from([0x01, 0x00, 0x00, 0x02, 0x00, 0x20, 0x00, 0x00, 0xff, 0xfe, 0x80, 0x00, 0, 0, 0, 0, 0, 0, 0, 0]);
  const pax = paxRecord('SCHILY.xattr.trusted.bin', value);
  const tar = Buffer.concat([
    rawHeader('PaxHeaders/ping', 'x', pax.length),
    padBlock(pax),
    rawHeader('ping', '0', 4),
    padBlock(Buffer.from('ping')),
    Buffer.alloc(1024),
  ]);
  await apply(tar, dest);
  assert.equal(readFileSync(join(dest, 'ping'), 'utf8'), 'ping');
  assert.deepEqual(lgetxattr(join(dest, 'ping'), 'trusted.bin'), value);
});

test('gzip and zstd layers: same result and the diffID of the uncompressed tar', needsRoot('applying a layer sets owners (lchown), device nodes and trusted.* xattrs'), async (t) => {
  const tar = await makeTar([{ name: 'a/b', data: 'content' }]);
  const zst = spawnSync('zstd', ['-q', '-c'], { input: tar }).stdout as Buffer;
  assert.ok(zst.length > 0, 'the zstd CLI made the fixture');
  for (const packed of [gzipSync(tar), zst]) {
    const { dest } = dirs(t);
    // Split the stream oddly so the magic straddles chunks.
    const result = await applyLayer(Readable.from([packed.subarray(0, 1), packed.subarray(1, 5), packed.subarray(5)]), dest);
    assert.equal(result.diffID, `sha256:${createHash('sha256').update(tar).digest('hex')}`);
    assert.equal(result.size, 'content'.length);
    assert.equal(readFileSync(join(dest, 'a/b'), 'utf8'), 'content');
  }
});

test('whiteouts become overlay char devices; opaque markers become xattrs', needsRoot('applying a layer sets owners (lchown), device nodes and trusted.* xattrs'), async (t) => {
  const { dest } = dirs(t);
  const tar = await makeTar([
    { name: 'etc/', type: 'directory', mode: 0o755 },
    { name: 'etc/.wh.passwd', data: '' },
    { name: 'opq/', type: 'directory', mode: 0o755 },
    { name: 'opq/.wh..wh..opq', data: '' },
    { name: 'opq/kept', data: 'new' },
    { name: 'same', data: 'this layer' },
    { name: '.wh.same', data: '' },
    { name: '.wh..wh.plnk', type: 'directory' },
    { name: 'deep/er/.wh.x', data: '' },
    { name: 'implicit/file', data: 'kept' },
    { name: '.wh.implicit', data: '' },
  ]);
  await apply(tar, dest);
  const wh = lstatSync(join(dest, 'etc/passwd'));
  assert.ok(wh.isCharacterDevice());
  assert.equal(wh.rdev, 0);
  assert.ok(!existsSync(join(dest, 'etc/.wh.passwd')));
  assert.deepEqual(lgetxattr(join(dest, 'opq'), 'trusted.overlay.opaque'), Buffer.from('y'));
  assert.equal(readFileSync(join(dest, 'opq/kept'), 'utf8'), 'new');
  assert.deepEqual(readdirSync(join(dest, 'opq')), ['kept']);
  assert.equal(readFileSync(join(dest, 'same'), 'utf8'), 'this layer', 'a whiteout hides lower layers only');
  assert.ok(!existsSync(join(dest, '.wh..wh.plnk')));
  assert.ok(lstatSync(join(dest, 'deep/er/x')).isCharacterDevice());
  assert.equal(readFileSync(join(dest, 'implicit/file'), 'utf8'), 'kept', 'a parent made for this layer is not whited out');
});

test('later entries replace earlier ones; a dir over a dir keeps its contents', needsRoot('applying a layer sets owners (lchown), device nodes and trusted.* xattrs'), async (t) => {
  const { dest } = dirs(t);
  const tar = await makeTar([
    { name: 'd/', type: 'directory', mode: 0o700 },
    { name: 'd/child', data: 'kept' },
    { name: 'd/', type: 'directory', mode: 0o750, mtime: new Date(1_400_000_000_000) },
    { name: 'f/', type: 'directory' },
    { name: 'f/inner', data: 'gone' },
    { name: 'f', data: 'file over dir' },
    { name: 'g', data: 'file' },
    { name: 'g/', type: 'directory', mode: 0o711 },
    { name: 's', data: 'file' },
    { name: 's', type: 'symlink', linkname: 'elsewhere' },
  ]);
  await apply(tar, dest);
  assert.equal(readFileSync(join(dest, 'd/child'), 'utf8'), 'kept');
  assert.equal(lstatSync(join(dest, 'd')).mode & 0o7777, 0o750);
  assert.equal(lstatSync(join(dest, 'd')).mtimeMs, 1_400_000_000_000, 'the later entry of a repeated dir sets its times');
  assert.equal(readFileSync(join(dest, 'f'), 'utf8'), 'file over dir');
  assert.ok(lstatSync(join(dest, 'g')).isDirectory());
  assert.equal(readlinkSync(join(dest, 's')), 'elsewhere');
});

test('small files made while the next entries are read: every one complete, repeats in tar order, a failure fails the apply', needsRoot('applying a layer sets owners (lchown), device nodes and trusted.* xattrs'), async (t) => {
  const { dest } = dirs(t);
  const entries: Parameters<typeof makeTar>[0] = [];
  for (let i = 0; i < 300; i++) entries.push({ name: `d${i % 3}/f${i}`, data: Buffer.alloc(1000 + i, i), mode: 0o4750, uid: 100 + i, gid: 7, mtime: new Date(1_600_000_000_000 + i * 1000) });
  entries.push({ name: 'd0/f0', data: 'second copy' });
  entries.push({ name: 'd1/f1', data: 'then a link' }, { name: 'd1/f1-link', type: 'link', linkname: 'd1/f1' });
  entries.push({ name: 'd2/f2/', type: 'directory' });
  // A file over a directory whose files are still being made.
  entries.push({ name: 'over/a', data: 'a' }, { name: 'over/b', data: 'b' }, { name: 'over', data: 'a file now' });
  entries.push({ name: 'd0/.wh.f3', data: '' });
  await apply(await makeTar(entries), dest);
  for (let i = 4; i < 300; i++) {
    const p = join(dest, `d${i % 3}/f${i}`);
    const st = lstatSync(p);
    assert.deepEqual(readFileSync(p), Buffer.alloc(1000 + i, i), p);
    assert.equal(st.mode & 0o7777, 0o4750, `${p}: setuid kept (mode set after the owner)`);
    assert.equal(st.uid, 100 + i);
    assert.equal(st.mtimeMs, 1_600_000_000_000 + i * 1000);
  }
  assert.equal(readFileSync(join(dest, 'd0/f0'), 'utf8'), 'second copy');
  assert.equal(lstatSync(join(dest, 'd1/f1-link')).ino, lstatSync(join(dest, 'd1/f1')).ino);
  assert.ok(lstatSync(join(dest, 'd2/f2')).isDirectory());
  assert.equal(readFileSync(join(dest, 'over'), 'utf8'), 'a file now');
  assert.deepEqual(readFileSync(join(dest, 'd0/f3')), Buffer.alloc(1003, 3), 'a whiteout leaves what this layer made');

  // A path through a file still being made is refused as it is without files in flight.
  const through = dirs(t);
  await rejectsInvalid(apply(await makeTar([{ name: 'f', data: 'x' }, { name: 'f/g', data: 'y' }]), through.dest), /goes through "f", which is not a directory/);

  // An xattr the file system refuses fails the background write, and with it the apply.
  const bad = dirs(t);
  const failing = await makeTar([
    ...Array.from({ length: 20 }, (_, i) => ({ name: `f${i}`, data: 'x' })),
    { name: 'bad', data: 'x', pax: { 'SCHILY.xattr.nosuchnamespace.x': 'v' } },
    ...Array.from({ length: 20 }, (_, i) => ({ name: `g${i}`, data: 'x' })),
  ]);
  await assert.rejects(apply(failing, bad.dest), (e: unknown) => e instanceof BerthError && e.kind === 'internal');
});

test('../ escape is refused and nothing outside dest changes', async (t) => {
  const { dest, outside } = dirs(t);
  const tar = await makeTar([{ name: '../outside/target', data: 'pwned' }]);
  await rejectsInvalid(apply(tar, dest), /escapes the layer root/);
  await rejectsInvalid(apply(await makeTar([{ name: 'a/../../outside/new', data: 'x' }]), dest), /escapes/);
  assertOutsideUntouched(outside);
});

test('absolute paths are taken relative to dest', needsRoot('applying a layer sets owners (lchown), device nodes and trusted.* xattrs'), async (t) => {
  const { dest, outside } = dirs(t);
  const tar = await makeTar([{ name: `${outside}/target`, data: 'pwned' }, { name: `/${outside}/new`, data: 'x' }]);
  await apply(tar, dest);
  assertOutsideUntouched(outside);
  assert.equal(readFileSync(join(dest, outside, 'target'), 'utf8'), 'pwned');
});

test('a symlink parent is resolved inside dest, never written through', needsRoot('applying a layer sets owners (lchown), device nodes and trusted.* xattrs'), async (t) => {
  const { dest, outside } = dirs(t);
  const tar = await makeTar([
    { name: 'a', type: 'symlink', linkname: outside },
    { name: 'a/evil', data: 'pwned' },
    { name: 'a/target', data: 'pwned' },
    { name: 'up', type: 'symlink', linkname: '../../../../../..' },
    { name: 'up/evil2', data: 'pwned' },
    { name: 'loop', type: 'symlink', linkname: 'loop' },
  ]);
  await apply(tar, dest);
  assertOutsideUntouched(outside);
  assert.equal(readFileSync(join(dest, outside, 'evil'), 'utf8'), 'pwned');
  assert.equal(readFileSync(join(dest, 'evil2'), 'utf8'), 'pwned');
  await rejectsInvalid(apply(await makeTar([{ name: 'loop/x', data: 'x' }]), dest), /too many levels of symbolic links/);
  assertOutsideUntouched(outside);
});

test('an existing symlink at the final component is replaced, not followed', needsRoot('applying a layer sets owners (lchown), device nodes and trusted.* xattrs'), async (t) => {
  const { dest, outside } = dirs(t);
  const tar = await makeTar([
    { name: 'f', type: 'symlink', linkname: join(outside, 'target') },
    { name: 'f', data: 'pwned', mode: 0o777 },
    { name: 'd', type: 'symlink', linkname: outside },
    { name: 'd/', type: 'directory', mode: 0o777 },
    { name: 'n', type: 'symlink', linkname: join(outside, 'target') },
    { name: 'n', type: 'fifo' },
    { name: 'x', type: 'symlink', linkname: join(outside, 'target') },
    { name: 'x', type: 'symlink', linkname: join(outside, 'target'), mode: 0o777, uid: 5 },
  ]);
  const before = statSync(outside);
  await apply(tar, dest);
  assertOutsideUntouched(outside);
  assert.equal(statSync(outside).mode, before.mode);
  assert.equal(statSync(join(outside, 'target')).mode & 0o777, 0o644);
  assert.equal(readFileSync(join(dest, 'f'), 'utf8'), 'pwned');
  assert.ok(lstatSync(join(dest, 'd')).isDirectory());
  assert.ok(lstatSync(join(dest, 'n')).isFIFO());
  assert.equal(statSync(join(outside, 'target')).uid, 0);
});

test('hardlinks outside dest or to missing targets are refused', needsRoot('applying a layer sets owners (lchown), device nodes and trusted.* xattrs'), async (t) => {
  const { dest, outside } = dirs(t);
  const passwd = statSync('/etc/passwd');
  await rejectsInvalid(apply(await makeTar([{ name: 'p', type: 'link', linkname: '/etc/passwd' }]), dest), /does not contain/);
  await rejectsInvalid(apply(await makeTar([{ name: 'p', type: 'link', linkname: '../outside/target' }]), dest), /escapes/);
  await rejectsInvalid(
    apply(await makeTar([{ name: 'e', type: 'symlink', linkname: '/etc' }, { name: 'p', type: 'link', linkname: 'e/passwd' }]), dest),
    /does not contain/,
  );
  // A hardlink to a symlink links the symlink itself; replacing it then writes nothing outside.
  await apply(
    await makeTar([
      { name: 'o', type: 'symlink', linkname: join(outside, 'target') },
      { name: 'p2', type: 'link', linkname: 'o' },
      { name: 'p2', data: 'x' },
    ]),
    dest,
  );
  assert.equal(readFileSync(join(dest, 'p2'), 'utf8'), 'x');
  assert.equal(statSync('/etc/passwd').nlink, passwd.nlink);
  assert.equal(statSync('/etc/passwd').ino, passwd.ino);
  assertOutsideUntouched(outside);
});

test('truncated or corrupt tars reject with invalid-argument', async (t) => {
  const { dest } = dirs(t);
  const tar = await makeTar([{ name: 'a', data: Buffer.alloc(5000, 1) }, { name: 'b', data: 'b' }]);
  await rejectsInvalid(apply(tar.subarray(0, 2000), dest), /layer tar is truncated or corrupt/);
  await rejectsInvalid(apply(tar.subarray(0, 700), dest), /layer tar is truncated or corrupt/);
  const garbage = Buffer.alloc(1024, 0x41);
  await rejectsInvalid(apply(garbage, dest), /layer tar is truncated or corrupt/);
  const gz = gzipSync(tar);
  await rejectsInvalid(apply(gz.subarray(0, gz.length - 30), dest), /gzip data is corrupt or truncated/);
  await rejectsInvalid(apply(Buffer.from([0x28, 0xb5, 0x2f, 0xfd, 0, 0]), dest), /zstd data is corrupt/);
});

test('absurd names are refused', async (t) => {
  const { dest } = dirs(t);
  await rejectsInvalid(apply(await makeTar([{ name: `${'d/'.repeat(2100)}f`, data: 'x' }]), dest), /longer than 4096 bytes/);
  await rejectsInvalid(apply(await makeTar([{ name: `${'n'.repeat(300)}`, data: 'x' }]), dest), /over 255 bytes/);
  await rejectsInvalid(apply(await makeTar([{ name: 'x', type: 'symlink', linkname: 'l'.repeat(5000) }]), dest), /invalid target/);
});

test('an input stream failure is reported as internal with its cause', async (t) => {
  const { dest } = dirs(t);
  const tar = await makeTar([{ name: 'a', data: 'x' }]);
  const failing = new Readable({
    read() {
      this.push(tar.subarray(0, 512));
      this.destroy(new Error('connection reset'));
    },
  });
  await assert.rejects(applyLayer(failing, dest), (e: unknown) => {
    assert.ok(e instanceof BerthError);
    assert.equal(e.kind, 'internal');
    assert.match(e.message, /connection reset/);
    return true;
  });
});

test('an empty stream is an empty layer', async (t) => {
  const { dest } = dirs(t);
  const r = await apply(Buffer.alloc(0), dest);
  assert.equal(r.size, 0);
  assert.equal(r.diffID, `sha256:${createHash('sha256').digest('hex')}`);
});

test('a refused entry stops reading and releases an endless input', async (t) => {
  const { dest } = dirs(t);
  const head = await makeTar([{ name: '../escape', data: 'x' }]);
  let sent = false;
  const endless = new Readable({
    read() {
      this.push(sent ? Buffer.alloc(65536) : head.subarray(0, 1024));
      sent = true;
    },
  });
  await rejectsInvalid(applyLayer(endless, dest), /escapes the layer root/);
  assert.ok(endless.destroyed);
});

test('device nodes are skipped, a char device 0:0 is a whiteout, fifos stay', needsRoot('applying a layer sets owners (lchown), device nodes and trusted.* xattrs'), async (t) => {
  const { dest, outside } = dirs(t);
  const tar = await makeTar([
    { name: 'dev/mem', type: 'character-device', devmajor: 1, devminor: 1, mode: 0o666 },
    { name: 'dev/sda', type: 'block-device', devmajor: 8, devminor: 0, mode: 0o666 },
    { name: 'gone', type: 'character-device', devmajor: 0, devminor: 0 },
    { name: 'pipe', type: 'fifo', mode: 0o620 },
    { name: 'after', data: 'still applied' },
  ]);
  await apply(tar, dest);
  assert.ok(!existsSync(join(dest, 'dev/mem')));
  assert.ok(!existsSync(join(dest, 'dev/sda')));
  const wh = lstatSync(join(dest, 'gone'));
  assert.ok(wh.isCharacterDevice() && wh.rdev === 0);
  assert.ok(lstatSync(join(dest, 'pipe')).isFIFO());
  assert.equal(lstatSync(join(dest, 'pipe')).mode & 0o7777, 0o620);
  assert.equal(readFileSync(join(dest, 'after'), 'utf8'), 'still applied');
  assertOutsideUntouched(outside);
});

test('idShift: owners are shifted on disk (user-namespace remapping); an id it cannot map fails the apply', needsRoot('applying a layer sets owners (lchown), device nodes and trusted.* xattrs'), async (t) => {
  const { dest } = dirs(t);
  const shift = ({ uid, gid }: { uid: number; gid: number }) => {
    if (uid > 65535 || gid > 65535) throw new BerthError('invalid-argument', `container uid ${uid} cannot be mapped to a host uid`);
    return { uid: uid + 100000, gid: gid + 200000 };
  };
  const tar = await makeTar([
    { name: 'etc/', type: 'directory', mode: 0o755 },
    { name: 'etc/passwd', data: 'root', uid: 0, gid: 0, mode: 0o4755 },
    { name: 'home/u', data: 'u', uid: 1000, gid: 1001 },
    { name: 'etc/link', type: 'symlink', linkname: 'passwd', uid: 7, gid: 8 },
    { name: 'etc/.wh.gone', data: '', uid: 0, gid: 0 },
  ]);
  await applyLayer(Readable.from([tar]), dest, { idShift: shift });
  const own = (p: string) => [lstatSync(join(dest, p)).uid, lstatSync(join(dest, p)).gid];
  assert.deepEqual(own('etc'), [100000, 200000]);
  assert.deepEqual(own('etc/passwd'), [100000, 200000]);
  assert.equal(statSync(join(dest, 'etc/passwd')).mode & 0o7777, 0o4755, 'setuid survives the chown');
  assert.deepEqual(own('home/u'), [101000, 201001]);
  assert.deepEqual(own('etc/link'), [100007, 200008]);
  assert.deepEqual(own('etc/gone'), [100000, 200000]);

  const other = join(dest, '..', 'second');
  mkdirSync(other);
  await rejectsInvalid(applyLayer(Readable.from([await makeTar([{ name: 'big', data: 'x', uid: 70000 }])]), other, { idShift: shift }), /uid 70000 cannot be mapped/);
});

test('inputDigest: a plain tar takes the caller\'s digest without hashing; gzip is hashed; a rejected digest fails the apply', needsRoot('applying a layer sets owners (lchown), device nodes and trusted.* xattrs'), async (t) => {
  const tar = await makeTar([{ name: 'big.bin', data: Buffer.alloc(5 << 20, 7) }, { name: 'small', data: 's' }]);
  const { dest } = dirs(t);
  // A digest that is not the tar's own proves the apply used it instead of hashing.
  const given = `sha256:${'ab'.repeat(32)}` as ReturnType<typeof asDigest>;
  const r = await applyLayer(Readable.from([tar]), dest, { inputDigest: Promise.resolve(given) });
  assert.equal(r.diffID, given);
  assert.equal(r.size, (5 << 20) + 1);
  // The big file went through the background flush and is complete.
  assert.equal(statSync(join(dest, 'big.bin')).size, 5 << 20);
  assert.equal(readFileSync(join(dest, 'small'), 'utf8'), 's');

  const gzDest = join(dest, '..', 'gz');
  mkdirSync(gzDest);
  const gz = await applyLayer(Readable.from([gzipSync(tar)]), gzDest, { inputDigest: Promise.resolve(given) });
  assert.equal(gz.diffID, `sha256:${createHash('sha256').update(tar).digest('hex')}`);

  const badDest = join(dest, '..', 'bad');
  mkdirSync(badDest);
  await rejectsInvalid(
    applyLayer(Readable.from([tar]), badDest, { inputDigest: Promise.reject(invalidArgument('content digest mismatch: test')) }),
    /digest mismatch/,
  );
});
