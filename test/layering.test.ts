import { test } from 'node:test';
import assert from 'node:assert/strict';
import { checkImports, findCycles, type SourceFile } from './layering';

/** One fixture file per kind of violation: its path, text, and what the message must say. */
const BROKEN: Array<{ kind: string; file: SourceFile; line: number; says: RegExp }> = [
  {
    kind: 'a layer the table forbids',
    file: { path: 'src/runtime/a.ts', text: "import { Engine } from '../engine';\n" },
    line: 1, says: /import of '\.\.\/engine': runtime may import state, sys, common, not engine/,
  },
  {
    kind: 'side-effect import',
    file: { path: 'src/runtime/a.ts', text: "// first line\nimport '../engine';\n" },
    line: 2, says: /side-effect import of '\.\.\/engine': .*not engine/,
  },
  {
    kind: 'type-only import',
    file: { path: 'src/common/a.ts', text: "import type { Digest } from '../image';\n" },
    line: 1, says: /type-only import of '\.\.\/image': common may import nothing of ours, not image/,
  },
  {
    kind: 'require()',
    file: { path: 'src/sys/a.ts', text: "export const e = require('../state');\n" },
    line: 1, says: /require\(\) of '\.\.\/state': sys may import common, not state/,
  },
  {
    kind: 'require.resolve()',
    file: { path: 'src/sys/a.ts', text: "export const p = require.resolve('../state/atomic');\n" },
    line: 1, says: /require\.resolve\(\) of '\.\.\/state\/atomic': sys may import common, not state/,
  },
  {
    kind: 'import = require',
    file: { path: 'src/wire/a.ts', text: "import api = require('../api');\nexport { api };\n" },
    line: 1, says: /import = require of '\.\.\/api': wire may import common, not api/,
  },
  {
    kind: 'dynamic import()',
    file: { path: 'src/client/a.ts', text: "export async function f() {\n  return import('../engine');\n}\n" },
    line: 2, says: /dynamic import\(\) of '\.\.\/engine': client may import wire, common, not engine/,
  },
  {
    kind: 'import() in a type',
    file: { path: 'src/cli/a.ts', text: "export let e: import('../engine').Engine | undefined;\n" },
    line: 1, says: /type import\(\) of '\.\.\/engine': cli may import client, wire, common, not engine/,
  },
  {
    kind: 'export … from',
    file: { path: 'src/api/a.ts', text: "export { Engine } from '../engine';\nexport * from '../runtime';\n" },
    line: 2, says: /re-export of '\.\.\/runtime': api may import engine, wire, common, not runtime/,
  },
  {
    kind: 'a computed module name',
    file: { path: 'src/engine/a.ts', text: "const name = '../api';\nexport const m = require(name);\n" },
    line: 2, says: /require\(\) of a computed name cannot be checked/,
  },
  {
    kind: 'a deep import past another layer\'s index.ts',
    file: { path: 'src/engine/a.ts', text: "import { buildSpec } from '../runtime/spec';\n" },
    line: 1, says: /import of '\.\.\/runtime\/spec': it reaches past src\/runtime\/index\.ts/,
  },
  {
    kind: 'a deep type-only import from bin',
    file: { path: 'src/bin/a.ts', text: "import type { CliIO } from '../cli/context';\n" },
    line: 1, says: /reaches past src\/cli\/index\.ts/,
  },
  {
    kind: 'src/ importing test code',
    file: { path: 'src/engine/a.test.ts', text: "import { useDaemon } from '../../test/integration/harness';\n" },
    line: 1, says: /src\/ never imports outside src\//,
  },
  {
    kind: 'production code importing another layer\'s test support',
    file: { path: 'src/cli/a.ts', text: "import { startPeer } from '../client/test-peer';\n" },
    line: 1, says: /reaches past src\/client\/index\.ts/,
  },
  {
    kind: 'production code importing its own layer\'s test support',
    file: { path: 'src/storage/a.ts', text: "import { makeTar } from './tar-fixtures';\n" },
    line: 1, says: /src\/storage\/tar-fixtures is test support: production code never imports it/,
  },
  {
    kind: 'an integration test importing past an index.ts',
    file: { path: 'test/integration/a.test.ts', text: "import { ContainerService } from '../../src/engine/containers';\n" },
    line: 1, says: /test\/integration\/a\.test\.ts:1: import of '\.\.\/\.\.\/src\/engine\/containers': it reaches past src\/engine\/index\.ts/,
  },
  {
    kind: 'a bench importing past an index.ts',
    file: { path: 'bench/a.ts', text: "import type { RuntimeSpec } from '../src/runtime/spec';\n" },
    line: 1, says: /bench\/a\.ts:1: type-only import of '\.\.\/src\/runtime\/spec': it reaches past src\/runtime\/index\.ts/,
  },
  {
    kind: 'a test importing outside the checked trees',
    file: { path: 'test/a.test.ts', text: "import '../scripts/run-tests';\n" },
    line: 1, says: /test\/ imports only src\/<layer> and test\/, bench\/ files/,
  },
  {
    kind: 'a file in no layer',
    file: { path: 'src/network2/a.ts', text: "export const x = 1;\n" },
    line: 1, says: /src\/network2\/a\.ts is in no layer of the table/,
  },
  {
    kind: 'a file directly in src/',
    file: { path: 'src/a.ts', text: "export const x = 1;\n" },
    line: 1, says: /src\/a\.ts is in no layer of the table/,
  },
];

