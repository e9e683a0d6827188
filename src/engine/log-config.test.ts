import { test } from 'node:test';
import assert from 'node:assert/strict';
import { logRotationAvailable } from '../runtime';
import { checkLogConfig, logCompressed, logDetails, logFileCount, logSizeLimit, logsReadable } from './log-config';

test('log config: the daemon default fills the type and the options a container leaves out', () => {
  const defaults = { type: 'local', config: { 'max-size': '10m', 'max-file': '2' } };
  assert.deepEqual(checkLogConfig({ type: '', config: { 'max-size': '1m' } }, defaults).logConfig, { type: 'local', config: { 'max-size': '1m', 'max-file': '2' } });
  // Another driver named: the daemon's options are not its own.
  assert.deepEqual(checkLogConfig({ type: 'json-file', config: {} }, defaults).logConfig, { type: 'json-file', config: {} });
  assert.deepEqual(checkLogConfig({ type: '', config: {} }).logConfig, { type: 'json-file', config: {} });
});

test('log config: options per driver, warnings for the ones not applied, sizes in Docker\'s units', () => {
  // json-file's labels, env and tag go into logs --details (logDetails); k8s-file's tag is not applied.
  assert.deepEqual(checkLogConfig({ type: 'json-file', config: { 'max-size': '5m', labels: 'a', 'labels-regex': 'x', env: 'E', 'env-regex': '^E', tag: '{{.Name}}' } }).warnings, []);
  assert.deepEqual(checkLogConfig({ type: 'k8s-file', config: { tag: 'x' } }).warnings, [
    'log options not applied: tag: berth keeps the log as conmon writes it',
  ]);
  // max-file is applied where the rotation library was built (it is, with this build's C compiler).
  assert.deepEqual(checkLogConfig({ type: 'json-file', config: { 'max-size': '5m', 'max-file': '3' } }).warnings, logRotationAvailable() ? [] : [
    "log options not applied: max-file: the container's log is one file, bounded by max-size",
  ]);
  assert.equal(logFileCount({ type: 'json-file', config: { 'max-size': '5m', 'max-file': '3' } }), logRotationAvailable() ? 3 : 1);
  assert.equal(logFileCount({ type: 'json-file', config: {} }), 1);
  assert.throws(() => checkLogConfig({ type: 'json-file', config: { 'max-file': 'x' } }), { message: 'failed to initialize logging driver: max-file must be a whole number: "x"' });
  assert.throws(() => checkLogConfig({ type: 'json-file', config: { 'max-file': '0' } }), { message: 'failed to initialize logging driver: max-file cannot be less than 1' });
  assert.deepEqual(checkLogConfig({ type: 'k8s-file', config: { 'max-size': '5m' } }).warnings, []);
  assert.throws(() => checkLogConfig({ type: 'local', config: { labels: 'a' } }), { message: "unknown log opt 'labels' for local log driver" });
  assert.throws(() => checkLogConfig({ type: 'none', config: { 'max-size': '1m' } }), { message: "unknown log opt 'max-size' for none log driver" });
  assert.throws(() => checkLogConfig({ type: 'syslog', config: {} }), { message: "logger: no log driver named 'syslog' is registered" });
  assert.throws(() => checkLogConfig({ type: 'json-file', config: { 'max-size': 'lots' } }), { message: 'invalid value for max-size: lots: use a size such as 10m' });
  assert.equal(logSizeLimit({ type: 'json-file', config: { 'max-size': '64k' } }), 64 * 1024);
  assert.equal(logSizeLimit({ type: 'json-file', config: { 'max-size': '1.5m' } }), 1.5 * 1024 * 1024);
  assert.equal(logSizeLimit({ type: 'json-file', config: {} }), undefined);
  assert.equal(logSizeLimit({ type: 'json-file', config: { 'max-size': '-1' } }), undefined);
  assert.equal(logsReadable({ type: 'none', config: {} }), false);
  assert.equal(logsReadable({ type: 'local', config: {} }), true);
});

