import { test } from 'node:test';
import assert from 'node:assert/strict';
import { parseToolVersion, startFailure } from './monitor';

test('parseToolVersion reads runc, conmon and tini output', () => {
  assert.deepEqual(parseToolVersion('runc version 1.1.5+ds1\ncommit: 1.1.5+ds1-1+deb12u1\nspec: 1.0.2-dev\ngo: go1.19.8\n'), { version: '1.1.5+ds1', commit: '1.1.5+ds1-1+deb12u1' });
  assert.deepEqual(parseToolVersion('conmon version 2.1.6\ncommit: unknown\n'), { version: '2.1.6', commit: 'unknown' });
  assert.deepEqual(parseToolVersion('tini version 0.19.0 - git.de40ad0\n'), { version: '0.19.0', commit: 'de40ad0' });
  assert.equal(parseToolVersion('usage: tool [options]\n'), undefined);
});

test('startFailure reads a runtime refusal as dockerd does: exit code, and the words it adds', () => {
  const hint = ': Are you trying to mount a directory onto a file (or vice-versa)? Check if the specified host path exists and is the expected type';
  assert.deepEqual(startFailure('exec: "nosuch": executable file not found in $PATH: unknown'), { exitCode: 127, message: 'exec: "nosuch": executable file not found in $PATH: unknown' });
  assert.deepEqual(startFailure('exec /bin/x: no such file or directory'), { exitCode: 127, message: 'exec /bin/x: no such file or directory' });
  assert.deepEqual(startFailure('exec /etc/passwd: Permission denied'), { exitCode: 126, message: 'exec /etc/passwd: Permission denied' });
  assert.deepEqual(startFailure('exec: "/etc": is a directory: unknown'), { exitCode: 126, message: 'exec: "/etc": is a directory: unknown: permission denied' });
  assert.deepEqual(startFailure('chdir to cwd ("/etc/passwd") set in config.json failed: not a directory: unknown'), { exitCode: 127, message: `chdir to cwd ("/etc/passwd") set in config.json failed: not a directory: unknown${hint}` });
  assert.deepEqual(startFailure('cgroup: cannot write: unknown'), { exitCode: 128, message: 'cgroup: cannot write: unknown' });
});

test('state() answers from runc state files as runc would, and asks runc when unsure', async () => {
  const { mkdtempSync, mkdirSync, writeFileSync, readFileSync, rmSync } = await import('node:fs');
  const { tmpdir } = await import('node:os');
  const { join } = await import('node:path');
  const { spawnSync } = await import('node:child_process');
  const { Monitor } = await import('./monitor');
  const root = mkdtempSync(join(tmpdir(), 'berth-monitor-state-'));
  try {
    // runc here is /bin/false: any fallback to it shows as a rejection.
    const m = new Monitor({ execRoot: root, runc: '/bin/false', conmon: '/bin/false' });
    const self = readFileSync('/proc/self/stat', 'utf8');
    const start = self.slice(self.lastIndexOf(')') + 2).split(' ')[19]!;
    const freezer = join(root, 'freezer');
    mkdirSync(freezer);
    const put = (id: string, pid: number, startTime: string, freezerState: string, fifo = false) => {
      const dir = join(root, 'runc', id);
      mkdirSync(join(freezer, id), { recursive: true });
      writeFileSync(join(freezer, id, 'freezer.state'), `${freezerState}\n`);
      mkdirSync(dir, { recursive: true });
      writeFileSync(join(dir, 'state.json'), JSON.stringify({ id, init_process_pid: pid, init_process_start: Number(startTime), cgroup_paths: { freezer: join(freezer, id) } }));
      if (fifo) writeFileSync(join(dir, 'exec.fifo'), '');
    };
    put('running', process.pid, start, 'THAWED');
    put('created', process.pid, start, 'THAWED', true);
    put('paused', process.pid, start, 'FROZEN');
    put('reused', process.pid, String(Number(start) + 1), 'THAWED');
    const dead = spawnSync('/bin/true').pid!;
    put('dead', dead, start, 'THAWED');
    put('freezing', process.pid, start, 'FREEZING');
    assert.deepEqual(await m.state('running'), { status: 'running', pid: process.pid });
    assert.deepEqual(await m.state('created'), { status: 'created', pid: process.pid });
    assert.deepEqual(await m.state('paused'), { status: 'paused', pid: process.pid });
    assert.equal((await m.state('reused'))?.status, 'stopped');
    assert.equal((await m.state('dead'))?.status, 'stopped');
    await assert.rejects(m.state('freezing'), /runc state failed/);
    assert.equal(await m.state('unknown'), undefined);
  } finally {
    rmSync(root, { recursive: true, force: true });
  }
});

test('signalNumber reads signals as runc takes them', async () => {
  const { signalNumber } = await import('./monitor');
  assert.equal(signalNumber('KILL'), 9);
  assert.equal(signalNumber('SIGTERM'), 15);
  assert.equal(signalNumber('term'), 15);
  assert.equal(signalNumber('10'), 10);
  assert.equal(signalNumber(2), 2);
  assert.equal(signalNumber('NOSUCH'), undefined);
  assert.equal(signalNumber('0'), undefined);
  assert.equal(signalNumber(99), undefined);
});
