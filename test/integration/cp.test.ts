/**
 * `docker cp` both ways through the docker CLI and docker-py (HEAD/GET/PUT
 * /containers/{id}/archive): files and directories, running, stopped and never
 * started containers, `-` tar streams, Docker's messages for missing paths,
 * volumes, and symlinks inside the container that must never reach the host.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, mkdirSync, readFileSync, readdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { spawnSync } from 'node:child_process';
import net from 'node:net';
import { gzipSync } from 'node:zlib';
import { run, useDaemon, waitFor } from './harness';
import http from 'node:http';

const d = useDaemon();

async function py(script: string): Promise<any> {
  const r = await run('python3', ['-c', `import docker, json, sys, io, tarfile\nc = docker.DockerClient(base_url='${d.host}')\n${script}`], { env: d.env(), timeoutMs: 60_000 });
  assert.equal(r.code, 0, `python failed (${r.code}):\n${r.stderr}`);
  return JSON.parse(r.stdout);
}

function hostTree(): string {
  const dir = join(d.dir, `src-${Math.random().toString(36).slice(2, 8)}`);
  mkdirSync(join(dir, 'tree', 'sub'), { recursive: true });
  writeFileSync(join(dir, 'file.txt'), 'hello file\n');
  writeFileSync(join(dir, 'tree', 'a'), 'A\n');
  writeFileSync(join(dir, 'tree', 'sub', 'b'), 'B\n');
  return dir;
}

test('cp into and out of a running container: files, directories, /. and - tar streams', async () => {
  const since = Math.floor(Date.now() / 1000) - 1;
  const src = hostTree();
  await d.dockerOk(['run', '-d', '--name', 'cp-run', 'busybox', 'sleep', '1000']);
  await d.dockerOk(['cp', join(src, 'file.txt'), 'cp-run:/tmp/']);
  assert.equal(await d.dockerOk(['exec', 'cp-run', 'cat', '/tmp/file.txt']), 'hello file');
  await d.dockerOk(['cp', join(src, 'file.txt'), 'cp-run:/tmp/renamed.txt']);
  assert.equal(await d.dockerOk(['exec', 'cp-run', 'cat', '/tmp/renamed.txt']), 'hello file');
  await d.dockerOk(['cp', join(src, 'tree'), 'cp-run:/tmp/']);
  assert.equal(await d.dockerOk(['exec', 'cp-run', 'cat', '/tmp/tree/sub/b']), 'B');
  // A missing destination directory takes the source directory's place.
  await d.dockerOk(['cp', join(src, 'tree'), 'cp-run:/tmp/copy']);
  assert.equal(await d.dockerOk(['exec', 'cp-run', 'cat', '/tmp/copy/a']), 'A');

  const out = join(d.dir, 'out-run');
  mkdirSync(out);
  await d.dockerOk(['cp', 'cp-run:/tmp/tree', out]);
  assert.equal(readFileSync(join(out, 'tree', 'sub', 'b'), 'utf8'), 'B\n');
  await d.dockerOk(['cp', 'cp-run:/tmp/tree/.', join(out, 'contents')]);
  assert.deepEqual(readdirSync(join(out, 'contents')).sort(), ['a', 'sub']);
  await d.dockerOk(['cp', 'cp-run:/tmp/file.txt', join(out, 'f')]);
  assert.equal(readFileSync(join(out, 'f'), 'utf8'), 'hello file\n');

  // `-`: a tar on stdout, and a tar from stdin.
  const tarOut = await run('sh', ['-c', `docker -H ${d.host} cp cp-run:/tmp/tree - | tar -t | sort`], { env: d.env() });
  assert.deepEqual(tarOut.stdout.trim().split('\n'), ['tree/', 'tree/a', 'tree/sub/', 'tree/sub/b']);
  const tarIn = await run('sh', ['-c', `tar -C ${src} -c file.txt tree | docker -H ${d.host} cp - cp-run:/root`], { env: d.env() });
  assert.equal(tarIn.code, 0, tarIn.stderr);
  assert.equal(await d.dockerOk(['exec', 'cp-run', 'cat', '/root/tree/a', '/root/file.txt']), 'A\nhello file');
  const events = await d.dockerOk(['events', '--since', String(since), '--until', String(Math.floor(Date.now() / 1000) + 1), '--filter', 'container=cp-run', '--format', '{{.Action}}']);
  assert.ok(events.split('\n').includes('extract-to-dir'), events);
  assert.ok(events.split('\n').includes('archive-path'), events);
  await d.dockerOk(['rm', '-f', 'cp-run']);
});

test('cp errors: a missing source, a missing destination directory, a file where a directory is needed', async () => {
  const src = hostTree();
  await d.dockerOk(['create', '--name', 'cp-err', 'busybox', 'true']);
  const missing = await d.docker(['cp', 'cp-err:/nonexistent', d.dir]);
  assert.equal(missing.code, 1);
  assert.match(missing.stderr, /Error response from daemon: Could not find the file \/nonexistent in container cp-err/);
  const noDir = await d.docker(['cp', join(src, 'file.txt'), 'cp-err:/nodir/']);
  assert.equal(noDir.code, 1);
  assert.match(noDir.stderr, /no such directory/);
  const noParent = await d.docker(['cp', join(src, 'file.txt'), 'cp-err:/nodir/x']);
  assert.equal(noParent.code, 1);
  assert.match(noParent.stderr, /Could not find the file \/nodir in container cp-err/);
  const api = await d.api('PUT', '/containers/cp-err/archive?path=/etc/passwd', Buffer.alloc(1024));
  assert.equal(api.status, 400);
  assert.match(api.json.message, /extraction point is not a directory/);
  const noPath = await d.api('GET', '/containers/cp-err/archive');
  assert.equal(noPath.status, 400);
  await d.dockerOk(['rm', 'cp-err']);
  await d.dockerOk(['create', '--name', 'cp-ro', '--read-only', '-v', 'cp-ro-vol:/ro:ro', 'busybox', 'true']);
  const roRoot = await d.docker(['cp', join(src, 'file.txt'), 'cp-ro:/tmp/']);
  assert.equal(roRoot.code, 1);
  assert.match(roRoot.stderr, /container rootfs is marked read-only/);
  const roVol = await d.docker(['cp', join(src, 'file.txt'), 'cp-ro:/ro/']);
  assert.equal(roVol.code, 1);
  assert.match(roVol.stderr, /mounted volume is marked read-only/);
  await d.dockerOk(['rm', '-v', 'cp-ro']);
  await d.docker(['volume', 'rm', 'cp-ro-vol']);
});

test('cp to and from a stopped and a never-started container; nothing stays mounted', async () => {
  const src = hostTree();
  await d.dockerOk(['create', '--name', 'cp-new', 'busybox', 'cat', '/root/tree/sub/b']);
  await d.dockerOk(['cp', join(src, 'tree'), 'cp-new:/root/']);
  await d.dockerOk(['start', '-a', 'cp-new']).then((o) => assert.equal(o, 'B'));
  const st = await d.inspect('cp-new');
  assert.equal(st.State.Status, 'exited');
  await d.dockerOk(['cp', join(src, 'file.txt'), 'cp-new:/root/after.txt']);
  const out = join(d.dir, 'out-stopped');
  mkdirSync(out);
  await d.dockerOk(['cp', 'cp-new:/root/after.txt', out]);
  assert.equal(readFileSync(join(out, 'after.txt'), 'utf8'), 'hello file\n');
  // The daemon unmounts once the archive is sent: the CLI may exit a moment before that.
  const mounts = () => readFileSync('/proc/self/mountinfo', 'utf8').split('\n').filter((l) => l.includes(st.Id));
  await waitFor('the stopped container root unmounted after cp', () => mounts().length === 0, 5_000);
  await d.dockerOk(['rm', 'cp-new']);
});

test('cp reads the network files the container sees, copies its whole root, and a missing container is named in the error', async () => {
  await d.dockerOk(['run', '-d', '--name', 'cp-netfiles', '--hostname', 'cp-host-name', '--add-host', 'cp-extra:10.9.8.7', 'busybox', 'sleep', '1000']);
  const read = async (path: string) => (await run('sh', ['-c', `docker -H ${d.host} cp cp-netfiles:${path} - | tar -xO`], { env: d.env() })).stdout;
  assert.equal(await read('/etc/hostname'), `${await d.dockerOk(['exec', 'cp-netfiles', 'cat', '/etc/hostname'])}\n`);
  const hosts = await read('/etc/hosts');
  assert.match(hosts, /10\.9\.8\.7\tcp-extra/);
  assert.equal(hosts.trim(), await d.dockerOk(['exec', 'cp-netfiles', 'cat', '/etc/hosts']));
  assert.equal((await read('/etc/resolv.conf')).trim(), await d.dockerOk(['exec', 'cp-netfiles', 'cat', '/etc/resolv.conf']));
  // In a directory's tar too.
  const etc = await run('sh', ['-c', `docker -H ${d.host} cp cp-netfiles:/etc - | tar -xO etc/hostname`], { env: d.env() });
  assert.equal(etc.stdout, 'cp-host-name\n');

  // The root: a missing destination becomes a copy of it, an existing one receives its entries.
  const rootCopy = join(d.dir, 'root-copy');
  await d.dockerOk(['cp', 'cp-netfiles:/', rootCopy]);
  assert.ok(existsSync(join(rootCopy, 'bin', 'busybox')), readdirSync(d.dir).join(' '));
  const into = join(d.dir, 'root-into');
  mkdirSync(into);
  await d.dockerOk(['cp', 'cp-netfiles:/', into]);
  assert.ok(existsSync(join(into, 'bin', 'busybox')), readdirSync(into).join(' '));
  await d.dockerOk(['rm', '-f', 'cp-netfiles']);

  // Refused before the body is read: the CLI still gets the answer, not a broken pipe.
  const src = hostTree();
  for (let i = 0; i < 3; i++) {
    const r = await d.docker(['cp', src, 'cp-no-such-ctr:/tmp/']);
    assert.equal(r.code, 1);
    assert.match(r.stderr, /Error response from daemon: No such container: cp-no-such-ctr/);
  }
});

test('cp into a volume and a bind mount lands there; copy out of them reads them', async () => {
  const src = hostTree();
  const bind = join(d.dir, 'bind-dst');
  mkdirSync(bind);
  await d.dockerOk(['run', '-d', '--name', 'cp-vol', '-v', 'cpvol:/data', '-v', `${bind}:/bound`, 'busybox', 'sleep', '1000']);
  await d.dockerOk(['cp', join(src, 'file.txt'), 'cp-vol:/data/in-volume.txt']);
  await d.dockerOk(['cp', join(src, 'tree'), 'cp-vol:/bound/']);
  assert.equal(readFileSync(join(bind, 'tree', 'a'), 'utf8'), 'A\n');
  const mountpoint = JSON.parse(await d.dockerOk(['volume', 'inspect', 'cpvol']))[0].Mountpoint;
  assert.equal(readFileSync(join(mountpoint, 'in-volume.txt'), 'utf8'), 'hello file\n');
  assert.equal(await d.dockerOk(['exec', 'cp-vol', 'cat', '/data/in-volume.txt']), 'hello file');
  await d.dockerOk(['stop', '-t', '0', 'cp-vol']);
  // Stopped: still the volume, not the root filesystem under its mount point.
  const tar = await run('sh', ['-c', `docker -H ${d.host} cp cp-vol:/data/in-volume.txt - | tar -xO`], { env: d.env() });
  assert.equal(tar.stdout, 'hello file\n');
  await d.dockerOk(['rm', '-v', 'cp-vol']);
  await d.dockerOk(['volume', 'rm', 'cpvol']);
});

test('symlinks inside the container never let cp read or write host files', async () => {
  const secret = join(d.dir, 'host-secret');
  writeFileSync(secret, 'HOST\n');
  await d.dockerOk(['run', '-d', '--name', 'cp-esc', 'busybox', 'sh', '-c',
    `mkdir -p ${d.dir} && echo INNER > ${secret} && ln -s / /escape && ln -s ${secret} /abs && ln -s ../../../../../../${d.dir} /rel && echo ready && sleep 1000`]);
  await d.waitForLog('cp-esc', 'ready');
  const out = join(d.dir, 'out-esc');
  mkdirSync(out);
  await d.dockerOk(['cp', `cp-esc:/escape${secret}`, join(out, 'a')]);
  assert.equal(readFileSync(join(out, 'a'), 'utf8'), 'INNER\n');
  await d.dockerOk(['cp', '-L', 'cp-esc:/abs', join(out, 'b')]);
  assert.equal(readFileSync(join(out, 'b'), 'utf8'), 'INNER\n');
  await d.dockerOk(['cp', 'cp-esc:/rel/host-secret', join(out, 'c')]);
  assert.equal(readFileSync(join(out, 'c'), 'utf8'), 'INNER\n');
  const evil = join(d.dir, 'evil.txt');
  writeFileSync(evil, 'EVIL\n');
  await d.dockerOk(['cp', evil, 'cp-esc:/abs']);
  await d.dockerOk(['cp', evil, `cp-esc:/rel/host-secret`]);
  await d.dockerOk(['cp', evil, `cp-esc:/escape${d.dir}/`]);
  assert.equal(readFileSync(secret, 'utf8'), 'HOST\n', 'the host file is untouched');
  assert.ok(!existsSync(join(d.dir, 'evil.txt.x')));
  assert.equal(await d.dockerOk(['exec', 'cp-esc', 'cat', secret]), 'EVIL');

  // A hostile tar: an entry that climbs out, and a symlink entry written through.
  const hostile = await py(`
def tar(build):
    b = io.BytesIO()
    with tarfile.open(fileobj=b, mode='w') as t:
        build(t)
    return b.getvalue()
def add(t, name, data=b'', kind=tarfile.REGTYPE, link=''):
    i = tarfile.TarInfo(name); i.type = kind; i.linkname = link; i.size = len(data) if kind == tarfile.REGTYPE else 0
    t.addfile(i, io.BytesIO(data) if kind == tarfile.REGTYPE else None)
ctr = c.containers.get('cp-esc')
res = {}
try:
    ctr.put_archive('/tmp', tar(lambda t: add(t, '../../../../${secret.slice(1)}', b'PWNED\\n')))
    res['climb'] = 'accepted'
except docker.errors.APIError as e:
    res['climb'] = e.status_code
ctr.put_archive('/tmp', tar(lambda t: (add(t, 'l', kind=tarfile.SYMTYPE, link='/'), add(t, 'l${secret}', b'THROUGH\\n'))))
res['through'] = ctr.exec_run(['cat', '${secret}']).output.decode()
print(json.dumps(res))
`);
  assert.equal(hostile.climb, 400);
  assert.equal(hostile.through, 'THROUGH\n');
  assert.equal(readFileSync(secret, 'utf8'), 'HOST\n', 'the host file is untouched');
  await d.dockerOk(['rm', '-f', 'cp-esc']);
});

test('docker-py put_archive and get_archive; the path stat header; cp -a takes the container user', async () => {
  await d.dockerOk(['create', '--name', 'cp-py', '--user', 'nobody', 'busybox', 'true']);
  const r = await py(`
ctr = c.containers.get('cp-py')
b = io.BytesIO()
with tarfile.open(fileobj=b, mode='w') as t:
    i = tarfile.TarInfo('dir/hello.txt'); data = b'hi there\\n'; i.size = len(data); i.mode = 0o640; i.uid = 1234; i.gid = 1234
    t.addfile(i, io.BytesIO(data))
ok = ctr.put_archive('/tmp', b.getvalue())
stream, stat = ctr.get_archive('/tmp/dir/hello.txt')
raw = b''.join(stream)
with tarfile.open(fileobj=io.BytesIO(raw)) as t:
    m = t.getmember('hello.txt')
    content = t.extractfile(m).read().decode()
b2 = io.BytesIO()
with tarfile.open(fileobj=b2, mode='w') as t:
    i = tarfile.TarInfo('dir'); data = b'now a file\\n'; i.size = len(data)
    t.addfile(i, io.BytesIO(data))
refused = c.api._put(c.api._url('/containers/cp-py/archive'), params={'path': '/tmp', 'noOverwriteDirNonDir': 'true'}, data=b2.getvalue()).status_code
replaced = ctr.put_archive('/tmp', b2.getvalue())
s2, _ = ctr.get_archive('/tmp/dir')
with tarfile.open(fileobj=io.BytesIO(b''.join(s2))) as t:
    now = t.extractfile(t.getmember('dir')).read().decode()
print(json.dumps({'ok': ok, 'stat': stat, 'content': content, 'uid': m.uid, 'mode': m.mode, 'refused': refused, 'replaced': replaced, 'now': now}))
`);
  assert.equal(r.refused, 400, 'noOverwriteDirNonDir keeps a directory from becoming a file');
  assert.equal(r.replaced, true);
  assert.equal(r.now, 'now a file\n');
  assert.equal(r.ok, true);
  assert.equal(r.content, 'hi there\n');
  assert.equal(r.uid, 1234);
  assert.equal(r.mode, 0o640);
  assert.equal(r.stat.name, 'hello.txt');
  assert.equal(r.stat.size, 9);
  assert.equal(r.stat.mode, 0o640);
  assert.equal(r.stat.linkTarget, '');
  const head = await d.api('HEAD', '/containers/cp-py/archive?path=/etc/');
  assert.equal(head.status, 200);
  const dirStat = JSON.parse(Buffer.from(String(head.headers['x-docker-container-path-stat']), 'base64').toString());
  assert.equal(dirStat.name, 'etc');
  assert.equal(dirStat.mode, 2 ** 31 + 0o755);

  const src = hostTree();
  await d.dockerOk(['cp', '-a', join(src, 'file.txt'), 'cp-py:/tmp/owned.txt']);
  const tar = await run('sh', ['-c', `docker -H ${d.host} cp cp-py:/tmp/owned.txt - | tar -tv --numeric-owner`], { env: d.env() });
  assert.match(tar.stdout, /65534\/65534/);
  await d.dockerOk(['rm', 'cp-py']);
});

test('a container that swaps a directory for a symlink to / while cp runs never makes cp read or write the host', async () => {
  const secret = join(d.dir, 'race-secret');
  writeFileSync(secret, 'HOST\n');
  const inner = `/d${d.dir}`;
  await d.dockerOk(['run', '-d', '--name', 'cp-race', 'busybox', 'sh', '-c',
    `mkdir -p ${inner} && echo INNER > ${inner}/race-secret && echo ready && while true; do mv /d /d.real; ln -s / /d; sleep 0.001; rm /d; mv /d.real /d; sleep 0.001; done`]);
  await d.waitForLog('cp-race', 'ready');
  const stage = join(d.dir, 'race-stage');
  mkdirSync(stage);
  writeFileSync(join(stage, 'race-secret'), 'EVIL\n');
  const tar = await run('tar', ['-C', stage, '-cf', join(d.dir, 'race.tar'), 'race-secret']);
  assert.equal(tar.code, 0, tar.stderr);
  const body = readFileSync(join(d.dir, 'race.tar'));
  for (let i = 0; i < 150; i++) {
    // A copy may fail (the tree changed under it), mid-stream too; it must never carry the host's file.
    const got = await d.api('GET', `/containers/cp-race/archive?path=${encodeURIComponent(`/d${secret}`)}`).catch(() => undefined);
    assert.ok(!got?.body.includes('HOST'), 'cp never reads the host file');
    await d.api('PUT', `/containers/cp-race/archive?path=${encodeURIComponent(inner)}`, body);
    assert.equal(readFileSync(secret, 'utf8'), 'HOST\n', 'cp never writes the host file');
  }
  assert.equal((await d.api('GET', '/_ping')).status, 200);
  await d.dockerOk(['rm', '-f', 'cp-race']);
});

/** The header of a tar entry `big.bin` of `size` bytes (of which a test sends only a part). */
function bigFileHeader(size: number): Buffer {
  const header = Buffer.alloc(512);
  const field = (off: number, len: number, v: string) => header.write(v.padEnd(len, '\0').slice(0, len), off, 'latin1');
  field(0, 100, 'big.bin');
  field(100, 8, '0000644');
  field(108, 8, '0000000');
  field(116, 8, '0000000');
  field(124, 12, size.toString(8).padStart(11, '0'));
  field(136, 12, '00000000000');
  field(156, 1, '0');
  field(257, 6, 'ustar');
  field(263, 2, '00');
  header.fill(' ', 148, 156);
  let sum = 0;
  for (const b of header) sum += b;
  field(148, 8, `${sum.toString(8).padStart(6, '0')}\0 `);
  return header;
}

