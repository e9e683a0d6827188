// Volumes end to end: named and anonymous volumes, binds, --mount, tmpfs and the volume API,
// driven by the real docker CLI, docker-py and berth against a real berthd.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, mkdirSync, readFileSync, statSync, writeFileSync, symlinkSync, copyFileSync, chownSync, chmodSync } from 'node:fs';
import { spawnSync } from 'node:child_process';
import { join } from 'node:path';
import { BUSYBOX, ID64, mountsUnder, run, useDaemon, waitFor } from './harness';

const d = useDaemon();

const volumePath = (name: string) => join(d.dataRoot, 'volumes', name, '_data');
const volumeNames = async () => (await d.dockerOk(['volume', 'ls', '-q'])).split('\n').filter(Boolean);

/** An image whose /srv/data (also a VOLUME) holds files with non-root owners and modes. */
let imageMade: Promise<void> | undefined;
function volumeImage(): Promise<void> {
  imageMade ??= (async () => {
    const root = join(d.dir, 'volimg');
    mkdirSync(join(root, 'bin'), { recursive: true });
    mkdirSync(join(root, 'srv', 'data', 'sub'), { recursive: true });
    copyFileSync(BUSYBOX, join(root, 'bin', 'busybox'));
    for (const a of ['sh', 'ls', 'cat', 'stat', 'echo', 'touch', 'true', 'sleep']) symlinkSync('busybox', join(root, 'bin', a));
    writeFileSync(join(root, 'srv', 'data', 'file'), 'from-image\n');
    chownSync(join(root, 'srv', 'data'), 1234, 2345);
    chownSync(join(root, 'srv', 'data', 'file'), 1234, 2345);
    chmodSync(join(root, 'srv', 'data'), 0o750);
    chmodSync(join(root, 'srv', 'data', 'file'), 0o600);
    symlinkSync('/srv/data', join(root, 'link'));
    const tar = join(d.dir, 'volimg.tar');
    const r = spawnSync('tar', ['-C', root, '-cf', tar, '.']);
    assert.equal(r.status, 0, String(r.stderr));
    await d.dockerOk(['import', '-c', 'VOLUME /srv/data', tar, 'volimg']);
  })();
  return imageMade;
}

test('a named volume is created on first use, keeps data across containers and container removal', async () => {
  const out = await d.dockerOk(['run', '--name', 'nv1', '-v', 'nvdata:/data', 'busybox', 'sh', '-c', 'echo hello > /data/f && ls /data']);
  assert.equal(out, 'f');
  assert.ok((await volumeNames()).includes('nvdata'));
  const [vol] = JSON.parse(await d.dockerOk(['volume', 'inspect', 'nvdata']));
  assert.equal(vol.Name, 'nvdata');
  assert.equal(vol.Driver, 'local');
  assert.equal(vol.Scope, 'local');
  assert.equal(vol.Mountpoint, volumePath('nvdata'));
  assert.match(vol.CreatedAt, /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ$/);
  assert.equal(readFileSync(join(volumePath('nvdata'), 'f'), 'utf8'), 'hello\n');

  const c = await d.inspect('nv1');
  assert.deepEqual(c.Mounts, [{ Type: 'volume', Name: 'nvdata', Source: volumePath('nvdata'), Destination: '/data', Driver: 'local', Mode: 'z', RW: true, Propagation: '' }]);
  assert.deepEqual(c.HostConfig.Binds, ['nvdata:/data']);

  await d.dockerOk(['rm', '-v', 'nv1']);
  assert.ok((await volumeNames()).includes('nvdata'), 'rm -v never removes a named volume');
  assert.equal(await d.dockerOk(['run', '--rm', '-v', 'nvdata:/x:ro', 'busybox', 'cat', '/x/f']), 'hello');
  const ro = await d.docker(['run', '--rm', '-v', 'nvdata:/x:ro', 'busybox', 'touch', '/x/g']);
  assert.notEqual(ro.code, 0);
  assert.match(ro.stderr, /Read-only file system/);
  await d.dockerOk(['volume', 'rm', 'nvdata']);
  assert.equal(existsSync(join(d.dataRoot, 'volumes', 'nvdata')), false);
});

