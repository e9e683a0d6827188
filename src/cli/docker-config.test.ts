import { test } from 'node:test';
import assert from 'node:assert/strict';
import { chmodSync, mkdtempSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { DockerConfig, encodeAuthHeader, registryKey, INDEX_SERVER } from './docker-config';
import { parseReference } from '../common';

function withDir(fn: (dir: string) => void) {
  const dir = mkdtempSync(join(tmpdir(), 'berth-dockercfg-'));
  try {
    fn(dir);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

test('store, get and erase in config.json as the docker CLI writes it; other keys kept', () => {
  withDir((dir) => {
    writeFileSync(join(dir, 'config.json'), JSON.stringify({ psFormat: 'table {{.ID}}' }), { mode: 0o644 });
    const warnings: string[] = [];
    const c = new DockerConfig({ DOCKER_CONFIG: dir, PATH: '' }, (t) => warnings.push(t));
    c.store('127.0.0.1:5000', { username: 'alice', password: 's3cret', serveraddress: '127.0.0.1:5000' });
    const text = readFileSync(join(dir, 'config.json'), 'utf8');
    assert.equal(text, `{\n\t"auths": {\n\t\t"127.0.0.1:5000": {\n\t\t\t"auth": "${Buffer.from('alice:s3cret').toString('base64')}"\n\t\t}\n\t},\n\t"psFormat": "table {{.ID}}"\n}`);
    // As docker: a rewritten file keeps the mode it had.
    assert.equal(statSync(join(dir, 'config.json')).mode & 0o777, 0o644);
    assert.match(warnings.join(''), /WARNING! Your credentials are stored unencrypted/);
    const again = new DockerConfig({ DOCKER_CONFIG: dir }, () => undefined);
    assert.deepEqual(again.get('127.0.0.1:5000'), { serveraddress: '127.0.0.1:5000', username: 'alice', password: 's3cret' });
    assert.deepEqual(again.get('other:1'), {});
    assert.equal(again.erase('127.0.0.1:5000'), true);
    const fresh = new DockerConfig({ DOCKER_CONFIG: join(dir, 'new') }, () => undefined);
    fresh.store('x:1', { identitytoken: 'tok', serveraddress: 'x:1' });
    assert.equal(statSync(join(dir, 'new', 'config.json')).mode & 0o777, 0o600);
    assert.equal(statSync(join(dir, 'new')).mode & 0o777, 0o700);
    assert.deepEqual(JSON.parse(readFileSync(join(dir, 'new', 'config.json'), 'utf8')), { auths: { 'x:1': { identitytoken: 'tok' } } });
    assert.deepEqual(JSON.parse(readFileSync(join(dir, 'config.json'), 'utf8')), { auths: {}, psFormat: 'table {{.ID}}' });
  });
});

test('a credential helper on PATH is used; a missing one falls back to the file with a warning', () => {
  withDir((dir) => {
    const helper = join(dir, 'docker-credential-fake');
    const store = join(dir, 'helper-store');
    writeFileSync(helper, `#!/bin/sh\ncase "$1" in\n store) cat > ${store};;\n get) if [ -f ${store} ]; then sed 's/"ServerURL":"[^"]*",//' ${store}; else echo "credentials not found in native keychain"; exit 1; fi;;\n erase) rm -f ${store};;\nesac\n`);
    chmodSync(helper, 0o755);
    writeFileSync(join(dir, 'config.json'), JSON.stringify({ credsStore: 'fake', credHelpers: { 'b:1': 'absent' } }));
    const warnings: string[] = [];
    const c = new DockerConfig({ DOCKER_CONFIG: dir, PATH: `${dir}:${process.env.PATH}` }, (t) => warnings.push(t));
    assert.deepEqual(c.get('a:1'), {});
    c.store('a:1', { username: 'bob', password: 'pw', serveraddress: 'a:1' });
    assert.deepEqual(JSON.parse(readFileSync(store, 'utf8')), { ServerURL: 'a:1', Username: 'bob', Secret: 'pw' });
    assert.deepEqual(c.get('a:1'), { username: 'bob', password: 'pw', serveraddress: 'a:1' });
    assert.deepEqual(JSON.parse(readFileSync(join(dir, 'config.json'), 'utf8')).auths, { 'a:1': {} });
    c.store('b:1', { username: 'carol', password: 'pw2', serveraddress: 'b:1' });
    assert.match(warnings.join(''), /docker-credential-absent not found/);
    assert.equal(JSON.parse(readFileSync(join(dir, 'config.json'), 'utf8')).auths['b:1'].auth, Buffer.from('carol:pw2').toString('base64'));
    c.erase('a:1');
    assert.deepEqual(c.get('a:1'), {});
  });
});

test('registry keys and the X-Registry-Auth encoding', () => {
  assert.equal(registryKey(parseReference('busybox')), INDEX_SERVER);
  assert.equal(registryKey(parseReference('127.0.0.1:5000/x/y:v1')), '127.0.0.1:5000');
  const h = encodeAuthHeader({ serveraddress: 's', username: 'u', password: 'p?>' });
  assert.doesNotMatch(h, /[+/]/);
  assert.deepEqual(JSON.parse(Buffer.from(h, 'base64url').toString()), { username: 'u', password: 'p?>', serveraddress: 's' });
});
