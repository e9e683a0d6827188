import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { errorKind } from '../common';
import { VfsSnapshotter } from '../storage';
import { FakeRuntime } from './container-runtime-fake';
import { ContainerStore } from './container-store';
import { ContainerService } from './containers';
import type { ContainerRecord, RestartPolicy } from './container-model';
import { checkRestartPolicy, RestartManager, type RestartClock } from './restart-manager';
import { oneImage, recordWith, specWith, testImage, type SpecOverrides, NO_NETWORK, TEST_HOST } from './test-support';

const host = TEST_HOST;
const IMAGE = testImage({ Env: ['PATH=/bin'], Cmd: ['sh'] });
const kind = (k: string, re?: RegExp) => (e: unknown) => errorKind(e) === k && (!re || re.test((e as Error).message));

/** A clock whose timers fire only when the test says. */
class ManualClock implements RestartClock {
  timers: { fn: () => void; ms: number; live: boolean }[] = [];
  setTimeout(fn: () => void, ms: number): unknown {
    const t = { fn, ms, live: true };
    this.timers.push(t);
    return t;
  }
  clearTimeout(h: unknown): void {
    (h as { live: boolean }).live = false;
  }
  fire(): number[] {
    const due = this.timers.filter((t) => t.live);
    this.timers = [];
    for (const t of due) {
      t.live = false;
      t.fn();
    }
    return due.map((t) => t.ms);
  }
}

let nextId = 0;
const policy = (name: RestartPolicy['name'], maximumRetryCount = 0) =>
  recordWith({ restartPolicy: { name, maximumRetryCount } }, { id: String(++nextId).padStart(64, '0') as ContainerRecord['id'] });

test('back-off: 100 ms doubling to a one-minute cap, back to 100 ms after a run of 10 s', () => {
  const clock = new ManualClock();
  const started: string[] = [];
  const rm = new RestartManager((id) => started.push(id), clock);
  const rec = policy('always');
  const delays: (number | undefined)[] = [];
  for (let i = 0; i < 12; i++) delays.push(rm.onExit(rec, 1, 50));
  assert.deepEqual(delays, [100, 200, 400, 800, 1600, 3200, 6400, 12800, 25600, 51200, 60000, 60000]);
  assert.equal(rec.restartCount, 12);
  // Only the last decision is pending; it fires once.
  assert.deepEqual(clock.fire(), [60000]);
  assert.deepEqual(started, [rec.id]);
  assert.equal(rm.onExit(rec, 0, 10_000), 100, 'a 10 s run resets the back-off');
  assert.equal(rm.onExit(rec, 0, 9_999), 200);
});

test('policies: no never, always always, on-failure on non-zero up to its count, unless-stopped unless stopped by hand', () => {
  const rm = new RestartManager(() => undefined, new ManualClock());
  assert.equal(rm.onExit(policy('no'), 1, 0), undefined);
  assert.equal(rm.onExit(policy(''), 1, 0), undefined);
  const always = policy('always');
  always.manuallyStopped = true;
  assert.equal(rm.onExit(always, 0, 0), 100, 'always ignores the manual stop flag (a cancel is what stops it)');
  const onFailure = policy('on-failure', 2);
  assert.equal(rm.onExit(onFailure, 0, 0), undefined, 'exit 0 is no failure');
  assert.equal(rm.onExit(onFailure, 3, 0), 100);
  assert.equal(rm.onExit(onFailure, 3, 0), 200);
  assert.equal(rm.onExit(onFailure, 3, 0), undefined, 'two retries, then it stays down');
  assert.equal(onFailure.restartCount, 2);
  const unlimited = policy('on-failure');
  for (let i = 0; i < 20; i++) assert.notEqual(rm.onExit(unlimited, 1, 0), undefined);
  const unless = policy('unless-stopped');
  assert.equal(rm.onExit(unless, 0, 0), 100);
  unless.manuallyStopped = true;
  assert.equal(rm.onExit(unless, 0, 0), undefined);
});

