/**
 * `.dockerignore` patterns with Docker's rules: one pattern a line, `#` comments,
 * paths cleaned and taken relative to the context root (a leading `/` is dropped),
 * `*` and `?` never cross a `/`, `**` matches any number of directories, `[…]`
 * classes, `\` escapes; `!` re-includes. The last pattern that matches a path, or
 * any directory above it, decides.
 */
import { posix } from 'node:path';

interface Pattern {
  re: RegExp;
  exclusion: boolean;
  /** The pattern as cleaned, for messages. */
  text: string;
}

export class IgnoreMatcher {
  private readonly patterns: Pattern[];

  constructor(lines: string[]) {
    this.patterns = [];
    for (const raw of lines) {
      let l = raw.trim();
      if (l === '' || l.startsWith('#')) continue;
      let exclusion = false;
      if (l.startsWith('!')) {
        exclusion = true;
        l = l.slice(1).trim();
      }
      if (l === '') continue;
      let p = posix.normalize(l);
      while (p.startsWith('/')) p = p.slice(1);
      if (p.startsWith('../')) p = p.replace(/^(\.\.\/)+/, '');
      if (p === '' || p === '.' || p === '..') p = '.';
      this.patterns.push({ re: globRegExp(p), exclusion, text: p });
    }
  }

  static parse(text: string): IgnoreMatcher {
    return new IgnoreMatcher(text.split(/\r?\n/));
  }

  get empty(): boolean {
    return this.patterns.length === 0;
  }

  /** Whether some pattern re-includes things (then an ignored dir must still be walked). */
  get hasExclusions(): boolean {
    return this.patterns.some((p) => p.exclusion);
  }

  /** Whether `rel` (relative to the context, no leading slash) is ignored. */
  ignores(rel: string): boolean {
    const path = posix.normalize(rel).replace(/^\/+/, '');
    const parents: string[] = [];
    const parts = path.split('/');
    for (let i = 1; i < parts.length; i++) parents.push(parts.slice(0, i).join('/'));
    let ignored = false;
    for (const p of this.patterns) {
      const hit = p.re.test(path) || (p.text === '.' ? true : parents.some((d) => p.re.test(d)));
      if (hit) ignored = !p.exclusion;
    }
    return ignored;
  }
}

/** A pattern as an anchored regular expression over a whole relative path. */
export function globRegExp(pattern: string): RegExp {
  let re = '';
  for (let i = 0; i < pattern.length; i++) {
    const c = pattern[i]!;
    if (c === '*') {
      if (pattern[i + 1] === '*') {
        i++;
        if (pattern[i + 1] === '/') {
          i++;
          re += '(?:.*/)?';
        } else re += '.*';
      } else re += '[^/]*';
    } else if (c === '?') re += '[^/]';
    else if (c === '\\' && i + 1 < pattern.length) {
      re += escapeRe(pattern[++i]!);
    } else if (c === '[') {
      const end = pattern.indexOf(']', i + 2);
      if (end < 0) {
        re += '\\[';
        continue;
      }
      let cls = pattern.slice(i + 1, end);
      if (cls.startsWith('^') || cls.startsWith('!')) cls = '^' + cls.slice(1);
      re += `[${cls.replace(/\\/g, '\\\\')}]`;
      i = end;
    } else re += escapeRe(c);
  }
  return new RegExp(`^${re}$`);
}

const escapeRe = (c: string) => c.replace(/[.*+?^${}()|[\]\\/]/g, '\\$&');

/** Whether a source path of COPY/ADD is a wildcard pattern. */
export function hasWildcard(p: string): boolean {
  return /[*?[]/.test(p);
}
