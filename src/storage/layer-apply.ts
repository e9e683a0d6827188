/**
 * Applies one image layer (a tar changeset, OCI image-spec layer.md) to a directory in
 * overlayfs form, and computes the layer's diffID on the way.
 *
 * Contract
 * - `dest` must be an existing, empty directory that nothing else touches while the
 *   apply runs (a fresh temp dir). The checks below rely on being the only writer.
 * - The input may be a plain tar, or gzip- or zstd-compressed (detected by magic bytes,
 *   common/compression.ts); corrupt compressed data is invalid-argument.
 * - Resolves with `diffID` = sha256 of the uncompressed tar bytes (every byte of the
 *   stream, trailing padding included) and `size` = the sum of its entries' sizes (the
 *   files' contents, no headers or padding: what dockerd reports as a layer's size).
 * - Fidelity: regular files (streamed), dirs, symlinks, hardlinks, fifos; uid/gid, mode incl. setuid/setgid/sticky, mtimes (dirs set after their
 *   contents), PAX `SCHILY.xattr.*` records as extended attributes (raw bytes).
 * - Whiteouts become overlayfs form: `.wh.NAME` → char device 0:0 named NAME (unless
 *   this layer already created NAME: a whiteout only hides lower layers);
 *   `.wh..wh..opq` → xattr `trusted.overlay.opaque=y` on its directory. Other
 *   `.wh..wh.*` entries (aufs metadata) are skipped. A char device 0:0 entry is taken
 *   as it stands: in overlay form it already is a whiteout.
 * - Device nodes (char or block, other than 0:0) are skipped, never created: a layer
 *   has no business handing a container a host disk or /dev/mem, and the runtime
 *   gives every container its own /dev. Docker's rootless and user-namespaced modes
 *   drop them too.
 * - The tar is hostile. Nothing outside `dest` is ever created, changed or read
 *   through: names are cleaned lexically and `..` escapes are refused; every parent
 *   component is resolved as if `dest` were the root (chroot-style: a symlink to
 *   `/etc` means `dest/etc`); the final component is never followed (an existing
 *   entry there is removed and replaced, except a directory over a directory, which
 *   keeps its contents); files are created with O_EXCL|O_NOFOLLOW; hardlinks must
 *   name an existing non-directory inside `dest`. Paths or link targets longer than
 *   `maxPathLength` (default 4096) bytes, or a name component over 255 bytes, are
 *   refused.
 * - `idShift` (user-namespace remapping) maps each entry's uid/gid to the owner it
 *   gets on disk; it throws (a BerthError) for ids it cannot map, failing the apply.
 * - Needs root (CAP_CHOWN, CAP_MKNOD, CAP_FOWNER, CAP_SYS_ADMIN for trusted.* xattrs).
 *
 * Failures: a corrupt or truncated tar or gzip stream, or a hostile entry, rejects
 * with BerthError invalid-argument ("layer tar is truncated or corrupt: …"); a failing
 * input stream or disk rejects with internal (cause attached). On failure `dest` is
 * left half-written: the caller must delete it.
 */
import { createHash } from 'node:crypto';
import { constants as fsc, promises as fsp } from 'node:fs';
import { join } from 'node:path';
import { Readable } from 'node:stream';
import type * as tarStream from 'tar-stream';
import { BerthError, decompressStream, drainOrClose, internal, invalidArgument, isErrno, asDigest, type Digest } from '../common';
import { lsetxattr, makedev, mknod, S_IFCHR, S_IFIFO, walkInRoot } from '../sys';

export interface ApplyLayerOptions {
  /** Longest accepted entry path or link target, in bytes. Default 4096. */
  maxPathLength?: number;
  /** Owner on disk of an entry owned by `owner` in the tar; identity when absent. */
  idShift?: (owner: { uid: number; gid: number }) => { uid: number; gid: number };
  /**
   * sha256 of the input bytes as the caller computes them on exactly what it feeds
   * in (a loader that stores the same bytes in its content store hashes them
   * there). For an uncompressed input that is the diffID, so the apply does not
   * hash a second time; it awaits this once the input has ended, and its
   * rejection fails the apply. A compressed input is hashed here as usual.
   */
  inputDigest?: Promise<Digest>;
}

