import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, mkdirSync, rmSync, symlinkSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { resolveInRoot, tmpfsOptions } from './container-mounts';

test('tmpfsOptions: Docker defaults, later options win, unknown refused', () => {
  assert.deepEqual(tmpfsOptions([]), ['noexec', 'nosuid', 'nodev']);
  assert.deepEqual(tmpfsOptions(['exec', 'size=1m', 'size=2m']), ['nosuid', 'nodev', 'exec', 'size=2m']);
  assert.deepEqual(tmpfsOptions(['ro', 'mode=700']), ['noexec', 'nosuid', 'nodev', 'ro', 'mode=700']);
  assert.throws(() => tmpfsOptions(['bogus']), { message: 'invalid tmpfs option ["bogus"]' });
});

test('resolveInRoot follows symlinks with the root as /', async () => {
  const root = mkdtempSync(join(tmpdir(), 'berth-resolve-'));
  try {
    mkdirSync(join(root, 'srv', 'data'), { recursive: true });
    symlinkSync('/srv/data', join(root, 'abs'));
    symlinkSync('../../../../..', join(root, 'srv', 'up'));
    symlinkSync('data', join(root, 'srv', 'rel'));
    assert.equal(await resolveInRoot(root, '/abs'), join(root, 'srv', 'data'));
    assert.equal(await resolveInRoot(root, '/srv/rel/x'), join(root, 'srv', 'data', 'x'));
    assert.equal(await resolveInRoot(root, '/srv/up/etc'), join(root, 'etc'));
    assert.equal(await resolveInRoot(root, '/../../etc'), join(root, 'etc'));
  } finally {
    rmSync(root, { recursive: true, force: true });
  }
});