for (const { kind, file, line, says } of BROKEN) {
  test(`the layer check reports ${kind}`, () => {
    const found = checkImports([file]);
    assert.equal(found.length, 1, `expected one violation, got ${JSON.stringify(found)}`);
    assert.equal(found[0]!.file, file.path);
    assert.equal(found[0]!.line, line);
    assert.match(found[0]!.message, says);
    assert.ok(found[0]!.message.startsWith(file.path), `the message names the file: ${found[0]!.message}`);
  });
}

test('the layer check accepts what the table allows', () => {
  const clean: SourceFile[] = [
    {
      path: 'src/engine/a.ts',
      text: [
        "import { readFile } from 'node:fs/promises';",
        "import * as tar from 'tar-stream';",
        "import { buildSpec } from '../runtime';",
        "import type { Digest } from '../common/index';",
        "import { ContainerService } from './containers';",
        "import './side-effect-of-own-layer';",
        "export { LayerStore } from '../storage/';",
        "// import '../api'; in a comment is no import",
        "const text = \"import '../api'\";",
        "let st: import('node:fs').Stats | undefined;",
        "export const m = [readFile, tar, buildSpec, ContainerService, text, st, require('node:os')];",
        "export type D = Digest;",
      ].join('\n'),
    },
    { path: 'src/engine/deep/b.ts', text: "import { Engine } from '../engine';\nimport { x } from '../../image';\nexport { Engine, x };\n" },
    { path: 'src/bin/berthd.ts', text: "import { Engine } from '../engine';\nimport { ApiServer } from '../api';\nexport { Engine, ApiServer };\n" },
    { path: 'src/cli/a.test.ts', text: "import { startPeer } from '../client/test-peer';\nexport { startPeer };\n" },
    { path: 'src/storage/a.test.ts', text: "import { makeTar } from './tar-fixtures';\nexport { makeTar };\n" },
    { path: 'src/cli/test-helper.ts', text: "import { startPeer } from '../client/test-peer';\nexport { startPeer };\n" },
    {
      path: 'test/integration/a.test.ts',
      text: [
        "import { useDaemon } from './harness';",
        "import { Engine } from '../../src/engine';",
        "import { makeTar } from '../../src/storage/tar-fixtures';",
        "import { checkImports } from '../layering';",
        "export { useDaemon, Engine, makeTar, checkImports };",
      ].join('\n'),
    },
    { path: 'bench/a.ts', text: "import { EngineClient } from '../src/client';\nimport { run } from '../test/integration/harness';\nexport { EngineClient, run };\n" },
    { path: 'scripts/anything.ts', text: "import '../src/engine/containers';\n" },
  ];
  assert.deepEqual(checkImports(clean), []);
});

test('the layer check reports every violation of a file, each at its own line', () => {
  const found = checkImports([{
    path: 'src/storage/a.ts',
    text: "import '../image';\nimport { x } from '../runtime/spec';\nimport { y } from '../state/atomic';\nexport { x, y };\n",
  }]);
  assert.deepEqual(found.map((v) => [v.line, v.spec]), [[1, '../image'], [2, '../runtime/spec'], [3, '../state/atomic']]);
});

test('the cycle check finds each import loop once, type-only imports included', () => {
  const files: SourceFile[] = [
    { path: 'src/engine/containers.ts', text: "import { buildSpec } from './container-spec';\nexport const c = buildSpec;\n" },
    { path: 'src/engine/container-spec.ts', text: "import type { Rec } from './containers';\nexport function buildSpec(r?: Rec) { return r; }\n" },
    { path: 'src/engine/a.ts', text: "import './b';\n" },
    { path: 'src/engine/b.ts', text: "export * from './c';\n" },
    { path: 'src/engine/c.ts', text: "export const a = require('./a');\n" },
    { path: 'src/engine/self.ts', text: "import './self';\n" },
    { path: 'src/engine/index.ts', text: "export * from './a';\nexport * from './containers';\n" },
    { path: 'src/api/x.ts', text: "import { a } from '../engine';\nimport { join } from 'node:path';\nexport { a, join };\n" },
  ];
  assert.deepEqual(findCycles(files), [
    ['src/engine/a.ts', 'src/engine/b.ts', 'src/engine/c.ts'],
    ['src/engine/container-spec.ts', 'src/engine/containers.ts'],
    ['src/engine/self.ts'],
  ]);
});

test('the cycle check passes a tree of imports without loops', () => {
  assert.deepEqual(findCycles([
    { path: 'src/engine/index.ts', text: "export * from './containers';\nexport * from './images';\n" },
    { path: 'src/engine/containers.ts', text: "import { x } from './shared';\nimport { y } from '../runtime';\nexport { x, y };\n" },
    { path: 'src/engine/images.ts', text: "import { x } from './shared';\nexport { x };\n" },
    { path: 'src/engine/shared.ts', text: "export const x = 1;\n" },
    { path: 'src/runtime/index.ts', text: "export const y = 2;\n" },
  ]), []);
});
