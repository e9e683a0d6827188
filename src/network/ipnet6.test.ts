import { test } from 'node:test';
import assert from 'node:assert/strict';
import { contains6, formatCIDR6, formatIPv6, overlaps6, parseCIDR6, parseIPv6 } from './ipnet6';

test('IPv6 addresses round-trip in their short form', () => {
  for (const s of ['fd00:db8:1::', 'fd00:db8:1::1', '::1', '::', '2001:db8:0:1:1:1:1:1', 'fe80::1:0:0:1']) assert.equal(formatIPv6(parseIPv6(s)!), s);
  assert.equal(formatIPv6(parseIPv6('fd00:0db8:0001:0000:0000:0000:0000:0002')!), 'fd00:db8:1::2');
  assert.equal(parseIPv6('10.0.0.1'), undefined);
  assert.equal(parseIPv6('fd00::g'), undefined);
});

test('IPv6 subnets: base, containment, overlap', () => {
  const s = parseCIDR6('fd00:db8:1::5/64')!;
  assert.equal(formatCIDR6(s), 'fd00:db8:1::/64');
  assert.notEqual(s.address, s.base);
  assert.ok(contains6(s, parseIPv6('fd00:db8:1::ffff')!));
  assert.ok(!contains6(s, parseIPv6('fd00:db8:2::1')!));
  assert.ok(overlaps6(s, parseCIDR6('fd00:db8::/32')!));
  assert.ok(!overlaps6(s, parseCIDR6('fd00:db8:2::/64')!));
  assert.equal(parseCIDR6('fd00::/129'), undefined);
});