export interface ApplyLayerResult {
  diffID: Digest;
  size: number;
}

const WHITEOUT_PREFIX = '.wh.';
const WHITEOUT_META_PREFIX = '.wh..wh.';
const WHITEOUT_OPAQUE = '.wh..wh..opq';
const OPAQUE_XATTR = 'trusted.overlay.opaque';
const MAX_COMPONENT = 255;
/**
 * Regular files of at least this many bytes are flushed (fdatasync, in the background)
 * as soon as written, so the one syncfs the layer store does before publishing the layer
 * finds little left to write. Small files are not: an fsync each would cost more than it saves.
 */
const EARLY_FLUSH = 4 << 20;
/** Background flushes in flight per layer; the next big file waits for the oldest. */
const MAX_FLUSHING = 4;
/**
 * Regular files up to this size are read whole and made in the background while the next
 * entries are read (Applier.smallFile): creating a file costs this disk about 0.5 ms, and one
 * at a time, with a pool trip per step, a layer of a thousand small files took twice that.
 */
const SMALL_FILE = 64 << 10;
/** Small files being made at once, per layer. */
const SMALL_IN_FLIGHT = 8;

type Entry = tarStream.ExtractEvents['entry'][1];

/** Marks a failure of the caller's input stream, as opposed to bad tar content. */
class SourceError extends Error {}

export async function applyLayer(input: Readable, dest: string, opts: ApplyLayerOptions = {}): Promise<ApplyLayerResult> {
  // Observed at once: it may reject before it is awaited (or is never awaited, for a compressed input).
  opts.inputDigest?.catch(() => undefined);
  const st = await fsp.lstat(dest).catch((e: unknown) => {
    throw invalidArgument(`layer destination ${dest} cannot be used: ${(e as Error).message}`, e);
  });
  if (!st.isDirectory()) throw invalidArgument(`layer destination ${dest} is not a directory`);

  const hash = createHash('sha256');
  let size = 0;
  const paxTap = new RawPaxXattrs();
  // tar-stream loads with the first layer, not at berthd's start (issue 14: idle memory).
  const extract = (require('tar-stream') as typeof tarStream).extract();
  let extractError: Error | undefined;
  let destroyedByUs = false;
  extract.on('error', (e: Error) => {
    if (!destroyedByUs && !extractError) extractError = e;
  });

  let hashed = true;
  // decompressStream passes the input's own error object through; that identity tells
  // a failing source (internal) from a bad tar (invalid-argument).
  let sourceError: unknown;
  input.once('error', (e) => {
    sourceError = e;
  });
  const feed = (async () => {
    try {
      const { stream, compression } = await decompressStream(input);
      hashed = compression !== 'none' || opts.inputDigest === undefined;
      // Leaving this loop early destroys `stream`, which releases the input.
      for await (const chunk of stream) {
        const buf = chunk as Buffer;
        if (hashed) hash.update(buf);
        paxTap.push(buf);
        if (extract.destroyed) break;
        if (!extract.write(buf)) await drainOrClose(extract);
        if (extract.destroyed) break;
      }
      if (!extract.destroyed) extract.end(undefined);
    } catch (e) {
      if (e !== undefined && e === sourceError) throw new SourceError((e as Error)?.message ?? String(e), { cause: e });
      throw e;
    }
  })();
  // Route a feed failure into the extractor so the entry loop stops too.
  const fed = feed.then(
    () => undefined,
    (e: unknown) => {
      extract.destroy(e as Error);
      return e;
    },
  );

  const applier = new Applier(dest, paxTap, opts.maxPathLength ?? 4096, opts.idShift);
  try {
    for await (const entry of extract) {
      size += entry.header.size ?? 0;
      await applier.apply(entry);
      for await (const _ of entry) {
        // drain data the entry type does not use (e.g. a symlink with a size)
      }
    }
    const feedErr = await fed;
    if (feedErr) throw feedErr;
    if (extractError) throw extractError;
    await applier.finish();
    if (!hashed) return { diffID: await opts.inputDigest!, size };
  } catch (err) {
    destroyedByUs = true;
    extract.destroy(new Error('layer apply stopped'));
    await applier.flushed(false);
    const feedErr = await fed;
    if (err instanceof BerthError) throw err;
    if (feedErr instanceof SourceError) throw internal(`reading the layer stream for ${dest} failed: ${feedErr.message}`, feedErr.cause);
    if (feedErr instanceof BerthError) throw feedErr;
    const streamErr = (feedErr as Error | undefined) ?? extractError;
    if (streamErr) throw invalidArgument(`layer tar is truncated or corrupt: ${streamErr.message}`, streamErr);
    throw internal(`applying a layer into ${dest} failed: ${(err as Error).message}`, err);
  }
  return { diffID: asDigest(hash.digest('hex')), size };
}

