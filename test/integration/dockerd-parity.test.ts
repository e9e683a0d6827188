/**
 * Behaviour clients rely on, each checked against what dockerd does: label and
 * other list filters shared by every object kind, request field names matched
 * without regard to case, exec and attach streams, and the swarm and plugin
 * endpoints of an engine that is not in a swarm.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { cgroupDirs, rawSocket, run, useDaemon } from './harness';

const d = useDaemon();

/** Run a docker-py script; it prints one JSON document. */
async function py(script: string): Promise<any> {
  const r = await run('python3', ['-c', `import docker, json, sys\nc = docker.DockerClient(base_url='${d.host}')\n${script}`], { env: d.env(), timeoutMs: 60_000 });
  assert.equal(r.code, 0, `python failed (${r.code}):\n${r.stderr}`);
  return JSON.parse(r.stdout);
}

const lines = (s: string) => s.split('\n').filter(Boolean).sort();

test('label filters: every label=… must match, for containers, images, volumes and events', async () => {
  const since = Math.floor(Date.now() / 1000) - 1;
  await d.dockerOk(['create', '--name', 'lf-both', '--label', 'tier=web', '--label', 'team=a', 'busybox', 'true']);
  await d.dockerOk(['create', '--name', 'lf-one', '--label', 'tier=web', 'busybox', 'true']);
  const ps = async (...f: string[]) => lines(await d.dockerOk(['ps', '-a', '--format', '{{.Names}}', ...f.flatMap((x) => ['--filter', x])]));
  assert.deepEqual(await ps('label=tier'), ['lf-both', 'lf-one']);
  assert.deepEqual(await ps('label=tier', 'label=team'), ['lf-both']);
  assert.deepEqual(await ps('label=tier=web', 'label=team=b'), []);
  const badStatus = await d.docker(['ps', '--filter', 'status=sleeping']);
  assert.equal(badStatus.code, 1);
  assert.match(badStatus.stderr, /invalid filter 'status=sleeping'/);

  await d.dockerOk(['commit', '--change', 'LABEL tier=web team=a', 'lf-both', 'lf-img:both']);
  await d.dockerOk(['commit', '--change', 'LABEL tier=web', 'lf-one', 'lf-img:one']);
  const images = async (...f: string[]) => lines(await d.dockerOk(['images', '--format', '{{.Repository}}:{{.Tag}}', ...f.flatMap((x) => ['--filter', x])]));
  assert.deepEqual(await images('label=tier', 'label=team=a'), ['lf-img:both']);
  assert.deepEqual(await images('label=tier=web'), ['lf-img:both', 'lf-img:one']);
  const badDangling = await d.docker(['images', '--filter', 'dangling=maybe']);
  assert.equal(badDangling.code, 1);
  assert.match(badDangling.stderr, /invalid filter 'dangling=\[maybe\]'/);

  await d.dockerOk(['volume', 'create', '--label', 'tier=web', '--label', 'team=a', 'lf-vboth']);
  await d.dockerOk(['volume', 'create', '--label', 'tier=web', 'lf-vone']);
  const vols = async (...f: string[]) => lines(await d.dockerOk(['volume', 'ls', '-q', ...f.flatMap((x) => ['--filter', x])]));
  assert.deepEqual(await vols('label=tier', 'label=team'), ['lf-vboth']);
  assert.deepEqual(await vols('label=tier=web'), ['lf-vboth', 'lf-vone']);

  const events = await d.dockerOk(['events', '--since', String(since), '--until', String(Math.floor(Date.now() / 1000) + 1), '--format', '{{.Actor.Attributes.name}} {{.Action}}',
    '--filter', 'type=container', '--filter', 'event=create', '--filter', 'label=tier', '--filter', 'label=team=a']);
  assert.deepEqual(lines(events), ['lf-both create']);

  await d.dockerOk(['rm', 'lf-both', 'lf-one']);
  await d.dockerOk(['rmi', 'lf-img:both', 'lf-img:one']);
  await d.dockerOk(['volume', 'rm', 'lf-vboth', 'lf-vone']);
  // Image events carry the image's labels, as dockerd's do (a deleted image's are gone with it).
  const imageEvents = await d.dockerOk(['events', '--since', String(since), '--until', String(Math.floor(Date.now() / 1000) + 1), '--format', '{{.Action}} {{.Actor.Attributes.name}}',
    '--filter', 'type=image', '--filter', 'label=team=a']);
  const id = (await d.dockerOk(['events', '--since', String(since), '--until', String(Math.floor(Date.now() / 1000) + 1), '--format', '{{.Actor.ID}}', '--filter', 'type=image', '--filter', 'event=tag', '--filter', 'label=team=a'])).trim();
  assert.match(id, /^sha256:[0-9a-f]{64}$/);
  assert.deepEqual(imageEvents.split('\n'), [`create ${id}`, 'tag lf-img:both', `untag ${id}`]);
});

