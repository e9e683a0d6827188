/**
 * Containers outlive the daemon: conmon keeps a container running and logging while berthd
 * is killed or stopped, and the next berthd on the same roots picks it up where it was.
 * Also: daemons side by side, and the pidfile rules.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { existsSync, mkdirSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { BERTHD, Daemon, GATE, httpStream, ID64, openGate, processesMentioning, run, sleep, useDaemon, waitFor, alive } from './harness';

const d = useDaemon();

/** Writes 1, 2, 3, … one a line every 100 ms; exits 3 on TERM. */
const COUNTER = 'trap "exit 3" TERM; i=0; while true; do i=$((i+1)); echo $i; sleep 0.1; done';

async function logLines(id: string): Promise<number[]> {
  const out = await d.dockerOk(['logs', id]);
  return out.split('\n').filter(Boolean).map(Number);
}

function assertConsecutive(nums: number[]): void {
  assert.ok(nums.length > 0, 'no log lines');
  for (let i = 0; i < nums.length; i++) assert.equal(nums[i], i + 1, `log line ${i + 1} is ${nums[i]} (gap or reorder) in ${nums.join(',')}`);
}

for (const how of ['SIGKILL', 'SIGTERM'] as const) {
  test(`a running container keeps running and logging while berthd is down (${how}) and is managed after the restart`, async () => {
    const name = `counter-${how.toLowerCase()}`;
    const id = await d.dockerOk(['run', '-d', '--name', name, 'busybox', 'sh', '-c', COUNTER]);
    assert.match(id, ID64);
    await waitFor('a few log lines', async () => (await logLines(id)).length >= 5);
    const pid = (await d.inspect(id)).State.Pid as number;
    assert.ok(pid > 0 && alive(pid));
    const oldDaemon = d.pid;

    if (how === 'SIGKILL') await d.kill();
    else await d.stop();
    assert.ok(!d.running(), 'berthd exited');
    if (how === 'SIGTERM') assert.ok(!existsSync(d.pidfile), 'a clean stop removes the pidfile');
    const logFile = join(d.dataRoot, 'containers', id, 'container.log');
    const linesIn = () => readFileSync(logFile, 'utf8').split('\n').filter(Boolean).length;
    const linesDown = linesIn();
    await waitFor('five more log lines while berthd is down', () => linesIn() >= linesDown + 5);
    assert.ok(alive(pid), 'the container process survived the daemon');

    await d.start();
    assert.notEqual(d.pid, oldDaemon);
    assert.equal(readFileSync(d.pidfile, 'utf8').trim(), String(d.pid));
    const ps = await d.dockerOk(['ps', '--no-trunc', '--filter', `name=${name}`, '--format', '{{.ID}} {{.Status}}']);
    assert.match(ps, new RegExp(`^${id} Up `));
    const st = (await d.inspect(id)).State;
    assert.equal(st.Running, true);
    assert.equal(st.Status, 'running');
    assert.equal(st.Pid, pid);

    const nums = await logLines(id);
    assertConsecutive(nums);
    // The lines written while nobody listened are all there.
    assert.ok(nums.length >= linesDown + 5, `only ${nums.length} lines`);

    // logs -f picks up the live stream again: more lines come than the one --tail gives.
    const f = d.dockerStream(['logs', '-f', '--tail', '1', id]);
    await waitFor('logs -f to follow new lines', () => f.output().split('\n').filter(Boolean).length >= 3);
    assert.equal((await f.stop()).signal, 'SIGKILL', 'logs -f kept following a running container');

    // wait (registered before the stop: the daemon sends its headers once it is) and stop work on the adopted container.
    const waiting = httpStream(d.sock, 'POST', `/containers/${id}/wait`);
    assert.equal(await waiting.status, 200);
    await d.dockerOk(['stop', '-t', '5', id]);
    assert.equal((await waiting.done).json.StatusCode, 3);
    assert.ok(!alive(pid));
    const after = await d.inspect(id);
    assert.equal(after.State.Status, 'exited');
    assert.equal(after.State.ExitCode, 3);
    assertConsecutive(await logLines(id));
    await d.dockerOk(['rm', id]);
  });
}

