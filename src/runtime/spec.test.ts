import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { copyFileSync, existsSync, mkdirSync, mkdtempSync, rmdirSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { errorKind } from '../common';
import { ALL_CAPABILITIES, DEFAULT_CAPABILITIES, capabilityMask } from './capabilities';
import { cgroupDirs, cgroupsPath, detectCgroupMode, removeCgroup } from './cgroups';
import {
  DEFAULT_PATH_ENV,
  MASKED_PATHS,
  READONLY_PATHS,
  generateSpec,
  readHostRlimits,
  serializeSpec,
  validateRlimits,
  type HostRlimits,
  type SpecOptions,
} from './spec';
import { resolveUser } from './user';

const HOST_LIMITS: HostRlimits = {
  RLIMIT_NOFILE: { soft: 1024, hard: 20000 },
  RLIMIT_CORE: { soft: 0, hard: Infinity },
  RLIMIT_NPROC: { soft: 100, hard: 100 },
};

function base(over: Partial<SpecOptions> = {}): SpecOptions {
  return {
    args: ['sh'],
    user: { uid: 0, gid: 0, home: '/root' },
    hostname: 'web1',
    rootfsPath: '/var/lib/berth/c1/rootfs',
    host: { cgroupMode: 'hybrid', capabilities: ALL_CAPABILITIES, rlimits: HOST_LIMITS, cpuset: { cpus: '0-3', mems: '0', ncpu: 4 } },
    ...over,
  };
}

const isInvalid = (re: RegExp) => (e: unknown) => errorKind(e) === 'invalid-argument' && re.test((e as Error).message);

test('default spec has Docker shape', () => {
  const s = generateSpec(base({ cgroupsPath: '/berth/c1' }));
  assert.equal(s.ociVersion, '1.0.2');
  assert.deepEqual(s.process.user, { uid: 0, gid: 0, additionalGids: [0] });
  assert.deepEqual(s.process.args, ['sh']);
  assert.equal(s.process.cwd, '/');
  assert.equal(s.process.terminal, false);
  assert.equal(s.process.noNewPrivileges, false);
  assert.deepEqual(s.process.env, [DEFAULT_PATH_ENV, 'HOSTNAME=web1', 'HOME=/root']);
  assert.equal(s.process.rlimits, undefined);
  assert.equal(s.hostname, 'web1');
  assert.deepEqual(s.root, { path: '/var/lib/berth/c1/rootfs', readonly: false });
  assert.equal(s.linux.cgroupsPath, '/berth/c1');

  const caps = s.process.capabilities;
  assert.deepEqual(caps.bounding, DEFAULT_CAPABILITIES);
  assert.deepEqual(caps.effective, DEFAULT_CAPABILITIES);
  assert.deepEqual(caps.permitted, DEFAULT_CAPABILITIES);
  assert.deepEqual(caps.inheritable, []);
  assert.deepEqual(caps.ambient, []);

  assert.deepEqual(s.linux.namespaces.map((n) => n.type), ['mount', 'network', 'uts', 'pid', 'ipc']);
  assert.deepEqual(s.linux.maskedPaths, MASKED_PATHS);
  assert.deepEqual(s.linux.readonlyPaths, READONLY_PATHS);
  assert.equal(s.linux.seccomp, undefined);

  const byDest = new Map(s.mounts.map((m) => [m.destination, m]));
  assert.deepEqual(
    s.mounts.map((m) => m.destination),
    ['/proc', '/dev', '/dev/pts', '/sys', '/sys/fs/cgroup', '/dev/mqueue', '/dev/shm'],
  );
  assert.equal(byDest.get('/proc')?.type, 'proc');
  assert.deepEqual(byDest.get('/dev')?.options, ['nosuid', 'strictatime', 'mode=755', 'size=65536k']);
  assert.deepEqual(byDest.get('/dev/pts')?.options, ['nosuid', 'noexec', 'newinstance', 'ptmxmode=0666', 'mode=0620', 'gid=5']);
  assert.ok(byDest.get('/sys')?.options.includes('ro'));
  assert.equal(byDest.get('/sys/fs/cgroup')?.type, 'cgroup');
  assert.ok(byDest.get('/sys/fs/cgroup')?.options.includes('ro'));
  assert.equal(byDest.get('/dev/mqueue')?.type, 'mqueue');
  assert.equal(byDest.get('/dev/shm')?.type, 'tmpfs');
  assert.ok(byDest.get('/dev/shm')?.options.includes('size=65536k'));

  const devs = s.linux.resources.devices;
  assert.deepEqual(devs[0], { allow: false, access: 'rwm' });
  const allowed = devs.filter((d) => d.allow && d.access === 'rwm').map((d) => `${d.type} ${d.major}:${d.minor ?? '*'}`);
  assert.deepEqual(allowed.sort(), ['c 1:3', 'c 1:5', 'c 1:7', 'c 1:8', 'c 1:9', 'c 136:*', 'c 5:0', 'c 5:1', 'c 5:2'].sort());
  assert.equal(s.linux.resources.memory, undefined);
  assert.equal(s.linux.resources.pids, undefined);
});

test('cgroup namespace is private on a v2 host only, unless asked', () => {
  assert.ok(generateSpec(base({ host: { cgroupMode: 'v2', capabilities: ALL_CAPABILITIES } })).linux.namespaces.some((n) => n.type === 'cgroup'));
  assert.ok(!generateSpec(base({ host: { cgroupMode: 'v1', capabilities: ALL_CAPABILITIES } })).linux.namespaces.some((n) => n.type === 'cgroup'));
  assert.ok(generateSpec(base({ namespaces: { cgroup: 'private' } })).linux.namespaces.some((n) => n.type === 'cgroup'));
});

test('namespaces: host is omitted, path is joined, mount must stay private', () => {
  const s = generateSpec(base({ namespaces: { network: { path: '/run/netns/x' }, pid: 'host', uts: 'host' } }));
  assert.deepEqual(s.linux.namespaces, [{ type: 'mount' }, { type: 'network', path: '/run/netns/x' }, { type: 'ipc' }]);
  // A hostname needs a UTS namespace of its own; the env still says HOSTNAME.
  assert.equal(s.hostname, undefined);
  assert.ok(s.process.env.includes('HOSTNAME=web1'));
  assert.throws(() => generateSpec(base({ namespaces: { mount: 'host' } })), isInvalid(/mount namespace/));
  assert.throws(() => generateSpec(base({ namespaces: { network: { path: 'rel' } } })), isInvalid(/absolute/));
  const ipcHost = generateSpec(base({ namespaces: { ipc: 'host' } }));
  assert.equal(ipcHost.mounts.find((m) => m.destination === '/dev/shm')?.source, '/dev/shm');
});

test('env: PATH only when missing, caller wins, KEY alone unsets, TERM with a terminal', () => {
  const s = generateSpec(base({ env: ['PATH=/x', 'A=1', 'HOSTNAME', 'HOME=/h'], terminal: true }));
  assert.deepEqual(s.process.env, ['PATH=/x', 'TERM=xterm', 'A=1', 'HOME=/h']);
  assert.equal(s.process.terminal, true);
  const noHome = generateSpec(base({ user: { uid: 5, gid: 6 }, hostname: undefined }));
  assert.deepEqual(noHome.process.env, [DEFAULT_PATH_ENV, 'HOME=/']);
});

test('user, cwd, readonly rootfs, oomScoreAdj, noNewPrivileges, seccomp pass through', () => {
  const seccomp = { defaultAction: 'SCMP_ACT_ERRNO', syscalls: [] };
  const s = generateSpec(
    base({
      user: { uid: 1000, gid: 1000, additionalGids: [10, 1000, 20] },
      cwd: '/app',
      readonlyRootfs: true,
      oomScoreAdj: 500,
      noNewPrivileges: true,
      seccomp,
    }),
  );
  assert.deepEqual(s.process.user, { uid: 1000, gid: 1000, additionalGids: [1000, 10, 20] });
  assert.equal(s.process.cwd, '/app');
  assert.equal(s.root.readonly, true);
  assert.equal(s.process.oomScoreAdj, 500);
  assert.equal(s.process.noNewPrivileges, true);
  assert.equal(s.linux.seccomp, seccomp);
  assert.throws(() => generateSpec(base({ cwd: 'app' })), isInvalid(/working directory 'app' is invalid/));
  assert.throws(() => generateSpec(base({ args: [] })), isInvalid(/no command/));
  assert.throws(() => generateSpec(base({ rootfsPath: 'rootfs' })), isInvalid(/rootfs path/));
  assert.throws(() => generateSpec(base({ oomScoreAdj: 1001 })), isInvalid(/oom score adj/));
});

test('privileged: host caps, no masks, rw /sys and cgroup, all devices, no seccomp', () => {
  const hostCaps = ALL_CAPABILITIES.filter((c) => c !== 'CAP_SYS_RESOURCE');
  const s = generateSpec(
    base({ capabilities: { privileged: true }, seccomp: { defaultAction: 'SCMP_ACT_ERRNO' }, host: { cgroupMode: 'v1', capabilities: hostCaps } }),
  );
  assert.deepEqual(s.process.capabilities.bounding, hostCaps);
  assert.deepEqual(s.linux.maskedPaths, []);
  assert.deepEqual(s.linux.readonlyPaths, []);
  assert.deepEqual(s.linux.resources.devices, [{ allow: true, access: 'rwm' }]);
  assert.equal(s.linux.seccomp, undefined);
  for (const d of ['/sys', '/sys/fs/cgroup']) {
    const m = s.mounts.find((x) => x.destination === d);
    assert.ok(m && !m.options.includes('ro') && m.options.includes('rw'), d);
  }
});

test('capabilities add/drop flow into all three sets', () => {
  const s = generateSpec(base({ capabilities: { add: ['net_admin'], drop: ['CHOWN'] } }));
  assert.ok(s.process.capabilities.effective.includes('CAP_NET_ADMIN'));
  assert.ok(!s.process.capabilities.bounding.includes('CAP_CHOWN'));
  assert.throws(() => generateSpec(base({ capabilities: { add: ['nope'] } })), isInvalid(/unknown capability/));
});

test('bind mounts: rbind rprivate, ro, sorted by depth, override defaults they cover', () => {
  const s = generateSpec(
    base({
      mounts: [
        { type: 'bind', source: '/host/c1/hosts', destination: '/etc/hosts' },
        { type: 'bind', source: '/host/c1/hostname', destination: '/etc/hostname', readonly: true },
        { type: 'bind', source: '/host/data', destination: '/data' },
        { type: 'bind', source: '/host/shm', destination: '/dev/shm' },
        { type: 'tmpfs', destination: '/run' },
      ],
    }),
  );
  const dests = s.mounts.map((m) => m.destination);
  assert.equal(dests.filter((d) => d === '/dev/shm').length, 1);
  assert.deepEqual(dests.slice(-5), ['/data', '/run', '/etc/hosts', '/etc/hostname', '/dev/shm']);
  assert.deepEqual(s.mounts.find((m) => m.destination === '/etc/hostname'), {
    destination: '/etc/hostname',
    type: 'bind',
    source: '/host/c1/hostname',
    options: ['rbind', 'rprivate', 'ro'],
  });
  const devOverride = generateSpec(base({ mounts: [{ type: 'bind', source: '/dev', destination: '/dev' }] }));
  assert.deepEqual(
    devOverride.mounts.map((m) => m.destination),
    ['/proc', '/sys', '/sys/fs/cgroup', '/dev'],
  );
  assert.throws(() => generateSpec(base({ mounts: [{ type: 'bind', source: 'rel', destination: '/x' }] })), isInvalid(/source/));
  assert.deepEqual(
    generateSpec(base({ shmSize: 128 * 1024 * 1024 })).mounts.find((m) => m.destination === '/dev/shm')?.options.at(-1),
    'size=131072k',
  );
});

test('resources: memory, cpu, pids with Docker validation', () => {
  const s = generateSpec(
    base({ resources: { memory: 64 << 20, memorySwap: 128 << 20, memoryReservation: 32 << 20, nanoCpus: 1.5e9, cpuShares: 512, cpusetCpus: '0-1', pidsLimit: 100 } }),
  );
  assert.deepEqual(s.linux.resources.memory, { limit: 64 << 20, reservation: 32 << 20, swap: 128 << 20 });
  assert.deepEqual(s.linux.resources.cpu, { shares: 512, period: 100000, quota: 150000, cpus: '0-1' });
  assert.deepEqual(s.linux.resources.pids, { limit: 100 });
  assert.equal(generateSpec(base({ resources: { pidsLimit: -1 } })).linux.resources.pids, undefined);
  assert.throws(() => generateSpec(base({ resources: { memory: 1 << 20 } })), isInvalid(/Minimum memory limit allowed is 6MB/));
  assert.throws(() => generateSpec(base({ resources: { memory: 64 << 20, memorySwap: 32 << 20 } })), isInvalid(/memoryswap/));
  assert.throws(() => generateSpec(base({ resources: { nanoCpus: 1e9, cpuQuota: 50000 } })), isInvalid(/Conflicting options/));
  assert.throws(() => generateSpec(base({ resources: { cpusetCpus: 'a-b' } })), isInvalid(/cpuset/));
  assert.deepEqual(generateSpec(base({ resources: { cpuRealtimePeriod: 500000, cpuRealtimeRuntime: 1000 } })).linux.resources.cpu, { realtimePeriod: 500000, realtimeRuntime: 1000 });
  assert.throws(() => generateSpec(base({ resources: { cpuRealtimePeriod: 1000, cpuRealtimeRuntime: 2000 } })), isInvalid(/^cpu real-time runtime cannot be higher than cpu real-time period$/));
  assert.throws(() => generateSpec(base({ resources: { cpuRealtimePeriod: -5 } })), isInvalid(/^invalid CpuRealtimePeriod -5: /));
});

test('sysctl: namespaced ones only, and not with host namespaces', () => {
  const s = generateSpec(base({ sysctl: { 'net.ipv4.ip_forward': '1', 'kernel.shmmax': '1000' } }));
  assert.deepEqual(s.linux.sysctl, { 'net.ipv4.ip_forward': '1', 'kernel.shmmax': '1000' });
  assert.throws(() => generateSpec(base({ sysctl: { 'vm.swappiness': '1' } })), isInvalid(/sysctl vm.swappiness is not allowed/));
  assert.throws(
    () => generateSpec(base({ namespaces: { network: 'host' }, sysctl: { 'net.core.somaxconn': '1' } })),
    isInvalid(/host's network namespace/),
  );
});

test('rlimits: only when given, normalized, never above the host hard limit', () => {
  const s = generateSpec(base({ rlimits: [{ type: 'nofile', soft: 1024, hard: 2048 }] }));
  assert.deepEqual(s.process.rlimits, [{ type: 'RLIMIT_NOFILE', soft: 1024, hard: 2048 }]);
  assert.throws(
    () => validateRlimits([{ type: 'RLIMIT_NOFILE', soft: 1024, hard: 30000 }], HOST_LIMITS),
    isInvalid(/nofile=1024:30000 exceeds this host's hard limit for RLIMIT_NOFILE \(20000\)/),
  );
  assert.throws(() => validateRlimits([{ type: 'nofile', soft: -1, hard: -1 }], HOST_LIMITS), isInvalid(/\(20000\)/));
  assert.throws(() => validateRlimits([{ type: 'nofile', soft: 10, hard: 5 }], HOST_LIMITS), isInvalid(/soft limit must be less/));
  assert.throws(() => validateRlimits([{ type: 'bogus', soft: 1, hard: 1 }], HOST_LIMITS), isInvalid(/invalid ulimit type: bogus/));
  assert.throws(
    () => validateRlimits([{ type: 'nofile', soft: 1, hard: 1 }, { type: 'NOFILE', soft: 2, hard: 2 }], HOST_LIMITS),
    isInvalid(/more than once/),
  );
  // Unlimited is allowed where the host is unlimited, and is written as uint64 max.
  const core = validateRlimits([{ type: 'core', soft: -1, hard: -1 }], HOST_LIMITS);
  const json = serializeSpec({ ...generateSpec(base()), process: { ...generateSpec(base()).process, rlimits: core } });
  assert.match(json, /"soft": 18446744073709551615,\s*"hard": 18446744073709551615/);
  assert.equal(JSON.parse(json).process.rlimits[0].type, 'RLIMIT_CORE');
});

test('readHostRlimits parses /proc/self/limits', () => {
  const text = [
    'Limit                     Soft Limit           Hard Limit           Units     ',
    'Max core file size        0                    unlimited            bytes     ',
    'Max open files            20000                20000                files     ',
    'Max nice priority         0                    0                    ',
  ].join('\n');
  assert.deepEqual(readHostRlimits(text), {
    RLIMIT_CORE: { soft: 0, hard: Infinity },
    RLIMIT_NOFILE: { soft: 20000, hard: 20000 },
    RLIMIT_NICE: { soft: 0, hard: 0 },
  });
  assert.ok(readHostRlimits().RLIMIT_NOFILE);
});

// The real thing: runc runs the generated spec on a busybox-static rootfs.

function missingForRunc(): string | undefined {
  if (process.getuid?.() !== 0) return 'needs root to run runc';
  for (const bin of ['runc', 'busybox']) {
    if (spawnSync('sh', ['-c', `command -v ${bin}`]).status !== 0) {
      return `${bin} is not installed: apt-get install -y busybox-static runc`;
    }
  }
  return undefined;
}

test('runc runs the generated spec on a busybox rootfs', { skip: missingForRunc() ?? false, timeout: 60_000 }, (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'berth-spec-'));
  const state = join(dir, 'runc-state');
  const rootfs = join(dir, 'rootfs');
  mkdirSync(join(rootfs, 'bin'), { recursive: true });
  mkdirSync(join(rootfs, 'etc'));
  const busybox = spawnSync('sh', ['-c', 'command -v busybox'], { encoding: 'utf8' }).stdout.trim();
  copyFileSync(busybox, join(rootfs, 'bin/busybox'));
  for (const applet of ['sh', 'echo', 'cat', 'grep', 'hostname', 'id']) symlinkSync('busybox', join(rootfs, 'bin', applet));
  writeFileSync(join(rootfs, 'etc/passwd'), 'root:x:0:0:root:/root:/bin/sh\napp:x:1000:1000:App:/home/app:/bin/sh\n');
  writeFileSync(join(rootfs, 'etc/group'), 'root:x:0:\nwheel:x:10:root\napp:x:1000:\nextra:x:2000:app\n');
  writeFileSync(join(dir, 'hostname'), 'box1\n');

  const mode = detectCgroupMode();
  const ids: string[] = [];
  t.after(async () => {
    for (const id of ids) {
      spawnSync('runc', ['--root', state, 'delete', '--force', id], { stdio: 'ignore' });
      await removeCgroup(mode, cgroupsPath('/berth-test', id));
    }
    for (const d of new Set(Object.values(cgroupDirs(mode, cgroupsPath('/berth-test', 'x'))))) {
      try {
        rmdirSync(join(d, '..'));
      } catch {
        // Best effort: only our own empty parent is removed.
      }
    }
    rmSync(dir, { recursive: true, force: true });
  });

  const script =
    'cat /proc/self/status | grep -E "CapEff|CapBnd"; hostname; id; echo HOME=$HOME; cat /etc/hostname; ulimit -n; ' +
    'cat /sys/fs/cgroup/pids/pids.max 2>/dev/null || cat /sys/fs/cgroup/pids.max';
  const run = (user: string, suffix: string) => {
    const id = `berth-spec-test-${process.pid}-${suffix}`;
    ids.push(id);
    const bundle = join(dir, suffix);
    mkdirSync(bundle);
    const spec = generateSpec({
      args: ['sh', '-c', script],
      user: resolveUser(rootfs, user),
      hostname: 'box1',
      rootfsPath: rootfs,
      cgroupsPath: cgroupsPath('/berth-test', id),
      namespaces: mode === 'v2' ? {} : { cgroup: 'host' },
      resources: { pidsLimit: 64, memory: 64 << 20 },
      rlimits: [{ type: 'nofile', soft: 1024, hard: 2048 }],
      mounts: [{ type: 'bind', source: join(dir, 'hostname'), destination: '/etc/hostname', readonly: true }],
      host: { cgroupMode: mode },
    });
    writeFileSync(join(bundle, 'config.json'), serializeSpec(spec));
    const r = spawnSync('runc', ['--root', state, 'run', '--bundle', bundle, id], { encoding: 'utf8', timeout: 30_000 });
    assert.equal(r.status, 0, `runc run exited ${r.status}: ${r.stderr}\n${r.stdout}`);
    return r.stdout.split('\n');
  };

  const defaultMask = capabilityMask(DEFAULT_CAPABILITIES);
  const rootOut = run('', 'root');
  assert.deepEqual(rootOut.slice(0, 7), [
    `CapEff:\t${defaultMask}`,
    `CapBnd:\t${defaultMask}`,
    'box1',
    'uid=0(root) gid=0(root) groups=0(root),10(wheel)',
    'HOME=/root',
    'box1',
    '1024',
  ]);
  assert.equal(rootOut[7], '64');

  // A non-root user keeps the bounding set but execve clears its effective set, as in Docker.
  const appOut = run('app', 'app');
  assert.deepEqual(appOut.slice(0, 7), [
    'CapEff:\t0000000000000000',
    `CapBnd:\t${defaultMask}`,
    'box1',
    'uid=1000(app) gid=1000(app) groups=1000(app),2000(extra)',
    'HOME=/home/app',
    'box1',
    '1024',
  ]);
  assert.ok(existsSync(rootfs));
});
