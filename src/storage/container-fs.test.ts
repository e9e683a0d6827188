import { randomBytes } from 'node:crypto';
import { gzipSync } from 'node:zlib';
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { lstatSync, mkdirSync, mkdtempSync, readFileSync, readdirSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Readable } from 'node:stream';
import * as tarStream from 'tar-stream';
import { BerthError } from '../common';
import { needsRoot } from '../common/test-root';
import { ContainerFs, dockerBase, goFileMode } from './container-fs';
import { makeTar, rawHeader } from './tar-fixtures';

/** A root filesystem, a volume mounted at /data, and a host directory outside both. */
function setup(t: { after(fn: () => void): void }) {
  const base = mkdtempSync(join(tmpdir(), 'berth-cfs-'));
  t.after(() => rmSync(base, { recursive: true, force: true }));
  const rootfs = join(base, 'rootfs');
  const volume = join(base, 'volume');
  const outside = join(base, 'outside');
  for (const d of [rootfs, join(rootfs, 'data'), join(rootfs, 'etc'), volume, outside]) mkdirSync(d, { recursive: true });
  writeFileSync(join(rootfs, 'etc', 'hostname'), 'inner\n');
  writeFileSync(join(outside, 'secret'), 'HOST\n');
  writeFileSync(join(volume, 'in-volume'), 'VOL\n');
  symlinkSync('/', join(rootfs, 'escape'));
  symlinkSync(join(outside, 'secret'), join(rootfs, 'abs'));
  symlinkSync('../../../../../../..', join(rootfs, 'up'));
  const fs = new ContainerFs(rootfs, [{ destination: '/data', source: volume, rw: true }]);
  return { base, rootfs, volume, outside, fs };
}

async function tarNames(stream: Readable): Promise<Record<string, string>> {
  const out: Record<string, string> = {};
  const ex = tarStream.extract();
  const done = (async () => {
    for await (const e of ex) {
      const chunks: Buffer[] = [];
      for await (const c of e) chunks.push(c as Buffer);
      out[e.header.name] = Buffer.concat(chunks).toString();
    }
  })();
  stream.pipe(ex);
  await done;
  return out;
}

test('resolve: symlinks stay inside the container; mount points map to their sources', async (t) => {
  const { fs, volume, rootfs } = setup(t);
  assert.equal(await fs.resolve('/escape/etc/hostname', false), '/etc/hostname');
  assert.equal(await fs.resolve('/up/etc', false), '/etc');
  assert.equal(await fs.resolve('/abs', false), '/abs');
  assert.match(await fs.resolve('/abs', true), /\/outside\/secret$/);
  assert.equal(fs.hostOf('/data/x').host, join(volume, 'x'));
  assert.equal(fs.hostOf('/etc/x').host, join(rootfs, 'etc', 'x'));
  // The link's target, read inside the container, does not exist there.
  assert.equal(await fs.stat('/abs/'), null);
});

test('stat and tar follow dockerd: names, the trailing /. and the Go file mode', async (t) => {
  const { fs, rootfs } = setup(t);
  const st = (await fs.stat('/etc'))!;
  assert.equal(st.name, 'etc');
  assert.equal(st.mode, goFileMode(lstatSync(join(rootfs, 'etc'))));
  assert.equal(st.mode, 2 ** 31 + (lstatSync(join(rootfs, 'etc')).mode & 0o777));
  const link = (await fs.stat('/escape'))!;
  assert.equal(link.linkTarget, '/');
  assert.equal(dockerBase('/a/b/.'), '.');
  assert.equal(dockerBase('/a/b/'), 'b');
  assert.equal(dockerBase('/'), '/');
  assert.deepEqual(Object.keys(await tarNames((await fs.tar('/etc'))!.stream)).sort(), ['etc/', 'etc/hostname']);
  assert.deepEqual(Object.keys(await tarNames((await fs.tar('/etc/.'))!.stream)).sort(), ['./', './hostname']);
  // The volume's content, not the empty mount point of the root filesystem.
  assert.deepEqual(await tarNames((await fs.tar('/data'))!.stream), { 'data/': '', 'data/in-volume': 'VOL\n' });
  assert.equal(await fs.tar('/missing'), null);
  await assert.rejects(fs.stat('/etc/hostname/'), /not a directory/);
});