/** Lexically cleans a tar path into components under the root; refuses escapes. */
function cleanPath(name: string, what: string, maxLen: number): string[] {
  if (name.includes('\0')) throw invalidArgument(`layer tar ${what} contains a NUL byte: ${JSON.stringify(name)}`);
  if (Buffer.byteLength(name) > maxLen) throw invalidArgument(`layer tar ${what} is longer than ${maxLen} bytes: ${name.slice(0, 80)}…`);
  const out: string[] = [];
  for (const c of name.split('/')) {
    if (c === '' || c === '.') continue;
    if (c === '..') {
      if (out.length === 0) throw invalidArgument(`layer tar ${what} escapes the layer root: ${JSON.stringify(name)}`);
      out.pop();
      continue;
    }
    if (Buffer.byteLength(c) > MAX_COMPONENT) throw invalidArgument(`layer tar ${what} has a component over ${MAX_COMPONENT} bytes: ${JSON.stringify(name.slice(0, 80))}`);
    out.push(c);
  }
  return out;
}

interface DirTimes {
  rel: string;
  atime: number;
  mtime: number;
}

class Applier {
  /** Relative paths known to be real directories (not symlinks) under dest. */
  private readonly dirs = new Set<string>(['']);
  /** Entries this layer created, so a later whiteout leaves them alone. */
  private readonly created = new Set<string>();
  /** Keyed by path: a directory listed twice gets the later entry's times. */
  private readonly dirTimes = new Map<string, DirTimes>();
  /** datasyncs of big files still running (their handles close when done). */
  private flushing: Promise<void>[] = [];
  /** Small files being made, by path; these promises never reject (see `smallFailure`). */
  private readonly making = new Map<string, Promise<void>>();
  /** The first failure of a small file made in the background. */
  private smallFailure: unknown;

  constructor(
    private readonly dest: string,
    private readonly pax: RawPaxXattrs,
    private readonly maxPath: number,
    private readonly idShift?: ApplyLayerOptions['idShift'],
  ) {}

  /** The owner an entry gets on disk (throws for ids the user-namespace shift cannot map). */
  private ownerOf(h: tarStream.Header): { uid: number; gid: number } {
    const owner = { uid: paxNumber(h, 'uid') ?? h.uid ?? 0, gid: paxNumber(h, 'gid') ?? h.gid ?? 0 };
    return this.idShift ? this.idShift(owner) : owner;
  }

  private async chown(abs: string, h: tarStream.Header): Promise<void> {
    const { uid, gid } = this.ownerOf(h);
    await fsp.lchown(abs, uid, gid);
  }

