import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { VfsSnapshotter } from '../storage';
import { FakeRuntime, type FakeExec } from './container-runtime-fake';
import { ContainerStore } from './container-store';
import { ContainerService } from './containers';
import type { ContainerRecord, HealthCheck } from './container-model';
import { ExecService } from './exec';
import { goDuration, HealthMonitor, mergeHealthCheck } from './health-monitor';
import { oneImage, specWith, testImage, NO_NETWORK, TEST_HOST } from './test-support';

const host = TEST_HOST;
const MS = 1_000_000;

/** Containers, execs and a health monitor over the fake runtime; the image has a HEALTHCHECK. */
async function setup(imageCheck?: Record<string, unknown>) {
  const root = mkdtempSync(join(tmpdir(), 'berth-health-'));
  const runtime = new FakeRuntime();
  const events: string[] = [];
  const emit = (_t: 'container', action: string) => void events.push(action);
  const store = new ContainerStore(join(root, 'data'));
  const containers = new ContainerService({
    store,
    images: oneImage(testImage({ Env: ['PATH=/bin'], Cmd: ['sh'], ...(imageCheck ? { Healthcheck: imageCheck } : {}) })),
    snapshots: new VfsSnapshotter(join(root, 'vfs')),
    runtime,
    events: { emit },
    network: NO_NETWORK,
    host,
  });
  await containers.init();
  const execs = new ExecService(containers, runtime, join(root, 'exec'), { emit });
  const killed: number[] = [];
  const monitor = new HealthMonitor({
    find: (id) => store.find(id),
    list: () => store.list(),
    execs: () => execs,
    save: (rec) => store.save(rec),
    events: { emit },
    killProcess: (pid) => {
      killed.push(pid);
      for (const x of runtime.execs.values()) if (x.pid === pid) x.exit(137);
    },
  });
  const running = async (healthCheck: HealthCheck | null) => {
    const rec = (await containers.create({ spec: specWith({ healthCheck }) })).record;
    await containers.start(rec.id);
    monitor.arm(rec, true);
    return rec;
  };
  const seen = new Set<string>();
  /** The next probe the monitor starts. */
  const nextProbe = async (): Promise<FakeExec> => {
    for (let i = 0; i < 4000; i++) {
      const x = [...runtime.execs.values()].find((e) => !seen.has(e.options.execId));
      if (x) {
        seen.add(x.options.execId);
        return x;
      }
      await new Promise((r) => setTimeout(r, 5));
    }
    throw new Error('no probe started');
  };
  const until = async (what: string, pred: () => boolean) => {
    for (let i = 0; i < 4000 && !pred(); i++) await new Promise((r) => setTimeout(r, 5));
    assert.ok(pred(), `timed out waiting for ${what}`);
  };
  const done = () => {
    monitor.dispose();
    rmSync(root, { recursive: true, force: true });
  };
  return { root, runtime, events, containers, monitor, running, nextProbe, until, killed, done };
}

const check = (o: Partial<HealthCheck>): HealthCheck => ({ test: ['CMD-SHELL', 'check'], interval: 30 * MS, timeout: 2000 * MS, startPeriod: 0, startInterval: 0, retries: 2, ...o });

test('probes run through exec; healthy at the first success, unhealthy after `retries` failures; events on each change', async () => {
  const t = await setup();
  try {
    const rec = await t.running(check({}));
    assert.deepEqual({ ...rec.state.health }, { status: 'starting', failingStreak: 0, log: [] });
    let p = await t.nextProbe();
    assert.deepEqual(p.process.args, ['/bin/sh', '-c', 'check']);
    p.write('stdout', 'all good');
    p.exit(0);
    await t.until('healthy', () => rec.state.health?.status === 'healthy');
    assert.equal(rec.state.health!.log[0]!.output, 'all good\n');
    assert.equal(rec.state.health!.log[0]!.exitCode, 0);
    p = await t.nextProbe();
    p.write('stderr', 'broken');
    p.exit(1);
    await t.until('one failure', () => rec.state.health?.failingStreak === 1);
    assert.equal(rec.state.health!.status, 'healthy', 'one failure of two allowed');
    (await t.nextProbe()).exit(3);
    await t.until('unhealthy', () => rec.state.health?.status === 'unhealthy');
    assert.equal(rec.state.health!.failingStreak, 2);
    for (let i = 0; i < 4; i++) (await t.nextProbe()).exit(0);
    await t.until('healthy again', () => rec.state.health?.log.length === 5 && rec.state.health.status === 'healthy');
    assert.deepEqual(rec.state.health!.log.map((l) => l.exitCode), [1, 3, 0, 0, 0], 'the last five results');
    assert.deepEqual(t.events.filter((e) => e.startsWith('health_status')), ['health_status: healthy', 'health_status: unhealthy', 'health_status: healthy']);
    assert.ok(t.events.includes('exec_create: /bin/sh -c check'), 'probes are execs, as in Docker');
    const onDisk = JSON.parse(readFileSync(join(t.root, 'data', 'containers', rec.id, 'container.json'), 'utf8')) as ContainerRecord;
    assert.equal(onDisk.state.health!.status, 'healthy');
  } finally {
    t.done();
  }
});

