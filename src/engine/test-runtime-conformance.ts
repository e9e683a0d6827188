/**
 * What every ContainerRuntime must do, as node:test cases: registered by a unit
 * test for FakeRuntime and by an integration test for MonitorRuntime (root, runc,
 * conmon), so the fake keeps behaving as the real one does.
 *
 * `make` gives a fresh runtime and the create options of a container whose process
 * runs until it is killed (and does not react to pause).
 */
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { cgroupsPath } from '../runtime';
import type { ContainerRuntime, RuntimeCreateOptions } from './container-runtime';

export interface RuntimeUnderTest {
  runtime: ContainerRuntime;
  /** Create options of a long-running container with this id. */
  options(id: string): RuntimeCreateOptions;
  cleanup(): Promise<void>;
}

export function runtimeConformance(name: string, make: () => Promise<RuntimeUnderTest>): void {
  let t: RuntimeUnderTest;
  const exits = new Map<string, () => void>();
  /** Resolves at the next exit announced for `id`. */
  const announced = (id: string) => new Promise<void>((resolve) => exits.set(id, resolve));
  let n = 0;
  const newId = () => `${(++n).toString(16).padStart(4, '0')}${'c'.repeat(60)}`;

  before(async () => {
    t = await make();
    t.runtime.watchExits((id) => exits.get(id)?.());
  });
  after(async () => {
    await t.cleanup();
  });

  test(`${name}: create, start, kill; the exit is recorded and announced`, async () => {
    const id = newId();
    const opts = t.options(id);
    const pid = await t.runtime.create(opts);
    assert.ok(pid > 0);
    assert.ok(t.runtime.known(id));
    assert.equal((await t.runtime.state(id))?.status, 'created');
    await t.runtime.start(id);
    assert.deepEqual(await t.runtime.state(id), { status: 'running', pid });
    assert.equal(await t.runtime.exitCode(id), undefined);
    assert.equal(await t.runtime.monitorAlive(id), true);
    const exited = announced(id);
    await t.runtime.kill(id, 'KILL', true);
    await exited;
    assert.equal((await t.runtime.exitCode(id))?.code, 137);
    assert.equal(t.runtime.oomKilled(opts.spec.linux?.cgroupsPath ?? cgroupsPath('/berth', id)), false);
    await t.runtime.delete(id);
    await t.runtime.discard(id);
    assert.equal(t.runtime.known(id), false);
  });

  test(`${name}: pause and resume; signals to a stopped container are refused`, async () => {
    const id = newId();
    await t.runtime.create(t.options(id));
    await t.runtime.start(id);
    await t.runtime.pause(id);
    assert.equal((await t.runtime.state(id))?.status, 'paused');
    await assert.rejects(t.runtime.pause(id));
    await t.runtime.resume(id);
    assert.equal((await t.runtime.state(id))?.status, 'running');
    await assert.rejects(t.runtime.resume(id));
    const exited = announced(id);
    await t.runtime.kill(id, 'KILL', true);
    await exited;
    await t.runtime.delete(id);
    await assert.rejects(t.runtime.kill(id, 'TERM'));
    await t.runtime.discard(id);
  });

  test(`${name}: the spec a container was created with is kept`, async () => {
    const id = newId();
    const o = t.options(id);
    await t.runtime.create(o);
    assert.deepEqual(t.runtime.specOf(id).process.args, o.spec.process.args);
    await t.runtime.discard(id);
    assert.equal(t.runtime.known(id), false);
  });
}