test('extract: files land in place (volumes included) and nothing escapes the root', needsRoot('chown of extracted entries'), async (t) => {
  const { fs, rootfs, volume, outside } = setup(t);
  const tar = await makeTar([
    { name: 'new/', type: 'directory', mode: 0o755 },
    { name: 'new/file', data: 'hello' },
    { name: 'l', type: 'symlink', linkname: '/' },
    { name: `l${outside}/secret`, data: 'THROUGH' },
    { name: 'data/written', data: 'to the volume' },
  ]);
  await fs.extract(Readable.from([tar]), '/', { noOverwriteDirNonDir: false });
  assert.equal(readFileSync(join(rootfs, 'new', 'file'), 'utf8'), 'hello');
  assert.equal(readFileSync(join(volume, 'written'), 'utf8'), 'to the volume');
  assert.equal(readFileSync(join(rootfs, outside, 'secret'), 'utf8'), 'THROUGH');
  assert.equal(readFileSync(join(outside, 'secret'), 'utf8'), 'HOST\n');
  assert.deepEqual(readdirSync(rootfs).filter((n) => n.startsWith('.berth-cp-')), []);

  const climbing = await makeTar([{ name: '../../outside/secret', data: 'PWNED' }]);
  await assert.rejects(fs.extract(Readable.from([climbing]), '/etc', { noOverwriteDirNonDir: false }), (e: unknown) => e instanceof BerthError && e.kind === 'invalid-argument');
  assert.equal(readFileSync(join(outside, 'secret'), 'utf8'), 'HOST\n');

  const overDir = await makeTar([{ name: 'etc', data: 'a file' }]);
  await assert.rejects(fs.extract(Readable.from([overDir]), '/', { noOverwriteDirNonDir: true }), /cannot overwrite directory/);
  const overMount = await makeTar([{ name: 'data', data: 'a file' }]);
  await assert.rejects(fs.extract(Readable.from([overMount]), '/', { noOverwriteDirNonDir: false }), /mount point/);

  const ro = new ContainerFs(rootfs, [{ destination: '/data', source: volume, rw: false }], true);
  assert.equal(ro.writeRefusal('/data/x'), 'mounted volume is marked read-only');
  assert.equal(ro.writeRefusal('/etc/x'), 'container rootfs is marked read-only');
});

test('removeLeftovers removes only temporary names, in the directories named', async (t) => {
  const { fs, rootfs, volume } = setup(t);
  writeFileSync(join(rootfs, 'etc', '.berth-cp-abc'), 'half');
  writeFileSync(join(volume, '.berth-cp-def'), 'half');
  mkdirSync(join(rootfs, '.berth-cp-dir'));
  await fs.removeLeftovers(['/etc', '/data', '/', '/missing', 'relative']);
  assert.deepEqual(readdirSync(join(rootfs, 'etc')), ['hostname']);
  assert.deepEqual(readdirSync(volume), ['in-volume']);
  assert.ok(readdirSync(rootfs).includes('.berth-cp-dir'), 'a directory is never ours');
});

