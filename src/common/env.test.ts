import { test } from 'node:test';
import assert from 'node:assert/strict';
import { envKey, mergeImageEnv, replaceOrAppendEnv } from './env';

test('envKey is the text before the first =', () => {
  assert.equal(envKey('A=b=c'), 'A');
  assert.equal(envKey('A='), 'A');
  assert.equal(envKey('BARE'), 'BARE');
});

test('mergeImageEnv: the request first, as given, then the image keys it does not name', () => {
  const image = ['PATH=/bin', 'A=1', 'HOME=/root'];
  assert.deepEqual(mergeImageEnv(['A=2', 'B=3'], image), ['A=2', 'B=3', 'PATH=/bin', 'HOME=/root']);
  // A bare KEY is stored untouched and hides the image's value.
  assert.deepEqual(mergeImageEnv(['HOME'], image), ['HOME', 'PATH=/bin', 'A=1']);
  assert.deepEqual(mergeImageEnv([], image), image);
  assert.deepEqual(mergeImageEnv(['X=1'], []), ['X=1']);
  assert.deepEqual(image, ['PATH=/bin', 'A=1', 'HOME=/root']);
});

test('replaceOrAppendEnv: in-place replacement, appends, bare KEY unsets', () => {
  const defaults = ['PATH=/usr/bin', 'HOSTNAME=h', 'TERM=xterm'];
  assert.deepEqual(replaceOrAppendEnv(defaults, ['TERM=dumb', 'A=1', 'PATH=/x']), ['PATH=/x', 'HOSTNAME=h', 'TERM=dumb', 'A=1']);
  assert.deepEqual(replaceOrAppendEnv(defaults, ['HOSTNAME', 'NOPE']), ['PATH=/usr/bin', 'TERM=xterm']);
  // Overrides are matched against the defaults only, as dockerd does.
  assert.deepEqual(replaceOrAppendEnv(['P=1'], ['A=1', 'A=2', 'P=2', 'P=3']), ['P=3', 'A=1', 'A=2']);
  assert.deepEqual(defaults, ['PATH=/usr/bin', 'HOSTNAME=h', 'TERM=xterm']);
});