test('exec: the TTY is the one given at create; Tty in the start body only frames the stream (docker-py sends false)', async () => {
  await d.dockerOk(['run', '-d', '--name', 'ex-tty', 'busybox', 'sleep', '300']);
  const got = await py(`
ex = c.api.exec_create('ex-tty', ['sh', '-c', 'echo out; echo err >&2; [ -t 1 ] && echo tty'], tty=True)
viaPy = c.api.exec_start(ex['Id']).decode()
plain = c.api.exec_create('ex-tty', ['sh', '-c', 'echo out; echo err >&2; [ -t 1 ] || echo notty'])
demux = c.api.exec_start(plain['Id'], demux=True)
print(json.dumps({'tty': viaPy, 'code': c.api.exec_inspect(ex['Id'])['ExitCode'], 'out': demux[0].decode(), 'err': demux[1].decode()}))
`);
  assert.deepEqual(got, { tty: 'out\r\nerr\r\ntty\r\n', code: 0, out: 'out\nnotty\n', err: 'err\n' });
  // The docker CLI sends the same Tty to both: a terminal, CRLF line ends.
  assert.equal(await d.dockerOk(['exec', '-t', 'ex-tty', 'sh', '-c', 'echo a; [ -t 0 ] && echo t']), 'a\r\nt');
  await d.dockerOk(['rm', '-f', 'ex-tty']);
});

test('exec of a binary that cannot be started: dockerd 28\'s exit codes (127 not found, 126 not executable) and words', async () => {
  await d.dockerOk(['run', '-d', '--name', 'ex-missing', 'busybox', 'sleep', '300']);
  const missing = await d.docker(['exec', 'ex-missing', 'nosuch']);
  assert.equal(missing.code, 127, missing.stderr + missing.stdout);
  assert.match(missing.stdout + missing.stderr, /^OCI runtime exec failed: exec failed: unable to start container process: exec: "nosuch": executable file not found in \$PATH: unknown\r?\n$/);
  const dir = await d.docker(['exec', 'ex-missing', '/etc']);
  assert.equal(dir.code, 126);
  assert.match(dir.stdout + dir.stderr, /OCI runtime exec failed: .*\/etc.*permission denied: unknown/);
  // A working directory that is a file: "not a directory", with dockerd's hint, exits 127.
  const cwd = await d.docker(['exec', '-w', '/etc/passwd', 'ex-missing', 'true']);
  assert.equal(cwd.code, 127);
  assert.match(cwd.stdout + cwd.stderr, /not a directory: unknown: Are you trying to mount a directory onto a file \(or vice-versa\)\? Check if the specified host path exists and is the expected type/);
  const inspect = JSON.parse(await d.dockerOk(['inspect', 'ex-missing']))[0];
  assert.equal(inspect.State.Running, true);
  const ran = await d.docker(['run', '--rm', 'busybox', 'nosuch']);
  assert.equal(ran.code, 127);
  assert.match(ran.stderr, /^docker: Error response from daemon: failed to create task for container: failed to create shim task: OCI runtime create failed: runc create failed: unable to start container process: exec: "nosuch": executable file not found in \$PATH: unknown\n/);
  // A start refused by the runtime keeps dockerd's words in State.Error, and its exit code.
  await d.dockerOk(['create', '--name', 'ex-nostart', 'busybox', '/etc']);
  assert.equal((await d.docker(['start', 'ex-nostart'])).code, 1);
  const st = JSON.parse(await d.dockerOk(['inspect', 'ex-nostart']))[0].State;
  assert.equal(st.ExitCode, 126);
  assert.match(st.Error, /^failed to create task for container: failed to create shim task: OCI runtime create failed: .*"\/etc": permission denied: unknown$/);
  await d.dockerOk(['rm', '-f', 'ex-missing', 'ex-nostart']);
});

