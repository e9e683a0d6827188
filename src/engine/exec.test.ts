import { mock, test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { errorKind } from '../common';
import type { LogEntry } from '../runtime';
import { VfsSnapshotter } from '../storage';
import type { StdinSink } from './container-runtime';
import { FakeRuntime, type FakeExec } from './container-runtime-fake';
import { ContainerStore } from './container-store';
import { ContainerService } from './containers';
import { ExecService, type ExecStartOptions } from './exec';
import { oneImage, specWith, testImage, type SpecOverrides, NO_NETWORK, TEST_HOST } from './test-support';

const host = TEST_HOST;
const IMAGE = testImage({ Env: ['PATH=/bin', 'A=image'], Cmd: ['sh'] });

/**
 * An exec service over a container service on the fake runtime (see container-lifecycle.test.ts),
 * with the events it emits recorded and `died(execId)` resolving at an exec's exec_die.
 */
async function setup() {
  const root = mkdtempSync(join(tmpdir(), 'berth-exec-'));
  const runtime = new FakeRuntime();
  const events: string[] = [];
  const dying = new Map<string, (code: string) => void>();
  const emit = (_type: 'container', action: string, id: string, attrs: Record<string, string>) => {
    events.push(`${action} ${id.slice(0, 4)}${attrs.exitCode !== undefined ? ` ${attrs.exitCode}` : ''}`);
    if (action === 'exec_die' && attrs.execID) dying.get(attrs.execID)?.(attrs.exitCode!);
  };
  const images = oneImage(IMAGE);
  const containers = new ContainerService({
    store: new ContainerStore(join(root, 'data')),
    images,
    snapshots: new VfsSnapshotter(join(root, 'vfs')),
    runtime,
    events: { emit },
    network: NO_NETWORK,
    host,
  });
  await containers.init();
  const execRoot = join(root, 'exec');
  const execs = new ExecService(containers, runtime, execRoot, { emit });
  /** A running container. */
  const running = async (over: SpecOverrides = {}) => {
    const rec = (await containers.create({ spec: specWith(over) })).record;
    await containers.start(rec.id);
    return rec;
  };
  /** Resolves with the exit code of the exec's exec_die event; call before the exit. */
  const died = (execId: string) => new Promise<string>((resolve) => dying.set(execId, resolve));
  /** Starts an exec detached and gives the fake runtime's process of it. */
  const startDetached = async (execId: string, o: ExecStartOptions = {}): Promise<FakeExec> => {
    await execs.start(execId, { ...o, detach: true }, undefined);
    return runtime.execs.get(execId)!;
  };
  return { root, execRoot, runtime, events, containers, execs, running, died, startDetached, done: () => rmSync(root, { recursive: true, force: true }) };
}

const kind = (k: string, re?: RegExp) => (e: unknown) => errorKind(e) === k && (!re || re.test((e as Error).message));
const envOf = (x: FakeExec) => x.process.env as string[];
const envValue = (x: FakeExec, name: string) => {
  const found = envOf(x).filter((e) => e.startsWith(`${name}=`));
  assert.ok(found.length <= 1, `${name} is set once: ${found.join(', ')}`);
  return found[0]?.slice(name.length + 1);
};

test('exec create needs a running container: dockerd\'s conflicts for created, paused and exited ones', async () => {
  const t = await setup();
  try {
    const created = (await t.containers.create({ spec: specWith() })).record;
    assert.throws(() => t.execs.create(created.id, { cmd: ['true'] }), kind('conflict', new RegExp(`^container ${created.id} is not running$`)));
    assert.throws(() => t.execs.create('nothere', { cmd: ['true'] }), kind('not-found'));

    const rec = await t.running();
    assert.throws(() => t.execs.create(rec.id, { cmd: [] }), kind('invalid-argument', /^No exec command specified$/));
    await t.containers.pause(rec.id);
    assert.throws(() => t.execs.create(rec.id, { cmd: ['true'] }), kind('conflict', new RegExp(`^Container ${rec.id} is paused, unpause the container before exec$`)));
    await t.containers.unpause(rec.id);
    // Created while the container ran; the container exits before the start.
    const x = t.execs.create(rec.id, { cmd: ['true'] });
    await t.containers.kill(rec.id);
    assert.throws(() => t.execs.create(rec.id, { cmd: ['true'] }), kind('conflict', new RegExp(`^container ${rec.id} is not running$`)));
    await assert.rejects(t.execs.start(x.id, { detach: true }, undefined), kind('conflict', /is not running$/));
    assert.equal(t.execs.get(x.id).started, false);
    assert.ok(!t.runtime.calls.some((c) => c.startsWith('exec ')), 'the runtime was never asked to exec');
  } finally {
    t.done();
  }
});

test('create, start, inspect: Running, Pid and ExitCode follow the process; an exec runs once', async () => {
  const t = await setup();
  try {
    const rec = await t.running();
    const id4 = rec.id.slice(0, 4);
    const x = t.execs.create(rec.id, { cmd: ['sh', '-c', 'exit 3'] });
    assert.equal(x.containerId, rec.id);
    assert.deepEqual(t.execs.idsOf(rec.id), [x.id]);
    assert.deepEqual(
      { running: x.running, started: x.started, exitCode: x.exitCode, pid: x.pid },
      { running: false, started: false, exitCode: null, pid: 0 },
    );
    assert.throws(() => t.execs.get('nothere'), kind('not-found', /^No such exec instance: nothere$/));

    const p = await t.startDetached(x.id);
    const inspect = t.execs.get(x.id);
    assert.equal(inspect.running, true);
    assert.equal(inspect.exitCode, null);
    assert.equal(inspect.pid, p.pid);
    assert.notEqual(inspect.pid, rec.state.pid, 'the exec\'s own process, not the container\'s');
    assert.equal(p.options.containerId, rec.id);
    assert.deepEqual(p.process.args, ['sh', '-c', 'exit 3']);
    await assert.rejects(t.execs.start(x.id, { detach: true }, undefined), kind('conflict', new RegExp(`^Error: Exec command ${x.id} is already running$`)));

    const died = t.died(x.id);
    p.exit(3);
    assert.equal(await died, '3');
    assert.deepEqual(
      { running: inspect.running, started: inspect.started, exitCode: inspect.exitCode, pid: inspect.pid },
      { running: false, started: true, exitCode: 3, pid: p.pid },
    );
    await assert.rejects(t.execs.start(x.id, { detach: true }, undefined), kind('conflict', new RegExp(`^Error: Exec command ${x.id} has already run$`)));
    assert.throws(() => t.execs.resize(x.id, 10, 10), kind('conflict', /is not running/));
    assert.deepEqual(t.events.filter((e) => e.startsWith('exec_')), [`exec_create: sh -c exit 3 ${id4}`, `exec_start: sh -c exit 3 ${id4}`, `exec_die ${id4} 3`]);
  } finally {
    t.done();
  }
});

test('an attached start streams the output and stdin until the process exits', async () => {
  const t = await setup();
  try {
    const rec = await t.running();
    const x = t.execs.create(rec.id, { cmd: ['cat'], attachStdin: true, attachStdout: true, attachStderr: true });
    const out: LogEntry[] = [];
    let gotStdin!: (s: StdinSink) => void;
    const stdin = new Promise<StdinSink>((resolve) => (gotStdin = resolve));
    const started = t.execs.start(x.id, {}, { output: (e) => out.push(e), stdin: gotStdin });
    const p = await t.runtime.execStarted(x.id);
    assert.equal(p.options.stdin, true);
    const sink = await stdin;
    sink.write(Buffer.from('in'));
    sink.end();
    assert.deepEqual(p.stdin, { data: [Buffer.from('in')], ended: true });
    p.write('stdout', 'hello');
    p.write('stderr', 'oops');
    p.exit(0);
    await started;
    assert.deepEqual(out.map((e) => `${e.stream} ${e.data}`), ['stdout hello\n', 'stderr oops\n']);
    assert.equal(t.execs.get(x.id).exitCode, 0);
    assert.equal(t.execs.get(x.id).running, false);
  } finally {
    t.done();
  }
});

test('env: the container\'s, then the exec\'s over it; HOME from the exec user unless set', async () => {
  const t = await setup();
  try {
    const rec = await t.running({ process: { env: ['A=container', 'B=container'] } });
    const rootfs = t.runtime.specOf(rec.id).root.path;
    mkdirSync(join(rootfs, 'etc'), { recursive: true });
    writeFileSync(join(rootfs, 'etc/passwd'), 'root:x:0:0:root:/root:/bin/sh\napp:x:1000:1001::/home/app:/bin/sh\n');

    // No exec env, no user: the container's process environment as it is.
    const plain = await t.startDetached(t.execs.create(rec.id, { cmd: ['env'] }).id);
    assert.deepEqual(envOf(plain), t.runtime.specOf(rec.id).process.env);

    const merged = await t.startDetached(t.execs.create(rec.id, { cmd: ['env'], env: ['B=exec', 'C=exec'], workingDir: '/tmp' }).id);
    assert.equal(envValue(merged, 'A'), 'container');
    assert.equal(envValue(merged, 'B'), 'exec');
    assert.equal(envValue(merged, 'C'), 'exec');
    assert.equal(envValue(merged, 'PATH'), '/bin');
    assert.equal(merged.process.cwd, '/tmp');

    const asApp = await t.startDetached(t.execs.create(rec.id, { cmd: ['env'], user: 'app' }).id);
    assert.equal(envValue(asApp, 'HOME'), '/home/app');
    assert.deepEqual((asApp.process.user as { uid: number; gid: number }).uid, 1000);
    assert.deepEqual((asApp.process.user as { uid: number; gid: number }).gid, 1001);
    const ownHome = await t.startDetached(t.execs.create(rec.id, { cmd: ['env'], user: 'app', env: ['HOME=/x'] }).id);
    assert.equal(envValue(ownHome, 'HOME'), '/x');

    // The container's config set HOME: the exec user does not change it.
    const withHome = await t.running({ process: { env: ['HOME=/data'] } });
    const root2 = t.runtime.specOf(withHome.id).root.path;
    mkdirSync(join(root2, 'etc'), { recursive: true });
    writeFileSync(join(root2, 'etc/passwd'), 'app:x:1000:1000::/home/app:/bin/sh\n');
    const kept = await t.startDetached(t.execs.create(withHome.id, { cmd: ['env'], user: 'app' }).id);
    assert.equal(envValue(kept, 'HOME'), '/data');
  } finally {
    t.done();
  }
});

test('the TTY is fixed at create: start options cannot add or remove it', async () => {
  const t = await setup();
  try {
    const rec = await t.running();
    const withTty = t.execs.create(rec.id, { cmd: ['sh'], tty: true, consoleSize: [24, 80] });
    const p = await t.startDetached(withTty.id, { tty: false, consoleSize: [40, 120] } as ExecStartOptions);
    assert.equal(p.options.tty, true);
    assert.equal(p.process.terminal, true);
    assert.deepEqual(p.process.consoleSize, { height: 40, width: 120 }, 'the size given at start');
    assert.equal(envValue(p, 'TERM'), 'xterm');
    t.execs.resize(withTty.id, 30, 100);
    assert.deepEqual(p.resizes, ['30x100']);

    const noTty = t.execs.create(rec.id, { cmd: ['sh'] });
    const q = await t.startDetached(noTty.id, { tty: true, consoleSize: [24, 80] } as ExecStartOptions);
    assert.equal(q.options.tty, false);
    assert.equal(q.process.terminal, false);
    assert.equal(q.process.consoleSize, undefined);
    assert.equal(envValue(q, 'TERM'), undefined);
    t.execs.resize(noTty.id, 30, 100);
    assert.deepEqual(q.resizes, [], 'no terminal to resize');
  } finally {
    t.done();
  }
});

test('a process that cannot be started: the start fails and the exec gets exit code 126', async () => {
  const t = await setup();
  try {
    const rec = await t.running();
    const missing = t.execs.create(rec.id, { cmd: ['nope'] });
    const why = 'exec failed: unable to start container process: exec: "nope": executable file not found in $PATH';
    t.runtime.failExec.set(missing.id, why);
    await assert.rejects(t.execs.start(missing.id, { detach: true }, undefined), (e: unknown) => (e as Error).message === why);
    const inspect = t.execs.get(missing.id);
    assert.deepEqual(
      { running: inspect.running, started: inspect.started, exitCode: inspect.exitCode, pid: inspect.pid },
      { running: false, started: true, exitCode: 126, pid: 0 },
    );
    assert.equal(existsSync(join(t.execRoot, 'execs', missing.id)), false, 'its directory is gone');
    await assert.rejects(t.execs.start(missing.id, { detach: true }, undefined), kind('conflict', /has already run$/));

    // A user the image does not know: refused before the runtime is asked.
    const nobody = t.execs.create(rec.id, { cmd: ['id'], user: 'ghost' });
    await assert.rejects(t.execs.start(nobody.id, { detach: true }, undefined), kind('invalid-argument', /unable to find user ghost/));
    assert.equal(t.execs.get(nobody.id).exitCode, 126);
    assert.ok(!t.runtime.calls.includes(`exec ${rec.id} ${nobody.id}`));
    assert.ok(!t.events.some((e) => e.startsWith('exec_start')), 'no exec_start for either');
  } finally {
    t.done();
  }
});

test('records expire 10 minutes after their process exits, and with their container; running ones stay', async () => {
  const t = await setup();
  mock.timers.enable({ apis: ['Date'], now: Date.now() });
  try {
    const rec = await t.running();
    const old = t.execs.create(rec.id, { cmd: ['true'] });
    const p = await t.startDetached(old.id);
    const died = t.died(old.id);
    p.exit(0);
    await died;
    const unstarted = t.execs.create(rec.id, { cmd: ['true'] });
    const live = t.execs.create(rec.id, { cmd: ['sleep', '1d'] });
    await t.startDetached(live.id);

    mock.timers.tick(10 * 60_000);
    t.execs.create(rec.id, { cmd: ['true'] }); // records are pruned at create
    assert.equal(t.execs.get(old.id).exitCode, 0, 'kept for 10 minutes');
    mock.timers.tick(1);
    t.execs.create(rec.id, { cmd: ['true'] });
    assert.throws(() => t.execs.get(old.id), kind('not-found', new RegExp(`^No such exec instance: ${old.id}$`)));
    assert.equal(t.execs.get(unstarted.id).started, false);
    assert.equal(t.execs.get(live.id).running, true);

    const other = await t.running();
    const orphan = t.execs.create(other.id, { cmd: ['true'] });
    await t.containers.kill(other.id);
    await t.containers.remove(other.id, false);
    t.execs.create(rec.id, { cmd: ['true'] });
    assert.throws(() => t.execs.get(orphan.id), kind('not-found'));
    assert.deepEqual(t.execs.idsOf(other.id), []);
  } finally {
    mock.timers.reset();
    t.done();
  }
});