test('kill -9 of berthd during an attached run, a logs -f and an exec: the container and the exec live on, nothing is lost, attach works again', async () => {
  // An attached client: the daemon dies under it; the container does not.
  const attached = d.dockerStream(['run', '-i', '--name', 'held', 'busybox', 'sh', '-c', `echo started; ${COUNTER}`]);
  await waitFor('the attached run to print', () => attached.output().includes('started'));
  const id = await d.dockerOk(['inspect', '-f', '{{.Id}}', 'held']);
  const pid = (await d.inspect(id)).State.Pid as number;
  const follow = d.dockerStream(['logs', '-f', id]);
  await waitFor('logs -f to follow', () => follow.output().split('\n').filter(Boolean).length >= 3);
  // An exec that outlives the daemon: it writes a file after a gate the test opens later.
  const exec = d.dockerStream(['exec', id, 'sh', '-c', `${GATE}; echo exec-done > /tmp/exec-mark`]);
  const execPid = await waitFor('the exec to run', async () => {
    const top = await d.docker(['top', id, '-o', 'pid,args']);
    const line = top.stdout.split('\n').find((l) => l.includes('/tmp/gate') && !l.includes(' top '));
    return line ? Number(line.trim().split(/\s+/)[0]) : undefined;
  });

  await d.kill();
  // Each client sees its stream end; none hangs.
  await attached.done;
  await follow.done;
  await exec.done;
  assert.ok(alive(pid), 'the container survived the daemon');
  openGate(execPid as number);

  await d.start();
  assert.equal((await d.inspect(id)).State.Running, true);
  assert.equal(await d.dockerOk(['exec', id, 'cat', '/tmp/exec-mark']), 'exec-done', 'the exec ran to its end while berthd was down');
  const lines = (await d.dockerOk(['logs', id])).split('\n').filter(Boolean);
  assert.equal(lines[0], 'started');
  assertConsecutive(lines.slice(1).map(Number));
  // attach streams the running container again.
  const again = d.dockerStream(['attach', '--no-stdin', id]);
  const seen = lines.length;
  await waitFor('attach to stream new lines', () => again.output().split('\n').filter(Boolean).some((l) => Number(l) > seen));
  await again.stop();
  await d.dockerOk(['rm', '-f', id]);
});

test('containers that exited while berthd was down show their real exit code; --rm ones are removed', async () => {
  const ex = await d.dockerOk(['run', '-d', '--name', 'exits-7', 'busybox', 'sh', '-c', `${GATE}; echo done; exit 7`]);
  const rm = await d.dockerOk(['run', '-d', '--rm', '--name', 'rm-while-down', 'busybox', 'sh', '-c', `${GATE}; exit 5`]);
  const up = await d.dockerOk(['run', '-d', '--name', 'still-up', 'busybox', 'sh', '-c', COUNTER]);
  const gated = [(await d.inspect(ex)).State.Pid, (await d.inspect(rm)).State.Pid];
  await d.kill();
  for (const pid of gated) openGate(pid);
  await waitFor('the exit files', () => existsSync(join(d.execRoot, 'exits', ex)) && existsSync(join(d.execRoot, 'exits', rm)), 10_000);
  await d.start();

  const ps = await d.dockerOk(['ps', '-a', '--format', '{{.Names}} {{.Status}}']);
  const line = ps.split('\n').find((l) => l.startsWith('exits-7 '));
  assert.match(line ?? '', /^exits-7 Exited \(7\) /, ps);
  assert.match(ps, /^still-up Up /m);
  const w = await d.docker(['wait', ex]);
  assert.equal(w.code, 0, w.stderr);
  assert.equal(w.stdout, '7\n');
  const st = (await d.inspect(ex)).State;
  assert.equal(st.ExitCode, 7);
  assert.equal(st.Running, false);
  assert.notEqual(st.FinishedAt, '0001-01-01T00:00:00Z');
  assert.equal(await d.dockerOk(['logs', ex]), 'done');
  await waitFor('the --rm container to be removed', async () => {
    const r = await d.docker(['inspect', rm]);
    return r.code !== 0 && /No such/i.test(r.stderr);
  }, 10_000);
  assert.ok(!existsSync(join(d.dataRoot, 'containers', rm)), 'its directory is gone');
  await d.dockerOk(['rm', '-f', ex, up]);
});

