import { test } from 'node:test';
import assert from 'node:assert/strict';
import { buildCreateRequest, healthcheckOf, parseDevice, parseEnv, parseEnvFile, parseFilters, parseMemory, parsePublish, parseRestart, parseThrottleDevice, parseUlimit, parseWeightDevice } from './container-options';

test('-e takes K=V as is and fills a bare K from our environment', () => {
  assert.deepEqual(parseEnv(['A=1', 'B=', 'HOME', 'UNSET_X'], { HOME: '/root' }), ['A=1', 'B=', 'HOME=/root', 'UNSET_X']);
  assert.throws(() => parseEnv(['=x'], {}), /invalid environment variable: =x/);
});

test('env files skip comments and blank lines', () => {
  assert.deepEqual(parseEnvFile('# c\nA=1\n\n  B=two words\nC\n', { C: 'c' }), ['A=1', 'B=two words', 'C=c']);
});

test('--filter k=v repeats into docker filter sets', () => {
  assert.deepEqual(parseFilters(['status=exited', 'status=created', 'label=a=b']), { status: ['exited', 'created'], label: ['a=b'] });
  assert.throws(() => parseFilters(['nope']), /bad format of filter \(expected name=value\)/);
});

test('ports, memory and restart policies parse as docker does', () => {
  assert.deepEqual(parsePublish('8080:80'), { port: '80/tcp', binding: { HostIp: '', HostPort: '8080' } });
  assert.deepEqual(parsePublish('127.0.0.1:53:53/udp'), { port: '53/udp', binding: { HostIp: '127.0.0.1', HostPort: '53' } });
  assert.deepEqual(parsePublish('[::1]:8443:443'), { port: '443/tcp', binding: { HostIp: '::1', HostPort: '8443' } });
  assert.deepEqual(parsePublish('9000'), { port: '9000/tcp', binding: { HostIp: '', HostPort: '' } });
  assert.throws(() => parsePublish('80/xyz'), /invalid proto/);
  assert.equal(parseMemory('512m'), 512 * 1024 * 1024);
  assert.equal(parseMemory('1g'), 1024 ** 3);
  assert.deepEqual(parseRestart('on-failure:3'), { Name: 'on-failure', MaximumRetryCount: 3 });
  // Only the syntax is the CLI's; a count with another policy, or an unknown one, is the daemon's to refuse.
  assert.deepEqual(parseRestart('always:2'), { Name: 'always', MaximumRetryCount: 2 });
  assert.deepEqual(parseRestart('nope'), { Name: 'nope', MaximumRetryCount: 0 });
  assert.throws(() => parseRestart(':3'), /no policy provided before colon/);
  assert.throws(() => parseRestart('on-failure:x'), /maximum retry count must be an integer/);
});

test('run flags become docker create body', () => {
  const body = buildCreateRequest(
    'alpine',
    ['sh', '-c', 'echo hi'],
    { rm: true, interactive: true, tty: false, env: ['A=1'], workdir: '/w', user: '1000:1000', entrypoint: '/bin/env', hostname: 'box', name: 'x', label: ['k=v'] },
    {},
  );
  assert.equal(body.Image, 'alpine');
  assert.deepEqual(body.Cmd, ['sh', '-c', 'echo hi']);
  assert.deepEqual(body.Entrypoint, ['/bin/env']);
  assert.deepEqual(body.Env, ['A=1']);
  assert.equal(body.WorkingDir, '/w');
  assert.equal(body.User, '1000:1000');
  assert.equal(body.Hostname, 'box');
  assert.equal(body.AttachStdin, true);
  assert.equal(body.AttachStdout, true);
  assert.equal(body.OpenStdin, true);
  assert.equal(body.StdinOnce, true);
  assert.equal(body.Tty, false);
  assert.deepEqual(body.Labels, { k: 'v' });
  assert.equal(body.HostConfig?.AutoRemove, true);
  assert.equal(body.HostConfig?.NetworkMode, 'default');
});

test('detached runs attach nothing; no command means the image default', () => {
  const body = buildCreateRequest('alpine', [], { detach: true }, {});
  assert.equal(body.Cmd, null);
  assert.equal(body.Entrypoint, null);
  assert.equal(body.AttachStdin, false);
  assert.equal(body.AttachStdout, false);
  assert.equal(body.AttachStderr, false);
  assert.equal(body.StdinOnce, false);
});

test('volumes split into binds and anonymous volumes; --rm conflicts with a restart policy', () => {
  const body = buildCreateRequest('a', [], { volume: ['/host:/data:ro', '/scratch'], publish: ['8080:80'] }, {});
  assert.deepEqual(body.HostConfig?.Binds, ['/host:/data:ro']);
  assert.deepEqual(body.Volumes, { '/scratch': {} });
  assert.deepEqual(body.ExposedPorts, { '80/tcp': {} });
  assert.throws(() => buildCreateRequest('a', [], { rm: true, restart: 'always' }, {}), /conflicting options: cannot specify both --restart and --rm/);
});