test('an empty volume gets the image content with owners and modes; nocopy and non-empty volumes do not', async () => {
  await volumeImage();
  // Through a symlink in the image: /link -> /srv/data.
  const out = await d.dockerOk(['run', '--rm', '-v', 'cu1:/link', 'volimg', 'sh', '-c', 'stat -c "%u:%g %a" /srv/data /srv/data/file; cat /srv/data/file']);
  assert.deepEqual(out.split('\n'), ['1234:2345 750', '1234:2345 600', 'from-image']);
  const root = statSync(volumePath('cu1'));
  assert.equal(root.uid, 1234);
  assert.equal(root.mode & 0o7777, 0o750);
  assert.equal(statSync(join(volumePath('cu1'), 'file')).mode & 0o7777, 0o600);

  assert.equal(await d.dockerOk(['run', '--rm', '-v', 'cu2:/srv/data:nocopy', 'volimg', 'ls', '-A', '/srv/data']), '');
  assert.equal(await d.dockerOk(['run', '--rm', '--mount', 'type=volume,src=cu3,dst=/srv/data,volume-nocopy', 'volimg', 'ls', '-A', '/srv/data']), '');

  writeFileSync(join(volumePath('cu2'), 'mine'), 'x');
  assert.equal(await d.dockerOk(['run', '--rm', '-v', 'cu2:/srv/data', 'volimg', 'ls', '-A', '/srv/data']), 'mine');
  await d.dockerOk(['volume', 'rm', 'cu1', 'cu2', 'cu3']);
});

test('anonymous volumes: -v /path and the image VOLUME get 64-hex volumes that rm -v and --rm remove', async () => {
  await volumeImage();
  const before = new Set(await volumeNames());
  await d.dockerOk(['create', '--name', 'anon1', '-v', '/scratch', '-v', 'keepme:/keep', 'volimg', 'true']);
  const c = await d.inspect('anon1');
  const anon = c.Mounts.filter((m: any) => m.Name !== 'keepme');
  assert.equal(anon.length, 2, JSON.stringify(c.Mounts));
  for (const m of anon) {
    assert.match(m.Name, ID64);
    assert.equal(m.Type, 'volume');
    assert.equal(m.Mode, '');
  }
  assert.deepEqual(anon.map((m: any) => m.Destination).sort(), ['/scratch', '/srv/data']);
  const [v] = JSON.parse(await d.dockerOk(['volume', 'inspect', anon[0].Name]));
  assert.deepEqual(v.Labels, { 'com.docker.volume.anonymous': '' });
  // A named volume at the image's VOLUME path replaces the anonymous one.
  await d.dockerOk(['create', '--name', 'anon2', '-v', 'over:/srv/data', 'volimg', 'true']);
  assert.deepEqual((await d.inspect('anon2')).Mounts.map((m: any) => m.Name), ['over']);

  const removed = await d.dockerOk(['rm', '-v', 'anon1', 'anon2']);
  assert.equal(removed, 'anon1\nanon2');
  const after = await volumeNames();
  for (const m of anon) assert.ok(!after.includes(m.Name), `anonymous volume ${m.Name} should be gone`);
  assert.ok(after.includes('keepme') && after.includes('over'));

  // --rm removes the anonymous ones too; rm without -v keeps them.
  await d.dockerOk(['run', '--rm', '-v', '/tmpvol', 'busybox', 'true']);
  await d.dockerOk(['create', '--name', 'anon3', '-v', '/kept', 'busybox', 'true']);
  const kept = (await d.inspect('anon3')).Mounts[0].Name;
  await d.dockerOk(['rm', 'anon3']);
  const now = await volumeNames();
  assert.ok(now.includes(kept));
  assert.deepEqual(now.filter((n) => !before.has(n)).sort(), [kept, 'keepme', 'over'].sort());
  await d.dockerOk(['volume', 'rm', kept, 'keepme', 'over']);
});

