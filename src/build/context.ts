/**
 * The build context: the client's tar unpacked (safely, see archive.ts) into a
 * directory of ours, the Dockerfile read from it, `.dockerignore` applied, and the
 * lookups COPY and ADD need: sources resolved inside the context (a symlink never
 * leads out of it), wildcards, and content checksums for the cache.
 */
import { createHash } from 'node:crypto';
import { createReadStream, lstatSync, promises as fsp, readdirSync, readlinkSync } from 'node:fs';
import { join, posix, relative } from 'node:path';
import { Readable } from 'node:stream';
import { invalidArgument, notFound } from '../common';
import { resolveInRoot } from '../storage';
import { cleanEntryName, decompressAny, looksLikeTar, unpackTar } from './archive';
import { globRegExp, hasWildcard, IgnoreMatcher } from './dockerignore';

export class BuildContext {
  private constructor(
    /** Where the context is unpacked (removed by close()). */
    readonly dir: string,
    readonly dockerfile: string,
    readonly dockerfileName: string,
    /** sha256 of each regular file as unpacked, by path relative to `dir`. */
    readonly digests = new Map<string, string>(),
  ) {}

  /**
   * Unpacks `body` (a tar, possibly compressed, or a Dockerfile alone) under `tmpRoot`
   * and reads `dockerfileName` from it.
   */
  static async open(body: Readable, tmpRoot: string, dockerfileName = 'Dockerfile'): Promise<BuildContext> {
    await fsp.mkdir(tmpRoot, { recursive: true, mode: 0o700 });
    const dir = await fsp.mkdtemp(join(tmpRoot, 'ctx-'));
    try {
      const { stream, head } = await decompressAny(body);
      const name = dockerfileName || 'Dockerfile';
      if (head.length > 0 && !looksLikeTar(head)) {
        // A Dockerfile on its own (`docker build - < Dockerfile` from a client that sends it raw).
        const chunks: Buffer[] = [];
        for await (const c of stream) chunks.push(c as Buffer);
        const text = Buffer.concat(chunks).toString('utf8');
        return new BuildContext(dir, text, 'Dockerfile');
      }
      const digests = new Map<string, string>();
      if (head.length > 0) await unpackTar(stream, dir, { digests });
      else for await (const _ of stream) void _;
      const rel = cleanEntryName(name);
      if (!rel) throw invalidArgument(`Cannot locate specified Dockerfile: ${name}`);
      const path = await resolveInRoot(dir, rel);
      let text: string;
      try {
        text = await fsp.readFile(path, 'utf8');
      } catch {
        throw invalidArgument(`Cannot locate specified Dockerfile: ${name}`);
      }
      const ctx = new BuildContext(dir, text, rel, digests);
      await ctx.applyIgnore(rel);
      return ctx;
    } catch (err) {
      await fsp.rm(dir, { recursive: true, force: true });
      throw err;
    }
  }

  /** An empty context holding only a Dockerfile (tests, `berth build -`). */
  static async fromText(text: string, tmpRoot: string): Promise<BuildContext> {
    await fsp.mkdir(tmpRoot, { recursive: true, mode: 0o700 });
    const dir = await fsp.mkdtemp(join(tmpRoot, 'ctx-'));
    return new BuildContext(dir, text, 'Dockerfile');
  }

  async close(): Promise<void> {
    await fsp.rm(this.dir, { recursive: true, force: true });
  }

