import { test } from 'node:test';
import assert from 'node:assert/strict';
import { errorKind } from '../common';
import { ALL_CAPABILITIES, type HostFacts, type IdMappings } from '../runtime';
import { buildSpec, checkHostConfig, type SpecContext } from './container-spec';
import type { ContainerRecord } from './containers';

const host: HostFacts = { cgroupMode: 'hybrid', capabilities: ALL_CAPABILITIES.filter((c) => c !== 'CAP_SYS_RESOURCE'), rlimits: {} };
const userns: IdMappings = { uids: [{ containerID: 0, hostID: 100000, size: 65536 }], gids: [{ containerID: 0, hostID: 100000, size: 65536 }] };
const ID = 'c'.repeat(64);

function rec(hostConfig: Record<string, unknown>, id = ID, pid = 0): ContainerRecord {
  return {
    id, name: 'c', created: '', image: 'busybox', imageId: 'sha256:x', path: 'sh', args: [],
    config: { Env: [], Cmd: null, Entrypoint: null, WorkingDir: '', User: '', Hostname: id.slice(0, 12), Labels: {}, Tty: false },
    hostConfig,
    state: { status: pid ? 'running' : 'created', pid, exitCode: 0, error: '', oomKilled: false, startedAt: '', finishedAt: '' },
    restartCount: 0, logPath: '/l', hostnamePath: '/h', hostsPath: '/hs', resolvConfPath: '/r',
  } as unknown as ContainerRecord;
}

const donor = rec({}, 'd'.repeat(64), 4242);
const ctx = (m?: IdMappings): SpecContext => ({ host, rootfs: '/tmp', user: { uid: 0, gid: 0 }, mounts: [], lookup: () => donor, ...(m ? { userns: m } : {}) });
const invalid = (re: RegExp) => (e: unknown) => errorKind(e) === 'invalid-argument' && re.test((e as Error).message);
const userNs = (spec: ReturnType<typeof buildSpec>) => (spec.linux.namespaces as Array<{ type: string; path?: string }>).filter((n) => n.type === 'user');

test('with --userns-remap the spec has a user namespace and the mappings; --userns host and no remap have none', () => {
  const spec = buildSpec(rec({}), ctx(userns));
  assert.deepEqual(userNs(spec), [{ type: 'user' }]);
  assert.deepEqual((spec.linux as unknown as { uidMappings: unknown }).uidMappings, userns.uids);
  assert.deepEqual((spec.linux as unknown as { gidMappings: unknown }).gidMappings, userns.gids);
  assert.deepEqual(userNs(buildSpec(rec({ UsernsMode: 'host' }), ctx(userns))), []);
  assert.deepEqual(userNs(buildSpec(rec({}), ctx())), []);
  assert.equal((buildSpec(rec({}), ctx()).linux as unknown as { uidMappings?: unknown }).uidMappings, undefined);
});

test('joining another container\'s network namespace joins its user namespace too', () => {
  const spec = buildSpec(rec({ NetworkMode: 'container:donor' }), ctx(userns));
  assert.deepEqual(userNs(spec), [{ type: 'user', path: '/proc/4242/ns/user' }]);
});

test('privileged, host network and host PID need --userns host when remapping (Docker\'s messages)', () => {
  const cases: Array<[Record<string, unknown>, RegExp]> = [
    [{ Privileged: true }, /^privileged mode is incompatible with user namespaces\.  You must run the container in the host namespace when running privileged mode$/],
    [{ NetworkMode: 'host' }, /^cannot share the host's network namespace when user namespaces are enabled$/],
    [{ PidMode: 'host' }, /^cannot share the host PID namespace when user namespaces are enabled$/],
  ];
  for (const [hc, re] of cases) {
    assert.throws(() => checkHostConfig(hc, host, userns), invalid(re));
    assert.throws(() => buildSpec(rec(hc), ctx(userns)), invalid(re));
    checkHostConfig({ ...hc, UsernsMode: 'host' }, host, userns);
    checkHostConfig(hc, host);
  }
  assert.throws(() => checkHostConfig({ UsernsMode: 'private' }, host, userns), invalid(/invalid USER mode/));
});
