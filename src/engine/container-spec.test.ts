import { test } from 'node:test';
import assert from 'node:assert/strict';
import { hostname } from 'node:os';
import { errorKind } from '../common';
import { ALL_CAPABILITIES, type HostFacts } from '../runtime';
import type { ContainerRecord } from './container-model';
import { buildSpec, checkSpec, settledSettings, type SpecContext } from './container-spec';
import { recordWith, specWith, type SpecOverrides } from './test-support';

const host: HostFacts = { cgroupMode: 'hybrid', capabilities: ALL_CAPABILITIES.filter((c) => c !== 'CAP_SYS_RESOURCE'), rlimits: { RLIMIT_NOFILE: { soft: 1024, hard: 20000 } } };
const ID = 'a'.repeat(64);

const rec = (over: SpecOverrides, r: Partial<ContainerRecord> = {}): ContainerRecord => recordWith({ process: { env: ['A=1'] }, ...over }, { id: ID as ContainerRecord['id'], ...r });
const checkHostConfig = (over: SpecOverrides, h: HostFacts) => checkSpec(specWith(over), h);

const other = rec({ namespaces: { ipc: 'shareable' }, hostname: 'donor' }, { id: 'b'.repeat(64) as ContainerRecord['id'], hostsPath: '/var/lib/berth/containers/donor/hosts' });
const ctx = (lookup: (ref: string) => ContainerRecord = () => other): SpecContext => ({ host, rootfs: '/tmp', user: { uid: 0, gid: 0 }, mounts: [], lookup });
const invalid = (re: RegExp) => (e: unknown) => errorKind(e) === 'invalid-argument' && re.test((e as Error).message);

test('container:X joins the running target\'s namespaces and takes its hostname', () => {
  const spec = buildSpec(rec({ namespaces: { pid: 'container:donor', ipc: 'container:donor' }, network: { mode: 'container:donor' } }), ctx());
  const ns = Object.fromEntries(spec.linux.namespaces.map((n) => [n.type, n.path ?? 'new']));
  assert.deepEqual(ns, { mount: 'new', network: '/proc/4242/ns/net', uts: 'new', pid: '/proc/4242/ns/pid', ipc: '/proc/4242/ns/ipc' });
  assert.equal(spec.hostname, 'donor');
  // The shareable donor's host-side /dev/shm is bound in; a private donor cannot be joined.
  assert.ok(spec.mounts.some((m) => m.destination === '/dev/shm' && m.source === '/var/lib/berth/containers/donor/shm' && m.type === 'bind'));
  const priv = { ...other, spec: specWith({ hostname: 'donor' }) };
  assert.throws(() => buildSpec(rec({ namespaces: { ipc: 'container:donor' } }), ctx(() => priv)), (e: unknown) => errorKind(e) === 'conflict' && /non-shareable IPC/.test((e as Error).message));
  const stopped = { ...other, state: { ...other.state, status: 'exited' as const, pid: 0 } };
  assert.throws(() => buildSpec(rec({ namespaces: { pid: 'container:donor' } }), ctx(() => stopped)), (e: unknown) => errorKind(e) === 'conflict' && /cannot join PID of a non running container: donor/.test((e as Error).message));
  // At create the target need not run: only the syntax is checked.
  checkHostConfig({ namespaces: { pid: 'container:donor' } }, host);
  assert.throws(() => checkHostConfig({ namespaces: { pid: 'container:' } }, host), invalid(/name the container/));
  assert.throws(() => checkHostConfig({ namespaces: { ipc: 'weird' } }, host), invalid(/invalid IPC mode/));
  assert.throws(() => checkHostConfig({ namespaces: { userns: 'private' } }, host), invalid(/invalid USER mode/));
});

test('host modes: namespaces left out; the host network keeps the host name', () => {
  const spec = buildSpec(rec({ namespaces: { pid: 'host', ipc: 'host', uts: 'host', cgroupns: 'private' }, network: { mode: 'host' } }), ctx());
  assert.deepEqual(spec.linux.namespaces.map((n) => n.type), ['mount', 'cgroup']);
  assert.equal(spec.hostname, undefined);
  assert.ok(spec.process.env.includes(`HOSTNAME=${hostname()}`));
  const named = buildSpec(rec({ network: { mode: 'host' }, hostname: 'mine' }), ctx());
  assert.equal(named.hostname, 'mine');
  const none = buildSpec(rec({ namespaces: { ipc: 'none' } }), ctx());
  assert.ok(!none.mounts.some((m) => m.destination === '/dev/shm'));
});