test('extract on the worker thread: big files whole, owners and modes, fifos, symlinks, hardlinks, the journal, userns shift', needsRoot('chown of extracted entries'), async (t) => {
  const { fs, rootfs, base } = setup(t);
  const big = randomBytes(3 * 1024 * 1024 + 17);
  const tar = await makeTar([
    { name: 'tree/', type: 'directory', mode: 0o750, uid: 7, gid: 8 },
    { name: 'tree/big', data: big, mode: 0o600, uid: 1000, gid: 1000 },
    { name: 'tree/fifo', type: 'fifo', mode: 0o640 },
    { name: 'tree/sym', type: 'symlink', linkname: '../etc/hostname' },
    { name: 'tree/hard', type: 'link', linkname: 'tree/big' },
    { name: '/absolute/name', data: 'absolute names land below the destination' },
  ]);
  const journal = join(base, 'journal');
  // In pieces of odd sizes, as a request body arrives.
  const pieces = [];
  for (let off = 0; off < tar.length; off += 70_001) pieces.push(tar.subarray(off, off + 70_001));
  await fs.extract(Readable.from(pieces), '/', { noOverwriteDirNonDir: false, journal, idMap: { uids: [{ containerID: 0, hostID: 100_000, size: 65_536 }], gids: [{ containerID: 0, hostID: 200_000, size: 65_536 }] } });
  assert.ok(readFileSync(join(rootfs, 'tree', 'big')).equals(big));
  const st = lstatSync(join(rootfs, 'tree', 'big'));
  assert.equal(st.mode & 0o7777, 0o600);
  assert.equal(st.uid, 101_000);
  assert.equal(st.gid, 201_000);
  assert.equal(st.mtimeMs, 1_600_000_000_000);
  assert.equal(lstatSync(join(rootfs, 'tree', 'hard')).ino, st.ino);
  assert.ok(lstatSync(join(rootfs, 'tree', 'fifo')).isFIFO());
  assert.equal(readFileSync(join(rootfs, 'tree', 'sym'), 'utf8'), 'inner\n');
  const dir = lstatSync(join(rootfs, 'tree'));
  assert.equal(dir.mode & 0o7777, 0o750);
  assert.equal(dir.uid, 100_007);
  assert.equal(dir.mtimeMs, 1_600_000_000_000, 'directory times are set after its entries');
  // A parent the copy made is the container's root's.
  assert.equal(lstatSync(join(rootfs, 'absolute')).uid, 100_000);
  assert.equal(readFileSync(join(rootfs, 'absolute', 'name'), 'utf8'), 'absolute names land below the destination');
  assert.deepEqual(readFileSync(journal, 'utf8').split('\n').filter(Boolean).sort(), ['/absolute', '/tree']);
  assert.deepEqual(readdirSync(join(rootfs, 'tree')).filter((n) => n.startsWith('.berth-cp-')), []);
});

test('extract on the worker thread: a hostile or broken archive fails as invalid-argument and leaves no half-made file', needsRoot('chown of extracted entries'), async (t) => {
  const { fs, rootfs, outside } = setup(t);
  const bad = (e: unknown) => e instanceof BerthError && e.kind === 'invalid-argument';
  // A good file, then a large one cut short: the first stays (as with dockerd), the second is nowhere.
  const whole = await makeTar([{ name: 'first', data: 'one' }, { name: 'second', data: randomBytes(2 * 1024 * 1024) }]);
  await assert.rejects(fs.extract(Readable.from([whole.subarray(0, 1024 * 1024)]), '/etc', { noOverwriteDirNonDir: false }), (e: unknown) => bad(e) && /truncated/.test((e as Error).message));
  assert.deepEqual(readdirSync(join(rootfs, 'etc')).sort(), ['first', 'hostname']);
  // A hardlink to a file outside the destination's root, and one climbing out.
  for (const linkname of ['../../outside/secret', `${outside}/secret`]) {
    const tar = await makeTar([{ name: 'h', type: 'link', linkname }]);
    await assert.rejects(fs.extract(Readable.from([tar]), '/etc', { noOverwriteDirNonDir: false }), bad);
  }
  // A symlink made by the archive, then a file written through it: stays in the container.
  const through = await makeTar([{ name: 'out', type: 'symlink', linkname: outside }, { name: 'out/secret', data: 'THROUGH' }]);
  await fs.extract(Readable.from([through]), '/', { noOverwriteDirNonDir: false });
  assert.equal(readFileSync(join(outside, 'secret'), 'utf8'), 'HOST\n');
  assert.equal(readFileSync(join(rootfs, outside, 'secret'), 'utf8'), 'THROUGH');
  // Not a tar at all; a name with a NUL byte; a gzip stream that is corrupt.
  await assert.rejects(fs.extract(Readable.from([Buffer.alloc(4096, 'z')]), '/', { noOverwriteDirNonDir: false }), bad);
  await assert.rejects(fs.extract(Readable.from([Buffer.concat([rawHeader('a\0b', '0', 0).fill(0x61, 1, 2)])]), '/', { noOverwriteDirNonDir: false }), bad);
  await assert.rejects(fs.extract(Readable.from([Buffer.from([0x1f, 0x8b, 8, 0, 0, 0, 0, 0, 0, 3, 1, 2, 3])]), '/', { noOverwriteDirNonDir: false }), bad);
  for (const d of ['/', '/etc']) assert.deepEqual(readdirSync(join(rootfs, d)).filter((n) => n.startsWith('.berth-cp-')), [], `no temporary names in ${d}`);
  // The worker is fine afterwards.
  await fs.extract(Readable.from([await makeTar([{ name: 'after', data: 'ok' }])]), '/', { noOverwriteDirNonDir: false });
  assert.equal(readFileSync(join(rootfs, 'after'), 'utf8'), 'ok');
});

