/**
 * The union filesystem through the docker CLI: copy-on-write, docker diff, commit,
 * export, images with many layers, hostile layer tars, and the vfs driver.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { existsSync, mkdirSync, readdirSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { spawnSync } from 'node:child_process';
import { makeTar, padBlock, rawHeader, type FixtureEntry } from '../../src/storage/tar-fixtures';
import { BERTHD, mountsUnder, run, useDaemon, useDaemonWithArgs, waitFor, type Daemon } from './harness';

const d = useDaemon();
const v = useDaemonWithArgs(['--storage-driver', 'vfs']);

/** A tar without its end-of-archive zero blocks, so another tar can follow it. */
function stripEnd(tar: Buffer): Buffer {
  let end = tar.length;
  while (end >= 512 && tar.subarray(end - 512, end).every((x) => x === 0)) end -= 512;
  return tar.subarray(0, end);
}

const sha256 = (b: Buffer) => createHash('sha256').update(b).digest('hex');

function tarList(file: string): string[] {
  const r = spawnSync('tar', ['-tf', file], { encoding: 'utf8' });
  assert.equal(r.status, 0, r.stderr);
  return r.stdout.split('\n').filter(Boolean);
}

/** A classic docker-archive (manifest.json + config + layer tars) for `docker load`. */
function writeArchive(dir: string, tag: string, layers: Buffer[]): string {
  const root = join(dir, `archive-${sha256(Buffer.from(tag)).slice(0, 8)}`);
  rmSync(root, { recursive: true, force: true });
  mkdirSync(root, { recursive: true });
  const names = layers.map((l, i) => {
    mkdirSync(join(root, String(i)), { recursive: true });
    writeFileSync(join(root, String(i), 'layer.tar'), l);
    return `${i}/layer.tar`;
  });
  const config = Buffer.from(
    JSON.stringify({
      architecture: process.arch === 'x64' ? 'amd64' : process.arch,
      os: 'linux',
      created: '2024-01-01T00:00:00Z',
      config: { Cmd: ['sh'] },
      rootfs: { type: 'layers', diff_ids: layers.map((l) => `sha256:${sha256(l)}`) },
      history: layers.map((_, i) => ({ created: '2024-01-01T00:00:00Z', created_by: `layer ${i}` })),
    }),
  );
  const configName = `${sha256(config)}.json`;
  writeFileSync(join(root, configName), config);
  writeFileSync(join(root, 'manifest.json'), JSON.stringify([{ Config: configName, RepoTags: [tag], Layers: names }]));
  const out = `${root}.tar`;
  const r = spawnSync('tar', ['-C', root, '-cf', out, '.']);
  assert.equal(r.status, 0, String(r.stderr));
  return out;
}

/**
 * The layer store has no half-made layer: tmp/ empties (a failed load may answer
 * while a sibling layer's unpack is still being stopped) and no short link dangles.
 */
async function assertLayersClean(daemon: Daemon): Promise<void> {
  const root = join(daemon.dataRoot, 'layers');
  await waitFor('layers/tmp to be empty', () => readdirSync(join(root, 'tmp')).length === 0, 10_000, 100).catch(() => undefined);
  assert.deepEqual(readdirSync(join(root, 'tmp')), [], 'layers/tmp is empty');
  for (const l of readdirSync(join(root, 'l'))) assert.ok(existsSync(join(root, 'l', l)), `link l/${l} resolves`);
}

