/**
 * `berth run` and `berth start` when the start fails, side by side with the real docker CLI
 * 28 on one berthd: the same exit codes (127, 126, 1), the same words with "docker" read as
 * "berth", and for `run -d` the container's id on stdout before the error, as docker prints it.
 */
import { test } from 'node:test';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import assert from 'node:assert/strict';
import { ID64, type RunResult, useDaemon } from './harness';

const d = useDaemon();

/**
 * The same command through both CLIs on one daemon: the same exit code and stderr (with
 * "docker" read as "berth"), and stdout too unless `stdout` is false. Returns berth's result.
 */
async function sameAsDocker(args: string[], o: { stdout?: boolean } = {}): Promise<RunResult> {
  const a = await d.docker(args);
  const b = await d.berth(args);
  const what = args.join(' ');
  assert.equal(b.code, a.code, `${what}: berth ${b.code}, docker ${a.code}\nberth: ${b.stderr}\ndocker: ${a.stderr}`);
  assert.equal(b.stderr, a.stderr.replace(/\bdocker\b/g, 'berth'), `${what}: stderr`);
  if (o.stdout !== false) assert.equal(b.stdout, a.stdout, `${what}: stdout`);
  return b;
}

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
  for (const args of [['start', 'sf'], ['start', '-a', 'sf']]) await sameAsDocker(args);
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
  for (const args of cases) await sameAsDocker(args);
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

test('--restart syntax is the CLI\'s to check, the policy the daemon\'s; network create\'s IPAM entries checked as the docker CLI does', async () => {
  await d.dockerOk(['run', '-d', '--name', 'rp', 'busybox', 'sleep', '300']);
  const cases: string[][] = [];
  for (const r of ['nope', 'always:3', 'on-failure:x', ':3', 'on-failure:-1']) cases.push(['run', '--rm', '--restart', r, 'busybox', 'true'], ['update', '--restart', r, 'rp']);
  for (const extra of [
    ['--subnet', '10.98.0.0/24', '--gateway', '10.97.0.1'],
    ['--subnet', '10.98.0.0/24', '--subnet', '10.98.0.0/16'],
    ['--subnet', '10.98.0.0/24', '--ip-range', '10.98.1.0/25'],
    ['--subnet', '10.98.0.0/24', '--ip-range', 'nope'],
    ['--subnet', 'nope', '--subnet', '10.1.0.0/16'],
    ['--gateway', '10.1.0.1'],
    ['--subnet', '10.98.0.0/24', '--gateway', '10.98.0.1', '--gateway', '10.98.0.2'],
  ]) cases.push(['network', 'create', ...extra, 'bad']);
  for (const args of cases) await sameAsDocker(args, { stdout: false });
  // Gateways go to the subnet that holds them, whatever the order they were given in.
  const id = (await d.berth(['network', 'create', '--ipv6', '--subnet', '10.98.0.0/24', '--subnet', 'fd00:98::/64', '--gateway', 'fd00:98::1', 'dual'])).stdout.trim();
  assert.match(id, ID64);
  const ipam = JSON.parse(await d.dockerOk(['network', 'inspect', '-f', '{{json .IPAM.Config}}', 'dual']));
  assert.deepEqual(ipam.find((c: any) => c.Subnet === 'fd00:98::/64').Gateway, 'fd00:98::1');
  await d.dockerOk(['network', 'rm', 'dual']);
  await d.dockerOk(['rm', '-f', 'rp']);
});

test('berth run takes docker\'s network, DNS, logging and runtime flags: the container is wired as with docker run', async () => {
  await d.dockerOk(['network', 'create', '--subnet', '10.97.0.0/24', 'flags-net']);
  const out = await d.berth(['run', '--rm', '--network', 'flags-net', '--ip', '10.97.0.50', '--network-alias', 'svc', '--mac-address', '02:42:0a:61:00:32',
    '--dns', '10.97.0.1', '--dns-search', 'example.test', '--dns-option', 'ndots:3', '--add-host', 'db:10.97.0.9', '--domainname', 'corp.test', '--hostname', 'h1',
    '--log-driver', 'json-file', '--log-opt', 'max-size=1m', 'busybox', 'sh', '-c', 'ip -o -4 addr show eth0; cat /sys/class/net/eth0/address; cat /etc/hosts /etc/resolv.conf; hostname -d']);
  assert.equal(out.code, 0, out.stderr);
  assert.match(out.stdout, /inet 10\.97\.0\.50\/24/);
  assert.match(out.stdout, /02:42:0a:61:00:32/);
  assert.match(out.stdout, /10\.97\.0\.9\tdb/);
  assert.match(out.stdout, /search example\.test/);
  assert.match(out.stdout, /options ndots:3/);
  // --net, docker's old name of --network, and none.
  const none = await d.berth(['run', '--rm', '--net', 'none', 'busybox', 'ip', '-o', 'link']);
  assert.equal(none.stdout.trim().split('\n').length, 1, none.stdout);
  const id = (await d.berth(['create', '--network', 'flags-net', '--log-opt', 'max-size=2m', '-P', '--expose', '80', '--runtime', 'runc', 'busybox', 'true'])).stdout.trim();
  const ins = await d.inspect(id);
  assert.equal(ins.HostConfig.NetworkMode, 'flags-net');
  assert.deepEqual(ins.HostConfig.LogConfig, { Type: 'json-file', Config: { 'max-size': '2m' } });
  assert.equal(ins.HostConfig.PublishAllPorts, true);
  assert.equal(ins.HostConfig.Runtime, 'runc');
  await d.dockerOk(['rm', id]);
  await d.dockerOk(['network', 'rm', 'flags-net']);
});

