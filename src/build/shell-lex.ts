/**
 * The builder's word processing: quote removal and variable substitution where Docker
 * does it (ADD, COPY, ENV, EXPOSE, FROM, LABEL, STOPSIGNAL, USER, VOLUME, WORKDIR, ARG,
 * and the values of flags). RUN, CMD and ENTRYPOINT are left to the container's shell.
 *
 * Rules (Docker's shell lexer, in our own code):
 * - `'…'` is literal; the quotes are removed.
 * - `"…"` is substituted; the quotes are removed; the escape character only escapes
 *   `"`, `$`, the escape character itself (and a newline) inside it.
 * - outside quotes the escape character makes the next character literal.
 * - `$NAME`, `${NAME}`, `${NAME:-w}`, `${NAME-w}`, `${NAME:+w}`, `${NAME+w}`,
 *   `${NAME:?msg}`, `${NAME?msg}`; `w` is itself processed. An unset variable is ''.
 * A malformed expression (an unclosed `${`, `"` or `'`) throws with what is wrong.
 */

export type Lookup = (name: string) => string | undefined;

export class LexError extends Error {}

interface Options {
  escape: string;
  /** Split on unquoted whitespace (true) or return one word (false). */
  split: boolean;
  /** Substitute variables (false: only remove quotes and escapes). */
  substitute?: boolean;
}

/** Quote removal and substitution of one word (the whole string). */
export function processWord(text: string, env: Lookup, escape = '\\'): string {
  return lex(text, env, { escape, split: false })[0] ?? '';
}

/** The string split into words on unquoted whitespace, each processed. */
export function processWords(text: string, env: Lookup, escape = '\\'): string[] {
  return lex(text, env, { escape, split: true });
}

/** Splits on unquoted whitespace, keeping quotes and escapes (Docker's parse-time split). */
export function splitWordsRaw(text: string, escape = '\\'): string[] {
  const out: string[] = [];
  let cur = '';
  let inWord = false;
  let quote = '';
  for (let i = 0; i < text.length; i++) {
    const c = text[i]!;
    if (quote) {
      cur += c;
      if (c === escape && quote === '"' && i + 1 < text.length) cur += text[++i];
      else if (c === quote) quote = '';
      continue;
    }
    if (/\s/.test(c)) {
      if (inWord) out.push(cur);
      cur = '';
      inWord = false;
      continue;
    }
    inWord = true;
    cur += c;
    if (c === escape && i + 1 < text.length) cur += text[++i];
    else if (c === '"' || c === "'") quote = c;
  }
  if (inWord) out.push(cur);
  return out;
}

function lex(text: string, env: Lookup, o: Options): string[] {
  const words: string[] = [];
  let i = 0;
  let cur = '';
  let started = false;
  const esc = o.escape;
  const sub = o.substitute !== false;

  const variable = (): string => {
    // at text[i] === '$'
    i++;
    if (i >= text.length) return '$';
    const c = text[i]!;
    if (c === '{') {
      i++;
      const nameStart = i;
      while (i < text.length && /[A-Za-z0-9_]/.test(text[i]!)) i++;
      const name = text.slice(nameStart, i);
      if (name === '') throw new LexError(`missing variable name in \${} at ${JSON.stringify(text)}`);
      if (i >= text.length) throw new LexError(`missing '}' in ${JSON.stringify(text)}`);
      if (text[i] === '}') {
        i++;
        return env(name) ?? '';
      }
      let op = text[i]!;
      if (op === ':') {
        i++;
        op = ':' + (text[i] ?? '');
      }
      if (![':-', ':+', '-', '+', ':?', '?'].includes(op)) throw new LexError(`unsupported modifier (${op}) in substitution in ${JSON.stringify(text)}`);
      i++;
      const word = substWordUntilBrace();
      const val = env(name);
      switch (op) {
        case ':-': return val ? val : word;
        case '-': return val !== undefined ? val : word;
        case ':+': return val ? word : '';
        case '+': return val !== undefined ? word : '';
        case ':?': if (!val) throw new LexError(`${name}: ${word || 'is not allowed to be empty'}`); return val;
        default: if (val === undefined) throw new LexError(`${name}: ${word || 'is not allowed to be unset'}`); return val;
      }
    }
    if (/[A-Za-z_]/.test(c)) {
      const s = i;
      while (i < text.length && /[A-Za-z0-9_]/.test(text[i]!)) i++;
      return env(text.slice(s, i)) ?? '';
    }
    if (/[0-9*#@!?$-]/.test(c)) {
      // positional and special parameters are empty in the builder
      i++;
      return '';
    }
    return '$';
  };

  /** The word of `${name:-word}`: processed, up to the matching '}'. */
  const substWordUntilBrace = (): string => {
    let out = '';
    while (i < text.length) {
      const c = text[i]!;
      if (c === '}') {
        i++;
        return out;
      }
      if (c === esc && i + 1 < text.length) {
        out += text[i + 1];
        i += 2;
      } else if (c === '$') out += variable();
      else if (c === "'") out += single();
      else if (c === '"') out += double();
      else {
        out += c;
        i++;
      }
    }
    throw new LexError(`missing '}' in ${JSON.stringify(text)}`);
  };

  const single = (): string => {
    i++;
    const end = text.indexOf("'", i);
    if (end < 0) throw new LexError(`unexpected end of statement while looking for matching single-quote in ${JSON.stringify(text)}`);
    const s = text.slice(i, end);
    i = end + 1;
    return s;
  };

  const double = (): string => {
    i++;
    let out = '';
    while (i < text.length) {
      const c = text[i]!;
      if (c === '"') {
        i++;
        return out;
      }
      if (c === esc && i + 1 < text.length && ['"', '$', esc, '\n'].includes(text[i + 1]!)) {
        out += text[i + 1];
        i += 2;
      } else if (c === '$' && sub) out += variable();
      else {
        out += c;
        i++;
      }
    }
    throw new LexError(`unexpected end of statement while looking for matching double-quote in ${JSON.stringify(text)}`);
  };

  while (i < text.length) {
    const c = text[i]!;
    if (o.split && /\s/.test(c)) {
      if (started) words.push(cur);
      cur = '';
      started = false;
      i++;
      continue;
    }
    started = true;
    if (c === esc) {
      if (i + 1 < text.length) cur += text[i + 1];
      i += 2;
    } else if (c === "'") cur += single();
    else if (c === '"') cur += double();
    else if (c === '$' && sub) cur += variable();
    else {
      cur += c;
      i++;
    }
  }
  if (started || !o.split) words.push(cur);
  return words;
}

/** Substitutes variables in a heredoc body (no quote removal; the escape character escapes `$` and itself). */
export function expandHeredoc(text: string, env: Lookup, escape = '\\'): string {
  let out = '';
  let i = 0;
  while (i < text.length) {
    const c = text[i]!;
    if (c === escape && (text[i + 1] === '$' || text[i + 1] === escape)) {
      out += text[i + 1];
      i += 2;
    } else if (c === '$') {
      // reuse the lexer on the variable expression alone
      const m = /^\$(\{[^}]*\}|[A-Za-z_][A-Za-z0-9_]*)/.exec(text.slice(i));
      if (!m) {
        out += c;
        i++;
        continue;
      }
      out += lex(m[0], env, { escape, split: false })[0] ?? '';
      i += m[0].length;
    } else {
      out += c;
      i++;
    }
  }
  return out;
}
