import { test } from 'node:test';
import assert from 'node:assert/strict';
import { byteProgress, type ProgressEvent } from './progress';

test('byteProgress reports once per step and always the last bytes', () => {
  const seen: ProgressEvent[] = [];
  const report = byteProgress((e) => seen.push(e), 'abc', 'Loading layer', 25, 10);
  for (let i = 0; i < 5; i++) report(5);
  assert.deepEqual(seen, [
    { kind: 'status', id: 'abc', status: 'Loading layer', current: 10, total: 25 },
    { kind: 'status', id: 'abc', status: 'Loading layer', current: 20, total: 25 },
    { kind: 'status', id: 'abc', status: 'Loading layer', current: 25, total: 25 },
  ]);
});

test('byteProgress without a total has none in its events', () => {
  const seen: ProgressEvent[] = [];
  const report = byteProgress((e) => seen.push(e), 'x', 'Pushing', undefined, 4);
  report(3);
  report(3);
  assert.deepEqual(seen, [{ kind: 'status', id: 'x', status: 'Pushing', current: 6 }]);
});