  async apply(entry: Entry): Promise<void> {
    const h = entry.header;
    const parts = cleanPath(h.name, `entry ${JSON.stringify(h.name.slice(0, 200))}`, this.maxPath);
    const base = parts[parts.length - 1];
    const small = (h.type === 'file' || h.type === 'contiguous-file') && (h.size ?? 0) <= SMALL_FILE;
    // Anything else may look at or replace what the small files in flight make: they finish
    // first. So does a small file below one in flight (its parent must be resolved as it is).
    if (!small || base === undefined || base.startsWith(WHITEOUT_PREFIX) || this.belowMaking(parts)) await this.settle();

    if (base === undefined) {
      // The root entry ("./"): only its metadata applies, to dest itself.
      if (h.type !== 'directory') throw invalidArgument(`layer tar entry ${JSON.stringify(h.name)} replaces the layer root with a ${h.type}`);
      await this.setMetadata(entry, this.dest, '', true);
      return;
    }

    if (base.startsWith(WHITEOUT_PREFIX)) {
      await this.whiteout(parts, base, h);
      return;
    }

    const parentRel = await this.resolveParent(parts.slice(0, -1), true);
    const rel = parentRel ? `${parentRel}/${base}` : base;
    const abs = join(this.dest, rel);

    switch (h.type) {
      case 'directory': {
        const existing = await lstatOrNull(abs);
        if (!existing?.isDirectory()) {
          if (existing) await this.remove(abs, rel);
          await fsp.mkdir(abs, 0o700);
        }
        this.dirs.add(rel);
        break;
      }
      case 'file':
      case 'contiguous-file':
        if (small) return this.smallFile(entry, abs, rel);
        await this.replace(abs, rel);
        await this.writeFile(entry, abs);
        break;
      case 'symlink': {
        const target = h.linkname ?? '';
        if (target.includes('\0') || Buffer.byteLength(target) > this.maxPath) {
          throw invalidArgument(`layer tar symlink ${JSON.stringify(h.name)} has an invalid target`);
        }
        await this.replace(abs, rel);
        await fsp.symlink(target, abs);
        break;
      }
      case 'link':
        await this.hardlink(h, abs, rel);
        this.created.add(rel);
        return; // the inode already carries its metadata
      case 'character-device':
      case 'block-device':
      case 'fifo': {
        const whiteout = h.type === 'character-device' && !h.devmajor && !h.devminor;
        if (h.type !== 'fifo' && !whiteout) return; // device nodes are skipped (see the contract)
        await this.replace(abs, rel);
        mknod(abs, (whiteout ? S_IFCHR : S_IFIFO) | 0o600, whiteout ? makedev(0, 0) : 0);
        break;
      }
      default:
        throw invalidArgument(`layer tar entry ${JSON.stringify(h.name)} has an unsupported type (${h.type ?? 'unknown'})`);
    }
    this.created.add(rel);
    await this.setMetadata(entry, abs, rel, h.type === 'directory');
  }

  /** Sets dir mtimes last: creating their contents changed them. Waits for background work. */
  async finish(): Promise<void> {
    await this.settle();
    await this.flushed(true);
    for (const d of this.dirTimes.values()) {
      const abs = join(this.dest, d.rel);
      const st = await lstatOrNull(abs);
      if (st?.isDirectory()) await fsp.lutimes(abs, d.atime, d.mtime);
    }
  }

  private async whiteout(parts: string[], base: string, h: tarStream.Header): Promise<void> {
    const parentRel = await this.resolveParent(parts.slice(0, -1), true);
    if (base === WHITEOUT_OPAQUE) {
      lsetxattr(join(this.dest, parentRel), OPAQUE_XATTR, Buffer.from('y'));
      return;
    }
    if (base.startsWith(WHITEOUT_META_PREFIX)) return;
    const name = base.slice(WHITEOUT_PREFIX.length);
    if (name === '' || name === '.' || name === '..') throw invalidArgument(`layer tar has an invalid whiteout entry ${JSON.stringify(h.name)}`);
    const rel = parentRel ? `${parentRel}/${name}` : name;
    const abs = join(this.dest, rel);
    if (this.created.has(rel) && (await lstatOrNull(abs))) return;
    await this.replace(abs, rel);
    mknod(abs, S_IFCHR, makedev(0, 0));
    await this.chown(abs, h);
  }

  private async hardlink(h: tarStream.Header, abs: string, rel: string): Promise<void> {
    const what = `hardlink ${JSON.stringify(h.name)}`;
    const tparts = cleanPath(h.linkname ?? '', `${what} target`, this.maxPath);
    const tbase = tparts[tparts.length - 1];
    if (tbase === undefined) throw invalidArgument(`layer tar ${what} points at the layer root`);
    const tparent = await this.resolveParent(tparts.slice(0, -1), false).catch((e: unknown) => {
      throw invalidArgument(`layer tar ${what} points at ${JSON.stringify(h.linkname)}, which this layer does not contain`, e);
    });
    const trel = tparent ? `${tparent}/${tbase}` : tbase;
    const tabs = join(this.dest, trel);
    const tst = await lstatOrNull(tabs);
    if (!tst) throw invalidArgument(`layer tar ${what} points at ${JSON.stringify(h.linkname)}, which this layer does not contain`);
    if (tst.isDirectory()) throw invalidArgument(`layer tar ${what} points at a directory`);
    if (trel === rel) return;
    await this.replace(abs, rel);
    await fsp.link(tabs, abs);
  }

