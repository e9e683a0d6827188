import { test } from 'node:test';
import assert from 'node:assert/strict';
import { statsRow } from './stats';
import { eventLine } from './events';
import { updateBody } from './update';

test('stats row: CPU % over precpu, memory without inactive file, docker units', () => {
  const row = statsRow('web', {
    id: 'a'.repeat(64),
    name: '/web',
    cpu_stats: { cpu_usage: { total_usage: 1_500_000_000 }, system_cpu_usage: 4_000_000_000, online_cpus: 2 },
    precpu_stats: { cpu_usage: { total_usage: 1_000_000_000 }, system_cpu_usage: 2_000_000_000 },
    memory_stats: { usage: 2 * 1024 * 1024 + 4096, limit: 64 * 1024 * 1024, stats: { total_inactive_file: 4096 } },
    networks: { eth0: { rx_bytes: 1500, tx_bytes: 0 } },
    blkio_stats: { io_service_bytes_recursive: [{ op: 'Read', value: 4096 }, { op: 'write', value: 2_000_000 }, { op: 'Total', value: 1 }] },
    pids_stats: { current: 3 },
  }, true);
  assert.deepEqual(row, {
    Container: 'web',
    ID: 'a'.repeat(12),
    Name: 'web',
    CPUPerc: '50.00%',
    MemUsage: '2MiB / 64MiB',
    MemPerc: '3.13%',
    NetIO: '1.5kB / 0B',
    BlockIO: '4.1kB / 2MB',
    PIDs: '3',
  });
  const stopped = statsRow('x', { id: 'b'.repeat(64), name: '/x', memory_stats: {}, pids_stats: {} }, false);
  assert.equal(stopped.MemUsage, '0B / 0B');
  assert.equal(stopped.CPUPerc, '0.00%');
  assert.equal(stopped.ID, 'b'.repeat(64));
});

test('event line as docker prints it', () => {
  const e = { Type: 'container', Action: 'start', Actor: { ID: 'abc', Attributes: { name: 'web', image: 'busybox' } }, time: 1700000000, timeNano: 0 };
  assert.equal(eventLine(e, '1700000000000000042'), '2023-11-14T22:13:20.000000042Z container start abc (image=busybox, name=web)\n');
});

test('update flags → UpdateConfig', () => {
  const b = updateBody({ memory: '64m', memorySwap: '-1', cpus: '1.5', pidsLimit: '20', restart: 'on-failure:2' });
  assert.equal(b.Memory, 64 * 1024 * 1024);
  assert.equal(b.MemorySwap, -1);
  assert.equal(b.NanoCpus, 1_500_000_000);
  assert.equal(b.PidsLimit, 20);
  assert.deepEqual(b.RestartPolicy, { Name: 'on-failure', MaximumRetryCount: 2 });
  assert.equal(updateBody({}).CpuShares, 0);
  assert.equal('PidsLimit' in updateBody({}), false);
});
