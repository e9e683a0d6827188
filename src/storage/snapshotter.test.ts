/**
 * One behaviour suite, run by every Snapshotter (overlay2 and vfs): what a container
 * sees, what its changes are, and that its diff tar re-applied on the image gives
 * back exactly the container's tree. Needs root (mounts, chown, mknod).
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { chmodSync, chownSync, existsSync, linkSync, lstatSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, readlinkSync, rmSync, symlinkSync, unlinkSync, utimesSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Readable } from 'node:stream';
import * as tarStream from 'tar-stream';
import type { Digest } from '../common';
import { needsRoot } from '../common/test-root';
import { isMountPoint, MNT_DETACH, readMountInfo, umount2 } from '../sys';
import { ChangeKind, type Change } from './changes';
import { applyLayer } from './layer-apply';
import { LowerView } from './lower-view';
import { OverlaySnapshotter } from './overlay';
import type { Snapshotter } from './snapshotter';
import { makeTar, type FixtureEntry } from './tar-fixtures';
import { copyTree } from './copy-tree';
import { VfsSnapshotter } from './vfs';

const PARENT = 'sha256:'.padEnd(71, 'b') as Digest;

function setup(t: { after(fn: () => void): void }, prefix: string): string {
  const base = mkdtempSync(join(tmpdir(), `berth-snap-${prefix}-`));
  t.after(() => {
    for (const { mountPoint } of readMountInfo().reverse()) if (mountPoint.startsWith(base)) umount2(mountPoint, MNT_DETACH);
    rmSync(base, { recursive: true, force: true });
  });
  return base;
}

async function layer(base: string, name: string, entries: FixtureEntry[]): Promise<string> {
  const dir = join(base, 'layers', name);
  mkdirSync(dir, { recursive: true });
  await applyLayer(Readable.from([await makeTar(entries)]), dir);
  return dir;
}

/** A tree as comparable text: type, mode, owner, size, content hash or link target (dir times left out). */
function snapshotTree(root: string): Map<string, string> {
  const out = new Map<string, string>();
  const inodes = new Map<number, string>();
  const walk = (rel: string) => {
    for (const n of readdirSync(join(root, rel)).sort()) {
      const r = rel ? `${rel}/${n}` : n;
      const p = join(root, r);
      const st = lstatSync(p);
      let desc = `${(st.mode & 0o170000).toString(8)} ${(st.mode & 0o7777).toString(8)} ${st.uid}:${st.gid}`;
      if (st.isFile()) {
        desc += ` ${st.size} ${createHash('sha256').update(readFileSync(p)).digest('hex').slice(0, 12)} ${Math.floor(st.mtimeMs / 1000)}`;
        if (st.nlink > 1) {
          const first = inodes.get(st.ino);
          if (first) desc += ` =${first}`;
          else inodes.set(st.ino, r);
        }
      }
      if (st.isSymbolicLink()) desc += ` -> ${readlinkSync(p)}`;
      out.set(r, desc);
      if (st.isDirectory()) walk(r);
    }
  };
  walk('');
  return out;
}

const fmt = (cs: Change[]) => cs.map((c) => `${'CAD'[c.kind]} ${c.path}`);

const IMAGE_BOTTOM: FixtureEntry[] = [
  { name: 'etc/', type: 'directory', mode: 0o755 },
  { name: 'etc/passwd', data: 'root:x:0:0::/root:/bin/sh\n' },
  { name: 'keep', data: 'bottom', uid: 1000, gid: 1000, mode: 0o640 },
  { name: 'hidden', data: 'bottom' },
  { name: 'victim', data: 'bottom' },
  { name: 'opq/', type: 'directory' },
  { name: 'opq/old', data: 'bottom' },
  { name: 'data/', type: 'directory' },
  { name: 'data/a', data: 'a' },
  { name: 'data/b', data: 'b' },
  { name: 'link', type: 'symlink', linkname: 'keep' },
  { name: 'hard1', data: 'hard' },
  { name: 'hard2', type: 'link', linkname: 'hard1' },
];
const IMAGE_TOP: FixtureEntry[] = [
  { name: '.wh.hidden', data: '' },
  { name: 'opq/', type: 'directory' },
  { name: 'opq/.wh..wh..opq', data: '' },
  { name: 'opq/new', data: 'top' },
];

