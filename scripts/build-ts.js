#!/usr/bin/env node
// Compiles tsconfig.json's project once, as `tsc -p tsconfig.json` would, and writes it out twice:
// the declaration files with their doc comments (what a program using the engine as a library
// reads), then the JavaScript without comments.
//
// Why the JavaScript has no comments: measured, not derived. berthd loads ~160 modules at start,
// and V8 keeps each one's source text; with the comments gone its RSS right after start went from
// 54.2 to 50.0 MiB on this machine (issue 14: a private berthd, VmRSS 1-12 s after `docker
// version`, three starts of each build, interleaved). Keeping the comments but escaping their
// characters above U+00FF (which make V8 hold a source as two-byte text) gave back only 0.6 MiB.
// Stack traces still lead to the TypeScript through the source maps, written for the output as
// emitted.
'use strict';
const path = require('node:path');
const ts = require('typescript');

const root = path.resolve(__dirname, '..');
const configFile = path.join(root, 'tsconfig.json');
const host = {
  ...ts.sys,
  onUnRecoverableConfigFileDiagnostic(d) {
    report([d]);
    process.exit(1);
  },
};
const config = ts.getParsedCommandLineOfConfigFile(configFile, {}, host);
const formatHost = {
  getCanonicalFileName: (f) => f,
  getCurrentDirectory: () => root,
  getNewLine: () => '\n',
};
function report(diagnostics) {
  if (diagnostics.length > 0) process.stderr.write(ts.formatDiagnosticsWithColorAndContext(diagnostics, formatHost));
}

if (config.errors.length > 0) {
  report(config.errors);
  process.exit(1);
}
const program = ts.createProgram({ rootNames: config.fileNames, options: config.options, projectReferences: config.projectReferences });
const diagnostics = ts.getPreEmitDiagnostics(program);
report(diagnostics);
if (diagnostics.some((d) => d.category === ts.DiagnosticCategory.Error)) {
  process.stderr.write(`build-ts: ${diagnostics.length} error(s); nothing written\n`);
  process.exit(1);
}

const declarations = program.emit(undefined, undefined, undefined, /* emitOnlyDtsFiles */ true);
// The emitter reads the program's options object when it prints, so this applies to the next emit.
program.getCompilerOptions().removeComments = true;
const javascript = program.emit(undefined, (file, text, bom) => {
  if (!file.endsWith('.d.ts')) ts.sys.writeFile(file, text, bom);
});
const emitted = [...declarations.diagnostics, ...javascript.diagnostics];
report(emitted);
if (declarations.emitSkipped || javascript.emitSkipped || emitted.length > 0) process.exit(1);
