/**
 * The build context: the client's tar read (safely) into memory (see source-tree.ts),
 * the Dockerfile read from it, `.dockerignore` applied. Nothing is written to disk
 * unless a RUN step bind-mounts the context (then it is written out once).
 */
import { promises as fsp } from 'node:fs';
import { join } from 'node:path';
import type { Readable } from 'node:stream';
import { IgnoreMatcher, invalidArgument } from '../common';
import { cleanEntryName, decompressAny, looksLikeTar } from './archive';
import { MemTree } from './source-tree';

export class BuildContext {
  private materialized?: Promise<string>;

  private constructor(
    /** A private directory for spilled files and the written-out context (removed by close()). */
    private readonly tmp: string,
    readonly tree: MemTree,
    readonly dockerfile: string,
    readonly dockerfileName: string,
  ) {}

  /** Reads `body` (a tar, possibly compressed, or a Dockerfile alone) and `dockerfileName` from it. */
  static async open(body: Readable, tmpRoot: string, dockerfileName = 'Dockerfile'): Promise<BuildContext> {
    await fsp.mkdir(tmpRoot, { recursive: true, mode: 0o700 });
    const tmp = await fsp.mkdtemp(join(tmpRoot, 'ctx-'));
    try {
      const tree = new MemTree(join(tmp, 'spill'));
      const { stream, head } = await decompressAny(body);
      const name = dockerfileName || 'Dockerfile';
      if (head.length > 0 && !looksLikeTar(head)) {
        // A Dockerfile on its own (a client that sends it raw).
        const chunks: Buffer[] = [];
        for await (const c of stream) chunks.push(c as Buffer);
        return new BuildContext(tmp, tree, Buffer.concat(chunks).toString('utf8'), 'Dockerfile');
      }
      if (head.length > 0) await tree.load(stream);
      else for await (const _ of stream) void _;
      const rel = cleanEntryName(name);
      const text = rel ? tree.readText(rel) : undefined;
      if (text === undefined) throw invalidArgument(`Cannot locate specified Dockerfile: ${name}`);
      const ctx = new BuildContext(tmp, tree, text, rel!);
      ctx.applyIgnore(rel!);
      return ctx;
    } catch (err) {
      await fsp.rm(tmp, { recursive: true, force: true });
      throw err;
    }
  }

  async close(): Promise<void> {
    await fsp.rm(this.tmp, { recursive: true, force: true });
  }

  /** A new empty directory of the build's own (for downloads), removed with the rest by close(). */
  scratch(): Promise<string> {
    return fsp.mkdtemp(join(this.tmp, 'dl-'));
  }

  /** The context written to a directory (once), for bind mounts. */
  dir(): Promise<string> {
    this.materialized ??= (async () => {
      const d = join(this.tmp, 'ctx');
      await fsp.mkdir(d, { mode: 0o755 });
      this.tree.materialize(d);
      return d;
    })();
    return this.materialized;
  }

  /** `<Dockerfile>.dockerignore` if present, else `.dockerignore`; drops what they ignore. */
  private applyIgnore(dockerfileRel: string): void {
    const text = this.tree.readText(`${dockerfileRel}.dockerignore`) ?? this.tree.readText('.dockerignore');
    if (text === undefined) return;
    const m = IgnoreMatcher.parse(text);
    if (m.empty) return;
    const paths = this.tree.paths();
    // Deepest first: a directory goes once nothing under it is kept.
    for (const p of paths.reverse()) {
      if (!m.ignores(p)) continue;
      const info = this.tree.lstat(p);
      if (info?.kind === 'dir' && this.tree.readdir(p).length > 0) continue;
      this.tree.remove(p);
    }
  }
}
