/**
 * Dockerfile syntax: parser directives, comments, line continuations, instructions
 * with their flags and heredocs, each node with the lines it came from. This is only
 * the syntax tree; what instructions mean is instructions.ts and builder.ts.
 *
 * Errors are invalid-argument and name the line: `dockerfile parse error on line 3:
 * unknown instruction: FOO`.
 */
import { invalidArgument, type BerthError } from '../common';
import { splitWordsRaw } from './shell-lex';

export const INSTRUCTIONS = [
  'ADD', 'ARG', 'CMD', 'COPY', 'ENTRYPOINT', 'ENV', 'EXPOSE', 'FROM', 'HEALTHCHECK', 'LABEL', 'MAINTAINER',
  'ONBUILD', 'RUN', 'SHELL', 'STOPSIGNAL', 'USER', 'VOLUME', 'WORKDIR',
] as const;
export type Keyword = (typeof INSTRUCTIONS)[number];

/** Instructions whose arguments may carry heredocs. */
const HEREDOC_INSTRUCTIONS = new Set(['RUN', 'COPY', 'ADD']);

export interface Heredoc {
  /** The delimiter word, without quotes. */
  name: string;
  /** The body, each line ending in '\n' (tabs stripped for `<<-`). */
  content: string;
  /** False when the delimiter was quoted: no substitution in the body. */
  expand: boolean;
  /** `<<-`: leading tabs removed. */
  chomp: boolean;
}

export interface Node {
  keyword: Keyword;
  /** First and last line (1-based) of the instruction, heredoc bodies included. */
  line: number;
  endLine: number;
  /** The instruction as one line (continuations joined), keyword as written. */
  original: string;
  /** Leading `--name[=value]` words, as written. */
  flags: string[];
  /** Everything after the keyword and its flags, raw (no substitution). */
  rest: string;
  heredocs: Heredoc[];
}

export interface Dockerfile {
  escape: string;
  syntax?: string;
  check?: string;
  nodes: Node[];
  /** Things Docker warns about (empty continuation lines …). */
  warnings: string[];
}

export function parseError(line: number, msg: string, cause?: unknown): BerthError {
  return invalidArgument(`dockerfile parse error on line ${line}: ${msg}`, cause);
}

const DIRECTIVE = /^#[ \t]*([A-Za-z][A-Za-z0-9_-]*)[ \t]*=[ \t]*(.*?)[ \t]*$/;

