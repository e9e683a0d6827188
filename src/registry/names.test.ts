import { test } from 'node:test';
import assert from 'node:assert/strict';
import { isValidRepositoryName, isValidTagName, isValidUploadId, parseDigest } from './names';

test('repository names follow the distribution-spec grammar', () => {
  for (const ok of ['a', 'library/busybox', 'a/b/c', 'my-repo', 'my--repo', 'my_repo', 'my__repo', 'v1.2', 'a0/b1.c2_d3-e4']) {
    assert.ok(isValidRepositoryName(ok), ok);
  }
  for (const bad of ['', 'A', 'a/', '/a', 'a//b', '..', 'a/../b', './a', 'a/.', '_a', 'a_', 'a___b', 'a-', '-a', 'a.', 'a..b', 'a b', 'a%2fb', 'x'.repeat(256)]) {
    assert.ok(!isValidRepositoryName(bad), bad);
  }
});

test('tags are [a-zA-Z0-9_][a-zA-Z0-9._-]{0,127}', () => {
  for (const ok of ['latest', 'v1.0', '_x', 'A-b.c_d', 'x'.repeat(128)]) assert.ok(isValidTagName(ok), ok);
  for (const bad of ['', '.', '..', '.hidden', '-x', 'a/b', 'a:b', 'x'.repeat(129)]) assert.ok(!isValidTagName(bad), bad);
});

test('digests: sha256 and sha512 in lowercase hex of the right length only', () => {
  const h64 = 'a'.repeat(64);
  assert.deepEqual(parseDigest(`sha256:${h64}`), { algorithm: 'sha256', hex: h64, digest: `sha256:${h64}` });
  assert.equal(parseDigest(`sha512:${'b'.repeat(128)}`)?.algorithm, 'sha512');
  for (const bad of [`sha256:${'A'.repeat(64)}`, `sha256:${h64}0`, `sha384:${'a'.repeat(96)}`, `md5:${'a'.repeat(32)}`, 'sha256:../../x', `sha512:${h64}`, h64, 'constructor:x', undefined, 42]) {
    assert.equal(parseDigest(bad), undefined, String(bad));
  }
});

test('upload ids are UUIDs', () => {
  assert.ok(isValidUploadId('123e4567-e89b-42d3-a456-426614174000'));
  for (const bad of ['..', '../x', '123e4567e89b42d3a456426614174000', '123E4567-E89B-42D3-A456-426614174000']) assert.ok(!isValidUploadId(bad), bad);
});
