import { test } from 'node:test';
import assert from 'node:assert/strict';
import { tmpfsOptions } from './container-mounts';

test('tmpfsOptions: Docker defaults, later options win, unknown refused', () => {
  assert.deepEqual(tmpfsOptions([]), ['noexec', 'nosuid', 'nodev']);
  assert.deepEqual(tmpfsOptions(['exec', 'size=1m', 'size=2m']), ['nosuid', 'nodev', 'exec', 'size=2m']);
  assert.deepEqual(tmpfsOptions(['ro', 'mode=700']), ['noexec', 'nosuid', 'nodev', 'ro', 'mode=700']);
  assert.throws(() => tmpfsOptions(['bogus']), { message: 'invalid tmpfs option ["bogus"]' });
});
