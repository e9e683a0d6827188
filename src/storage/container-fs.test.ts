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
import { makeTar } from './tar-fixtures';

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
