import { test } from 'node:test';
import assert from 'node:assert/strict';
import { getHeapStatistics } from 'node:v8';
import { releaseMemoryWhenIdle } from './idle-memory';

test('once the process is idle after growing its heap, the spare pages go back and the heap is smaller', async () => {
  // Garbage that survives a few young collections grows the heap's physical size.
  let keep: unknown[] = [];
  for (let i = 0; i < 40; i++) {
    keep.push(new Array(50_000).fill(i));
    if (keep.length > 10) keep = keep.slice(5);
  }
  keep = [];
  const grown = getHeapStatistics().total_physical_size;
  const released = await new Promise<{ before: number; after: number }>((resolve, reject) => {
    const deadline = setTimeout(() => reject(new Error('no release within 10 s of idleness')), 10_000);
    const stop = releaseMemoryWhenIdle((before, after) => {
      clearTimeout(deadline);
      stop();
      resolve({ before, after });
    });
  });
  assert.ok(released.after < released.before, `heap physical size ${released.before} -> ${released.after}`);
  assert.ok(released.after < grown, `heap physical size after the release ${released.after} vs ${grown} when grown`);
});
