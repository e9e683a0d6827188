import { test } from 'node:test';
import assert from 'node:assert/strict';
import { buildCreateRequest, parseEnv, parseEnvFile, parseFilters, parseMemory, parsePublish, parseRestart } from './container-options';
import { familiarWithDefaultTag, normalizeName, splitReference, validateReference } from './reference';

test('-e takes K=V as is and fills a bare K from our environment', () => {
  assert.deepEqual(parseEnv(['A=1', 'B=', 'HOME', 'UNSET_X'], { HOME: '/root' }), ['A=1', 'B=', 'HOME=/root', 'UNSET_X']);
  assert.throws(() => parseEnv(['=x'], {}), /invalid environment variable: =x/);
});

test('env files skip comments and blank lines', () => {
  assert.deepEqual(parseEnvFile('# c\nA=1\n\n  B=two words\nC\n', { C: 'c' }), ['A=1', 'B=two words', 'C=c']);
});

test('--filter k=v repeats into docker filter sets', () => {
  assert.deepEqual(parseFilters(['status=exited', 'status=created', 'label=a=b']), { status: ['exited', 'created'], label: ['a=b'] });
  assert.throws(() => parseFilters(['nope']), /bad format of filter \(expected name=value\)/);
});

test('ports, memory and restart policies parse as docker does', () => {
  assert.deepEqual(parsePublish('8080:80'), { port: '80/tcp', binding: { HostIp: '', HostPort: '8080' } });
  assert.deepEqual(parsePublish('127.0.0.1:53:53/udp'), { port: '53/udp', binding: { HostIp: '127.0.0.1', HostPort: '53' } });
  assert.deepEqual(parsePublish('[::1]:8443:443'), { port: '443/tcp', binding: { HostIp: '::1', HostPort: '8443' } });
  assert.deepEqual(parsePublish('9000'), { port: '9000/tcp', binding: { HostIp: '', HostPort: '' } });
  assert.throws(() => parsePublish('80/xyz'), /invalid proto/);
  assert.equal(parseMemory('512m'), 512 * 1024 * 1024);
  assert.equal(parseMemory('1g'), 1024 ** 3);
  assert.deepEqual(parseRestart('on-failure:3'), { Name: 'on-failure', MaximumRetryCount: 3 });
  assert.throws(() => parseRestart('always:2'), /only be used with 'on-failure'/);
});

test('run flags become docker create body', () => {
  const body = buildCreateRequest(
    'alpine',
    ['sh', '-c', 'echo hi'],
    { rm: true, interactive: true, tty: false, env: ['A=1'], workdir: '/w', user: '1000:1000', entrypoint: '/bin/env', hostname: 'box', name: 'x', label: ['k=v'] },
    {},
  );
  assert.equal(body.Image, 'alpine');
  assert.deepEqual(body.Cmd, ['sh', '-c', 'echo hi']);
  assert.deepEqual(body.Entrypoint, ['/bin/env']);
  assert.deepEqual(body.Env, ['A=1']);
  assert.equal(body.WorkingDir, '/w');
  assert.equal(body.User, '1000:1000');
  assert.equal(body.Hostname, 'box');
  assert.equal(body.AttachStdin, true);
  assert.equal(body.AttachStdout, true);
  assert.equal(body.OpenStdin, true);
  assert.equal(body.StdinOnce, true);
  assert.equal(body.Tty, false);
  assert.deepEqual(body.Labels, { k: 'v' });
  assert.equal(body.HostConfig?.AutoRemove, true);
  assert.equal(body.HostConfig?.NetworkMode, 'default');
});

test('detached runs attach nothing; no command means the image default', () => {
  const body = buildCreateRequest('alpine', [], { detach: true }, {});
  assert.equal(body.Cmd, null);
  assert.equal(body.Entrypoint, null);
  assert.equal(body.AttachStdin, false);
  assert.equal(body.AttachStdout, false);
  assert.equal(body.AttachStderr, false);
  assert.equal(body.StdinOnce, false);
});

test('volumes split into binds and anonymous volumes; --rm conflicts with a restart policy', () => {
  const body = buildCreateRequest('a', [], { volume: ['/host:/data:ro', '/scratch'], publish: ['8080:80'] }, {});
  assert.deepEqual(body.HostConfig?.Binds, ['/host:/data:ro']);
  assert.deepEqual(body.Volumes, { '/scratch': {} });
  assert.deepEqual(body.ExposedPorts, { '80/tcp': {} });
  assert.throws(() => buildCreateRequest('a', [], { rm: true, restart: 'always' }, {}), /conflicting options: cannot specify both --restart and --rm/);
});

test('references: split, normalise, familiar form, validation', () => {
  assert.deepEqual(splitReference('localhost:5000/app:v1'), { name: 'localhost:5000/app', tag: 'v1', digest: undefined });
  assert.deepEqual(splitReference('localhost:5000/app'), { name: 'localhost:5000/app', tag: undefined, digest: undefined });
  assert.equal(normalizeName('alpine'), 'docker.io/library/alpine');
  assert.equal(normalizeName('me/app'), 'docker.io/me/app');
  assert.equal(normalizeName('quay.io/x/y'), 'quay.io/x/y');
  assert.equal(familiarWithDefaultTag('alpine'), 'alpine:latest');
  assert.equal(familiarWithDefaultTag('docker.io/library/busybox:1.36'), 'busybox:1.36');
  assert.throws(() => validateReference('Upper/Case'), /must be lowercase/);
  assert.throws(() => validateReference('a:b:c'), /invalid reference format/);
});
