import { test } from 'node:test';
import assert from 'node:assert/strict';
import { contains, formatCIDR, formatIPv4, hostRoutes, overlaps, parseCIDR, parseIPv4, pickSubnet } from './ipnet';

test('IPv4 addresses parse and format back; bad ones are refused', () => {
  assert.equal(formatIPv4(parseIPv4('172.17.0.2')!), '172.17.0.2');
  assert.equal(parseIPv4('255.255.255.255'), 0xffffffff);
  for (const bad of ['256.1.1.1', '1.2.3', 'a.b.c.d', '1.2.3.4.5', '']) assert.equal(parseIPv4(bad), undefined, bad);
});

test('CIDRs: host bits only where allowed; containment and overlap', () => {
  assert.equal(parseCIDR('10.1.0.1/16'), undefined);
  const s = parseCIDR('10.1.0.1/16', true)!;
  assert.equal(formatCIDR(s), '10.1.0.0/16');
  assert.ok(contains(s, parseIPv4('10.1.255.254')!));
  assert.ok(!contains(s, parseIPv4('10.2.0.1')!));
  assert.ok(overlaps(parseCIDR('10.0.0.0/8')!, parseCIDR('10.5.0.0/24')!));
  assert.ok(!overlaps(parseCIDR('10.5.1.0/24')!, parseCIDR('10.5.0.0/24')!));
  assert.equal(parseCIDR('10.0.0.0/33'), undefined);
});

test('pickSubnet skips taken subnets and host routes', () => {
  const taken = [parseCIDR('172.17.0.0/16')!, parseCIDR('172.18.0.0/16')!];
  assert.equal(formatCIDR(pickSubnet([{ base: '172.17.0.0/16', size: 16 }, { base: '172.18.0.0/15', size: 16 }], taken)!), '172.19.0.0/16');
  assert.equal(formatCIDR(pickSubnet([{ base: '10.9.0.0/16', size: 24 }], [parseCIDR('10.9.0.0/24')!])!), '10.9.1.0/24');
  assert.equal(pickSubnet([{ base: '10.9.0.0/24', size: 24 }], [parseCIDR('10.0.0.0/8')!]), undefined);
});

test('hostRoutes reads /proc/net/route and leaves out the default route and named devices', () => {
  const text = 'Iface\tDestination\tGateway\tFlags\tRefCnt\tUse\tMetric\tMask\tMTU\tWindow\tIRTT\neth0\t00000000\t0102000A\t0003\t0\t0\t0\t00000000\t0\t0\t0\neth0\t0000000A\t00000000\t0001\t0\t0\t0\t0000FFFF\t0\t0\t0\nbr0\t000011AC\t00000000\t0001\t0\t0\t0\t0000FFFF\t0\t0\t0\n';
  const r = hostRoutes(['br0'], text);
  assert.deepEqual(r.map((x) => `${x.device} ${formatCIDR(x.subnet)}`), ['eth0 10.0.0.0/16']);
});
