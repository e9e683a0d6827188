/**
 * Pull and push through the docker CLI against Debian's docker-registry (the CNCF
 * distribution registry) started on 127.0.0.1, and skopeo as the other peer.
 */
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { randomBytes } from 'node:crypto';
import { spawnSync } from 'node:child_process';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { gzipSync } from 'node:zlib';
import { sha, startRegistry, startServer, type TestRegistry } from '../../src/image/registry/test-registry';
import { run, startBerthRegistry, useDaemon } from './harness';

const d = useDaemon();

/** Writes blobs into an OCI layout's blobs/sha256 and returns each one's digest. */
function blobWriter(layout: string): (b: Buffer) => string {
  const blobs = join(layout, 'blobs', 'sha256');
  mkdirSync(blobs, { recursive: true });
  return (b) => {
    writeFileSync(join(blobs, sha(b).slice(7)), b);
    return sha(b);
  };
}
let reg: TestRegistry;

before(async () => {
  reg = await startRegistry();
});
after(async () => {
  await reg?.stop();
});

test('push to a registry, rmi, pull back: same image, RepoDigests filled, the container runs', async () => {
  const since = Math.floor(Date.now() / 1000) - 1;
  const name = `${reg.domain}/tools/busybox`;
  await d.dockerOk(['tag', 'busybox', `${name}:v1`]);
  const push = await d.docker(['push', `${name}:v1`], { timeoutMs: 60_000 });
  assert.equal(push.code, 0, push.stderr);
  assert.match(push.stdout, new RegExp(`The push refers to repository \\[${reg.domain}/tools/busybox\\]`));
  assert.match(push.stdout, /[0-9a-f]{12}: Pushed/);
  const pushed = /v1: digest: (sha256:[0-9a-f]{64}) size: (\d+)/.exec(push.stdout);
  assert.ok(pushed, push.stdout);
  const id = await d.dockerOk(['inspect', '-f', '{{.Id}}', `${name}:v1`]);
  // As dockerd: the pushed image has the manifest's digest as a repository digest.
  assert.equal(await d.dockerOk(['inspect', '-f', '{{json .RepoDigests}}', `${name}:v1`]), JSON.stringify([`${name}@${pushed[1]}`]));
  assert.match(await d.dockerOk(['images', '--digests', '--format', '{{.Repository}}:{{.Tag}} {{.Digest}}', name]), new RegExp(`^${name}:v1 ${pushed[1]}$`));
  // A tag or a repository with no local image: named first, then refused, in dockerd's words.
  const noTag = await d.docker(['push', `${name}:nosuch`], { timeoutMs: 60_000 });
  assert.equal(noTag.code, 1);
  assert.equal(noTag.stdout, `The push refers to repository [${name}]\n`);
  assert.equal(noTag.stderr, `tag does not exist: ${name}:nosuch\n`);
  const noRepo = await d.docker(['push', `${reg.domain}/tools/none:v1`], { timeoutMs: 60_000 });
  assert.equal(noRepo.code, 1);
  assert.equal(noRepo.stderr, `An image does not exist locally with the tag: ${reg.domain}/tools/none\n`);

  // Pushed again: nothing to send, the same manifest digest.
  const again = await d.dockerOk(['push', `${name}:v1`], { timeoutMs: 60_000 });
  assert.match(again, /Layer already exists/);
  assert.match(again, new RegExp(`v1: digest: ${pushed[1]} size: ${pushed[2]}`));

  await d.dockerOk(['rmi', `${name}:v1`]);
  const pull = await d.docker(['pull', `${name}:v1`], { timeoutMs: 60_000 });
  assert.equal(pull.code, 0, pull.stderr);
  assert.match(pull.stdout, /v1: Pulling from tools\/busybox/);
  assert.match(pull.stdout, new RegExp(`Digest: ${pushed[1]}`));
  assert.match(pull.stdout, new RegExp(`Status: Downloaded newer image for ${name}:v1`));
  assert.equal(pull.stdout.trim().split('\n').at(-1), `${name}:v1`);
  assert.equal(await d.dockerOk(['inspect', '-f', '{{.Id}}', `${name}:v1`]), id);
  assert.equal(await d.dockerOk(['inspect', '-f', '{{json .RepoDigests}}', `${name}:v1`]), JSON.stringify([`${name}@${pushed[1]}`]));
  assert.equal(await d.dockerOk(['run', '--rm', `${name}:v1`, 'echo', 'pulled']), 'pulled');

  const upToDate = await d.dockerOk(['pull', `${name}:v1`], { timeoutMs: 60_000 });
  assert.match(upToDate, new RegExp(`Status: Image is up to date for ${name}:v1`));
  // By digest, too.
  const byDigest = await d.docker(['pull', `${name}@${pushed[1]}`], { timeoutMs: 60_000 });
  assert.equal(byDigest.code, 0, byDigest.stderr);
  // The same image under a second repository of the same registry: its layers are mounted, not sent.
  await d.dockerOk(['tag', `${name}:v1`, `${reg.domain}/other/copy:v1`]);
  const mounted = await d.dockerOk(['push', `${reg.domain}/other/copy:v1`], { timeoutMs: 60_000 });
  assert.match(mounted, /[0-9a-f]{12}: Mounted from tools\/busybox\n/);
  // dockerd's image events for them: the reference as the actor, the repository as its name.
  const events = await d.dockerOk(['events', '--since', String(since), '--until', String(Math.floor(Date.now() / 1000) + 1), '--filter', 'type=image',
    '--filter', 'event=push', '--filter', 'event=pull', '--format', '{{.Action}} {{.Actor.ID}} {{.Actor.Attributes.name}}']);
  assert.deepEqual(events.split('\n').slice(0, 3), [`push ${name}:v1 ${name}`, `push ${name}:v1 ${name}`, `pull ${name}:v1 ${name}`]);
});

