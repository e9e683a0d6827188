import { test } from 'node:test';
import assert from 'node:assert/strict';
import { KeyedMutex } from './mutex';

test('keyed mutex runs one job per key at a time, in order; other keys run meanwhile', async () => {
  const m = new KeyedMutex();
  const seen: string[] = [];
  let releaseA1!: () => void;
  const a1Gate = new Promise<void>((r) => (releaseA1 = r));
  const a1 = m.run('a', async () => {
    seen.push('start a1');
    await a1Gate;
    seen.push('end a1');
  });
  const a2 = m.run('a', async () => {
    seen.push('start a2');
  });
  await m.run('b', async () => {
    seen.push('b1');
  });
  assert.deepEqual(seen, ['start a1', 'b1'], 'b1 ran while a1 held key a; a2 waits');
  releaseA1();
  await Promise.all([a1, a2]);
  assert.deepEqual(seen, ['start a1', 'b1', 'end a1', 'start a2']);
  await assert.rejects(m.run('a', async () => { throw new Error('boom'); }), /boom/);
  assert.equal(await m.run('a', async () => 7), 7, 'a failed job does not block the key');
});
