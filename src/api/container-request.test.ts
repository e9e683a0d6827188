import { test } from 'node:test';
import assert from 'node:assert/strict';
import { errorKind } from '../common';
import { upgradeRecord } from '../engine';
import { createRequest, parseApiMount, parseBind, securityOpts, specFromDocker } from './container-request';
import { inspectHostConfig } from './convert';

const invalid = (re: RegExp) => (e: unknown) => errorKind(e) === 'invalid-argument' && re.test((e as Error).message);

test('parseBind: binds, named and anonymous volumes, modes', () => {
  assert.deepEqual(parseBind('/host/dir/:/data/'), { type: 'bind', source: '/host/dir', destination: '/data', mode: '', rw: true, propagation: 'rprivate', createSource: true });
  assert.deepEqual(parseBind('/h:/d:ro,rslave'), { type: 'bind', source: '/h', destination: '/d', mode: 'ro,rslave', rw: false, propagation: 'rslave', createSource: true });
  assert.deepEqual(parseBind('vol:/d'), { type: 'volume', source: '', name: 'vol', destination: '/d', mode: 'z', rw: true, propagation: '', copyData: true });
  assert.deepEqual(parseBind('vol:/d:ro,nocopy'), { type: 'volume', source: '', name: 'vol', destination: '/d', mode: 'ro,nocopy', rw: false, propagation: '', copyData: false });
  assert.deepEqual(parseBind('/anon'), { type: 'volume', source: '', destination: '/anon', mode: '', rw: true, propagation: '', copyData: true, anonymous: true });
});

