/**
 * The embedded registry against a real client: `berth registry serve` runs as
 * its own process on 127.0.0.1, and skopeo copies a hand-made OCI layout into it
 * and back out. Needs /usr/bin/skopeo (CI installs it); no daemon, no root use.
 */
import { test, describe, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { spawn, type ChildProcess } from 'node:child_process';
import { createHash } from 'node:crypto';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { gzipSync } from 'node:zlib';
import { join } from 'node:path';
import bcrypt from 'bcryptjs';
import { BERTH, run } from './harness';

const SKOPEO = '/usr/bin/skopeo';
const sha = (b: Buffer | string) => createHash('sha256').update(b).digest('hex');

/** One regular file in a ustar archive: 512-byte header, content padded to 512, two zero blocks. */
function tarOf(name: string, content: string): Buffer {
  const body = Buffer.from(content);
  const h = Buffer.alloc(512);
  h.write(name, 0);
  h.write('0000644\0', 100);
  h.write('0000000\0', 108);
  h.write('0000000\0', 116);
  h.write(`${body.length.toString(8).padStart(11, '0')}\0`, 124);
  h.write(`${(1_700_000_000).toString(8).padStart(11, '0')}\0`, 136);
  h.write('        ', 148);
  h.write('0', 156);
  h.write('ustar\0', 257);
  h.write('00', 263);
  let sum = 0;
  for (const byte of h) sum += byte;
  h.write(`${sum.toString(8).padStart(6, '0')}\0 `, 148);
  const pad = Buffer.alloc((512 - (body.length % 512)) % 512);
  return Buffer.concat([h, body, pad, Buffer.alloc(1024)]);
}

interface Layout {
  dir: string;
  manifestDigest: string;
  manifest: Buffer;
  blobs: string[];
}

/** An OCI image layout with one image tagged `tag`: a one-file gzipped tar layer, its config and manifest. */
function makeLayout(dir: string, tag: string): Layout {
  mkdirSync(join(dir, 'blobs', 'sha256'), { recursive: true });
  const put = (b: Buffer) => {
    const hex = sha(b);
    writeFileSync(join(dir, 'blobs', 'sha256', hex), b);
    return `sha256:${hex}`;
  };
  // Gzipped, as skopeo would compress an uncompressed layer on the way to a registry (changing its digest).
  const tar = tarOf('hello.txt', 'hello from berth\n');
  const layer = gzipSync(tar);
  const layerDigest = put(layer);
  const config = Buffer.from(JSON.stringify({
    architecture: 'amd64',
    os: 'linux',
    config: { Cmd: ['/hello'] },
    rootfs: { type: 'layers', diff_ids: [`sha256:${sha(tar)}`] },
  }));
  const configDigest = put(config);
  const manifest = Buffer.from(JSON.stringify({
    schemaVersion: 2,
    mediaType: 'application/vnd.oci.image.manifest.v1+json',
    config: { mediaType: 'application/vnd.oci.image.config.v1+json', digest: configDigest, size: config.length },
    layers: [{ mediaType: 'application/vnd.oci.image.layer.v1.tar+gzip', digest: layerDigest, size: layer.length }],
  }));
  const manifestDigest = put(manifest);
  writeFileSync(join(dir, 'oci-layout'), JSON.stringify({ imageLayoutVersion: '1.0.0' }));
  writeFileSync(join(dir, 'index.json'), JSON.stringify({
    schemaVersion: 2,
    manifests: [{
      mediaType: 'application/vnd.oci.image.manifest.v1+json',
      digest: manifestDigest,
      size: manifest.length,
      annotations: { 'org.opencontainers.image.ref.name': tag },
    }],
  }));
  return { dir, manifestDigest, manifest, blobs: [configDigest, layerDigest] };
}

/** `berth registry serve` on a free port; resolves once it prints its address. */
class ServeProcess {
  child!: ChildProcess;
  port = 0;
  stderr = '';

  async start(root: string, extra: string[] = []): Promise<this> {
    this.child = spawn(BERTH, ['registry', 'serve', '--addr', '127.0.0.1:0', '--root', root, ...extra], { stdio: ['ignore', 'pipe', 'pipe'] });
    this.child.stderr!.on('data', (c: Buffer) => (this.stderr += c.toString()));
    this.port = await new Promise<number>((resolve, reject) => {
      let out = '';
      this.child.stdout!.on('data', (c: Buffer) => {
        out += c.toString();
        const m = /listening on 127\.0\.0\.1:(\d+)/.exec(out);
        if (m) resolve(Number(m[1]));
      });
      this.child.once('exit', (code) => reject(new Error(`berth registry serve exited ${code}: ${this.stderr}`)));
    });
    return this;
  }

  /** SIGTERM, and the exit code. */
  stop(): Promise<number | null> {
    if (this.child.exitCode !== null) return Promise.resolve(this.child.exitCode);
    return new Promise((resolve) => {
      this.child.once('exit', (code) => resolve(code));
      this.child.kill('SIGTERM');
    });
  }
}

async function skopeo(args: string[]) {
  const r = await run(SKOPEO, ['--insecure-policy', ...args], { timeoutMs: 60_000 });
  assert.equal(r.code, 0, `skopeo ${args.join(' ')}\n${r.stderr}`);
  return r;
}

describe('berth registry serve with skopeo', () => {
  let tmp: string;
  before(() => {
    assert.ok(existsSync(SKOPEO), 'skopeo is needed: apt-get install skopeo');
    tmp = mkdtempSync(join(tmpdir(), 'berth-regskopeo-'));
  });
  after(() => {
    rmSync(tmp, { recursive: true, force: true });
  });

  test('copy an OCI layout in, inspect it, copy it back out with the same digests; survives a restart; gc keeps it', async () => {
    const root = join(tmp, 'root');
    const src = makeLayout(join(tmp, 'src'), 'v1');
    let server = await new ServeProcess().start(root);
    try {
      const ref = `docker://127.0.0.1:${server.port}/berth/skopeo:v1`;
      await skopeo(['copy', '--dest-tls-verify=false', `oci:${src.dir}:v1`, ref]);

      const inspect = JSON.parse((await skopeo(['inspect', '--tls-verify=false', ref])).stdout);
      assert.equal(inspect.Digest, src.manifestDigest);
      assert.deepEqual(inspect.Layers, [src.blobs[1]]);
      const raw = (await skopeo(['inspect', '--raw', '--tls-verify=false', ref])).stdout;
      assert.equal(raw, src.manifest.toString(), 'the registry serves the manifest byte for byte');

      // Restart the registry process: the image must still be there.
      assert.equal(await server.stop(), 0);
      server = await new ServeProcess().start(root);
      const ref2 = `docker://127.0.0.1:${server.port}/berth/skopeo:v1`;
      const out = join(tmp, 'out');
      await skopeo(['copy', '--src-tls-verify=false', ref2, `oci:${out}:copied`]);
      const index = JSON.parse(readFileSync(join(out, 'index.json'), 'utf8'));
      assert.equal(index.manifests[0].digest, src.manifestDigest);
      for (const d of [src.manifestDigest, ...src.blobs]) {
        const bytes = readFileSync(join(out, 'blobs', 'sha256', d.slice(7)));
        assert.equal(`sha256:${sha(bytes)}`, d);
      }

      // Registry to registry within one server: skopeo mounts the blobs across repositories.
      const mounted = `docker://127.0.0.1:${server.port}/berth/mounted:v1`;
      await skopeo(['copy', '--src-tls-verify=false', '--dest-tls-verify=false', ref2, mounted]);
      assert.equal(JSON.parse((await skopeo(['inspect', '--tls-verify=false', mounted])).stdout).Digest, src.manifestDigest);
      await skopeo(['delete', '--tls-verify=false', mounted]);
      const gone = await run(SKOPEO, ['inspect', '--tls-verify=false', mounted], { timeoutMs: 60_000 });
      assert.notEqual(gone.code, 0, 'the deleted manifest is gone');
      assert.match(gone.stderr, /manifest unknown/i);

      const busy = await run(BERTH, ['registry', 'gc', '--root', root]);
      assert.equal(busy.code, 1, 'gc refuses a root that a registry is serving');
      assert.match(busy.stderr, /is serving/);

      const tags = JSON.parse((await skopeo(['list-tags', '--tls-verify=false', `docker://127.0.0.1:${server.port}/berth/skopeo`])).stdout);
      assert.deepEqual(tags.Tags, ['v1']);
    } finally {
      assert.equal(await server.stop(), 0);
    }
    // Nothing is garbage: gc through the CLI removes no blob.
    const gc = await run(BERTH, ['registry', 'gc', '--root', root]);
    assert.equal(gc.code, 0, gc.stderr);
    assert.match(gc.stdout, /^0 blobs, 0 bytes freed$/m);
  });

  test('with --htpasswd, skopeo needs --dest-creds / --creds', async () => {
    const root = join(tmp, 'auth-root');
    const src = makeLayout(join(tmp, 'auth-src'), 'v1');
    const file = join(tmp, 'htpasswd');
    writeFileSync(file, `pusher:${bcrypt.hashSync('pa55word', 5).replace(/^\$2b\$/, '$2y$')}\n`);
    const server = await new ServeProcess().start(root, ['--htpasswd', file]);
    try {
      const ref = `docker://127.0.0.1:${server.port}/private/img:v1`;
      const denied = await run(SKOPEO, ['--insecure-policy', 'copy', '--dest-tls-verify=false', `oci:${src.dir}:v1`, ref], { timeoutMs: 60_000 });
      assert.notEqual(denied.code, 0);
      assert.match(denied.stderr, /unauthorized|authentication required|401/i);
      const wrong = await run(SKOPEO, ['--insecure-policy', 'copy', '--dest-tls-verify=false', '--dest-creds', 'pusher:nope', `oci:${src.dir}:v1`, ref], { timeoutMs: 60_000 });
      assert.notEqual(wrong.code, 0);
      await skopeo(['copy', '--dest-tls-verify=false', '--dest-creds', 'pusher:pa55word', `oci:${src.dir}:v1`, ref]);
      const inspect = JSON.parse((await skopeo(['inspect', '--tls-verify=false', '--creds', 'pusher:pa55word', ref])).stdout);
      assert.equal(inspect.Digest, src.manifestDigest);
      const out = join(tmp, 'auth-out');
      await skopeo(['copy', '--src-tls-verify=false', '--src-creds', 'pusher:pa55word', ref, `oci:${out}:v1`]);
      assert.equal(JSON.parse(readFileSync(join(out, 'index.json'), 'utf8')).manifests[0].digest, src.manifestDigest);
    } finally {
      assert.equal(await server.stop(), 0);
    }
  });
});
