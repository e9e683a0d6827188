import { test } from 'node:test';
import assert from 'node:assert/strict';
import { hostname } from 'node:os';
import { errorKind } from '../common';
import { ALL_CAPABILITIES, type HostFacts } from '../runtime';
import { buildSpec, checkHostConfig, inspectHostConfig, parseSecurityOpts, type SpecContext } from './container-spec';
import type { ContainerRecord } from './containers';

const host: HostFacts = { cgroupMode: 'hybrid', capabilities: ALL_CAPABILITIES.filter((c) => c !== 'CAP_SYS_RESOURCE'), rlimits: { RLIMIT_NOFILE: { soft: 1024, hard: 20000 } } };
const ID = 'a'.repeat(64);

function rec(hostConfig: Record<string, unknown>, over: Partial<ContainerRecord> = {}): ContainerRecord {
  return {
    id: ID, name: 'c', created: '', image: 'busybox', imageId: 'sha256:x', path: 'sh', args: ['-c', 'true'],
    config: { Env: ['A=1'], Cmd: null, Entrypoint: null, WorkingDir: '', User: '', Hostname: ID.slice(0, 12), Labels: {}, Tty: false },
    hostConfig,
    state: { status: 'running', pid: 4242, exitCode: 0, error: '', oomKilled: false, startedAt: '', finishedAt: '' },
    restartCount: 0, logPath: '/l', hostnamePath: '/h', hostsPath: '/hs', resolvConfPath: '/r',
    ...over,
  } as ContainerRecord;
}

const other = rec({ IpcMode: 'shareable' }, { id: 'b'.repeat(64) as ContainerRecord['id'], config: { ...rec({}).config, Hostname: 'donor' }, hostsPath: '/var/lib/berth/containers/donor/hosts' });
const ctx = (lookup: (ref: string) => ContainerRecord = () => other): SpecContext => ({ host, rootfs: '/tmp', user: { uid: 0, gid: 0 }, mounts: [], lookup });
const invalid = (re: RegExp) => (e: unknown) => errorKind(e) === 'invalid-argument' && re.test((e as Error).message);

test('container:X joins the running target\'s namespaces and takes its hostname', () => {
  const spec = buildSpec(rec({ PidMode: 'container:donor', IpcMode: 'container:donor', NetworkMode: 'container:donor' }), ctx());
  const ns = Object.fromEntries(spec.linux.namespaces.map((n) => [n.type, n.path ?? 'new']));
  assert.deepEqual(ns, { mount: 'new', network: '/proc/4242/ns/net', uts: 'new', pid: '/proc/4242/ns/pid', ipc: '/proc/4242/ns/ipc' });
  assert.equal(spec.hostname, 'donor');
  // The shareable donor's host-side /dev/shm is bound in; a private donor cannot be joined.
  assert.ok(spec.mounts.some((m) => m.destination === '/dev/shm' && m.source === '/var/lib/berth/containers/donor/shm' && m.type === 'bind'));
  const priv = { ...other, hostConfig: {} };
  assert.throws(() => buildSpec(rec({ IpcMode: 'container:donor' }), ctx(() => priv)), (e: unknown) => errorKind(e) === 'conflict' && /non-shareable IPC/.test((e as Error).message));
  const stopped = { ...other, state: { ...other.state, status: 'exited' as const, pid: 0 } };
  assert.throws(() => buildSpec(rec({ PidMode: 'container:donor' }), ctx(() => stopped)), (e: unknown) => errorKind(e) === 'conflict' && /cannot join PID of a non running container: donor/.test((e as Error).message));
  // At create the target need not run: only the syntax is checked.
  checkHostConfig({ PidMode: 'container:donor' }, host);
  assert.throws(() => checkHostConfig({ PidMode: 'container:' }, host), invalid(/name the container/));
  assert.throws(() => checkHostConfig({ IpcMode: 'weird' }, host), invalid(/invalid IPC mode/));
  assert.throws(() => checkHostConfig({ UsernsMode: 'private' }, host), invalid(/invalid USER mode/));
});

test('host modes: namespaces left out; the host network keeps the host name', () => {
  const spec = buildSpec(rec({ PidMode: 'host', IpcMode: 'host', UTSMode: 'host', NetworkMode: 'host', CgroupnsMode: 'private' }), ctx());
  assert.deepEqual(spec.linux.namespaces.map((n) => n.type), ['mount', 'cgroup']);
  assert.equal(spec.hostname, undefined);
  assert.ok(spec.process.env.includes(`HOSTNAME=${hostname()}`));
  const named = buildSpec(rec({ NetworkMode: 'host' }, { config: { ...rec({}).config, Hostname: 'mine' } }), ctx());
  assert.equal(named.hostname, 'mine');
  const none = buildSpec(rec({ IpcMode: 'none' }), ctx());
  assert.ok(!none.mounts.some((m) => m.destination === '/dev/shm'));
});