test('bind mounts, --mount and --tmpfs: options, read-only, inspect', async () => {
  const host = join(d.dir, 'bindsrc');
  mkdirSync(host, { recursive: true });
  // rslave needs a shared (or slave) source mount, as with dockerd; this host's / is private.
  assert.equal(spawnSync('mount', ['--bind', '--make-shared', host, host]).status, 0);
  writeFileSync(join(host, 'hf'), 'host-file\n');
  const created = join(d.dir, 'made', 'by', 'v');
  const script = [
    'cat /b/hf', 'touch /b/new && echo b-rw', 'touch /bro/x 2>/dev/null || echo bro-ro', 'touch /m/x 2>/dev/null || echo m-ro',
    'touch /c/x && echo c-rw', 'grep -E " /(t|t2) " /proc/mounts | cut -d" " -f2,4', 'stat -c %a /t2',
  ].join('; ');
  const out = await d.dockerOk([
    'run', '--name', 'binds', '-v', `${host}:/b`, '-v', `${host}:/bro:ro`, '-v', `${created}:/c`,
    '--mount', `type=bind,src=${host},dst=/m,readonly,bind-propagation=rslave`,
    '--tmpfs', '/t:size=1m,exec', '--mount', 'type=tmpfs,dst=/t2,tmpfs-size=2097152,tmpfs-mode=1770',
    'busybox', 'sh', '-c', script,
  ]);
  const lines = out.split('\n');
  assert.deepEqual(lines.slice(0, 5), ['host-file', 'b-rw', 'bro-ro', 'm-ro', 'c-rw']);
  assert.ok(lines.some((l) => l.startsWith('/t ') && l.includes('size=1024k') && !l.includes('noexec') && l.includes('nosuid')), out);
  assert.ok(lines.some((l) => l.startsWith('/t2 ') && l.includes('size=2048k') && l.includes('noexec')), out);
  assert.equal(lines.at(-1), '1770');
  assert.ok(existsSync(join(host, 'new')));
  assert.ok(statSync(created).isDirectory(), '-v creates a missing host directory');

  const c = await d.inspect('binds');
  const byDest = Object.fromEntries(c.Mounts.map((m: any) => [m.Destination, m]));
  assert.deepEqual(byDest['/b'], { Type: 'bind', Source: host, Destination: '/b', Mode: '', RW: true, Propagation: 'rprivate' });
  assert.deepEqual(byDest['/bro'], { Type: 'bind', Source: host, Destination: '/bro', Mode: 'ro', RW: false, Propagation: 'rprivate' });
  assert.deepEqual(byDest['/m'], { Type: 'bind', Source: host, Destination: '/m', Mode: '', RW: false, Propagation: 'rslave' });
  assert.deepEqual(byDest['/t2'], { Type: 'tmpfs', Source: '', Destination: '/t2', Mode: '', RW: true, Propagation: '' });
  assert.equal(byDest['/t'], undefined, 'HostConfig.Tmpfs mounts are not listed in Mounts');
  // docker's CLI sends -v values in map order: compare as sets.
  assert.deepEqual([...c.HostConfig.Binds].sort(), [`${host}:/b`, `${host}:/bro:ro`, `${created}:/c`].sort());
  assert.deepEqual(c.HostConfig.Tmpfs, { '/t': 'size=1m,exec' });
  assert.deepEqual(c.HostConfig.Mounts[0], { Type: 'bind', Source: host, Target: '/m', ReadOnly: true, BindOptions: { Propagation: 'rslave' } });
  const ps = JSON.parse(await d.dockerOk(['ps', '-a', '--no-trunc', '--filter', 'name=binds', '--format', '{{json .}}']));
  assert.ok(ps.Mounts.includes(host));
  await d.dockerOk(['rm', 'binds']);
  spawnSync('umount', [host]);
  assert.ok(existsSync(join(host, 'hf')), 'removing the container leaves the bind source alone');
});

