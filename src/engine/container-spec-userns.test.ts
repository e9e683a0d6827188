import { test } from 'node:test';
import assert from 'node:assert/strict';
import { errorKind } from '../common';
import { ALL_CAPABILITIES, type HostFacts, type IdMappings } from '../runtime';
import type { ContainerRecord } from './container-model';
import { buildSpec, checkSpec, type SpecContext } from './container-spec';
import { recordWith, specWith, type SpecOverrides } from './test-support';

const host: HostFacts = { cgroupMode: 'hybrid', capabilities: ALL_CAPABILITIES.filter((c) => c !== 'CAP_SYS_RESOURCE'), rlimits: {} };
const userns: IdMappings = { uids: [{ containerID: 0, hostID: 100000, size: 65536 }], gids: [{ containerID: 0, hostID: 100000, size: 65536 }] };
const ID = 'c'.repeat(64);

const rec = (over: SpecOverrides, id = ID, pid = 0): ContainerRecord =>
  recordWith({ ...over, hostname: id.slice(0, 12) }, { id: id as ContainerRecord['id'], args: [], state: { status: pid ? 'running' : 'created', pid, exitCode: 0, error: '', oomKilled: false, startedAt: '', finishedAt: '' } });
const checkHostConfig = (over: SpecOverrides, h: HostFacts, m?: IdMappings) => checkSpec(specWith(over), h, m);

const donor = rec({}, 'd'.repeat(64), 4242);
const ctx = (m?: IdMappings): SpecContext => ({ host, rootfs: '/tmp', user: { uid: 0, gid: 0 }, mounts: [], lookup: () => donor, ...(m ? { userns: m } : {}) });
const invalid = (re: RegExp) => (e: unknown) => errorKind(e) === 'invalid-argument' && re.test((e as Error).message);
const userNs = (spec: ReturnType<typeof buildSpec>) => (spec.linux.namespaces as Array<{ type: string; path?: string }>).filter((n) => n.type === 'user');

test('with --userns-remap the spec has a user namespace and the mappings; --userns host and no remap have none', () => {
  const spec = buildSpec(rec({}), ctx(userns));
  assert.deepEqual(userNs(spec), [{ type: 'user' }]);
  assert.deepEqual((spec.linux as unknown as { uidMappings: unknown }).uidMappings, userns.uids);
  assert.deepEqual((spec.linux as unknown as { gidMappings: unknown }).gidMappings, userns.gids);
  assert.deepEqual(userNs(buildSpec(rec({ namespaces: { userns: 'host' } }), ctx(userns))), []);
  assert.deepEqual(userNs(buildSpec(rec({}), ctx())), []);
  assert.equal((buildSpec(rec({}), ctx()).linux as unknown as { uidMappings?: unknown }).uidMappings, undefined);
});

test('joining another container\'s network namespace joins its user namespace too', () => {
  const spec = buildSpec(rec({ network: { mode: 'container:donor' } }), ctx(userns));
  assert.deepEqual(userNs(spec), [{ type: 'user', path: '/proc/4242/ns/user' }]);
});

test('privileged, host network and host PID need --userns host when remapping (Docker\'s messages)', () => {
  const cases: Array<[SpecOverrides, RegExp]> = [
    [{ security: { privileged: true } }, /^privileged mode is incompatible with user namespaces\.  You must run the container in the host namespace when running privileged mode$/],
    [{ network: { mode: 'host' } }, /^cannot share the host's network namespace when user namespaces are enabled$/],
    [{ namespaces: { pid: 'host' } }, /^cannot share the host PID namespace when user namespaces are enabled$/],
  ];
  for (const [hc, re] of cases) {
    assert.throws(() => checkHostConfig(hc, host, userns), invalid(re));
    assert.throws(() => buildSpec(rec(hc), ctx(userns)), invalid(re));
    checkHostConfig({ ...hc, namespaces: { ...hc.namespaces, userns: 'host' } }, host, userns);
    checkHostConfig(hc, host);
  }
  assert.throws(() => checkHostConfig({ namespaces: { userns: 'private' } }, host, userns), invalid(/invalid USER mode/));
});
