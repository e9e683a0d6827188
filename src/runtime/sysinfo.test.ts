import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { errorKind } from '../common';
import { detectSysInfo, discardUnsupported, sysInfoWarnings, type DiscardableResources, type SysInfo } from './sysinfo';

function tempDir(t: { after: (fn: () => void) => void }): string {
  const dir = mkdtempSync(join(tmpdir(), 'berth-sysinfo-'));
  t.after(() => rmSync(dir, { recursive: true, force: true }));
  return dir;
}

/** A cgroup v1 tree under `root` with the given files per controller, and its mountinfo text. */
function v1Tree(root: string, files: Record<string, string[]>): string {
  const lines: string[] = [];
  let n = 30;
  for (const [ctrl, names] of Object.entries(files)) {
    const dir = join(root, ctrl);
    mkdirSync(dir, { recursive: true });
    for (const f of names) {
      mkdirSync(join(dir, f, '..'), { recursive: true });
      writeFileSync(join(dir, f), '');
    }
    lines.push(`${n} 25 0:${n} / ${dir} rw,nosuid - cgroup cgroup rw,${ctrl}`);
    n++;
  }
  return lines.join('\n') + '\n';
}

const ALL_V1 = {
  memory: ['memory.limit_in_bytes', 'memory.memsw.limit_in_bytes', 'memory.soft_limit_in_bytes', 'memory.oom_control', 'memory.swappiness', 'memory.kmem.tcp.limit_in_bytes'],
  cpu: ['cpu.shares', 'cpu.cfs_quota_us', 'cpu.rt_period_us'],
  cpuset: ['cpuset.cpus'],
  pids: [],
  blkio: ['blkio.throttle.read_bps_device', 'blkio.throttle.write_bps_device', 'blkio.throttle.read_iops_device', 'blkio.throttle.write_iops_device'],
};

test('v1 without a block I/O weight file: weight unsupported, info silent about it (as dockerd on v1)', (t) => {
  const root = tempDir(t);
  const info = detectSysInfo({ root, mountinfo: v1Tree(root, ALL_V1) });
  assert.equal(info.cgroupMode, 'v1');
  assert.equal(info.blkioWeight, false);
  assert.equal(info.blkioWeightDevice, false);
  for (const k of ['memoryLimit', 'swapLimit', 'memoryReservation', 'memorySwappiness', 'oomKillDisable', 'kernelMemoryTCP', 'cpuShares', 'cpuCfs', 'cpuRealtime', 'cpuset', 'pidsLimit', 'blkioReadBpsDevice', 'blkioWriteIOpsDevice'] as const) {
    assert.equal(info[k], true, k);
  }
  assert.deepEqual(sysInfoWarnings(info), []);
});

test('v1: BFQ weight files in berth\'s parent cgroup count as weight support; plain files at the root too', (t) => {
  const root = tempDir(t);
  const bfq = detectSysInfo({ root, mountinfo: v1Tree(root, { ...ALL_V1, blkio: [...ALL_V1.blkio, 'berth/blkio.bfq.weight', 'berth/blkio.bfq.weight_device'] }) });
  assert.equal(bfq.blkioWeight, true);
  assert.equal(bfq.blkioWeightDevice, true);
  const root2 = tempDir(t);
  const plain = detectSysInfo({ root: root2, mountinfo: v1Tree(root2, { ...ALL_V1, blkio: [...ALL_V1.blkio, 'blkio.weight'] }) });
  assert.equal(plain.blkioWeight, true);
  assert.equal(plain.blkioWeightDevice, false);
});

test('v1: missing controllers and files are reported in dockerd\'s info words', (t) => {
  const root = tempDir(t);
  const info = detectSysInfo({ root, mountinfo: v1Tree(root, { memory: ['memory.soft_limit_in_bytes'], cpu: ['cpu.shares'] }) });
  assert.equal(info.memoryLimit, true);
  assert.equal(info.pidsLimit, false);
  assert.deepEqual(sysInfoWarnings(info), [
    'WARNING: No swap limit support',
    'WARNING: No kernel memory TCP limit support',
    'WARNING: No oom kill disable support',
    'WARNING: No cpu cfs quota support',
    'WARNING: No cpu cfs period support',
    'WARNING: No cpuset support',
    'WARNING: No blkio throttle.read_bps_device support',
    'WARNING: No blkio throttle.write_bps_device support',
    'WARNING: No blkio throttle.read_iops_device support',
    'WARNING: No blkio throttle.write_iops_device support',
  ]);
});

test('v2: controllers of the root decide; swap from the daemon\'s own cgroup', (t) => {
  const root = tempDir(t);
  writeFileSync(join(root, 'cgroup.controllers'), 'cpuset cpu memory pids\n');
  mkdirSync(join(root, 'system.slice'));
  writeFileSync(join(root, 'system.slice', 'memory.swap.max'), 'max\n');
  const info = detectSysInfo({ root, selfCgroup: '0::/system.slice\n' });
  assert.equal(info.cgroupMode, 'v2');
  assert.equal(info.swapLimit, true);
  assert.equal(info.memorySwappiness, false);
  assert.equal(info.blkioWeight, false);
  assert.deepEqual(sysInfoWarnings(info), [
    'WARNING: No io.weight support',
    'WARNING: No io.weight (per device) support',
    'WARNING: No io.max (rbps) support',
    'WARNING: No io.max (wbps) support',
    'WARNING: No io.max (riops) support',
    'WARNING: No io.max (wiops) support',
  ]);
  assert.equal(detectSysInfo({ root, selfCgroup: '0::/elsewhere\n' }).swapLimit, false);
});

