import { test } from 'node:test';
import assert from 'node:assert/strict';
import { errorKind } from '../common';
import { unappliedOptions } from './unapplied-options';

test('zero values say nothing; each option set and not applied says so once', () => {
  assert.deepEqual(unappliedOptions({ MacAddress: '', Healthcheck: { Test: ['NONE'] } }, {
    CgroupParent: '', Links: null, PortBindings: {}, Dns: [], CpuCount: 0, VolumeDriver: 'local', Runtime: 'runc', Isolation: 'default',
    DeviceRequests: [], SecurityOpt: ['no-new-privileges', 'writable-cgroups=false'], CpuPercent: 0,
  }), []);
  assert.deepEqual(unappliedOptions({ MacAddress: '02:42:ac:11:00:02' }, {
    PortBindings: { '80/tcp': [{ HostPort: '8080' }] }, VolumeDriver: 'nfs', CpuPercent: 50, SecurityOpt: ['apparmor=unconfined', 'writable-cgroups=true'],
  }), [
    'VolumeDriver is not applied: only the local volume driver exists',
    'linux does not support CPU percent. Percent discarded.',
    'security option apparmor=unconfined is not applied: Berth sets no AppArmor or SELinux profile',
    'security option writable-cgroups=true is not applied: cgroups are writable only with --privileged',
  ]);
  assert.deepEqual(unappliedOptions({}, { SecurityOpt: ['writable-cgroups=true'], Privileged: true }), []);
});

test('what dockerd refuses on linux is refused with its words', () => {
  const refused = (hc: Record<string, unknown>, message: string) =>
    assert.throws(() => unappliedOptions({}, hc), (e: unknown) => errorKind(e) === 'invalid-argument' && (e as Error).message === message);
  refused({ Runtime: 'kata' }, 'unknown or invalid runtime name: kata');
  refused({ Isolation: 'process' }, "invalid isolation 'process' on linux");
  refused({ IOMaximumIOps: 10 }, 'Invalid QoS settings: linux does not support Maximum IO Bandwidth or Maximum IO IOps');
  refused({ DeviceRequests: [{ Driver: 'nvidia', Capabilities: [['gpu', 'utility']] }] }, 'could not select device driver "nvidia" with capabilities: [[gpu utility]]');
});