test('rmi of a pulled image\'s last tag in its repository takes the repository\'s digest reference too, as dockerd does', async () => {
  const repo = `${reg.domain}/digests/busybox`;
  await d.dockerOk(['tag', 'busybox', `${repo}:a`]);
  await d.dockerOk(['push', `${repo}:a`], { timeoutMs: 60_000 });
  await d.dockerOk(['rmi', `${repo}:a`]);
  await d.dockerOk(['pull', `${repo}:a`], { timeoutMs: 60_000 });
  await d.dockerOk(['tag', `${repo}:a`, `${repo}:b`]);
  const digest = JSON.parse(await d.dockerOk(['image', 'inspect', '-f', '{{json .RepoDigests}}', `${repo}:a`])).find((r: string) => r.startsWith(`${repo}@`));
  assert.ok(digest);
  // another tag of the repository is left: only the name goes
  assert.equal(await d.dockerOk(['rmi', `${repo}:a`]), `Untagged: ${repo}:a`);
  assert.equal((await d.docker(['image', 'inspect', digest])).code, 0);
  // the last one: the digest reference goes with it; busybox keeps the image
  assert.equal(await d.dockerOk(['rmi', `${repo}:b`]), `Untagged: ${repo}:b\nUntagged: ${digest}`);
  assert.notEqual((await d.docker(['image', 'inspect', digest])).code, 0);
  assert.doesNotMatch(await d.dockerOk(['images', '--digests']), /digests\/busybox/);
});

test('docker run of a missing image pulls it, as the CLI does on a 404', async () => {
  const name = `${reg.domain}/auto/busybox:latest`;
  await d.dockerOk(['tag', 'busybox', name]);
  await d.dockerOk(['push', name], { timeoutMs: 60_000 });
  await d.dockerOk(['rmi', name]);
  const r = await d.docker(['run', '--rm', name, 'echo', 'hello'], { timeoutMs: 60_000 });
  assert.equal(r.code, 0, r.stderr);
  assert.equal(r.stdout, 'hello\n');
  assert.match(r.stderr, new RegExp(`Unable to find image '${name}' locally`));
});

