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
  web: ['client', 'wire', 'common'],
  client: ['wire', 'common'],
  api: ['engine', 'wire', 'common'],
  cri: ['engine', 'wire', 'common'],
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

/**
 * Import cycles among `files`, each once, as the files around the loop starting from its
 * first in path order, e.g. ['src/a.ts', 'src/b.ts'] for a → b → a. Every form of import
 * counts, type-only ones too: a cycle of types still ties the files' designs together.
 * Only relative imports that resolve to one of `files` (as `x.ts` or `x/index.ts`) are edges.
 */
export function findCycles(files: readonly SourceFile[]): string[][] {
  const known = new Set(files.map((f) => f.path));
  const edges = new Map<string, string[]>();
  for (const { path, text } of files) {
    const to = new Set<string>();
    for (const ref of references(path, text)) {
      if (!ref.spec?.startsWith('.')) continue;
      const base = posix.normalize(posix.join(posix.dirname(path), ref.spec)).replace(/\/$/, '');
      const hit = [base, `${base}.ts`, `${base}/index.ts`].find((c) => known.has(c));
      if (hit) to.add(hit);
    }
    edges.set(path, [...to]);
  }
  // Tarjan's strongly connected components; each component of more than one file, or a
  // file importing itself, holds a cycle.
  const index = new Map<string, number>();
  const low = new Map<string, number>();
  const stack: string[] = [];
  const onStack = new Set<string>();
  const cycles: string[][] = [];
  const connect = (v: string): void => {
    index.set(v, index.size);
    low.set(v, index.get(v)!);
    stack.push(v);
    onStack.add(v);
    for (const w of edges.get(v)!) {
      if (!index.has(w)) {
        connect(w);
        low.set(v, Math.min(low.get(v)!, low.get(w)!));
      } else if (onStack.has(w)) {
        low.set(v, Math.min(low.get(v)!, index.get(w)!));
      }
    }
    if (low.get(v) !== index.get(v)) return;
    const component: string[] = [];
    let w: string;
    do {
      w = stack.pop()!;
      onStack.delete(w);
      component.push(w);
    } while (w !== v);
    if (component.length > 1 || edges.get(v)!.includes(v)) cycles.push(loopThrough(component.sort(), edges));
  };
  for (const v of [...edges.keys()].sort()) if (!index.has(v)) connect(v);
  return cycles.sort((a, b) => a[0]!.localeCompare(b[0]!));
}

/** One loop from the first file of a strongly connected component back to it (breadth first: a shortest one). */
function loopThrough(component: string[], edges: Map<string, string[]>): string[] {
  const start = component[0]!;
  const inside = new Set(component);
  const cameFrom = new Map<string, string>();
  const queue = [start];
  while (queue.length) {
    const v = queue.shift()!;
    for (const w of edges.get(v)!) {
      if (!inside.has(w)) continue;
      if (w === start) {
        const loop = [v];
        while (loop[0] !== start) loop.unshift(cameFrom.get(loop[0]!)!);
        return loop;
      }
      if (!cameFrom.has(w)) {
        cameFrom.set(w, v);
        queue.push(w);
      }
    }
  }
  return component;
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
