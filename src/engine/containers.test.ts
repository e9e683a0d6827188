import { test } from 'node:test';
import assert from 'node:assert/strict';
import { normalizeSignal, signalNumber } from '../common';
import { applyChanges } from './image-changes';
import { checkName, randomName } from './names';

test('signals are accepted in every form docker accepts', () => {
  assert.equal(normalizeSignal('SIGTERM'), 'TERM');
  assert.equal(normalizeSignal('term'), 'TERM');
  assert.equal(normalizeSignal('9'), 'KILL');
  assert.equal(normalizeSignal('usr1'), 'USR1');
  assert.equal(signalNumber('USR1'), 10);
  assert.throws(() => normalizeSignal('SIGNOPE'), /Invalid signal: SIGNOPE/);
  assert.throws(() => normalizeSignal('99'), /the linux daemon does not support signal 99/);
  assert.throws(() => normalizeSignal('0'), /Invalid signal: 0/);
});

test('container names follow docker rules', () => {
  assert.equal(checkName('/web_1'), 'web_1');
  assert.throws(() => checkName('a b'), /Invalid container name \(a b\)/);
  assert.throws(() => checkName('x'), /Invalid container name/);
  const n = randomName(() => false);
  assert.match(n, /^[a-z]+_[a-z]+$/);
  assert.doesNotThrow(() => checkName(n));
});

test('import --change lines set the config', () => {
  const c = applyChanges({}, ['CMD ["sh","-c","echo hi"]', 'ENV A=1 B="two words"', 'WORKDIR /srv', 'ENTRYPOINT /bin/run', 'EXPOSE 80', 'LABEL k=v']);
  assert.deepEqual(c.Cmd, ['sh', '-c', 'echo hi']);
  assert.deepEqual(c.Env, ['A=1', 'B=two words']);
  assert.equal(c.WorkingDir, '/srv');
  assert.deepEqual(c.Entrypoint, ['/bin/sh', '-c', '/bin/run']);
  assert.deepEqual(c.ExposedPorts, { '80/tcp': {} });
  assert.deepEqual(c.Labels, { k: 'v' });
  assert.throws(() => applyChanges({}, ['FROM x']), { message: 'from is not a valid change command' });
});