test('pull errors: unknown tag, unknown repository, unreachable registry; nothing is left behind', async () => {
  const before = readdirSync(join(d.dataRoot, 'blobs', 'sha256')).length;
  const tag = await d.docker(['pull', `${reg.domain}/tools/busybox:nope`], { timeoutMs: 30_000 });
  assert.equal(tag.code, 1);
  assert.match(tag.stderr, new RegExp(`Error response from daemon: manifest for ${reg.domain}/tools/busybox:nope not found: manifest unknown`));
  const repo = await d.docker(['pull', `${reg.domain}/no/such:latest`], { timeoutMs: 30_000 });
  assert.equal(repo.code, 1);
  assert.match(repo.stderr, /Error response from daemon: .*(not found|unknown)/);
  const down = await d.docker(['pull', '127.0.0.1:1/x:latest'], { timeoutMs: 30_000 });
  assert.equal(down.code, 1);
  assert.match(down.stderr, /connect: connection refused/);
  assert.equal(readdirSync(join(d.dataRoot, 'blobs', 'sha256')).length, before);
});

test('skopeo copies an OCI image with a gzip layer into the registry; berth pulls and runs it', async () => {
  // An OCI layout made here: busybox's rootfs as one gzip layer.
  const layout = mkdtempSync(join(tmpdir(), 'berth-oci-'));
  try {
    const plain = readFileSync(d.busyboxTar());
    const gz = gzipSync(plain);
    const put = blobWriter(layout);
    const config = Buffer.from(JSON.stringify({
      architecture: 'amd64', os: 'linux', config: { Cmd: ['sh'], Env: ['FROM_SKOPEO=1'] },
      rootfs: { type: 'layers', diff_ids: [sha(plain)] }, history: [{ created_by: 'test' }],
    }));
    const manifest = Buffer.from(JSON.stringify({
      schemaVersion: 2, mediaType: 'application/vnd.oci.image.manifest.v1+json',
      config: { mediaType: 'application/vnd.oci.image.config.v1+json', digest: put(config), size: config.length },
      layers: [{ mediaType: 'application/vnd.oci.image.layer.v1.tar+gzip', digest: put(gz), size: gz.length }],
    }));
    const mdigest = put(manifest);
    writeFileSync(join(layout, 'oci-layout'), '{"imageLayoutVersion":"1.0.0"}');
    writeFileSync(join(layout, 'index.json'), JSON.stringify({
      schemaVersion: 2, manifests: [{ mediaType: 'application/vnd.oci.image.manifest.v1+json', digest: mdigest, size: manifest.length, annotations: { 'org.opencontainers.image.ref.name': 'v1' } }],
    }));
    const copy = await run('skopeo', ['copy', '--dest-tls-verify=false', `oci:${layout}:v1`, `docker://${reg.domain}/from/skopeo:v1`], { timeoutMs: 60_000 });
    assert.equal(copy.code, 0, copy.stderr);
    const pull = await d.docker(['pull', `${reg.domain}/from/skopeo:v1`], { timeoutMs: 60_000 });
    assert.equal(pull.code, 0, pull.stderr);
    assert.match(pull.stdout, new RegExp(`Digest: ${mdigest}`));
    assert.equal(await d.dockerOk(['run', '--rm', `${reg.domain}/from/skopeo:v1`, 'sh', '-c', 'echo $FROM_SKOPEO']), '1');

    // What Berth pushes, skopeo reads back.
    await d.dockerOk(['tag', 'busybox', `${reg.domain}/for/skopeo:v2`]);
    await d.dockerOk(['push', `${reg.domain}/for/skopeo:v2`], { timeoutMs: 60_000 });
    const inspect = await run('skopeo', ['inspect', '--tls-verify=false', `docker://${reg.domain}/for/skopeo:v2`], { timeoutMs: 60_000 });
    assert.equal(inspect.code, 0, inspect.stderr);
    const info = JSON.parse(inspect.stdout);
    assert.equal(info.Architecture, 'amd64');
    assert.equal(info.Layers.length, 1);
  } finally {
    rmSync(layout, { recursive: true, force: true });
  }
});

test('GET /distribution/{name}/json answers the descriptor and platforms', async () => {
  const name = `${reg.domain}/tools/busybox:v1`;
  const r = await d.api('GET', `/distribution/${name}/json`);
  assert.equal(r.status, 200, JSON.stringify(r.json));
  assert.equal(r.json.Descriptor.mediaType, 'application/vnd.oci.image.manifest.v1+json');
  assert.match(r.json.Descriptor.digest, /^sha256:[0-9a-f]{64}$/);
  assert.deepEqual(r.json.Platforms, [{ architecture: 'amd64', os: 'linux' }]);
  const bad = await d.api('POST', '/auth', { username: 'u', password: 'p', serveraddress: 'not a host!' });
  assert.equal(bad.status, 400);
  assert.equal(bad.json.message, 'invalid registry address "not a host!": use HOST[:PORT], e.g. 127.0.0.1:5000');
});