test('kill -9 of berthd in the middle of a cp leaves nothing half-copied once berthd is back', async () => {
  await d.dockerOk(['run', '-d', '--name', 'cp-kill', 'busybox', 'sleep', '1000']);
  const pid = (await d.inspect('cp-kill')).State.Pid as number;
  // One 64 MiB file, of which only the first MiB is sent before berthd dies.
  const header = bigFileHeader(64 << 20);
  const req = http.request({ socketPath: d.sock, method: 'PUT', path: '/containers/cp-kill/archive?path=/tmp', headers: { 'Content-Type': 'application/x-tar' } });
  req.on('error', () => undefined);
  req.write(header);
  req.write(Buffer.alloc(1 << 20, 'x'));
  const temps = () => readdirSync(`/proc/${pid}/root/tmp`).filter((n) => n.startsWith('.berth-cp-'));
  await waitFor('the copy to be under way', () => temps().length > 0);
  await d.kill();
  req.destroy();
  assert.ok(temps().length > 0, 'the half-made file is there while berthd is down');
  await d.start();
  assert.deepEqual(temps(), [], 'berthd removed the half-made file at start');
  assert.ok(!existsSync(`/proc/${pid}/root/tmp/big.bin`));
  assert.equal(await d.dockerOk(['inspect', '-f', '{{.State.Status}}', 'cp-kill']), 'running');
  // A copy works as before.
  const src = hostTree();
  await d.dockerOk(['cp', join(src, 'file.txt'), 'cp-kill:/tmp/']);
  assert.equal(await d.dockerOk(['exec', 'cp-kill', 'cat', '/tmp/file.txt']), 'hello file');
  await d.dockerOk(['rm', '-f', 'cp-kill']);
});

