/**
 * Where COPY and ADD read from: a directory on disk (another image's files, for
 * --from) or the build context held in memory (MemTree). The context is not written
 * to disk: a fully cached build then costs no file write at all, and a COPY writes
 * each file once, straight into the step's root.
 *
 * Paths given to a SourceTree are its own keys: absolute host paths for DiskTree,
 * paths relative to the context root for MemTree ('' is the root). Both are already
 * resolved (sources() follows links inside the tree), so lstat of a key never meets
 * a link in a parent.
 */
import { createHash } from 'node:crypto';
import {
  closeSync, constants as fsc, copyFileSync, createReadStream, lstatSync, mkdirSync, openSync, promises as fsp, readdirSync, readFileSync, readlinkSync,
  symlinkSync, writeSync,
} from 'node:fs';
import { join, posix } from 'node:path';
import { Readable } from 'node:stream';
import * as tarStream from 'tar-stream';
import { globRegExp, hasWildcard, invalidArgument, notFound } from '../common';
import { resolveInRoot } from '../storage';
import { cleanEntryName } from './archive';

export interface SourceInfo {
  kind: 'file' | 'dir' | 'symlink' | 'other';
  mode: number;
  size: number;
  mtime: Date;
}

export interface SourceTree {
  lstat(key: string): SourceInfo | undefined;
  readdir(key: string): string[];
  readlink(key: string): string;
  /** Writes the file `key` to `dst`, which must not exist (created without following links). */
  copyTo(key: string, dst: string): void;
  open(key: string): Readable;
  join(key: string, name: string): string;
  /** sha256 (hex) of a file, for cache keys. */
  digest(key: string): Promise<string>;
}

export interface Source {
  /** The tree's key for the resolved source. */
  key: string;
  /** The path as the Dockerfile named it (after cleaning), for basenames and messages. */
  rel: string;
}

const kindOf = (st: { isFile(): boolean; isDirectory(): boolean; isSymbolicLink(): boolean }): SourceInfo['kind'] =>
  st.isFile() ? 'file' : st.isDirectory() ? 'dir' : st.isSymbolicLink() ? 'symlink' : 'other';

export class DiskTree implements SourceTree {
  constructor(readonly root: string) {}

  lstat(key: string): SourceInfo | undefined {
    try {
      const st = lstatSync(key);
      return { kind: kindOf(st), mode: st.mode & 0o7777, size: st.size, mtime: st.mtime };
    } catch {
      return undefined;
    }
  }

  readdir(key: string): string[] {
    return readdirSync(key).sort();
  }

  readlink(key: string): string {
    return readlinkSync(key);
  }

  copyTo(key: string, dst: string): void {
    copyFileSync(key, dst, fsc.COPYFILE_EXCL);
  }

  open(key: string): Readable {
    return createReadStream(key);
  }

  join(key: string, name: string): string {
    return join(key, name);
  }

  async digest(key: string): Promise<string> {
    const h = createHash('sha256');
    for await (const c of createReadStream(key)) h.update(c as Buffer);
    return h.digest('hex');
  }

  /** The sources a COPY --from path names, resolved inside the root. */
  async sources(src: string): Promise<Source[]> {
    const clean = posix.normalize('/' + src).slice(1).replace(/\/+$/, '');
    if (!hasWildcard(clean)) {
      const key = await resolveInRoot(this.root, clean);
      if (!(await fsp.stat(key).catch(() => undefined))) throw notFound(`COPY failed: stat ${'/' + clean}: file does not exist`);
      return [{ key, rel: clean }];
    }
    const re = globRegExp(clean);
    const depth = clean.split('/').length;
    const out: Source[] = [];
    const walk = async (rel: string, d: number) => {
      const names = await fsp.readdir(rel ? await resolveInRoot(this.root, rel) : this.root).catch(() => [] as string[]);
      for (const n of names.sort()) {
        const r = rel ? `${rel}/${n}` : n;
        if (d === depth) {
          if (re.test(r)) out.push({ key: await resolveInRoot(this.root, r), rel: r });
        } else await walk(r, d + 1);
      }
    };
    await walk('', 1);
    return out;
  }
}

interface MemEntry {
  kind: 'file' | 'dir' | 'symlink';
  mode: number;
  mtime: Date;
  size: number;
  data?: Buffer;
  /** Large files live on disk. */
  spill?: string;
  link?: string;
  sha?: string;
}

const SPILL_AT = 1 << 20;
const MAX_LINKS = 40;

/** The build context in memory (large files spilled to `spillDir`). */
export class MemTree implements SourceTree {
  private readonly entries = new Map<string, MemEntry>([['', { kind: 'dir', mode: 0o755, mtime: new Date(), size: 0 }]]);
  private readonly children = new Map<string, Set<string>>([['', new Set()]]);
  private spills = 0;

  constructor(private readonly spillDir: string) {}

