/**
 * berth-exec (native/berth-exec.c) against `runc exec`: the same execs in the same kinds of
 * container on two daemons, one with the helper (the default) and one with it turned off
 * (BERTH_EXEC_HELPER=0), must show the exec'd process the same ids, groups, capabilities,
 * no_new_privs, seccomp filter, cgroups, namespaces, limits, umask, directory, environment
 * and oom score, and fail with the same words and exit codes.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, readdirSync } from 'node:fs';
import { join } from 'node:path';
import { useDaemon, type Daemon } from './harness';

const helper = useDaemon();
const runc = useDaemon({ env: { BERTH_EXEC_HELPER: '0' } });

// What a process can see of how it was started, without anything that names the container.
const PROBE = [
  'grep -E "^(Uid|Gid|Groups|Cap(Inh|Prm|Eff|Bnd|Amb)|NoNewPrivs|Seccomp|Seccomp_filters):" /proc/self/status',
  '[ "$(cat /proc/self/cgroup)" = "$(cat /proc/1/cgroup)" ] && echo cgroups: as init',
  'for n in ipc mnt net pid uts user cgroup; do [ "$(readlink /proc/self/ns/$n)" = "$(readlink /proc/1/ns/$n)" ] && echo "$n: as init"; done',
  'ulimit -a', 'umask', 'pwd', 'env', 'cat /proc/self/oom_score_adj',
  'busybox unshare -n true 2>&1; echo "unshare: $?"',
  'grep -E "^PPid:" /proc/$$/status',
].join('; ');

async function both(fn: (d: Daemon) => Promise<string>): Promise<[string, string]> {
  return [await fn(helper), await fn(runc)];
}

const cases: { name: string; run: string[]; exec: string[] }[] = [
  { name: 'defaults', run: [], exec: [] },
  { name: 'exec as another user, env and dir', run: [], exec: ['-u', 'nobody', '-e', 'X=1', '-e', 'HOME=/tmp', '-w', '/tmp'] },
  { name: 'exec as a numeric user without a passwd entry', run: [], exec: ['-u', '1000:1000'] },
  { name: 'capabilities added and dropped', run: ['--cap-add', 'NET_ADMIN', '--cap-drop', 'CHOWN'], exec: [] },
  { name: 'no-new-privileges', run: ['--security-opt', 'no-new-privileges'], exec: ['-u', 'nobody'] },
  { name: 'seccomp unconfined', run: ['--security-opt', 'seccomp=unconfined'], exec: [] },
  { name: 'privileged exec in a plain container', run: [], exec: ['--privileged'] },
  { name: 'privileged container', run: ['--privileged'], exec: [] },
  { name: 'user, groups, ulimits, workdir and oom score from run', run: ['--user', '1000:1000', '--group-add', '123', '--ulimit', 'nofile=1024:2048', '-w', '/tmp', '--oom-score-adj', '300'], exec: [] },
  { name: 'read-only root and an init', run: ['--read-only', '--init'], exec: [] },
];

for (const c of cases) {
  test(`exec through berth-exec sees what runc exec sees: ${c.name}`, async () => {
    const name = `eh-${c.name.replace(/[^a-z]+/g, '-')}`.slice(0, 60);
    const [a, b] = await both(async (d) => {
      await d.dockerOk(['run', '-d', '--name', name, '--hostname', 'probe', ...c.run, 'busybox', 'sleep', '300']);
      const out = await d.dockerOk(['exec', ...c.exec, name, 'sh', '-c', PROBE]);
      await d.dockerOk(['rm', '-f', name]);
      return out;
    });
    assert.equal(a, b);
    assert.match(a, /cgroups: as init/);
    // Only root may read another process's namespace links.
    if (/^Uid:\t0\t/m.test(a)) assert.match(a, /ipc: as init\nmnt: as init\nnet: as init\npid: as init\nuts: as init\nuser: as init\ncgroup: as init/);
  });
}

test('the helper daemon really used berth-exec: the filter it read from the init is kept, and none on the runc one', async () => {
  const [a, b] = await both(async (d) => {
    await d.dockerOk(['run', '-d', '--name', 'eh-used', 'busybox', 'sleep', '300']);
    const id = (await d.inspect('eh-used')).Id as string;
    await d.dockerOk(['exec', 'eh-used', 'true']);
    const kept = existsSync(join(d.execRoot, 'filters', id)) ? 'kept' : 'none';
    await d.dockerOk(['rm', '-f', 'eh-used']);
    // Removing the container removes its filter too.
    assert.deepEqual(readdirSync(join(d.execRoot, 'filters')).filter((f) => f === id), []);
    return kept;
  });
  assert.deepEqual([a, b], ['kept', 'none']);
});

test('exec failures: the same message and exit code as runc exec', async () => {
  for (const args of [['nosuch'], ['/etc'], ['/nosuch'], ['/etc/passwd'], ['-w', '/nosuch', 'true'], ['-w', '/etc/passwd', 'true']]) {
    const [a, b] = await both(async (d) => {
      await d.dockerOk(['run', '-d', '--name', 'eh-fail', 'busybox', 'sleep', '300']);
      const r = await d.docker(['exec', ...args.slice(0, -1), 'eh-fail', args[args.length - 1]!]);
      await d.dockerOk(['rm', '-f', 'eh-fail']);
      return `${r.code} ${r.stdout}${r.stderr}`;
    });
    assert.equal(a, b, args.join(' '));
    assert.match(a, /^12[67] OCI runtime exec failed: exec failed: unable to start container process: .*: unknown/);
  }
});

test('exit codes and signals, output streams, and many execs at once on a fresh container', async () => {
  const d = helper;
  await d.dockerOk(['run', '-d', '--name', 'eh-codes', 'busybox', 'sleep', '300']);
  const all = await Promise.all(Array.from({ length: 8 }, (_, i) => d.docker(['exec', 'eh-codes', 'sh', '-c', `grep ^Seccomp_filters: /proc/self/status; echo err${i} >&2; exit ${i}`])));
  all.forEach((r, i) => {
    assert.equal(r.code, i, r.stderr);
    assert.equal(r.stdout.trim(), 'Seccomp_filters:\t1');
    assert.equal(r.stderr.trim(), `err${i}`);
  });
  assert.equal((await d.docker(['exec', 'eh-codes', 'sh', '-c', 'kill -9 $$'])).code, 137);
  // A restart makes a new init: the filter is read again from it.
  await d.dockerOk(['restart', '-t', '0', 'eh-codes']);
  assert.equal(await d.dockerOk(['exec', 'eh-codes', 'grep', '^Seccomp:', '/proc/self/status']), 'Seccomp:\t2');
  await d.dockerOk(['rm', '-f', 'eh-codes']);
});