test('a client that goes away in the middle of a cp leaves nothing half-copied, and berthd serves on', async () => {
  await d.dockerOk(['run', '-d', '--name', 'cp-gone', 'busybox', 'sleep', '1000']);
  const pid = (await d.inspect('cp-gone')).State.Pid as number;
  const temps = () => readdirSync(`/proc/${pid}/root/tmp`).filter((n) => n.startsWith('.berth-cp-'));
  const req = http.request({ socketPath: d.sock, method: 'PUT', path: '/containers/cp-gone/archive?path=/tmp', headers: { 'Content-Type': 'application/x-tar' } });
  req.on('error', () => undefined);
  req.write(bigFileHeader(64 << 20));
  req.write(Buffer.alloc(1 << 20, 'x'));
  await waitFor('the copy to be under way', () => temps().length > 0);
  req.destroy();
  await waitFor('the half-made file to be removed', () => temps().length === 0);
  assert.ok(!existsSync(`/proc/${pid}/root/tmp/big.bin`));
  const src = hostTree();
  await d.dockerOk(['cp', join(src, 'tree'), 'cp-gone:/tmp/']);
  assert.equal(await d.dockerOk(['exec', 'cp-gone', 'cat', '/tmp/tree/sub/b']), 'B');
  await d.dockerOk(['rm', '-f', 'cp-gone']);
});

