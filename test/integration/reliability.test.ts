/**
 * berthd killed -9 while `docker cp` copies a large directory into a running container:
 * the container keeps running, no file is visible half-written (each file under its final
 * name is whole; the temporary names berthd writes to are gone once it is back), and cp
 * works again afterwards; and killed while conmon rotates a log of several files, which it
 * does on its own. (The kill during a restart back-off is in restart-policy.test.ts.)
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { mkdirSync, readFileSync, readdirSync, statSync, writeFileSync } from 'node:fs';
import { join, relative } from 'node:path';
import { useDaemon, waitFor } from './harness';

const d = useDaemon();

/** Every file under `dir`, as paths relative to it. */
function files(dir: string, base = dir): string[] {
  const out: string[] = [];
  for (const e of readdirSync(dir, { withFileTypes: true })) {
    const p = join(dir, e.name);
    if (e.isDirectory()) out.push(...files(p, base));
    else out.push(relative(base, p));
  }
  return out;
}

test('kill -9 of berthd during a docker cp of a 100 MB directory: container runs on, no half-copied file is visible, cp works after the restart', async () => {
  const src = join(d.dir, 'big-tree');
  const fileSize = 100 * 1024;
  for (let i = 0; i < 100; i++) {
    mkdirSync(join(src, `d${i}`), { recursive: true });
    for (let j = 0; j < 10; j++) writeFileSync(join(src, `d${i}`, `f${j}`), randomBytes(fileSize));
  }
  const id = await d.dockerOk(['run', '-d', '--name', 'cp-crash', 'busybox', 'sleep', '1000']);
  const pid = (await d.inspect(id)).State.Pid as number;
  const target = `/proc/${pid}/root/tmp/big-tree`;
  const copy = d.dockerStream(['cp', src, 'cp-crash:/tmp/']);
  await waitFor('the copy to be under way', () => {
    try {
      return files(target).length >= 20;
    } catch {
      return false;
    }
  }, 30_000, 5);
  await d.kill();
  const r = await copy.done;
  assert.notEqual(r.code, 0, 'the interrupted cp fails');
  process.kill(pid, 0); // the container process lives on

  await d.start();
  assert.equal((await d.inspect(id)).State.Status, 'running');
  assert.equal((await d.inspect(id)).State.Pid, pid);
  const left = files(target);
  assert.ok(left.length < 1000, `the copy was interrupted (${left.length} files)`);
  assert.deepEqual(left.filter((f) => f.split('/').some((c) => c.startsWith('.berth-cp-'))), [], 'no temporary names are left');
  for (const f of left) {
    assert.equal(statSync(join(target, f)).size, fileSize, `${f} is whole`);
    assert.ok(readFileSync(join(target, f)).equals(readFileSync(join(src, f))), `${f} has the source's bytes`);
  }

  // cp works again, both ways, on the same container.
  await d.dockerOk(['cp', src, 'cp-crash:/tmp/again'], { timeoutMs: 120_000 });
  const copied = files(`/proc/${pid}/root/tmp/again`).sort();
  assert.equal(copied.length, 1000);
  const back = join(d.dir, 'back');
  await d.dockerOk(['cp', 'cp-crash:/tmp/again', back], { timeoutMs: 120_000 });
  for (const f of copied) assert.ok(readFileSync(join(back, f)).equals(readFileSync(join(src, f))), f);
  await d.dockerOk(['rm', '-f', id]);
});

test('kill -9 of berthd while a container writes a log that keeps three files: conmon rotates (and with compress=true gzips) on its own; once berthd is back, logs reads the files in order', async () => {
  const writer = 'i=0; while true; do i=$((i+1)); echo "down line $i ........................................"; usleep 2000; done';
  const id = await d.dockerOk(['run', '-d', '--log-opt', 'max-size=4k', '--log-opt', 'max-file=3', 'busybox', 'sh', '-c', writer]);
  const gz = await d.dockerOk(['run', '-d', '--log-opt', 'max-size=4k', '--log-opt', 'max-file=3', '--log-opt', 'compress=true', 'busybox', 'sh', '-c', writer]);
  const logPath = (await d.inspect(id)).LogPath as string;
  const gzPath = (await d.inspect(gz)).LogPath as string;
  await d.kill();
  const gzWriting = statSync(gzPath).ino;
  // With berthd gone, conmon fills the file it writes now and moves it to .1, then to .2.
  const writing = statSync(logPath).ino;
  await waitFor('two rotations while berthd is down', () => {
    try {
      return statSync(`${logPath}.2`).ino === writing;
    } catch {
      return false;
    }
  }, 30_000, 20);
  // The same with compress=true: the file it wrote then is gzipped by the time it is .2.gz.
  await waitFor('two rotations and a compression while berthd is down', () => {
    const key = /^berth-log-key:(\d+):/.exec(readFileSync(`${gzPath}.2.gz`).subarray(10, 80).toString('latin1'));
    return Number(key?.[1]) === gzWriting;
  }, 30_000, 20);
  await d.start();
  for (const c of [id, gz]) {
    const lines = (await d.dockerOk(['logs', c])).split('\n');
    const numbers = lines.map((l) => Number(/^down line (\d+) /.exec(l)?.[1]));
    assert.ok(numbers.every((n, k) => n === numbers[0]! + k), 'contiguous, oldest first');
    assert.ok(lines.length > 60, `three files' worth of lines (${lines.length})`);
  }
  for (const f of [logPath, `${logPath}.1`, `${logPath}.2`]) assert.ok(statSync(f).size <= 4096, f);
  await d.dockerOk(['rm', '-f', id, gz]);
});
