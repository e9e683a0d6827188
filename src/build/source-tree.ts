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

  /**
   * Reads a tar (already decompressed) into the tree: hostile names are dropped,
   * entries below links refused. The archive is parsed here, synchronously chunk by
   * chunk (ustar, PAX and GNU long names): a context is mostly small files, and a
   * promise per entry and per chunk would cost more than the parse.
   */
  async load(tar: Readable): Promise<void> {
    const p = new TarParser((h, data, spill) => this.addEntry(h, data, spill), (size) => this.newSpill(size));
    for await (const chunk of tar) p.push(chunk as Buffer);
    p.end();
  }

  private newSpill(_size: number): { path: string; fd: number } {
    mkdirSync(this.spillDir, { recursive: true, mode: 0o700 });
    const path = join(this.spillDir, String(this.spills++));
    return { path, fd: openSync(path, fsc.O_WRONLY | fsc.O_CREAT | fsc.O_TRUNC, 0o600) };
  }

  private addEntry(h: TarEntryHeader, data: Buffer | undefined, spill: { path: string; sha: string } | undefined): void {
    const rel = cleanEntryName(h.name);
    if (!rel) return;
    const mode = h.mode & 0o7777;
    const mtime = new Date(h.mtime * 1000);
    switch (h.type) {
      case 'dir': {
        const e = this.entries.get(rel);
        if (e?.kind === 'dir') {
          e.mode = mode;
          e.mtime = mtime;
        } else {
          this.checkParents(rel);
          this.put(rel, { kind: 'dir', mode, mtime, size: 0 });
        }
        return;
      }
      case 'file': {
        this.checkParents(rel);
        const sha = spill ? spill.sha : createHash('sha256').update(data ?? Buffer.alloc(0)).digest('hex');
        this.put(rel, { kind: 'file', mode, mtime, size: h.size, ...(data ? { data } : {}), ...(spill ? { spill: spill.path } : {}), sha });
        return;
      }
      case 'symlink':
        this.checkParents(rel);
        this.put(rel, { kind: 'symlink', mode: 0o777, mtime, size: 0, link: h.linkname });
        return;
      case 'link': {
        const target = cleanEntryName(h.linkname);
        const t = target ? this.entries.get(target) : undefined;
        if (!t || t.kind !== 'file') throw invalidArgument(`archive entry ${rel} is a hard link to ${h.linkname}, which is no regular file before it in the archive`);
        this.checkParents(rel);
        this.put(rel, { ...t });
        return;
      }
      default:
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

interface TarEntryHeader {
  name: string;
  type: 'file' | 'dir' | 'symlink' | 'link' | 'other';
  mode: number;
  size: number;
  mtime: number;
  linkname: string;
}

const BLOCK = 512;

/** Reads an octal (or base-256) numeric header field. */
function tarNumber(b: Buffer, off: number, len: number): number {
  if (b[off]! & 0x80) {
    let v = 0;
    for (let i = off + 1; i < off + len; i++) v = v * 256 + b[i]!;
    return v;
  }
  const t = b.toString('latin1', off, off + len).replace(/\0.*$/s, '').trim();
  return t === '' ? 0 : parseInt(t, 8);
}

const tarString = (b: Buffer, off: number, len: number) => {
  const end = b.indexOf(0, off);
  return b.toString('utf8', off, end < 0 || end > off + len ? off + len : end);
};

/**
 * A streaming tar parser: push() chunks, end() at the end of input. Entries of regular
 * files up to 1 MiB arrive with their bytes; bigger ones are written to a spill file
 * (`spill` gives an open fd) as they arrive. An input that stops between entries is
 * complete (Go's unclosed tar writer leaves out the last padding and the end blocks).
 */
class TarParser {
  private buf: Buffer = Buffer.alloc(0);
  private state: 'header' | 'data' | 'pad' | 'done' = 'header';
  private header: TarEntryHeader | undefined;
  private left = 0;
  private pad = 0;
  private chunks: Buffer[] = [];
  private spillFile: { path: string; fd: number } | undefined;
  private hash: ReturnType<typeof createHash> | undefined;
  private pax: Record<string, string> = {};
  private longName: string | undefined;
  private longLink: string | undefined;
  /** The data of a metadata entry (PAX, GNU long name) being read. */
  private meta: 'pax' | 'L' | 'K' | 'skip' | undefined;

  constructor(
    private readonly onEntry: (h: TarEntryHeader, data: Buffer | undefined, spill: { path: string; sha: string } | undefined) => void,
    private readonly spill: (size: number) => { path: string; fd: number },
  ) {}

  push(chunk: Buffer): void {
    this.buf = this.buf.length ? Buffer.concat([this.buf, chunk]) : chunk;
    let off = 0;
    while (this.state !== 'done') {
      if (this.state === 'header') {
        if (this.buf.length - off < BLOCK) break;
        this.readHeader(this.buf.subarray(off, off + BLOCK));
        off += BLOCK;
      } else if (this.state === 'data') {
        const n = Math.min(this.left, this.buf.length - off);
        if (n === 0 && this.left > 0) break;
        this.takeData(this.buf.subarray(off, off + n));
        off += n;
        this.left -= n;
        if (this.left === 0) this.finishEntry();
      } else {
        const n = Math.min(this.pad, this.buf.length - off);
        off += n;
        this.pad -= n;
        if (this.pad > 0) break;
        this.state = 'header';
      }
    }
    // Copy the rest: the chunk may be reused by its producer.
    this.buf = this.state === 'done' ? Buffer.alloc(0) : Buffer.from(this.buf.subarray(off));
  }

  end(): void {
    if (this.state === 'data' && this.left > 0) throw invalidArgument('the build context is not a valid tar: it ends in the middle of an entry');
    if (this.state === 'header' && this.buf.length > 0 && this.buf.some((b) => b !== 0)) throw invalidArgument('the build context is not a valid tar: it ends in the middle of a header');
    if (this.spillFile) closeSync(this.spillFile.fd);
  }

  private readHeader(b: Buffer): void {
    if (b.every((x) => x === 0)) {
      // an end block (the second one, or the rest of the input, changes nothing)
      return;
    }
    let sum = 0;
    for (let i = 0; i < BLOCK; i++) sum += i >= 148 && i < 156 ? 32 : b[i]!;
    if (sum !== tarNumber(b, 148, 8)) throw invalidArgument('the build context is not a valid tar: a header checksum does not match');
    const flag = String.fromCharCode(b[156]!);
    const size = tarNumber(b, 124, 12);
    const ustar = b.toString('latin1', 257, 263) === 'ustar\0';
    const prefix = ustar ? tarString(b, 345, 155) : '';
    let name = tarString(b, 0, 100);
    if (prefix) name = `${prefix}/${name}`;
    this.left = size;
    this.pad = (BLOCK - (size % BLOCK)) % BLOCK;
    if (flag === 'x' || flag === 'g' || flag === 'L' || flag === 'K') {
      this.meta = flag === 'x' ? 'pax' : flag === 'g' ? 'skip' : flag;
      this.chunks = [];
      this.header = undefined;
      this.enterData();
      return;
    }
    this.meta = undefined;
    const type: TarEntryHeader['type'] = flag === '0' || flag === '\0' || flag === '7' ? 'file' : flag === '5' ? 'dir' : flag === '2' ? 'symlink' : flag === '1' ? 'link' : 'other';
    const h: TarEntryHeader = {
      name: this.pax.path ?? this.longName ?? name,
      type,
      mode: tarNumber(b, 100, 8),
      size: this.pax.size !== undefined ? Number(this.pax.size) : size,
      mtime: this.pax.mtime !== undefined ? Math.floor(Number(this.pax.mtime)) : tarNumber(b, 136, 12),
      linkname: this.pax.linkpath ?? this.longLink ?? tarString(b, 157, 100),
    };
    if (h.size !== size) {
      this.left = h.size;
      this.pad = (BLOCK - (h.size % BLOCK)) % BLOCK;
    }
    this.pax = {};
    this.longName = undefined;
    this.longLink = undefined;
    this.header = h;
    this.chunks = [];
    this.hash = undefined;
    if (h.type === 'file' && h.size > SPILL_AT) {
      this.spillFile = this.spill(h.size);
      this.hash = createHash('sha256');
    }
    this.enterData();
  }

  private enterData(): void {
    if (this.left > 0) this.state = 'data';
    else this.finishEntry();
  }

  private takeData(d: Buffer): void {
    if (this.meta === 'skip') return;
    if (this.spillFile) {
      this.hash!.update(d);
      for (let o = 0; o < d.length; ) o += writeSync(this.spillFile.fd, d, o);
      return;
    }
    if (this.meta || this.header?.type === 'file') this.chunks.push(Buffer.from(d));
  }

  private finishEntry(): void {
    this.state = this.pad > 0 ? 'pad' : 'header';
    if (this.meta) {
      const text = Buffer.concat(this.chunks).toString('utf8');
      if (this.meta === 'pax') {
        for (const rec of text.split('\n')) {
          const m = /^\d+ ([^=]+)=(.*)$/s.exec(rec);
          if (m) this.pax[m[1]!] = m[2]!;
        }
      } else if (this.meta === 'L') this.longName = text.replace(/\0+$/, '');
      else if (this.meta === 'K') this.longLink = text.replace(/\0+$/, '');
      this.meta = undefined;
      this.chunks = [];
      return;
    }
    const h = this.header!;
    this.header = undefined;
    if (this.spillFile) {
      closeSync(this.spillFile.fd);
      const spill = { path: this.spillFile.path, sha: this.hash!.digest('hex') };
      this.spillFile = undefined;
      this.onEntry(h, undefined, spill);
      return;
    }
    const data = h.type === 'file' ? (this.chunks.length === 1 ? this.chunks[0]! : Buffer.concat(this.chunks)) : undefined;
    this.chunks = [];
    this.onEntry(h, data, undefined);
  }
}
