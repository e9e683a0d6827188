/**
 * berthd runs the embedded registry when daemon.json has "berth-registry".
 * A push over plain HTTP, read back by skopeo; the storage is under --data-root.
 */
import { after, test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { run, useDaemon } from './harness';

const dir = mkdtempSync('/tmp/bi-regcfg-');
const config = join(dir, 'daemon.json');
writeFileSync(config, JSON.stringify({ 'berth-registry': { addr: '127.0.0.1:0' } }));
const d = useDaemon({ image: false, args: ['--config-file', config] });
after(() => rmSync(dir, { recursive: true, force: true }));

function registryAddress(): string {
  const m = /msg="registry listening" address="([^"]+)"/.exec(readFileSync(d.logFile, 'utf8'));
  assert.ok(m, `berthd logged no registry address:\n${d.log()}`);
  return m[1]!;
}

test('daemon.json "berth-registry" serves a registry beside the API, stored under the data root', async () => {
  const addr = registryAddress();
  const ping = await fetch(`http://${addr}/v2/`);
  assert.equal(ping.status, 200);
  assert.equal(ping.headers.get('docker-distribution-api-version'), 'registry/2.0');

  const digest = await pushTinyImage(addr);
  const inspect = await run('/usr/bin/skopeo', ['inspect', '--raw', '--tls-verify=false', `docker://${addr}/daemon/reg:v1`], { timeoutMs: 60_000 });
  assert.equal(inspect.code, 0, inspect.stderr);
  assert.equal(`sha256:${(await import('node:crypto')).createHash('sha256').update(inspect.stdout).digest('hex')}`, digest);
  const cat = await (await fetch(`http://${addr}/v2/_catalog`)).json();
  assert.deepEqual(cat, { repositories: ['daemon/reg'] });
  assert.ok(readFileSync(join(d.dataRoot, 'registry', 'repositories', 'daemon', 'reg', '_manifests', 'tags', 'v1'), 'utf8').startsWith('sha256:'));
});

/** Pushes a config and an empty-layer manifest over plain HTTP; returns the manifest digest. */
async function pushTinyImage(addr: string): Promise<string> {
  const { createHash } = await import('node:crypto');
  const digestOf = (b: Buffer) => `sha256:${createHash('sha256').update(b).digest('hex')}`;
  const config = Buffer.from(JSON.stringify({ architecture: 'amd64', os: 'linux', rootfs: { type: 'layers', diff_ids: [] } }));
  const post = await fetch(`http://${addr}/v2/daemon/reg/blobs/uploads/?digest=${digestOf(config)}`, { method: 'POST', body: config });
  assert.equal(post.status, 201);
  const manifest = Buffer.from(JSON.stringify({
    schemaVersion: 2,
    mediaType: 'application/vnd.oci.image.manifest.v1+json',
    config: { mediaType: 'application/vnd.oci.image.config.v1+json', digest: digestOf(config), size: config.length },
    layers: [],
  }));
  const put = await fetch(`http://${addr}/v2/daemon/reg/manifests/v1`, { method: 'PUT', body: manifest, headers: { 'Content-Type': 'application/vnd.oci.image.manifest.v1+json' } });
  assert.equal(put.status, 201);
  return digestOf(manifest);
}