  /** `<Dockerfile>.dockerignore` if present, else `.dockerignore`; removes what they ignore. */
  private async applyIgnore(dockerfileRel: string): Promise<void> {
    let text: string | undefined;
    for (const f of [`${dockerfileRel}.dockerignore`, '.dockerignore']) {
      text = await fsp.readFile(await resolveInRoot(this.dir, f), 'utf8').catch(() => undefined);
      if (text !== undefined) break;
    }
    if (text === undefined) return;
    const m = IgnoreMatcher.parse(text);
    if (m.empty) return;
    const walk = async (rel: string): Promise<boolean> => {
      // returns whether anything is left under rel
      const entries = await fsp.readdir(join(this.dir, rel), { withFileTypes: true });
      let left = false;
      for (const e of entries) {
        const r = rel ? `${rel}/${e.name}` : e.name;
        const ignored = m.ignores(r);
        if (e.isDirectory()) {
          if (ignored && !m.hasExclusions) {
            await fsp.rm(join(this.dir, r), { recursive: true, force: true });
            continue;
          }
          const kept = await walk(r);
          if (ignored && !kept) await fsp.rm(join(this.dir, r), { recursive: true, force: true });
          else left = true;
        } else if (ignored) await fsp.rm(join(this.dir, r), { force: true });
        else left = true;
      }
      return left;
    };
    await walk('');
  }

  /**
   * The host paths a COPY/ADD source names, with their paths relative to `root`
   * (the context, or another image's files for --from). Wildcards match each path
   * component; a plain path that does not exist is an error worded as Docker's.
   */
  static async sources(root: string, src: string, what: 'context' | 'image'): Promise<{ host: string; rel: string }[]> {
    const clean = posix.normalize('/' + src).slice(1).replace(/\/+$/, '');
    if (!hasWildcard(clean)) {
      const host = await resolveInRoot(root, clean);
      const st = await fsp.stat(host).catch(() => undefined);
      if (!st) {
        throw notFound(what === 'context'
          ? `COPY failed: file not found in build context or excluded by .dockerignore: stat ${clean || '.'}: file does not exist`
          : `COPY failed: stat ${'/' + clean}: file does not exist`);
      }
      return [{ host, rel: clean }];
    }
    const re = globRegExp(clean);
    const depth = clean.split('/').length;
    const out: { host: string; rel: string }[] = [];
    const walk = async (rel: string, d: number) => {
      const entries = await fsp.readdir(rel ? await resolveInRoot(root, rel) : root, { withFileTypes: true }).catch(() => []);
      for (const e of entries.sort((a, b) => (a.name < b.name ? -1 : 1))) {
        const r = rel ? `${rel}/${e.name}` : e.name;
        if (d === depth) {
          if (re.test(r)) out.push({ host: await resolveInRoot(root, r), rel: r });
        } else if (e.isDirectory() || e.isSymbolicLink()) await walk(r, d + 1);
      }
    };
    await walk('', 1);
    return out;
  }
}

/**
 * A digest of files as COPY would copy them: names, types, modes, link targets and
 * contents (owners are not: COPY gives root or --chown's), for the cache key.
 */
export async function contentChecksum(sources: { host: string; rel: string }[], known?: { root: string; digests: Map<string, string> }): Promise<string> {
  const h = createHash('sha256');
  const file = async (p: string) => {
    const d = known?.digests.get(relative(known.root, p));
    if (d) return d;
    const fh = createHash('sha256');
    for await (const c of createReadStream(p)) fh.update(c as Buffer);
    return fh.digest('hex');
  };
  const walk = async (host: string, rel: string) => {
    const st = lstatSync(host);
    const mode = st.mode.toString(8);
    if (st.isSymbolicLink()) h.update(`L ${rel} ${mode} ${readlinkSync(host)}\n`);
    else if (st.isDirectory()) {
      h.update(`D ${rel} ${mode}\n`);
      const names = readdirSync(host).sort();
      for (const n of names) await walk(join(host, n), `${rel}/${n}`);
    } else if (st.isFile()) h.update(`F ${rel} ${mode} ${st.size} ${await file(host)}\n`);
    else h.update(`O ${rel} ${mode}\n`);
  };
  for (const s of sources) {
    const st = await fsp.stat(s.host);
    h.update(`S ${s.rel}\n`);
    if (st.isDirectory()) await walk(s.host, '.');
    else h.update(`F . ${st.mode.toString(8)} ${st.size} ${await file(s.host)}\n`);
  }
  return h.digest('hex');
}