test('parseBind: Docker wording for bad specs', () => {
  assert.throws(() => parseBind('a:b:c:d'), { message: "invalid volume specification: 'a:b:c:d'" });
  assert.throws(() => parseBind('vol:rel'), { message: `invalid volume specification: 'vol:rel': invalid mount config for type "volume": invalid mount path: 'rel' mount path must be absolute` });
  assert.throws(() => parseBind('/h:/d:ro,rw'), { message: 'invalid mode: ro,rw' });
  assert.throws(() => parseBind('/h:/d:zz'), { message: 'invalid mode: zz' });
  assert.throws(() => parseBind('/h:/d:nocopy'), { message: `invalid volume specification: '/h:/d:nocopy': invalid mount config for type "bind": field VolumeOptions must not be specified` });
  assert.throws(() => parseBind('vol:/d:rshared'), { message: `invalid volume specification: 'vol:/d:rshared': invalid mount config for type "volume": field BindOptions must not be specified` });
  // Consistency modes are taken and ignored, as by dockerd on Linux; one of each kind only.
  assert.equal(parseBind('/h:/d:ro,cached').rw, false);
  assert.throws(() => parseBind('/h:/d:cached,delegated'), { message: 'invalid mode: cached,delegated' });
  assert.throws(() => parseBind('/h:/'), /destination can't be '\/'/);
  assert.throws(() => parseBind('a b:/d'), { message: /^create a b: "a b" includes invalid characters for a local volume name/ });
});

test('parseApiMount: --mount shapes and field rules', () => {
  assert.deepEqual(parseApiMount({ Type: 'bind', Source: '/s', Target: '/t', ReadOnly: true, BindOptions: { Propagation: 'rshared' } }), {
    type: 'bind', source: '/s', destination: '/t', mode: '', rw: false, propagation: 'rshared', createSource: false,
  });
  const vol = parseApiMount({ Type: 'volume', Source: 'v1', Target: '/t', VolumeOptions: { NoCopy: true, Labels: { a: 'b' }, DriverConfig: { Name: 'local', Options: { type: 'tmpfs' } } } });
  assert.equal(vol.copyData, false);
  assert.deepEqual(vol.volumeLabels, { a: 'b' });
  assert.deepEqual(vol.volumeOptions, { type: 'tmpfs' });
  assert.equal(parseApiMount({ Type: 'volume', Target: '/t' }).anonymous, true);
  assert.deepEqual(parseApiMount({ Type: 'tmpfs', Target: '/t', TmpfsOptions: { SizeBytes: 1 << 20, Mode: 0o1777 } }).tmpfsOptions, ['noexec', 'nosuid', 'nodev', 'size=1024k', 'mode=1777']);
  const bad: [object, string][] = [
    [{ Type: 'bind', Target: '/t' }, 'invalid mount config for type "bind": field Source must not be empty'],
    [{ Type: 'bind', Source: 'rel', Target: '/t' }, `invalid mount config for type "bind": invalid mount path: 'rel' mount path must be absolute`],
    [{ Type: 'bind', Source: '/s' }, 'invalid mount config for type "bind": field Target must not be empty'],
    [{ Type: 'bind', Source: '/s', Target: '/t', VolumeOptions: {} }, 'invalid mount config for type "bind": field VolumeOptions must not be specified'],
    [{ Type: 'tmpfs', Source: 'x', Target: '/t' }, 'invalid mount config for type "tmpfs": field Source must not be specified'],
    [{ Type: 'npipe', Target: '/t' }, 'invalid mount config for type "npipe": mount type unknown'],
  ];
  for (const [m, msg] of bad) assert.throws(() => parseApiMount(m), { message: msg });
});

test('security options: Docker syntax, profile text kept for the engine to parse', () => {
  assert.deepEqual(securityOpts(['no-new-privileges=false', 'label=disable', 'apparmor=unconfined']), { noNewPrivileges: false, seccomp: 'default', systemPathsUnconfined: false });
  assert.deepEqual(securityOpts(['no-new-privileges', 'seccomp={"defaultAction":"SCMP_ACT_ALLOW"}', 'systempaths=unconfined']), {
    noNewPrivileges: true, seccomp: { profile: '{"defaultAction":"SCMP_ACT_ALLOW"}' }, systemPathsUnconfined: true,
  });
  assert.throws(() => securityOpts(['bogus=1']), invalid(/invalid --security-opt 2: "bogus=1"/));
  assert.throws(() => securityOpts(['bogus']), invalid(/invalid --security-opt 1: "bogus"/));
});

test('create body → spec: fields, mounts in one list, checks with dockerd\'s words', () => {
  const { name, spec } = createRequest({
    Image: 'busybox', Cmd: 'true', Env: ['A=1'], Tty: true, StopSignal: 'SIGUSR1', Labels: { l: 'v' }, Volumes: { '/anon': {} },
    HostConfig: { Binds: ['/h:/b:ro'], Tmpfs: { '/t': 'size=1m' }, Memory: 1 << 20, CapAdd: ['NET_ADMIN'], PidMode: 'host', NetworkMode: 'none', RestartPolicy: { Name: 'always' }, VolumesFrom: ['other:ro'] },
    NetworkingConfig: { EndpointsConfig: { net1: { Aliases: ['a'] } } },
  }, 'c1');
  assert.equal(name, 'c1');
  assert.deepEqual(spec.process.cmd, ['true']);
  assert.equal(spec.process.tty, true);
  assert.equal(spec.process.stopSignal, 'SIGUSR1');
  assert.deepEqual(spec.volumes, ['/anon']);
  assert.deepEqual(spec.mounts.map((m) => [m.type, m.destination, m.rw]), [['bind', '/b', false], ['tmpfs', '/t', true]]);
  assert.deepEqual(spec.volumesFrom, [{ container: 'other', mode: 'ro' }]);
  assert.equal(spec.resources.memory, 1 << 20);
  assert.deepEqual(spec.security.capAdd, ['NET_ADMIN']);
  assert.equal(spec.namespaces.pid, 'host');
  assert.equal(spec.network.mode, 'none');
  assert.deepEqual(spec.network.endpoints, { net1: { aliases: ['a'], links: null } });
  assert.deepEqual(spec.restartPolicy, { name: 'always', maximumRetryCount: 0 });
  assert.throws(() => createRequest({}, undefined), invalid(/no image specified/));
  assert.throws(() => createRequest({ Image: 'x', WorkingDir: 'rel' }, undefined), invalid(/needs to be an absolute path/));
  assert.equal(createRequest({ Image: 'x', WorkingDir: '/tmp/x/../y/' }, undefined).spec.process.workingDir, '/tmp/y');
  assert.throws(() => createRequest({ Image: 'x', StopSignal: 'SIGNOPE' }, undefined), invalid(/Invalid signal/));
  assert.throws(() => createRequest({ Image: 'x', HostConfig: { Memory: 'lots' } }, undefined), invalid(/field Memory must be a number/));
  assert.throws(() => createRequest({ Image: 'x', HostConfig: { VolumesFrom: ['a:rx'] } }, undefined), invalid(/invalid volumes-from specification: a:rx/));
});

test('hostile keys in maps stay plain keys', () => {
  const body = JSON.parse('{"Image":"x","HostConfig":{"PortBindings":{"__proto__":[{"HostPort":"1"}]}},"NetworkingConfig":{"EndpointsConfig":{"__proto__":{"Aliases":["a"]}}}}');
  const { spec } = createRequest(body, undefined);
  assert.equal(Object.getPrototypeOf(spec.network.endpoints), Object.prototype);
  assert.deepEqual(Object.keys(spec.network.endpoints), ['__proto__']);
  assert.equal(Object.getPrototypeOf(spec.network.portBindings), Object.prototype);
  assert.deepEqual(Object.keys(spec.network.portBindings ?? {}), ['__proto__']);
});

test('inspect renders the spec back as the client sent it', () => {
  const hc = { Binds: ['/h:/b:ro'], Mounts: [{ Type: 'bind', Source: '/s', Target: '/m', ReadOnly: true, BindOptions: { Propagation: 'rslave' } }], Tmpfs: { '/t': 'size=1m,exec' }, Memory: 10 << 20, PidsLimit: 0, CapAdd: ['CAP_KILL'], SecurityOpt: ['no-new-privileges:true'], Init: true, Runtime: 'runc' };
  const out = inspectHostConfig(specFromDocker({ Image: 'busybox' }, hc), 'hybrid');
  assert.deepEqual(out.Binds, hc.Binds);
  assert.deepEqual(out.Mounts, hc.Mounts);
  assert.deepEqual(out.Tmpfs, hc.Tmpfs);
  assert.deepEqual(out.SecurityOpt, hc.SecurityOpt);
  assert.equal(out.Init, true);
  assert.equal(out.MemorySwap, 20 << 20);
  assert.equal(out.PidsLimit, null);
  assert.equal(out.IpcMode, 'private');
  assert.equal(out.ShmSize, 64 << 20);
  assert.equal(out.CgroupnsMode, 'host');
  assert.equal(out.OomKillDisable, false);
  assert.equal(out.NetworkMode, 'none');
  assert.deepEqual(out.RestartPolicy, { Name: 'no', MaximumRetryCount: 0 });
  assert.deepEqual(out.LogConfig, { Type: 'json-file', Config: {} });
  assert.deepEqual(out.CapAdd, ['CAP_KILL']);
  assert.ok(Array.isArray(out.MaskedPaths));
  assert.equal(inspectHostConfig(specFromDocker({}, { Privileged: true }), 'v2').MaskedPaths, null);
  assert.equal(inspectHostConfig(specFromDocker({}, {}), 'v2').CgroupnsMode, 'private');
});

/** A record as berthd wrote it before the engine had its own model (version 1, no version field). */
const V1_RECORD = {
  id: 'f'.repeat(64), name: 'old', created: '2026-01-01T00:00:00.000Z', image: 'busybox', imageId: 'sha256:' + 'e'.repeat(64), path: 'sh', args: ['-c', 'sleep 1'],
  config: {
    Hostname: 'ffffffffffff', Domainname: '', User: '', AttachStdin: false, AttachStdout: true, AttachStderr: true, Tty: false, OpenStdin: false, StdinOnce: false,
    Env: ['PATH=/bin', 'K=V'], Cmd: ['sh', '-c', 'sleep 1'], Image: 'busybox', Volumes: null, WorkingDir: '/tmp', Entrypoint: null, OnBuild: null, Labels: { a: 'b' }, StopSignal: 'SIGINT',
  },
  hostConfig: {
    Binds: ['vol:/data'], NetworkMode: 'default', RestartPolicy: { Name: 'no', MaximumRetryCount: 0 }, AutoRemove: false, LogConfig: { Type: '', Config: {} }, Memory: 6291456, ConsoleSize: [24, 80],
    IpcMode: 'shareable', SecurityOpt: null,
  },
  state: { status: 'exited', pid: 0, exitCode: 0, error: '', oomKilled: false, startedAt: '2026-01-01T00:00:01.000Z', finishedAt: '2026-01-01T00:00:02.000Z' },
  restartCount: 0, logPath: '/var/lib/berth/containers/f/container.log', hostnamePath: '/h', hostsPath: '/hs', resolvConfPath: '/r',
  mountPoints: [{ type: 'volume', name: 'vol', driver: 'local', source: '/var/lib/berth/volumes/vol/_data', destination: '/data', mode: 'z', rw: true, propagation: '', copyData: true }],
};

test('a version 1 record (Docker JSON) loads as the current version', () => {
  const rec = upgradeRecord(structuredClone(V1_RECORD), specFromDocker);
  assert.equal(rec.version, 2);
  assert.equal(rec.name, 'old');
  assert.deepEqual(rec.spec.process.env, ['PATH=/bin', 'K=V']);
  assert.deepEqual(rec.spec.process.cmd, ['sh', '-c', 'sleep 1']);
  assert.equal(rec.spec.process.stopSignal, 'SIGINT');
  assert.deepEqual(rec.spec.process.consoleSize, [24, 80]);
  assert.equal(rec.spec.hostname, 'ffffffffffff');
  assert.deepEqual(rec.spec.labels, { a: 'b' });
  assert.equal(rec.spec.resources.memory, 6291456);
  assert.equal(rec.spec.namespaces.ipc, 'shareable');
  assert.equal(rec.spec.network.mode, 'default');
  assert.deepEqual(rec.spec.mounts.map((m) => [m.type, m.name, m.destination]), [['volume', 'vol', '/data']]);
  assert.deepEqual(rec.mountPoints, V1_RECORD.mountPoints);
  assert.deepEqual(rec.state, V1_RECORD.state);
  assert.equal('config' in rec, false);
  // Already current: unchanged. Newer than this code, or v1 without a reader: refused.
  assert.equal(upgradeRecord(rec as unknown as Record<string, unknown>, undefined), rec);
  assert.throws(() => upgradeRecord({ ...rec, version: 3 } as unknown as Record<string, unknown>, specFromDocker), invalid(/version 3 is newer/));
  assert.throws(() => upgradeRecord(structuredClone(V1_RECORD), undefined), invalid(/version 1/));
});
