import { test } from 'node:test';
import assert from 'node:assert/strict';
import { execFailure, parseToolVersion } from './monitor';

test('parseToolVersion reads runc, conmon and tini output', () => {
  assert.deepEqual(parseToolVersion('runc version 1.1.5+ds1\ncommit: 1.1.5+ds1-1+deb12u1\nspec: 1.0.2-dev\ngo: go1.19.8\n'), { version: '1.1.5+ds1', commit: '1.1.5+ds1-1+deb12u1' });
  assert.deepEqual(parseToolVersion('conmon version 2.1.6\ncommit: unknown\n'), { version: '2.1.6', commit: 'unknown' });
  assert.deepEqual(parseToolVersion('tini version 0.19.0 - git.de40ad0\n'), { version: '0.19.0', commit: 'de40ad0' });
  assert.equal(parseToolVersion('usage: tool [options]\n'), undefined);
});

test('execFailure tells a missing command from one that cannot be executed', () => {
  assert.equal(execFailure('exec: "nosuch": executable file not found in $PATH'), 'not-found');
  assert.equal(execFailure('exec /bin/x: no such file or directory'), 'not-found');
  assert.equal(execFailure('exec /etc/passwd: permission denied'), 'not-executable');
  assert.equal(execFailure('exec /etc: is a directory'), 'not-executable');
  assert.equal(execFailure('cgroup: cannot write'), undefined);
});