  private async writeFile(entry: Entry, abs: string): Promise<void> {
    const fh = await fsp.open(abs, fsc.O_WRONLY | fsc.O_CREAT | fsc.O_EXCL | fsc.O_NOFOLLOW, 0o600);
    let written = 0;
    let closing = false;
    try {
      for await (const chunk of entry) {
        let off = 0;
        const buf = chunk as Buffer;
        while (off < buf.length) off += (await fh.write(buf, off, buf.length - off)).bytesWritten;
        written += buf.length;
      }
      if (written >= EARLY_FLUSH) {
        // Flushed while the rest of the tar is unpacked; finish() waits for it.
        if (this.flushing.length >= MAX_FLUSHING) await this.flushing.shift();
        closing = true;
        const flushed = fh.datasync().finally(() => fh.close());
        flushed.catch(() => undefined);
        this.flushing.push(flushed);
      }
    } finally {
      if (!closing) await fh.close();
    }
  }

  /**
   * Reads a small file's data and makes the file in the background, at most SMALL_IN_FLIGHT at
   * once: created exclusively (an entry already there, from earlier in this layer, is removed
   * first, as `replace` does), then owner, xattrs, mode and times in the order setMetadata uses,
   * all through the new file's descriptor. A failure is reported by the next `settle`.
   */
  private async smallFile(entry: Entry, abs: string, rel: string): Promise<void> {
    // Something this layer made is there (a file in flight, or a directory whose files may be):
    // it is replaced once they are done.
    if (this.making.has(rel) || this.created.has(rel) || this.dirs.has(rel)) await this.settle();
    const h = entry.header;
    const chunks: Buffer[] = [];
    for await (const c of entry) chunks.push(c as Buffer);
    const data = chunks.length === 1 ? chunks[0]! : Buffer.concat(chunks);
    const { uid, gid } = this.ownerOf(h);
    const xattrs = this.pax.xattrsFor(entry);
    const mode = (h.mode ?? 0o644) & 0o7777;
    const mtime = paxNumber(h, 'mtime') ?? (h.mtime ? h.mtime.getTime() / 1000 : 0);
    const atime = paxNumber(h, 'atime') ?? mtime;
    while (this.making.size >= SMALL_IN_FLIGHT) await Promise.race(this.making.values());
    if (this.smallFailure) throw this.smallFailure;
    this.created.add(rel);
    const make = async () => {
      const flags = fsc.O_WRONLY | fsc.O_CREAT | fsc.O_EXCL | fsc.O_NOFOLLOW;
      const fh = await fsp.open(abs, flags, 0o600).catch(async (e: unknown) => {
        if (!isErrno(e, 'EEXIST')) throw e;
        await this.remove(abs, rel);
        this.created.add(rel);
        return fsp.open(abs, flags, 0o600);
      });
      try {
        let off = 0;
        while (off < data.length) off += (await fh.write(data, off, data.length - off)).bytesWritten;
        await fh.chown(uid, gid);
        for (const [name, value] of xattrs) lsetxattr(abs, name, value);
        await fh.chmod(mode);
        await fh.utimes(atime, mtime);
      } finally {
        await fh.close();
      }
    };
    const done = make().then(
      () => undefined,
      (e: unknown) => void (this.smallFailure ??= e),
    ).finally(() => this.making.delete(rel));
    this.making.set(rel, done);
  }

  /** Whether a path (its components) lies below a small file being made. */
  private belowMaking(parts: string[]): boolean {
    if (this.making.size === 0) return false;
    for (let i = 1; i < parts.length; i++) if (this.making.has(parts.slice(0, i).join('/'))) return true;
    return false;
  }

  /** Waits for the small files in flight; throws the first of their failures. */
  private async settle(): Promise<void> {
    while (this.making.size) await Promise.all(this.making.values());
    if (this.smallFailure) throw this.smallFailure;
  }

  /** Waits for every background flush; the first failure is reported when `report`. */
  async flushed(report: boolean): Promise<void> {
    while (this.making.size) await Promise.all(this.making.values());
    const all = this.flushing.splice(0);
    const results = await Promise.allSettled(all);
    const failed = results.find((r): r is PromiseRejectedResult => r.status === 'rejected');
    if (failed && report) throw failed.reason;
  }