/** Sends `parts` on one connection, one write each with a pause between (`null`: a pause only); all the daemon answered, once it closes. */
async function exchange(parts: (Buffer | string)[]): Promise<string> {
  const c = net.connect(d.sock);
  const got: Buffer[] = [];
  c.on('data', (b) => got.push(b));
  c.on('error', () => undefined);
  const closed = new Promise<void>((resolve) => c.on('close', () => resolve()));
  await new Promise<void>((resolve) => c.once('connect', () => resolve()));
  for (const p of parts) {
    c.write(p);
    await new Promise((r) => setTimeout(r, 30));
  }
  await closed;
  return Buffer.concat(got).toString('latin1');
}

function chunkedBody(data: Buffer, size: number): Buffer[] {
  const out: Buffer[] = [];
  for (let i = 0; i < data.length; i += size) {
    const c = data.subarray(i, i + size);
    out.push(Buffer.concat([Buffer.from(`${c.length.toString(16)};ext=1\r\n`), c, Buffer.from('\r\n')]));
  }
  out.push(Buffer.from('0\r\nX-Trailer: yes\r\n\r\n'));
  return out;
}

test('PUT archive bodies read from the connection itself: split chunks, a gzip body, Content-Length, a HEAD first on the same connection; bad framing is a clear 400', async () => {
  await d.dockerOk(['run', '-d', '--name', 'cp-raw', 'busybox', 'sleep', '1000']);
  const src = hostTree();
  const tar = spawnSync('tar', ['-C', src, '-cf', '-', 'tree']).stdout;
  const put = (path: string, headers: string) => `PUT /v1.41/containers/cp-raw/archive?path=${path} HTTP/1.1\r\nHost: berth\r\nContent-Type: application/x-tar\r\n${headers}\r\n`;
  const cat = (path: string) => d.dockerOk(['exec', 'cp-raw', 'cat', path]);

  // The headers alone, then the first chunk's size line a byte at a time: the worker reads past what came with the headers.
  await d.dockerOk(['exec', 'cp-raw', 'mkdir', '/tmp/a', '/tmp/b', '/tmp/c', '/tmp/d']);
  const parts = chunkedBody(tar, 700);
  const first = parts.shift()!;
  let answer = await exchange([
    `HEAD /v1.41/containers/cp-raw/archive?path=/tmp/a HTTP/1.1\r\nHost: berth\r\n\r\n`,
    put('/tmp/a', 'Transfer-Encoding: chunked\r\n'),
    first.subarray(0, 1), first.subarray(1, 2), first.subarray(2),
    ...parts,
  ]);
  assert.match(answer, /^HTTP\/1\.1 200 OK\r\n[\s\S]*HTTP\/1\.1 200 OK\r\n/, answer);
  assert.match(answer.slice(answer.lastIndexOf('HTTP/1.1')), /Connection: close/i);
  assert.equal(await cat('/tmp/a/tree/sub/b'), 'B');

  // gzip: declined by the worker, read as a stream from the bytes it had read.
  answer = await exchange([put('/tmp/b', 'Transfer-Encoding: chunked\r\n'), ...chunkedBody(gzipSync(tar), 300)]);
  assert.match(answer, /^HTTP\/1\.1 200 OK/, answer);
  assert.equal(await cat('/tmp/b/tree/a'), 'A');

  answer = await exchange([put('/tmp/c', `Content-Length: ${tar.length}\r\n`), tar.subarray(0, 3), tar.subarray(3)]);
  assert.match(answer, /^HTTP\/1\.1 200 OK/, answer);
  assert.equal(await cat('/tmp/c/tree/sub/b'), 'B');

  // Framing that is not chunked coding: 400, naming it, and nothing of the copy left behind.
  answer = await exchange([put('/tmp/d', 'Transfer-Encoding: chunked\r\n'), Buffer.concat([Buffer.from('200\r\n'), tar.subarray(0, 512), Buffer.from('XX')])]);
  assert.match(answer, /^HTTP\/1\.1 400 /, answer);
  assert.match(answer, /chunked body is malformed/);
  assert.deepEqual((await d.dockerOk(['exec', 'cp-raw', 'ls', '-A', '/tmp/d'])).trim(), '');

  // The daemon serves on, through the CLI.
  await d.dockerOk(['cp', join(src, 'file.txt'), 'cp-raw:/tmp/']);
  assert.equal(await cat('/tmp/file.txt'), 'hello file');
  await d.dockerOk(['rm', '-f', 'cp-raw']);
});
