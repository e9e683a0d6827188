import { test } from 'node:test';
import assert from 'node:assert/strict';
import { resolve } from 'node:path';
import { checkImports, findCycles, repoSources } from './layering';

const ROOT = resolve(__dirname, '..', '..');

test('every import under src/, test/ and bench/ follows the layer table', () => {
  const files = repoSources(ROOT);
  const paths = new Set(files.map((f) => f.path));
  // The walk reaches nested directories of all three trees, not only their tops.
  for (const p of ['src/cli/commands/info.ts', 'src/engine/index.ts', 'test/integration/harness.ts', 'bench/bench.ts']) {
    assert.ok(paths.has(p), `${p} was not read: is ROOT (${ROOT}) the repository?`);
  }
  assert.deepEqual(checkImports(files).map((v) => v.message), []);
});

test('no import cycles between files anywhere under src/, test/ and bench/', () => {
  assert.deepEqual(findCycles(repoSources(ROOT)), []);
});