export function parseDockerfile(text: string): Dockerfile {
  const lines = text.replace(/^\uFEFF/, '').split(/\r?\n/);
  const out: Dockerfile = { escape: '\\', nodes: [], warnings: [] };
  let i = 0;
  // Directives: only at the very top, each once.
  const seen = new Set<string>();
  for (; i < lines.length; i++) {
    const m = DIRECTIVE.exec(lines[i]!);
    if (!m) break;
    const name = m[1]!.toLowerCase();
    if (name !== 'escape' && name !== 'syntax' && name !== 'check') break;
    if (seen.has(name)) throw parseError(i + 1, `only one ${name} parser directive can be used`);
    seen.add(name);
    const value = m[2]!;
    if (name === 'escape') {
      if (value !== '\\' && value !== '`') throw parseError(i + 1, `invalid escape token '${value}' does not match ` + '` or \\');
      out.escape = value;
    } else if (name === 'syntax') out.syntax = value;
    else out.check = value;
  }
  const esc = out.escape;
  const continues = (s: string) => {
    const t = s.replace(/[ \t]+$/, '');
    return t.endsWith(esc) ? t.slice(0, -1) : undefined;
  };
  const isComment = (s: string) => /^[ \t]*#/.test(s);
  const isBlank = (s: string) => /^[ \t]*$/.test(s);

  while (i < lines.length) {
    const first = lines[i]!;
    if (isBlank(first) || isComment(first)) {
      i++;
      continue;
    }
    const start = i + 1;
    let joined = '';
    let cur: string | undefined = first;
    i++;
    for (;;) {
      const head = continues(cur);
      if (head === undefined) {
        joined += cur;
        break;
      }
      joined += head;
      // The next meaningful line continues it: comments and blank lines inside are dropped.
      let next: string | undefined;
      while (i < lines.length) {
        const l = lines[i]!;
        if (isComment(l)) {
          i++;
          continue;
        }
        if (isBlank(l)) {
          out.warnings.push(`Empty continuation line found in instruction starting on line ${start}`);
          i++;
          continue;
        }
        next = l;
        i++;
        break;
      }
      if (next === undefined) break;
      cur = next;
    }
    const m = /^[ \t]*(\S+)(?:[ \t]+([\s\S]*))?$/.exec(joined);
    if (!m) continue;
    const word = m[1]!;
    const keyword = word.toUpperCase() as Keyword;
    if (!INSTRUCTIONS.includes(keyword)) throw parseError(start, `unknown instruction: ${word}`);
    const args = (m[2] ?? '').replace(/[ \t]+$/, '');
    const { flags, rest } = splitFlags(args, esc);
    const node: Node = { keyword, line: start, endLine: i, original: joined.trim(), flags, rest, heredocs: [] };
    const inner = keyword === 'ONBUILD' ? /^\s*(\S+)/.exec(rest)?.[1]?.toUpperCase() : keyword;
    if (inner && HEREDOC_INSTRUCTIONS.has(inner)) {
      for (const h of heredocMarkers(rest, esc)) {
        const body: string[] = [];
        let closed = false;
        while (i < lines.length) {
          const l = lines[i++]!;
          const cmp = h.chomp ? l.replace(/^\t+/, '') : l;
          if (cmp === h.name) {
            closed = true;
            break;
          }
          body.push(cmp);
        }
        if (!closed) throw parseError(start, `unterminated heredoc: no line "${h.name}" ends the here-document started here`);
        node.heredocs.push({ ...h, content: body.map((b) => b + '\n').join('') });
      }
      node.endLine = i;
    }
    out.nodes.push(node);
  }
  return out;
}

/** Leading `--flag` words and the raw text after them. */
export function splitFlags(args: string, escape = '\\'): { flags: string[]; rest: string } {
  const flags: string[] = [];
  let rest = args;
  for (;;) {
    const t = rest.replace(/^\s+/, '');
    if (!t.startsWith('--')) {
      rest = t;
      break;
    }
    const w = splitWordsRaw(t, escape)[0]!;
    if (w === '--') {
      rest = t.slice(2).replace(/^\s+/, '');
      break;
    }
    flags.push(w);
    rest = t.slice(w.length);
  }
  return { flags, rest };
}

/** The `<<WORD`, `<<-WORD`, `<<"WORD"`, `<<'WORD'` markers outside quotes, in order. */
export function heredocMarkers(text: string, escape = '\\'): Omit<Heredoc, 'content'>[] {
  const out: Omit<Heredoc, 'content'>[] = [];
  let quote = '';
  for (let i = 0; i < text.length; i++) {
    const c = text[i]!;
    if (quote) {
      if (c === escape && quote === '"') i++;
      else if (c === quote) quote = '';
      continue;
    }
    if (c === escape) {
      i++;
      continue;
    }
    if (c === '"' || c === "'") {
      quote = c;
      continue;
    }
    if (c === '<' && text[i + 1] === '<' && text[i + 2] !== '<' && text[i - 1] !== '<') {
      const m = /^<<(-?)(?:"([A-Za-z0-9_.-]+)"|'([A-Za-z0-9_.-]+)'|([A-Za-z0-9_.-]+))/.exec(text.slice(i));
      if (m) {
        const name = m[2] ?? m[3] ?? m[4]!;
        out.push({ name, chomp: m[1] === '-', expand: m[4] !== undefined });
        i += m[0].length - 1;
      }
    }
  }
  return out;
}

/** The exec (JSON) form: an array of strings, else undefined (the shell form). */
export function jsonForm(rest: string): string[] | undefined {
  const t = rest.trim();
  if (!t.startsWith('[')) return undefined;
  try {
    const v: unknown = JSON.parse(t);
    if (Array.isArray(v) && v.every((x) => typeof x === 'string')) return v as string[];
  } catch {
    // not JSON: the shell form
  }
  return undefined;
}