const none: SysInfo = {
  cgroupMode: 'v1', memoryLimit: false, swapLimit: false, memoryReservation: false, memorySwappiness: false, oomKillDisable: false,
  kernelMemoryTCP: false, cpuShares: false, cpuCfs: false, cpuRealtime: false, cpuset: false, pidsLimit: false, blkioWeight: false,
  blkioWeightDevice: false, blkioReadBpsDevice: false, blkioWriteBpsDevice: false, blkioReadIOpsDevice: false, blkioWriteIOpsDevice: false,
};

test('discardUnsupported resets each limit the host lacks and says so in dockerd\'s words', () => {
  const r: DiscardableResources = {
    memory: 64 << 20, memorySwap: 128 << 20, memoryReservation: 32 << 20, memorySwappiness: 10, oomKillDisable: true, pidsLimit: 10,
    cpuShares: 512, cpuPeriod: 50000, cpuQuota: 20000, cpusetCpus: '0', blkioWeight: 300, blkioWeightDevice: [{}], blkioDeviceReadBps: [{}],
    blkioDeviceWriteBps: [{}], blkioDeviceReadIOps: [{}], blkioDeviceWriteIOps: [{}],
  };
  assert.deepEqual(discardUnsupported(r, none), [
    'Your kernel does not support memory limit capabilities or the cgroup is not mounted. Limitation discarded.',
    'Your kernel does not support memory swappiness capabilities or the cgroup is not mounted. Memory swappiness discarded.',
    'Your kernel does not support memory soft limit capabilities or the cgroup is not mounted. Limitation discarded.',
    'Your kernel does not support OomKillDisable. OomKillDisable discarded.',
    'Your kernel does not support PIDs limit capabilities or the cgroup is not mounted. PIDs limit discarded.',
    'Your kernel does not support CPU shares or the cgroup is not mounted. Shares discarded.',
    'Your kernel does not support CPU CFS scheduler. CPU period/quota discarded.',
    'Your kernel does not support cpuset or the cgroup is not mounted. Cpuset discarded.',
    'Your kernel does not support Block I/O weight or the cgroup is not mounted. Weight discarded.',
    'Your kernel does not support Block I/O weight_device or the cgroup is not mounted. Weight-device discarded.',
    'Your kernel does not support BPS Block I/O read limit or the cgroup is not mounted. Block I/O BPS read limit discarded.',
    'Your kernel does not support BPS Block I/O write limit or the cgroup is not mounted. Block I/O BPS write limit discarded.',
    'Your kernel does not support IOPS Block read limit or the cgroup is not mounted. Block I/O IOPS read limit discarded.',
    'Your kernel does not support IOPS Block write limit or the cgroup is not mounted. Block I/O IOPS write limit discarded.',
  ]);
  assert.deepEqual(r, {
    memory: 0, memorySwap: -1, memoryReservation: 0, memorySwappiness: null, oomKillDisable: null, pidsLimit: null, cpuShares: 0,
    cpuPeriod: 0, cpuQuota: 0, cpusetCpus: '', cpusetMems: '', blkioWeight: 0, blkioWeightDevice: [], blkioDeviceReadBps: [],
    blkioDeviceWriteBps: [], blkioDeviceReadIOps: [], blkioDeviceWriteIOps: [],
  });
});

test('discardUnsupported: memory kept without swap; silent for defaults; NanoCpus without CFS refused', () => {
  const swapless = { ...none, memoryLimit: true, oomKillDisable: true };
  const r: DiscardableResources = { memory: 64 << 20, oomKillDisable: false, pidsLimit: 0, memorySwappiness: -1 };
  assert.deepEqual(discardUnsupported(r, swapless), ['Your kernel does not support swap limit capabilities or the cgroup is not mounted. Memory limited without swap.']);
  assert.equal(r.memory, 64 << 20);
  assert.equal(r.memorySwap, -1);
  assert.equal(r.pidsLimit, null);
  assert.deepEqual(discardUnsupported({ oomKillDisable: true }, swapless), ['OOM killer is disabled for the container, but no memory limit is set, this can result in the system running out of resources.']);
  const full = Object.fromEntries(Object.entries(none).map(([k, v]) => [k, typeof v === 'boolean' ? true : v])) as unknown as SysInfo;
  const kept: DiscardableResources = { memory: 64 << 20, blkioWeight: 300, cpuShares: 2 };
  assert.deepEqual(discardUnsupported(kept, full), []);
  assert.deepEqual(kept, { memory: 64 << 20, blkioWeight: 300, cpuShares: 2 });
  assert.throws(() => discardUnsupported({ nanoCpus: 5e8 }, none), (e: unknown) => errorKind(e) === 'invalid-argument' && /NanoCPUs can not be set/.test((e as Error).message));
});