test('extract: copies run side by side on their own workers', needsRoot('chown of extracted entries'), async (t) => {
  const { fs, rootfs } = setup(t);
  const tars = await Promise.all([0, 1, 2, 3].map((i) => makeTar(Array.from({ length: 50 }, (_, j) => ({ name: `p${i}/f${j}`, data: `${i}-${j}` })))));
  await Promise.all(tars.map((tar) => fs.extract(Readable.from([tar]), '/', { noOverwriteDirNonDir: false })));
  for (let i = 0; i < 4; i++) {
    assert.equal(readdirSync(join(rootfs, `p${i}`)).length, 50);
    assert.equal(readFileSync(join(rootfs, `p${i}`, 'f49'), 'utf8'), `${i}-49`);
  }
});

test('extract: a name the archive repeats inside a directory it made is replaced, or refused with noOverwriteDirNonDir', needsRoot('chown of extracted entries'), async (t) => {
  const { fs, rootfs } = setup(t);
  const twice = await makeTar([{ name: 'n/', type: 'directory' }, { name: 'n/a', data: 'first' }, { name: 'n/a', data: 'second' }, { name: 'n/d', data: 'file' }, { name: 'n/d/', type: 'directory' }]);
  await fs.extract(Readable.from([twice]), '/', { noOverwriteDirNonDir: false });
  assert.equal(readFileSync(join(rootfs, 'n', 'a'), 'utf8'), 'second');
  assert.ok(lstatSync(join(rootfs, 'n', 'd')).isDirectory());
  assert.deepEqual(readdirSync(join(rootfs, 'n')).sort(), ['a', 'd']);
  const refused = await makeTar([{ name: 'm/', type: 'directory' }, { name: 'm/x', data: 'file' }, { name: 'm/x/', type: 'directory' }]);
  await assert.rejects(fs.extract(Readable.from([refused]), '/', { noOverwriteDirNonDir: true }), /cannot overwrite non-directory/);
});

test('extract: an empty body, a gzip archive, and a body that fails midway', needsRoot('chown of extracted entries'), async (t) => {
  const { fs, rootfs } = setup(t);
  await fs.extract(Readable.from([]), '/', { noOverwriteDirNonDir: false });
  const tar = await makeTar([{ name: 'gz/a', data: 'zipped' }]);
  await fs.extract(Readable.from([gzipSync(tar)]), '/', { noOverwriteDirNonDir: false });
  assert.equal(readFileSync(join(rootfs, 'gz', 'a'), 'utf8'), 'zipped');
  const big = await makeTar([{ name: 'cut/big', data: randomBytes(4 << 20) }]);
  const failing = new Readable({ read() {} });
  failing.push(big.subarray(0, 2 << 20));
  const gone = new Error('client went away');
  setImmediate(() => failing.destroy(gone));
  await assert.rejects(fs.extract(failing, '/', { noOverwriteDirNonDir: false }), (e) => e === gone);
  assert.deepEqual(readdirSync(join(rootfs, 'cut')), [], 'the half-made file is removed before extract returns');
});