  /** Reads a tar (already decompressed) into the tree: hostile names are dropped, entries below links refused. */
  async load(tar: Readable): Promise<void> {
    const ex = tarStream.extract();
    let inEntry = false;
    const pump = new Promise<void>((resolve, reject) => {
      tar.on('error', (e) => {
        ex.destroy(e);
        reject(e);
      });
      tar.pipe(ex);
      ex.on('finish', resolve);
      ex.on('error', reject);
    }).then(() => undefined, (e: unknown) => e);
    // Go's unclosed tar writer (the docker CLI adding a Dockerfile from outside the
    // context) stops without the last padding: an end between entries is the end.
    const tolerated = (e: unknown) => !inEntry && e instanceof Error && e.message === 'Unexpected end of data';
    try {
      for await (const entry of ex) {
        inEntry = true;
        await this.loadEntry(entry as unknown as Readable & { header: tarStream.Header });
        inEntry = false;
      }
    } catch (e) {
      if (!tolerated(e)) throw e;
    }
    const err = await pump;
    if (err !== undefined && !tolerated(err)) throw err;
  }

  private async loadEntry(entry: Readable & { header: tarStream.Header }): Promise<void> {
    const h = entry.header;
    const drain = async () => {
      entry.resume();
      await new Promise<void>((r) => entry.on('end', r));
    };
    const rel = cleanEntryName(h.name);
    if (!rel) return drain();
    const mode = (h.mode ?? 0o644) & 0o7777;
    const mtime = h.mtime ?? new Date();
    switch (h.type) {
      case 'directory': {
        const e = this.entries.get(rel);
        if (e?.kind === 'dir') {
          e.mode = mode;
          e.mtime = mtime;
        } else this.put(rel, { kind: 'dir', mode, mtime, size: 0 });
        return drain();
      }
      case 'file':
      case 'contiguous-file': {
        this.checkParents(rel);
        const hash = createHash('sha256');
        const size = h.size ?? 0;
        let data: Buffer | undefined;
        let spill: string | undefined;
        if (size > SPILL_AT) {
          mkdirSync(this.spillDir, { recursive: true, mode: 0o700 });
          spill = join(this.spillDir, String(this.spills++));
          const fd = openSync(spill, fsc.O_WRONLY | fsc.O_CREAT | fsc.O_TRUNC, 0o600);
          try {
            for await (const c of entry as AsyncIterable<Buffer>) {
              hash.update(c);
              for (let off = 0; off < c.length; ) off += writeSync(fd, c, off);
            }
          } finally {
            closeSync(fd);
          }
        } else {
          const chunks: Buffer[] = [];
          for await (const c of entry as AsyncIterable<Buffer>) chunks.push(c);
          data = chunks.length === 1 ? chunks[0]! : Buffer.concat(chunks);
          hash.update(data);
        }
        this.put(rel, { kind: 'file', mode, mtime, size, ...(data ? { data } : {}), ...(spill ? { spill } : {}), sha: hash.digest('hex') });
        return;
      }
      case 'symlink':
        this.checkParents(rel);
        this.put(rel, { kind: 'symlink', mode: 0o777, mtime, size: 0, link: h.linkname ?? '' });
        return drain();
      case 'link': {
        const target = cleanEntryName(h.linkname ?? '');
        const t = target ? this.entries.get(target) : undefined;
        if (!t || t.kind !== 'file') throw invalidArgument(`archive entry ${rel} is a hard link to ${h.linkname}, which is no regular file before it in the archive`);
        this.checkParents(rel);
        this.put(rel, { ...t });
        return drain();
      }
      default:
        return drain();
    }
  }

  private checkParents(rel: string): void {
    const parts = rel.split('/');
    let sub = '';
    for (let i = 0; i < parts.length - 1; i++) {
      sub = sub ? `${sub}/${parts[i]!}` : parts[i]!;
      const e = this.entries.get(sub);
      if (e && e.kind !== 'dir') throw invalidArgument(`archive entry ${rel} lies below ${sub}, which is not a directory in the archive`);
    }
  }

  private put(rel: string, e: MemEntry): void {
    if (this.entries.has(rel)) this.remove(rel);
    // implied parents
    const parent = posix.dirname(rel) === '.' ? '' : posix.dirname(rel);
    if (!this.entries.has(parent)) this.put(parent, { kind: 'dir', mode: 0o755, mtime: new Date(), size: 0 });
    this.entries.set(rel, e);
    this.children.get(parent)!.add(posix.basename(rel));
    if (e.kind === 'dir') this.children.set(rel, new Set());
  }

  /** Removes an entry and everything below it. */
  remove(rel: string): void {
    const e = this.entries.get(rel);
    if (!e || rel === '') return;
    for (const c of this.children.get(rel) ?? []) this.remove(`${rel}/${c}`);
    this.children.delete(rel);
    this.entries.delete(rel);
    const parent = posix.dirname(rel) === '.' ? '' : posix.dirname(rel);
    this.children.get(parent)?.delete(posix.basename(rel));
  }

  /** Every path, parents before children. */
  paths(): string[] {
    return [...this.entries.keys()].filter((k) => k !== '').sort();
  }

