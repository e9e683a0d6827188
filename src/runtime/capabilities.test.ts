import { test } from 'node:test';
import assert from 'node:assert/strict';
import { errorKind } from '../common';
import {
  ALL_CAPABILITIES,
  DEFAULT_CAPABILITIES,
  capabilityMask,
  hostBoundingCapabilities,
  normalizeCapability,
  resolveCapabilities,
} from './capabilities';

const ALL_HOST = ALL_CAPABILITIES;
// This VM's own bounding set: everything but CAP_SYS_RESOURCE (bit 24).
const NO_SYS_RESOURCE = ALL_CAPABILITIES.filter((c) => c !== 'CAP_SYS_RESOURCE');

test('the default set has Docker mask 00000000a80425fb', () => {
  assert.equal(DEFAULT_CAPABILITIES.length, 14);
  assert.equal(capabilityMask(DEFAULT_CAPABILITIES), '00000000a80425fb');
  assert.deepEqual(resolveCapabilities([], [], false, ALL_HOST), DEFAULT_CAPABILITIES);
});

test('names are accepted with or without CAP_, in any case', () => {
  assert.equal(normalizeCapability('net_admin'), 'CAP_NET_ADMIN');
  assert.equal(normalizeCapability('Cap_Sys_Admin'), 'CAP_SYS_ADMIN');
  assert.equal(normalizeCapability('all'), 'ALL');
  const caps = resolveCapabilities(['net_admin', 'CAP_SYS_PTRACE'], ['chown', 'cap_kill'], false, ALL_HOST);
  assert.ok(caps.includes('CAP_NET_ADMIN') && caps.includes('CAP_SYS_PTRACE'));
  assert.ok(!caps.includes('CAP_CHOWN') && !caps.includes('CAP_KILL'));
  assert.equal(caps.length, 14);
});

test('unknown capability is invalid-argument with Docker wording', () => {
  assert.throws(
    () => resolveCapabilities(['FOO'], [], false, ALL_HOST),
    (e: unknown) => errorKind(e) === 'invalid-argument' && /unknown capability: "CAP_FOO"/.test(String(e)),
  );
  assert.throws(() => resolveCapabilities([], ['cap_bar'], false, ALL_HOST), /unknown capability: "CAP_BAR"/);
});

test('ALL in cap-add gives every host capability except the dropped ones', () => {
  const caps = resolveCapabilities(['ALL'], ['SYS_ADMIN'], false, NO_SYS_RESOURCE);
  assert.ok(!caps.includes('CAP_SYS_ADMIN'));
  assert.ok(!caps.includes('CAP_SYS_RESOURCE'));
  assert.equal(caps.length, NO_SYS_RESOURCE.length - 1);
});

test('ALL in cap-drop keeps only cap-add', () => {
  assert.deepEqual(resolveCapabilities(['kill', 'chown'], ['all'], false, ALL_HOST), ['CAP_CHOWN', 'CAP_KILL']);
  assert.deepEqual(resolveCapabilities([], ['ALL'], false, ALL_HOST), []);
});

test('add wins over drop and duplicates collapse', () => {
  assert.deepEqual(
    resolveCapabilities(['NET_ADMIN', 'net_admin'], ['NET_ADMIN'], false, ALL_HOST).filter((c) => c === 'CAP_NET_ADMIN'),
    ['CAP_NET_ADMIN'],
  );
});

test('privileged grants exactly the host bounding set, ignoring add/drop', () => {
  assert.deepEqual(resolveCapabilities(['bogus'], ['ALL'], true, NO_SYS_RESOURCE), NO_SYS_RESOURCE);
});

test('adding a capability the host lacks is refused; a lacking default is left out', () => {
  assert.throws(
    () => resolveCapabilities(['SYS_RESOURCE'], [], false, NO_SYS_RESOURCE),
    (e: unknown) => errorKind(e) === 'invalid-argument' && /CAP_SYS_RESOURCE/.test(String(e)),
  );
  const noAudit = ALL_CAPABILITIES.filter((c) => c !== 'CAP_AUDIT_WRITE');
  assert.deepEqual(
    resolveCapabilities([], [], false, noAudit),
    DEFAULT_CAPABILITIES.filter((c) => c !== 'CAP_AUDIT_WRITE'),
  );
});

test('hostBoundingCapabilities maps CapBnd bits to names', () => {
  const caps = hostBoundingCapabilities('Name:\tx\nCapBnd:\t000001fffeffffff\nCapAmb:\t0000000000000000\n');
  assert.deepEqual(caps, NO_SYS_RESOURCE);
  assert.deepEqual(hostBoundingCapabilities('CapBnd:\t00000000a80425fb\n'), DEFAULT_CAPABILITIES);
  // The real host: whatever it is, it round-trips through the mask.
  const real = hostBoundingCapabilities();
  assert.ok(real.includes('CAP_CHOWN'));
});