function suite(name: string, make: (root: string) => Snapshotter): void {
  const mounts = name === 'overlay2';
  const applies = needsRoot(mounts ? 'image layers keep their owners (lchown) and mount as an overlay' : 'image layers keep their owners (lchown)');
  test(`${name}: the root shows the layers merged, plus the init layer`, applies, async (t) => {
    const base = setup(t, name);
    const snap = make(join(base, 'snaps'));
    const bottom = await layer(base, 'bottom', IMAGE_BOTTOM);
    const top = await layer(base, 'top', IMAGE_TOP);
    await snap.prepare('c1', PARENT, [top, bottom]);
    // Told from the layers, before any mount: dirs only, no file, no link, nothing hidden.
    const dirs = async () => Object.fromEntries(await Promise.all(['/etc', '/opq', '/dev/pts', '/etc/passwd', '/link', '/hidden', '/nosuch', 'etc'].map(async (p) => [p, await snap.hasDirectory('c1', p)])));
    assert.deepEqual(await dirs(), { '/etc': true, '/opq': true, '/dev/pts': true, '/etc/passwd': false, '/link': false, '/hidden': false, '/nosuch': false, etc: true });
    const root = await snap.mount('c1');
    assert.equal(await snap.mount('c1'), root, 'mount is idempotent');
    assert.equal(readFileSync(join(root, 'keep'), 'utf8'), 'bottom');
    assert.equal(lstatSync(join(root, 'keep')).uid, 1000);
    assert.equal(lstatSync(join(root, 'keep')).mode & 0o7777, 0o640);
    assert.ok(!existsSync(join(root, 'hidden')), 'a whiteout hides the lower file');
    assert.deepEqual(readdirSync(join(root, 'opq')), ['new'], 'an opaque dir hides the lower contents');
    assert.equal(readlinkSync(join(root, 'link')), 'keep');
    assert.equal(lstatSync(join(root, 'hard1')).ino, lstatSync(join(root, 'hard2')).ino, 'hardlinks stay linked');
    for (const p of ['etc/hosts', 'etc/hostname', 'etc/resolv.conf', '.dockerenv', 'proc', 'sys', 'dev/pts', 'dev/shm']) assert.ok(existsSync(join(root, p)), p);
    assert.equal(lstatSync(join(root, 'etc')).mtimeMs, lstatSync(join(bottom, 'etc')).mtimeMs, 'the init layer keeps the image dir times');
    assert.deepEqual(await snap.changes('c1'), [], 'a fresh snapshot has no changes');
    mkdirSync(join(root, 'made'));
    assert.equal(await snap.hasDirectory('c1', '/made'), true, 'what the container made counts too');
    assert.deepEqual(await snap.list(), ['c1']);
    await snap.unmount('c1');
    await snap.unmount('c1');
    await snap.remove('c1');
    assert.deepEqual(await snap.list(), []);
    await assert.rejects(snap.changes('c1'), /does not exist/);
  });

  test(`${name}: changes, and the diff tar re-applied on the image gives back the container's tree`, applies, async (t) => {
    const base = setup(t, name);
    const snap = make(join(base, 'snaps'));
    const bottom = await layer(base, 'bottom', IMAGE_BOTTOM);
    const top = await layer(base, 'top', IMAGE_TOP);
    await snap.prepare('c1', PARENT, [top, bottom]);
    await snap.prepare('c2', PARENT, [top, bottom]);
    const root = await snap.mount('c1');
    const other = await snap.mount('c2');

    writeFileSync(join(root, 'keep'), 'changed');
    mkdirSync(join(root, 'newdir/sub'), { recursive: true });
    writeFileSync(join(root, 'newdir/sub/f'), 'new');
    unlinkSync(join(root, 'victim'));
    rmSync(join(root, 'data'), { recursive: true });
    mkdirSync(join(root, 'data'));
    writeFileSync(join(root, 'data/c'), 'c');
    chownSync(join(root, 'etc/passwd'), 5, 5);
    symlinkSync('/etc/passwd', join(root, 'newlink'));
    linkSync(join(root, 'newdir/sub/f'), join(root, 'newdir/f-link'));
    utimesSync(join(root, 'newdir/sub/f'), 1_700_000_000, 1_700_000_000);

    assert.equal(readFileSync(join(other, 'keep'), 'utf8'), 'bottom', 'another snapshot of the same image does not see the write');
    assert.ok(existsSync(join(other, 'victim')));
    assert.equal(readFileSync(join(bottom, 'keep'), 'utf8'), 'bottom', 'the image layer is untouched');

    const changes = fmt(await snap.changes('c1'));
    for (const c of ['C /keep', 'A /newdir', 'A /newdir/sub', 'A /newdir/sub/f', 'A /newdir/f-link', 'D /victim', 'C /etc/passwd', 'A /newlink']) {
      assert.ok(changes.includes(c), `${c} in ${changes.join(', ')}`);
    }
    assert.ok(!changes.some((c) => /hosts|hostname|resolv|dockerenv|proc|sys|dev/.test(c)), `init entries are not changes: ${changes.join(', ')}`);
    assert.ok(changes.indexOf('A /newdir') < changes.indexOf('A /newdir/sub'), 'parents first');
    // vfs compares every entry, so the parent of a modified file shows too; overlay (like Docker's) only lists parents of additions and deletions.
    if (snap.driver === 'vfs') assert.ok(changes.includes('C /etc'), changes.join(', '));
    // A dir removed and made again: compared with the image's, as dockerd's overlay2 does (an opaque dir there).
    for (const c of ['C /data', 'D /data/a', 'D /data/b', 'A /data/c']) assert.ok(changes.includes(c), `${c} in ${changes.join(', ')}`);
    assert.ok(!changes.includes('D /data'), changes.join(', '));
    assert.deepEqual(fmt(await snap.changes('c2')), [], 'the other snapshot has no changes');

    // Re-apply: image layers + the diff as a new layer must look like the container.
    const diffDir = join(base, 'layers', 'diff');
    mkdirSync(diffDir);
    await applyLayer(await snap.diff('c1'), diffDir);
    const rebuilt = join(base, 'rebuilt');
    mkdirSync(rebuilt);
    await copyTree(new LowerView([diffDir, top, bottom]), rebuilt);
    const want = snapshotTree(root);
    // The init layer is the runtime's, not part of the changes.
    for (const k of [...want.keys()]) if (/^(\.dockerenv|proc|sys|dev|etc\/(hosts|hostname|resolv\.conf|mtab))(\/|$)/.test(k)) want.delete(k);
    assert.deepEqual(snapshotTree(rebuilt), want);
    await snap.remove('c1');
    await snap.remove('c2');
  });

  test(`${name}: the diff tar lists whiteouts and keeps owners, modes and times`, applies, async (t) => {
    const base = setup(t, name);
    const snap = make(join(base, 'snaps'));
    const bottom = await layer(base, 'bottom', IMAGE_BOTTOM);
    await snap.prepare('c1', PARENT, [bottom]);
    const root = await snap.mount('c1');
    unlinkSync(join(root, 'victim'));
    writeFileSync(join(root, 'owned'), 'x');
    chownSync(join(root, 'owned'), 7, 8);
    chmodSync(join(root, 'owned'), 0o4755);
    utimesSync(join(root, 'owned'), 1_600_000_123, 1_600_000_123);
    const entries = new Map<string, tarStream.Header>();
    const ex = tarStream.extract();
    const done = (async () => {
      for await (const e of ex) {
        entries.set(e.header.name, e.header);
        e.resume();
      }
    })();
    (await snap.diff('c1')).pipe(ex);
    await done;
    assert.ok(entries.has('.wh.victim'), [...entries.keys()].join(', '));
    const h = entries.get('owned')!;
    assert.equal(h.uid, 7);
    assert.equal(h.gid, 8);
    assert.equal(h.mode! & 0o7777, 0o4755);
    assert.equal(h.mtime!.getTime(), 1_600_000_123_000);
    await snap.remove('c1');
  });

  test(`${name}: view shows the whole tree, running or not, and release cleans up`, applies, async (t) => {
    const base = setup(t, name);
    const snap = make(join(base, 'snaps'));
    const bottom = await layer(base, 'bottom', IMAGE_BOTTOM);
    await snap.prepare('c1', PARENT, [bottom]);
    const root = await snap.mount('c1');
    writeFileSync(join(root, 'fresh'), 'fresh');
    unlinkSync(join(root, 'victim'));
    await snap.unmount('c1');
    const v = await snap.view('c1');
    assert.equal(readFileSync(join(v.path, 'fresh'), 'utf8'), 'fresh');
    assert.equal(readFileSync(join(v.path, 'keep'), 'utf8'), 'bottom');
    assert.ok(!existsSync(join(v.path, 'victim')));
    assert.ok(existsSync(join(v.path, 'etc/hosts')), 'the view includes the init layer');
    await snap.mount('c1');
    const v2 = await snap.view('c1');
    assert.equal(readFileSync(join(v2.path, 'fresh'), 'utf8'), 'fresh', 'a view works beside the mounted root');
    await v.release();
    await v2.release();
    await v.release();
    if (snap.driver === 'overlay2') {
      assert.ok(!isMountPoint(v.path) && !existsSync(v.path), 'the temporary mount is gone');
      assert.ok(isMountPoint(snap.mergedDir('c1')), 'the root stays mounted');
    }
    await snap.remove('c1');
  });

  test(`${name}: changes against an empty image and a failing prepare leave nothing behind`, mounts ? needsRoot('an overlay mount') : {}, async (t) => {
    const base = setup(t, name);
    const snap = make(join(base, 'snaps'));
    await snap.prepare('scratch', null, []);
    const root = await snap.mount('scratch');
    writeFileSync(join(root, 'f'), 'x');
    assert.deepEqual(fmt(await snap.changes('scratch')), ['A /f']);
    await assert.rejects(snap.prepare('bad', null, [join(base, 'missing')]), /not usable/);
    assert.deepEqual(readdirSync(join(snap.root, 'tmp')), []);
    assert.deepEqual(await snap.list(), ['scratch']);
    await snap.remove('scratch');
  });
}

suite('overlay2', (root) => new OverlaySnapshotter(root));
suite('vfs', (root) => new VfsSnapshotter(root));

test('ChangeKind numbers are the Engine API values', () => {
  assert.equal(ChangeKind.Modify, 0);
  assert.equal(ChangeKind.Add, 1);
  assert.equal(ChangeKind.Delete, 2);
});
