import { test } from 'node:test';
import assert from 'node:assert/strict';
import { EscapeFilter, parseDetachKeys } from './detach-keys';

test('parseDetachKeys reads Docker\'s notation and refuses the rest with dockerd\'s words', () => {
  assert.deepEqual([...parseDetachKeys('ctrl-p,ctrl-q')], [16, 17]);
  assert.deepEqual([...parseDetachKeys('ctrl-X,x')], [24, 120]);
  assert.deepEqual([...parseDetachKeys('ctrl-@,ctrl-_,ctrl-[')], [0, 31, 27]);
  for (const bad of ['ctrl-', 'ctrl-1', 'ab', '']) assert.throws(() => parseDetachKeys(bad), /Invalid detach keys/);
});

test('EscapeFilter holds back a prefix of the sequence and passes it on when it is not one', () => {
  const f = new EscapeFilter(Buffer.from([16, 17]));
  assert.deepEqual([...f.push(Buffer.from([97, 16]))], [97]);
  assert.deepEqual([...f.push(Buffer.from([98]))], [16, 98]);
  assert.deepEqual([...f.push(Buffer.from([16, 16]))], [16]);
  assert.equal(f.detached, false);
  assert.deepEqual([...f.push(Buffer.from([17, 99]))], []);
  assert.equal(f.detached, true);
  assert.deepEqual([...f.push(Buffer.from([100]))], []);
});