test('log config: compress is a Go boolean, json-file takes it true only with max-size and max-file >= 2, as dockerd does', () => {
  const rotating = { 'max-size': '5m', 'max-file': '3' };
  assert.deepEqual(checkLogConfig({ type: 'json-file', config: { ...rotating, compress: 'true' } }).warnings, logRotationAvailable() ? [] : [
    "log options not applied: max-file, compress: the container's log is one file, bounded by max-size",
  ]);
  assert.equal(logCompressed({ type: 'json-file', config: { ...rotating, compress: 'true' } }), logRotationAvailable());
  assert.equal(logCompressed({ type: 'json-file', config: { ...rotating, compress: 'T' } }), logRotationAvailable());
  assert.equal(logCompressed({ type: 'json-file', config: { ...rotating, compress: 'false' } }), false);
  assert.equal(logCompressed({ type: 'json-file', config: rotating }), false);
  assert.throws(() => checkLogConfig({ type: 'json-file', config: { ...rotating, compress: 'yes' } }), {
    message: 'failed to initialize logging driver: strconv.ParseBool: parsing "yes": invalid syntax',
  });
  assert.throws(() => checkLogConfig({ type: 'local', config: { compress: 'yes' } }), {
    message: 'failed to initialize logging driver: invalid boolean value for compress: strconv.ParseBool: parsing "yes": invalid syntax',
  });
  const refused: Record<string, string>[] = [{ 'max-size': '5m', compress: 'true' }, { 'max-size': '5m', 'max-file': '1', compress: '1' }, { 'max-file': '3', compress: 'true' }];
  for (const config of refused) {
    assert.throws(() => checkLogConfig({ type: 'json-file', config }), {
      message: 'failed to initialize logging driver: compress cannot be true when max-file is less than 2 or max-size is not set',
    });
  }
  // compress=false needs nothing else; local refuses only an explicit single file.
  assert.deepEqual(checkLogConfig({ type: 'json-file', config: { compress: 'false' } }).warnings, logRotationAvailable() ? [] : ["log options not applied: compress: the container's log is one file, bounded by max-size"]);
  assert.throws(() => checkLogConfig({ type: 'local', config: { 'max-file': '1', compress: 'true' } }), {
    message: 'failed to initialize logging driver: compression cannot be enabled when max file count is 1',
  });
  assert.doesNotThrow(() => checkLogConfig({ type: 'local', config: { compress: 'true' } }));
});

test("log config: local has dockerd's local defaults for what is left out (20 MiB files, five, compressed)", () => {
  const local = { type: 'local', config: {} };
  assert.deepEqual(checkLogConfig(local).logConfig, local);
  assert.equal(logSizeLimit(local), 20 * 1024 * 1024);
  assert.equal(logFileCount(local), logRotationAvailable() ? 5 : 1);
  assert.equal(logCompressed(local), logRotationAvailable());
  assert.equal(logCompressed({ type: 'local', config: { compress: 'false' } }), false);
  // Its sizes are decimal, as dockerd's local driver reads them; json-file's binary.
  assert.equal(logSizeLimit({ type: 'local', config: { 'max-size': '1m' } }), 1000 * 1000);
  assert.equal(logSizeLimit({ type: 'local', config: { 'max-size': '10k' } }), 10_000);
  assert.equal(logSizeLimit({ type: 'json-file', config: { 'max-size': '10k' } }), 10 * 1024);
  // One file and the default compress=true: refused as dockerd refuses it.
  assert.throws(() => checkLogConfig({ type: 'local', config: { 'max-file': '1' } }), {
    message: 'failed to initialize logging driver: compression cannot be enabled when max file count is 1',
  });
  assert.doesNotThrow(() => checkLogConfig({ type: 'local', config: { 'max-file': '1', compress: 'false' } }));
  // json-file keeps no default bound.
  assert.equal(logSizeLimit({ type: 'json-file', config: {} }), undefined);
});

test('logDetails: the labels and env the options name or match, and the tag, sorted and escaped as dockerd shows them', () => {
  const ctr = {
    id: 'c'.repeat(64), name: '/web-1', imageId: `sha256:${'d'.repeat(64)}`, image: 'busybox:latest', path: 'sh', args: ['-c', 'echo hi'],
    labels: { 'com.x.role': 'front end', 'com.x.tier': 'a&b', other: 'no' },
    env: ['PATH=/bin', 'APP_MODE=prod', 'APP_ID=7', 'NOVALUE', 'SECRET=s'],
  };
  const details = (config: Record<string, string>, type = 'json-file') => logDetails({ type, config }, ctr);
  assert.equal(details({}), '');
  assert.equal(details({ labels: 'com.x.role,missing' }), 'com.x.role=front+end');
  assert.equal(details({ 'labels-regex': '^com\\.x\\.' }), 'com.x.role=front+end,com.x.tier=a%26b');
  assert.equal(details({ env: 'APP_ID,NOVALUE', 'env-regex': '^APP_M' }), 'APP_ID=7,APP_MODE=prod');
  assert.equal(details({ tag: '{{.Name}}/{{.ID}}' }), `tag=web-1%2F${'c'.repeat(12)}`);
  assert.equal(details({ tag: '{{.ImageName}} {{.ImageID}} {{.Command}}' }), `tag=busybox%3Alatest+${'d'.repeat(12)}+sh+-c+echo+hi`);
  assert.equal(details({ tag: "it's (x)*!" }), 'tag=it%27s+%28x%29%2A%21');
  assert.equal(details({ labels: 'other', env: 'SECRET', tag: 't' }), 'SECRET=s,other=no,tag=t');
  // A pattern that does not compile shows nothing; only json-file keeps details.
  assert.equal(details({ 'env-regex': '(' }), '');
  assert.equal(details({ tag: 'x' }, 'k8s-file'), '');
});
