/**
 * Interactive I/O through the real docker CLI: stdin for run -i, attach and
 * start -ai (conmon's attach socket), TTYs and their size (conmon's ctl fifo),
 * and docker exec (conmon --exec).
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { DOCKER, GATE_FILE, openGate, rawSocket, run, useDaemon, waitFor } from './harness';

const d = useDaemon();

/**
 * Runs a docker command line inside a pseudo-terminal of the given size (util-linux
 * script). `keys` are typed a second later, once the CLI has the terminal in raw mode,
 * as a person would type them.
 */
function dockerInPty(rows: number, cols: number, args: string, keys?: string) {
  const cmd = `stty rows ${rows} cols ${cols}; exec ${DOCKER} -H ${d.host} ${args}`;
  if (keys === undefined) return run('script', ['-qefc', cmd, '/dev/null'], { env: d.env(), timeoutMs: 30_000 });
  const quote = (s: string) => `'${s.replace(/'/g, `'\\''`)}'`;
  return run('sh', ['-c', `(sleep 1; printf %s ${quote(keys)}) | script -qefc ${quote(cmd)} /dev/null`], { env: d.env(), timeoutMs: 30_000 });
}

const clean = (s: string) => s.replace(/\r/g, '').replace(/\0/g, '').replace(/\^@/g, '');

test('run -i: piped stdin reaches the container and EOF ends it (StdinOnce)', async () => {
  const r = await d.docker(['run', '-i', '--name', 'cat1', 'busybox', 'cat'], { input: 'a\nb\nc\n' });
  assert.equal(r.code, 0, r.stderr);
  assert.equal(r.stdout, 'a\nb\nc\n');
  assert.equal(await d.dockerOk(['inspect', '-f', '{{.State.Status}} {{.State.ExitCode}} {{.Config.OpenStdin}} {{.Config.StdinOnce}}', 'cat1']), 'exited 0 true true');

  const r2 = await d.docker(['run', '-i', '--rm', 'busybox', 'sh', '-c', 'read x; echo got $x'], { input: 'hi\n' });
  assert.equal(r2.code, 0, r2.stderr);
  assert.equal(r2.stdout, 'got hi\n');
});

test('run -i: a megabyte of stdin arrives whole', async () => {
  const input = Buffer.alloc(1 << 20, 'x');
  const r = await d.docker(['run', '-i', '--rm', 'busybox', 'wc', '-c'], { input, timeoutMs: 60_000 });
  assert.equal(r.code, 0, r.stderr);
  assert.equal(r.stdout.trim(), String(1 << 20));
});

test('run without -i: the container gets no stdin and does not wait for it', async () => {
  const r = await d.docker(['run', '--rm', 'busybox', 'sh', '-c', 'cat; echo done'], { input: 'ignored\n' });
  assert.equal(r.code, 0, r.stderr);
  assert.equal(r.stdout, 'done\n');
});

test('run -it and run -t: the TTY starts with the terminal size of the client', async () => {
  const r = await dockerInPty(33, 77, 'run -it --rm busybox busybox stty size');
  assert.equal(r.code, 0, r.stdout + r.stderr);
  assert.match(clean(r.stdout), /^33 77$/m);
  const r2 = await dockerInPty(21, 95, 'run -t --rm busybox sh -c "busybox tty; busybox stty size"');
  assert.equal(r2.code, 0, r2.stdout + r2.stderr);
  assert.match(clean(r2.stdout), /^\/dev\/pts\/\d+$/m);
  assert.match(clean(r2.stdout), /^21 95$/m);
});

test('run -it: keystrokes go through the TTY and its exit code comes back', async () => {
  const r = await dockerInPty(24, 80, 'run -it --rm busybox sh -c "read x; echo got-\\$x; exit 6"', 'typed\r');
  assert.equal(r.code, 6, r.stdout + r.stderr);
  assert.match(clean(r.stdout), /got-typed/);
});

test('POST /containers/{id}/resize reaches the running TTY', async () => {
  await d.dockerOk(['run', '-dit', '--name', 'tty1', 'busybox', 'sh']);
  const res = await d.api('POST', '/v1.45/containers/tty1/resize?h=40&w=100');
  assert.equal(res.status, 200, res.body);
  await waitFor('the TTY to take the new size', async () => (await d.dockerOk(['exec', 'tty1', 'busybox', 'stty', '-F', '/proc/1/fd/0', 'size'])) === '40 100', 5_000);
  const bad = await d.api('POST', '/v1.45/containers/tty1/resize?h=x&w=1');
  assert.equal(bad.status, 400);
  await d.dockerOk(['rm', '-f', 'tty1']);
});

test('attach: output of a running container, then its exit code', async () => {
  // Dots until the gate opens: once one comes through, attach is live, and what follows must too.
  await d.dockerOk(['run', '-d', '--name', 'att1', 'busybox', 'sh', '-c', `until [ -e ${GATE_FILE} ]; do echo .; sleep 0.1; done; echo late; echo oops >&2; exit 3`]);
  const attach = d.dockerStream(['attach', 'att1']);
  await waitFor('output through attach', () => attach.output().includes('.\n'));
  openGate((await d.inspect('att1')).State.Pid);
  const r = await attach.done;
  assert.equal(r.code, 3, r.stderr);
  assert.match(r.stdout, /^(\.\n)+late\n$/);
  assert.equal(r.stderr, 'oops\n');
  // An attach event, as dockerd sends one.
  const events = await d.dockerOk(['events', '--since', '60s', '--until', String(Math.floor(Date.now() / 1000) + 1), '--filter', 'container=att1', '--filter', 'event=attach', '--format', '{{.Action}} {{.Actor.Attributes.name}}']);
  assert.equal(events, 'attach att1');
  // A paused container cannot be attached to: the CLI says so itself, the API with a 409 in dockerd's words.
  await d.dockerOk(['run', '-d', '--name', 'att-paused', 'busybox', 'sleep', '600']);
  await d.dockerOk(['pause', 'att-paused']);
  const paused = await d.docker(['attach', 'att-paused']);
  assert.equal(paused.code, 1);
  assert.match(paused.stderr, /You cannot attach to a paused container, unpause it first/);
  const api = await d.api('POST', '/containers/att-paused/attach?stream=1&stdout=1');
  assert.equal(api.status, 409);
  assert.equal(api.json.message, 'container att-paused is paused, unpause the container before attach');
  await d.dockerOk(['rm', '-f', 'att-paused']);
});

test('attach: stdin of a container created with -i', async () => {
  await d.dockerOk(['run', '-di', '--name', 'att2', 'busybox', 'sh', '-c', 'while read l; do echo "got $l"; [ "$l" = quit ] && exit 4; done']);
  const r = await d.docker(['attach', 'att2'], { input: 'one\nquit\n' });
  assert.equal(r.code, 4, r.stderr);
  assert.equal(r.stdout, 'got one\ngot quit\n');
});

test('attach: a client that closes its input leaves the stdin of a non-StdinOnce container open', async () => {
  await d.dockerOk(['run', '-di', '--name', 'att3', 'busybox', 'sh', '-c', 'while read l; do echo "got $l"; [ "$l" = quit ] && exit 5; done']);
  // Raw API: attach with stdin, send a line, half-close, hang up; the container runs on.
  const req = 'POST /v1.45/containers/att3/attach?stream=1&stdin=1&stdout=1&stderr=1 HTTP/1.1\r\nHost: berth\r\nConnection: Upgrade\r\nUpgrade: tcp\r\nContent-Length: 0\r\n\r\n';
  const first = await rawSocket(d.sock, req + 'first\n', { half: true, until: /got first\n$/, waitMs: 15_000 });
  assert.match(first, /^HTTP\/1.1 101 /);
  assert.match(first, /got first\n$/);
  assert.equal(await d.dockerOk(['inspect', '-f', '{{.State.Running}}', 'att3']), 'true');
  const r = await d.docker(['attach', 'att3'], { input: 'quit\n' });
  assert.equal(r.code, 5, r.stderr);
  assert.equal(r.stdout, 'got quit\n');
});

test('start -ai: stdin and output of a created container', async () => {
  await d.dockerOk(['create', '-i', '--name', 'sai', 'busybox', 'sh', '-c', 'read x; echo start-got $x; exit 2']);
  const r = await d.docker(['start', '-ai', 'sai'], { input: 'zzz\n' });
  assert.equal(r.code, 2, r.stderr);
  assert.equal(r.stdout, 'start-got zzz\n');
});

test('exec: runs in the container\'s namespaces and cgroup, exit code and streams pass through', async () => {
  await d.dockerOk(['run', '-d', '--name', 'ex1', 'busybox', 'sleep', '600']);
  const ps = await d.dockerOk(['exec', 'ex1', 'ps']);
  assert.match(ps, /^\s*1 root\s+sleep 600$/m);
  const ns = await d.dockerOk(['exec', 'ex1', 'sh', '-c', 'for n in pid mnt net uts ipc; do [ "$(readlink /proc/self/ns/$n)" = "$(readlink /proc/1/ns/$n)" ] || echo "$n differs"; done; [ "$(cat /proc/self/cgroup)" = "$(cat /proc/1/cgroup)" ] || echo cgroup differs; echo checked']);
  assert.equal(ns, 'checked');
  const r = await d.docker(['exec', 'ex1', 'sh', '-c', 'echo out; echo err >&2; exit 3']);
  assert.equal(r.code, 3);
  assert.equal(r.stdout, 'out\n');
  assert.equal(r.stderr, 'err\n');
  const nf = await d.docker(['exec', 'ex1', 'no-such-binary']);
  // dockerd (since 23) reads an exec's start error as it reads run's: a missing binary is 127.
  assert.equal(nf.code, 127);
  assert.match(nf.stdout + nf.stderr, /executable file not found/);
});

test('exec -i, -e, -w, -u, --privileged, -d', async () => {
  await d.dockerOk(['run', '-d', '--name', 'ex2', '-e', 'KEEP=1', 'busybox', 'sleep', '600']);
  const cat = await d.docker(['exec', '-i', 'ex2', 'sh', '-c', 'cat; echo end'], { input: 'piped\n' });
  assert.equal(cat.code, 0, cat.stderr);
  assert.equal(cat.stdout, 'piped\nend\n');
  // The groups start with the user's primary group, as in the container's own process.
  assert.equal(await d.dockerOk(['exec', '-u', 'nobody', 'ex2', 'id']), 'uid=65534(nobody) gid=65534(nogroup) groups=65534(nogroup)');
  assert.equal(await d.dockerOk(['exec', '-u', '1234:5678', 'ex2', 'id', '-G']), '5678');
  const env = await d.dockerOk(['exec', '-e', 'FOO=bar', '-w', '/tmp', '-u', '65534:65534', 'ex2', 'sh', '-c', 'echo $FOO $KEEP; pwd; id -u; id -g']);
  assert.equal(env, 'bar 1\n/tmp\n65534\n65534');
  const capOf = async (args: string[]) => BigInt('0x' + (await d.dockerOk(['exec', ...args, 'ex2', 'sh', '-c', 'grep CapEff /proc/self/status'])).split(/\s+/)[1]);
  const normal = await capOf([]);
  const privileged = await capOf(['--privileged']);
  assert.equal(normal & (1n << 21n), 0n, 'CAP_SYS_ADMIN without --privileged');
  assert.notEqual(privileged & (1n << 21n), 0n, 'CAP_SYS_ADMIN with --privileged');
  await d.dockerOk(['exec', '-d', 'ex2', 'sh', '-c', 'sleep 0.3; echo bg > /tmp/detached']);
  await waitFor('the detached exec to write its file', async () => (await d.docker(['exec', 'ex2', 'cat', '/tmp/detached'])).stdout === 'bg\n', 10_000, 100);
});

test('exec -t and -it: a TTY of the client\'s size', async () => {
  await d.dockerOk(['run', '-d', '--name', 'ex3', 'busybox', 'sleep', '600']);
  const t = await d.docker(['exec', '-t', 'ex3', 'sh', '-c', 'busybox tty; exit 4']);
  assert.equal(t.code, 4, t.stderr);
  assert.match(clean(t.stdout), /^\/dev\/pts\/\d+$/m);
  const it = await dockerInPty(31, 71, 'exec -it ex3 busybox stty size');
  assert.equal(it.code, 0, it.stdout + it.stderr);
  assert.match(clean(it.stdout), /^31 71$/m);
});

test('exec API: inspect, errors for unknown ids and stopped containers', async () => {
  await d.dockerOk(['run', '-d', '--name', 'ex4', 'busybox', 'sleep', '600']);
  const created = await d.api('POST', '/v1.45/containers/ex4/exec', { Cmd: ['sh', '-c', 'exit 7'], AttachStdout: true, User: 'root' });
  assert.equal(created.status, 201, created.body);
  const id = created.json.Id as string;
  const before = (await d.api('GET', `/v1.45/exec/${id}/json`)).json;
  assert.equal(before.Running, false);
  assert.equal(before.ExitCode, null);
  assert.deepEqual(before.ProcessConfig, { arguments: ['-c', 'exit 7'], entrypoint: 'sh', privileged: false, tty: false, user: 'root' });
  const start = await d.api('POST', `/v1.45/exec/${id}/start`, { Detach: true });
  assert.equal(start.status, 200, start.body);
  const after = await waitFor('the exec to finish', async () => {
    const j = (await d.api('GET', `/v1.45/exec/${id}/json`)).json;
    return j.Running === false && j.ExitCode !== null ? j : undefined;
  });
  assert.equal(after.ExitCode, 7);
  assert.ok(after.Pid > 0);
  assert.equal(after.ContainerID, (await d.inspect('ex4')).Id);
  const again = await d.api('POST', `/v1.45/exec/${id}/start`, { Detach: true });
  assert.equal(again.status, 409);

  const missing = await d.api('GET', '/v1.45/exec/0123456789abcdef/json');
  assert.equal(missing.status, 404);
  assert.match(missing.json.message, /No such exec instance: 0123456789abcdef/);
  assert.equal((await d.api('POST', '/v1.45/exec/0123456789abcdef/start', { Detach: true })).status, 404);

  await d.dockerOk(['stop', '-t', '0', 'ex4']);
  const stopped = await d.api('POST', '/v1.45/containers/ex4/exec', { Cmd: ['true'] });
  assert.equal(stopped.status, 409);
  assert.match(stopped.json.message, /^container [0-9a-f]{64} is not running$/);
  const cli = await d.docker(['exec', 'ex4', 'true']);
  assert.notEqual(cli.code, 0);
  assert.match(cli.stderr, /is not running/);
});

test('berth exec and berth attach behave like docker\'s', async () => {
  await d.dockerOk(['run', '-d', '--name', 'bx1', 'busybox', 'sleep', '600']);
  const r = await d.berth(['exec', 'bx1', 'sh', '-c', 'echo out; echo err >&2; exit 3']);
  assert.equal(r.code, 3, r.stderr);
  assert.equal(r.stdout, 'out\n');
  assert.equal(r.stderr, 'err\n');
  const cat = await d.berth(['exec', '-i', '-u', '65534', '-w', '/tmp', '-e', 'A=b', 'bx1', 'sh', '-c', 'cat; id -u; pwd; echo $A'], { input: 'in\n' });
  assert.equal(cat.code, 0, cat.stderr);
  assert.equal(cat.stdout, 'in\n65534\n/tmp\nb\n');

  await d.dockerOk(['run', '-di', '--name', 'bx2', 'busybox', 'sh', '-c', 'read l; echo got $l; exit 9']);
  const a = await d.berth(['attach', 'bx2'], { input: 'line\n' });
  assert.equal(a.code, 9, a.stderr);
  assert.equal(a.stdout, 'got line\n');
  const stopped = await d.berth(['attach', 'bx2']);
  assert.equal(stopped.code, 1);
  assert.match(stopped.stderr, /You cannot attach to a stopped container, start it first/);
});

test('exec -i, run -i and start -ai with an empty stdin: the process reads end of input at once', async () => {
  await d.dockerOk(['run', '-d', '--name', 'empty-in', 'busybox', 'sleep', '300']);
  // The client half-closes right after its request: the end must reach the process even when
  // it comes before the process has started.
  for (let i = 0; i < 3; i++) {
    const r = await d.docker(['exec', '-i', 'empty-in', 'cat'], { input: '', timeoutMs: 20_000 });
    assert.equal(r.code, 0, `exec -i cat with empty stdin, try ${i}: ${r.stderr}`);
    assert.equal(r.stdout, '');
  }
  const run = await d.docker(['run', '--rm', '-i', 'busybox', 'cat'], { input: '', timeoutMs: 20_000 });
  assert.equal(run.code, 0, run.stderr);
  const id = await d.dockerOk(['create', '-i', 'busybox', 'cat']);
  const start = await d.docker(['start', '-ai', id], { input: '', timeoutMs: 20_000 });
  assert.equal(start.code, 0, start.stderr);
  await d.dockerOk(['rm', '-f', 'empty-in', id]);
});
