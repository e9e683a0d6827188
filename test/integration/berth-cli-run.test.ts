/**
 * `berth run` and `berth start` when the start fails, side by side with the real docker CLI
 * 28 on one berthd: the same exit codes (127, 126, 1), the same words with "docker" read as
 * "berth", and for `run -d` the container's id on stdout before the error, as docker prints it.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { ID64, useDaemon } from './harness';

const d = useDaemon();

test('run and start refusals: codes, words and the id of run -d as the docker CLI gives them', async () => {
  const cases: string[][] = [
    ['run', '--rm', 'busybox', 'nosuchcmd'],
    ['run', '-d', 'busybox', 'nosuchcmd'],
    ['run', '--rm', 'busybox', '/etc'],
    ['run', '-d', '--rm', 'busybox', '/etc'],
    ['run', '-d', '-a', 'stdout', 'busybox', 'true'],
  ];
  for (const args of cases) {
    const a = await d.docker(args);
    const b = await d.berth(args);
    const what = args.join(' ');
    assert.equal(b.code, a.code, `${what}: berth ${b.code}, docker ${a.code}`);
    assert.equal(b.stderr, a.stderr.replace(/\bdocker\b/g, 'berth'), `${what}: stderr`);
    // run -d: a new id each time, printed before the start fails.
    assert.equal(b.stdout.replace(/[0-9a-f]{64}/, 'ID'), a.stdout.replace(/[0-9a-f]{64}/, 'ID'), `${what}: stdout`);
    if (args[1] === '-d' && args[2] !== '-a') assert.match(b.stdout.trim(), ID64);
  }
  assert.equal((await d.docker(['run', '--rm', 'busybox', 'nosuchcmd'])).code, 127);
  await d.dockerOk(['create', '--name', 'sf', 'busybox', 'nosuchcmd']);
  for (const args of [['start', 'sf'], ['start', '-a', 'sf']]) {
    const a = await d.docker(args);
    const b = await d.berth(args);
    assert.equal(b.code, a.code, args.join(' '));
    assert.equal(b.stderr, a.stderr, args.join(' '));
  }
  await d.dockerOk(['rm', '-f', 'sf']);
});

test('network rm and rmi -f of missing objects: the docker CLI 28\'s status line and exit codes', async () => {
  await d.dockerOk(['network', 'create', 'gone-soon']);
  const cases: string[][] = [
    ['network', 'rm', 'nosuch'],
    ['network', 'rm', '-f', 'nosuch'],
    ['rmi', 'nosuch'],
    ['rmi', '-f', 'nosuch'],
  ];
  for (const args of cases) {
    const a = await d.docker(args);
    const b = await d.berth(args);
    assert.equal(b.code, a.code, `${args.join(' ')}: berth ${b.code}, docker ${a.code}`);
    assert.equal(b.stderr, a.stderr, args.join(' '));
    assert.equal(b.stdout, a.stdout, args.join(' '));
  }
  const b = await d.berth(['network', 'rm', 'nosuch', 'gone-soon']);
  assert.equal(b.code, 1);
  assert.equal(b.stdout, 'gone-soon\n');
  assert.equal(b.stderr, 'Error response from daemon: network nosuch not found\nexit status 1\n');
});

test('build without exactly one context: the docker CLI 28\'s usage error', async () => {
  for (const args of [['build'], ['build', 'a', 'b']]) {
    const a = await d.docker(args, { env: { DOCKER_BUILDKIT: '0' } });
    const b = await d.berth(args);
    assert.equal(b.code, a.code, args.join(' '));
    // docker's own notice about its legacy builder comes first; the rest is the usage error.
    const usage = a.stderr.slice(a.stderr.indexOf("docker: 'docker build'"));
    assert.equal(b.stderr, usage.replace(/\bdocker\b/g, 'berth'), args.join(' '));
  }
});
