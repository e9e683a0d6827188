/**
 * Build use cases: `docker build` (a context stream in, progress text out, an image
 * ID back), the build cache's usage for `system df` and its prune. The Dockerfile
 * semantics live in build/; this composes them with the engine's step runner.
 */
import { spawn } from 'node:child_process';
import { createReadStream, promises as fsp } from 'node:fs';
import { join } from 'node:path';
import { PassThrough, type Readable } from 'node:stream';
import { BerthError, invalidArgument, type Digest } from '../common';
import { BuildCache, BuildContext, Builder, cloneGitContext, checkRemoteContextType, download, isGitUrl, isRemoteUrl, type BuildOptions, type BuildOutput, type CacheUsageRecord, type StepRunner } from '../build';
import type { ImageService } from './images';

export type { BuildOptions, BuildOutput, CacheUsageRecord };

export interface BuildRequest extends BuildOptions {
  /** The Dockerfile's path in the context ('' = Dockerfile). */
  dockerfile: string;
  /** A remote context: a git repository, or an http(s) URL of a tar (maybe compressed) or of a Dockerfile. */
  remote?: string;
}

export class BuildService {
  private readonly cache: BuildCache;
  private readonly builder: Builder;
  private swept?: Promise<unknown>;

  constructor(
    private readonly dataRoot: string,
    runner: StepRunner,
    private readonly images: ImageService,
  ) {
    this.cache = new BuildCache(join(dataRoot, 'build-cache'));
    this.builder = new Builder(runner, this.cache);
  }

  /** Builds from a context stream (tar, compressed tar, or a Dockerfile alone). */
  async build(body: Readable, req: BuildRequest, out: BuildOutput): Promise<Digest> {
    const tmpRoot = join(this.dataRoot, 'build-tmp');
    // What a berthd killed during a build left there (contexts, downloads) belongs to no build now.
    this.swept ??= fsp.rm(tmpRoot, { recursive: true, force: true }).catch(() => undefined);
    await this.swept;
    let downloaded: string | undefined;
    try {
      let source = body;
      if (req.remote) {
        body.resume(); // a client may send a body with a remote context: it is not the context
        await fsp.mkdir(tmpRoot, { recursive: true, mode: 0o700 });
        downloaded = await fsp.mkdtemp(join(tmpRoot, 'remote-'));
        source = await remoteContext(req.remote, downloaded);
      }
      const ctx = await BuildContext.open(source, tmpRoot, req.dockerfile);
      try {
        return await this.builder.build(ctx, req, out);
      } finally {
        await ctx.close();
      }
    } finally {
      if (downloaded) await fsp.rm(downloaded, { recursive: true, force: true });
    }
  }

  /** Build cache records (`system df`). */
  usage(): Promise<CacheUsageRecord[]> {
    return this.cache.usage((id) => this.images.get(id)?.size, (dir) => this.images.measureDir(dir));
  }

  /** `POST /build/prune`: forgets cached steps and removes cache mounts. */
  prune(): Promise<{ ids: string[]; bytes: number }> {
    return this.cache.prune((dir) => this.images.measureDir(dir));
  }
}

/**
 * dockerd's remote build context (`remote=URL`, what docker-py sends for a URL path): a git
 * repository is cloned into `dir` (build/git-context.ts) and its files are the context; any
 * other http(s) URL is fetched into `dir` and read as the context, a tar (maybe compressed) or
 * a Dockerfile alone, as its Content-Type says (build/remote.ts).
 */
async function remoteContext(url: string, dir: string): Promise<Readable> {
  if (isGitUrl(url)) {
    const tree = await cloneGitContext(url, dir);
    const tarred = spawn('tar', ['-C', tree, '-cf', '-', '.'], { stdio: ['ignore', 'pipe', 'ignore'] });
    // Read from now on: node drains and drops a child's unread output when the child exits.
    const out = new PassThrough();
    tarred.stdout.pipe(out);
    tarred.on('error', (e) => out.destroy(e));
    return out;
  }
  if (!isRemoteUrl(url)) throw invalidArgument(`remoteURL (${url}) could not be recognized as URL`);
  let got: Awaited<ReturnType<typeof download>>;
  try {
    got = await download(url, dir);
  } catch (err) {
    if (err instanceof BerthError) throw new BerthError(err.kind, `error downloading remote context ${url}: ${err.message}`, { cause: err });
    throw err;
  }
  const head = Buffer.alloc(100);
  const fh = await fsp.open(got.path, 'r');
  const { bytesRead } = await fh.read(head, 0, head.length, 0).finally(() => fh.close());
  // Refuses what is neither; BuildContext.open tells a tar from a Dockerfile alone by its bytes.
  checkRemoteContextType(url, got.contentType, head.subarray(0, bytesRead));
  return createReadStream(got.path);
}
