#!/usr/bin/env node
// Compiles berth-exec (native/berth-exec.c) into dist/native. Without a C compiler the
// build goes on without it and berthd runs every exec through `runc exec`
// (src/runtime/exec-helper.ts); a compiler that rejects the source fails the build.
'use strict';
const { spawnSync } = require('node:child_process');
const { mkdirSync, rmSync } = require('node:fs');
const { join } = require('node:path');

const root = join(__dirname, '..');
const out = join(root, 'dist', 'native');
const cc = ['cc', 'gcc', 'clang'].find((c) => spawnSync(c, ['--version'], { stdio: 'ignore' }).status === 0);
mkdirSync(out, { recursive: true });
if (!cc) {
  rmSync(join(out, 'berth-exec'), { force: true });
  console.warn('build-native: no C compiler (cc, gcc or clang): berth-exec not built; execs will use runc exec');
  process.exit(0);
}
const r = spawnSync(cc, ['-O2', '-Wall', '-Wextra', '-Werror', '-o', join(out, 'berth-exec'), join(root, 'native', 'berth-exec.c')], { stdio: 'inherit' });
process.exit(r.status ?? 1);
