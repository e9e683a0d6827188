/**
 * The import table of docs/architecture.md (and ../shared/DESIGN.md), as a checker.
 *
 * Contract: `checkImports(files)` takes source files as repository-relative paths with
 * their text and returns one `Violation` per import that breaks the rules below, in
 * file order; an empty list means the files follow the table. It reads no disk, so a
 * test can feed it in-memory fixtures; `repoSources(root)` reads the real tree.
 *
 * Every module reference counts, whatever its form: `import … from`, `import type`,
 * side-effect `import '…'`, `export … from`, `import x = require('…')`, `require('…')`,
 * `require.resolve('…')`, dynamic `import('…')` and type-position `import('…')`.
 * A `require`/`import()` whose argument is not a string literal cannot be checked and
 * is itself a violation. Only relative specifiers name our code; packages and node:
 * builtins are not ours to police here.
 *
 * The rules:
 * - src/<layer>/…: a layer may import its own files freely, and another layer only if
 *   the table allows it and only through that layer's public surface, its index.ts
 *   (`'../runtime'`, never `'../runtime/spec'`). Nothing under src/ imports outside src/.
 *   A file directly in src/ or in a directory not in the table is a violation.
 * - test/** and bench/**: may import each other's files (the integration harness,
 *   shared helpers) and any layer, but only through its index.ts.
 * - Test code (`*.test.ts` and test-support modules under src/, everything under test/
 *   and bench/) may also import a layer's test-support modules (`test-*.ts`,
 *   `*-fixtures.ts`) where it may import that layer at all; production code never
 *   imports them, not even in its own layer.
 * - Nothing else in the repository is checked.
 */
import * as ts from 'typescript';
import { readdirSync, readFileSync, statSync } from 'node:fs';
import { join, posix, relative } from 'node:path';

/** Each layer may import itself plus these ('*': any layer). */
export const LAYER_TABLE: Readonly<Record<string, readonly string[]>> = {
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
  state: ['sys', 'common'],
  sys: ['common'],
  wire: ['common'],
  common: [],
};

export interface SourceFile {
  /** Repository-relative, '/'-separated, e.g. 'src/engine/containers.ts'. */
  path: string;
  text: string;
}

export interface Violation {
  file: string;
  /** 1-based line of the offending reference. */
  line: number;
  /** The module specifier as written ('' when it is not a string literal). */
  spec: string;
  message: string;
}

interface Reference {
  spec: string | null;
  line: number;
  form: string;
}

/** Every module reference in one file, with the form it takes (for messages). */
function references(path: string, text: string): Reference[] {
  const sf = ts.createSourceFile(path, text, ts.ScriptTarget.Latest, true, ts.ScriptKind.TS);
  const out: Reference[] = [];
  const at = (n: ts.Node) => sf.getLineAndCharacterOfPosition(n.getStart(sf)).line + 1;
  const literal = (e: ts.Node | undefined) =>
    e && (ts.isStringLiteral(e) || ts.isNoSubstitutionTemplateLiteral(e)) ? e.text : null;
  const visit = (n: ts.Node): void => {
    if (ts.isImportDeclaration(n)) {
      const form = !n.importClause ? 'side-effect import'
        : n.importClause.isTypeOnly ? 'type-only import' : 'import';
      out.push({ spec: literal(n.moduleSpecifier), line: at(n), form });
    } else if (ts.isExportDeclaration(n) && n.moduleSpecifier) {
      out.push({ spec: literal(n.moduleSpecifier), line: at(n), form: 're-export' });
    } else if (ts.isImportEqualsDeclaration(n) && ts.isExternalModuleReference(n.moduleReference)) {
      out.push({ spec: literal(n.moduleReference.expression), line: at(n), form: 'import = require' });
    } else if (ts.isImportTypeNode(n)) {
      const arg = ts.isLiteralTypeNode(n.argument) ? literal(n.argument.literal) : null;
      out.push({ spec: arg, line: at(n), form: 'type import()' });
    } else if (ts.isCallExpression(n)) {
      const callee = n.expression;
      let form: string | null = null;
      if (callee.kind === ts.SyntaxKind.ImportKeyword) form = 'dynamic import()';
      else if (ts.isIdentifier(callee) && callee.text === 'require') form = 'require()';
      else if (ts.isPropertyAccessExpression(callee) && ts.isIdentifier(callee.expression)
        && callee.expression.text === 'require' && callee.name.text === 'resolve') form = 'require.resolve()';
      if (form) out.push({ spec: literal(n.arguments[0]), line: at(n), form });
    }
    ts.forEachChild(n, visit);
  };
  visit(sf);
  return out;
}

