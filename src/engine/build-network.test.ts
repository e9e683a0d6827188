import { test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, mkdtempSync, readdirSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { RunSettings } from '../build';
import { BuildNetworks } from './build-network';
import type { ContainerNetwork, NetworkAttachment, NetworkSetUp } from './container-network';

/** A network that records its calls; `wire` decides how each namespace's wiring ends. */
class RecordingNetwork implements ContainerNetwork {
  readonly setUps: NetworkAttachment[] = [];
  readonly tearDowns: string[] = [];
  wire: (id: string) => Promise<void> = () => Promise.resolve();
  refuse?: string;

  async setUp(a: NetworkAttachment): Promise<NetworkSetUp | void> {
    if (this.refuse !== undefined && a.network?.mode === this.refuse) throw new Error(`network ${this.refuse} not found`);
    this.setUps.push(a);
    return { netns: `/run/netns/${a.containerId}`, ready: this.wire(a.containerId) };
  }

  async tearDown(id: string): Promise<void> {
    this.tearDowns.push(id);
  }
}

const settings = (network: string): RunSettings => ({
  network, extraHosts: [], shmSize: 0, ulimits: [], memory: 0, memorySwap: 0, cpuShares: 0, cpuPeriod: 0, cpuQuota: 0, cpusetCpus: '', cpusetMems: '',
});

function setup(t: { after(fn: () => void): void }) {
  const dir = mkdtempSync(join(tmpdir(), 'berth-buildnet-'));
  t.after(() => rmSync(dir, { recursive: true, force: true }));
  const net = new RecordingNetwork();
  return { dir, net, session: new BuildNetworks(net, dir) };
}

test('steps one after another take turns in one namespace; steps at the same time get one each; the end tears every one down', async (t) => {
  const { dir, net, session } = setup(t);
  const first = await session.lend('');
  assert.ok(first);
  assert.equal(first.network.share, net.setUps[0]!.containerId);
  assert.equal(first.network.netns, `/run/netns/${first.network.share}`);
  // the namespace's own files are in its dir
  assert.ok(existsSync(join(dir, first.network.share)));
  assert.equal(net.setUps[0]!.files.hosts, join(dir, first.network.share, 'hosts'));
  const meanwhile = await session.lend('');
  assert.notEqual(meanwhile!.network.share, first.network.share, 'a step running now gets a namespace of its own');
  first.give();
  const next = await session.lend('');
  assert.equal(next!.network.share, first.network.share, 'the next step takes its turn in the first one');
  next!.give();
  meanwhile!.give();
  assert.equal(net.setUps.length, 2);
  assert.deepEqual(net.tearDowns, []);
  await session.end();
  assert.deepEqual(net.tearDowns.sort(), net.setUps.map((a) => a.containerId).sort());
  assert.deepEqual(readdirSync(dir), []);
  assert.equal(await session.lend(''), undefined, 'nothing is lent after the end');
});

test('expectRun wires a namespace ahead, which the next step takes; networks differ, namespaces too', async (t) => {
  const { net, session } = setup(t);
  session.expectRun(settings(''));
  session.expectRun(settings(''));
  assert.equal(net.setUps.length, 0, 'made in the background');
  const a = await session.lend('');
  assert.equal(net.setUps.length, 1, 'the step took the namespace made ahead, not a new one');
  const other = await session.lend('mynet');
  assert.equal(net.setUps[1]!.network?.mode, 'mynet');
  assert.notEqual(other!.network.share, a!.network.share);
  a!.give();
  other!.give();
  await session.end();
  assert.equal(net.tearDowns.length, 2);
});

test('none and host are not shared; a network setUp refuses gives the step its own; a namespace whose wiring failed is not lent again', async (t) => {
  const { net, session } = setup(t);
  assert.equal(await session.lend('none'), undefined);
  assert.equal(await session.lend('host'), undefined);
  session.expectRun(settings('none'));
  net.refuse = 'gone';
  assert.equal(await session.lend('gone'), undefined, 'the step\'s own container reports the unknown network');
  assert.equal(net.setUps.length, 0);
  net.wire = () => Promise.reject(new Error('netavark setup: failed'));
  const broken = await session.lend('');
  await assert.rejects(broken!.network.ready, /netavark setup: failed/);
  broken!.give();
  net.wire = () => Promise.resolve();
  const fresh = await session.lend('');
  assert.notEqual(fresh!.network.share, broken!.network.share, 'the next step gets a new namespace');
  fresh!.give();
  await session.end();
  for (const id of [broken!.network.share, fresh!.network.share]) assert.ok(net.tearDowns.includes(id), `${id} torn down`);
});

test('without bridge networks nothing is shared', async (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'berth-buildnet-'));
  t.after(() => rmSync(dir, { recursive: true, force: true }));
  const session = new BuildNetworks(undefined, dir);
  session.expectRun(settings(''));
  assert.equal(await session.lend(''), undefined);
  await session.end();
});
