#!/usr/bin/env node
// Bundles the dashboard's page (src/web/ui) into dist/web: app.js, app.css, index.html.
// Everything it needs comes from node_modules, so the built dashboard works offline.
'use strict';
const { build } = require('esbuild');
const { copyFileSync, mkdirSync } = require('node:fs');
const { join } = require('node:path');

const root = join(__dirname, '..');
const ui = join(root, 'src', 'web', 'ui');
const out = join(root, 'dist', 'web');

mkdirSync(out, { recursive: true });
build({
  entryPoints: { app: join(ui, 'main.tsx') },
  outdir: out,
  bundle: true,
  minify: true,
  sourcemap: false,
  format: 'iife',
  target: ['chrome110', 'firefox110', 'safari16'],
  jsx: 'automatic',
  jsxImportSource: 'preact',
  legalComments: 'none',
  logLevel: 'warning',
}).then(
  () => copyFileSync(join(ui, 'index.html'), join(out, 'index.html')),
  () => process.exit(1),
);
