import { test } from 'node:test';
import assert from 'node:assert/strict';
import { DEFAULT_HOST, parseHost, resolveHost } from './host';

test('the -H flag wins over BERTH_HOST and DOCKER_HOST', () => {
  const a = resolveHost('unix:///flag.sock', { BERTH_HOST: 'unix:///berth.sock', DOCKER_HOST: 'unix:///docker.sock' });
  assert.deepEqual(a, { kind: 'unix', socketPath: '/flag.sock', url: 'unix:///flag.sock' });
});

test('BERTH_HOST comes before DOCKER_HOST; empty values count as unset', () => {
  assert.equal(resolveHost(undefined, { BERTH_HOST: 'unix:///b.sock', DOCKER_HOST: 'unix:///d.sock' }).url, 'unix:///b.sock');
  assert.equal(resolveHost('', { BERTH_HOST: '', DOCKER_HOST: 'unix:///d.sock' }).url, 'unix:///d.sock');
});

test('with nothing set the default socket is used', () => {
  assert.equal(resolveHost(undefined, {}).url, DEFAULT_HOST);
  assert.equal(DEFAULT_HOST, 'unix:///run/berth/berth.sock');
});

test('tcp hosts parse with a default port; bad hosts are refused with a hint', () => {
  assert.deepEqual(parseHost('tcp://10.0.0.1:2376'), { kind: 'tcp', host: '10.0.0.1', port: 2376, url: 'tcp://10.0.0.1:2376' });
  assert.equal((parseHost('tcp://example') as { port: number }).port, 2375);
  assert.equal((parseHost('tcp://[::1]:99') as { host: string }).host, '::1');
  assert.throws(() => parseHost('unix://relative.sock'), /absolute path/);
  assert.throws(() => parseHost('ssh://me@host'), /invalid host "ssh:\/\/me@host"/);
});
