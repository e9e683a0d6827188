import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { cgroupDirs } from './cgroups';
import { cgroupPids, parseV1Blkio, parseV2IoStat, readCgroupSample, readHostCpu, readNetDev, readOomKills } from './cgroup-stats';

function tempDir(t: { after: (fn: () => void) => void }): string {
  const dir = mkdtempSync(join(tmpdir(), 'berth-cgstats-'));
  t.after(() => rmSync(dir, { recursive: true, force: true }));
  return dir;
}

function files(dir: string, contents: Record<string, string>): void {
  mkdirSync(dir, { recursive: true });
  for (const [name, text] of Object.entries(contents)) writeFileSync(join(dir, name), text);
}

/** A hybrid-host mount table like this machine's: v1 controllers plus cgroup2 at unified. */
function mountinfo(root: string): string {
  const line = (id: number, dir: string, opts: string) => `${id} 25 0:${id} / ${root}/${dir} rw,nosuid,nodev,noexec,relatime shared:${id} - cgroup cgroup rw,${opts}`;
  return [
    line(30, 'memory', 'memory'),
    line(31, 'cpu,cpuacct', 'cpu,cpuacct'),
    line(32, 'pids', 'pids'),
    line(33, 'blkio', 'blkio'),
    line(34, 'freezer', 'freezer'),
    `35 25 0:35 / ${root}/unified rw,nosuid,nodev,noexec,relatime shared:9 - cgroup2 cgroup2 rw,nsdelegate`,
  ].join('\n');
}

test('v1: memory, cpu, pids, blkio and oom counters read from a v1-shaped tree', (t) => {
  const root = tempDir(t);
  const dirs = cgroupDirs('hybrid', '/berth/c1', root, mountinfo(root));
  assert.equal(dirs.cpuacct, join(root, 'cpu,cpuacct/berth/c1'));
  files(dirs.memory!, {
    'memory.usage_in_bytes': '4194304\n',
    'memory.max_usage_in_bytes': '8388608\n',
    'memory.limit_in_bytes': '9223372036854771712\n',
    'memory.failcnt': '3\n',
    'memory.stat': 'cache 4096\nrss 61440\ntotal_inactive_file 1024\n',
    'memory.oom_control': 'oom_kill_disable 0\nunder_oom 0\noom_kill 2\n',
    'cgroup.procs': '',
  });
  files(dirs.cpuacct!, {
    'cpuacct.usage': '5000000000\n',
    'cpuacct.usage_percpu': '3000000000 2000000000 \n',
    'cpuacct.stat': 'user 300\nsystem 150\n',
    'cpu.stat': 'nr_periods 10\nnr_throttled 4\nthrottled_time 123456\n',
  });
  files(dirs.pids!, { 'pids.current': '3\n', 'pids.max': 'max\n', 'cgroup.procs': '100\n101\n' });
  files(join(dirs.pids!, 'nested'), { 'cgroup.procs': '102\n' });
  files(dirs.blkio!, {
    'blkio.io_service_bytes_recursive': 'Total 0\n',
    'blkio.throttle.io_service_bytes_recursive': '8:0 Read 4096\n8:0 Write 8192\n8:0 Sync 0\n8:0 Async 12288\n8:0 Total 12288\nTotal 12288\n',
    'blkio.throttle.io_serviced_recursive': '8:0 Read 1\n8:0 Write 2\nTotal 3\n',
  });
  const s = readCgroupSample('hybrid', dirs);
  assert.deepEqual(s.memory, { usage: 4194304, maxUsage: 8388608, failcnt: 3, limit: undefined, stats: { cache: 4096, rss: 61440, total_inactive_file: 1024 } });
  assert.deepEqual(s.cpu, {
    total: 5_000_000_000,
    perCpu: [3_000_000_000, 2_000_000_000],
    userNs: 3_000_000_000,
    systemNs: 1_500_000_000,
    throttling: { periods: 10, throttledPeriods: 4, throttledTimeNs: 123456 },
  });
  assert.deepEqual(s.pids, { current: 3, limit: undefined });
  // The empty CFQ file falls back to the throttle counters.
  assert.deepEqual(s.blkio.serviceBytes.filter((e) => e.op === 'Read' || e.op === 'Write'), [
    { major: 8, minor: 0, op: 'Read', value: 4096 },
    { major: 8, minor: 0, op: 'Write', value: 8192 },
  ]);
  assert.equal(s.blkio.serviced.length, 2);
  assert.equal(readOomKills('hybrid', dirs), 2);
  assert.deepEqual(cgroupPids('hybrid', dirs).sort(), [100, 101, 102]);

  writeFileSync(join(dirs.memory!, 'memory.limit_in_bytes'), '67108864\n');
  writeFileSync(join(dirs.pids!, 'pids.max'), '50\n');
  const limited = readCgroupSample('v1', dirs);
  assert.equal(limited.memory.limit, 67108864);
  assert.equal(limited.pids.limit, 50);
});

