import { test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, mkdtempSync, readdirSync, readFileSync, renameSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { errorKind } from '../common';
import { VfsSnapshotter } from '../storage';
import { FakeRuntime } from './container-runtime-fake';
import { ContainerStore } from './container-store';
import { ContainerService } from './containers';
import { oneImage, specWith, testImage, type SpecOverrides, TEST_HOST } from './test-support';

const host = TEST_HOST;
const IMAGE = testImage({ Env: ['PATH=/bin', 'A=image'], Cmd: ['sh'], StopSignal: 'SIGQUIT', Labels: { from: 'image' } });

/** A container service over the fake runtime, a vfs snapshotter in a temp dir and recording ports. */
async function setup() {
  const root = mkdtempSync(join(tmpdir(), 'berth-lifecycle-'));
  const runtime = new FakeRuntime();
  const events: string[] = [];
  const network: string[] = [];
  const images = oneImage(IMAGE);
  const svc = new ContainerService({
    store: new ContainerStore(join(root, 'data')),
    images,
    snapshots: new VfsSnapshotter(join(root, 'vfs')),
    runtime,
    events: { emit: (_type, action, id) => events.push(`${action} ${id.slice(0, 4)}`) },
    network: {
      setUp: async (a) => void network.push(`up ${a.containerId.slice(0, 4)} ${a.hostname}`),
      tearDown: async (id) => void network.push(`down ${id.slice(0, 4)}`),
    },
    host,
  });
  await svc.init();
  const create = (over: SpecOverrides = {}, name?: string) => svc.create({ ...(name ? { name } : {}), spec: specWith(over) }).then((r) => r.record);
  /** A new service over the same roots (what a restarted berthd sees), started. */
  const reopen = async (o: { runtime?: FakeRuntime; tearDown?: (id: string) => void } = {}) => {
    const again = new ContainerService({
      store: new ContainerStore(join(root, 'data')),
      images: oneImage(IMAGE),
      snapshots: new VfsSnapshotter(join(root, 'vfs')),
      runtime: o.runtime ?? new FakeRuntime(),
      events: { emit: () => undefined },
      network: { setUp: async () => undefined, tearDown: async (id) => void o.tearDown?.(id) },
      host,
    });
    await again.init();
    return again;
  };
  return { root, runtime, events, network, svc, create, reopen, done: () => rmSync(root, { recursive: true, force: true }) };
}

const kind = (k: string, re?: RegExp) => (e: unknown) => errorKind(e) === k && (!re || re.test((e as Error).message));

test('create merges the image\'s settings and stores a versioned record', async () => {
  const t = await setup();
  try {
    const rec = await t.create({ process: { env: ['A=mine'] }, labels: { own: '1' } }, 'web');
    assert.equal(rec.name, 'web');
    assert.equal(rec.state.status, 'created');
    assert.deepEqual([rec.path, ...rec.args], ['sh']);
    assert.deepEqual(rec.spec.process.env, ['A=mine', 'PATH=/bin']);
    assert.equal(rec.spec.process.stopSignal, 'SIGQUIT');
    assert.equal(rec.spec.hostname, rec.id.slice(0, 12));
    assert.deepEqual(rec.spec.labels, { from: 'image', own: '1' });
    const onDisk = JSON.parse(readFileSync(join(t.root, 'data', 'containers', rec.id, 'container.json'), 'utf8'));
    assert.equal(onDisk.version, 2);
    assert.deepEqual(onDisk.spec, rec.spec);
    await assert.rejects(t.create({}, 'web'), kind('conflict', /"\/web" is already in use/));
    await assert.rejects(t.svc.create({ spec: specWith({}, 'nothere') }), kind('not-found', /No such image: nothere:latest/));
    await assert.rejects(t.create({ process: { entrypoint: [] } }), kind('invalid-argument', /no command specified/));
    assert.deepEqual(t.events, [`create ${rec.id.slice(0, 4)}`]);
  } finally {
    t.done();
  }
});

test('start sets up the network, creates then starts; an exit tears down and is recorded', async () => {
  const t = await setup();
  try {
    const rec = await t.create();
    const id4 = rec.id.slice(0, 4);
    await t.svc.start(rec.id);
    assert.equal(rec.state.status, 'running');
    assert.ok(rec.state.pid > 0);
    assert.deepEqual(t.runtime.calls, [`create ${rec.id}`, `start ${rec.id}`]);
    assert.deepEqual(t.network, [`up ${id4} ${rec.spec.hostname}`]);
    await assert.rejects(t.svc.start(rec.id), kind('not-modified'));
    const waited = t.svc.wait(rec.id, 'not-running');
    t.runtime.exit(rec.id, 3);
    assert.equal(await waited, 3);
    assert.equal(rec.state.status, 'exited');
    assert.equal(rec.state.exitCode, 3);
    assert.deepEqual(t.network, [`up ${id4} ${rec.spec.hostname}`, `down ${id4}`]);
    assert.deepEqual(t.events, [`create ${id4}`, `start ${id4}`, `die ${id4}`]);
    // not-running of a stopped container answers at once.
    assert.equal(await t.svc.wait(rec.id, 'not-running'), 3);
  } finally {
    t.done();
  }
});

test('a command that cannot run: 127 and a 400, the container stays created', async () => {
  const t = await setup();
  try {
    const rec = await t.create();
    t.runtime.failCreate.set(rec.id, 'exec: "nope": executable file not found in $PATH');
    await assert.rejects(t.svc.start(rec.id), kind('invalid-argument', /^failed to create task for container: exec: "nope"/));
    assert.equal(rec.state.status, 'created');
    assert.equal(rec.state.exitCode, 127);
    assert.equal(t.network.at(-1), `down ${rec.id.slice(0, 4)}`);
  } finally {
    t.done();
  }
});

test('stop sends the stop signal, then SIGKILL when it is ignored', async () => {
  const t = await setup();
  try {
    const polite = await t.create();
    await t.svc.start(polite.id);
    await t.svc.stop(polite.id, 5);
    assert.equal(polite.state.exitCode, 128 + 3); // the image's SIGQUIT
    assert.ok(t.runtime.calls.includes(`kill ${polite.id} QUIT`));

    const stubborn = await t.create({ process: { stopSignal: 'SIGUSR1' } });
    t.runtime.ignored.set(stubborn.id, new Set(['USR1']));
    await t.svc.start(stubborn.id);
    await t.svc.stop(stubborn.id, 0);
    assert.equal(stubborn.state.exitCode, 137);
    assert.deepEqual(t.runtime.calls.filter((c) => c.startsWith(`kill ${stubborn.id}`)), [`kill ${stubborn.id} USR1`, `kill ${stubborn.id} KILL`]);
    await assert.rejects(t.svc.stop(stubborn.id), kind('not-modified'));
  } finally {
    t.done();
  }
});

test('kill: a running container gets the signal; a stopped one is a conflict; bad names refused', async () => {
  const t = await setup();
  try {
    const rec = await t.create();
    await assert.rejects(t.svc.kill(rec.id, 'TERM'), kind('conflict', /is not running/));
    await t.svc.start(rec.id);
    await assert.rejects(t.svc.kill(rec.id, 'SIGNOPE'), kind('invalid-argument', /Invalid signal: SIGNOPE/));
    await t.svc.kill(rec.id);
    assert.equal(rec.state.status, 'exited');
    assert.equal(rec.state.exitCode, 137);
    assert.ok(t.events.includes(`kill ${rec.id.slice(0, 4)}`));
  } finally {
    t.done();
  }
});

test('stop of a paused container thaws it so the signal lands', async () => {
  const t = await setup();
  try {
    const rec = await t.create();
    await t.svc.start(rec.id);
    await t.svc.pause(rec.id);
    assert.equal(rec.state.status, 'paused');
    await assert.rejects(t.svc.pause(rec.id), kind('conflict', /already paused/));
    await t.svc.stop(rec.id, 5);
    assert.equal(rec.state.status, 'exited');
    assert.equal(rec.state.exitCode, 128 + 3);
    assert.ok(t.runtime.calls.includes(`resume ${rec.id}`));
  } finally {
    t.done();
  }
});

test('remove: refused while running unless forced; waiters on "removed" are answered', async () => {
  const t = await setup();
  try {
    const rec = await t.create();
    await t.svc.start(rec.id);
    await assert.rejects(t.svc.remove(rec.id, false), kind('conflict', /^cannot remove container "\/[^"]+": container is running: stop the container before removing or force remove$/));
    const removed = t.svc.wait(rec.id, 'removed');
    await t.svc.remove(rec.id, true);
    assert.equal(await removed, 137);
    assert.throws(() => t.svc.get(rec.id), kind('not-found'));
    assert.ok(!existsSync(join(t.root, 'data', 'containers', rec.id)));
    assert.ok(t.runtime.calls.includes(`discard ${rec.id}`));
    assert.deepEqual(t.events.slice(-2), [`die ${rec.id.slice(0, 4)}`, `destroy ${rec.id.slice(0, 4)}`]);
  } finally {
    t.done();
  }
});

test('remove: the name is free and nothing is left under the id when it answers; the files go after', async () => {
  const t = await setup();
  try {
    const rec = await t.create({}, 'gone');
    const snapshot = join(t.root, 'vfs', rec.id);
    assert.ok(existsSync(snapshot));
    await t.svc.remove(rec.id, false);
    assert.ok(!existsSync(join(t.root, 'data', 'containers', rec.id)), 'record dir');
    assert.ok(!existsSync(snapshot), 'snapshot');
    await assert.rejects(async () => t.svc.remove(rec.id, false), kind('not-found', /No such container/));
    const again = await t.create({}, 'gone');
    assert.notEqual(again.id, rec.id);
    await t.svc.removalsSettled();
    assert.deepEqual(readdirSync(join(t.root, 'data', 'trash')), []);
    assert.deepEqual(readdirSync(join(t.root, 'vfs', 'tmp')), []);
  } finally {
    t.done();
  }
});

test('a removal cut short after its record went to the trash (berthd killed) is finished at the next start', async () => {
  const t = await setup();
  try {
    const rec = await t.create({}, 'cut');
    // What remove's first step leaves when berthd is killed right after it.
    renameSync(join(t.root, 'data', 'containers', rec.id), join(t.root, 'data', 'trash', rec.id));
    const torn: string[] = [];
    const runtime = new FakeRuntime();
    const again = await t.reopen({ runtime, tearDown: (id) => torn.push(id) });
    assert.throws(() => again.get('cut'), kind('not-found'));
    assert.deepEqual(readdirSync(join(t.root, 'data', 'trash')), []);
    assert.ok(!existsSync(join(t.root, 'vfs', rec.id)), 'snapshot');
    assert.ok(runtime.calls.includes(`discard ${rec.id}`), 'runtime state and bundle');
    assert.deepEqual(torn, [rec.id]);
    // An unreadable record in the trash still has its snapshot removed.
    const other = await again.create({ spec: specWith() }).then((r) => r.record);
    renameSync(join(t.root, 'data', 'containers', other.id), join(t.root, 'data', 'trash', other.id));
    rmSync(join(t.root, 'data', 'trash', other.id, 'container.json'));
    await t.reopen();
    assert.ok(!existsSync(join(t.root, 'vfs', other.id)), 'snapshot of the unreadable one');
    assert.deepEqual(readdirSync(join(t.root, 'data', 'trash')), []);
  } finally {
    t.done();
  }
});

test('next-exit waits for the next run; an aborted wait rejects', async () => {
  const t = await setup();
  try {
    const rec = await t.create();
    const next = t.svc.wait(rec.id, 'next-exit');
    await t.svc.start(rec.id);
    t.runtime.exit(rec.id, 0);
    assert.equal(await next, 0);
    const abort = new AbortController();
    const aborted = t.svc.wait(rec.id, 'next-exit', abort.signal);
    abort.abort();
    await assert.rejects(aborted, /wait aborted/);
  } finally {
    t.done();
  }
});

test('auto-remove: the container goes away after its exit', async () => {
  const t = await setup();
  try {
    const rec = await t.create({ autoRemove: true });
    const removed = t.svc.wait(rec.id, 'removed');
    await t.svc.start(rec.id);
    t.runtime.exit(rec.id, 0);
    assert.equal(await removed, 0);
    assert.equal(t.svc.list().length, 0);
  } finally {
    t.done();
  }
});

test('a monitor that died without an exit is recorded as 255 at the next check', async () => {
  const t = await setup();
  try {
    const rec = await t.create();
    await t.svc.start(rec.id);
    t.runtime.loseMonitor(rec.id);
    await t.svc.stop(rec.id, 5);
    assert.equal(rec.state.exitCode, 255);
    assert.match(rec.state.error, /monitor exited without recording an exit code/);
  } finally {
    t.done();
  }
});

test('update: new limits go to the running container and into the spec', async () => {
  const t = await setup();
  try {
    const rec = await t.create();
    await t.svc.start(rec.id);
    // As with dockerd, a first memory limit needs a swap setting too (none was set: 0 is below it).
    await assert.rejects(t.svc.update(rec.id, { memory: 64 << 20 }), kind('conflict', /update the memoryswap at the same time/));
    await t.svc.update(rec.id, { memory: 64 << 20, memorySwap: -1, pidsLimit: 10, restartPolicy: { name: 'on-failure', maximumRetryCount: 2 } });
    assert.deepEqual(t.runtime.updates(rec.id), [{ memory: { limit: 64 << 20, swap: -1 }, pids: { limit: 10 } }]);
    assert.equal(rec.spec.resources.memory, 64 << 20);
    assert.equal(rec.spec.resources.pidsLimit, 10);
    assert.deepEqual(rec.spec.restartPolicy, { name: 'on-failure', maximumRetryCount: 2 });
    await assert.rejects(t.svc.update(rec.id, { memory: 1024 }), kind('invalid-argument', /Minimum memory limit allowed is 6MB/));
  } finally {
    t.done();
  }
});

test('records survive a restart of the service; a lost running container is marked exited', async () => {
  const t = await setup();
  try {
    const rec = await t.create({}, 'keep');
    await t.svc.start(rec.id);
    // A new service over the same data root and a runtime that knows nothing of it.
    const again = await t.reopen();
    const loaded = again.get('keep');
    assert.deepEqual(loaded.spec, rec.spec);
    assert.equal(loaded.state.status, 'exited');
    assert.equal(loaded.state.exitCode, 255);
  } finally {
    t.done();
  }
});
