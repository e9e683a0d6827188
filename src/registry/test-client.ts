/**
 * Test support: a RegistryServer on 127.0.0.1 with a temp root, and a small
 * HTTP client for it. Used by the registry's own tests and the skopeo tests.
 */
import { createHash } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import http from 'node:http';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { RegistryServer, type RegistryServerOptions } from './server';

export interface Reply {
  status: number;
  headers: http.IncomingHttpHeaders;
  body: Buffer;
  text: string;
  json: any;
}

export interface RequestOptions {
  method?: string;
  headers?: Record<string, string | number>;
  body?: Buffer | string;
  /** Basic credentials "user:pass". */
  auth?: string;
}

export const sha256 = (b: Buffer | string): string => `sha256:${createHash('sha256').update(b).digest('hex')}`;

export class TestRegistry {
  server: RegistryServer;
  port = 0;
  readonly root: string;

  constructor(private readonly opts: Partial<RegistryServerOptions> = {}, root?: string) {
    this.root = root ?? mkdtempSync(join(tmpdir(), 'berth-registry-'));
    this.server = new RegistryServer({ ...opts, root: this.root });
  }

  async start(): Promise<this> {
    this.port = (await this.server.start({ host: '127.0.0.1', port: 0 })).port;
    return this;
  }

  /** Stops and starts a fresh server object on the same root (a registry restart). */
  async restart(opts: Partial<RegistryServerOptions> = {}): Promise<void> {
    await this.server.close();
    this.server = new RegistryServer({ ...this.opts, ...opts, root: this.root });
    await this.start();
  }

  async stop(keep = false): Promise<void> {
    await this.server.close();
    if (!keep) rmSync(this.root, { recursive: true, force: true });
  }

  get host(): string {
    return `127.0.0.1:${this.port}`;
  }

  request(path: string, o: RequestOptions = {}): Promise<Reply> {
    return new Promise((resolve, reject) => {
      const headers: Record<string, string | number> = { ...(o.headers ?? {}) };
      if (o.auth) headers.Authorization = `Basic ${Buffer.from(o.auth).toString('base64')}`;
      if (o.body !== undefined && headers['Content-Length'] === undefined) headers['Content-Length'] = Buffer.byteLength(o.body);
      const req = http.request({ host: '127.0.0.1', port: this.port, path, method: o.method ?? 'GET', headers, agent: false }, (res) => {
        const chunks: Buffer[] = [];
        res.on('data', (c: Buffer) => chunks.push(c));
        res.on('error', reject);
        res.on('end', () => {
          const body = Buffer.concat(chunks);
          const text = body.toString('utf8');
          let json: unknown;
          try {
            json = text ? JSON.parse(text) : undefined;
          } catch {
            json = undefined;
          }
          resolve({ status: res.statusCode ?? 0, headers: res.headers, body, text, json });
        });
      });
      req.on('error', reject);
      req.end(o.body);
    });
  }

  /** Pushes a blob with a single POST ?digest=; returns its digest. */
  async pushBlob(repo: string, content: Buffer | string, auth?: string): Promise<string> {
    const digest = sha256(content);
    const r = await this.request(`/v2/${repo}/blobs/uploads/?digest=${digest}`, {
      method: 'POST',
      body: content,
      headers: { 'Content-Type': 'application/octet-stream' },
      auth,
    });
    if (r.status !== 201) throw new Error(`push blob ${digest} to ${repo}: ${r.status} ${r.text}`);
    return digest;
  }

  /** Pushes a manifest by tag or digest; returns the reply. */
  putManifest(repo: string, reference: string, manifest: unknown, mediaType?: string): Promise<Reply> {
    const body = typeof manifest === 'string' || Buffer.isBuffer(manifest) ? manifest : JSON.stringify(manifest);
    const type = mediaType ?? (manifest as { mediaType?: string }).mediaType ?? 'application/vnd.oci.image.manifest.v1+json';
    return this.request(`/v2/${repo}/manifests/${reference}`, { method: 'PUT', body, headers: { 'Content-Type': type } });
  }

  /**
   * Pushes a config and one layer, then an OCI image manifest referencing them.
   * Returns the digests and the manifest's exact bytes.
   */
  async pushImage(repo: string, tag: string, seed: string, extra: Record<string, unknown> = {}) {
    const config = Buffer.from(JSON.stringify({ architecture: 'amd64', os: 'linux', seed }));
    const layer = Buffer.from(`layer of ${seed}`);
    const configDigest = await this.pushBlob(repo, config);
    const layerDigest = await this.pushBlob(repo, layer);
    const manifest = {
      schemaVersion: 2,
      mediaType: 'application/vnd.oci.image.manifest.v1+json',
      config: { mediaType: 'application/vnd.oci.image.config.v1+json', digest: configDigest, size: config.length },
      layers: [{ mediaType: 'application/vnd.oci.image.layer.v1.tar', digest: layerDigest, size: layer.length }],
      ...extra,
    };
    const bytes = Buffer.from(JSON.stringify(manifest));
    const r = await this.putManifest(repo, tag, bytes, manifest.mediaType);
    if (r.status !== 201) throw new Error(`push manifest ${repo}:${tag}: ${r.status} ${r.text}`);
    return { configDigest, layerDigest, manifestDigest: sha256(bytes), bytes, config, layer };
  }
}
