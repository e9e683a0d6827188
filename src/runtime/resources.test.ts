import { test } from 'node:test';
import assert from 'node:assert/strict';
import { errorKind } from '../common';
import { buildResources, parseCpusetList, updateResources, validateResources, type HostCpuset, type ResourceOptions } from './resources';

const HOST: HostCpuset = { cpus: '0-3', mems: '0', ncpu: 4 };
const MB = 1024 * 1024;

function refused(r: ResourceOptions, message: string, kind = 'invalid-argument', update = false): void {
  assert.throws(() => validateResources(r, HOST, { update }), (err: unknown) => {
    assert.equal((err as Error).message, message);
    assert.equal(errorKind(err), kind);
    return true;
  });
}

test('dockerd\'s memory rules and messages', () => {
  refused({ memory: 1 * MB }, 'Minimum memory limit allowed is 6MB');
  refused({ memory: -5 }, 'Minimum memory limit allowed is 6MB');
  refused({ memory: 64 * MB, memorySwap: 32 * MB }, 'Minimum memoryswap limit should be larger than memory limit, see usage');
  refused({ memorySwap: 64 * MB }, 'You should always set the Memory limit when using Memoryswap limit, see usage');
  // An update may raise swap alone: the memory limit is the one already set.
  validateResources({ memorySwap: 64 * MB }, HOST, { update: true });
  refused({ memorySwappiness: 101 }, 'Invalid value: 101, valid memory swappiness range is 0-100');
  validateResources({ memorySwappiness: -1 }, HOST);
  refused({ memoryReservation: 1 * MB }, 'Minimum memory reservation allowed is 6MB');
  refused({ memory: 16 * MB, memoryReservation: 32 * MB }, 'Minimum memory limit can not be less than memory reservation limit, see usage');
  refused({ memory: 1.5 * MB * 10 + 0.5 }, 'invalid Memory 15728640.5: it must be a whole number');
  refused({ memorySwap: -2 }, 'invalid MemorySwap -2: it must be a whole number of at least -1');
});

test('dockerd\'s cpu rules and messages', () => {
  refused({ nanoCpus: 1e9, cpuPeriod: 100000 }, 'Conflicting options: Nano CPUs and CPU Period cannot both be set');
  refused({ nanoCpus: 1e9, cpuQuota: 50000 }, 'Conflicting options: Nano CPUs and CPU Quota cannot both be set');
  refused({ nanoCpus: 5e9 }, 'range of CPUs is from 0.01 to 4.00, as there are only 4 CPUs available');
  refused({ nanoCpus: -1 }, 'range of CPUs is from 0.01 to 4.00, as there are only 4 CPUs available');
  refused({ cpuPeriod: 999 }, 'CPU cfs period can not be less than 1ms (i.e. 1000) or larger than 1s (i.e. 1000000)');
  refused({ cpuPeriod: 1_000_001 }, 'CPU cfs period can not be less than 1ms (i.e. 1000) or larger than 1s (i.e. 1000000)');
  refused({ cpuQuota: 999 }, 'CPU cfs quota can not be less than 1ms (i.e. 1000)');
  validateResources({ cpuQuota: -1, cpuPeriod: 1000, cpuShares: 2 }, HOST);
  refused({ blkioWeight: 5 }, 'Range of blkio weight is from 10 to 1000');
  refused({ blkioWeight: 1001 }, 'Range of blkio weight is from 10 to 1000');
});

test('cpuset lists: syntax, availability and the size bound', () => {
  refused({ cpusetCpus: 'a-b' }, 'Invalid value a-b for cpuset cpus: invalid format: a-b');
  refused({ cpusetCpus: '3-1' }, 'Invalid value 3-1 for cpuset cpus: invalid format: 3-1');
  refused({ cpusetCpus: '0,,1' }, 'Invalid value 0,,1 for cpuset cpus: invalid format: 0,,1');
  refused({ cpusetMems: '0-' }, 'Invalid value 0- for cpuset mems: invalid format: 0-');
  refused({ cpusetCpus: '0-4' }, 'Requested CPUs are not available - requested 0-4, available: 0-3');
  refused({ cpusetMems: '1' }, 'Requested memory nodes are not available - requested 1, available: 0');
  // CVE-2018-20699: a huge range is refused before it is expanded.
  refused({ cpusetMems: '1-9223372036854775807' }, 'Invalid value 1-9223372036854775807 for cpuset mems: value of out range, maximum is 8192');
  validateResources({ cpusetCpus: '0-1,3,3-3', cpusetMems: '0' }, HOST);
  assert.deepEqual([...parseCpusetList('0-2,7,03')].sort(), [0, 1, 2, 3, 7]);
});

