import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { LoopbackNetwork, containerResolvConf } from './loopback';

test('resolv.conf: the host\'s without loopback resolvers', () => {
  const host = 'search example.org\nnameserver 127.0.0.53\nnameserver 10.0.0.2\nnameserver ::1\nnameserver fd00::1\noptions edns0\n';
  assert.equal(containerResolvConf(host), 'search example.org\nnameserver 10.0.0.2\nnameserver fd00::1\noptions edns0\n');
});

test('setUp writes hostname, hosts and resolv.conf; without a host resolv.conf the container\'s is empty', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'berth-net-'));
  try {
    writeFileSync(join(dir, 'host-resolv'), 'nameserver 127.0.0.1\nnameserver 192.0.2.53\n');
    const files = { hostname: join(dir, 'hostname'), hosts: join(dir, 'hosts'), resolvConf: join(dir, 'resolv.conf') };
    const net = new LoopbackNetwork(join(dir, 'host-resolv'));
    await net.setUp({ containerId: 'c1', hostname: 'box', files });
    assert.equal(readFileSync(files.hostname, 'utf8'), 'box\n');
    assert.match(readFileSync(files.hosts, 'utf8'), /^127\.0\.0\.1\tlocalhost\n::1\tlocalhost ip6-localhost ip6-loopback\n/);
    assert.equal(readFileSync(files.resolvConf, 'utf8'), 'nameserver 192.0.2.53\n');
    await new LoopbackNetwork(join(dir, 'missing')).setUp({ containerId: 'c1', hostname: 'box', files });
    assert.equal(readFileSync(files.resolvConf, 'utf8'), '');
    await net.tearDown('c1');
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});