test('a probe past its timeout is killed and fails with dockerd\'s message; a probe that cannot start fails with -1', async () => {
  const t = await setup();
  try {
    const rec = await t.running(check({ timeout: 100 * MS, test: ['CMD', 'probe', 'arg'] }));
    const p = await t.nextProbe();
    assert.deepEqual(p.process.args, ['probe', 'arg']);
    await t.until('a result', () => (rec.state.health?.log.length ?? 0) === 1);
    assert.equal(rec.state.health!.log[0]!.exitCode, -1);
    assert.equal(rec.state.health!.log[0]!.output, 'Health check exceeded timeout (100ms)');
    assert.deepEqual(t.killed, [p.pid]);
    const next = (t.runtime as unknown as { failExec: Map<string, string> }).failExec;
    // The next exec id is unknown before create: fail every exec from now on.
    const orig = t.runtime.exec.bind(t.runtime);
    t.runtime.exec = async (o) => {
      next.set(o.execId, 'exec failed: executable file not found in $PATH');
      return orig(o);
    };
    await t.until('a second result', () => (rec.state.health?.log.length ?? 0) === 2);
    assert.equal(rec.state.health!.log[1]!.exitCode, -1);
    assert.match(rec.state.health!.log[1]!.output, /executable file not found/);
    assert.equal(rec.state.health!.status, 'unhealthy');
  } finally {
    t.done();
  }
});

test('failures within the start period do not count; the start interval applies until then', async () => {
  const t = await setup();
  try {
    const rec = await t.running(check({ interval: 10_000 * MS, startPeriod: 60_000 * MS, startInterval: 20 * MS, retries: 1 }));
    for (let i = 0; i < 3; i++) (await t.nextProbe()).exit(1);
    await t.until('three results', () => rec.state.health?.log.length === 3);
    assert.equal(rec.state.health!.status, 'starting');
    assert.equal(rec.state.health!.failingStreak, 0);
    (await t.nextProbe()).exit(0);
    await t.until('healthy', () => rec.state.health?.status === 'healthy');
  } finally {
    t.done();
  }
});

test('an exit stops the probes and keeps the last health; a new start begins at starting; NONE and no check mean no health', async () => {
  const t = await setup({ Test: ['CMD', 'image-probe'], Interval: 30 * MS, Retries: 5 });
  try {
    const rec = await t.running(null);
    assert.deepEqual(rec.spec.healthCheck, { test: ['CMD', 'image-probe'], interval: 30 * MS, timeout: 0, startPeriod: 0, startInterval: 0, retries: 5 }, 'the image\'s check');
    const p = await t.nextProbe();
    assert.deepEqual(p.process.args, ['image-probe']);
    p.exit(0);
    await t.until('healthy', () => rec.state.health?.status === 'healthy');
    const stopping = t.containers.stop(rec.id, 1);
    await stopping;
    t.monitor.disarm(rec.id);
    assert.equal(rec.state.health!.status, 'healthy');
    await t.containers.start(rec.id);
    t.monitor.arm(rec, true);
    assert.equal(rec.state.health!.status, 'starting');
    assert.equal(rec.state.health!.log.length, 1, 'earlier results are kept');

    const none = await t.running({ test: ['NONE'], interval: 0, timeout: 0, startPeriod: 0, startInterval: 0, retries: 0 });
    assert.equal(none.state.health, undefined);
  } finally {
    t.done();
  }
});

test('merge: the container\'s fields over the image\'s, field by field; durations in Go\'s words', () => {
  assert.equal(mergeHealthCheck(null, undefined), null);
  assert.deepEqual(mergeHealthCheck(check({ test: [], interval: 0 }), { Test: ['CMD', 'x'], Interval: 5, Timeout: 9 }), { ...check({}), test: ['CMD', 'x'], interval: 5 });
  assert.deepEqual(mergeHealthCheck({ test: ['NONE'], interval: 0, timeout: 0, startPeriod: 0, startInterval: 0, retries: 0 }, { Test: ['CMD', 'x'], Retries: 2 })!.test, ['NONE']);
  assert.deepEqual([goDuration(100), goDuration(1000), goDuration(1500), goDuration(90_000), goDuration(30_000)], ['100ms', '1s', '1.5s', '1m30s', '30s']);
});