test('attach with stream=0 replays the logs (logs=1) or nothing, then ends, even on an exited container', async () => {
  await d.dockerOk(['run', '--name', 'at-exited', 'busybox', 'sh', '-c', 'echo out; echo err >&2']);
  const got = await py(`
print(json.dumps({'logs': c.api.attach('at-exited', logs=True).decode(), 'none': c.api.attach('at-exited').decode(),
                  'stdout': c.api.attach('at-exited', stderr=False, logs=True).decode()}))
`);
  assert.deepEqual(got, { logs: 'out\nerr\n', none: '', stdout: 'out\n' });
  const plain = await d.api('POST', '/v1.45/containers/at-exited/attach?logs=1&stdout=1&stderr=1');
  assert.equal(plain.status, 200);
  assert.equal(plain.headers['content-type'], 'application/vnd.docker.multiplexed-stream');
  // Two frames: [stream, 0, 0, 0, size32] + data.
  assert.equal(plain.body, '\x01\x00\x00\x00\x00\x00\x00\x04out\n\x02\x00\x00\x00\x00\x00\x00\x04err\n');
  await d.dockerOk(['rm', 'at-exited']);
});

test('swarm endpoints answer 503 as dockerd outside a swarm; plugins list empty', async () => {
  const nodes = await d.docker(['node', 'ls']);
  assert.equal(nodes.code, 1);
  assert.equal(nodes.stderr.trim(), 'Error response from daemon: This node is not a swarm manager. Use "docker swarm init" or "docker swarm join" to connect this node to swarm and try again.');
  const leave = await d.docker(['swarm', 'leave']);
  assert.equal(leave.code, 1);
  assert.equal(leave.stderr.trim(), 'Error response from daemon: This node is not part of a swarm');
  for (const [method, path] of [['GET', '/swarm'], ['GET', '/swarm/unlockkey'], ['GET', '/services'], ['GET', '/tasks'], ['GET', '/secrets'], ['GET', '/configs'], ['GET', '/nodes/x'], ['DELETE', '/services/x']] as const) {
    const r = await d.api(method, `/v1.45${path}`);
    assert.equal(r.status, 503, `${method} ${path}`);
    assert.match((r.json as { message: string }).message, /^This node is not a swarm manager\./);
  }
  assert.equal((await d.api('POST', '/v1.45/swarm/leave?force=1')).status, 503);
  const volumeUpdate = await d.api('PUT', '/v1.45/volumes/anything?version=1', { Spec: {} });
  assert.equal(volumeUpdate.status, 503);
  assert.equal(volumeUpdate.json.message, 'volume update only valid for cluster volumes, but swarm is unavailable');
  assert.equal(await d.dockerOk(['plugin', 'ls', '--format', '{{.Name}}']), '');
  const plugins = await d.api('GET', '/v1.45/plugins');
  assert.equal(plugins.status, 200);
  assert.deepEqual(plugins.json, []);
  assert.equal((await d.api('GET', `/v1.45/plugins?filters=${encodeURIComponent('{"colour":{"x":true}}')}`)).status, 400);
  const inspect = await d.docker(['plugin', 'inspect', 'nope']);
  assert.equal(inspect.code, 1);
  assert.match(inspect.stderr, /plugin "nope" not found/);
  for (const args of [['plugin', 'enable', 'nope'], ['plugin', 'disable', 'nope'], ['plugin', 'set', 'nope', 'a=b']]) {
    assert.equal((await d.docker(args)).stderr, 'Error response from daemon: plugin "nope" not found\n', args.join(' '));
  }
  // Installing one (the CLI asks for its privileges first) is refused in words that say why.
  const install = await d.docker(['plugin', 'install', '--grant-all-permissions', 'example/plugin']);
  assert.equal(install.code, 1);
  assert.equal(install.stderr, 'Error response from daemon: managed plugins are not supported by this engine: volume and network drivers are built in\n');
  assert.equal((await d.api('GET', '/v1.45/plugins/privileges?remote=example/plugin')).status, 501);
  const got = await py(`
try:
    c.swarm.reload()
    swarm = 'joined'
except docker.errors.APIError as e:
    swarm = e.status_code
print(json.dumps({'plugins': c.plugins.list(), 'swarm': swarm}))
`);
  assert.deepEqual(got, { plugins: [], swarm: 503 });
});