test('resources: Docker\'s swap default, blkio, devices rules, init, groups', () => {
  const spec = buildSpec(rec({ Memory: 64 << 20, BlkioWeight: 300, PidsLimit: 5, OomKillDisable: true, DeviceCgroupRules: ['c 10:200 rwm'], Init: true, GroupAdd: ['7'] }), ctx());
  assert.deepEqual(spec.linux.resources.memory, { limit: 64 << 20, swap: 128 << 20, disableOOMKiller: true });
  assert.deepEqual(spec.linux.resources.blockIO, { weight: 300 });
  assert.deepEqual(spec.linux.resources.pids, { limit: 5 });
  assert.deepEqual(spec.linux.resources.devices.at(-1), { allow: true, type: 'c', major: 10, minor: 200, access: 'rwm' });
  assert.deepEqual(spec.process.args.slice(0, 3), ['/sbin/docker-init', '--', 'sh']);
  assert.ok(spec.mounts.some((m) => m.destination === '/sbin/docker-init' && m.options.includes('ro')));
  assert.deepEqual(spec.process.user.additionalGids, [0, 7]);
  assert.throws(() => checkHostConfig({ BlkioWeight: 5 }, host), invalid(/^Range of blkio weight is from 10 to 1000$/));
  assert.throws(() => checkHostConfig({ CpusetCpus: '0-999' }, host), invalid(/Requested CPUs are not available/));
  assert.throws(() => checkHostConfig({ Ulimits: [{ Name: 'nofile', Soft: 30000, Hard: 30000 }] }, host), invalid(/exceeds this host's hard limit/));
  assert.throws(() => checkHostConfig({ DeviceCgroupRules: ['x 1:2 r'] }, host), invalid(/invalid device cgroup format/));
  assert.throws(() => checkHostConfig({ Devices: [{ PathOnHost: '/nonexistent/dev' }] }, host), invalid(/error gathering device information/));
});

test('security: privileged grants the host set and no seccomp; default seccomp applies otherwise', () => {
  const priv = buildSpec(rec({ Privileged: true }), ctx());
  assert.deepEqual(priv.process.capabilities.bounding, host.capabilities);
  assert.equal(priv.linux.seccomp, undefined);
  assert.deepEqual(priv.linux.maskedPaths, []);
  const plain = buildSpec(rec({}), ctx());
  assert.equal((plain.linux.seccomp as { defaultAction: string }).defaultAction, 'SCMP_ACT_ERRNO');
  assert.equal(buildSpec(rec({ SecurityOpt: ['seccomp=unconfined'] }), ctx()).linux.seccomp, undefined);
  assert.equal(buildSpec(rec({ SecurityOpt: ['no-new-privileges:true'] }), ctx()).process.noNewPrivileges, true);
  assert.deepEqual(buildSpec(rec({ SecurityOpt: ['systempaths=unconfined'] }), ctx()).linux.readonlyPaths, []);
  assert.deepEqual(parseSecurityOpts(['no-new-privileges=false', 'label=disable', 'apparmor=unconfined']), { noNewPrivileges: false, seccomp: 'default', systemPathsUnconfined: false });
  assert.throws(() => parseSecurityOpts(['bogus=1']), invalid(/invalid --security-opt 2: "bogus=1"/));
  assert.throws(() => parseSecurityOpts(['bogus']), invalid(/invalid --security-opt 1: "bogus"/));
  assert.throws(() => checkHostConfig({ Sysctls: { 'kernel.hostname': 'x' } }, host), invalid(/only namespaced sysctls/));
  assert.throws(() => checkHostConfig({ NetworkMode: 'host', Sysctls: { 'net.ipv4.ip_forward': '1' } }, host), invalid(/host's network namespace/));
});

test('inspect shows the settled HostConfig', () => {
  const hc = inspectHostConfig({ Memory: 10 << 20, PidsLimit: 0, CapAdd: ['CAP_KILL'] }, 'hybrid');
  assert.equal(hc.MemorySwap, 20 << 20);
  assert.equal(hc.PidsLimit, null);
  assert.equal(hc.IpcMode, 'private');
  assert.equal(hc.ShmSize, 64 << 20);
  assert.equal(hc.CgroupnsMode, 'host');
  assert.equal(hc.OomKillDisable, false);
  assert.deepEqual(hc.CapAdd, ['CAP_KILL']);
  assert.ok(Array.isArray(hc.MaskedPaths));
  assert.equal(inspectHostConfig({ Privileged: true }, 'v2').MaskedPaths, null);
  assert.equal(inspectHostConfig({}, 'v2').CgroupnsMode, 'private');
});
