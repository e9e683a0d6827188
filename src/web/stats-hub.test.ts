import { test } from 'node:test';
import assert from 'node:assert/strict';
import { sampleOf } from './stats-hub';

test('a stats document becomes CPU %, memory without page cache and summed I/O', () => {
  const s = sampleOf('c1', {
    read: '2026-01-01T00:00:01Z',
    cpu_stats: { cpu_usage: { total_usage: 3_000_000 }, system_cpu_usage: 20_000_000, online_cpus: 2 },
    precpu_stats: { cpu_usage: { total_usage: 1_000_000 }, system_cpu_usage: 10_000_000 },
    memory_stats: { usage: 10_000, limit: 1_000_000, stats: { inactive_file: 4_000 } },
    networks: { eth0: { rx_bytes: 5, tx_bytes: 7 }, eth1: { rx_bytes: 1, tx_bytes: 1 } },
    blkio_stats: { io_service_bytes_recursive: [{ op: 'read', value: 100 }, { op: 'Write', value: 30 }, { op: 'read', value: 1 }, { op: 'total', value: 131 }] },
    pids_stats: { current: 3 },
  });
  assert.deepEqual(s, { id: 'c1', t: Date.parse('2026-01-01T00:00:01Z'), cpu: 40, mem: 6_000, limit: 1_000_000, rx: 6, tx: 8, br: 101, bw: 30, pids: 3 });
});

test('the first reading (no precpu) and missing sections give zeros, not NaN', () => {
  const s = sampleOf('c2', { cpu_stats: { cpu_usage: { total_usage: 5 } }, blkio_stats: { io_service_bytes_recursive: null } });
  assert.equal(s.cpu, 0);
  assert.equal(s.mem, 0);
  assert.equal(s.br + s.bw + s.rx + s.tx, 0);
  assert.ok(Number.isFinite(s.t));
});