test('berthd killed while removed containers\' files are still being deleted: nothing of them is left after the next start', async () => {
  // Many files in each upper dir, so that their deletion (after the answers) takes a while.
  const ids: string[] = [];
  for (let i = 0; i < 6; i++) {
    ids.push(await d.dockerOk(['run', '-d', '--name', `heavy-${i}`, 'busybox', 'sh', '-c', 'mkdir /many && cd /many && for i in $(seq 1500); do echo $i > f$i; done']));
  }
  for (const id of ids) await d.dockerOk(['wait', id]);
  const answers = await Promise.all(ids.map((id) => d.api('DELETE', `/containers/${id}`)));
  assert.deepEqual(answers.map((r) => r.status), ids.map(() => 204));
  await d.kill();
  const leftovers = () => {
    const found: string[] = [];
    const walk = (dir: string, depth: number) => {
      if (!existsSync(dir)) return;
      for (const e of readdirSync(dir, { withFileTypes: true })) {
        if (ids.some((id) => e.name.includes(id))) found.push(join(dir, e.name));
        if (e.isDirectory() && depth > 0) walk(join(dir, e.name), depth - 1);
      }
    };
    walk(d.dataRoot, 2);
    walk(d.execRoot, 2);
    return found;
  };
  await d.start();
  await waitFor('no file of the removed containers', () => leftovers().length === 0, 10_000).catch(() => assert.deepEqual(leftovers(), []));
  assert.equal(await d.dockerOk(['ps', '-aq', '--filter', 'name=heavy-']), '');
  assert.deepEqual(readdirSync(join(d.dataRoot, 'trash')), []);
  // The names are free.
  await d.dockerOk(['create', '--name', 'heavy-0', 'busybox', 'true']);
  await d.dockerOk(['rm', 'heavy-0']);
});

test('a container whose conmon was killed is not Up forever: its exit is recorded (255) and stop, wait and rm work', async () => {
  const conmonOf = (id: string) => Number(readFileSync(join(d.execRoot, 'containers', id, 'conmon.pid'), 'utf8'));
  // One that ends by itself after its monitor is gone, with a wait already listening.
  const ends = await d.dockerOk(['run', '-d', 'busybox', 'sh', '-c', `${GATE}; exit 4`]);
  const waiting = d.docker(['wait', ends], { timeoutMs: 20_000 });
  // One that ignores TERM, stopped after its monitor is gone.
  const stays = await d.dockerOk(['run', '-d', 'busybox', 'sh', '-c', 'trap "" TERM; while true; do sleep 0.1; done']);
  const endsPid = (await d.inspect(ends)).State.Pid;
  process.kill(conmonOf(ends), 'SIGKILL');
  process.kill(conmonOf(stays), 'SIGKILL');
  openGate(endsPid);
  const w = await waiting;
  assert.equal(w.timedOut, false, 'wait returned');
  assert.equal(w.stdout, '255\n');
  const st = (await d.inspect(ends)).State;
  assert.equal(st.Status, 'exited');
  assert.equal(st.ExitCode, 255);
  assert.match(st.Error, /monitor exited without recording an exit code/);
  assert.equal((await d.inspect(stays)).State.Running, true, 'a live process with a dead monitor is still running');
  const stop = await d.docker(['stop', '-t', '1', stays], { timeoutMs: 20_000 });
  assert.equal(stop.timedOut, false, 'stop returned');
  assert.equal(stop.code, 0, stop.stderr);
  assert.equal((await d.inspect(stays)).State.ExitCode, 255);
  await d.dockerOk(['rm', ends, stays]);
  for (const id of [ends, stays]) {
    assert.ok(!existsSync(join(d.execRoot, 'runc', id)), 'runc state removed');
    assert.ok(!readFileSync('/proc/self/mountinfo', 'utf8').includes(id), 'rootfs unmounted');
  }
});

