import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { errorKind } from '../common';
import { VolumeStore } from '../storage';
import { VolumeService } from './volumes';

async function setup(t: { after(fn: () => void): void }) {
  const dir = mkdtempSync(join(tmpdir(), 'berth-vol-'));
  t.after(() => rmSync(dir, { recursive: true, force: true }));
  const events: string[] = [];
  const store = new VolumeStore(dir, { onEvent: (action, name) => events.push(`${action} ${name}`) });
  await store.init();
  const inUse = new Set<string>();
  store.setUsers((name) => (inUse.has(name) ? ['c1'] : []));
  return { store, svc: new VolumeService(store), inUse, events };
}

const f = (o: Record<string, string[]>) => new Map(Object.entries(o));
const names = (vs: { name: string }[]) => vs.map((v) => v.name);

test('a volume created without a name is anonymous: random 64-hex name, the anonymous label beside its own', async (t) => {
  const { svc, events } = await setup(t);
  const anon = await svc.create({ labels: { tier: 'db' } });
  assert.match(anon.name, /^[0-9a-f]{64}$/);
  assert.deepEqual(anon.labels, { tier: 'db', 'com.docker.volume.anonymous': '' });
  assert.deepEqual((await svc.create({})).labels, { 'com.docker.volume.anonymous': '' });
  const named = await svc.create({ name: 'web' });
  assert.equal(named.labels, null, 'a named volume created without labels shows null');
  assert.deepEqual(events.map((e) => e.split(' ')[0]), ['create', 'create', 'create']);
});

test('list filters: name (substring or regexp), label, driver, dangling; unknown keys refused', async (t) => {
  const { svc, inUse } = await setup(t);
  await svc.create({ name: 'app-data', labels: { tier: 'web', env: 'prod' } });
  await svc.create({ name: 'app-logs', labels: { tier: 'web' } });
  await svc.create({ name: 'db', labels: { tier: 'db' } });
  inUse.add('db');
  assert.deepEqual(names(svc.list()), ['app-data', 'app-logs', 'db']);
  assert.deepEqual(names(svc.list(f({ name: ['pp-'] }))), ['app-data', 'app-logs']);
  assert.deepEqual(names(svc.list(f({ name: ['^db$', 'logs$'] }))), ['app-logs', 'db']);
  assert.deepEqual(names(svc.list(f({ label: ['tier=web', 'env'] }))), ['app-data']);
  assert.deepEqual(names(svc.list(f({ label: ['tier'] }))), ['app-data', 'app-logs', 'db']);
  assert.deepEqual(names(svc.list(f({ driver: ['local'] }))), ['app-data', 'app-logs', 'db']);
  assert.deepEqual(names(svc.list(f({ driver: ['nfs'] }))), []);
  assert.deepEqual(names(svc.list(f({ dangling: ['true'] }))), ['app-data', 'app-logs']);
  assert.deepEqual(names(svc.list(f({ dangling: ['0'] }))), ['db']);
  assert.throws(() => svc.list(f({ colour: ['x'] })), (e: unknown) => errorKind(e) === 'invalid-argument' && /invalid filter 'colour'/.test(String(e)));
  assert.throws(() => svc.list(f({ dangling: ['maybe'] })), (e: unknown) => errorKind(e) === 'invalid-argument' && /invalid filter 'dangling=\[maybe\]'/.test(String(e)));
});

test('prune: unused anonymous volumes only unless all; labels; driver-option volumes never; an empty list when nothing goes', async (t) => {
  const { svc, store, inUse, events } = await setup(t);
  const anon = await svc.create({ labels: { keep: 'no' } });
  const anonUsed = await svc.create({});
  inUse.add(anonUsed.name);
  await svc.create({ name: 'named' });
  await svc.create({ name: 'tmp', options: { type: 'tmpfs', device: 'tmpfs' } });
  writeFileSync(join(store.dataPath(anon.name), 'five'), '12345');

  assert.deepEqual(await svc.prune(f({ label: ['keep=yes'] })), { deleted: [], spaceReclaimed: 0 });
  assert.deepEqual(await svc.prune(), { deleted: [anon.name], spaceReclaimed: 5 });
  assert.ok(events.includes(`destroy ${anon.name}`));
  assert.deepEqual(await svc.prune(), { deleted: [], spaceReclaimed: 0 }, 'nothing left to prune: [] not null');
  assert.deepEqual((await svc.prune(f({ all: ['true'], 'label!': ['nothing'] }))).deleted, ['named']);
  await svc.create({ name: 'old-api' });
  assert.deepEqual((await svc.prune(new Map(), { allByDefault: true })).deleted, ['old-api'], 'before API 1.42 named volumes go too');
  assert.deepEqual(names(svc.list()).sort(), [anonUsed.name, 'tmp'].sort(), 'in use and driver-option volumes stay');

  await assert.rejects(svc.prune(f({ dangling: ['true'] })), /invalid filter 'dangling'/);
  await assert.rejects(svc.prune(f({ all: ['maybe'] })), /invalid filter 'all': strconv.ParseBool: parsing "maybe": invalid syntax/);
  await assert.rejects(svc.prune(f({ all: ['false'] }), { allByDefault: true }), /invalid filter 'all=\[false true\]': only one value is expected/);
});