test('isolation flags become HostConfig fields as docker sends them', () => {
  const body = buildCreateRequest('a', [], {
    pid: 'host', ipc: 'container:x', uts: 'host', userns: 'host', cgroupns: 'private', memoryReservation: '32m', memorySwap: '-1',
    oomKillDisable: true, oomScoreAdj: '-500', cpuShares: '512', cpuPeriod: '50000', cpuQuota: '25000', cpusetCpus: '0', pidsLimit: '-1',
    blkioWeight: '300', blkioWeightDevice: ['/dev/sda:200'], deviceReadBps: ['/dev/sda:1mb'], deviceWriteIops: ['/dev/sda:100'],
    device: ['/dev/fuse', '/dev/sda:/dev/xvda:r'], deviceCgroupRule: ['c 1:3 rwm'], securityOpt: ['no-new-privileges'],
    sysctl: ['net.ipv4.ip_forward=1'], ulimit: ['nofile=100:200', 'nproc=50'], groupAdd: ['10', 'audio'], shmSize: '8m',
  }, {});
  const h = body.HostConfig as Record<string, unknown>;
  assert.deepEqual(
    { PidMode: h.PidMode, IpcMode: h.IpcMode, UTSMode: h.UTSMode, UsernsMode: h.UsernsMode, CgroupnsMode: h.CgroupnsMode },
    { PidMode: 'host', IpcMode: 'container:x', UTSMode: 'host', UsernsMode: 'host', CgroupnsMode: 'private' },
  );
  assert.equal(h.MemoryReservation, 32 << 20);
  assert.equal(h.MemorySwap, -1);
  assert.equal(h.OomKillDisable, true);
  assert.equal(h.OomScoreAdj, -500);
  assert.deepEqual([h.CpuShares, h.CpuPeriod, h.CpuQuota, h.CpusetCpus, h.PidsLimit, h.BlkioWeight], [512, 50000, 25000, '0', -1, 300]);
  assert.deepEqual(h.BlkioWeightDevice, [{ Path: '/dev/sda', Weight: 200 }]);
  assert.deepEqual(h.BlkioDeviceReadBps, [{ Path: '/dev/sda', Rate: 1 << 20 }]);
  assert.deepEqual(h.BlkioDeviceWriteIOps, [{ Path: '/dev/sda', Rate: 100 }]);
  assert.deepEqual(h.Devices, [
    { PathOnHost: '/dev/fuse', PathInContainer: '/dev/fuse', CgroupPermissions: 'rwm' },
    { PathOnHost: '/dev/sda', PathInContainer: '/dev/xvda', CgroupPermissions: 'r' },
  ]);
  assert.deepEqual(h.DeviceCgroupRules, ['c 1:3 rwm']);
  assert.deepEqual(h.SecurityOpt, ['no-new-privileges']);
  assert.deepEqual(h.Sysctls, { 'net.ipv4.ip_forward': '1' });
  assert.deepEqual(h.Ulimits, [{ Name: 'nofile', Soft: 100, Hard: 200 }, { Name: 'nproc', Soft: 50, Hard: 50 }]);
  assert.deepEqual(h.GroupAdd, ['10', 'audio']);
  assert.equal(h.ShmSize, 8 << 20);
});

test('isolation flag errors read like docker\'s', () => {
  assert.deepEqual(parseDevice('/dev/sda:rw'), { PathOnHost: '/dev/sda', PathInContainer: '/dev/sda', CgroupPermissions: 'rw' });
  assert.throws(() => parseDevice('sda'), /invalid device specification: sda/);
  assert.throws(() => parseDevice('/dev/sda:/x:rwx'), /invalid device mode: rwx/);
  assert.throws(() => parseUlimit('nofile'), /invalid ulimit argument: nofile/);
  assert.throws(() => parseUlimit('nofile=10:5'), /soft limit must be less than or equal to hard limit/);
  assert.throws(() => parseWeightDevice('/dev/sda:5'), /invalid weight for device/);
  assert.throws(() => parseThrottleDevice('/dev/sda:lots', true), /invalid rate for device/);
  assert.throws(() => buildCreateRequest('a', [], { pidsLimit: 'x' }, {}), /invalid argument "x" for "--pids-limit" flag/);
  assert.throws(() => buildCreateRequest('a', [], { cgroupns: 'shared' }, {}), /^Error: --cgroupns: invalid CGROUP mode$/);
  assert.throws(() => buildCreateRequest('a', [], { pid: 'container:' }, {}), /--pid: invalid PID mode/);
  assert.throws(() => buildCreateRequest('a', [], { memorySwappiness: '200' }, {}), /invalid value: 200\. Valid memory swappiness range is 0-100/);
  assert.throws(() => buildCreateRequest('a', [], { securityOpt: ['nope'] }, {}), /Invalid --security-opt: "nope"/);
  assert.throws(() => buildCreateRequest('a', [], { sysctl: ['kernel.nope=1'] }, {}), /sysctl 'kernel.nope=1' is not allowed/);
  // The range of --oom-score-adj is the daemon's to judge.
  assert.equal(buildCreateRequest('a', [], { oomScoreAdj: '2000' }, {}).HostConfig?.OomScoreAdj, 2000);
});

test('--health-* flags and --no-healthcheck build the Healthcheck as the docker CLI does', () => {
  assert.deepEqual(healthcheckOf({ healthCmd: 'curl -f localhost', healthInterval: '2s', healthRetries: '3', healthcheck: true }), {
    Healthcheck: { Test: ['CMD-SHELL', 'curl -f localhost'], Interval: 2e9, Timeout: 0, StartPeriod: 0, StartInterval: 0, Retries: 3 },
  });
  assert.deepEqual(healthcheckOf({ healthcheck: true }), {});
  assert.deepEqual(healthcheckOf({ healthcheck: false }), { Healthcheck: { Test: ['NONE'] } });
  assert.throws(() => healthcheckOf({ healthcheck: false, healthCmd: 'true' }), /--no-healthcheck conflicts with --health-\* options/);
  assert.throws(() => healthcheckOf({ healthInterval: '-1s' }), /--health-interval cannot be negative/);
  assert.throws(() => healthcheckOf({ healthTimeout: 'soon' }), /invalid argument "soon" for "--health-timeout" flag/);
});
