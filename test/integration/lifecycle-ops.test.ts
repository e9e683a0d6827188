/**
 * rename, container prune, system prune and wait conditions, as the docker CLI and
 * docker-py see them: outputs, exit codes, events.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { GATE, httpStream, run, useDaemon } from './harness';

const d = useDaemon();

async function py(script: string): Promise<any> {
  const r = await run('python3', ['-c', `import docker, json\nc = docker.DockerClient(base_url='${d.host}')\n${script}`], { env: d.env(), timeoutMs: 60_000 });
  assert.equal(r.code, 0, `python failed (${r.code}):\n${r.stderr}`);
  return JSON.parse(r.stdout);
}

const names = async () => (await d.dockerOk(['ps', '-a', '--format', '{{.Names}}'])).split('\n').filter(Boolean).sort();

test('rename: the new name is used, a taken one is a 409 with dockerd\'s words, and a rename event says the old name', async () => {
  const since = Math.floor(Date.now() / 1000) - 1;
  await d.dockerOk(['create', '--name', 'rn-a', 'busybox', 'true']);
  await d.dockerOk(['create', '--name', 'rn-b', 'busybox', 'true']);
  const idA = (await d.inspect('rn-a')).Id;
  await d.dockerOk(['rename', 'rn-a', 'rn-c']);
  assert.equal((await d.inspect('rn-c')).Id, idA);
  assert.equal((await d.inspect('rn-c')).Name, '/rn-c');
  const taken = await d.docker(['rename', 'rn-c', 'rn-b']);
  assert.equal(taken.code, 1);
  assert.match(taken.stderr, /Error response from daemon: Error when allocating new name: Conflict\. The container name "\/rn-b" is already in use by container "[0-9a-f]{64}"\. You have to remove \(or rename\) that container to be able to reuse that name\./);
  const api = await d.api('POST', '/containers/rn-c/rename?name=rn-b');
  assert.equal(api.status, 409);
  const same = await d.api('POST', '/containers/rn-c/rename?name=rn-c');
  assert.equal(same.status, 400);
  const bad = await d.api('POST', '/containers/rn-c/rename?name=no%20spaces');
  assert.equal(bad.status, 400);
  // dockerd checks a new name with its slash, and shows it so.
  const badCli = await d.docker(['rename', 'rn-c', 'bad name!']);
  assert.equal(badCli.code, 1);
  assert.match(badCli.stderr, /Error when allocating new name: Invalid container name \(\/bad name!\), only \[a-zA-Z0-9\]\[a-zA-Z0-9_.-\] are allowed/);
  const events = await d.dockerOk(['events', '--since', String(since), '--until', String(Math.floor(Date.now() / 1000) + 1), '--filter', 'event=rename', '--format', '{{.Actor.Attributes.name}} {{.Actor.Attributes.oldName}}']);
  assert.equal(events, 'rn-c /rn-a');
  // docker-py's rename, and the record survives a daemon restart under its new name.
  assert.deepEqual(await py(`c.containers.get('rn-c').rename('rn-d'); print(json.dumps(c.containers.get('rn-d').name))`), 'rn-d');
  await d.stop();
  await d.start();
  assert.equal((await d.inspect('rn-d')).Id, idA);
  await d.dockerOk(['rm', 'rn-d', 'rn-b']);
});

test('container prune: stopped containers only, with until, label and label! filters', async () => {
  await d.dockerOk(['run', '-d', '--name', 'pr-running', '--label', 'keep=no', 'busybox', 'sleep', '1000']);
  await d.dockerOk(['create', '--name', 'pr-web', '--label', 'tier=web', 'busybox', 'true']);
  await d.dockerOk(['create', '--name', 'pr-db', '--label', 'tier=db', 'busybox', 'true']);
  await d.dockerOk(['run', '--name', 'pr-exited', '--label', 'keep=yes', 'busybox', 'sh', '-c', 'echo x > /written']);
  // Made in the future of nothing: `until` a time before they were created prunes none of them.
  const none = await d.dockerOk(['container', 'prune', '-f', '--filter', 'until=2000-01-01T00:00:00Z']);
  assert.match(none, /Total reclaimed space: 0B/);
  const web = await d.dockerOk(['container', 'prune', '-f', '--filter', 'label=tier=web']);
  assert.match(web, /Deleted Containers:\n[0-9a-f]{64}\n/);
  assert.deepEqual(await names(), ['pr-db', 'pr-exited', 'pr-running']);
  const r = await d.api('POST', `/containers/prune?filters=${encodeURIComponent(JSON.stringify({ 'label!': { 'keep=yes': true } }))}`);
  assert.equal(r.status, 200);
  assert.equal(r.json.ContainersDeleted.length, 1);
  assert.equal(typeof r.json.SpaceReclaimed, 'number');
  assert.deepEqual(await names(), ['pr-exited', 'pr-running']);
  const bad = await d.api('POST', `/containers/prune?filters=${encodeURIComponent(JSON.stringify({ status: { exited: true } }))}`);
  assert.equal(bad.status, 400);
  assert.match(bad.json.message, /invalid filter 'status'/);
  const all = await py(`print(json.dumps(c.containers.prune()))`);
  assert.equal(all.ContainersDeleted.length, 1);
  assert.ok(all.SpaceReclaimed > 0, 'the exited container wrote a file: its layer is reclaimed');
  assert.deepEqual(await names(), ['pr-running']);
  await d.dockerOk(['rm', '-f', 'pr-running']);
});

test('system prune: containers, networks, images and build cache through the endpoints that exist', async () => {
  await d.dockerOk(['create', '--name', 'sp-stopped', 'busybox', 'true']);
  await d.dockerOk(['run', '-d', '--name', 'sp-running', 'busybox', 'sleep', '1000']);
  const out = await d.dockerOk(['system', 'prune', '-f']);
  assert.match(out, /Deleted Containers:/);
  assert.deepEqual(await names(), ['sp-running']);
  const all = await d.docker(['system', 'prune', '-a', '-f', '--volumes']);
  assert.equal(all.code, 0, all.stderr);
  // busybox is used by the running container: it stays.
  assert.ok((await d.dockerOk(['images', '-q'])).length > 0);
  await d.dockerOk(['rm', '-f', 'sp-running']);
});

test('wait conditions: not-running, next-exit and removed', async () => {
  await d.dockerOk(['create', '--name', 'wt', 'busybox', 'sh', '-c', `${GATE}; exit 3`]);
  // not-running on a container that is not running answers at once.
  const now = await d.api('POST', '/containers/wt/wait?condition=not-running');
  assert.deepEqual(now.json, { StatusCode: 0, Error: null });
  // next-exit waits for the exit of the run to come.
  const next = httpStream(d.sock, 'POST', '/containers/wt/wait?condition=next-exit');
  assert.equal(await next.status, 200);
  await d.dockerOk(['start', 'wt']);
  assert.equal(next.output(), '');
  await d.dockerOk(['exec', 'wt', 'touch', '/tmp/gate']);
  assert.equal(JSON.parse((await next.done).body).StatusCode, 3);
  // removed waits past the exit until the container is gone.
  const removed = httpStream(d.sock, 'POST', '/containers/wt/wait?condition=removed');
  assert.equal(await removed.status, 200);
  const ok = await d.dockerOk(['wait', 'wt']);
  assert.equal(ok, '3');
  assert.equal(removed.output(), '');
  await d.dockerOk(['rm', 'wt']);
  assert.equal(JSON.parse((await removed.done).body).StatusCode, 3);
  const badCond = await d.api('POST', '/containers/none/wait?condition=sometime');
  assert.equal(badCond.status, 400);
  // docker-py's wait(condition=…).
  await d.dockerOk(['create', '--name', 'wt-py', 'busybox', 'true']);
  const r = await py(`print(json.dumps(c.containers.get('wt-py').wait(condition='not-running')))`);
  assert.equal(r.StatusCode, 0);
  await d.dockerOk(['rm', 'wt-py']);
});

test('stop right after start: an init that installs its SIGTERM handler late still gets the signal, not the whole timeout', async () => {
  // The shell, PID 1 of its namespace, drops SIGTERM until its trap is set (half a second
  // after it starts); the stop is sent at once, with a 30 s timeout.
  await d.dockerOk(['run', '-d', '--name', 'late-trap', 'busybox', 'sh', '-c', 'sleep 0.5; trap "exit 7" TERM; while :; do sleep 0.1; done']);
  const t0 = Date.now();
  await d.dockerOk(['stop', '-t', '30', 'late-trap']);
  const took = Date.now() - t0;
  const st = (await d.inspect('late-trap')).State;
  assert.equal(st.ExitCode, 7, 'the trap ran: the signal was delivered, not replaced by SIGKILL');
  assert.ok(took < 15_000, `stop took ${took} ms`);
  await d.dockerOk(['rm', 'late-trap']);
});