test('copy-on-write: a container write is seen by neither the image nor a sibling; diff, commit, history, --change', async () => {
  await d.dockerOk(['run', '--name', 'cow-base', 'busybox', 'sh', '-c', 'mkdir /data && echo 1 > /data/a && echo 2 > /data/b']);
  assert.deepEqual((await d.dockerOk(['diff', 'cow-base'])).split('\n'), ['A /data', 'A /data/a', 'A /data/b']);
  assert.match(await d.dockerOk(['commit', 'cow-base', 'cow-base:v1']), /^sha256:[0-9a-f]{64}$/);

  await d.dockerOk(['run', '--name', 'cow-a', 'cow-base:v1', 'sh', '-c', 'rm -rf /data && mkdir /data && echo 3 > /data/c && rm /etc/group && echo A > /etc/motd']);
  // dockerd's overlay2 compares the container's tree with the image's: the re-made dir (opaque
  // on disk) is modified, its old contents deleted and its new ones added.
  assert.deepEqual((await d.dockerOk(['diff', 'cow-a'])).split('\n'), ['C /data', 'A /data/c', 'D /data/a', 'D /data/b', 'C /etc', 'D /etc/group', 'A /etc/motd']);
  const api = await d.api('GET', '/containers/cow-a/changes');
  assert.equal(api.status, 200);
  assert.deepEqual(api.json[0], { Path: '/data', Kind: 0 });

  const sibling = await d.docker(['run', '--rm', 'cow-base:v1', 'sh', '-c', 'ls /data; test -e /etc/group && echo group; test -e /etc/motd && echo leaked; true']);
  assert.equal(sibling.stdout, 'a\nb\ngroup\n', 'a sibling container sees the image as it was');

  const id = await d.dockerOk(['commit', '-a', 'Tester <t@example.com>', '-m', 'second', '-c', 'ENV X=1', '-c', 'CMD ["cat", "/data/c"]', 'cow-a', 'cow-img']);
  assert.match(id, /^sha256:[0-9a-f]{64}$/);
  assert.equal(await d.dockerOk(['run', '--rm', 'cow-img']), '3', 'CMD from --change');
  const inside = await d.docker(['run', '--rm', 'cow-img', 'sh', '-c', 'ls /data; test -e /etc/group || echo nogroup; cat /etc/motd; echo $X']);
  assert.equal(inside.stdout, 'c\nnogroup\nA\n1\n', 'deletions and the replaced dir persist in the committed image');

  const hist = (await d.dockerOk(['history', '--no-trunc', '--format', '{{.CreatedBy}}|{{.Comment}}', 'cow-img'])).split('\n');
  assert.equal(hist[0], 'sh -c rm -rf /data && mkdir /data && echo 3 > /data/c && rm /etc/group && echo A > /etc/motd|second');
  assert.equal(hist.length, 3);
  const img = JSON.parse(await d.dockerOk(['image', 'inspect', 'cow-img']))[0];
  assert.equal(img.Author, 'Tester <t@example.com>');
  assert.ok(img.Config.Env.includes('X=1'));
  assert.equal(img.RootFS.Layers.length, 3);

  // An unchanged container still commits a (empty) layer, as Docker does.
  await d.dockerOk(['create', '--name', 'cow-empty', 'cow-img']);
  assert.equal(await d.dockerOk(['diff', 'cow-empty']), '');
  await d.dockerOk(['commit', 'cow-empty', 'cow-empty-img']);
  const empty = JSON.parse(await d.dockerOk(['image', 'inspect', 'cow-empty-img']))[0];
  assert.equal(empty.RootFS.Layers.length, 4);
  assert.equal(empty.RootFS.Layers[3], 'sha256:5f70bf18a086007016e948b04aed3b82103a36bea41755b6cddfaf10ace3c6ef');

  const bad = await d.docker(['commit', 'no-such-container']);
  assert.equal(bad.code, 1);
  assert.match(bad.stderr, /No such container: no-such-container/);
});

test('diff and export of a running container; export of a stopped one re-imports; no temporary mount is left', async () => {
  await d.dockerOk(['run', '-d', '--name', 'exp-run', 'busybox', 'sh', '-c', 'echo hi > /tmp/run-file; sleep 300']);
  await waitFor('the running container to write its file', async () => (await d.dockerOk(['diff', 'exp-run'])).includes('A /tmp/run-file'), 10_000, 100);
  const running = join(d.dir, 'running.tar');
  await d.dockerOk(['export', '-o', running, 'exp-run']);
  const names = tarList(running);
  assert.ok(names.includes('tmp/run-file') && names.includes('bin/busybox'), names.slice(0, 20).join(' '));
  assert.match(await d.dockerOk(['commit', 'exp-run', 'exp-running-img']), /^sha256:/, 'commit pauses and resumes a running container');
  assert.equal((await d.inspect('exp-run')).State.Status, 'running');
  await d.dockerOk(['rm', '-f', 'exp-run']);

  const stopped = join(d.dir, 'stopped.tar');
  await d.dockerOk(['run', '--name', 'exp-stopped', 'busybox', 'sh', '-c', 'mkdir -p /srv/x && echo exported > /srv/x/f && rm /etc/passwd']);
  await d.dockerOk(['export', '--output', stopped, 'exp-stopped']);
  const snames = tarList(stopped);
  assert.ok(snames.includes('srv/x/f'));
  assert.ok(!snames.includes('etc/passwd'), 'a deleted file is not exported');
  assert.match(await d.dockerOk(['import', stopped, 'reimported']), /^sha256:/);
  assert.equal(await d.dockerOk(['run', '--rm', 'reimported', 'cat', '/srv/x/f']), 'exported');
  assert.deepEqual(mountsUnder(d.dataRoot).filter((m) => m.includes('/view-')), [], 'export mounts are released');

  const piped = await run('sh', ['-c', `docker -H ${d.host} export exp-stopped | tar -t | wc -l`], { env: d.env() });
  assert.equal(Number(piped.stdout.trim()), snames.length, 'export to a pipe gives the same tar');
  const missing = await d.docker(['export', '-o', join(d.dir, 'x.tar'), 'nope']);
  assert.equal(missing.code, 1);
  assert.match(missing.stderr, /No such container: nope/);
});

