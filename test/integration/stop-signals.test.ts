/**
 * Stop signals and timeouts through the docker CLI against a real berthd: --stop-signal,
 * the image's STOPSIGNAL, --stop-timeout (stop and restart), stop --signal, kill -s by name
 * and number, and berthd's own SIGTERM, which leaves containers running.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { useDaemon, waitFor } from './harness';

const d = useDaemon();
const now = () => Math.floor(Date.now() / 1000);

/** Prints `got-SIG` for each of the signals and goes on; exits 7 on TERM unless `ignoreTerm`. */
const trapping = (sigs: string[], ignoreTerm = false) =>
  `${sigs.map((s) => `trap "echo got-${s}" ${s};`).join(' ')} trap ${ignoreTerm ? '""' : '"echo got-TERM; exit 7"'} TERM; echo ready; while true; do sleep 0.1; done`;

async function timed<T>(f: () => Promise<T>): Promise<[T, number]> {
  const t0 = Date.now();
  const v = await f();
  return [v, Date.now() - t0];
}

test('--stop-signal is what stop and restart send; the image\'s STOPSIGNAL is the default; inspect shows it', async () => {
  const id = await d.dockerOk(['run', '-d', '--stop-signal', 'USR1', 'busybox', 'sh', '-c', 'trap "echo got-USR1; exit 9" USR1; echo ready; while true; do sleep 0.1; done']);
  await d.waitForLog(id, 'ready');
  assert.equal((await d.inspect(id)).Config.StopSignal, 'USR1');
  await d.dockerOk(['restart', id]);
  await waitFor('running again', async () => (await d.dockerOk(['logs', id])).split('\n').filter((l) => l === 'ready').length === 2, 10_000, 100);
  const [, ms] = await timed(() => d.dockerOk(['stop', id]));
  assert.ok(ms < 8000, `stop took ${ms} ms: the signal was not the trapped one`);
  const st = await d.inspect(id);
  assert.equal(st.State.ExitCode, 9);
  assert.deepEqual((await d.dockerOk(['logs', id])).split('\n').filter((l) => l.startsWith('got-')), ['got-USR1', 'got-USR1']);

  const base = await d.dockerOk(['create', 'busybox', 'true']);
  await d.dockerOk(['commit', '--change', 'STOPSIGNAL SIGUSR2', base, 'stopsig-image']);
  const fromImage = await d.dockerOk(['run', '-d', 'stopsig-image', 'sh', '-c', 'trap "exit 12" USR2; echo ready; while true; do sleep 0.1; done']);
  await d.waitForLog(fromImage, 'ready');
  assert.equal((await d.inspect(fromImage)).Config.StopSignal, 'SIGUSR2');
  await d.dockerOk(['stop', fromImage]);
  assert.equal((await d.inspect(fromImage)).State.ExitCode, 12);
  // stop --signal overrides both.
  const over = await d.dockerOk(['run', '-d', 'stopsig-image', 'sh', '-c', trapping(['USR2'], true).replace('trap "echo got-USR2" USR2;', 'trap "exit 13" HUP;')]);
  await d.waitForLog(over, 'ready');
  await d.dockerOk(['stop', '--signal', 'HUP', over]);
  assert.equal((await d.inspect(over)).State.ExitCode, 13);
  await d.dockerOk(['rm', id, fromImage, over, base]);
  await d.dockerOk(['rmi', 'stopsig-image']);
});

test('--stop-timeout: stop and restart wait that long for a container that ignores the signal, then SIGKILL', async () => {
  const id = await d.dockerOk(['run', '-d', '--stop-timeout', '1', 'busybox', 'sh', '-c', trapping([], true)]);
  await d.waitForLog(id, 'ready');
  assert.equal((await d.inspect(id)).Config.StopTimeout, 1);
  const [, restartMs] = await timed(() => d.dockerOk(['restart', id]));
  assert.ok(restartMs >= 900 && restartMs < 8000, `restart took ${restartMs} ms`);
  assert.equal((await d.inspect(id)).State.Running, true);
  await waitFor('ready again', async () => (await d.dockerOk(['logs', id])).split('\n').filter((l) => l === 'ready').length === 2, 10_000, 100);
  const [, stopMs] = await timed(() => d.dockerOk(['stop', id]));
  assert.ok(stopMs >= 900 && stopMs < 8000, `stop took ${stopMs} ms`);
  assert.equal((await d.inspect(id)).State.ExitCode, 137);
  // -t on the command line wins over the container's own timeout.
  await d.dockerOk(['start', id]);
  await waitFor('ready a third time', async () => (await d.dockerOk(['logs', id])).split('\n').filter((l) => l === 'ready').length === 3, 10_000, 100);
  const [, zeroMs] = await timed(() => d.dockerOk(['stop', '-t', '0', id]));
  assert.ok(zeroMs < 900, `stop -t 0 took ${zeroMs} ms`);
  await d.dockerOk(['rm', id]);
});