  /** chown, then xattrs, then chmod (chown clears setuid bits and file capabilities), then times. */
  private async setMetadata(entry: Entry, abs: string, rel: string, isDir: boolean): Promise<void> {
    const h = entry.header;
    const isLink = h.type === 'symlink';
    await this.chown(abs, h);
    for (const [name, value] of this.pax.xattrsFor(entry)) {
      try {
        lsetxattr(abs, name, value);
      } catch (e) {
        // user.* xattrs cannot exist on symlinks; Docker drops them too.
        if (isLink && (isErrno(e, 'EPERM') || isErrno(e, 'ENOTSUP'))) continue;
        throw e;
      }
    }
    if (!isLink) await fsp.chmod(abs, (h.mode ?? 0o644) & 0o7777);
    const mtime = paxNumber(h, 'mtime') ?? (h.mtime ? h.mtime.getTime() / 1000 : 0);
    const atime = paxNumber(h, 'atime') ?? mtime;
    if (isDir) this.dirTimes.set(rel, { rel, atime, mtime });
    else await fsp.lutimes(abs, atime, mtime);
  }

  /**
   * Resolves parent components chroot-style (sys walkInRoot: symlinks are followed with
   * `dest` as the root), so the result is a path of real directories inside dest.
   * Missing directories are created (0755, root-owned, as Docker does) when `create`.
   */
  private async resolveParent(parts: string[], create: boolean): Promise<string> {
    const path = parts.join('/');
    return walkInRoot(this.dest, path, async (rel) => {
      if (this.dirs.has(rel)) return undefined;
      const abs = join(this.dest, rel);
      const st = await lstatOrNull(abs);
      if (!st) {
        if (!create) throw invalidArgument(`layer tar refers to ${JSON.stringify(rel)}, which does not exist in this layer`);
        await fsp.mkdir(abs, 0o755);
        this.created.add(rel);
      } else if (st.isSymbolicLink()) {
        return fsp.readlink(abs);
      } else if (!st.isDirectory()) {
        throw invalidArgument(`layer tar path ${JSON.stringify(path)} goes through ${JSON.stringify(rel)}, which is not a directory`);
      }
      this.dirs.add(rel);
      return undefined;
    });
  }

  /** Clears the final component, whatever it is, without following it. */
  private async replace(abs: string, rel: string): Promise<void> {
    if (await lstatOrNull(abs)) await this.remove(abs, rel);
  }

  private async remove(abs: string, rel: string): Promise<void> {
    await fsp.rm(abs, { recursive: true, force: true });
    this.created.delete(rel);
    for (const d of this.dirs) if (d === rel || d.startsWith(`${rel}/`)) this.dirs.delete(d);
  }
}

async function lstatOrNull(p: string) {
  try {
    return await fsp.lstat(p);
  } catch (e) {
    if (isErrno(e, 'ENOENT')) return null;
    throw e;
  }
}

function paxNumber(h: tarStream.Header, key: string): number | undefined {
  const v = (h as { pax?: Record<string, string> }).pax?.[key];
  if (v === undefined) return undefined;
  const n = Number(v);
  if (!Number.isFinite(n) || n < 0) throw invalidArgument(`layer tar entry ${JSON.stringify(h.name)} has an invalid PAX ${key} ${JSON.stringify(v)}`);
  return n;
}

/**
 * Recovers PAX `SCHILY.xattr.*` values as raw bytes. tar-stream decodes PAX values as
 * UTF-8, which mangles binary values such as security.capability, so this walks the
 * same bytes (tar block structure only) and keeps each entry's xattrs keyed by the
 * byte offset of the entry's header, which tar-stream reports as the entry's offset.
 * If the walk loses sync on a corrupt tar, lookups simply miss and tar-stream's
 * decoding (which will report the corruption) is used.
 */
class RawPaxXattrs {
  private buf: Buffer = Buffer.alloc(0);
  private offset = 0; // stream offset of buf[0]
  private skip = 0; // data bytes to discard before the next header
  private pending: Buffer | null = null; // PAX data awaiting its entry header
  private lost = false;
  private readonly byOffset = new Map<number, Map<string, Buffer>>();

