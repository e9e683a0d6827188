import { test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { deleteInBackground } from './background-delete';

test('background deletion removes trees one at a time, in the order given, and goes on past a path that is not there', async (t) => {
  const root = mkdtempSync(join(tmpdir(), 'berth-bgdel-'));
  t.after(() => rmSync(root, { recursive: true, force: true }));
  const trees = [0, 1, 2].map((i) => {
    const dir = join(root, `t${i}`);
    mkdirSync(join(dir, 'a', 'b'), { recursive: true });
    for (let f = 0; f < 20; f++) writeFileSync(join(dir, 'a', `f${f}`), 'x');
    writeFileSync(join(dir, 'a', 'b', 'deep'), 'y');
    return dir;
  });
  const order: string[] = [];
  const jobs = [
    deleteInBackground(trees[0]).then(() => order.push('t0')),
    deleteInBackground(join(root, 'missing')).then(() => order.push('missing')),
    deleteInBackground(trees[1]).then(() => {
      order.push('t1');
      // Each tree is gone when its own promise settles, and the one after it is still there.
      assert.equal(existsSync(trees[1]), false);
      assert.equal(existsSync(trees[2]), true);
    }),
    deleteInBackground(trees[2]).then(() => order.push('t2')),
  ];
  await Promise.all(jobs);
  assert.deepEqual(order, ['t0', 'missing', 't1', 't2']);
  for (const d of trees) assert.equal(existsSync(d), false, `${d} deleted`);
  // The queue starts again after it ran dry.
  const again = join(root, 'again');
  mkdirSync(again);
  await deleteInBackground(again);
  assert.equal(existsSync(again), false);
});