test('kill -s takes names with or without SIG in any case, and numbers; events carry the number; bad names are refused', async () => {
  const since = now();
  const id = await d.dockerOk(['run', '-d', 'busybox', 'sh', '-c', trapping(['USR1', 'HUP'])]);
  await d.waitForLog(id, 'ready');
  const handled = async () => (await d.dockerOk(['logs', id])).split('\n').filter((l) => l.startsWith('got-')).length;
  // One at a time: a signal sent while the same one is pending is merged into it by the kernel.
  for (const [i, s] of ['USR1', 'sigusr1', 'SIGUSR1', '10', 'HUP', '1'].entries()) {
    assert.equal(await d.dockerOk(['kill', '-s', s, id]), id);
    await waitFor(`signal ${s} handled`, async () => (await handled()) === i + 1, 10_000, 50);
  }
  assert.deepEqual((await d.dockerOk(['logs', id])).split('\n').filter((l) => l.startsWith('got-')), ['got-USR1', 'got-USR1', 'got-USR1', 'got-USR1', 'got-HUP', 'got-HUP']);
  assert.equal((await d.inspect(id)).State.Running, true);
  const bad = await d.docker(['kill', '-s', 'SIGNOPE', id]);
  assert.equal(bad.code, 1);
  assert.match(bad.stderr, /Invalid signal: SIGNOPE/);
  const badNumber = await d.docker(['kill', '-s', '99', id]);
  assert.equal(badNumber.code, 1);
  assert.match(badNumber.stderr, /the linux daemon does not support signal 99/);
  assert.equal(await d.dockerOk(['kill', '-s', 'KILL', id]), id);
  const st = await d.inspect(id);
  assert.equal(st.State.Status, 'exited');
  assert.equal(st.State.ExitCode, 137);
  const signals = await d.dockerOk(['events', '--since', String(since), '--until', String(now() + 1), '--filter', `container=${id}`, '--filter', 'event=kill', '--format', '{{.Actor.Attributes.signal}}']);
  assert.deepEqual(signals.split('\n'), ['10', '10', '10', '10', '1', '1', '9']);
  const notRunning = await d.docker(['kill', id]);
  assert.equal(notRunning.code, 1);
  assert.match(notRunning.stderr, /is not running/);
  // SIGKILL by its other names.
  for (const s of ['SIGKILL', '9', 'kill']) {
    await d.dockerOk(['start', id]);
    await d.dockerOk(['kill', '-s', s, id]);
    assert.equal((await d.inspect(id)).State.ExitCode, 137, s);
  }
  await d.dockerOk(['rm', id]);
});

test("berthd's SIGTERM leaves containers running and says so in its log; they are managed again after its start", async () => {
  const id = await d.dockerOk(['run', '-d', '--stop-signal', 'USR1', 'busybox', 'sh', '-c', 'trap "exit 5" USR1; echo ready; while true; do sleep 0.1; done']);
  await d.waitForLog(id, 'ready');
  const pid = (await d.inspect(id)).State.Pid as number;
  await d.stop();
  assert.match(d.log(), /level=info msg="shutting down; containers keep running" signal="SIGTERM"/);
  assert.doesNotThrow(() => process.kill(pid, 0), 'the container process is alive while berthd is down');
  await d.start();
  assert.equal((await d.inspect(id)).State.Pid, pid);
  await d.dockerOk(['stop', id]);
  assert.equal((await d.inspect(id)).State.ExitCode, 5, 'the adopted container is stopped with its own signal');
  await d.dockerOk(['rm', id]);
});
