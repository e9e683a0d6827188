import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { loadRegistryMirrors, parseHostsToml } from './hosts-config';
import { RegistryClient } from './client';

test('hosts.toml: a host section wins over server; comments and other keys are ignored', () => {
  assert.equal(parseHostsToml('server = "https://registry.k8s.io"\n\n[host."http://127.0.0.1:5055"]\n  capabilities = ["pull", "resolve"]\n', 'f'), 'http://127.0.0.1:5055');
  assert.equal(parseHostsToml('# mirror\nserver = "http://10.0.0.1:5000/"  # trailing\n', 'f'), 'http://10.0.0.1:5000');
  assert.equal(parseHostsToml('[host."http://m:5000/v2"]\n', 'f'), 'http://m:5000');
  assert.equal(parseHostsToml('capabilities = ["pull"]\n', 'f'), undefined);
  assert.throws(() => parseHostsToml('server = "m:5000"\n', '/d/x/hosts.toml'), /\/d\/x\/hosts.toml: registry address "m:5000" must start with http:\/\/ or https:\/\//);
});

test('a mirrored registry is reached at its mirror only; others keep their own endpoint', () => {
  const dir = mkdtempSync('/tmp/hosts-');
  try {
    mkdirSync(join(dir, 'registry.k8s.io'));
    writeFileSync(join(dir, 'registry.k8s.io', 'hosts.toml'), 'server = "http://127.0.0.1:5055"\n');
    mkdirSync(join(dir, 'empty.example'));
    const mirrors = loadRegistryMirrors(dir);
    assert.deepEqual([...mirrors], [['registry.k8s.io', 'http://127.0.0.1:5055']]);
    const client = new RegistryClient({ mirrors });
    assert.deepEqual(client.endpoint('registry.k8s.io'), { domain: 'registry.k8s.io', base: 'http://127.0.0.1:5055', plainHttp: true });
    assert.equal(client.endpoint('gcr.io').base, 'https://gcr.io');
    assert.equal(loadRegistryMirrors(join(dir, 'missing')).size, 0);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});