test('flag values refused as the docker CLI refuses them: words, usage line, exit 125', async () => {
  const bad: string[][] = [
    ['-m', '1x'], ['-m', 'x'], ['--cpus', 'abc'], ['-e', '=x'], ['--ulimit', 'nofile=x'], ['--ulimit', 'nosuch=1'], ['--shm-size', 'x'],
    ['--pids-limit', 'x'], ['--stop-timeout', 'x'], ['--health-interval', '1x'], ['--health-interval', '1'], ['--label', '=x'],
    ['--dns', 'x'], ['--add-host', 'bad'], ['--add-host', 'a:300.1.1.1'], ['--mac-address', 'zz'], ['--network-alias', 'a'],
    ['--env-file', '/nonexistent-env-file'], ['--network', 'no-such-net'], ['--cpus', '-1'],
    ['-p', '1.2.3:80:80'], ['--device', '/dev/nosuch'], ['--security-opt', 'nope'], ['--userns', 'nope'], ['--pid', 'nope'], ['--cgroupns', 'nope'],
    ['--uts', 'nope'], ['--oom-score-adj', '2000'], ['--memory-swappiness', '200'], ['--cpu-shares', 'x'], ['--sysctl', 'x'], ['--sysctl', 'kernel.nope=1'],
  ];
  for (const flags of bad) await sameAsDocker(['run', '--rm', ...flags, 'busybox', 'true'], { stdout: false });
});

test('berth network prune: the prompt, the filter refusal and the output as docker network prune', async () => {
  await sameAsDocker(['network', 'prune', '--filter', 'bad']);
  for (const cli of ['docker', 'berth'] as const) {
    await d.dockerOk(['network', 'create', 'unused-one']);
    const run = (args: string[], input: string) => (cli === 'docker' ? d.docker(args, { input }) : d.berth(args, { input }));
    const no = await run(['network', 'prune'], 'n\n');
    assert.equal(no.stdout, 'WARNING! This will remove all custom networks not used by at least one container.\nAre you sure you want to continue? [y/N] ', cli);
    const yes = await run(['network', 'prune'], 'y\n');
    assert.equal(yes.stdout, 'WARNING! This will remove all custom networks not used by at least one container.\nAre you sure you want to continue? [y/N] Deleted Networks:\nunused-one\n\n', cli);
  }
});

test('logs/events times and commit references refused in the docker CLI 28\'s words', async () => {
  await d.dockerOk(['run', '-d', '--name', 'lt', 'busybox', 'sleep', '300']);
  for (const args of [['logs', '--since', 'abc', 'lt'], ['logs', '--until', 'abc', 'lt'], ['events', '--since', 'abc'], ['events', '--until', 'abc'], ['commit', 'lt', 'BAD:ref']]) await sameAsDocker(args);
  await d.dockerOk(['rm', '-f', 'lt']);
});

test('boolean flags in Go\'s spelling (--rm=true, -d=false, --sig-proxy=false) as the docker CLI takes them; the container\'s own arguments untouched', async () => {
  const r = await d.berth(['run', '--rm=true', '-d=false', '--sig-proxy=false', '--no-healthcheck=true', 'busybox', 'echo', '--rm=false', '-d=true']);
  assert.equal(r.code, 0, r.stderr);
  assert.equal(r.stdout, '--rm=false -d=true\n');
  for (const args of [['ps', '-a=true', '-q'], ['ps', '--all=false', '-q'], ['attach', '--sig-proxy=false', 'nosuch']]) await sameAsDocker(args);
});

test('exec --env-file and -e, and volume create -o, as the docker CLI takes and refuses them', async () => {
  await d.dockerOk(['run', '-d', '--name', 'ex-env', 'busybox', 'sleep', '300']);
  const dir = mkdtempSync(join(tmpdir(), 'berth-env-'));
  try {
    writeFileSync(join(dir, 'good'), '# comment\nA=1\n  B=two words\n');
    writeFileSync(join(dir, 'bad'), 'A B=1\n');
    const ok = await sameAsDocker(['exec', '--env-file', join(dir, 'good'), '-e', 'C=3', 'ex-env', 'sh', '-c', 'echo "$A|$B|$C"']);
    assert.equal(ok.stdout, '1|two words|3\n');
    for (const args of [
      ['exec', '--env-file', join(dir, 'bad'), 'ex-env', 'true'],
      ['exec', '--env-file', join(dir, 'missing'), 'ex-env', 'true'],
      ['exec', '-e', '=x', 'ex-env', 'true'],
      ['volume', 'create', '-o', 'x', 'vol-bad-opt'],
    ]) await sameAsDocker(args);
  } finally {
    rmSync(dir, { recursive: true, force: true });
    await d.dockerOk(['rm', '-f', 'ex-env']);
  }
});
