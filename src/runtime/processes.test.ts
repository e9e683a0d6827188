import { test } from 'node:test';
import assert from 'node:assert/strict';
import { errorKind } from '../common';
import { hostCpuSample, listProcesses, netDevOf, parsePsOutput } from './processes';

test('parsePsOutput: rows whose PID is in the container, the command keeps its words', () => {
  const out = 'UID   PID  PPID CMD\nroot  10   1    sh -c sleep  100\nroot  11   10   sleep 100\nroot  99   1    other\n';
  assert.deepEqual(parsePsOutput(out, new Set([10, 11])), {
    titles: ['UID', 'PID', 'PPID', 'CMD'],
    processes: [['root', '10', '1', 'sh -c sleep 100'], ['root', '11', '10', 'sleep 100']],
  });
  assert.throws(() => parsePsOutput('USER COMMAND\nroot sh\n', new Set([1])), (e: unknown) => errorKind(e) === 'invalid-argument');
});

test('listProcesses runs the host ps with the given arguments and keeps only the given pids', async () => {
  const mine = await listProcesses('-o pid,comm', new Set([process.pid]));
  assert.deepEqual(mine.titles, ['PID', 'COMMAND']);
  assert.deepEqual(mine.processes.map((p) => p[0]), [String(process.pid)]);
  assert.deepEqual((await listProcesses('-ef', new Set([-1]))).processes, [], 'no pid of the set: no rows');
  await assert.rejects(listProcesses('--no-such-ps-option', new Set([1])), (e: unknown) => {
    assert.equal(errorKind(e), 'invalid-argument');
    assert.match((e as Error).message, /^Error running ps: /);
    return true;
  });
  await assert.rejects(listProcesses('-o user,comm', new Set([1])), /Couldn't find PID field in ps output/);
});

test('host /proc readers: CPU time since boot, a live process\'s interfaces, nothing for a gone one', () => {
  const cpu = hostCpuSample();
  assert.ok(cpu.systemNs > 0 && cpu.onlineCpus > 0, JSON.stringify(cpu));
  assert.equal(typeof netDevOf(process.pid), 'object');
  assert.equal(netDevOf(0x7ffffff0), undefined);
});
