import { test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmdirSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { errorKind } from '../common';
import { blkioWeightFile, cgroupDirs, cgroupsPath, detectCgroupMode, ensureBlkioWeight, ioWeightFromBlkio, removeCgroup } from './cgroups';

function tempDir(t: { after: (fn: () => void) => void }): string {
  const dir = mkdtempSync(join(tmpdir(), 'berth-cgroups-'));
  t.after(() => rmSync(dir, { recursive: true, force: true }));
  return dir;
}

test('cgroupsPath is absolute and validated', () => {
  assert.equal(cgroupsPath('/berth', 'abc123'), '/berth/abc123');
  assert.equal(cgroupsPath('berth/', 'abc'), '/berth/abc');
  assert.equal(cgroupsPath('/a/b', 'c'), '/a/b/c');
  for (const [p, id] of [['/berth', '../x'], ['/berth', 'a/b'], ['/berth', ''], ['/', 'x'], ['/a/../b', 'x'], ['/berth', 'a:b']] as const) {
    assert.throws(() => cgroupsPath(p, id), (e: unknown) => errorKind(e) === 'invalid-argument', `${p} ${id}`);
  }
});

test('v2: detected from cgroup.controllers; one unified dir', (t) => {
  const root = tempDir(t);
  writeFileSync(join(root, 'cgroup.controllers'), 'cpuset cpu io memory pids\n');
  assert.equal(detectCgroupMode(root), 'v2');
  assert.deepEqual(cgroupDirs('v2', '/berth/c1', root), { unified: join(root, 'berth/c1') });
});

test('v2: removeCgroup removes the dir and nested child cgroups, keeps the parent', async (t) => {
  const root = tempDir(t);
  mkdirSync(join(root, 'berth/c1/init.scope/deeper'), { recursive: true });
  mkdirSync(join(root, 'berth/c2'), { recursive: true });
  assert.deepEqual(await removeCgroup('v2', '/berth/c1', root), []);
  assert.ok(!existsSync(join(root, 'berth/c1')));
  assert.ok(existsSync(join(root, 'berth/c2')));
  // Already gone is fine.
  assert.deepEqual(await removeCgroup('v2', '/berth/c1', root), []);
});

test('removeCgroup reports what it could not remove and refuses short paths', async (t) => {
  const root = tempDir(t);
  mkdirSync(join(root, 'berth/c1'), { recursive: true });
  writeFileSync(join(root, 'berth/c1/stray'), '');
  assert.deepEqual(await removeCgroup('v2', '/berth/c1', root), [join(root, 'berth/c1')]);
  await assert.rejects(removeCgroup('v2', '/berth', root), /at least two plain components/);
  await assert.rejects(removeCgroup('v2', '/', root), /invalid cgroup path/);
  await assert.rejects(removeCgroup('v2', '/berth/../..', root), /invalid cgroup path/);
});

test('v1: combined and named hierarchies from mountinfo', (t) => {
  const root = tempDir(t);
  const mountinfo = [
    `30 23 0:28 / ${root} rw - tmpfs tmpfs rw,mode=755`,
    `32 30 0:29 / ${root}/cpu,cpuacct rw - cgroup cgroup rw,cpu,cpuacct`,
    `33 30 0:30 / ${root}/memory rw - cgroup cgroup rw,memory`,
    `34 30 0:31 / ${root}/net_cls,net_prio rw - cgroup cgroup rw,net_cls,net_prio`,
    `35 30 0:32 / ${root}/systemd rw - cgroup cgroup rw,xattr,name=systemd`,
    `36 30 0:33 / ${root}/unified rw - cgroup2 cgroup2 rw`,
    `37 23 0:34 / /elsewhere/memory rw - cgroup cgroup rw,memory`,
  ].join('\n');
  const p = ['berth', 'c1'];
  assert.equal(detectCgroupMode(root), 'v1');
  assert.deepEqual(cgroupDirs('v1', '/berth/c1', root, mountinfo), {
    cpu: join(root, 'cpu,cpuacct', ...p),
    cpuacct: join(root, 'cpu,cpuacct', ...p),
    memory: join(root, 'memory', ...p),
    net_cls: join(root, 'net_cls,net_prio', ...p),
    net_prio: join(root, 'net_cls,net_prio', ...p),
    'name=systemd': join(root, 'systemd', ...p),
  });
  mkdirSync(join(root, 'unified'));
  writeFileSync(join(root, 'unified/cgroup.controllers'), '');
  assert.equal(detectCgroupMode(root), 'hybrid');
  assert.equal(cgroupDirs('hybrid', '/berth/c1', root, mountinfo).unified, join(root, 'unified', ...p));
});

const realV1 = !existsSync('/sys/fs/cgroup/cgroup.controllers') && existsSync('/sys/fs/cgroup/memory');

test('this host (hybrid v1): real controller dirs, created and removed', { skip: !realV1 && 'host is not cgroup v1' }, async (t) => {
  if (process.getuid?.() !== 0) {
    t.skip('needs root to create cgroups');
    return;
  }
  const mode = detectCgroupMode();
  assert.ok(mode === 'hybrid' || mode === 'v1');
  const path = cgroupsPath('/berth-test', `c${process.pid}`);
  const dirs = cgroupDirs(mode, path);
  for (const c of ['cpu', 'cpuacct', 'cpuset', 'memory', 'devices', 'freezer', 'blkio', 'pids']) {
    assert.equal(dirs[c], `/sys/fs/cgroup/${c}${path}`, c);
  }
  const mounted = readFileSync('/proc/self/mountinfo', 'utf8');
  if (mounted.includes('name=systemd')) assert.equal(dirs['name=systemd'], `/sys/fs/cgroup/systemd${path}`);
  if (mode === 'hybrid') assert.equal(dirs.unified, `/sys/fs/cgroup/unified${path}`);

  const unique = [...new Set(Object.values(dirs))];
  t.after(async () => {
    await removeCgroup(mode, path);
    for (const d of unique) {
      try {
        rmdirSync(join(d, '..'));
      } catch {
        // Best effort: the shared parent is only ours in this test.
      }
    }
  });
  for (const d of unique) mkdirSync(join(d, 'child'), { recursive: true });
  assert.deepEqual(await removeCgroup(mode, path), []);
  for (const d of unique) assert.ok(!existsSync(d), d);
});

test('v2: blkio weight goes to io.bfq.weight when io.weight is absent, else to io.weight on its scale', (t) => {
  const root = tempDir(t);
  writeFileSync(join(root, 'cgroup.controllers'), 'io memory pids\n');
  const bfqOnly = join(root, 'berth/c1');
  mkdirSync(bfqOnly, { recursive: true });
  writeFileSync(join(bfqOnly, 'io.bfq.weight'), 'default 100\n');
  assert.equal(blkioWeightFile('v2', bfqOnly), join(bfqOnly, 'io.bfq.weight'));
  assert.equal(ensureBlkioWeight('v2', '/berth/c1', 300, root), join(bfqOnly, 'io.bfq.weight'));
  assert.equal(readFileSync(join(bfqOnly, 'io.bfq.weight'), 'utf8'), 'default 300');

  const plain = join(root, 'berth/c2');
  mkdirSync(plain, { recursive: true });
  writeFileSync(join(plain, 'io.weight'), 'default 100\n');
  writeFileSync(join(plain, 'io.bfq.weight'), 'default 100\n');
  assert.equal(ensureBlkioWeight('v2', '/berth/c2', 1000, root), join(plain, 'io.weight'));
  assert.equal(readFileSync(join(plain, 'io.weight'), 'utf8'), 'default 10000');
  assert.equal(readFileSync(join(plain, 'io.bfq.weight'), 'utf8'), 'default 100\n');
  assert.equal(ioWeightFromBlkio(10), 1);
  assert.equal(ioWeightFromBlkio(500), 4950);

  // Already right: left alone (a read-only file would fail a write).
  writeFileSync(join(bfqOnly, 'io.bfq.weight'), 'default 300\n');
  assert.equal(ensureBlkioWeight('v2', '/berth/c1', 300, root), join(bfqOnly, 'io.bfq.weight'));
  assert.equal(readFileSync(join(bfqOnly, 'io.bfq.weight'), 'utf8'), 'default 300\n');
  // No weight file at all, or no weight asked: nothing to do.
  mkdirSync(join(root, 'berth/c3'), { recursive: true });
  assert.equal(ensureBlkioWeight('v2', '/berth/c3', 300, root), undefined);
  assert.equal(ensureBlkioWeight('v2', '/berth/c1', 0, root), undefined);
});

test('v1: blkio weight falls back to blkio.bfq.weight in the blkio hierarchy', (t) => {
  const root = tempDir(t);
  const mountinfo = `30 25 0:26 / ${root}/blkio rw,relatime shared:9 - cgroup cgroup rw,blkio\n`;
  const dir = join(root, 'blkio/berth/c1');
  mkdirSync(dir, { recursive: true });
  writeFileSync(join(dir, 'blkio.bfq.weight'), '100\n');
  assert.equal(ensureBlkioWeight('v1', '/berth/c1', 250, root, mountinfo), join(dir, 'blkio.bfq.weight'));
  assert.equal(readFileSync(join(dir, 'blkio.bfq.weight'), 'utf8'), '250');
  writeFileSync(join(dir, 'blkio.weight'), '500\n');
  assert.equal(blkioWeightFile('v1', dir), join(dir, 'blkio.weight'));
});
