import { test } from 'node:test';
import assert from 'node:assert/strict';
import { IgnoreMatcher } from './dockerignore';

test('plain names, directories and their contents', () => {
  const m = IgnoreMatcher.parse('# comment\nnode_modules\n/secret.txt\n\n');
  assert.ok(m.ignores('node_modules'));
  assert.ok(m.ignores('node_modules/a/b.js'));
  assert.ok(m.ignores('secret.txt'));
  assert.ok(!m.ignores('src/node_modules'));
  assert.ok(!m.ignores('secret.txt.bak'));
});

test('* and ? stay within one component; ** crosses directories', () => {
  const m = IgnoreMatcher.parse('*.log\ndocs/?.md\n**/*.tmp\n');
  assert.ok(m.ignores('a.log'));
  assert.ok(!m.ignores('dir/a.log'));
  assert.ok(m.ignores('docs/a.md'));
  assert.ok(!m.ignores('docs/ab.md'));
  assert.ok(m.ignores('x.tmp'));
  assert.ok(m.ignores('a/b/c/x.tmp'));
});

test('! re-includes, the last matching pattern wins', () => {
  const m = IgnoreMatcher.parse('*.md\n!README.md\nREADME*.md\n!README-keep.md\n');
  assert.ok(m.ignores('CHANGES.md'));
  assert.ok(m.ignores('README.md'));
  assert.ok(!m.ignores('README-keep.md'));
  const d = IgnoreMatcher.parse('logs\n!logs/keep.txt\n');
  assert.ok(d.ignores('logs/a.txt'));
  assert.ok(!d.ignores('logs/keep.txt'));
  assert.ok(d.hasExclusions);
});

test('character classes and escapes', () => {
  const m = IgnoreMatcher.parse('file[0-9].txt\nlit\\*.txt\n');
  assert.ok(m.ignores('file3.txt'));
  assert.ok(!m.ignores('filex.txt'));
  assert.ok(m.ignores('lit*.txt'));
  assert.ok(!m.ignores('litx.txt'));
});