test('resources: Docker\'s swap default, blkio, devices rules, init, groups', () => {
  const spec = buildSpec(rec({ resources: { memory: 64 << 20, blkioWeight: 300, pidsLimit: 5, oomKillDisable: true, deviceCgroupRules: ['c 10:200 rwm'] }, process: { env: ['A=1'], init: true }, security: { groupAdd: ['7'] } }), ctx());
  assert.deepEqual(spec.linux.resources.memory, { limit: 64 << 20, swap: 128 << 20, disableOOMKiller: true });
  assert.deepEqual(spec.linux.resources.blockIO, { weight: 300 });
  assert.deepEqual(spec.linux.resources.pids, { limit: 5 });
  assert.deepEqual(spec.linux.resources.devices.at(-1), { allow: true, type: 'c', major: 10, minor: 200, access: 'rwm' });
  assert.deepEqual(spec.process.args.slice(0, 3), ['/sbin/docker-init', '--', 'sh']);
  assert.ok(spec.mounts.some((m) => m.destination === '/sbin/docker-init' && m.options.includes('ro')));
  assert.deepEqual(spec.process.user.additionalGids, [0, 7]);
  assert.throws(() => checkHostConfig({ resources: { blkioWeight: 5 } }, host), invalid(/^Range of blkio weight is from 10 to 1000$/));
  assert.throws(() => checkHostConfig({ resources: { cpusetCpus: '0-999' } }, host), invalid(/Requested CPUs are not available/));
  assert.throws(() => checkHostConfig({ resources: { ulimits: [{ name: 'nofile', soft: 30000, hard: 30000 }] } }, host), invalid(/exceeds this host's hard limit/));
  assert.throws(() => checkHostConfig({ resources: { deviceCgroupRules: ['x 1:2 r'] } }, host), invalid(/invalid device cgroup format/));
  assert.throws(() => checkHostConfig({ resources: { devices: [{ pathOnHost: '/nonexistent/dev', pathInContainer: '', cgroupPermissions: '' }] } }, host), invalid(/error gathering device information/));
});

test('security: privileged grants the host set and no seccomp; default seccomp applies otherwise', () => {
  const priv = buildSpec(rec({ security: { privileged: true } }), ctx());
  assert.deepEqual(priv.process.capabilities.bounding, host.capabilities);
  assert.equal(priv.linux.seccomp, undefined);
  assert.deepEqual(priv.linux.maskedPaths, []);
  const plain = buildSpec(rec({}), ctx());
  assert.equal((plain.linux.seccomp as { defaultAction: string }).defaultAction, 'SCMP_ACT_ERRNO');
  assert.equal(buildSpec(rec({ security: { seccomp: 'unconfined' } }), ctx()).linux.seccomp, undefined);
  assert.equal(buildSpec(rec({ security: { noNewPrivileges: true } }), ctx()).process.noNewPrivileges, true);
  assert.deepEqual(buildSpec(rec({ security: { systemPathsUnconfined: true } }), ctx()).linux.readonlyPaths, []);
  assert.throws(() => checkHostConfig({ security: { seccomp: { profile: '{' } } }, host), invalid(/^Decoding seccomp profile failed/));
  assert.throws(() => checkHostConfig({ security: { sysctls: { 'kernel.hostname': 'x' } } }, host), invalid(/only namespaced sysctls/));
  assert.throws(() => checkHostConfig({ network: { mode: 'host' }, security: { sysctls: { 'net.ipv4.ip_forward': '1' } } }, host), invalid(/host's network namespace/));
});

test('settled settings: what the engine fills in where the spec leaves it', () => {
  const st = settledSettings(specWith({ resources: { memory: 10 << 20 } }), 'hybrid');
  assert.equal(st.memorySwap, 20 << 20);
  assert.equal(st.ipcMode, 'private');
  assert.equal(st.shmSize, 64 << 20);
  assert.equal(st.cgroupnsMode, 'host');
  assert.ok(Array.isArray(st.maskedPaths));
  assert.equal(settledSettings(specWith({ security: { privileged: true } }), 'v2').maskedPaths, null);
  assert.equal(settledSettings(specWith(), 'v2').cgroupnsMode, 'private');
});