test('an image with 125 layers loads, mounts and runs', async () => {
  const layers: Buffer[] = [readFileSync(d.busyboxTar())];
  for (let i = 1; i < 125; i++) layers.push(await makeTar([{ name: `f${i}`, data: `layer ${i}\n` }]));
  // One load of 125 new layers: unpack slots must go parent first or children starve their parent.
  const archive = writeArchive(d.dir, 'many:layers', layers);
  assert.match(await d.dockerOk(['load', '-i', archive], { timeoutMs: 60_000 }), /Loaded image: many:layers/);
  const r = await d.dockerOk(['run', '--rm', 'many:layers', 'sh', '-c', 'cat /f1 /f124; ls / | grep -c "^f"']);
  assert.equal(r, 'layer 1\nlayer 124\n124');
  await d.dockerOk(['run', '--name', 'many-c', 'many:layers', 'sh', '-c', 'rm /f7; echo x > /f8']);
  assert.deepEqual((await d.dockerOk(['diff', 'many-c'])).split('\n'), ['D /f7', 'C /f8']);
  await d.dockerOk(['commit', 'many-c', 'many:more']);
  assert.equal(await d.dockerOk(['run', '--rm', 'many:more', 'sh', '-c', 'test -e /f7 || echo gone; cat /f8']), 'gone\nx');
});

