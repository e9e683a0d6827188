/**
 * Restart policies through the docker CLI against a real berthd: back-off and counts,
 * Restarting status, manual stops, `docker update --restart`, and what happens when berthd
 * starts again (after a crash, during a back-off, and after a reboot-like loss of its exec root).
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, readFileSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { GATE, mountsUnder, openGate, run, useDaemon, waitFor, alive } from './harness';

const d = useDaemon();

const now = () => Math.floor(Date.now() / 1000);

async function actions(id: string, since: number): Promise<string[]> {
  const out = await d.dockerOk(['events', '--since', String(since), '--until', String(now() + 1), '--filter', `container=${id}`, '--format', '{{.Action}}']);
  return out.split('\n').filter(Boolean);
}

test('on-failure:2 restarts a failing container twice, then it stays exited; die and start events as dockerd', async () => {
  const since = now();
  const id = await d.dockerOk(['run', '-d', '--name', 'fails', '--restart', 'on-failure:2', 'busybox', 'sh', '-c', 'exit 3']);
  await waitFor('two restarts and a final exit', async () => {
    const st = await d.inspect(id);
    return st.RestartCount === 2 && st.State.Status === 'exited';
  }, 20_000, 100);
  const st = await d.inspect(id);
  assert.equal(st.State.ExitCode, 3);
  assert.equal(st.State.Running, false);
  assert.deepEqual(st.HostConfig.RestartPolicy, { Name: 'on-failure', MaximumRetryCount: 2 });
  assert.deepEqual(await actions(id, since), ['create', 'start', 'die', 'start', 'die', 'start', 'die']);
  // A success is no failure: on-failure leaves it down at once.
  const ok = await d.dockerOk(['run', '-d', '--restart', 'on-failure', 'busybox', 'true']);
  await waitFor('exit 0', async () => (await d.inspect(ok)).State.Status === 'exited', 10_000, 100);
  assert.equal((await d.inspect(ok)).RestartCount, 0);
  await d.dockerOk(['rm', id, ok]);
});

test('always: back-off while it keeps failing, "Restarting (N) … ago" in ps, Restarting in inspect; a stop ends it', async () => {
  const id = await d.dockerOk(['run', '-d', '--name', 'looping', '--restart', 'always', 'busybox', 'sh', '-c', 'exit 1']);
  // The back-off doubles from 100 ms: after a few restarts it waits long enough to be seen.
  const ps = await waitFor('Restarting in ps', async () => {
    const line = await d.dockerOk(['ps', '--filter', 'name=looping', '--format', '{{.Status}}']);
    return /^Restarting \(1\) .+ ago$/.test(line) ? line : undefined;
  }, 30_000, 20);
  assert.ok(ps);
  const st = await d.inspect(id);
  if (st.State.Status === 'restarting') {
    assert.equal(st.State.Restarting, true);
    assert.equal(st.State.Running, true);
    assert.equal(st.State.Pid, 0);
  }
  assert.ok(st.RestartCount >= 1, `RestartCount ${st.RestartCount}`);
  assert.match(await d.dockerOk(['ps', '--filter', 'status=restarting', '--format', '{{.Names}}']), /looping|^$/);
  const rm = await d.docker(['rm', id]);
  if (rm.code !== 0) assert.match(rm.stderr, /container is (restarting|running): stop the container before removing or force remove/);
  assert.equal(await d.dockerOk(['stop', id]), id);
  const after = await d.inspect(id);
  assert.equal(after.State.Status, 'exited');
  const count = after.RestartCount;
  // Nothing brings it back: the pending restart was dropped.
  await new Promise((r) => setTimeout(r, 1500));
  assert.equal((await d.inspect(id)).State.Status, 'exited');
  assert.equal((await d.inspect(id)).RestartCount, count);
  // A manual start resets the count.
  await d.dockerOk(['update', '--restart', 'no', id]);
  await d.dockerOk(['start', id]);
  await waitFor('exit', async () => (await d.inspect(id)).State.Status === 'exited', 10_000, 100);
  assert.equal((await d.inspect(id)).RestartCount, 0);
  await d.dockerOk(['rm', id]);
});

test('docker update --restart gives a running container a policy; a crash (not a stop) restarts it; bad policies are refused', async () => {
  const id = await d.dockerOk(['run', '-d', '--name', 'upd', 'busybox', 'sleep', '600']);
  assert.equal(await d.dockerOk(['update', '--restart', 'unless-stopped', id]), id);
  assert.deepEqual((await d.inspect(id)).HostConfig.RestartPolicy, { Name: 'unless-stopped', MaximumRetryCount: 0 });
  const pid = (await d.inspect(id)).State.Pid as number;
  process.kill(pid, 'SIGKILL');
  await waitFor('restarted after the crash', async () => {
    const st = await d.inspect(id);
    return st.State.Running && st.State.Pid !== pid && st.RestartCount === 1;
  }, 15_000, 100);
  const bad = await d.docker(['update', '--restart', 'sometimes', id]);
  assert.notEqual(bad.code, 0);
  assert.match(bad.stderr, /invalid restart policy/);
  const api = await d.api('POST', '/containers/create', { Image: 'busybox', Cmd: ['true'], HostConfig: { AutoRemove: true, RestartPolicy: { Name: 'always' } } });
  assert.equal(api.status, 400);
  assert.match(api.json.message, /can't create 'AutoRemove' container with restart policy/);
  const neg = await d.api('POST', '/containers/create', { Image: 'busybox', Cmd: ['true'], HostConfig: { RestartPolicy: { Name: 'always', MaximumRetryCount: 2 } } });
  assert.equal(neg.status, 400);
  assert.equal(neg.json.message, "invalid restart policy: maximum retry count can only be used with 'on-failure'");
  await d.dockerOk(['rm', '-f', id]);
  // A container whose process just ended, and one that has stopped for good: the new policy
  // is kept for its next start (no runtime call for a policy alone).
  const failing = await d.dockerOk(['run', '-d', '--restart', 'on-failure:2', 'busybox', 'sh', '-c', 'exit 1']);
  assert.equal(await d.dockerOk(['update', '--restart', 'always', failing]), failing);
  assert.equal((await d.inspect(failing)).HostConfig.RestartPolicy.Name, 'always');
  const exited = await d.dockerOk(['run', '-d', 'busybox', 'true']);
  await d.dockerOk(['wait', exited]);
  assert.equal(await d.dockerOk(['update', '--restart', 'unless-stopped', '--cpus', '0.5', exited]), exited);
  const ex = await d.inspect(exited);
  assert.equal(ex.HostConfig.RestartPolicy.Name, 'unless-stopped');
  assert.equal(ex.HostConfig.NanoCpus, 500_000_000);
  await d.dockerOk(['rm', '-f', failing, exited]);
});

test('berthd killed -9: an on-failure container that died while it was down is restarted when it returns; always comes back after a manual stop, unless-stopped does not', async () => {
  const dies = await d.dockerOk(['run', '-d', '--name', 'dies-while-down', '--restart', 'on-failure', 'busybox', 'sh', '-c', `${GATE}; exit 5`]);
  const upAlways = await d.dockerOk(['run', '-d', '--name', 'up-always', '--restart', 'always', 'busybox', 'sleep', '600']);
  const stoppedAlways = await d.dockerOk(['run', '-d', '--name', 'stopped-always', '--restart', 'always', 'busybox', 'sleep', '600']);
  const stoppedUnless = await d.dockerOk(['run', '-d', '--name', 'stopped-unless', '--restart', 'unless-stopped', 'busybox', 'sleep', '600']);
  await d.dockerOk(['stop', '-t', '1', stoppedAlways, stoppedUnless]);
  const gatePid = (await d.inspect(dies)).State.Pid as number;
  const upPid = (await d.inspect(upAlways)).State.Pid as number;
  await d.kill();
  openGate(gatePid);
  await waitFor('the exit file', () => existsSync(join(d.execRoot, 'exits', dies)), 10_000);
  await d.start();
  await waitFor('the dead one restarted', async () => {
    const st = await d.inspect(dies);
    return st.RestartCount === 1 && (st.State.Running || st.State.Status === 'restarting');
  }, 15_000, 100);
  assert.equal((await d.inspect(upAlways)).State.Pid, upPid, 'a running container is adopted, not restarted');
  assert.equal((await d.inspect(upAlways)).RestartCount, 0);
  await waitFor('always is back up', async () => (await d.inspect(stoppedAlways)).State.Status === 'running', 15_000, 100);
  assert.equal((await d.inspect(stoppedUnless)).State.Status, 'exited', 'unless-stopped stays down');
  await d.dockerOk(['rm', '-f', dies, upAlways, stoppedAlways, stoppedUnless]);
});

test('berthd killed -9 during a restart back-off: the policy acts when it returns and RestartCount carries on', async () => {
  const id = await d.dockerOk(['run', '-d', '--name', 'backoff', '--restart', 'always', 'busybox', 'sh', '-c', 'exit 2']);
  // After five restarts the back-off is 3.2 s: berthd dies inside it.
  const count = await waitFor('a long back-off', async () => {
    const st = await d.inspect(id);
    return st.State.Status === 'restarting' && st.RestartCount >= 5 ? (st.RestartCount as number) : undefined;
  }, 30_000, 20);
  await d.kill();
  const stored = JSON.parse(readFileSync(join(d.dataRoot, 'containers', id, 'container.json'), 'utf8'));
  assert.equal(stored.state.status, 'restarting');
  await d.start();
  await waitFor('more restarts after berthd returned', async () => (await d.inspect(id)).RestartCount > count! + 1, 20_000, 100);
  const log = await d.dockerOk(['events', '--since', String(now() - 30), '--until', String(now() + 1), '--filter', `container=${id}`, '--filter', 'event=start', '--format', '{{.Action}}']);
  assert.ok(log.split('\n').length >= 1);
  await d.dockerOk(['rm', '-f', id]);
});

test('reboot-like start (containers and exec root gone): always and unless-stopped containers come back up, no-policy ones stay down', async () => {
  const always = await d.dockerOk(['run', '-d', '--name', 'rb-always', '--restart', 'always', 'busybox', 'sleep', '600']);
  const unless = await d.dockerOk(['run', '-d', '--name', 'rb-unless', '--restart', 'unless-stopped', 'busybox', 'sleep', '600']);
  const plain = await d.dockerOk(['run', '-d', '--name', 'rb-plain', 'busybox', 'sleep', '600']);
  const pids = await Promise.all([always, unless, plain].map(async (id) => (await d.inspect(id)).State.Pid as number));
  await d.stop();
  // The "reboot": every container process and its monitor die, mounts and the exec root go.
  const conmons = [always, unless, plain].map((id) => Number(readFileSync(join(d.execRoot, 'containers', id, 'conmon.pid'), 'utf8')));
  for (const pid of [...pids, ...conmons]) {
    try {
      process.kill(pid, 'SIGKILL');
    } catch {
      /* gone */
    }
  }
  await waitFor('the processes to die', () => pids.every((p) => !alive(p)) && conmons.every((p) => !alive(p)), 10_000);
  for (const id of [always, unless, plain]) await run('runc', ['--root', join(d.execRoot, 'runc'), 'delete', '-f', id]);
  for (const mp of mountsUnder(d.dir)) await run('umount', ['-l', mp]);
  rmSync(d.execRoot, { recursive: true, force: true });
  await d.start();
  for (const id of [always, unless]) {
    await waitFor(`${id.slice(0, 12)} back up`, async () => (await d.inspect(id)).State.Status === 'running', 20_000, 100);
    assert.equal(await d.dockerOk(['exec', id, 'echo', 'alive']), 'alive');
  }
  const st = await d.inspect(plain);
  assert.equal(st.State.Status, 'exited');
  assert.equal(st.State.ExitCode, 255);
  await d.dockerOk(['rm', '-f', always, unless, plain]);
});