test('Berth\'s own registry with htpasswd: docker login, push, pull; wrong or missing credentials refused', async () => {
  const root = mkdtempSync(join(tmpdir(), 'berth-own-registry-'));
  const registry = await startBerthRegistry(root, 'alice', 's3cret');
  try {
    const { addr } = registry;
    const name = `${addr}/team/busybox:v1`;
    await d.dockerOk(['tag', 'busybox', name]);
    const anonymous = await d.docker(['push', name], { timeoutMs: 60_000 });
    assert.notEqual(anonymous.code, 0);
    assert.match(anonymous.stdout + anonymous.stderr, /unauthorized|authentication required|denied/i);
    const wrong = await d.docker(['login', addr, '-u', 'alice', '--password-stdin'], { input: 'nope\n', timeoutMs: 30_000 });
    assert.equal(wrong.code, 1);
    assert.match(wrong.stderr, /Error response from daemon: login attempt to http:\/\/127\.0\.0\.1:\d+\/v2\/ failed with status: 401 Unauthorized/);
    const login = await d.docker(['login', addr, '-u', 'alice', '--password-stdin'], { input: 's3cret\n', timeoutMs: 30_000 });
    assert.equal(login.code, 0, login.stderr);
    assert.match(login.stdout, /Login Succeeded/);
    const push = await d.docker(['push', name], { timeoutMs: 60_000 });
    assert.equal(push.code, 0, push.stderr);
    assert.match(push.stdout, /v1: digest: sha256:[0-9a-f]{64} size: \d+/);
    await d.dockerOk(['rmi', name]);
    const pull = await d.docker(['pull', name], { timeoutMs: 60_000 });
    assert.equal(pull.code, 0, pull.stderr);
    assert.equal(await d.dockerOk(['run', '--rm', name, 'echo', 'from-berth-registry']), 'from-berth-registry');
    await d.dockerOk(['logout', addr]);
    await d.dockerOk(['rmi', name]);
    const denied = await d.docker(['pull', name], { timeoutMs: 60_000 });
    assert.equal(denied.code, 1);
  } finally {
    registry.stop();
    rmSync(root, { recursive: true, force: true });
  }
});

