/**
 * Build use cases: `docker build` (a context stream in, progress text out, an image
 * ID back), the build cache's usage for `system df` and its prune. The Dockerfile
 * semantics live in build/; this composes them with the engine's step runner.
 */
import { promises as fsp } from 'node:fs';
import { join } from 'node:path';
import type { Readable } from 'node:stream';
import { invalidArgument, type Digest } from '../common';
import { BuildCache, BuildContext, Builder, type BuildOptions, type BuildOutput, type CacheUsageRecord, type StepRunner } from '../build';
import type { ImageService } from './images';

export type { BuildOptions, BuildOutput, CacheUsageRecord };

export interface BuildRequest extends BuildOptions {
  /** The Dockerfile's path in the context ('' = Dockerfile). */
  dockerfile: string;
  /** A remote context URL (not supported). */
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
    if (req.remote) {
      throw invalidArgument(`remote build contexts (${req.remote}) are not supported: this builder never fetches from the network; send the context as a tar`);
    }
    const tmpRoot = join(this.dataRoot, 'build-tmp');
    // What a berthd killed during a build left there (contexts, downloads) belongs to no build now.
    this.swept ??= fsp.rm(tmpRoot, { recursive: true, force: true }).catch(() => undefined);
    await this.swept;
    const ctx = await BuildContext.open(body, tmpRoot, req.dockerfile);
    try {
      return await this.builder.build(ctx, req, out);
    } finally {
      await ctx.close();
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