test('bind propagation: rslave brings a mount the host makes later into the container, rshared takes one the container makes out to the host', async () => {
  const src = join(d.dir, 'propagation');
  for (const sub of ['in', 'out']) mkdirSync(join(src, sub), { recursive: true });
  // On a private mount, dockerd refuses both at start, in these words.
  assert.equal(spawnSync('mount', ['--bind', '--make-private', src, src]).status, 0);
  for (const [mode, what] of [['rshared', 'a shared mount'], ['rslave', 'a shared or slave mount']]) {
    const r = await d.docker(['run', '--name', `refused-${mode}`, '--mount', `type=bind,src=${src},dst=/s,bind-propagation=${mode}`, 'busybox', 'true']);
    assert.equal(r.code, 125, r.stderr);
    assert.match(r.stderr, new RegExp(`Error response from daemon: path ${src} is mounted on ${src} but it is not ${what}\\n`));
    const state = JSON.parse(await d.dockerOk(['inspect', '-f', '{{json .State}}', `refused-${mode}`]));
    assert.equal(state.ExitCode, 128);
    assert.ok(state.Error.endsWith(`is mounted on ${src} but it is not ${what}`), state.Error);
    await d.dockerOk(['rm', `refused-${mode}`]);
  }
  assert.equal(spawnSync('mount', ['--make-shared', src]).status, 0);
  const slave = await d.dockerOk(['run', '-d', '--mount', `type=bind,src=${src},dst=/s,bind-propagation=rslave`, 'busybox', 'sleep', '600']);
  const shared = await d.dockerOk(['run', '-d', '--privileged', '--mount', `type=bind,src=${src},dst=/s,bind-propagation=rshared`, 'busybox', 'sh', '-c', 'mount -t tmpfs made-inside /s/out && sleep 600']);
  try {
    await waitFor('the mount made in the container to reach the host', () => mountsUnder(src).includes(join(src, 'out')));
    assert.equal(spawnSync('mount', ['-t', 'tmpfs', 'made-on-host', join(src, 'in')]).status, 0);
    await waitFor('the host\'s mount to show in the rslave container', async () => (await d.dockerOk(['exec', slave, 'cat', '/proc/mounts'])).includes(' /s/in tmpfs '));
  } finally {
    await d.dockerOk(['rm', '-f', slave, shared]);
    for (const p of mountsUnder(src)) spawnSync('umount', ['-l', p]);
  }
});

test('a single-file bind binds the file: -v FILE:/missing:ro makes the mount point, --mount over an image file', async () => {
  const motd = join(d.dir, 'motd');
  writeFileSync(motd, 'welcome\n');
  const group = join(d.dir, 'group-file');
  writeFileSync(group, 'staff:x:50:\n');
  const r = await d.docker([
    'run', '--rm', '-v', `${motd}:/etc/motd:ro`, '--mount', `type=bind,src=${group},dst=/etc/group`,
    'busybox', 'sh', '-c', 'cat /etc/motd /etc/group; echo x > /etc/motd 2>/dev/null || echo motd-ro; echo root:x:0: >> /etc/group && echo group-rw',
  ]);
  assert.equal(r.code, 0, r.stderr);
  assert.equal(r.stdout, 'welcome\nstaff:x:50:\nmotd-ro\ngroup-rw\n');
  assert.ok(statSync(motd).isFile(), 'the host file stays a file');
  assert.equal(readFileSync(group, 'utf8'), 'staff:x:50:\nroot:x:0:\n', 'writes through a rw file bind reach the host file');
});

test('--volumes-from shares another container\'s volumes and binds; :ro makes them read-only; rm -v leaves them', async () => {
  const host = join(d.dir, 'vf-host');
  mkdirSync(host);
  await d.dockerOk(['run', '--name', 'vf-src', '-v', 'vf-named:/data', '-v', `${host}:/h`, '-v', '/anon', 'busybox', 'sh', '-c', 'echo hello > /data/f; echo anon > /anon/a; echo bound > /h/b']);
  assert.equal(await d.dockerOk(['run', '--rm', '--volumes-from', 'vf-src', 'busybox', 'sh', '-c', 'cat /data/f /anon/a /h/b; echo more > /data/g']), 'hello\nanon\nbound');
  const ro = await d.docker(['run', '--rm', '--volumes-from', 'vf-src:ro', 'busybox', 'sh', '-c', 'cat /data/g; echo x > /data/z']);
  assert.equal(ro.code, 1);
  assert.equal(ro.stdout, 'more\n');
  assert.match(ro.stderr, /Read-only file system/);
  await d.dockerOk(['create', '--name', 'vf-dst', '--volumes-from', 'vf-src', 'busybox', 'true']);
  const mounts = (await d.inspect('vf-dst')).Mounts.map((m: { Destination: string; RW: boolean }) => `${m.Destination}:${m.RW}`).sort();
  assert.deepEqual(mounts, ['/anon:true', '/data:true', '/h:true']);
  const before = (await d.dockerOk(['volume', 'ls', '-q'])).split('\n').sort();
  await d.dockerOk(['rm', '-v', 'vf-dst']);
  assert.deepEqual((await d.dockerOk(['volume', 'ls', '-q'])).split('\n').sort(), before, 'rm -v of the borrower keeps the source\'s volumes');
  const missing = await d.api('POST', '/containers/create', { Image: 'busybox', Cmd: ['true'], HostConfig: { VolumesFrom: ['no-such-ctr'] } });
  // 400 as from dockerd: a 404 would read to the docker CLI as a missing image, and it would try to pull one.
  assert.equal(missing.status, 400);
  assert.equal(missing.json.message, 'No such container: no-such-ctr');
  const run = await d.docker(['run', '--rm', '--volumes-from', 'no-such-ctr', 'busybox', 'true']);
  assert.equal(run.code, 125);
  assert.equal(run.stderr, "docker: Error response from daemon: No such container: no-such-ctr\n\nRun 'docker run --help' for more information\n");
  const bad = await d.api('POST', '/containers/create', { Image: 'busybox', Cmd: ['true'], HostConfig: { VolumesFrom: ['vf-src:rx'] } });
  assert.equal(bad.status, 400);
  await d.dockerOk(['rm', '-v', 'vf-src']);
});

