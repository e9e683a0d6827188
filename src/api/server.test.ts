import assert from 'node:assert/strict';
import { test } from 'node:test';
import { parseTarget } from './server';

test('parseTarget gives what URL parsing gives, plain targets or not', () => {
  const targets = [
    '/_ping', '/v1.45/containers/json?all=1&filters=%7B%22status%22%3A%5B%22running%22%5D%7D',
    '/v1.45/images/registry.local:5000/team/app:1.0/json', '/images/busybox@sha256:abc/json',
    '/containers/a+b/json?x=a+b', '/v1.45/containers/x/logs?tail=100&stdout=1#frag',
    '/containers/a%20b/json', '/containers/a b/json', '/v1.45/../containers/json', '/v1.45/./_ping',
    '/containers/..', '/containers/x/.', '//evil/path', '/containers/x/archive?path=/etc/../passwd',
    '/containers/%2e%2e/json', '/containers/a"b/json', '/containers/\u00e9/json', '/', '/?', '/x?a&b=&=c',
  ];
  for (const t of targets) {
    const url = new URL(t, 'http://berth');
    const got = parseTarget(t);
    assert.equal(got.path, url.pathname, t);
    assert.deepEqual([...got.query], [...url.searchParams], t);
  }
});