test('v2: the unified files give the same sample shape', (t) => {
  const root = tempDir(t);
  const dirs = cgroupDirs('v2', '/berth/c2', root);
  files(dirs.unified!, {
    'memory.current': '2097152\n',
    'memory.max': 'max\n',
    'memory.stat': 'anon 1048576\nfile 524288\ninactive_file 4096\n',
    'memory.events': 'low 0\nhigh 0\nmax 5\noom 1\noom_kill 1\n',
    'cpu.stat': 'usage_usec 2500\nuser_usec 2000\nsystem_usec 500\nnr_periods 7\nnr_throttled 1\nthrottled_usec 30\n',
    'pids.current': '2\n',
    'pids.max': '100\n',
    'io.stat': '8:0 rbytes=1024 wbytes=2048 rios=1 wios=2 dbytes=0 dios=0\n',
    'cgroup.procs': '7\n8\n',
  });
  const s = readCgroupSample('v2', dirs);
  assert.deepEqual(s.memory, { usage: 2097152, limit: undefined, stats: { anon: 1048576, file: 524288, inactive_file: 4096 } });
  assert.deepEqual(s.cpu, { total: 2_500_000, userNs: 2_000_000, systemNs: 500_000, throttling: { periods: 7, throttledPeriods: 1, throttledTimeNs: 30_000 } });
  assert.deepEqual(s.pids, { current: 2, limit: 100 });
  assert.deepEqual(s.blkio, {
    serviceBytes: [{ major: 8, minor: 0, op: 'read', value: 1024 }, { major: 8, minor: 0, op: 'write', value: 2048 }],
    serviced: [{ major: 8, minor: 0, op: 'read', value: 1 }, { major: 8, minor: 0, op: 'write', value: 2 }],
  });
  assert.equal(readOomKills('v2', dirs), 1);
  assert.deepEqual(cgroupPids('v2', dirs), [7, 8]);
  writeFileSync(join(dirs.unified!, 'memory.max'), '33554432\n');
  writeFileSync(join(dirs.unified!, 'memory.peak'), '40000\n');
  const again = readCgroupSample('v2', dirs);
  assert.equal(again.memory.limit, 33554432);
  assert.equal(again.memory.maxUsage, 40000);
});

test('a cgroup that is gone reads as zeros, not an error', (t) => {
  const root = tempDir(t);
  for (const mode of ['v1', 'v2'] as const) {
    const dirs = mode === 'v2' ? cgroupDirs('v2', '/berth/gone', root) : cgroupDirs('v1', '/berth/gone', root, mountinfo(root));
    const s = readCgroupSample(mode, dirs);
    assert.equal(s.memory.usage, 0);
    assert.equal(s.cpu.total, 0);
    assert.equal(s.pids.current, 0);
    assert.deepEqual(s.blkio.serviceBytes, []);
    assert.equal(readOomKills(mode, dirs), 0);
    assert.deepEqual(cgroupPids(mode, dirs), []);
  }
});

test('parsers: blkio lines, io.stat, /proc/stat, /proc/net/dev', () => {
  assert.deepEqual(parseV1Blkio('253:1 Read 10\nbogus\nTotal 10\n'), [{ major: 253, minor: 1, op: 'Read', value: 10 }]);
  assert.deepEqual(parseV2IoStat('254:0 rbytes=5 wios=1\n').serviced, [{ major: 254, minor: 0, op: 'write', value: 1 }]);
  const stat = 'cpu  100 0 50 1000 10 0 5 7 0 0\ncpu0 50 0 25 500 5 0 2 3 0 0\ncpu1 50 0 25 500 5 0 3 4 0 0\nintr 1 2\n';
  // user..softirq = 1165 ticks; steal is not counted.
  assert.deepEqual(readHostCpu(stat), { systemNs: 1165 * 10_000_000, onlineCpus: 2 });
  const dev = [
    'Inter-|   Receive                                                |  Transmit',
    ' face |bytes    packets errs drop fifo frame compressed multicast|bytes    packets errs drop fifo colls carrier compressed',
    '    lo:     100       1    0    0    0     0          0         0      100       1    0    0    0     0       0          0',
    '  eth0:    2000      20    1    2    0     0          0         0     3000      30    3    4    0     0       0          0',
  ].join('\n');
  assert.deepEqual(readNetDev(dev), {
    eth0: { rx_bytes: 2000, rx_packets: 20, rx_errors: 1, rx_dropped: 2, tx_bytes: 3000, tx_packets: 30, tx_errors: 3, tx_dropped: 4 },
  });
});