test('bad mount specs are 400s with docker wording; run exits 125', async () => {
  const cases: [string[], RegExp][] = [
    [['-v', 'dup1:/data', '-v', '/tmp:/data'], /Duplicate mount point: \/data/],
    [['--tmpfs', '/data', '-v', 'dup2:/data'], /Duplicate mount point: \/data/],
    [['-v', 'vol:data'], /invalid volume specification: 'vol:data'.*mount path must be absolute/],
    [['-v', '/tmp:/x:bogus'], /Error response from daemon: invalid mode: bogus\n/],
    [['-v', '/tmp:/x:nocopy'], /invalid volume specification: '\/tmp:\/x:nocopy': invalid mount config for type "bind": field VolumeOptions must not be specified/],
    [['-v', 'a:/b:ro:d'], /invalid volume specification: 'a:\/b:ro:d'/],
    [['-v', '/tmp:/'], /destination can't be '\/'/],
    [['--mount', 'type=bind,src=/nonexistent-berth-src,dst=/x'], /invalid mount config for type "bind": bind source path does not exist: \/nonexistent-berth-src/],
    [['--mount', 'type=tmpfs,src=foo,dst=/x'], /invalid mount config for type "tmpfs": field Source must not be specified/],
    [['-v', 'x!y:/data'], /"x!y" includes invalid characters for a local volume name/],
    [['--tmpfs', '/x:bogus'], /invalid tmpfs option \["bogus"\]/],
  ];
  const volsBefore = await volumeNames();
  for (const [flags, re] of cases) {
    const r = await d.docker(['run', '--rm', ...flags, 'busybox', 'true']);
    assert.equal(r.code, 125, `${flags.join(' ')}: ${r.stderr}`);
    assert.match(r.stderr, re, flags.join(' '));
  }
  const api = await d.api('POST', '/v1.45/containers/create', { Image: 'busybox', Cmd: ['true'], HostConfig: { Mounts: [{ Type: 'bind', Source: '/nonexistent-berth-src', Target: '/x' }] } });
  assert.equal(api.status, 400);
  assert.equal(api.json.message, 'invalid mount config for type "bind": bind source path does not exist: /nonexistent-berth-src');
  assert.deepEqual(await volumeNames(), volsBefore, 'a refused create leaves no volume behind');
});

test('volume API: create, list filters, inspect, in-use conflict, rm, prune', async () => {
  const created = await d.api('POST', '/v1.45/volumes/create', { Labels: { tier: 'db' } });
  assert.equal(created.status, 201);
  const anonName: string = created.json.Name;
  assert.match(anonName, ID64);
  assert.deepEqual(created.json.Labels, { tier: 'db', 'com.docker.volume.anonymous': '' }, 'no name: anonymous, as dockerd labels it');
  const again = await d.api('POST', '/v1.45/volumes/create', { Name: anonName, Labels: { other: 'x' } });
  assert.equal(again.status, 201);
  assert.deepEqual(again.json.Labels, created.json.Labels, 'an existing name returns the existing volume');
  assert.equal((await d.api('POST', '/v1.45/volumes/create', { Name: 'bad', DriverOpts: { nope: '1' } })).status, 400);
  assert.equal((await d.api('POST', '/v1.45/volumes/create', { Name: 'bad', Driver: 'nfs-plugin' })).status, 404);

  await d.dockerOk(['volume', 'create', '--label', 'tier=web', 'apiv1']);
  await d.dockerOk(['create', '--name', 'user1', '-v', 'apiv1:/d', 'busybox', 'true']);
  const user1 = (await d.inspect('user1')).Id;

  const list = async (filters?: object) => {
    const r = await d.api('GET', `/v1.45/volumes${filters ? `?filters=${encodeURIComponent(JSON.stringify(filters))}` : ''}`);
    assert.equal(r.status, 200, r.body);
    assert.equal(r.json.Warnings, null);
    return (r.json.Volumes as any[]).map((v) => v.Name).sort();
  };
  assert.deepEqual(await list({ label: { tier: true } }), [anonName, 'apiv1'].sort());
  assert.deepEqual(await list({ label: { 'tier=web': true } }), ['apiv1']);
  assert.deepEqual(await list({ name: { piv: true } }), ['apiv1']);
  assert.ok(!(await list({ dangling: { true: true } })).includes('apiv1'));
  assert.ok((await list({ dangling: { false: true } })).includes('apiv1'));
  assert.deepEqual(await list({ driver: { nfs: true } }), []);
  assert.equal((await d.api('GET', `/v1.45/volumes?filters=${encodeURIComponent('{"colour":{"x":true}}')}`)).status, 400);

  const missing = await d.api('GET', '/v1.45/volumes/nosuchvol');
  assert.equal(missing.status, 404);
  assert.equal(missing.json.message, 'get nosuchvol: no such volume');
  const inUse = await d.api('DELETE', '/v1.45/volumes/apiv1?force=1');
  assert.equal(inUse.status, 409);
  assert.equal(inUse.json.message, `remove apiv1: volume is in use - [${user1}]`);
  const rmCli = await d.docker(['volume', 'rm', 'apiv1']);
  assert.equal(rmCli.code, 1);
  assert.match(rmCli.stderr, /Error response from daemon: remove apiv1: volume is in use/);
  assert.equal((await d.api('DELETE', '/v1.45/volumes/nosuchvol')).status, 404);
  assert.equal((await d.api('DELETE', '/v1.45/volumes/nosuchvol?force=1')).status, 204);

  // Prune (API >= 1.42): only unused anonymous volumes, unless all=true.
  await d.dockerOk(['volume', 'create', 'named-unused']);
  await d.dockerOk(['create', '--name', 'anonp', '-v', '/p', 'busybox', 'true']);
  const anonP = (await d.inspect('anonp')).Mounts[0].Name;
  await d.dockerOk(['rm', 'anonp']);
  writeFileSync(join(volumePath(anonP), 'five'), '12345');
  const pruned = await d.api('POST', '/v1.45/volumes/prune');
  assert.equal(pruned.status, 200);
  assert.deepEqual(pruned.json.VolumesDeleted, [anonName, anonP].sort(), 'both anonymous volumes, the one made through the API too');
  assert.equal(pruned.json.SpaceReclaimed, 5);
  assert.deepEqual((await d.api('POST', `/v1.45/volumes/prune?filters=${encodeURIComponent('{"label":{"tier=nothing":true},"all":{"true":true}}')}`)).json, { VolumesDeleted: [], SpaceReclaimed: 0 });
  await d.dockerOk(['volume', 'create', '--label', 'tier=db', 'named-db']);
  const cli = await d.dockerOk(['volume', 'prune', '-a', '-f', '--filter', 'label=tier=db']);
  assert.match(cli, /^Deleted Volumes:\nnamed-db\n\nTotal reclaimed space: 0B$/);
  const all = await d.api('POST', `/v1.41/volumes/prune`);
  assert.ok(all.json.VolumesDeleted.includes('named-unused'), 'before API 1.42 prune takes named volumes too');
  assert.ok((await volumeNames()).includes('apiv1'), 'a volume in use is never pruned');

  await d.dockerOk(['rm', 'user1']);
  assert.equal(await d.dockerOk(['volume', 'rm', 'apiv1']), 'apiv1');
});

test('docker-py drives the volume API', async () => {
  const py = `
import docker, json
c = docker.DockerClient(base_url='${d.host}', version='1.45')
v = c.volumes.create(name='pyvol', labels={'via': 'py'})
got = c.volumes.get('pyvol')
names = [x.name for x in c.volumes.list(filters={'label': 'via=py'})]
out = c.containers.run('busybox', ['sh', '-c', 'echo py > /v/f; cat /v/f'], volumes={'pyvol': {'bind': '/v', 'mode': 'rw'}}, remove=True)
try:
    c.volumes.get('nope')
    missing = 'found'
except docker.errors.NotFound as e:
    missing = 'notfound'
got.remove()
print(json.dumps({'labels': got.attrs['Labels'], 'names': names, 'out': out.decode(), 'missing': missing}))
`;
  const r = await run('python3', ['-c', py], { env: d.env(), timeoutMs: 60_000 });
  assert.equal(r.code, 0, r.stderr);
  assert.deepEqual(JSON.parse(r.stdout), { labels: { via: 'py' }, names: ['pyvol'], out: 'py\n', missing: 'notfound' });
});

test('a volume created through the API without a name is anonymous, so prune removes it (docker-py create_volume)', async () => {
  const py = `
import docker, json
api = docker.APIClient(base_url='${d.host}', version='1.45')
v = api.create_volume()
named = api.create_volume(name='py-named')
first = api.prune_volumes()
second = api.prune_volumes()
api.remove_volume('py-named')
print(json.dumps({'name': v['Name'], 'labels': v['Labels'], 'first': first, 'second': second}))
`;
  const r = await run('python3', ['-c', py], { env: d.env(), timeoutMs: 60_000 });
  assert.equal(r.code, 0, r.stderr);
  const out = JSON.parse(r.stdout);
  assert.match(out.name, ID64);
  assert.deepEqual(out.labels, { 'com.docker.volume.anonymous': '' });
  assert.deepEqual(out.first, { VolumesDeleted: [out.name], SpaceReclaimed: 0 }, 'the named volume stays');
  assert.deepEqual(out.second, { VolumesDeleted: [], SpaceReclaimed: 0 }, 'nothing left: a list, not null');

  const name = await d.dockerOk(['volume', 'create']);
  assert.match(name, ID64);
  assert.equal(await d.dockerOk(['volume', 'prune', '-f']), `Deleted Volumes:\n${name}\n\nTotal reclaimed space: 0B`);
  assert.equal(await d.dockerOk(['volume', 'prune', '-f']), 'Total reclaimed space: 0B');
});

test('driver-option volumes: a read-only bind is read-only; a refused mount says what the kernel refused', async () => {
  const host = join(d.dir, 'ro-bind-src');
  mkdirSync(host, { recursive: true });
  writeFileSync(join(host, 'f'), 'host\n');
  await d.dockerOk(['volume', 'create', '--opt', 'type=none', '--opt', `device=${host}`, '--opt', 'o=bind,ro', 'robind']);
  const ro = await d.docker(['run', '--rm', '-v', 'robind:/d', 'busybox', 'sh', '-c', 'cat /d/f; touch /d/g']);
  assert.equal(ro.stdout.trim(), 'host');
  assert.match(ro.stderr, /Read-only file system/);
  assert.deepEqual(mountsUnder(volumePath('robind')), [], 'unmounted once the container is gone');
  await d.dockerOk(['volume', 'rm', 'robind']);

  await d.dockerOk(['volume', 'create', '--opt', 'type=tmpfs', '--opt', 'device=tmpfs', '--opt', 'o=size=1m,nosuid,bogus=1', 'badopt']);
  const bad = await d.docker(['run', '--rm', '-v', 'badopt:/d', 'busybox', 'true']);
  assert.equal(bad.code, 125);
  const data = volumePath('badopt');
  assert.match(bad.stderr, new RegExp(`error while mounting volume '${data}': failed to mount local volume: mount tmpfs:${data}, flags: 0x2, data: size=1m,bogus=1: invalid argument`));
  assert.deepEqual(mountsUnder(data), []);
  await d.dockerOk(['volume', 'rm', 'badopt']);
});

test('a tmpfs volume (driver opts) is mounted while a container uses it and unmounted after', async () => {
  await d.dockerOk(['volume', 'create', '--opt', 'type=tmpfs', '--opt', 'device=tmpfs', '--opt', 'o=size=4m,uid=1000', 'tmpv']);
  const [v] = JSON.parse(await d.dockerOk(['volume', 'inspect', 'tmpv']));
  assert.deepEqual(v.Options, { type: 'tmpfs', device: 'tmpfs', o: 'size=4m,uid=1000' });
  const data = volumePath('tmpv');
  await d.dockerOk(['run', '-d', '--name', 'tv1', '-v', 'tmpv:/d', 'busybox', 'sh', '-c', 'echo in-tmpfs > /d/f; echo written; sleep 600']);
  await d.waitForLog('tv1', 'written');
  assert.deepEqual(mountsUnder(data), [data]);
  assert.equal(await d.dockerOk(['run', '--rm', '-v', 'tmpv:/d', 'busybox', 'sh', '-c', 'cat /d/f; stat -c %u /d']), 'in-tmpfs\n1000');
  assert.deepEqual(mountsUnder(data), [data], 'still mounted while tv1 runs');
  await d.dockerOk(['rm', '-f', 'tv1']);
  assert.deepEqual(mountsUnder(data), []);
  assert.equal(await d.dockerOk(['run', '--rm', '-v', 'tmpv:/d', 'busybox', 'ls', '-A', '/d']), '', 'a fresh tmpfs each time');
  assert.deepEqual(mountsUnder(data), []);
  await d.dockerOk(['volume', 'rm', 'tmpv']);
});

test('volumes and mount points survive kill -9 of berthd', async () => {
  await d.dockerOk(['run', '-d', '--name', 'surv', '-v', 'survvol:/d', '-v', '/anon', 'busybox', 'sh', '-c', 'echo before > /d/f; echo written; sleep 600']);
  await d.waitForLog('surv', 'written');
  const mountsBefore = (await d.inspect('surv')).Mounts;
  await d.kill();
  await d.start();
  assert.deepEqual((await d.inspect('surv')).Mounts, mountsBefore);
  const names = await volumeNames();
  assert.ok(names.includes('survvol') && names.includes(mountsBefore[1].Name));
  assert.equal((await d.docker(['volume', 'rm', 'survvol'])).code, 1, 'still in use after the restart');
  await d.dockerOk(['rm', '-f', '-v', 'surv']);
  assert.equal(await d.dockerOk(['run', '--rm', '-v', 'survvol:/d', 'busybox', 'cat', '/d/f']), 'before');
  assert.ok(!(await volumeNames()).includes(mountsBefore[1].Name));
  await d.dockerOk(['volume', 'rm', 'survvol']);
});

test('berth volume commands and -v/--mount/--tmpfs flags', async () => {
  const ok = async (args: string[]) => {
    const r = await d.berth(args);
    assert.equal(r.code, 0, `berth ${args.join(' ')}: ${r.stderr}`);
    return r.stdout;
  };
  assert.equal(await ok(['volume', 'create', '--label', 'k=v', 'bvol']), 'bvol\n');
  assert.match(await ok(['volume', 'ls']), /^DRIVER\s+VOLUME NAME\nlocal\s+bvol\n$/m);
  assert.equal(await ok(['volume', 'ls', '-q', '--filter', 'label=k=v']), 'bvol\n');
  assert.deepEqual(JSON.parse(await ok(['volume', 'inspect', 'bvol']))[0].Labels, { k: 'v' });
  assert.equal(await ok(['volume', 'inspect', '-f', '{{.Driver}}', 'bvol']), 'local\n');
  const host = join(d.dir, 'berthbind');
  mkdirSync(host, { recursive: true });
  const out = await ok(['run', '--rm', '-v', 'bvol:/v', '--mount', `type=bind,src=${host},dst=/h,readonly`, '--tmpfs', '/t:size=1m', 'busybox', 'sh', '-c',
    'echo b > /v/f; touch /h/x 2>/dev/null || echo h-ro; grep " /t " /proc/mounts | cut -d" " -f3']);
  assert.equal(out, 'h-ro\ntmpfs\n');
  const missing = await d.berth(['volume', 'inspect', 'nosuch']);
  assert.equal(missing.code, 1);
  assert.match(missing.stderr, /get nosuch: no such volume/);
  const bad = await d.berth(['run', '--rm', '--mount', 'type=bind,src=/nonexistent-berth-src,dst=/x', 'busybox', 'true']);
  assert.equal(bad.code, 125);
  assert.match(bad.stderr, /bind source path does not exist/);
  await ok(['volume', 'create', 'bvol2']);
  assert.equal(await ok(['volume', 'prune', '-f']), 'Total reclaimed space: 0B\n');
  assert.equal(await ok(['volume', 'prune', '-f', '-a']), 'Deleted Volumes:\nbvol\nbvol2\n\nTotal reclaimed space: 2B\n');
  const rmMissing = await d.berth(['volume', 'rm', 'bvol']);
  assert.equal(rmMissing.code, 1);
  assert.match(rmMissing.stderr, /get bvol: no such volume/);
});
