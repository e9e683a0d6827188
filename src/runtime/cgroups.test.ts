import { test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmdirSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { errorKind } from '../common/errors';
import { cgroupDirs, cgroupsPath, detectCgroupMode, removeCgroup } from './cgroups';

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
