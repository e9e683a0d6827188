import { test } from 'node:test';
import assert from 'node:assert/strict';
import { pickVersion } from './negotiate';

test('the API version is the engine\'s when older than ours, else ours', () => {
  assert.equal(pickVersion('1.41', '1.45'), '1.41');
  assert.equal(pickVersion('1.47', '1.45'), '1.45');
  assert.equal(pickVersion('1.45', '1.45'), '1.45');
  assert.equal(pickVersion('1.9', '1.45'), '1.9');
  assert.equal(pickVersion('', '1.45'), '1.45');
  assert.equal(pickVersion('junk', '1.45'), '1.45');
});
