import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readdirSync, readFileSync, statSync } from 'node:fs';
import { join, relative, resolve, dirname } from 'node:path';

/** The import table from DESIGN.md: each layer may import itself plus these. */
const ALLOWED: Record<string, string[]> = {
  bin: ['*'],
  cli: ['client', 'wire', 'common'],
  client: ['wire', 'common'],
  api: ['engine', 'wire', 'common'],
  engine: ['build', 'image', 'storage', 'runtime', 'network', 'state', 'common'],
  build: ['image', 'storage', 'common'],
  image: ['state', 'sys', 'common'],
  storage: ['state', 'sys', 'common'],
  runtime: ['state', 'sys', 'common'],
  network: ['state', 'sys', 'common'],
  registry: ['image', 'state', 'sys', 'common'],
  state: ['sys', 'common'],
  sys: ['common'],
  wire: ['common'],
  common: [],
};

const SRC = resolve(__dirname, '..', '..', 'src');

function* tsFiles(dir: string): Generator<string> {
  for (const name of readdirSync(dir)) {
    const p = join(dir, name);
    if (statSync(p).isDirectory()) yield* tsFiles(p);
    else if (p.endsWith('.ts') && !p.endsWith('.d.ts')) yield p;
  }
}

test('every import under src/ follows the layer table in DESIGN.md', () => {
  const violations: string[] = [];
  let checked = 0;
  for (const file of tsFiles(SRC)) {
    const rel = relative(SRC, file);
    const layer = rel.split('/')[0]!;
    const allowed = ALLOWED[layer];
    if (!allowed) {
      violations.push(`${rel} is in an unknown layer "${layer}"; add it to DESIGN.md and this table`);
      continue;
    }
    const text = readFileSync(file, 'utf8');
    for (const m of text.matchAll(/(?:import|export)\s[^;]*?from\s+['"]([^'"]+)['"]|import\(\s*['"]([^'"]+)['"]\s*\)|require\(\s*['"]([^'"]+)['"]\s*\)/g)) {
      const spec = m[1] ?? m[2] ?? m[3]!;
      if (!spec.startsWith('.')) continue;
      checked++;
      const target = relative(SRC, resolve(dirname(file), spec));
      if (target.startsWith('..')) {
        violations.push(`${rel} imports ${spec}, outside src/`);
        continue;
      }
      const to = target.split('/')[0]!;
      if (to === layer || allowed.includes('*') || allowed.includes(to)) continue;
      violations.push(`${rel} imports ${to}/; ${layer} may import ${allowed.length ? allowed.join(', ') : 'nothing of ours'}`);
    }
  }
  assert.ok(checked > 0, 'no relative imports found: is SRC right?');
  assert.deepEqual(violations, []);
});
