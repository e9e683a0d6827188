import { test } from 'node:test';
import assert from 'node:assert/strict';
import { EventBus, matchesEventFilters, type EngineEvent } from './events';

const ev = (over: Partial<EngineEvent> = {}): EngineEvent => ({
  type: 'container',
  action: 'start',
  id: 'abcdef0123456789',
  attributes: { image: 'busybox', name: 'web', tier: 'front' },
  timeNano: 1n,
  ...over,
});
const f = (o: Record<string, string[]>) => new Map(Object.entries(o));

test('event filters: type, event, container (id prefix or name), image, label (all must match)', () => {
  assert.ok(matchesEventFilters(ev(), f({})));
  assert.ok(matchesEventFilters(ev(), f({ type: ['image', 'container'] })));
  assert.ok(!matchesEventFilters(ev(), f({ type: ['image'] })));
  assert.ok(matchesEventFilters(ev(), f({ event: ['die', 'start'] })));
  assert.ok(matchesEventFilters(ev({ action: 'exec_start: sh' }), f({ event: ['exec_start'] })));
  assert.ok(!matchesEventFilters(ev(), f({ event: ['stop'] })));
  assert.ok(matchesEventFilters(ev(), f({ container: ['abcdef'] })));
  assert.ok(matchesEventFilters(ev(), f({ container: ['web'] })));
  assert.ok(!matchesEventFilters(ev(), f({ container: ['other'] })));
  assert.ok(matchesEventFilters(ev(), f({ image: ['busybox:latest'] })));
  assert.ok(!matchesEventFilters(ev(), f({ image: ['alpine'] })));
  assert.ok(matchesEventFilters(ev(), f({ label: ['tier'] })));
  assert.ok(matchesEventFilters(ev(), f({ label: ['tier=front'] })));
  assert.ok(!matchesEventFilters(ev(), f({ label: ['tier=front', 'x'] })));
  assert.ok(!matchesEventFilters(ev(), f({ type: ['container'], event: ['die'] })));
});

test('the bus: strictly increasing times, history window, labels kept for destroy', () => {
  const bus = new EventBus(3);
  const labels = new Map([['c1', { team: 'a' }]]);
  bus.describe = (_type, id) => labels.get(id);
  const seen: EngineEvent[] = [];
  const off = bus.subscribe((e) => seen.push(e));
  bus.emit('container', 'create', 'c1', { name: 'one' });
  bus.emit('container', 'start', 'c1', { name: 'one' });
  labels.delete('c1'); // the record is gone before destroy is emitted
  bus.emit('container', 'destroy', 'c1', { name: 'one' });
  bus.emit('container', 'create', 'c2', { name: 'two' });
  off();
  bus.emit('container', 'start', 'c2', { name: 'two' });
  assert.equal(seen.length, 4);
  for (let i = 1; i < seen.length; i++) assert.ok(seen[i]!.timeNano > seen[i - 1]!.timeNano);
  assert.equal(seen[2]!.attributes.team, 'a');
  assert.equal(seen[3]!.attributes.team, undefined);
  const hist = bus.since(0n);
  assert.deepEqual(hist.map((e) => e.action), ['destroy', 'create', 'start']);
  assert.deepEqual(bus.since(0n, hist[1]!.timeNano).map((e) => e.action), ['destroy', 'create']);
});