test('request field names match regardless of case, as dockerd decodes them; maps keep their keys', async () => {
  const created = await d.api('POST', '/v1.45/containers/create?name=fold-case', {
    image: 'busybox', cmd: ['sleep', '300'], labels: { 'Mixed.Case': 'v' },
    hostconfig: { memory: 64 << 20, restartpolicy: { name: 'on-failure', maximumretrycount: 2 }, sysctls: { 'net.ipv4.ip_forward': '1' } },
  });
  assert.equal(created.status, 201, created.body);
  const ins = await d.inspect('fold-case');
  assert.equal(ins.Config.Image, 'busybox');
  assert.deepEqual(ins.Config.Cmd, ['sleep', '300']);
  assert.deepEqual(ins.Config.Labels, { 'Mixed.Case': 'v' });
  assert.equal(ins.HostConfig.Memory, 64 << 20);
  assert.deepEqual(ins.HostConfig.RestartPolicy, { Name: 'on-failure', MaximumRetryCount: 2 });
  assert.deepEqual(ins.HostConfig.Sysctls, { 'net.ipv4.ip_forward': '1' });
  await d.dockerOk(['start', 'fold-case']);
  const exec = await d.api('POST', '/v1.45/containers/fold-case/exec', { cmd: ['echo', 'hi'], attachstdout: true });
  assert.equal(exec.status, 201, exec.body);
  const execInfo = (await d.api('GET', `/v1.45/exec/${(exec.json as { Id: string }).Id}/json`)).json as { OpenStdout: boolean; ProcessConfig: { entrypoint: string; arguments: string[] } };
  assert.deepEqual([execInfo.OpenStdout, execInfo.ProcessConfig.entrypoint, execInfo.ProcessConfig.arguments], [true, 'echo', ['hi']]);
  const upd = await d.api('POST', '/v1.45/containers/fold-case/update', { MEMORY: 96 << 20, memoryswap: -1 });
  assert.equal(upd.status, 200, upd.body);
  assert.equal((await d.inspect('fold-case')).HostConfig.Memory, 96 << 20);
  const vol = await d.api('POST', '/v1.45/volumes/create', { name: 'fold-vol', labels: { Tier: 'x' } });
  assert.equal(vol.status, 201, vol.body);
  assert.deepEqual((vol.json as { Labels: unknown }).Labels, { Tier: 'x' });
  await d.dockerOk(['rm', '-f', 'fold-case']);
  await d.dockerOk(['volume', 'rm', 'fold-vol']);
});

