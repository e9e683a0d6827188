import { test } from 'node:test';
import assert from 'node:assert/strict';
import { MS_BIND, MS_NOATIME, MS_NODEV, MS_NOEXEC, MS_NOSUID, MS_PRIVATE, MS_RDONLY, MS_REC, MS_RELATIME, MS_SHARED } from './libc';
import { parseMountOptions } from './mount-options';

test('parseMountOptions: flag words become MS_* bits, the rest stays data in order', () => {
  assert.deepEqual(parseMountOptions(''), { flags: 0, data: '' });
  assert.deepEqual(parseMountOptions('defaults'), { flags: 0, data: '' });
  assert.deepEqual(parseMountOptions('size=4m,uid=1000'), { flags: 0, data: 'size=4m,uid=1000' });
  assert.deepEqual(parseMountOptions('ro,nosuid,size=4m,nodev,noexec,mode=1777'), {
    flags: MS_RDONLY | MS_NOSUID | MS_NODEV | MS_NOEXEC,
    data: 'size=4m,mode=1777',
  });
  assert.deepEqual(parseMountOptions('bind,ro'), { flags: MS_BIND | MS_RDONLY, data: '' });
  assert.deepEqual(parseMountOptions('rbind,rshared'), { flags: MS_BIND | MS_REC | MS_SHARED | MS_REC, data: '' });
  assert.deepEqual(parseMountOptions('private,noatime,relatime'), { flags: MS_PRIVATE | MS_NOATIME | MS_RELATIME, data: '' });
});

test('parseMountOptions: a later word cancels an earlier one', () => {
  assert.equal(parseMountOptions('ro,rw').flags, 0);
  assert.equal(parseMountOptions('rw,ro').flags, MS_RDONLY);
  assert.equal(parseMountOptions('noexec,exec,nosuid').flags, MS_NOSUID);
  assert.equal(parseMountOptions('noatime,atime').flags, 0);
});

test('parseMountOptions: unknown words (nfs addr=, vers=) are data, not errors', () => {
  assert.deepEqual(parseMountOptions('addr=127.0.0.1,rw,vers=4,soft'), { flags: 0, data: 'addr=127.0.0.1,vers=4,soft' });
});
