/**
 * berthd --userns-remap=default: root in a container is the berth-remap user's
 * subordinate range on the host. One daemon with the flag for the whole file.
 */
import assert from 'node:assert/strict';
import { chmodSync, mkdirSync, mkdtempSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, beforeEach, test } from 'node:test';
import { BERTHD, run, useDaemonWithArgs } from './harness';

const d = useDaemonWithArgs(['--userns-remap=default']);
// Like dockerd, berthd refuses a data root the remapped root cannot reach (the harness makes its dir 0700).
chmodSync(d.dir, 0o711);

/** A host dir the remapped root can reach (the harness's own temp dir is 0700). */
const shared = mkdtempSync('/tmp/bi-userns-');
chmodSync(shared, 0o755);
after(() => rmSync(shared, { recursive: true, force: true }));

let start = 0;
let size = 0;
// Read before each test, not in a before() hook: node does not order it after the harness's
// own before(), which starts berthd (the one that creates the user and its range when missing).
beforeEach(() => {
  if (size) return;
  const line = readFileSync('/etc/subuid', 'utf8').split('\n').find((l) => l.startsWith('berth-remap:'));
  assert.ok(line, 'berth-remap has a range in /etc/subuid');
  [, start, size] = line.split(':').map(Number) as [number, number, number];
  assert.ok(start >= 100000 && size === 65536, line);
});

const statusIds = (pid: number, key: 'Uid' | 'Gid') =>
  readFileSync(`/proc/${pid}/status`, 'utf8').split('\n').find((l) => l.startsWith(`${key}:`))!.split(/\s+/).slice(1, 5).map(Number);

test('root inside is uid 0 with a uid_map onto the subordinate range; docker info says userns', async () => {
  const out = await d.dockerOk(['run', '--rm', 'busybox', 'sh', '-c', 'id -u; id -g; cat /proc/self/uid_map /proc/self/gid_map']);
  const lines = out.trim().split('\n').map((l) => l.trim().split(/\s+/).join(' '));
  assert.equal(lines[0], '0');
  assert.equal(lines[1], '0');
  assert.equal(lines[2], `0 ${start} ${size}`);
  assert.match(lines[3]!, new RegExp(`^0 \\d+ ${size}$`));
  const info = JSON.parse(await d.dockerOk(['info', '--format', '{{json .}}'])) as { SecurityOptions: string[]; DockerRootDir: string };
  assert.ok(info.SecurityOptions.includes('name=userns'), JSON.stringify(info.SecurityOptions));
  assert.equal(info.DockerRootDir, join(d.dataRoot, `${start}.${lines[3]!.split(' ')[1]}`));
});

test('from the host, the container init runs as the subordinate uid and image files belong to it', async () => {
  const id = (await d.dockerOk(['run', '-d', 'busybox', 'sleep', '60'])).trim();
  try {
    const pid = Number((await d.dockerOk(['inspect', '-f', '{{.State.Pid}}', id])).trim());
    assert.deepEqual(statusIds(pid, 'Uid'), [start, start, start, start]);
    // Inside, the image's files are root's; on the host, the shifted layer copy is the range's.
    const inside = await d.dockerOk(['run', '--rm', 'busybox', 'stat', '-c', '%u:%g', '/bin/busybox', '/etc']);
    assert.deepEqual(inside.trim().split('\n'), ['0:0', '0:0']);
    assert.equal(statSync(`/proc/${pid}/root/bin/busybox`).uid, start);
  } finally {
    await d.docker(['rm', '-f', id]);
  }
});

