import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { execHelperArgs, findExecHelper, readContainerEntry, type ContainerEntry } from './exec-helper';

const entry: ContainerEntry = { pid: 4242, start: 987654, cgroups: ['/sys/fs/cgroup/pids/berth/c1', '/sys/fs/cgroup/memory/berth/c1'], seccomp: true, keyring: true };
const files = { pidFile: '/run/x/exec.pid', seccompCache: '/run/x/filter' };

test('a plain exec becomes berth-exec arguments in the order the helper reads them', () => {
  const r = execHelperArgs(entry, 'c1', {
    terminal: false,
    user: { uid: 1000, gid: 1000, additionalGids: [10, 20], umask: 0o027 },
    args: ['sh', '-c', 'echo hi'],
    env: ['PATH=/bin', 'X=a=b', 'BROKEN', '=nameless'],
    cwd: '/tmp',
    capabilities: { bounding: ['CAP_CHOWN'], effective: ['CAP_CHOWN'], permitted: ['CAP_CHOWN'], inheritable: [], ambient: [] },
    rlimits: [{ type: 'RLIMIT_NOFILE', soft: 1024, hard: 2048 }, { type: 'RLIMIT_CORE', soft: 18446744073709551615, hard: 18446744073709551615 }],
    noNewPrivileges: true,
    oomScoreAdj: 300,
  }, files);
  assert.ok(r);
  assert.deepEqual(r.args, [
    '-p', '4242', '-s', '987654', '-f', '/run/x/exec.pid',
    '-c', '/sys/fs/cgroup/pids/berth/c1', '-c', '/sys/fs/cgroup/memory/berth/c1',
    '-S', '/run/x/filter', '-u', '1000', '-g', '1000', '-G', '10,20', '-m', '27',
    '-B', '0000000000000001', '-E', '0000000000000001', '-P', '0000000000000001', '-I', '0000000000000000', '-A', '0000000000000000',
    '-r', '7:1024:2048', '-r', '4:-1:-1', '-n', '-o', '300', '-k', '_ses.c1', '-w', '/tmp',
    '--', 'sh', '-c', 'echo hi',
  ]);
  // A value keeps its own '='; entries without a name are not passed on.
  assert.deepEqual(r.env, { PATH: '/bin', X: 'a=b' });
});

test('no filter file without a seccomp filter, no keyring when runc made none, root by default', () => {
  const r = execHelperArgs({ ...entry, seccomp: false, keyring: false, cgroups: [] }, 'c2', { args: ['true'] }, files);
  assert.ok(r);
  assert.deepEqual(r.args, ['-p', '4242', '-s', '987654', '-f', '/run/x/exec.pid', '-u', '0', '-g', '0',
    '-B', '0000000000000000', '-E', '0000000000000000', '-P', '0000000000000000', '-I', '0000000000000000', '-A', '0000000000000000', '--', 'true']);
});

test('anything berth-exec does not do goes to runc exec', () => {
  const base = { args: ['true'] };
  assert.equal(execHelperArgs(entry, 'c1', { ...base, terminal: true }, files), undefined);
  assert.equal(execHelperArgs(entry, 'c1', { ...base, apparmorProfile: 'docker-default' }, files), undefined);
  assert.equal(execHelperArgs(entry, 'c1', { ...base, selinuxLabel: 'x' }, files), undefined);
  assert.equal(execHelperArgs(entry, 'c1', { ...base, ioPriority: { class: 'IOPRIO_CLASS_IDLE' } }, files), undefined);
  assert.equal(execHelperArgs(entry, 'c1', { ...base, rlimits: [{ type: 'RLIMIT_NOSUCH', soft: 1, hard: 1 }] }, files), undefined);
  assert.equal(execHelperArgs(entry, 'c1', { args: [] }, files), undefined);
  // A field present but unset does not count.
  assert.ok(execHelperArgs(entry, 'c1', { ...base, apparmorProfile: undefined }, files));
});

test("runc's state.json gives the init, its cgroups once each, and whether there is a filter and a keyring", () => {
  const root = mkdtempSync(join(tmpdir(), 'berth-eh-'));
  try {
    const write = (id: string, state: unknown) => {
      mkdirSync(join(root, id), { recursive: true });
      writeFileSync(join(root, id, 'state.json'), JSON.stringify(state));
    };
    write('a', {
      init_process_pid: 77, init_process_start: 123456,
      cgroup_paths: { cpu: '/sys/fs/cgroup/cpu,cpuacct/b/a', cpuacct: '/sys/fs/cgroup/cpu,cpuacct/b/a', pids: '/sys/fs/cgroup/pids/b/a', rdma: '' },
      config: { seccomp: { default_action: 2 }, no_new_keyring: false },
    });
    assert.deepEqual(readContainerEntry(root, 'a'), { pid: 77, start: 123456, cgroups: ['/sys/fs/cgroup/cpu,cpuacct/b/a', '/sys/fs/cgroup/pids/b/a'], seccomp: true, keyring: true });
    write('b', { init_process_pid: 78, init_process_start: '99', config: { seccomp: null, no_new_keyring: true } });
    assert.deepEqual(readContainerEntry(root, 'b'), { pid: 78, start: 99, cgroups: [], seccomp: false, keyring: false });
    write('c', { init_process_pid: 79, init_process_start: 1, config: { no_pivot_root: true } });
    assert.equal(readContainerEntry(root, 'c'), undefined);
    write('d', { init_process_pid: 0, init_process_start: 1 });
    assert.equal(readContainerEntry(root, 'd'), undefined);
    mkdirSync(join(root, 'e'));
    writeFileSync(join(root, 'e', 'state.json'), '{"init_process_pid": 5, trunc');
    assert.equal(readContainerEntry(root, 'e'), undefined);
    assert.equal(readContainerEntry(root, 'missing'), undefined);
  } finally {
    rmSync(root, { recursive: true, force: true });
  }
});

test('BERTH_EXEC_HELPER=0 turns the helper off', () => {
  assert.equal(findExecHelper({ BERTH_EXEC_HELPER: '0' }), undefined);
});