test('hostile layer tars through docker import and load never touch the host; failures leave no layer behind', async () => {
  const sentinel = join(d.dir, 'sentinel');
  writeFileSync(sentinel, 'untouched');
  const before = statSync(sentinel).mtimeMs;
  const importTar = async (name: string, entries: FixtureEntry[] | Buffer) => {
    const file = join(d.dir, `${name}.tar`);
    writeFileSync(file, Buffer.isBuffer(entries) ? entries : await makeTar(entries));
    return d.docker(['import', file, `hostile-${name}`]);
  };
  const up = '../'.repeat(12);

  const dotdot = await importTar('dotdot', [{ name: `${up}${sentinel.slice(1)}`, data: 'pwned' }]);
  assert.equal(dotdot.code, 1);
  assert.match(dotdot.stderr, /escapes the layer root/);

  const abs = await importTar('absolute', [{ name: sentinel, data: 'pwned' }]);
  assert.equal(abs.code, 0, abs.stderr);
  assert.equal(await d.dockerOk(['image', 'inspect', '-f', '{{len .RootFS.Layers}}', 'hostile-absolute']), '1', 'an absolute path lands inside the layer');

  const through = await importTar('symlink', [
    { name: 'esc', type: 'symlink', linkname: d.dir },
    { name: 'esc/sentinel', data: 'pwned' },
    { name: 'up', type: 'symlink', linkname: up.slice(0, -1) },
    { name: `up${sentinel}`, data: 'pwned' },
  ]);
  assert.equal(through.code, 0, through.stderr);

  const hard = await importTar('hardlink', [{ name: 'h', type: 'link', linkname: `${up}${sentinel.slice(1)}` }]);
  assert.equal(hard.code, 1);
  assert.match(hard.stderr, /hardlink|escapes/);

  const dev = await importTar('device', [
    { name: 'mem', type: 'character-device', devmajor: 1, devminor: 1, mode: 0o666 },
    { name: 'disk', type: 'block-device', devmajor: 8, devminor: 0, mode: 0o666 },
    { name: 'ok', data: 'ok' },
  ]);
  assert.equal(dev.code, 0, dev.stderr);
  const devImg = await importTar('device-busybox', Buffer.concat([stripEnd(readFileSync(d.busyboxTar())), await makeTar([{ name: 'mem', type: 'character-device', devmajor: 1, devminor: 1, mode: 0o666 }])]));
  assert.equal(devImg.code, 0, devImg.stderr);
  assert.equal(await d.dockerOk(['run', '--rm', 'hostile-device-busybox', 'sh', '-c', 'test -e /mem && echo present || echo skipped']), 'skipped');

  const huge = await importTar('huge', Buffer.concat([rawHeader('huge', '0', 0o77777777777), Buffer.alloc(4096)]));
  assert.equal(huge.code, 1);
  assert.match(huge.stderr, /truncated or corrupt/);

  const good = await makeTar([{ name: 'x', data: 'x' }]);
  const badSum = Buffer.from(good);
  badSum[150] ^= 0x01;
  const bad = await importTar('checksum', badSum);
  assert.equal(bad.code, 1);

  // docker load with a corrupt layer: no image, no layer.
  const corrupt = Buffer.concat([padBlock(Buffer.from(rawHeader('a', '0', 100))), Buffer.alloc(10)]);
  const archive = writeArchive(d.dir, 'hostile:load', [readFileSync(d.busyboxTar()), corrupt]);
  const load = await d.docker(['load', '-i', archive]);
  assert.notEqual(load.code, 0);
  assert.equal((await d.docker(['image', 'inspect', 'hostile:load'])).code, 1);

  assert.equal(readFileSync(sentinel, 'utf8'), 'untouched');
  assert.equal(statSync(sentinel).mtimeMs, before);
  assert.deepEqual(readdirSync(d.dir).filter((n) => n.startsWith('pwned')), []);
  await assertLayersClean(d);
});

test('vfs: docker info and inspect name the driver; copy-on-write, diff, commit and export work the same', async () => {
  assert.equal(await v.dockerOk(['info', '--format', '{{.Driver}}']), 'vfs');
  await v.dockerOk(['run', '--name', 'va', 'busybox', 'sh', '-c', 'echo A > /etc/motd && rm /etc/group && mkdir /data && echo 1 > /data/f']);
  const info = await v.inspect('va');
  assert.equal(info.GraphDriver.Name, 'vfs');
  assert.equal(info.Driver, 'vfs');
  const sibling = await v.docker(['run', '--rm', 'busybox', 'sh', '-c', 'test -e /etc/motd && echo leaked; test -e /etc/group && echo group; true']);
  assert.equal(sibling.stdout, 'group\n');
  // vfs compares trees (Docker's naive diff): within a dir, additions and modifications first, then deletions.
  assert.deepEqual((await v.dockerOk(['diff', 'va'])).split('\n'), ['A /data', 'A /data/f', 'C /etc', 'A /etc/motd', 'D /etc/group']);
  await v.dockerOk(['commit', '-c', 'ENV V=1', 'va', 'vimg']);
  assert.equal(await v.dockerOk(['run', '--rm', 'vimg', 'sh', '-c', 'test -e /etc/group || echo gone; cat /etc/motd /data/f; echo $V']), 'gone\nA\n1\n1');
  const tarFile = join(v.dir, 'va.tar');
  await v.dockerOk(['export', '-o', tarFile, 'va']);
  const names = tarList(tarFile);
  assert.ok(names.includes('etc/motd') && names.includes('data/f') && !names.includes('etc/group'));
  await assertLayersClean(v);

  // An unknown driver stops the daemon at start with a clear message.
  const root = join(v.dir, 'bad-driver');
  const r = await run(BERTHD, ['-H', `unix://${root}/s.sock`, '--data-root', join(root, 'data'), '--exec-root', join(root, 'exec'), '--pidfile', join(root, 'pid'), '--storage-driver', 'zfs'], { timeoutMs: 20_000 });
  assert.notEqual(r.code, 0);
  assert.match(r.stderr, /driver not supported: zfs; use overlay2 or vfs/);
});
