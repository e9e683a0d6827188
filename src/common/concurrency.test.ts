import { test } from 'node:test';
import assert from 'node:assert/strict';
import { forEachLimit } from './concurrency';

test('forEachLimit visits every item once, never more than limit at a time', async () => {
  let running = 0;
  let peak = 0;
  const seen: number[] = [];
  await forEachLimit([...Array(50).keys()], 7, async (i) => {
    running++;
    peak = Math.max(peak, running);
    await new Promise((r) => setTimeout(r, i % 3));
    seen.push(i);
    running--;
  });
  assert.equal(peak, 7);
  assert.deepEqual(seen.sort((a, b) => a - b), [...Array(50).keys()]);
  await forEachLimit([], 4, async () => assert.fail('no items'));
  await assert.rejects(forEachLimit([1, 2, 3], 2, async (i) => { if (i === 2) throw new Error('two'); }), /two/);
});