test('a registry that serves a layer not matching its digest, or answers 429: the pull fails with a clear message and leaves nothing', async () => {
  // A layer no image here has, so that it must be downloaded.
  const src = mkdtempSync(join(tmpdir(), 'berth-layer-'));
  writeFileSync(join(src, 'data'), randomBytes(256 * 1024));
  const plain = spawnSync('tar', ['-C', src, '-cf', '-', '.']).stdout as Buffer;
  rmSync(src, { recursive: true, force: true });
  const layer = gzipSync(plain);
  const bad = Buffer.from(layer);
  bad[bad.length - 100] ^= 0xff;
  const config = Buffer.from(JSON.stringify({ architecture: 'amd64', os: 'linux', config: {}, rootfs: { type: 'layers', diff_ids: [sha(plain)] } }));
  const manifest = Buffer.from(JSON.stringify({
    schemaVersion: 2, mediaType: 'application/vnd.docker.distribution.manifest.v2+json',
    config: { mediaType: 'application/vnd.docker.container.image.v1+json', digest: sha(config), size: config.length },
    layers: [{ mediaType: 'application/vnd.docker.image.rootfs.diff.tar.gzip', digest: sha(layer), size: layer.length }],
  }));
  const server = await startServer((req, res): void => {
    const url = req.url ?? '';
    if (url === '/v2/') {
      res.end('{}');
    } else if (url.startsWith('/v2/busy/manifests/')) {
      res.writeHead(429, { 'Content-Type': 'application/json', 'Retry-After': '30' });
      res.end('{"errors":[{"code":"TOOMANYREQUESTS","message":"slow down"}]}');
    } else if (url.startsWith('/v2/bad/manifests/')) {
      res.writeHead(200, { 'Content-Type': 'application/vnd.docker.distribution.manifest.v2+json', 'Docker-Content-Digest': sha(manifest) });
      res.end(manifest);
    } else if (url === `/v2/bad/blobs/${sha(config)}`) {
      res.end(config);
    } else if (url === `/v2/bad/blobs/${sha(layer)}`) {
      // The layer, with one byte changed.
      res.end(bad);
    } else {
      res.writeHead(404).end();
    }
  });
  try {
    const blobs = readdirSync(join(d.dataRoot, 'blobs', 'sha256')).length;
    const layers = readdirSync(join(d.dataRoot, 'layers')).length;
    const mismatch = await d.docker(['pull', `${server.domain}/bad:v1`], { timeoutMs: 60_000 });
    assert.equal(mismatch.code, 1);
    assert.match(mismatch.stderr, new RegExp(`digest mismatch: expected ${sha(layer)}, received sha256:[0-9a-f]{64}`));
    assert.equal((await d.docker(['inspect', `${server.domain}/bad:v1`])).code, 1);
    assert.equal(readdirSync(join(d.dataRoot, 'blobs', 'sha256')).length, blobs);
    assert.equal(readdirSync(join(d.dataRoot, 'layers')).length, layers);
    const limited = await d.docker(['pull', `${server.domain}/busy:v1`], { timeoutMs: 60_000 });
    assert.equal(limited.code, 1);
    assert.match(limited.stderr, /rate-limited by the registry.*retry after 30 seconds/);
  } finally {
    await server.close();
  }
});

test('skopeo pushes a Docker schema 2 image and a two-platform index; berth pulls the amd64 one, and --platform picks the other', async () => {
  const layout = mkdtempSync(join(tmpdir(), 'berth-oci-index-'));
  try {
    const put = blobWriter(layout);
    const plain = readFileSync(d.busyboxTar());
    const gz = gzipSync(plain);
    const layerDigest = put(gz);
    const image = (arch: string) => {
      const config = Buffer.from(JSON.stringify({
        architecture: arch, os: 'linux', config: { Env: [`ARCH=${arch}`] }, rootfs: { type: 'layers', diff_ids: [sha(plain)] },
      }));
      const manifest = Buffer.from(JSON.stringify({
        schemaVersion: 2, mediaType: 'application/vnd.oci.image.manifest.v1+json',
        config: { mediaType: 'application/vnd.oci.image.config.v1+json', digest: put(config), size: config.length },
        layers: [{ mediaType: 'application/vnd.oci.image.layer.v1.tar+gzip', digest: layerDigest, size: gz.length }],
      }));
      return { config, manifest, digest: put(manifest) };
    };
    const amd = image('amd64');
    const arm = image('arm64');
    const index = Buffer.from(JSON.stringify({
      schemaVersion: 2, mediaType: 'application/vnd.oci.image.index.v1+json',
      manifests: [
        { mediaType: 'application/vnd.oci.image.manifest.v1+json', digest: arm.digest, size: arm.manifest.length, platform: { architecture: 'arm64', os: 'linux', variant: 'v8' } },
        { mediaType: 'application/vnd.oci.image.manifest.v1+json', digest: amd.digest, size: amd.manifest.length, platform: { architecture: 'amd64', os: 'linux' } },
      ],
    }));
    const indexDigest = put(index);
    writeFileSync(join(layout, 'oci-layout'), '{"imageLayoutVersion":"1.0.0"}');
    writeFileSync(join(layout, 'index.json'), JSON.stringify({
      schemaVersion: 2, manifests: [{ mediaType: 'application/vnd.oci.image.index.v1+json', digest: indexDigest, size: index.length, annotations: { 'org.opencontainers.image.ref.name': 'multi' } }],
    }));
    const all = await run('skopeo', ['copy', '--all', '--preserve-digests', '--dest-tls-verify=false', `oci:${layout}:multi`, `docker://${reg.domain}/multi/arch:v1`], { timeoutMs: 60_000 });
    assert.equal(all.code, 0, all.stderr);
    const pull = await d.docker(['pull', `${reg.domain}/multi/arch:v1`], { timeoutMs: 60_000 });
    assert.equal(pull.code, 0, pull.stderr);
    // The repo digest is the index's, as dockerd records it; the image is the amd64 one.
    assert.match(pull.stdout, new RegExp(`Digest: ${indexDigest}`));
    assert.equal(await d.dockerOk(['inspect', '-f', '{{.Id}} {{.Architecture}}', `${reg.domain}/multi/arch:v1`]), `${sha(amd.config)} amd64`);
    const arm64 = await d.docker(['pull', '--platform', 'linux/arm64', `${reg.domain}/multi/arch:v1`], { timeoutMs: 60_000 });
    assert.equal(arm64.code, 0, arm64.stderr);
    assert.equal(await d.dockerOk(['inspect', '-f', '{{.Id}} {{.Architecture}}', `${reg.domain}/multi/arch:v1`]), `${sha(arm.config)} arm64`);
    const none = await d.docker(['pull', '--platform', 'linux/s390x', `${reg.domain}/multi/arch:v1`], { timeoutMs: 60_000 });
    assert.equal(none.code, 1);
    assert.match(none.stderr, /no matching manifest for linux\/s390x in the manifest list entries/);

    // Docker schema 2, as skopeo converts it.
    const v2s2 = await run('skopeo', ['copy', '--format', 'v2s2', '--dest-tls-verify=false', `oci:${layout}:multi`, `docker://${reg.domain}/schema2/img:v1`], { timeoutMs: 60_000 });
    assert.equal(v2s2.code, 0, v2s2.stderr);
    const raw = await run('skopeo', ['inspect', '--raw', '--tls-verify=false', `docker://${reg.domain}/schema2/img:v1`], { timeoutMs: 60_000 });
    assert.equal(JSON.parse(raw.stdout).mediaType, 'application/vnd.docker.distribution.manifest.v2+json');
    const p2 = await d.docker(['pull', `${reg.domain}/schema2/img:v1`], { timeoutMs: 60_000 });
    assert.equal(p2.code, 0, p2.stderr);
    assert.equal(await d.dockerOk(['run', '--rm', `${reg.domain}/schema2/img:v1`, 'sh', '-c', 'echo $ARCH']), 'amd64');
  } finally {
    rmSync(layout, { recursive: true, force: true });
  }
});