test('cancelNext drops a pending restart and the next one; reset lets the policy act again', () => {
  const clock = new ManualClock();
  const started: string[] = [];
  const rm = new RestartManager((id) => started.push(id), clock);
  const rec = policy('always');
  rm.onExit(rec, 1, 0);
  assert.ok(rm.isPending(rec.id));
  assert.equal(rm.cancelNext(rec.id), true);
  assert.ok(!rm.isPending(rec.id));
  assert.deepEqual(clock.fire(), []);
  assert.equal(rm.onExit(rec, 1, 0), undefined);
  rm.reset(rec.id);
  assert.equal(rm.onExit(rec, 1, 0), 100, 'a manual start begins the back-off again');
  clock.fire();
  assert.deepEqual(started, [rec.id]);
});

test('policy checks use dockerd\'s words', () => {
  assert.throws(() => checkRestartPolicy({ name: 'sometimes' }), kind('invalid-argument', /^invalid restart policy: unknown policy 'sometimes'; use one of 'no', 'always', 'on-failure', or 'unless-stopped'$/));
  assert.throws(() => checkRestartPolicy({ name: 'always', maximumRetryCount: 3 }), kind('invalid-argument', /^invalid restart policy: maximum retry count can only be used with 'on-failure'$/));
  assert.throws(() => checkRestartPolicy({ name: 'on-failure', maximumRetryCount: -1 }), kind('invalid-argument', /cannot be negative/));
  assert.throws(() => checkRestartPolicy({ name: 'always' }, true), kind('invalid-argument', /can't create 'AutoRemove' container with restart policy/));
  checkRestartPolicy({ name: '', maximumRetryCount: 4 });
  checkRestartPolicy({ name: 'on-failure', maximumRetryCount: 4 });
  checkRestartPolicy({ name: 'no' }, true);
});

// ---- the container service over the fake runtime, real timers (100 ms, 200 ms) ----

async function setup(root = mkdtempSync(join(tmpdir(), 'berth-restart-')), runtime = new FakeRuntime()) {
  const events: string[] = [];
  const svc = new ContainerService({
    store: new ContainerStore(join(root, 'data')),
    images: oneImage(IMAGE),
    snapshots: new VfsSnapshotter(join(root, 'vfs')),
    runtime,
    events: { emit: (_type, action) => events.push(action) },
    network: NO_NETWORK,
    host,
  });
  await svc.init();
  const create = (over: SpecOverrides = {}) => svc.create({ spec: specWith(over) }).then((r) => r.record);
  return { root, runtime, events, svc, create, done: () => (svc.restarts.dispose(), rmSync(root, { recursive: true, force: true })) };
}

async function until(what: string, pred: () => boolean, ms = 20_000): Promise<void> {
  const end = Date.now() + ms;
  while (!pred()) {
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 5));
  }
}

const restartPolicy = (name: RestartPolicy['name'], maximumRetryCount = 0) => ({ restartPolicy: { name, maximumRetryCount } });

test('an exit under a policy: die, restarting for the back-off, then start again; RestartCount counts', async () => {
  const t = await setup();
  try {
    const rec = await t.create(restartPolicy('on-failure', 2));
    await t.svc.start(rec.id);
    const firstStart = Date.now();
    t.runtime.exit(rec.id, 3);
    await until('restarting', () => rec.state.status === 'restarting');
    assert.equal(rec.state.exitCode, 3);
    assert.equal(rec.restartCount, 1);
    assert.equal(rec.state.pid, 0);
    await until('running again', () => t.events.length === 4);
    assert.equal(rec.state.status, 'running');
    assert.ok(Date.now() - firstStart >= 100, 'waited for the first delay');
    t.runtime.exit(rec.id, 3);
    await until('running a third time', () => t.events.length === 6);
    assert.equal(rec.restartCount, 2);
    t.runtime.exit(rec.id, 3);
    await until('down for good', () => rec.state.status === 'exited' && t.events.length === 7);
    assert.equal(rec.restartCount, 2);
    assert.deepEqual(t.events, ['create', 'start', 'die', 'start', 'die', 'start', 'die']);
    // A manual start resets the count.
    await t.svc.start(rec.id);
    assert.equal(rec.restartCount, 0);
  } finally {
    t.done();
  }
});