test('a file made in a bind-mounted host dir is owned by the subordinate uid; host-root files stay out of reach', async () => {
  const dir = join(shared, 'bind');
  mkdirSync(dir);
  chmodSync(dir, 0o1777); // sticky, like /tmp: anyone may add files, only owners may remove them
  writeFileSync(join(dir, 'hostfile'), 'host\n', { mode: 0o644 });
  const r = await d.docker([
    'run', '--rm', '-v', `${dir}:/b`, 'busybox', 'sh', '-c',
    'touch /b/made; echo x >> /b/hostfile; echo write=$?; chown 0:0 /b/hostfile; echo chown=$?; rm -f /b/hostfile; ls /b',
  ]);
  assert.equal(r.code, 0, r.stderr);
  assert.match(r.stdout, /write=1/);
  assert.match(r.stdout, /chown=1/);
  assert.match(r.stderr, /Permission denied/);
  assert.match(r.stderr, /Operation not permitted/);
  assert.equal(statSync(join(dir, 'made')).uid, start);
  assert.equal(readFileSync(join(dir, 'hostfile'), 'utf8'), 'host\n');
  assert.equal(statSync(join(dir, 'hostfile')).uid, 0);
});

test('root in the container can write its own root, /etc/hosts and a named volume', async () => {
  const out = await d.dockerOk([
    'run', '--rm', '-v', 'userns-vol:/v', 'busybox', 'sh', '-c',
    'echo a > /new && echo 1.2.3.4 x >> /etc/hosts && touch /v/f && stat -c %u:%g /new /v /v/f',
  ]);
  assert.deepEqual(out.trim().split('\n'), ['0:0', '0:0', '0:0']);
  const vol = JSON.parse(await d.dockerOk(['volume', 'inspect', 'userns-vol'])) as Array<{ Mountpoint: string }>;
  assert.equal(statSync(join(vol[0]!.Mountpoint, 'f')).uid, start);
  await d.dockerOk(['volume', 'rm', 'userns-vol']);
});

test('--userns host runs as host root without a user namespace', async () => {
  const out = await d.dockerOk(['run', '--rm', '--userns', 'host', 'busybox', 'cat', '/proc/self/uid_map']);
  assert.deepEqual(out.trim().split(/\s+/), ['0', '0', '4294967295']);
  const id = (await d.dockerOk(['run', '-d', '--userns=host', 'busybox', 'sleep', '60'])).trim();
  try {
    const pid = Number((await d.dockerOk(['inspect', '-f', '{{.State.Pid}}', id])).trim());
    assert.deepEqual(statusIds(pid, 'Uid'), [0, 0, 0, 0]);
  } finally {
    await d.docker(['rm', '-f', id]);
  }
});

