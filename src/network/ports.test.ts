import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createServer, type AddressInfo } from 'node:net';
import { hostIpsOverlap, parsePortKey, portFree, portMappings } from './ports';

test('port keys: tcp by default, udp and sctp, bad ports refused with dockerd\'s words', () => {
  assert.deepEqual(parsePortKey('80'), { port: 80, protocol: 'tcp' });
  assert.deepEqual(parsePortKey('53/udp'), { port: 53, protocol: 'udp' });
  assert.throws(() => parsePortKey('70000/tcp'), /invalid port specification: "70000"/);
  assert.throws(() => parsePortKey('0/tcp'), /invalid port specification: "0"/);
  assert.throws(() => parsePortKey('80/icmp'), /invalid proto: icmp/);
});

test('bindings expand to one mapping each; -P adds exposed ports without a binding', () => {
  const maps = portMappings({
    exposedPorts: ['80/tcp', '443/tcp', '53/udp'],
    portBindings: { '80/tcp': [{ hostIp: '', hostPort: '8080' }, { hostIp: '127.0.0.1', hostPort: '' }], '53/udp': [{ hostIp: '0.0.0.0', hostPort: '5300-5310' }] },
    publishAllPorts: true,
  });
  assert.deepEqual(maps, [
    { containerPort: 80, protocol: 'tcp', hostIp: '', hostPort: 8080 },
    { containerPort: 80, protocol: 'tcp', hostIp: '127.0.0.1', hostPort: 0 },
    { containerPort: 53, protocol: 'udp', hostIp: '0.0.0.0', hostPort: 0, hostRange: [5300, 5310] },
    { containerPort: 443, protocol: 'tcp', hostIp: '', hostPort: 0 },
  ]);
  assert.deepEqual(portMappings({ exposedPorts: ['80/tcp'], portBindings: null, publishAllPorts: false }), []);
  assert.throws(() => portMappings({ exposedPorts: null, portBindings: { '80/tcp': [{ hostIp: '', hostPort: '99999' }] }, publishAllPorts: false }), /invalid port specification/);
  for (const hostIp of ['1.2.3', '300.1.1.1', 'example.com', '::zz']) {
    assert.throws(() => portMappings({ exposedPorts: null, portBindings: { '80/tcp': [{ hostIp, hostPort: '8080' }] }, publishAllPorts: false }), new RegExp(`invalid host IP: ${hostIp.replace(/\./g, '\\.')}`));
  }
});

test('portFree sees a port a listener holds, "::" apart from 0.0.0.0', async () => {
  const s = createServer();
  await new Promise<void>((r) => s.listen(0, '127.0.0.1', r));
  const held = (s.address() as AddressInfo).port;
  assert.equal(await portFree('tcp', '127.0.0.1', held), false);
  assert.equal(await portFree('tcp', '0.0.0.0', held), false);
  // "::" is probed IPv6-only: the IPv4 listener does not hold it.
  assert.equal(await portFree('tcp', '::', held), true);
  s.close();
  assert.equal(await portFree('tcp', '127.0.0.1', held), true);
  const v6 = createServer();
  await new Promise<void>((r) => v6.listen({ port: held, host: '::', ipv6Only: true }, r));
  assert.equal(await portFree('tcp', '::', held), false);
  assert.equal(await portFree('tcp', '0.0.0.0', held), true);
  v6.close();
});

test('host addresses overlap within a family when one is the wildcard; "" (every address) overlaps all', () => {
  assert.equal(hostIpsOverlap('', '::1'), true);
  assert.equal(hostIpsOverlap('', '127.0.0.1'), true);
  assert.equal(hostIpsOverlap('0.0.0.0', '127.0.0.1'), true);
  assert.equal(hostIpsOverlap('::', '::1'), true);
  assert.equal(hostIpsOverlap('0.0.0.0', '::'), false);
  assert.equal(hostIpsOverlap('127.0.0.1', '::1'), false);
  assert.equal(hostIpsOverlap('127.0.0.1', '127.0.0.2'), false);
  assert.equal(hostIpsOverlap('::1', '::1'), true);
});