  /** `path` with every link followed inside the tree; undefined when a component is missing. */
  resolve(path: string, follow = true): string | undefined {
    let todo = posix.normalize('/' + path).slice(1).split('/').filter((p) => p && p !== '.');
    let cur: string[] = [];
    let links = 0;
    while (todo.length) {
      const part = todo.shift()!;
      if (part === '..') {
        cur.pop();
        continue;
      }
      const rel = [...cur, part].join('/');
      const e = this.entries.get(rel);
      if (!e) return undefined;
      if (e.kind === 'symlink' && (follow || todo.length > 0)) {
        if (++links > MAX_LINKS) throw invalidArgument(`too many levels of symbolic links resolving ${path} in the build context`);
        const target = e.link!;
        if (target.startsWith('/')) cur = [];
        todo = [...target.split('/').filter((p) => p && p !== '.'), ...todo];
        continue;
      }
      cur.push(part);
    }
    return cur.join('/');
  }

  readText(path: string): string | undefined {
    const r = this.resolve(path);
    const e = r !== undefined ? this.entries.get(r) : undefined;
    if (!e || e.kind !== 'file') return undefined;
    return this.bytes(e).toString('utf8');
  }

  private bytes(e: MemEntry): Buffer {
    if (e.data) return e.data;
    if (e.spill) return readFileSync(e.spill);
    return Buffer.alloc(0);
  }

  lstat(key: string): SourceInfo | undefined {
    const e = this.entries.get(key);
    return e ? { kind: e.kind, mode: e.mode, size: e.size, mtime: e.mtime } : undefined;
  }

  readdir(key: string): string[] {
    return [...(this.children.get(key) ?? [])].sort();
  }

  readlink(key: string): string {
    return this.entries.get(key)?.link ?? '';
  }

  copyTo(key: string, dst: string): void {
    const e = this.entries.get(key)!;
    if (e.spill) {
      copyFileSync(e.spill, dst, fsc.COPYFILE_EXCL);
      return;
    }
    const fd = openSync(dst, fsc.O_WRONLY | fsc.O_CREAT | fsc.O_EXCL | fsc.O_NOFOLLOW, 0o600);
    try {
      const d = e.data ?? Buffer.alloc(0);
      for (let off = 0; off < d.length; ) off += writeSync(fd, d, off);
    } finally {
      closeSync(fd);
    }
  }

  open(key: string): Readable {
    const e = this.entries.get(key)!;
    return e.spill ? createReadStream(e.spill) : Readable.from([e.data ?? Buffer.alloc(0)]);
  }

  join(key: string, name: string): string {
    return key ? `${key}/${name}` : name;
  }

  async digest(key: string): Promise<string> {
    return this.entries.get(key)?.sha ?? '';
  }

  /** The sources a COPY/ADD path names in the context (wildcards match each component). */
  sources(src: string): Source[] {
    const clean = posix.normalize('/' + src).slice(1).replace(/\/+$/, '');
    if (!hasWildcard(clean)) {
      const key = this.resolve(clean);
      if (key === undefined) throw notFound(`COPY failed: file not found in build context or excluded by .dockerignore: stat ${clean || '.'}: file does not exist`);
      return [{ key, rel: clean }];
    }
    const re = globRegExp(clean);
    const depth = clean.split('/').length;
    const out: Source[] = [];
    const walk = (rel: string, d: number) => {
      const dirKey = this.resolve(rel);
      if (dirKey === undefined) return;
      for (const n of this.readdir(dirKey)) {
        const r = rel ? `${rel}/${n}` : n;
        if (d === depth) {
          if (re.test(r)) {
            const k = this.resolve(r);
            if (k !== undefined) out.push({ key: k, rel: r });
          }
        } else walk(r, d + 1);
      }
    };
    walk('', 1);
    return out;
  }

  /** Writes the whole tree under `dir` (for RUN --mount=type=bind from the context). */
  materialize(dir: string): void {
    for (const p of this.paths()) {
      const e = this.entries.get(p)!;
      const dst = join(dir, p);
      if (e.kind === 'dir') mkdirSync(dst, { mode: e.mode });
      else if (e.kind === 'file') this.copyTo(p, dst);
      else symlinkSync(e.link!, dst);
    }
  }
}


/**
 * A digest of sources as COPY would copy them: names, types, modes, link targets and
 * contents (owners are not: COPY gives root or --chown's), for the cache key.
 */
export async function treeChecksum(tree: SourceTree, sources: Source[]): Promise<string> {
  const h = createHash('sha256');
  const walk = async (key: string, rel: string) => {
    const st = tree.lstat(key);
    if (!st) return;
    const mode = st.mode.toString(8);
    if (st.kind === 'symlink') h.update(`L ${rel} ${mode} ${tree.readlink(key)}\n`);
    else if (st.kind === 'dir') {
      h.update(`D ${rel} ${mode}\n`);
      for (const n of tree.readdir(key)) await walk(tree.join(key, n), `${rel}/${n}`);
    } else if (st.kind === 'file') h.update(`F ${rel} ${mode} ${st.size} ${await tree.digest(key)}\n`);
    else h.update(`O ${rel} ${mode}\n`);
  };
  for (const s of sources) {
    h.update(`S ${s.rel}\n`);
    await walk(s.key, '.');
  }
  return h.digest('hex');
}
