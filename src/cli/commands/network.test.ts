import { test } from 'node:test';
import assert from 'node:assert/strict';
import { naturalCompare } from './network';

test('naturalCompare orders as docker port does: digit runs by value, then characters', () => {
  const lines = ['80/tcp -> [::]:32768', '80/tcp -> 0.0.0.0:32768', '80/tcp -> 0.0.0.0:8098', '443/tcp -> 0.0.0.0:443', '80/tcp -> [::]:8098', '53/udp -> 0.0.0.0:5353'];
  assert.deepEqual([...lines].sort(naturalCompare), [
    '53/udp -> 0.0.0.0:5353',
    '80/tcp -> 0.0.0.0:8098',
    '80/tcp -> 0.0.0.0:32768',
    '80/tcp -> [::]:8098',
    '80/tcp -> [::]:32768',
    '443/tcp -> 0.0.0.0:443',
  ]);
  assert.equal(naturalCompare('a', 'a'), 0);
  assert.ok(naturalCompare('a2', 'a10') < 0);
  assert.ok(naturalCompare('a', 'ab') < 0);
});
