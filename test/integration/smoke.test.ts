// The walking skeleton end to end: a real berthd, the real docker CLI, runc, conmon and overlay.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { mkdtempSync, rmSync, existsSync, readlinkSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { claimTestNet } from './harness';

const ROOT = resolve(__dirname, '..', '..', '..');
const dir = mkdtempSync('/tmp/berth-smoke-');
const sock = join(dir, 's.sock');
let daemon: ChildProcess;
const net = claimTestNet();

function docker(args: string[], input?: Buffer) {
  const r = spawnSync('docker', ['-H', `unix://${sock}`, ...args], { input, timeout: 60_000 });
  return { code: r.status, stdout: r.stdout.toString(), stderr: r.stderr.toString() };
}

before(async () => {
  daemon = spawn(join(ROOT, 'bin', 'berthd'), ['-H', `unix://${sock}`, '--data-root', join(dir, 'data'), '--exec-root', join(dir, 'exec'), '--pidfile', join(dir, 'pid'), ...net.args], { stdio: ['ignore', 'ignore', 'pipe'] });
  let log = '';
  daemon.stderr!.on('data', (d) => (log += d));
  for (let i = 0; i < 100 && !existsSync(sock); i++) await new Promise((r) => setTimeout(r, 100));
  assert.ok(existsSync(sock), `berthd did not create its socket:\n${log}`);
  const tar = spawnSync(join(ROOT, 'scripts', 'make-busybox-rootfs.sh'), { maxBuffer: 64 << 20 });
  assert.equal(tar.status, 0, tar.stderr.toString());
  const imp = docker(['import', '-', 'busybox:latest'], tar.stdout);
  assert.equal(imp.code, 0, imp.stderr);
});

after(async () => {
  const ids = docker(['ps', '-aq']).stdout.split('\n').filter(Boolean);
  if (ids.length) docker(['rm', '-f', ...ids]);
  const exited = new Promise((r) => daemon.once('exit', r));
  daemon.kill('SIGTERM');
  // berthd takes its bridge down on the way out.
  await Promise.race([exited, new Promise((r) => setTimeout(r, 10_000))]);
  net.release();
  spawnSync('sh', ['-c', `grep -o ' ${dir}[^ ]*' /proc/self/mountinfo | xargs -r -n1 umount -l`]);
  rmSync(dir, { recursive: true, force: true });
});

test('docker run returns the container exit code and keeps stdout and stderr apart', () => {
  const r = docker(['run', '--rm', 'busybox', 'sh', '-c', 'echo out; echo err >&2; exit 42']);
  assert.equal(r.code, 42);
  assert.equal(r.stdout, 'out\n');
  assert.equal(r.stderr, 'err\n');
});

test('the container has its own pid namespace, hostname and network (loopback and its bridge veth)', () => {
  const r = docker(['run', '--rm', '-h', 'box', 'busybox', 'sh', '-c', 'echo $$; hostname; echo $(ls /sys/class/net); readlink /proc/self/ns/pid']);
  assert.equal(r.code, 0, r.stderr);
  const [pid, host, ifaces, ns] = r.stdout.trim().split('\n');
  assert.equal(pid, '1');
  assert.equal(host, 'box');
  assert.equal(ifaces, 'eth0 lo');
  assert.notEqual(ns, readlinkSync('/proc/self/ns/pid'));
});