test('a manual stop ends restarts: always stays down after stop, and so does a container stopped while it waits to restart', async () => {
  const t = await setup();
  try {
    const rec = await t.create(restartPolicy('always'));
    await t.svc.start(rec.id);
    await t.svc.stop(rec.id, 1);
    assert.equal(rec.state.status, 'exited');
    assert.equal(rec.manuallyStopped, true);
    assert.ok(!t.svc.restarts.isPending(rec.id));

    await t.svc.start(rec.id);
    assert.equal(rec.manuallyStopped, false);
    t.runtime.exit(rec.id, 0);
    await until('restarting', () => rec.state.status === 'restarting');
    await assert.rejects(t.svc.remove(rec.id, false), kind('conflict', /container is restarting: stop the container before removing or force remove/));
    await assert.rejects(t.svc.start(rec.id), kind('not-modified'));
    await t.svc.stop(rec.id);
    assert.equal(rec.state.status, 'exited');
    assert.ok(!t.svc.restarts.isPending(rec.id));
    await new Promise((r) => setTimeout(r, 250));
    assert.equal(rec.state.status, 'exited', 'no restart after the stop');

    // kill with the signal that stops it also ends restarts.
    await t.svc.start(rec.id);
    await t.svc.kill(rec.id, 'KILL');
    await new Promise((r) => setTimeout(r, 250));
    assert.equal(rec.state.status, 'exited');
    assert.equal(rec.state.exitCode, 137);
  } finally {
    t.done();
  }
});

test('a signal other than the container\'s own stop signal does not cancel its restart', async () => {
  const t = await setup();
  try {
    const rec = await t.create({ ...restartPolicy('always'), process: { stopSignal: 'SIGUSR1' } });
    await t.svc.start(rec.id);
    await t.svc.kill(rec.id, 'HUP');
    await until('running again', () => rec.state.status === 'running' && rec.restartCount === 1);
    await t.svc.kill(rec.id, 'SIGUSR1');
    await new Promise((r) => setTimeout(r, 250));
    assert.equal(rec.state.status, 'exited');
  } finally {
    t.done();
  }
});

test('when the service starts again: a pending restart happens, always comes back, unless-stopped stopped by hand stays down', async () => {
  const t = await setup();
  try {
    const pending = await t.create(restartPolicy('always'));
    const always = await t.create(restartPolicy('always'));
    const unless = await t.create(restartPolicy('unless-stopped'));
    const unlessUp = await t.create(restartPolicy('unless-stopped'));
    const never = await t.create(restartPolicy('no'));
    const created = await t.create(restartPolicy('always'));
    for (const r of [pending, always, unless, unlessUp, never]) await t.svc.start(r.id);
    await t.svc.stop(always.id, 1);
    await t.svc.stop(unless.id, 1);
    t.runtime.exit(pending.id, 1);
    await until('pending restart', () => pending.state.status === 'restarting');
    t.svc.restarts.dispose(); // the old berthd dies during the back-off
    const count = pending.restartCount;

    // A new service, with a runtime that lost everything (a reboot).
    const again = await setup(t.root, new FakeRuntime());
    try {
      const get = (r: ContainerRecord) => again.svc.get(r.id);
      await until('pending one running', () => get(pending).state.status === 'running');
      assert.equal(get(pending).restartCount, count, 'the count carries on');
      await until('always running', () => get(always).state.status === 'running');
      await until('unless-stopped that was up running', () => get(unlessUp).state.status === 'running');
      assert.equal(get(unlessUp).restartCount, 1, 'its lost run was an exit (255) the policy acted on');
      await until('three starts recorded', () => again.events.filter((e) => e === 'start').length === 3);
      assert.equal(get(unless).state.status, 'exited');
      assert.equal(get(never).state.status, 'exited');
      assert.equal(get(created).state.status, 'created');
    } finally {
      again.svc.restarts.dispose();
    }
  } finally {
    t.done();
  }
});