const isTestSupport = (path: string) => /^test-|-fixtures$/.test(posix.basename(path).replace(/\.(ts|js)$/, ''));
const isTestCode = (path: string) => !path.startsWith('src/') || path.endsWith('.test.ts') || isTestSupport(path);

/** `null` when `from` may reference `target` (a resolved repository path), else why not. */
function verdict(from: string, target: string): string | null {
  const [top, layer] = from.split('/');
  const [ttop, tlayer, ...rest] = target.split('/');
  const inner = rest.join('/').replace(/\.(ts|js)$/, '');
  const viaIndex = rest.length === 0 || inner === 'index';
  if (top === 'src') {
    const allowed = LAYER_TABLE[layer!]!;
    if (ttop !== 'src') return 'src/ never imports outside src/';
    if (tlayer === layer) {
      return isTestSupport(inner) && !isTestCode(from) ? `${target} is test support: production code never imports it` : null;
    }
    if (!LAYER_TABLE[tlayer!]) return `${target} is in no layer of the table`;
    if (!allowed.includes('*') && !allowed.includes(tlayer!)) {
      return `${layer} may import ${allowed.length ? allowed.join(', ') : 'nothing of ours'}, not ${tlayer}`;
    }
  } else {
    if (ttop === 'test' || ttop === 'bench') return null;
    if (ttop !== 'src' || !LAYER_TABLE[tlayer!]) return `${top}/ imports only src/<layer> and test/, bench/ files`;
  }
  if (viaIndex) return null;
  if (isTestCode(from) && isTestSupport(inner)) return null;
  return `it reaches past src/${tlayer}/index.ts; import the layer itself and export what is needed from that index.ts`;
}

export function checkImports(files: readonly SourceFile[]): Violation[] {
  const violations: Violation[] = [];
  for (const { path, text } of files) {
    const [top, layer] = path.split('/');
    if (top !== 'src' && top !== 'test' && top !== 'bench') continue;
    if (top === 'src' && (!layer || !path.slice(4).includes('/') || !LAYER_TABLE[layer])) {
      violations.push({ file: path, line: 1, spec: '', message: `${path} is in no layer of the table; add the layer to docs/architecture.md and test/layering.ts` });
      continue;
    }
    for (const ref of references(path, text)) {
      if (ref.spec === null) {
        violations.push({ file: path, line: ref.line, spec: '', message: `${path}:${ref.line}: ${ref.form} of a computed name cannot be checked; use a string literal` });
        continue;
      }
      if (!ref.spec.startsWith('.')) continue;
      const target = posix.normalize(posix.join(posix.dirname(path), ref.spec)).replace(/\/$/, '');
      const why = verdict(path, target);
      if (why) violations.push({ file: path, line: ref.line, spec: ref.spec, message: `${path}:${ref.line}: ${ref.form} of '${ref.spec}': ${why}` });
    }
  }
  return violations;
}

/** The .ts files (not .d.ts) under src/, test/ and bench/ of the repository at `root`. */
export function repoSources(root: string): SourceFile[] {
  const out: SourceFile[] = [];
  const walk = (dir: string): void => {
    let names: string[];
    try { names = readdirSync(dir); } catch { return; }
    for (const name of names.sort()) {
      const p = join(dir, name);
      if (statSync(p).isDirectory()) walk(p);
      else if (name.endsWith('.ts') && !name.endsWith('.d.ts')) {
        out.push({ path: relative(root, p).split('\\').join('/'), text: readFileSync(p, 'utf8') });
      }
    }
  };
  for (const top of ['src', 'test', 'bench']) walk(join(root, top));
  return out;
}