test('an image saved by dockerd, loaded and pushed twice: the same manifest and layer digests both times; pulled back it runs', async () => {
  const fixture = join(__dirname, '..', '..', '..', 'test', 'fixtures', 'dockerd-save.tar');
  assert.equal(await d.dockerOk(['load', '-q', '-i', fixture]), 'Loaded image: fixture/dockerd:v1');
  const name = `${reg.domain}/from/dockerd:v1`;
  await d.dockerOk(['tag', 'fixture/dockerd:v1', name]);
  const first = await d.dockerOk(['push', name], { timeoutMs: 60_000 });
  const digest = /v1: digest: (sha256:[0-9a-f]{64})/.exec(first)?.[1];
  assert.ok(digest, first);
  const manifest = async () => JSON.parse((await run('skopeo', ['inspect', '--raw', '--tls-verify=false', `docker://${name}`])).stdout);
  const m1 = await manifest();
  // Pushed again to a fresh repository of the same image: byte-identical manifest, same layers.
  const again = `${reg.domain}/from/dockerd-again:v1`;
  await d.dockerOk(['tag', 'fixture/dockerd:v1', again]);
  const second = await d.dockerOk(['push', again], { timeoutMs: 60_000 });
  assert.match(second, new RegExp(`v1: digest: ${digest} `));
  const m2 = JSON.parse((await run('skopeo', ['inspect', '--raw', '--tls-verify=false', `docker://${again}`])).stdout);
  assert.deepEqual(m2, m1);
  await d.dockerOk(['rmi', 'fixture/dockerd:v1', name, again]);
  await d.dockerOk(['pull', name], { timeoutMs: 60_000 });
  // The image has files only: busybox is bound in to read them.
  assert.equal(await d.dockerOk(['run', '--rm', '-v', '/usr/bin/busybox:/busybox:ro', name, '/busybox', 'cat', '/etc/motd']), "made by dockerd for berth's tests");
});

