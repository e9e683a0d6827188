import { test } from 'node:test';
import assert from 'node:assert/strict';
import { BerthError } from '../common';
import { Router, compareVersions, qbool, qfilters } from './router';
import { STATUS } from './errors';
import { checkFields, CONTAINER_CONFIG } from './validate';

test('routes match with and without the version prefix; greedy image names', () => {
  const r = new Router().add('GET', '/images/{name*}/json', () => undefined).add('POST', '/containers/{id}/start', () => undefined);
  assert.deepEqual(r.match('GET', '/v1.45/images/localhost:5000/a/b/json').params, ['localhost:5000/a/b']);
  assert.equal(r.match('POST', '/containers/abc/start').apiVersion, '1.45');
  assert.equal(r.match('POST', '/v1.30/containers/abc/start').apiVersion, '1.30');
  assert.equal(r.match('HEAD', '/images/x/json').params[0], 'x');
});

test('versions out of range and unknown paths are refused with the right kind', () => {
  const r = new Router();
  const kind = (f: () => unknown) => {
    try {
      f();
    } catch (e) {
      return (e as BerthError).kind;
    }
    return 'none';
  };
  assert.equal(kind(() => r.match('GET', '/v9.99/version')), 'invalid-argument');
  assert.equal(kind(() => r.match('GET', '/v1.12/version')), 'invalid-argument');
  assert.equal(kind(() => r.match('GET', '/nope')), 'not-found');
  assert.ok(compareVersions('1.45', '1.9') > 0);
});

test('docker query booleans and filters', () => {
  const q = new URLSearchParams('a=1&b=0&c=false&d=&e=yes&filters=' + encodeURIComponent('{"status":{"exited":true},"name":["web"]}'));
  assert.deepEqual(['a', 'b', 'c', 'd', 'e'].map((k) => qbool(q, k)), [true, false, false, false, true]);
  assert.equal(qbool(q, 'absent', true), true);
  const f = qfilters(q);
  assert.deepEqual(f.get('status'), ['exited']);
  assert.deepEqual(f.get('name'), ['web']);
  assert.throws(() => qfilters(new URLSearchParams('filters=[1')), /invalid JSON in filters/);
});

test('every error kind has a status; field checks name the field', () => {
  assert.equal(STATUS['not-found'], 404);
  assert.equal(STATUS.conflict, 409);
  assert.equal(STATUS['invalid-argument'], 400);
  assert.throws(() => checkFields('container config', { Env: 'A=1' }, CONTAINER_CONFIG), /field Env must be an array of strings, got string/);
  assert.doesNotThrow(() => checkFields('container config', { Cmd: 'ls', Env: null }, CONTAINER_CONFIG));
});
