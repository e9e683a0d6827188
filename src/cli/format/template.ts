/**
 * A small subset of Go's text/template, enough for docker's `--format`:
 * fields (`.State.Status`, `$.Id`, `.`), pipes, parentheses, string/number literals,
 * `if`/`else`/`with`/`range` (with `$k, $v :=`) / `end`, `{{-`/`-}}` trimming, and the
 * functions docker adds (json, join, split, upper, lower, title, truncate, pad)
 * plus Go's index, len, eq/ne/lt/le/gt/ge, and/or/not, print/println/printf, and a row's
 * methods (`.Label "key"`). Errors read as Go's: a parse error names the action's line, an
 * execution error its line and column and the node (`template: :1:2: executing "" at <.Nope>:
 * map has no entry for key "Nope"`), with the docker CLI's type for a value that stands for
 * one of its structs (TemplateOptions.struct).
 */

import { goEscape, goJSON } from './go-json';

type Node =
  | { t: 'text'; text: string }
  | { t: 'action'; pipe: Pipeline }
  | { t: 'if' | 'with'; pipe: Pipeline; then: Node[]; else: Node[] }
  | { t: 'range'; pipe: Pipeline; vars: string[]; body: Node[]; else: Node[] };

/** Where a node is, as Go's errors name it: `NAME:LINE:COL`. */
type Loc = string;

type Term =
  | { t: 'field'; base: 'dot' | 'root' | { var: string }; path: string[]; loc: Loc }
  | { t: 'lit'; value: unknown }
  | { t: 'func'; name: string }
  | { t: 'paren'; pipe: Pipeline };

type Command = Term[];
interface Pipeline {
  decl: string[];
  cmds: Command[];
}

export class TemplateError extends Error {
  constructor(message: string) {
    super(`template: ${message}`);
    this.name = 'TemplateError';
  }
}

const NO_VALUE = Symbol('no value');
// null where docker's typed structs hold a nil slice or map: Go prints `[]` / `map[]`
const NIL_SLICE = Symbol('nil slice');
const NIL_MAP = Symbol('nil map');
const SLICE_FIELDS = new Set(['Cmd', 'Entrypoint', 'Env', 'Args', 'Binds', 'CapAdd', 'CapDrop', 'ExecIDs', 'OnBuild', 'Mounts', 'RepoTags', 'RepoDigests', 'Layers', 'Dns', 'DnsOptions', 'DnsSearch', 'ExtraHosts', 'Links', 'SecurityOpt', 'Devices', 'Aliases', 'Shell', 'Warnings', 'Names', 'Tmpfs']);
const MAP_FIELDS = new Set(['Labels', 'Volumes', 'ExposedPorts', 'PortBindings', 'Ports', 'Networks', 'Options', 'DriverOpts', 'Sysctls', 'StorageOpt', 'Data']);

interface Tok {
  v: string;
  /** Offset in the action's text. */
  at: number;
}