test('docker pull and docker rmi of the same image at once: every outcome is clean, what is left is whole, no orphan blob', async () => {
  const name = `${reg.domain}/race/app:1`;
  await d.dockerOk(['run', '--name', 'racemaker', 'busybox', 'sh', '-c', 'head -c 3000000 /dev/urandom > /big']);
  const id = await d.dockerOk(['commit', 'racemaker', name]);
  await d.dockerOk(['rm', 'racemaker']);
  assert.equal((await d.docker(['push', name], { timeoutMs: 60_000 })).code, 0);
  await d.dockerOk(['rmi', name]);
  const blobs = () => readdirSync(join(d.dataRoot, 'blobs', 'sha256')).sort();
  const layers = () => readdirSync(join(d.dataRoot, 'layers')).filter((n) => /^[0-9a-f]{64}$/.test(n)).sort();
  const before = { blobs: blobs(), layers: layers() };
  // Removed by ID: a pull also names the image by digest, which `rmi NAME:TAG` leaves (unlike dockerd; not this test's subject).
  let whole: { blobs: string[]; layers: string[] } | undefined;
  for (let round = 0; round < 8; round++) {
    // Even rounds start with the image there: the pulls then find its blobs and layers stored.
    if (round % 2 === 0) await d.dockerOk(['pull', '-q', name], { timeoutMs: 60_000 });
    const [a, b, rm] = await Promise.all([
      d.docker(['pull', '-q', name], { timeoutMs: 60_000 }),
      d.docker(['pull', '-q', name], { timeoutMs: 60_000 }),
      d.docker(['rmi', '-f', id]),
    ]);
    for (const r of [a, b]) if (r.code !== 0) assert.match(r.stderr, /was removed while it was being stored.*try again/, `round ${round}: ${r.stderr}`);
    if (rm.code !== 0) assert.match(rm.stderr, /No such image/, `round ${round}: ${rm.stderr}`);
    if ((await d.docker(['image', 'inspect', id])).code !== 0) {
      assert.deepEqual({ blobs: blobs(), layers: layers() }, before, `round ${round}: no image, nothing of it left`);
      continue;
    }
    // The image is whole: it runs, and holds the same blobs and layers every time.
    assert.equal(await d.dockerOk(['run', '--rm', name, 'sh', '-c', 'wc -c < /big']), '3000000');
    whole ??= { blobs: blobs(), layers: layers() };
    assert.deepEqual({ blobs: blobs(), layers: layers() }, whole, `round ${round}`);
    await d.dockerOk(['rmi', '-f', id]);
  }
  assert.deepEqual({ blobs: blobs(), layers: layers() }, before);
});