test('docker-py\'s CPURealtimePeriod reaches the container\'s cgroup; a runtime above the period is refused as dockerd does', async () => {
  const got = await py(`
ct = c.containers.run('busybox', ['sleep', '300'], detach=True, name='rt-py', cpu_rt_period=500000)
try:
    c.containers.create('busybox', ['true'], cpu_rt_period=1000, cpu_rt_runtime=2000)
    refused = None
except docker.errors.APIError as e:
    refused = [e.status_code, e.explanation]
print(json.dumps({'id': ct.id, 'period': c.api.inspect_container(ct.id)['HostConfig']['CpuRealtimePeriod'], 'refused': refused}))
`);
  assert.deepEqual([got.period, got.refused], [500000, [400, 'cpu real-time runtime cannot be higher than cpu real-time period']]);
  const cpu = cgroupDirs(got.id).find((dir) => dir.startsWith('/sys/fs/cgroup/cpu/') || dir.startsWith('/sys/fs/cgroup/cpu,'));
  assert.ok(cpu, `no cpu cgroup for ${got.id}`);
  assert.equal(readFileSync(join(cpu, 'cpu.rt_period_us'), 'utf8').trim(), '500000');
  await d.dockerOk(['rm', '-f', 'rt-py']);
});

test('an Upgrade request to an endpoint that does not stream is a 400 that says so, not a 500', async () => {
  const reply = await rawSocket(d.sock, 'GET /v1.45/containers/json HTTP/1.1\r\nHost: berth\r\nConnection: Upgrade\r\nUpgrade: tcp\r\n\r\n', { waitMs: 10_000 });
  assert.match(reply, /^HTTP\/1\.1 400 /);
  assert.match(reply, /"message":"\/v1\.45\/containers\/json does not upgrade connections: send the request without an Upgrade header"/);
});

test('what a container or a commit does not set, inspect shows as dockerd does: null, not an empty list or -1', async () => {
  // The test image is imported: it has no Env and no Volumes of its own.
  await d.dockerOk(['create', '--name', 'nulls', 'busybox', 'true']);
  const c = JSON.parse(await d.dockerOk(['inspect', 'nulls']))[0];
  assert.equal(c.Config.Env, null);
  assert.equal(c.Config.Volumes, null);
  assert.equal(c.HostConfig.MemorySwappiness, null);
  assert.equal(await d.dockerOk(['inspect', '-f', '{{json .Config.Env}} {{json .HostConfig.MemorySwappiness}}', 'nulls']), 'null null');
  await d.dockerOk(['commit', 'nulls', 'nulls-img']);
  assert.equal(await d.dockerOk(['image', 'inspect', '-f', '{{json .Config.Env}} {{json .Config.Volumes}}', 'nulls-img']), 'null null');
  // Set ones stay as given.
  await d.dockerOk(['create', '--name', 'set', '-e', 'A=1', '-v', '/data', '--memory-swappiness', '10', 'busybox', 'true']);
  assert.equal(await d.dockerOk(['inspect', '-f', '{{json .Config.Env}} {{json .Config.Volumes}} {{.HostConfig.MemorySwappiness}}', 'set']), '["A=1"] {"/data":{}} 10');
  await d.dockerOk(['rm', '-v', 'nulls', 'set']);
  await d.dockerOk(['rmi', 'nulls-img']);
});

test('save of a repository with no local tag, and import with a change that is no instruction: dockerd\'s words', async () => {
  const save = await d.docker(['save', '-o', join(d.dir, 'none.tar'), 'busybox', 'no-such-repo']);
  assert.equal(save.code, 1);
  assert.equal(save.stderr, 'Error response from daemon: No such image: no-such-repo\n');
  const tagged = await d.docker(['save', '-o', join(d.dir, 'none.tar'), 'no-such-repo:1']);
  assert.equal(tagged.stderr, 'Error response from daemon: No such image: no-such-repo:1\n');
  const imp = await d.docker(['import', '--change', 'BOGUS x', d.busyboxTar(), 'bad-change:1']);
  assert.equal(imp.code, 1);
  assert.equal(imp.stderr, 'Error response from daemon: bogus is not a valid change command\n');
  assert.equal((await d.docker(['image', 'inspect', 'bad-change:1'])).code, 1, 'nothing is left of the refused import');
});