test('berthd killed in the middle of starts: a container left Created holds nothing on the host (no runc state, conmon or mount) and starts again; a --rm one that is not running is removed at the next start, as dockerd does', async () => {
  // `docker create --rm`, never started: dockerd removes such a container when it starts.
  const createdRm = await d.dockerOk(['create', '--rm', 'busybox', 'true']);
  // Starts cut short at different moments, until one was cut between runc's create and the
  // record's save (seen on disk while berthd is down).
  const runcState = (id: string) => existsSync(join(d.execRoot, 'runc', id));
  let cut = 0;
  for (let round = 0; round < 12 && cut === 0; round++) {
    const starting = [1, 2, 3, 4, 5, 6].map((i) => d.docker(['run', '-d', '--name', `cut-${round}-${i}`, 'busybox', 'sleep', '300']));
    await sleep(150 + (round % 6) * 100);
    await d.kill();
    await Promise.all(starting);
    for (const id of readdirSync(join(d.dataRoot, 'containers'))) {
      let status = '';
      try {
        status = JSON.parse(readFileSync(join(d.dataRoot, 'containers', id, 'container.json'), 'utf8')).state.status;
      } catch {
        continue;
      }
      if (status === 'created' && runcState(id)) cut++;
    }
    await d.start();
    const ids = (await d.dockerOk(['ps', '-aq', '--no-trunc', '--filter', `name=cut-${round}-`])).split('\n').filter(Boolean);
    const all = ids.length ? JSON.parse(await d.dockerOk(['inspect', ...ids])) as { Id: string; Name: string; State: { Status: string } }[] : [];
    for (const c of all) {
      if (c.State.Status === 'created') {
        assert.ok(!runcState(c.Id), `${c.Name} is Created but runc still has it`);
        assert.deepEqual(processesMentioning(c.Id, 'conmon'), [], `${c.Name} is Created but its conmon lives`);
        assert.ok(!readFileSync('/proc/self/mountinfo', 'utf8').includes(c.Id), `${c.Name} is Created but its rootfs is mounted`);
        await d.dockerOk(['start', c.Id]);
      }
      assert.equal((await d.inspect(c.Id)).State.Status, 'running', c.Name);
      assert.ok(runcState(c.Id));
    }
    if (all.length) await d.dockerOk(['rm', '-f', ...all.map((c) => c.Id)]);
  }
  assert.ok(cut > 0, 'no start was cut between runc create and the record in 12 tries');
  const gone = await d.docker(['inspect', createdRm]);
  assert.notEqual(gone.code, 0);
  assert.match(gone.stderr, /No such/);
});

test('berthd killed while it handles a burst of exits: every container keeps its real exit code (137), none is left without one', async () => {
  const runcState = (id: string) => existsSync(join(d.execRoot, 'runc', id));
  let caught = 0;
  for (let round = 0; round < 12 && caught === 0; round++) {
    const ids: string[] = [];
    for (let i = 1; i <= 8; i++) ids.push(await d.dockerOk(['run', '-d', '--name', `burst-${round}-${i}`, 'busybox', 'sleep', '300']));
    const killing = d.docker(['kill', ...ids]);
    await sleep(20 + (round % 6) * 15);
    await d.kill();
    await killing;
    // Caught in the middle: runc's state already deleted, the record not yet saved as exited.
    for (const id of ids) {
      const rec = JSON.parse(readFileSync(join(d.dataRoot, 'containers', id, 'container.json'), 'utf8'));
      if (rec.state.status === 'running' && !runcState(id)) caught++;
    }
    await d.start();
    for (const id of ids) {
      const st = (await d.inspect(id)).State;
      // A kill that berthd's end came before: the container runs on.
      if (st.Status === 'running') assert.ok(runcState(id), id);
      else assert.deepEqual([st.Status, st.ExitCode, st.Error], ['exited', 137, ''], id);
    }
    await d.dockerOk(['rm', '-f', ...ids]);
  }
  assert.ok(caught > 0, 'berthd was never killed between an exit\'s runtime delete and its record in 12 tries');
});