test('docker search against a v1 index on loopback: table, --limit, filters, dockerd\'s errors; a distribution registry (no v1 search) and hostile answers refused', async () => {
  const results = Array.from({ length: 5 }, (_, i) => ({ name: `tools/app-${i}`, description: `app <${i}>`, star_count: i * 10, is_official: i === 0, is_automated: true }));
  const answer = (u: URL): [number, string | Buffer] => {
    if (u.pathname === '/v1/_ping') return [200, 'true'];
    if (u.pathname !== '/v1/search') return [404, ''];
    const q = u.searchParams.get('q');
    if (q === 'hostile/not-json') return [200, '{"results": ['];
    if (q === 'hostile/huge') return [200, Buffer.alloc(5 << 20, 0x20)];
    if (q === 'hostile/odd') return [200, JSON.stringify({ results: [7, null, { name: 3, star_count: 'many', is_official: 'yes' }, { name: 'ok/one', description: 'fine', star_count: 2 }] })];
    return [200, JSON.stringify({ num_results: 5, query: q, results: results.slice(0, Number(u.searchParams.get('n'))) })];
  };
  const index = await startServer((req, res) => {
    const [status, body] = answer(new URL(req.url!, 'http://x'));
    res.writeHead(status, { 'content-type': 'application/json' }).end(body);
  });
  try {
    const table = await d.dockerOk(['search', `${index.domain}/tools/app`]);
    assert.equal(table, [
      'NAME          DESCRIPTION   STARS     OFFICIAL',
      'tools/app-0   app <0>       0         [OK]',
      'tools/app-1   app <1>       10        ',
      'tools/app-2   app <2>       20        ',
      'tools/app-3   app <3>       30        ',
      'tools/app-4   app <4>       40',
    ].join('\n'));
    // The index was asked for the term without its host, with the default limit after a ping over HTTP.
    assert.ok(index.log.some((l) => l.line === 'GET /v1/search?q=tools%2Fapp&n=25'), JSON.stringify(index.log));
    assert.equal((await d.dockerOk(['search', '--limit', '2', '--format', '{{.Name}}', `${index.domain}/tools/app`])), 'tools/app-0\ntools/app-1');
    assert.equal((await d.dockerOk(['search', '--filter', 'stars=20', '--filter', 'is-official=false', '--format', '{{.Name}}', `${index.domain}/tools/app`])), 'tools/app-2\ntools/app-3\ntools/app-4');
    assert.equal((await d.dockerOk(['search', '--filter', 'is-automated=true', `${index.domain}/tools/app`])), 'NAME      DESCRIPTION   STARS     OFFICIAL');
    const api = await d.api('GET', `/images/search?term=${index.domain}/tools/app&limit=1`);
    assert.deepEqual(api.json, [{ star_count: 0, is_official: true, name: 'tools/app-0', is_automated: false, description: 'app <0>' }]);

    const refusals: [string[], string][] = [
      [['--limit', '101'], 'limit 101 is outside the range of [1, 100]'],
      [['--filter', 'colour=red'], "invalid filter 'colour'"],
      [['--filter', 'stars=lots'], "invalid filter 'stars=lots': strconv.Atoi: parsing \"lots\": invalid syntax"],
      [['--filter', 'is-official=maybe'], "invalid filter 'is-official=[maybe]'"],
    ];
    for (const [flags, message] of refusals) {
      const r = await d.docker(['search', ...flags, `${index.domain}/tools/app`]);
      assert.equal(r.code, 1, r.stderr);
      assert.equal(r.stderr, `Error response from daemon: ${message}\n`);
    }
    assert.equal((await d.api('GET', '/images/search?term=x&limit=abc')).json.message, 'invalid limit specified: strconv.Atoi: parsing "abc": invalid syntax');
    assert.equal((await d.api('GET', `/images/search?term=http://${index.domain}/x`)).json.message, `invalid repository name: repository name (http://${index.domain}/x) should not have a scheme`);
    // A term whose host part is no registry host never becomes a URL.
    const odd = await d.api('GET', `/images/search?term=${encodeURIComponent(`user@${index.domain}/x`)}`);
    assert.equal(odd.status, 400);
    assert.equal(odd.json.message, `invalid search term "user@${index.domain}/x": "user@${index.domain}" is not a registry host`);

    // Hostile answers: no crash, a clear error, berthd still serving.
    assert.match((await d.docker(['search', `${index.domain}/hostile/not-json`])).stderr, /^Error response from daemon: error decoding registry search results: /);
    assert.match((await d.docker(['search', `${index.domain}/hostile/huge`])).stderr, /more than the 4194304 bytes allowed/);
    assert.equal(await d.dockerOk(['search', '--format', '{{.Name}}|{{.StarCount}}|{{.IsOfficial}}', `${index.domain}/hostile/odd`]), '|0|\nok/one|2|');

    // Nothing listening there, and a distribution registry, which has no v1 search.
    const closed = await startServer((_req, res) => res.end());
    await closed.close();
    const gone = await d.docker(['search', `${closed.domain}/x`]);
    assert.equal(gone.stderr, `Error response from daemon: invalid registry endpoint "http://${closed.domain}/v1/". HTTPS attempt: Get "https://${closed.domain}/v1/_ping": dial tcp ${closed.domain}: connect: connection refused. HTTP attempt: Get "http://${closed.domain}/v1/_ping": dial tcp ${closed.domain}: connect: connection refused\n`);
    const v2 = await d.docker(['search', `${reg.domain}/tools/busybox`]);
    assert.equal(v2.code, 1);
    assert.equal(v2.stderr, 'Error response from daemon: Unexpected status code 404\n');
  } finally {
    await index.close();
  }
});