function lexAction(src: string): Tok[] {
  const toks: Tok[] = [];
  let i = 0;
  while (i < src.length) {
    const c = src[i]!;
    if (/\s/.test(c)) { i++; continue; }
    if (c === '"') {
      let j = i + 1;
      while (j < src.length && src[j] !== '"') j += src[j] === '\\' ? 2 : 1;
      if (j >= src.length) throw new TemplateError('unterminated quoted string');
      toks.push({ v: src.slice(i, j + 1), at: i });
      i = j + 1;
      continue;
    }
    if (c === '`') {
      const j = src.indexOf('`', i + 1);
      if (j < 0) throw new TemplateError('unterminated raw string');
      toks.push({ v: src.slice(i, j + 1), at: i });
      i = j + 1;
      continue;
    }
    if (c === '(' || c === ')' || c === '|' || c === ',') { toks.push({ v: c, at: i }); i++; continue; }
    if (src.startsWith(':=', i)) { toks.push({ v: ':=', at: i }); i += 2; continue; }
    let j = i;
    while (j < src.length && !/[\s()|,"`]/.test(src[j]!) && !src.startsWith(':=', j)) j++;
    toks.push({ v: src.slice(i, j), at: i });
    i = j;
  }
  return toks;
}

class ActionParser {
  private pos = 0;
  private readonly toks: string[];
  private readonly offsets: number[];

  /** `where(at)`: the location in the template of the action's byte `at`. */
  constructor(toks: Tok[], private readonly where: (at: number) => Loc) {
    this.toks = toks.map((t) => t.v);
    this.offsets = toks.map((t) => t.at);
  }

  parsePipeline(allowDecl: boolean): Pipeline {
    const decl: string[] = [];
    if (allowDecl) {
      const save = this.pos;
      const vars: string[] = [];
      while (this.toks[this.pos]?.startsWith('$')) {
        vars.push(this.toks[this.pos]!);
        this.pos++;
        if (this.toks[this.pos] === ',') { this.pos++; continue; }
        break;
      }
      if (vars.length && this.toks[this.pos] === ':=') { this.pos++; decl.push(...vars); }
      else this.pos = save;
    }
    const cmds: Command[] = [];
    for (;;) {
      const cmd: Command = [];
      while (this.pos < this.toks.length && this.toks[this.pos] !== '|' && this.toks[this.pos] !== ')') cmd.push(this.parseTerm());
      if (!cmd.length) throw new TemplateError('missing value for command');
      cmds.push(cmd);
      if (this.toks[this.pos] === '|') { this.pos++; continue; }
      break;
    }
    return { decl, cmds };
  }

  private parseTerm(): Term {
    const at = this.offsets[this.pos]!;
    const tok = this.toks[this.pos++]!;
    if (tok === '(') {
      const pipe = this.parsePipeline(false);
      if (this.toks[this.pos++] !== ')') throw new TemplateError('unclosed left paren');
      return { t: 'paren', pipe };
    }
    if (tok.startsWith('"')) return { t: 'lit', value: JSON.parse(tok) };
    if (tok.startsWith('`')) return { t: 'lit', value: tok.slice(1, -1) };
    if (/^-?\d+(\.\d+)?$/.test(tok)) return { t: 'lit', value: Number(tok) };
    if (tok === 'true' || tok === 'false') return { t: 'lit', value: tok === 'true' };
    if (tok === 'nil') return { t: 'lit', value: null };
    // Go places a chain of fields at its second link (`.Config.Foo` at `.Foo`), after a variable at its first.
    if (tok === '.') return { t: 'field', base: 'dot', path: [], loc: this.where(at) };
    if (tok.startsWith('.')) {
      const path = tok.slice(1).split('.');
      return { t: 'field', base: 'dot', path, loc: this.where(path.length > 1 ? at + 1 + path[0]!.length : at) };
    }
    if (tok.startsWith('$')) {
      const [v, ...path] = tok.split('.');
      return { t: 'field', base: v === '$' ? 'root' : { var: v! }, path, loc: this.where(path.length ? at + v!.length : at) };
    }
    if (/^[A-Za-z_]\w*$/.test(tok)) {
      if (!(tok in FUNCS)) throw new TemplateError(`function "${tok}" not defined`);
      return { t: 'func', name: tok };
    }
    throw new TemplateError(`unexpected "${tok}" in command`);
  }

  get done(): boolean {
    return this.pos >= this.toks.length;
  }
}

/** Runs a parse step; its error gets the action's `NAME:LINE` in front, as Go's parse errors have it. */
function onLine<T>(line: Loc, step: () => T): T {
  try {
    return step();
  } catch (err) {
    if (err instanceof TemplateError) throw new TemplateError(`${line}: ${err.message.replace(/^template: /, '')}`);
    throw err;
  }
}

/** Go's `NAME:LINE:COL` for byte `pos` of `src` (COL counted from 0), or `NAME:LINE` without a column. */
function locate(name: string, src: string, pos: number, column = true): Loc {
  const before = src.slice(0, pos);
  const nl = before.lastIndexOf('\n');
  const line = 1 + (before.match(/\n/g)?.length ?? 0);
  return column ? `${name}:${line}:${nl < 0 ? pos : pos - nl - 1}` : `${name}:${line}`;
}

function parseTemplate(src: string, name: string): Node[] {
  // split into text and actions, honouring {{- and -}} trim markers; `at` is where an
  // action's text starts in `src`, `shift` where a space was put in after its keyword
  const parts: ({ text: string } | { action: string; at: number; shift: number })[] = [];
  let i = 0;
  let trimNext = false;
  while (i < src.length) {
    const open = src.indexOf('{{', i);
    let text = open < 0 ? src.slice(i) : src.slice(i, open);
    if (trimNext) text = text.replace(/^\s+/, '');
    trimNext = false;
    if (open < 0) { parts.push({ text }); break; }
    let inner = src.slice(open + 2);
    const close = inner.indexOf('}}');
    if (close < 0) throw new TemplateError(`${locate(name, src, open, false)}: unclosed action`);
    inner = inner.slice(0, close);
    let at = open + 2;
    if (inner.startsWith('- ') || inner === '-') { text = text.replace(/\s+$/, ''); inner = inner.slice(1); at++; }
    if (inner.endsWith(' -')) { trimNext = true; inner = inner.slice(0, -1); }
    parts.push({ text });
    at += inner.length - inner.trimStart().length;
    // Go allows `{{range.Items}}`: a keyword runs straight into its pipeline
    const kw = /^(if|range|with|else if|else|end|template|block)(?=[.$("`])/.exec(inner.trim());
    const trimmed = kw ? `${kw[1]} ${inner.trim().slice(kw[1]!.length)}` : inner.trim();
    if (!trimmed.startsWith('/*')) parts.push({ action: trimmed, at, shift: kw ? kw[1]!.length : Infinity });
    i = open + 2 + close + 2;
  }

  let k = 0;
  // parses one if/with/range through its {{end}}; `else if` chains share that end
  // Where the action `p`'s token at `at` is, in `src`.
  const whereIn = (p: { at: number; shift: number }) => (at: number) => locate(name, src, p.at + (at > p.shift ? at - 1 : at));
  const control = (kw: 'if' | 'with' | 'range', rest: Tok[], p: { at: number; shift: number }): Node => {
    const ap = new ActionParser(rest, whereIn(p));
    const pipe = onLine(locate(name, src, p.at, false), () => ap.parsePipeline(kw !== 'if'));
    const [body, end] = block(['else', 'end']);
    let elseNodes: Node[] = [];
    if (end.action.startsWith('else')) {
      const elseToks = lexAction(end.action).slice(1);
      if (elseToks[0]?.v === 'if') elseNodes = [control('if', elseToks.slice(1), end)];
      else [elseNodes] = block(['end']);
    }
    if (kw === 'range') return { t: 'range', pipe: { decl: [], cmds: pipe.cmds }, vars: pipe.decl, body, else: elseNodes };
    return { t: kw, pipe, then: body, else: elseNodes };
  };
  const block = (stopAt: string[]): [Node[], { action: string; at: number; shift: number }] => {
    const nodes: Node[] = [];
    while (k < parts.length) {
      const p = parts[k++]!;
      if ('text' in p) { if (p.text) nodes.push({ t: 'text', text: p.text }); continue; }
      const line = locate(name, src, p.at, false);
      const toks = onLine(line, () => lexAction(p.action));
      const kw = toks[0]?.v;
      if (kw && stopAt.includes(kw)) return [nodes, p];
      if (kw === 'if' || kw === 'with' || kw === 'range') {
        nodes.push(control(kw, toks.slice(1), p));
        continue;
      }
      if (kw === 'end' || kw === 'else') throw new TemplateError(`${line}: unexpected {{${kw}}}`);
      const ap = new ActionParser(toks, whereIn(p));
      const pipe = onLine(line, () => ap.parsePipeline(true));
      if (!ap.done) throw new TemplateError(`${line}: unexpected tokens in {{${p.action}}}`);
      nodes.push({ t: 'action', pipe });
    }
    if (stopAt.length) throw new TemplateError(`${locate(name, src, src.length, false)}: unexpected EOF`);
    return [nodes, { action: '', at: src.length, shift: Infinity }];
  };
  return block([])[0];
}

/** Go's %v rendering of a decoded JSON value. */
export function goString(v: unknown): string {
  if (v === NO_VALUE || v === undefined) return '<no value>';
  if (v === null) return '<nil>';
  if (v === NIL_SLICE) return '[]';
  if (v === NIL_MAP) return 'map[]';
  if (typeof v === 'string') return v;
  if (typeof v === 'number') return Number.isInteger(v) ? String(v) : String(v);
  if (typeof v === 'boolean') return String(v);
  if (Array.isArray(v)) return `[${v.map(goString).join(' ')}]`;
  if (typeof v === 'object') {
    const o = v as Record<string, unknown>;
    return `map[${Object.keys(o).sort().map((k) => `${k}:${goString(o[k])}`).join(' ')}]`;
  }
  return String(v);
}

function truthy(v: unknown): boolean {
  if (v === NIL_SLICE || v === NIL_MAP || v === NO_VALUE || v === undefined || v === null || v === false || v === 0 || v === '') return false;
  if (Array.isArray(v)) return v.length > 0;
  if (typeof v === 'object') return Object.keys(v as object).length > 0;
  return true;
}

function field(v: unknown, name: string, path: string, loc: Loc, x: Execution): unknown {
  if (v === null || v === undefined || v === NO_VALUE || v === NIL_MAP) return NO_VALUE;
  const fail = (why: string) => new TemplateError(`${loc}: executing "${x.name}" at <${path}>: ${why}`);
  if (typeof v === 'object' && !Array.isArray(v)) {
    const o = v as Record<string, unknown>;
    if (name in o) {
      const y = o[name];
      if (y === null && SLICE_FIELDS.has(name)) return NIL_SLICE;
      if (y === null && MAP_FIELDS.has(name)) return NIL_MAP;
      return y;
    }
    // A list's row stands for one of the docker CLI's context structs; anything else was
    // decoded JSON, a map, which docker reads with missingkey=error.
    if (x.struct && v === x.data) throw fail(`can't evaluate field ${name} in type ${x.struct}`);
    throw fail(`map has no entry for key "${name}"`);
  }
  // Decoded JSON holds every value as an interface {}; a row's fields are strings.
  const goType = !x.struct ? 'interface {}' : typeof v === 'string' ? 'string' : typeof v === 'boolean' ? 'bool' : 'interface {}';
  throw fail(`can't evaluate field ${name} in type ${goType}`);
}

function cmp(a: unknown, b: unknown): number {
  if (typeof a === 'number' && typeof b === 'number') return a - b;
  return String(a) < String(b) ? -1 : String(a) > String(b) ? 1 : 0;
}

function printf(fmt: string, args: unknown[]): string {
  let i = 0;
  return fmt.replace(/%([-+ 0#]*)(\d*)(?:\.(\d+))?([svdqtf%])/g, (_m, _flags: string, width: string, prec: string, verb: string) => {
    if (verb === '%') return '%';
    const a = args[i++];
    let s: string;
    if (verb === 'q') s = JSON.stringify(goString(a));
    else if (verb === 'f') s = Number(a).toFixed(prec ? Number(prec) : 6);
    else if (verb === 'd') s = String(Math.trunc(Number(a)));
    else s = goString(a);
    if (verb === 's' && prec) s = s.slice(0, Number(prec));
    if (width) s = _flags.includes('-') ? s.padEnd(Number(width)) : s.padStart(Number(width));
    return s;
  });
}

const FUNCS: Record<string, (...args: unknown[]) => unknown> = {
  json: (v) => (v === NO_VALUE || v === undefined || v === NIL_SLICE || v === NIL_MAP ? 'null' : goEscape(JSON.stringify(v), false)),
  join: (v, sep) => (Array.isArray(v) ? v.map(goString).join(String(sep)) : goString(v)),
  split: (s, sep) => String(s).split(String(sep)),
  upper: (s) => goString(s).toUpperCase(),
  lower: (s) => goString(s).toLowerCase(),
  title: (s) => goString(s).replace(/\b\w/g, (c) => c.toUpperCase()),
  truncate: (s, n) => [...goString(s)].slice(0, Number(n)).join(''),
  pad: (s, l, r) => ' '.repeat(Number(l)) + goString(s) + ' '.repeat(Number(r)),
  len: (v) => (Array.isArray(v) || typeof v === 'string' ? v.length : v && typeof v === 'object' ? Object.keys(v).length : 0),
  index: (v, ...keys) => {
    let cur = v;
    for (const k of keys) {
      if (Array.isArray(cur)) {
        const n = Number(k);
        if (!(n >= 0 && n < cur.length)) throw new TemplateError(`error calling index: index out of range: ${n}`);
        cur = cur[n];
      } else if (cur && typeof cur === 'object') {
        const o = cur as Record<string, unknown>;
        cur = String(k) in o ? o[String(k)] : NO_VALUE;
      } else return NO_VALUE;
    }
    return cur;
  },
  eq: (a, ...bs) => bs.some((b) => a === b || (a !== null && b !== null && typeof a !== 'object' && String(a) === String(b) && typeof a === typeof b)),
  ne: (a, b) => a !== b,
  lt: (a, b) => cmp(a, b) < 0,
  le: (a, b) => cmp(a, b) <= 0,
  gt: (a, b) => cmp(a, b) > 0,
  ge: (a, b) => cmp(a, b) >= 0,
  not: (a) => !truthy(a),
  and: (...xs) => { let last: unknown = true; for (const x of xs) { last = x; if (!truthy(x)) return x; } return last; },
  or: (...xs) => { let last: unknown = false; for (const x of xs) { last = x; if (truthy(x)) return x; } return last; },
  print: (...xs) => xs.map(goString).join(''),
  println: (...xs) => xs.map(goString).join(' ') + '\n',
  printf: (f, ...xs) => printf(String(f), xs),
};

/** One run of a template: its name, the value it was given, and the Go type that value stands for (if a struct). */
interface Execution {
  name: string;
  data: unknown;
  struct?: string;
  row?: boolean;
}

interface Scope {
  dot: unknown;
  root: unknown;
  vars: Map<string, unknown>;
  x: Execution;
}

function evalTerm(term: Term, s: Scope, piped: unknown[]): unknown {
  switch (term.t) {
    case 'lit': return term.value;
    case 'paren': return evalPipeline(term.pipe, s);
    case 'func': {
      const f = FUNCS[term.name]!;
      // json of a list's row marshals the context struct as docker does: a map, keys sorted.
      if (term.name === 'json' && s.x.row && piped.length === 1 && piped[0] === s.x.data) return goJSON(piped[0] as Record<string, unknown>);
      return f(...piped);
    }
    case 'field': {
      let v: unknown;
      if (term.base === 'dot') v = s.dot;
      else if (term.base === 'root') v = s.root;
      else {
        if (!s.vars.has(term.base.var)) throw new TemplateError(`undefined variable "${term.base.var}"`);
        v = s.vars.get(term.base.var);
      }
      const prefix = term.base === 'dot' ? '' : term.base === 'root' ? '$' : term.base.var;
      const path = `${prefix}.${term.path.join('.')}`;
      for (const name of term.path) v = field(v, name, path, term.loc, s.x);
      return v;
    }
  }
}

function evalPipeline(p: Pipeline, s: Scope): unknown {
  let prev: unknown[] = [];
  let value: unknown;
  for (const cmd of p.cmds) {
    const [head, ...rest] = cmd;
    if (head!.t === 'func') {
      const args = [...rest.map((t) => evalTerm(t, s, [])), ...prev];
      value = evalTerm(head!, s, args);
    } else {
      value = evalTerm(head!, s, []);
      // A method of the docker CLI's context (`.Label "key"`), given its arguments.
      if (typeof value === 'function') value = (value as (...a: unknown[]) => unknown)(...rest.map((t) => evalTerm(t, s, [])), ...prev);
      else if (rest.length) throw new TemplateError(`can't give argument to non-function`);
    }
    prev = [value];
  }
  for (const d of p.decl) s.vars.set(d, value);
  return value;
}

function execNodes(nodes: Node[], s: Scope, out: string[]): void {
  for (const n of nodes) {
    switch (n.t) {
      case 'text': out.push(n.text); break;
      case 'action': {
        const v = evalPipeline(n.pipe, s);
        if (!n.pipe.decl.length) out.push(goString(v));
        break;
      }
      case 'if': execNodes(truthy(evalPipeline(n.pipe, s)) ? n.then : n.else, s, out); break;
      case 'with': {
        const v = evalPipeline(n.pipe, s);
        if (truthy(v)) execNodes(n.then, { ...s, dot: v }, out);
        else execNodes(n.else, s, out);
        break;
      }
      case 'range': {
        const v = evalPipeline(n.pipe, s);
        const entries: [unknown, unknown][] = Array.isArray(v)
          ? v.map((x, i) => [i, x])
          : v && typeof v === 'object'
            ? Object.keys(v as object).sort().map((k) => [k, (v as Record<string, unknown>)[k]])
            : [];
        if (!entries.length) { execNodes(n.else, s, out); break; }
        for (const [k, x] of entries) {
          const vars = new Map(s.vars);
          if (n.vars.length === 1) vars.set(n.vars[0]!, x);
          if (n.vars.length === 2) { vars.set(n.vars[0]!, k); vars.set(n.vars[1]!, x); }
          execNodes(n.body, { dot: x, root: s.root, vars, x: s.x }, out);
        }
        break;
      }
    }
  }
}

export interface Template {
  execute(data: unknown): string;
}

export interface TemplateOptions {
  /** The template's name in errors (`version` for docker version's); "" by default. */
  name?: string;
  /**
   * The docker CLI's Go type for the value given (`*formatter.ContainerContext`): a field it
   * lacks is "can't evaluate field". Without it the value is decoded JSON, a map.
   */
  struct?: string;
  /** The value is a list's row: `json` of it has its keys sorted, as the CLI's list contexts marshal. */
  row?: boolean;
}

/** Parses once; `execute` renders one value (throws TemplateError on evaluation errors). */
export function compileTemplate(src: string, o: TemplateOptions = {}): Template {
  const name = o.name ?? '';
  const nodes = parseTemplate(src, name);
  return {
    execute(data: unknown): string {
      const out: string[] = [];
      const x: Execution = { name, data, ...(o.struct ? { struct: o.struct } : {}), ...(o.row ? { row: true } : {}) };
      execNodes(nodes, { dot: data, root: data, vars: new Map([['$', data]]), x }, out);
      return out.join('');
    },
  };
}
