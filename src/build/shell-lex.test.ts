import { test } from 'node:test';
import assert from 'node:assert/strict';
import { expandHeredoc, processWord, processWords, splitWordsRaw } from './shell-lex';

const env = (m: Record<string, string>) => (k: string) => m[k];
const e = env({ A: 'x', EMPTY: '', P: '/p' });

test('$VAR and ${VAR}, unset is empty', () => {
  assert.equal(processWord('$A-${A}_$NOPE.', e), 'x-x_.');
  assert.equal(processWord('${P}/bin', e), '/p/bin');
});

test('${VAR:-w} ${VAR-w} ${VAR:+w} ${VAR+w} on set, empty and unset variables', () => {
  assert.equal(processWord('${A:-d}|${EMPTY:-d}|${NOPE:-d}', e), 'x|d|d');
  assert.equal(processWord('${A-d}|${EMPTY-d}|${NOPE-d}', e), 'x||d');
  assert.equal(processWord('${A:+w}|${EMPTY:+w}|${NOPE:+w}', e), 'w||');
  assert.equal(processWord('${A+w}|${EMPTY+w}|${NOPE+w}', e), 'w|w|');
  assert.equal(processWord('${NOPE:-$A/z}', e), 'x/z');
  assert.throws(() => processWord('${NOPE:?must be set}', e), /NOPE: must be set/);
});

test('quotes: single quotes are literal, double quotes substitute; both are removed', () => {
  assert.equal(processWord(`'$A' "$A" "a b"`, e), '$A x a b');
  assert.deepEqual(processWords(`a "b c" 'd e' f\\ g`, e), ['a', 'b c', 'd e', 'f g']);
  assert.equal(processWord('"say \\"hi\\""', e), 'say "hi"');
});

test('the escape character makes $ literal; backtick as escape', () => {
  assert.equal(processWord('\\$A \\${A}', e), '$A ${A}');
  assert.equal(processWord('`$A', e, '`'), '$A');
  assert.equal(processWord('c:\\dir', e, '`'), 'c:\\dir');
});

test('malformed expressions are errors', () => {
  assert.throws(() => processWord('${A', e), /missing '}'/);
  assert.throws(() => processWord('${}', e), /missing variable name/);
  assert.throws(() => processWord('${A:=x}', e), /unsupported modifier/);
  assert.throws(() => processWord('"open', e), /matching double-quote/);
  assert.throws(() => processWord("'open", e), /matching single-quote/);
});

test('raw split keeps quotes for later processing', () => {
  assert.deepEqual(splitWordsRaw(`a="x y" b='z' c`), ['a="x y"', "b='z'", 'c']);
});

test('heredoc bodies: variables expanded, quotes kept', () => {
  assert.equal(expandHeredoc('name="$A" ${NOPE:-d} \\$A\n', e), 'name="x" d $A\n');
});