test("what a user namespace cannot have is refused in Docker's words, and allowed with --userns host", async () => {
  const cases: Array<[string[], RegExp]> = [
    [['--privileged'], /privileged mode is incompatible with user namespaces\.  You must run the container in the host namespace when running privileged mode/],
    [['--network', 'host'], /cannot share the host's network namespace when user namespaces are enabled/],
    [['--pid', 'host'], /cannot share the host PID namespace when user namespaces are enabled/],
  ];
  for (const [flags, re] of cases) {
    const r = await d.docker(['run', '--rm', ...flags, 'busybox', 'true']);
    assert.equal(r.code, 125, `${flags.join(' ')}: ${r.stderr}`);
    assert.match(r.stderr, re);
  }
  await d.dockerOk(['run', '--rm', '--privileged', '--userns', 'host', 'busybox', 'true']);
  // The host's IPC namespace is allowed (Docker allows it too).
  await d.dockerOk(['run', '--rm', '--ipc', 'host', 'busybox', 'true']);
});

test('commit and export carry the owners the container saw, not the shifted host ids', async () => {
  const name = 'userns-commit';
  await d.dockerOk(['run', '--name', name, 'busybox', 'sh', '-c', 'echo hi > /mine && mkdir /d5 && chown 5:6 /d5']);
  try {
    await d.dockerOk(['commit', name, 'userns-committed:1']);
    const out = await d.dockerOk(['run', '--rm', 'userns-committed:1', 'stat', '-c', '%u:%g', '/mine', '/d5']);
    assert.deepEqual(out.trim().split('\n'), ['0:0', '5:6']);
    const tar = join(shared, 'export.tar');
    await d.dockerOk(['export', '-o', tar, name]);
    const list = await run('tar', ['-tvf', tar, '--numeric-owner']);
    assert.match(list.stdout, /^-\S+ 0\/0 .* mine$/m);
    assert.match(list.stdout, /^d\S+ 5\/6 .* d5\/$/m);
  } finally {
    await d.docker(['rm', '-f', name]);
    await d.docker(['rmi', 'userns-committed:1']);
  }
});

test('after a daemon restart the same remapped root, images and running containers are there', async () => {
  const id = (await d.dockerOk(['run', '-d', 'busybox', 'sleep', '60'])).trim();
  try {
    await d.stop();
    await d.start();
    assert.equal((await d.dockerOk(['inspect', '-f', '{{.State.Running}}', id])).trim(), 'true');
    const out = await d.dockerOk(['run', '--rm', 'busybox', 'sh', '-c', 'stat -c %u /bin/busybox; cat /proc/self/uid_map']);
    const [owner, map] = out.trim().split('\n');
    assert.equal(owner, '0');
    assert.deepEqual(map!.trim().split(/\s+/).map(Number), [0, start, size]);
  } finally {
    await d.docker(['rm', '-f', id]);
  }
});

test('an unknown remap user stops berthd at start with a clear message', async () => {
  const dir = mkdtempSync('/tmp/bi-userns-bad-');
  try {
    const r = await run(BERTHD, [
      '-H', `unix://${join(dir, 's.sock')}`, '--data-root', join(dir, 'data'), '--exec-root', join(dir, 'exec'), '--pidfile', join(dir, 'pid'),
      '--userns-remap', 'no-such-user-berth',
    ]);
    assert.notEqual(r.code, 0);
    assert.match(r.stderr, /--userns-remap: user "no-such-user-berth" does not exist in \/etc\/passwd/);
    // The harness's own temp dir style (0700) is out of the remapped root's reach.
    const r3 = await run(BERTHD, [
      '-H', `unix://${join(dir, 's.sock')}`, '--data-root', join(dir, 'data'), '--exec-root', join(dir, 'exec'), '--pidfile', join(dir, 'pid'),
      '--userns-remap', 'default',
    ]);
    assert.notEqual(r3.code, 0);
    assert.match(r3.stderr, new RegExp(`a directory in the data root path \\(${dir}\\) does not let the remapped root \\(uid ${start}\\) through; allow it with chmod o\\+x`));
    const r2 = await run(BERTHD, ['--pidfile', join(dir, 'pid'), '--userns-remap', 'a:b:c']);
    assert.notEqual(r2.code, 0);
    assert.match(r2.stderr, /invalid --userns-remap value "a:b:c"/);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test('docker cp with --userns-remap: copied-in files are root\'s inside (the range\'s on the host), copied-out ones root\'s in the tar', async () => {
  const id = (await d.dockerOk(['run', '-d', 'busybox', 'sleep', '60'])).trim();
  try {
    const pid = Number((await d.dockerOk(['inspect', '-f', '{{.State.Pid}}', id])).trim());
    const src = join(shared, 'cp-src');
    mkdirSync(join(src, 'sub'), { recursive: true });
    writeFileSync(join(src, 'sub', 'f'), 'copied\n');
    await d.dockerOk(['cp', src, `${id}:/tmp/new/`]);
    assert.equal(await d.dockerOk(['exec', id, 'stat', '-c', '%u:%g', '/tmp/new/sub/f']), '0:0');
    assert.equal(statSync(`/proc/${pid}/root/tmp/new/sub/f`).uid, start);
    const out = await run('sh', ['-c', `docker -H ${d.host} cp ${id}:/tmp/new/sub/f - | tar -tv --numeric-owner`], { env: d.env() });
    assert.match(out.stdout, /\b0\/0\b/);
  } finally {
    await d.docker(['rm', '-f', id]);
  }
});