test('two daemons with their own sockets and roots run side by side and do not see each other', async () => {
  const d2 = new Daemon();
  try {
    await d2.start();
    await d2.makeBusyboxImage();
    const a = await d.dockerOk(['run', '-d', '--name', 'side', 'busybox', 'sh', '-c', 'sleep 60']);
    const b = await d2.dockerOk(['run', '-d', '--name', 'side', 'busybox', 'sh', '-c', 'sleep 60']);
    assert.notEqual(a, b);
    assert.deepEqual((await d.dockerOk(['ps', '-aq', '--no-trunc'])).split('\n'), [a]);
    assert.deepEqual((await d2.dockerOk(['ps', '-aq', '--no-trunc'])).split('\n'), [b]);
    assert.equal((await d2.docker(['inspect', a])).code, 1);
    assert.equal(await d2.dockerOk(['run', '--rm', 'busybox', 'echo', 'from-2']), 'from-2');
    await d.dockerOk(['rm', '-f', 'side']);
    assert.equal((await d2.inspect('side')).State.Running, true, 'removing one daemon\'s container leaves the other\'s');
    await d2.dockerOk(['rm', '-f', 'side']);
  } finally {
    await d2.cleanup();
  }
});

test('a second berthd with the same pidfile refuses to start; a stale pidfile is replaced', async () => {
  const other = join(d.dir, 'other');
  mkdirSync(other, { recursive: true });
  const r = await run(BERTHD, ['-H', `unix://${join(other, 's.sock')}`, '--data-root', join(other, 'data'), '--exec-root', join(other, 'exec'), '--pidfile', d.pidfile], { timeoutMs: 20_000 });
  assert.equal(r.timedOut, false, 'the second daemon exits on its own');
  assert.notEqual(r.code, 0);
  assert.match(r.stderr, /pid file found, ensure berthd is not running or delete /);
  assert.ok(r.stderr.includes(d.pidfile), r.stderr);
  assert.equal(readFileSync(d.pidfile, 'utf8').trim(), String(d.pid), 'the running daemon keeps its pidfile');
  assert.ok(await d.ping());
  assert.ok(!existsSync(join(other, 's.sock')), 'the refused daemon did not take a socket');

  // A pidfile naming a process that is gone is replaced.
  const gone = await new Promise<number>((res) => {
    const p = spawn('true');
    p.on('exit', () => res(p.pid!));
  });
  const d3 = new Daemon();
  try {
    writeFileSync(d3.pidfile, `${gone}\n`);
    await d3.start();
    assert.equal(readFileSync(d3.pidfile, 'utf8').trim(), String(d3.pid));
    await d3.stop();
    assert.ok(!existsSync(d3.pidfile));
    // So is one naming a killed daemon that nobody has reaped yet (a zombie).
    // The shell starts a child that reads our pipe, then becomes `sleep`, which never reaps;
    // only then is the pipe closed, so the child ends as a zombie (the shell cannot reap it first).
    const holder = spawn('sh', ['-c', 'exec 3<&0; cat <&3 >/dev/null & echo $!; exec sleep 30 <&- 3<&-'], { stdio: ['pipe', 'pipe', 'ignore'] });
    try {
      const zombie = await new Promise<number>((res) => holder.stdout!.once('data', (c: Buffer) => res(Number(c.toString().trim()))));
      await waitFor('the shell to become sleep', () => readFileSync(`/proc/${holder.pid}/comm`, 'utf8') === 'sleep\n', 5000);
      holder.stdin!.end();
      await waitFor('the zombie', () => / Z /.test(readFileSync(`/proc/${zombie}/stat`, 'utf8')), 5000);
      writeFileSync(d3.pidfile, `${zombie}`);
      await d3.start();
      assert.equal(readFileSync(d3.pidfile, 'utf8').trim(), String(d3.pid));
    } finally {
      holder.kill('SIGKILL');
    }
  } finally {
    await d3.cleanup();
  }
});
