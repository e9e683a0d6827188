import { test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, lstatSync, mkdirSync, mkdtempSync, readFileSync, readdirSync, rmSync, unlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { Readable } from 'node:stream';
import { BerthError, type Digest } from '../common';
import { needsRoot } from '../common/test-root';
import { isMountPoint, lgetxattr, MNT_DETACH, mountFromIsCheap, readMountInfo, umount2, type MountInfo } from '../sys';
import { applyLayer } from './layer-apply';
import { LayerStore } from './layer-store';
import { OverlaySnapshotter } from './overlay';
import { makeTar, type FixtureEntry } from './tar-fixtures';

interface Ctx {
  base: string;
  snap: OverlaySnapshotter;
}

/** Unmounts anything left under the temp dir before deleting it (after hooks run in order). */
function setup(t: { after(fn: () => void): void }): Ctx {
  const base = mkdtempSync(join(tmpdir(), 'berth-overlay-'));
  t.after(() => {
    for (const { mountPoint } of readMountInfo()) if (mountPoint.startsWith(base)) umount2(mountPoint, MNT_DETACH);
    rmSync(base, { recursive: true, force: true });
  });
  return { base, snap: new OverlaySnapshotter(join(base, 'overlay')) };
}

async function layer(base: string, name: string, entries: FixtureEntry[]): Promise<string> {
  const dir = join(base, 'layers', name);
  mkdirSync(dir, { recursive: true });
  await applyLayer(Readable.from([await makeTar(entries)]), dir);
  return dir;
}

/** A mount description's lower dirs, made absolute against its cwd. */
const lowersOf = (m: { options: string[]; cwd?: string }) =>
  m.options.find((o) => o.startsWith('lowerdir='))!.slice('lowerdir='.length).split(':').map((p) => (m.cwd ? resolve(m.cwd, p) : p));

const kind = (k: string) => (e: unknown) => {
  assert.ok(e instanceof BerthError, String(e));
  assert.equal(e.kind, k);
  return true;
};

test('overlay semantics: writes go up, whiteouts and opaque dirs hide, deletes leave whiteouts', needsRoot('overlay mounts and layers with their owners (lchown)'), async (t) => {
  const { base, snap } = setup(t);
  const bottom = await layer(base, 'bottom', [
    { name: 'keep', data: 'bottom' },
    { name: 'hidden', data: 'bottom' },
    { name: 'opq/', type: 'directory' },
    { name: 'opq/old', data: 'bottom' },
    { name: 'victim', data: 'bottom' },
  ]);
  const top = await layer(base, 'top', [
    { name: '.wh.hidden', data: '' },
    { name: 'opq/', type: 'directory' },
    { name: 'opq/.wh..wh..opq', data: '' },
    { name: 'opq/new', data: 'top' },
  ]);
  await snap.prepare('c1', 'sha256:'.padEnd(71, 'a') as Digest, [top, bottom]);
  const m = await snap.mounts('c1');
  assert.equal(m.type, 'overlay');
  // With berth-mount.so (built with the rest), paths are relative to the snapshot's dir, which
  // keeps the mount's line in every /proc/<pid>/mountinfo short; without it, absolute.
  assert.equal(m.cwd, mountFromIsCheap() ? join(snap.root, 'c1') : undefined);
  const lowerdir = lowersOf(m);
  assert.deepEqual(lowerdir.slice(1), [top, bottom]);
  assert.equal(dirname(lowerdir[0]!), join(snap.root, '.init'), 'the init layer sits on top of the image');

  const merged = await snap.mount('c1');
  assert.equal(await snap.mount('c1'), merged, 'mounting twice is fine');
  assert.ok(isMountPoint(merged));
  const line: MountInfo = readMountInfo().find((i) => i.mountPoint === merged)!;
  if (mountFromIsCheap()) assert.match(line.superOptions, /(^|,)upperdir=upper,workdir=work(,|$)/, 'mountinfo names the dirs relative to the snapshot');
  assert.equal(readFileSync(join(merged, 'keep'), 'utf8'), 'bottom');
  assert.ok(!existsSync(join(merged, 'hidden')), 'a whiteout in a lower layer hides the file');
  assert.deepEqual(readdirSync(join(merged, 'opq')), ['new'], 'an opaque dir hides lower contents');

  writeFileSync(join(merged, 'keep'), 'changed');
  writeFileSync(join(merged, 'fresh'), 'fresh');
  unlinkSync(join(merged, 'victim'));
  assert.equal(readFileSync(join(bottom, 'keep'), 'utf8'), 'bottom', 'lower unchanged');
  assert.equal(readFileSync(join(snap.upperDir('c1'), 'keep'), 'utf8'), 'changed');
  assert.equal(readFileSync(join(snap.upperDir('c1'), 'fresh'), 'utf8'), 'fresh');
  const wh = lstatSync(join(snap.upperDir('c1'), 'victim'));
  assert.ok(wh.isCharacterDevice() && wh.rdev === 0, 'a deletion leaves a whiteout in upper');
  assert.ok(existsSync(join(bottom, 'victim')));
  assert.deepEqual(lgetxattr(join(top, 'opq'), 'trusted.overlay.opaque'), Buffer.from('y'));

  await snap.unmount('c1');
  await snap.unmount('c1');
  assert.ok(!isMountPoint(merged));
  await snap.mount('c1');
  assert.equal(readFileSync(join(merged, 'keep'), 'utf8'), 'changed', 'upper survives a remount');
  await snap.remove('c1');
  assert.ok(!existsSync(join(snap.root, 'c1')));
  assert.ok(!isMountPoint(merged));
  assert.deepEqual(await snap.list(), []);
});

test('a snapshot with no layers mounts over its init layer alone', needsRoot('overlay mounts and layers with their owners (lchown)'), async (t) => {
  const { snap } = setup(t);
  await snap.prepare('scratch', null, []);
  const merged = await snap.mount('scratch');
  assert.deepEqual(readdirSync(merged).sort(), ['.dockerenv', 'dev', 'etc', 'proc', 'sys']);
  assert.deepEqual(readdirSync(snap.upperDir('scratch')), [], 'init entries are not changes');
  writeFileSync(join(merged, 'f'), 'x');
  assert.equal(readFileSync(join(snap.upperDir('scratch'), 'f'), 'utf8'), 'x');
  assert.deepEqual(await snap.list(), ['scratch']);
  await snap.remove('scratch');
});

test('with a mountRoot, snapshots mount at <mountRoot>/<key>/merged (made and removed with the mount); one mounted at <key>/merged earlier stays there', needsRoot('overlay mounts and layers with their owners (lchown)'), async (t) => {
  const { base } = setup(t);
  const mountRoot = join(base, 'rootfs');
  const old = new OverlaySnapshotter(join(base, 'overlay'));
  await old.prepare('before', null, []);
  const oldMerged = await old.mount('before');
  assert.equal(oldMerged, join(base, 'overlay', 'before', 'merged'));
  const snap = new OverlaySnapshotter(join(base, 'overlay'), { mountRoot });
  await snap.prepare('c1', null, []);
  assert.ok(!existsSync(join(base, 'overlay', 'c1', 'merged')), 'no merged dir beside upper');
  assert.equal(snap.mergedDir('c1'), join(mountRoot, 'c1', 'merged'));
  const merged = await snap.mount('c1');
  assert.equal(merged, join(mountRoot, 'c1', 'merged'));
  assert.ok(isMountPoint(merged));
  writeFileSync(join(merged, 'f'), 'x');
  assert.equal(readFileSync(join(snap.upperDir('c1'), 'f'), 'utf8'), 'x');
  assert.equal(snap.graphDriverData('c1', []).MergedDir, merged);
  await snap.unmount('c1');
  assert.ok(!existsSync(dirname(merged)), 'the mount point goes with the mount');
  // The earlier layout: found where it is mounted, unmounted there.
  assert.equal(snap.mergedDir('before'), oldMerged);
  assert.equal(await snap.mount('before'), oldMerged);
  await snap.remove('before');
  assert.ok(!isMountPoint(oldMerged));
  await snap.remove('c1');
  assert.deepEqual(readdirSync(mountRoot), []);
});

test('the snapshots of one image share its init layer, kept for its next container until the image goes; a new snapshotter collects unused ones', needsRoot('overlay mounts and layers with their owners (lchown)'), async (t) => {
  const { base, snap } = setup(t);
  const a = await layer(base, 'a', [{ name: 'etc/', type: 'directory', mode: 0o750 }, { name: 'bin/sh', data: 'x' }]);
  const b = await layer(base, 'b', [{ name: 'etc/hosts', data: 'from the image' }]);
  const initOf = async (key: string) => lowersOf(await snap.mounts(key))[0]!;
  await snap.prepare('c1', null, [a]);
  await snap.prepare('c2', null, [a]);
  await snap.prepare('c3', null, [b]);
  const [i1, i2, i3] = [await initOf('c1'), await initOf('c2'), await initOf('c3')];
  assert.equal(i1, i2, 'one image, one init layer');
  assert.notEqual(i1, i3);
  assert.deepEqual(readdirSync(join(base, 'overlay', 'c1')).sort(), ['merged', 'meta.json', 'upper', 'work'], 'nothing of its own but its changes');
  // What the image lacks, with the image's own directory metadata.
  assert.equal(readFileSync(join(i1, 'etc', 'hosts'), 'utf8'), '');
  assert.equal(lstatSync(join(i1, 'etc')).mode & 0o7777, 0o750);
  assert.ok(!existsSync(join(i3, 'etc', 'hosts')), 'the image has /etc/hosts: not made');

  const merged = await snap.mount('c1');
  assert.ok(existsSync(join(merged, '.dockerenv')) && existsSync(join(merged, 'bin', 'sh')));
  writeFileSync(join(merged, 'etc', 'hosts'), 'written by c1');
  await snap.unmount('c1');
  assert.equal(readFileSync(join(i1, 'etc', 'hosts'), 'utf8'), '', 'a write goes to the container, never to the shared layer');

  await snap.remove('c1');
  await snap.remove('c2');
  assert.ok(existsSync(i1), 'kept for the next container of the image');
  await snap.prepare('c4', null, [a]);
  assert.equal(await initOf('c4'), i1);
  await snap.remove('c4');
  // The image goes (its layer dirs with it): the next removal takes its unused init layer.
  rmSync(a, { recursive: true });
  await snap.prepare('c6', null, [b]);
  await snap.remove('c6');
  assert.ok(!existsSync(i1), 'the image is gone, and so is its init layer');
  assert.ok(existsSync(i3), 'c3 still uses its layer');

  // A stray layer (unused, or left by a daemon that did not keep count) goes at the next open.
  const stray = join(base, 'overlay', '.init', 'stray');
  mkdirSync(stray);
  const again = new OverlaySnapshotter(join(base, 'overlay'));
  await again.prepare('c5', null, [b]);
  await again.remove('c5');
  assert.ok(!existsSync(stray));
  assert.ok(existsSync(i3), 'c3 still uses its layer');
});

test('prepare validates keys and lowers; unknown keys are not found', async (t) => {
  const { base, snap } = setup(t);
  await snap.prepare('a', null, []);
  await assert.rejects(snap.prepare('a', null, []), kind('already-exists'));
  await assert.rejects(snap.prepare('../x', null, []), kind('invalid-argument'));
  await assert.rejects(snap.prepare('tmp', null, []), kind('invalid-argument'));
  await assert.rejects(snap.prepare('b', null, ['relative/dir']), kind('invalid-argument'));
  await assert.rejects(snap.prepare('b', null, [join(base, 'missing')]), kind('invalid-argument'));
  mkdirSync(join(base, 'a:b'));
  await assert.rejects(snap.prepare('b', null, [join(base, 'a:b')]), kind('invalid-argument'));
  await assert.rejects(snap.mounts('nope'), kind('not-found'));
  await assert.rejects(snap.remove('nope'), kind('not-found'));
  assert.deepEqual(readdirSync(join(snap.root, 'tmp')), []);
});

test('120 layers from the layer store mount through short links', needsRoot('overlay mounts and layers with their owners (lchown)'), async (t) => {
  const { base, snap } = setup(t);
  const store = await LayerStore.open(join(base, 'layers'));
  let parent: Digest | null = null;
  for (let i = 0; i < 120; i++) {
    parent = (await store.create(parent, Readable.from([await makeTar([{ name: `f${i}`, data: String(i) }])]))).chainID;
  }
  await snap.prepare('big', parent, await store.linkChain(parent!));
  const m = await snap.mounts('big');
  assert.equal(m.cwd, mountFromIsCheap() ? join(snap.root, 'big') : base, 'relative to the snapshot (with berth-mount.so), else to the common parent of the layer links and the snapshot');
  assert.ok(m.options.join(',').length <= 4095);
  const merged = await snap.mount('big');
  assert.equal(readFileSync(join(merged, 'f0'), 'utf8'), '0');
  assert.equal(readFileSync(join(merged, 'f119'), 'utf8'), '119');
  assert.equal(readdirSync(merged).filter((n) => /^f\d+$/.test(n)).length, 120);

  await snap.prepare('too-big', parent, await store.lowerChain(parent!));
  await assert.rejects(snap.mounts('too-big'), kind('invalid-argument'));
  await snap.remove('big');
  await snap.remove('too-big');
});