  push(chunk: Buffer): void {
    if (this.lost) return;
    this.buf = this.buf.length ? Buffer.concat([this.buf, chunk]) : chunk;
    for (;;) {
      if (this.skip > 0) {
        const n = Math.min(this.skip, this.buf.length);
        this.buf = this.buf.subarray(n);
        this.offset += n;
        this.skip -= n;
        if (this.skip > 0) return;
      }
      if (this.buf.length < 512) return;
      const hdr = this.buf.subarray(0, 512);
      const headerOffset = this.offset;
      if (hdr.every((b) => b === 0)) {
        this.consume(512);
        continue;
      }
      const type = String.fromCharCode(hdr[156]!);
      let size = parseTarNumber(hdr.subarray(124, 136));
      if (size === null) {
        this.lost = true;
        return;
      }
      const padded = size + ((512 - (size % 512)) % 512);
      if (type === 'x') {
        if (size > 1 << 20) {
          this.lost = true;
          return;
        }
        if (this.buf.length < 512 + size) return; // wait for the whole record set
        this.pending = Buffer.from(this.buf.subarray(512, 512 + size));
        this.consume(512);
        this.skip = padded;
        continue;
      }
      if (type === 'g' || type === 'L' || type === 'K') {
        this.consume(512);
        this.skip = padded;
        continue;
      }
      // A real entry: attach the preceding PAX records to it.
      if (this.pending) {
        const records = parsePax(this.pending);
        this.pending = null;
        const x = new Map<string, Buffer>();
        for (const [k, v] of records) {
          if (k.startsWith('SCHILY.xattr.')) x.set(k.slice('SCHILY.xattr.'.length), v);
          if (k === 'size') {
            const n = Number(v.toString('latin1'));
            if (Number.isSafeInteger(n) && n >= 0) size = n;
          }
        }
        if (x.size) this.byOffset.set(headerOffset, x);
      }
      this.consume(512);
      // Same rule as tar-stream: only a directory's recorded size is ignored.
      this.skip = type === '5' ? 0 : size + ((512 - (size % 512)) % 512);
    }
  }

  xattrsFor(entry: Entry): Map<string, Buffer> {
    const raw = this.byOffset.get(entry.offset);
    if (raw) {
      this.byOffset.delete(entry.offset);
      return raw;
    }
    const out = new Map<string, Buffer>();
    const pax = (entry.header as { pax?: Record<string, string> }).pax ?? {};
    for (const [k, v] of Object.entries(pax)) if (k.startsWith('SCHILY.xattr.')) out.set(k.slice(13), Buffer.from(v, 'utf8'));
    return out;
  }

  private consume(n: number): void {
    this.buf = this.buf.subarray(n);
    this.offset += n;
  }
}

/** Octal (NUL/space terminated) or GNU base-256 numeric field. */
function parseTarNumber(field: Buffer): number | null {
  if (field[0]! & 0x80) {
    let n = 0;
    for (let i = 1; i < field.length; i++) n = n * 256 + field[i]!;
    return Number.isSafeInteger(n) ? n : null;
  }
  const s = field.toString('latin1').replace(/[\0 ]+$/, '').replace(/^[\0 ]+/, '');
  if (s === '') return 0;
  if (!/^[0-7]+$/.test(s)) return null;
  return parseInt(s, 8);
}

/** PAX extended header records: "<len> <key>=<value>\n", len counting the whole record. */
function parsePax(buf: Buffer): Array<[string, Buffer]> {
  const out: Array<[string, Buffer]> = [];
  let pos = 0;
  while (pos < buf.length) {
    const sp = buf.indexOf(0x20, pos);
    if (sp < 0) break;
    const len = Number(buf.subarray(pos, sp).toString('latin1'));
    if (!Number.isSafeInteger(len) || len <= 0 || pos + len > buf.length) break;
    const rec = buf.subarray(sp + 1, pos + len - 1); // drop the trailing newline
    const eq = rec.indexOf(0x3d);
    if (eq > 0) out.push([rec.subarray(0, eq).toString('utf8'), Buffer.from(rec.subarray(eq + 1))]);
    pos += len;
  }
  return out;
}
