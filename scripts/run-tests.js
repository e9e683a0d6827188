#!/usr/bin/env node
// Runs node's test runner over the compiled tests of one suite.
//   unit:        dist/src/**/*.test.js and dist/test/*.test.js (no root needed: as another
//                user, the tests whose checks only root can make skip with "needs root: …")
//   integration: dist/test/integration/**/*.test.js (root: real berthd, runc, conmon, overlay)
'use strict';
const { readdirSync, statSync } = require('node:fs');
const { join } = require('node:path');
const { spawnSync } = require('node:child_process');

const suite = process.argv[2];
const root = join(__dirname, '..', 'dist');
function find(dir, deep) {
  let out = [];
  let names;
  try { names = readdirSync(dir); } catch { return out; }
  for (const n of names) {
    const p = join(dir, n);
    if (statSync(p).isDirectory()) { if (deep) out = out.concat(find(p, deep)); }
    else if (n.endsWith('.test.js')) out.push(p);
  }
  return out;
}
let files;
if (suite === 'unit') {
  files = [...find(join(root, 'src'), true), ...find(join(root, 'test'), false)];
  if (process.getuid && process.getuid() !== 0) {
    console.error('not root: tests whose checks need root are skipped, each marked "needs root: …"; run as root to run them all');
  }
}
else if (suite === 'integration') {
  if (process.getuid && process.getuid() !== 0) {
    console.error('integration tests need root (real runc, conmon and overlay mounts): run them as root');
    process.exit(1);
  }
  files = find(join(root, 'test', 'integration'), true);
} else {
  console.error('usage: run-tests.js unit|integration');
  process.exit(2);
}
if (files.length === 0) {
  console.error(`no ${suite} tests found under dist/: run npm run build first`);
  process.exit(1);
}
const args = ['--test', '--test-concurrency=1', ...files];
const r = spawnSync(process.execPath, args, { stdio: 'inherit' });
process.exit(r.status ?? 1);