test('buildResources leaves out unset values and turns NanoCpus into a quota', () => {
  assert.deepEqual(buildResources({}), {});
  assert.deepEqual(buildResources({ memory: 0, pidsLimit: -1, memorySwappiness: -1, cpusetCpus: '' }), {});
  assert.deepEqual(
    buildResources({
      memory: 64 * MB, memorySwap: -1, memorySwappiness: 0, oomKillDisable: true, nanoCpus: 1.5e9, cpusetCpus: '0', pidsLimit: 10,
      blkioWeight: 300, throttleReadBpsDevice: [{ major: 8, minor: 0, rate: 1024 }],
    }),
    {
      memory: { limit: 64 * MB, swap: -1, swappiness: 0, disableOOMKiller: true },
      cpu: { period: 100000, quota: 150000, cpus: '0' },
      pids: { limit: 10 },
      blockIO: { weight: 300, throttleReadBpsDevice: [{ major: 8, minor: 0, rate: 1024 }] },
    },
  );
});

test('updateResources: zero keeps, conflicts are 409 with dockerd\'s words', () => {
  const current: ResourceOptions = { memory: 64 * MB, memorySwap: 0, nanoCpus: 5e8, cpuShares: 512 };
  const { merged, oci } = updateResources(current, { memory: 100 * MB, memorySwap: 0, cpuShares: 0, pidsLimit: 0 }, HOST);
  assert.equal(merged.memory, 100 * MB);
  assert.equal(merged.cpuShares, 512);
  // The default swap (twice the old memory, 128m) allows 100m; runc gets the full set.
  assert.deepEqual(oci, { memory: { limit: 100 * MB, swap: 200 * MB }, cpu: { shares: 512, period: 100000, quota: 50000 }, pids: { limit: -1 } });

  const conflictWith = (change: ResourceOptions, message: string, from = current) =>
    assert.throws(() => updateResources(from, change, HOST), (err: unknown) => {
      assert.equal((err as Error).message, message);
      assert.equal(errorKind(err), 'conflict');
      return true;
    });
  conflictWith({ memory: 256 * MB }, 'Memory limit should be smaller than already set memoryswap limit, update the memoryswap at the same time');
  conflictWith({ memory: 64 * MB }, 'Memory limit should be smaller than already set memoryswap limit, update the memoryswap at the same time', {});
  conflictWith({ cpuPeriod: 50000 }, 'Conflicting options: CPU Period cannot be updated as NanoCPUs has already been set');
  conflictWith({ cpuQuota: 50000 }, 'Conflicting options: CPU Quota cannot be updated as NanoCPUs has already been set');
  conflictWith({ nanoCpus: 1e9 }, 'Conflicting options: Nano CPUs cannot be updated as CPU Period has already been set', { cpuPeriod: 100000 });
  conflictWith({ nanoCpus: 1e9 }, 'Conflicting options: Nano CPUs cannot be updated as CPU Quota has already been set', { cpuQuota: 50000 });
  // The change itself is validated first, then the merge as a whole.
  assert.throws(() => updateResources(current, { blkioWeight: 5 }, HOST), { message: 'Range of blkio weight is from 10 to 1000' });
  assert.throws(() => updateResources(current, { memoryReservation: 80 * MB }, HOST), {
    message: 'Minimum memory limit can not be less than memory reservation limit, see usage',
  });
  assert.deepEqual(updateResources({}, { memory: 64 * MB, memorySwap: 128 * MB }, HOST).merged, { memory: 64 * MB, memorySwap: 128 * MB });
});
