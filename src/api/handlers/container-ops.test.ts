import { test } from 'node:test';
import assert from 'node:assert/strict';
import { errorKind } from '../../common';
import type { ContainerStatsSample } from '../../engine';
import { eventJSON, statsJSON, updateOptions } from './container-ops';

const sample = (over: Partial<ContainerStatsSample> = {}): ContainerStatsSample => ({
  id: 'c'.repeat(64),
  name: 'web',
  read: new Date('2024-01-01T00:00:01Z'),
  running: true,
  systemCpuNs: 2_000_000_000,
  onlineCpus: 2,
  cgroup: {
    memory: { usage: 1000, maxUsage: 2000, failcnt: 0, limit: undefined, stats: { total_inactive_file: 100 } },
    cpu: { total: 500, perCpu: [300, 200], userNs: 400, systemNs: 100, throttling: { periods: 1, throttledPeriods: 0, throttledTimeNs: 0 } },
    pids: { current: 2, limit: 10 },
    blkio: { serviceBytes: [{ major: 8, minor: 0, op: 'Read', value: 7 }], serviced: [] },
  },
  ...over,
});

test('stats: Docker shape, machine memory as the limit when unlimited, precpu from the previous sample', () => {
  const pre = sample({ read: new Date('2024-01-01T00:00:00Z'), systemCpuNs: 1_000_000_000 });
  const j = statsJSON(sample(), pre, 4096) as any;
  assert.equal(j.name, '/web');
  assert.equal(j.read, '2024-01-01T00:00:01.000Z');
  assert.equal(j.preread, '2024-01-01T00:00:00.000Z');
  assert.deepEqual(j.pids_stats, { current: 2, limit: 10 });
  assert.deepEqual(j.memory_stats, { usage: 1000, max_usage: 2000, stats: { total_inactive_file: 100 }, failcnt: 0, limit: 4096 });
  assert.deepEqual(j.cpu_stats.cpu_usage, { total_usage: 500, percpu_usage: [300, 200], usage_in_kernelmode: 100, usage_in_usermode: 400 });
  assert.equal(j.precpu_stats.system_cpu_usage, 1_000_000_000);
  assert.equal(j.blkio_stats.io_service_bytes_recursive.length, 1);
  assert.equal(j.blkio_stats.io_serviced_recursive, null);
  assert.equal('networks' in j, false);
  const first = statsJSON(sample(), undefined, 4096) as any;
  assert.equal(first.preread, '0001-01-01T00:00:00Z');
  assert.equal(first.precpu_stats.cpu_usage.total_usage, 0);
  const limited = sample();
  limited.cgroup!.memory.limit = 1024;
  assert.equal((statsJSON(limited, undefined, 4096) as any).memory_stats.limit, 1024);
});

test('stats of a stopped container are zeros with the name and id', () => {
  const j = statsJSON(sample({ running: false, cgroup: undefined }), undefined, 4096) as any;
  assert.equal(j.read, '0001-01-01T00:00:00Z');
  assert.deepEqual(j.memory_stats, {});
  assert.deepEqual(j.pids_stats, {});
  assert.equal(j.cpu_stats.cpu_usage.total_usage, 0);
  assert.equal(j.id, 'c'.repeat(64));
});

test('events: Docker message shape with integer nanosecond times', () => {
  const line = eventJSON({ type: 'container', action: 'die', id: 'abc', attributes: { image: 'busybox', exitCode: '0' }, timeNano: 1700000000123456789n });
  assert.ok(line.endsWith('\n'));
  assert.match(line, /"time":1700000000,"timeNano":1700000000123456789}/);
  const v = JSON.parse(line);
  assert.equal(v.status, 'die');
  assert.equal(v.from, 'busybox');
  assert.deepEqual(v.Actor, { ID: 'abc', Attributes: { image: 'busybox', exitCode: '0' } });
  assert.equal(v.scope, 'local');
});

test('update body: fields typed, empty restart policy means unchanged', () => {
  const o = updateOptions({ Memory: 1, CpusetCpus: '', RestartPolicy: { Name: '', MaximumRetryCount: 0 }, PidsLimit: null });
  assert.equal(o.memory, 1);
  assert.equal(o.cpusetCpus, undefined);
  assert.equal(o.restartPolicy, undefined);
  assert.equal(o.pidsLimit, undefined);
  assert.deepEqual(updateOptions({ RestartPolicy: { Name: 'always' } }).restartPolicy, { name: 'always', maximumRetryCount: 0 });
  assert.throws(() => updateOptions({ Memory: '1g' }), (e: unknown) => errorKind(e) === 'invalid-argument' && /Memory/.test((e as Error).message));
});
