import { test } from 'node:test';
import assert from 'node:assert/strict';
import { closeSync, openSync, readFileSync, writeSync } from 'node:fs';
import type { Readable } from 'node:stream';
import { runCollected, sealedCopy, spawnPiped, spawnWith } from './index';

function text(s: Readable): Promise<string> {
  return new Promise((resolve) => {
    let out = '';
    s.on('data', (d: Buffer) => (out += d.toString()));
    s.on('close', () => resolve(out));
  });
}

test('spawnPiped: stdout, stderr and the exit code of the program', async () => {
  const p = spawnPiped('/bin/sh', ['sh', '-c', 'echo out; echo err >&2; exit 3'], { env: {} });
  const [out, err, code] = await Promise.all([text(p.stdout), text(p.stderr), p.exited]);
  assert.deepEqual([out, err, code], ['out\n', 'err\n', 3]);
  assert.ok(p.pid > 0);
});

test('spawnPiped: a child killed by a signal exits with 128 + its number', async () => {
  const p = spawnPiped('/bin/sh', ['sh', '-c', 'kill -TERM $$'], { env: {} });
  assert.equal(await p.exited, 143);
});

test('spawnPiped: exactly the given environment, stdin from /dev/null, a session of its own with setsid', async () => {
  const p = spawnPiped('/bin/sh', ['sh', '-c', 'env; readlink /proc/self/fd/0; cut -d" " -f6 /proc/self/stat; echo $$'], { env: { ONLY: 'this' }, setsid: true });
  const [out] = await Promise.all([text(p.stdout), p.exited]);
  const lines = out.trim().split('\n');
  assert.ok(lines.includes('ONLY=this'));
  assert.ok(!lines.some((l) => l.startsWith('HOME=')), out);
  assert.ok(lines.includes('/dev/null'), out);
  const [sid, self] = lines.slice(-2);
  assert.equal(sid, self, 'the shell leads its own session');
});

test('spawnPiped: every signal at its default and none blocked in the child (node ignores SIGPIPE)', async () => {
  const p = spawnPiped('/bin/sh', ['sh', '-c', 'grep -E "^Sig(Blk|Ign)" /proc/self/status'], { env: {} });
  const [out] = await Promise.all([text(p.stdout), p.exited]);
  assert.match(out, /SigBlk:\s+0+\n/);
  assert.match(out, /SigIgn:\s+0+\n/);
});

test('spawnPiped: a program that cannot be run throws its errno', () => {
  assert.throws(() => spawnPiped('/nonexistent/program', ['x'], { env: {} }), (err: NodeJS.ErrnoException) => err.code === 'ENOENT');
});

test('spawnPiped: many children at once are each reaped with their own code', async () => {
  const codes = await Promise.all(Array.from({ length: 20 }, (_, i) => spawnPiped('/bin/sh', ['sh', '-c', `exit ${i}`], { env: {} }).exited));
  assert.deepEqual(codes, Array.from({ length: 20 }, (_, i) => i));
});

test('spawnWith: /dev/null and pipes by descriptor number, an extra pipe as fd 3, the working directory', async () => {
  const p = spawnWith('/bin/sh', ['sh', '-c', 'pwd >&3; readlink /proc/self/fd/1; echo err >&2; exit 4'], ['null', 'null', 'pipe', 'pipe'], { env: {}, cwd: '/tmp' });
  assert.equal(p.pipes[0], undefined);
  assert.equal(p.pipes[1], undefined);
  const [err, three, code] = await Promise.all([text(p.pipes[2]!), text(p.pipes[3]!), p.exited]);
  assert.deepEqual([err, three, code], ['err\n', '/tmp\n', 4]);
});

test('spawnWith: a working directory that does not exist fails the spawn with its errno', () => {
  assert.throws(() => spawnWith('/bin/true', ['true'], ['null', 'null', 'null'], { env: {}, cwd: '/nonexistent/dir' }), (err: NodeJS.ErrnoException) => err.code === 'ENOENT');
});

test('sealedCopy: runs like the original and cannot be written to', async () => {
  const fd = sealedCopy('/bin/sh');
  try {
    const p = spawnPiped(`/proc/self/fd/${fd}`, ['sh', '-c', 'echo copied'], { env: {} });
    const [out, code] = await Promise.all([text(p.stdout), p.exited]);
    assert.deepEqual([out, code], ['copied\n', 0]);
    assert.deepEqual(readFileSync(`/proc/self/fd/${fd}`), readFileSync('/bin/sh'));
    assert.throws(() => {
      const w = openSync(`/proc/self/fd/${fd}`, 'r+');
      try {
        writeSync(w, 'x');
      } finally {
        closeSync(w);
      }
    }, (err: NodeJS.ErrnoException) => err.code === 'EPERM');
  } finally {
    closeSync(fd);
  }
});

test('spawnWith: a Buffer is what the child reads on that descriptor, then end of file; one larger than a pipe holds too', async () => {
  const small = spawnWith('/bin/cat', ['cat'], [Buffer.from('{"cniVersion":"1.0.0"}'), 'pipe', 'pipe'], { env: {} });
  const [out, , code] = await Promise.all([text(small.pipes[1]!), text(small.pipes[2]!), small.exited]);
  assert.deepEqual([out, code], ['{"cniVersion":"1.0.0"}', 0]);
  const big = Buffer.alloc(300 << 10, 'x');
  const large = spawnWith('/bin/sh', ['sh', '-c', 'wc -c'], [big, 'pipe', 'pipe'], { env: {} });
  const [count, , rc] = await Promise.all([text(large.pipes[1]!), text(large.pipes[2]!), large.exited]);
  assert.deepEqual([count.trim(), rc], [String(big.length), 0]);
});

test('spawnWith: a child that exits without reading its input is no error', async () => {
  const p = spawnWith('/bin/sh', ['sh', '-c', 'exit 0'], [Buffer.alloc(1 << 20), 'null', 'null'], { env: {} });
  assert.equal(await p.exited, 0);
});

test('runCollected: the input on stdin, both outputs and the exit code; argv[0] is the file', async () => {
  const r = await runCollected('/bin/sh', ['-c', 'echo "$0"; tr a-z A-Z; echo oops >&2; exit 4'], Buffer.from('netavark json'), { env: {} });
  assert.deepEqual(r, { code: 4, stdout: '/bin/sh\nNETAVARK JSON', stderr: 'oops\n' });
});

test('runCollected: a helper that hangs is killed after timeoutMs', async () => {
  const t0 = Date.now();
  const r = await runCollected('/bin/sleep', ['30'], Buffer.alloc(0), { env: {}, timeoutMs: 200 });
  assert.equal(r.code, 128 + 9);
  assert.ok(Date.now() - t0 < 10_000);
});

test('runCollected: a program that cannot be run throws its errno', () => {
  assert.throws(() => runCollected('/nonexistent/helper', [], Buffer.alloc(0), { env: {} }), { code: 'ENOENT' });
});

test('spawnWith: nice sets the child priority before the call returns', async () => {
  const p = spawnWith('/bin/sleep', ['sleep', '30'], ['null', 'null', 'null'], { env: {}, nice: 7 });
  try {
    const stat = readFileSync(`/proc/${p.pid}/stat`, 'utf8');
    assert.equal(stat.slice(stat.lastIndexOf(')') + 2).split(' ')[16], '7');
  } finally {
    process.kill(p.pid, 'SIGKILL');
  }
  assert.equal(await p.exited, 128 + 9);
});
