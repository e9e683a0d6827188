import { test } from 'node:test';
import assert from 'node:assert/strict';
import { BerthError } from './errors';
import {
  parseReference, familiarName, familiarString, fullName, fullString, withDefaultTag, withTag, type Reference,
} from './reference';

const D = 'sha256:' + 'ab'.repeat(32);

test('parseReference normalizes like docker', () => {
  const cases: [string, Reference, string, string][] = [
    // input, parsed, familiarString, fullName
    ['busybox', { domain: 'docker.io', path: 'library/busybox' }, 'busybox', 'docker.io/library/busybox'],
    ['busybox:1.36', { domain: 'docker.io', path: 'library/busybox', tag: '1.36' }, 'busybox:1.36', 'docker.io/library/busybox'],
    ['library/busybox', { domain: 'docker.io', path: 'library/busybox' }, 'busybox', 'docker.io/library/busybox'],
    ['docker.io/busybox', { domain: 'docker.io', path: 'library/busybox' }, 'busybox', 'docker.io/library/busybox'],
    ['index.docker.io/library/busybox:x', { domain: 'docker.io', path: 'library/busybox', tag: 'x' }, 'busybox:x', 'docker.io/library/busybox'],
    ['myorg/app', { domain: 'docker.io', path: 'myorg/app' }, 'myorg/app', 'docker.io/myorg/app'],
    ['myorg/team/app:v1', { domain: 'docker.io', path: 'myorg/team/app', tag: 'v1' }, 'myorg/team/app:v1', 'docker.io/myorg/team/app'],
    ['docker.io/library/a/b', { domain: 'docker.io', path: 'library/a/b' }, 'library/a/b', 'docker.io/library/a/b'],
    ['localhost/x', { domain: 'localhost', path: 'x' }, 'localhost/x', 'localhost/x'],
    ['localhost:5000/a/b:t', { domain: 'localhost:5000', path: 'a/b', tag: 't' }, 'localhost:5000/a/b:t', 'localhost:5000/a/b'],
    ['ghcr.io/o/r@' + D, { domain: 'ghcr.io', path: 'o/r', digest: D as never }, 'ghcr.io/o/r@' + D, 'ghcr.io/o/r'],
    ['busybox@' + D, { domain: 'docker.io', path: 'library/busybox', digest: D as never }, 'busybox@' + D, 'docker.io/library/busybox'],
    ['busybox:1@' + D, { domain: 'docker.io', path: 'library/busybox', tag: '1', digest: D as never }, 'busybox:1@' + D, 'docker.io/library/busybox'],
    ['127.0.0.1:5000/x', { domain: '127.0.0.1:5000', path: 'x' }, '127.0.0.1:5000/x', '127.0.0.1:5000/x'],
    ['[::1]:5000/x:y', { domain: '[::1]:5000', path: 'x', tag: 'y' }, '[::1]:5000/x:y', '[::1]:5000/x'],
    ['Registry/x', { domain: 'Registry', path: 'x' }, 'Registry/x', 'Registry/x'],
    ['a_b.c__d-e--f', { domain: 'docker.io', path: 'library/a_b.c__d-e--f' }, 'a_b.c__d-e--f', 'docker.io/library/a_b.c__d-e--f'],
    ['localhost:5000', { domain: 'docker.io', path: 'library/localhost', tag: '5000' }, 'localhost:5000', 'docker.io/library/localhost'],
    ['x:A_b.c-D', { domain: 'docker.io', path: 'library/x', tag: 'A_b.c-D' }, 'x:A_b.c-D', 'docker.io/library/x'],
  ];
  for (const [input, want, fam, full] of cases) {
    const got = parseReference(input);
    assert.deepEqual(got, want, input);
    assert.equal(familiarString(got), fam, input);
    assert.equal(fullName(got), full, input);
  }
});

test('parseReference rejects bad input with docker wording', () => {
  const cases: [string, string | RegExp][] = [
    ['', 'invalid reference format: repository name must have at least one component'],
    ['Busybox', 'invalid reference format: repository name (library/Busybox) must be lowercase'],
    ['myorg/App:1', 'invalid reference format: repository name (myorg/App) must be lowercase'],
    ['localhost:5000/Up', 'invalid reference format: repository name (Up) must be lowercase'],
    ['a'.repeat(64).replace(/a/g, 'f'), /cannot specify 64-byte hexadecimal strings/],
    ['busybox:', 'invalid reference format'],
    ['busybox:-x', 'invalid reference format'],
    ['busybox:' + 'x'.repeat(129), 'invalid reference format'],
    [':tag', 'invalid reference format'],
    ['/busybox', 'invalid reference format'],
    ['busybox/', 'invalid reference format'],
    ['a//b', 'invalid reference format'],
    ['a/../b', 'invalid reference format'],
    ['-a', 'invalid reference format'],
    ['a-', 'invalid reference format'],
    ['a..b', 'invalid reference format'],
    ['a___b', 'invalid reference format'],
    ['busybox@sha256:abc', 'invalid reference format'],
    ['busybox@' + D.toUpperCase().replace('SHA256', 'sha256'), /only sha256 digests/],
    ['busybox@sha512:' + 'a'.repeat(128), /only sha256 digests/],
    ['busy box', 'invalid reference format'],
    ['a/' + 'b'.repeat(260), /must not be more than 255 characters/],
    ['host:port/x', 'invalid reference format'],
  ];
  for (const [input, msg] of cases) {
    assert.throws(() => parseReference(input), (err: unknown) => {
      assert.ok(err instanceof BerthError, input);
      assert.equal(err.kind, 'invalid-argument', input);
      if (typeof msg === 'string') assert.equal(err.message, msg, input);
      else assert.match(err.message, msg, input);
      return true;
    }, input);
  }
});

test('familiarName, fullString, withDefaultTag, withTag', () => {
  assert.equal(familiarName(parseReference('busybox:1')), 'busybox');
  assert.equal(familiarName(parseReference('localhost:5000/x')), 'localhost:5000/x');
  assert.equal(fullString(parseReference('busybox')), 'docker.io/library/busybox');
  assert.equal(fullString(withDefaultTag(parseReference('busybox'))), 'docker.io/library/busybox:latest');
  assert.equal(familiarString(withDefaultTag(parseReference('busybox'))), 'busybox:latest');
  assert.equal(familiarString(withDefaultTag(parseReference('busybox:1'))), 'busybox:1');
  assert.equal(withDefaultTag(parseReference('busybox@' + D)).tag, undefined);
  assert.equal(familiarString(withTag(parseReference('busybox@' + D), 'v2')), 'busybox:v2');
  assert.throws(() => withTag(parseReference('busybox'), 'bad tag'), /invalid tag format/);
});
