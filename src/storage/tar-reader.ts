/**
 * A small synchronous tar reader, driven by pushing bytes, for the extraction that
 * `docker cp` runs on a worker thread (extract-worker.ts): no streams, no promises, no
 * copies of file data (the sink gets views of the pushed buffers).
 *
 * Contract
 * - Reads ustar, GNU (long names `L`/`K`, base-256 numbers) and PAX (`x`: path,
 *   linkpath, size, uid, gid, mtime, atime) archives, as Go's archive/tar does for
 *   dockerd. PAX global headers (`g`) are skipped, as dockerd's untar skips them.
 * - The archive is hostile: a header whose checksum is wrong, a number field that is
 *   not a number, a metadata entry (PAX or long name) over MAX_META bytes, a size past
 *   2^53, or input that ends inside an entry → invalid-argument naming what was wrong.
 *   Nothing here interprets names: the sink checks them.
 * - Entries of the header-only types (links, symlinks, devices, directories, fifos)
 *   carry no data whatever their size field says, as in Go's reader.
 * - A zero block ends the archive; what follows is ignored. Input that ends at an
 *   entry boundary without one is accepted (Go's reader does too).
 * - Calls into the sink happen inside push(); an exception from the sink propagates
 *   out of push() and leaves the reader unusable.
 */
import { invalidArgument } from '../common';

export type TarEntryType = 'file' | 'contiguous-file' | 'link' | 'symlink' | 'character-device' | 'block-device' | 'directory' | 'fifo';

export interface TarEntryHeader {
  name: string;
  type: TarEntryType;
  mode: number;
  uid: number;
  gid: number;
  /** Bytes of data that follow (0 for header-only types). */
  size: number;
  /** Seconds since the epoch, possibly fractional (PAX). */
  mtime: number;
  atime?: number;
  linkname: string;
}

export interface TarSink {
  /** An entry starts; `data` calls for its `size` bytes follow, then `end`. */
  entry(h: TarEntryHeader): void;
  data(chunk: Buffer): void;
  end(): void;
}

/** Largest PAX or GNU long-name entry accepted (Go's archive/tar limit). */
export const MAX_META = 1 << 20;
const BLOCK = 512;

const TYPES: Record<string, TarEntryType> = {
  '0': 'file', '\0': 'file', '7': 'contiguous-file', '1': 'link', '2': 'symlink',
  '3': 'character-device', '4': 'block-device', '5': 'directory', '6': 'fifo',
};
const HEADER_ONLY = new Set<TarEntryType>(['link', 'symlink', 'character-device', 'block-device', 'directory', 'fifo']);

type State = 'header' | 'data' | 'meta' | 'skip' | 'done';

export class TarReader {
  private state: State = 'header';
  /** A header being gathered across pushes. */
  private readonly head = Buffer.alloc(BLOCK);
  private headLen = 0;
  /** Data bytes of the current entry (or meta entry, or skipped entry) still to come. */
  private left = 0;
  /** Padding after the current entry's data. */
  private pad = 0;
  private meta: { kind: 'x' | 'L' | 'K' | 'g'; buf: Buffer; len: number } | undefined;
  /** Overrides from PAX and GNU long-name entries for the next real entry. */
  private pax: Record<string, string> = {};
  private longName: string | undefined;
  private longLink: string | undefined;
  private entries = 0;

  constructor(private readonly sink: TarSink) {}

  /** Whether the archive's end (a zero block) was seen. */
  get finished(): boolean {
    return this.state === 'done';
  }

  push(buf: Buffer): void {
    let off = 0;
    while (off < buf.length && this.state !== 'done') {
      if (this.pad > 0 && this.left === 0) {
        const n = Math.min(this.pad, buf.length - off);
        this.pad -= n;
        off += n;
        continue;
      }
      switch (this.state) {
        case 'header': {
          const n = Math.min(BLOCK - this.headLen, buf.length - off);
          if (this.headLen === 0 && n === BLOCK) {
            this.header(buf.subarray(off, off + BLOCK));
          } else {
            buf.copy(this.head, this.headLen, off, off + n);
            this.headLen += n;
            if (this.headLen === BLOCK) {
              this.headLen = 0;
              this.header(this.head);
            }
          }
          off += n;
          break;
        }
        case 'data': {
          const n = Math.min(this.left, buf.length - off);
          this.sink.data(buf.subarray(off, off + n));
          this.left -= n;
          off += n;
          if (this.left === 0) {
            this.state = 'header';
            this.sink.end();
          }
          break;
        }
        case 'meta': {
          const m = this.meta!;
          const n = Math.min(this.left, buf.length - off);
          buf.copy(m.buf, m.len, off, off + n);
          m.len += n;
          this.left -= n;
          off += n;
          if (this.left === 0) {
            this.state = 'header';
            this.applyMeta(m.kind, m.buf);
            this.meta = undefined;
          }
          break;
        }
        case 'skip': {
          const n = Math.min(this.left, buf.length - off);
          this.left -= n;
          off += n;
          if (this.left === 0) this.state = 'header';
          break;
        }
      }
    }
  }

  /** The input ended: refuses an archive cut inside an entry. */
  end(): void {
    if (this.state === 'done') return;
    if (this.state !== 'header' || this.headLen !== 0 || this.pad > 0 || this.meta || this.longName !== undefined || Object.keys(this.pax).length > 0) {
      throw invalidArgument(`the archive to copy is truncated: it ends inside entry ${this.entries + 1}`);
    }
  }

  private header(b: Buffer): void {
    if (isZero(b)) {
      this.state = 'done';
      return;
    }
    const stored = octal(b, 148, 8, 'checksum');
    let unsigned = 0;
    let signed = 0;
    for (let i = 0; i < BLOCK; i++) {
      const v = i >= 148 && i < 156 ? 32 : b[i]!;
      unsigned += v;
      signed += v > 127 ? v - 256 : v;
    }
    if (stored !== unsigned && stored !== signed) throw invalidArgument(`the archive to copy is corrupt: entry ${this.entries + 1} has a bad header checksum (is it a tar?)`);
    const flag = String.fromCharCode(b[156]!);
    const size = number(b, 124, 12, 'size');
    const ustar = b.toString('latin1', 257, 263);
    if (flag === 'x' || flag === 'g' || flag === 'L' || flag === 'K') {
      if (size > MAX_META) throw invalidArgument(`the archive to copy holds a ${flag === 'x' || flag === 'g' ? 'PAX' : 'long-name'} header of ${size} bytes (at most ${MAX_META})`);
      this.pad = padOf(size);
      if (size === 0) return this.applyMeta(flag, Buffer.alloc(0));
      this.meta = { kind: flag, buf: Buffer.alloc(size), len: 0 };
      this.left = size;
      this.state = 'meta';
      return;
    }
    let type = TYPES[flag];
    const name = this.longName ?? this.pax.path ?? joinPrefix(b, ustar === 'ustar\0');
    if (type === undefined) throw invalidArgument(`the archive's entry ${JSON.stringify(name)} has an unsupported type (${JSON.stringify(flag)})`);
    // Old (v7) archives mark directories by a trailing slash only.
    if (flag === '\0' && name.endsWith('/')) type = 'directory';
    const h: TarEntryHeader = {
      name,
      type,
      mode: octal(b, 100, 8, 'mode'),
      uid: this.paxNum('uid') ?? number(b, 108, 8, 'uid'),
      gid: this.paxNum('gid') ?? number(b, 116, 8, 'gid'),
      size: HEADER_ONLY.has(type) ? 0 : (this.paxNum('size') ?? size),
      mtime: this.paxNum('mtime') ?? number(b, 136, 12, 'mtime'),
      linkname: this.longLink ?? this.pax.linkpath ?? cstring(b, 157, 100),
    };
    const atime = this.paxNum('atime');
    if (atime !== undefined) h.atime = atime;
    if (h.size > Number.MAX_SAFE_INTEGER) throw invalidArgument(`the archive's entry ${JSON.stringify(name)} has an impossible size`);
    this.entries++;
    this.pax = {};
    this.longName = undefined;
    this.longLink = undefined;
    this.sink.entry(h);
    this.pad = padOf(h.size);
    if (h.size > 0) {
      this.left = h.size;
      this.state = 'data';
    } else {
      this.sink.end();
    }
  }

  private paxNum(key: string): number | undefined {
    const v = this.pax[key];
    if (v === undefined) return undefined;
    const n = Number(v);
    if (v === '' || !Number.isFinite(n) || n < 0) throw invalidArgument(`the archive holds an invalid PAX ${key} ${JSON.stringify(v.slice(0, 40))}`);
    return n;
  }

  private applyMeta(kind: 'x' | 'L' | 'K' | 'g', buf: Buffer): void {
    if (kind === 'g') return;
    if (kind === 'L') this.longName = cstring(buf, 0, buf.length);
    else if (kind === 'K') this.longLink = cstring(buf, 0, buf.length);
    else this.pax = { ...this.pax, ...parsePax(buf) };
  }
}

/** PAX records: `<len> <key>=<value>\n`, len counting the whole record. */
function parsePax(buf: Buffer): Record<string, string> {
  const out: Record<string, string> = {};
  let off = 0;
  while (off < buf.length) {
    if (buf[off] === 0) break;
    const sp = buf.indexOf(0x20, off);
    const len = sp > off ? Number(buf.toString('latin1', off, sp)) : NaN;
    if (!Number.isInteger(len) || len <= sp - off || off + len > buf.length || buf[off + len - 1] !== 0x0a) throw invalidArgument('the archive to copy holds a malformed PAX header');
    const rec = buf.toString('utf8', sp + 1, off + len - 1);
    const eq = rec.indexOf('=');
    if (eq <= 0) throw invalidArgument('the archive to copy holds a malformed PAX header');
    out[rec.slice(0, eq)] = rec.slice(eq + 1);
    off += len;
  }
  return out;
}

function joinPrefix(b: Buffer, ustar: boolean): string {
  const name = cstring(b, 0, 100);
  if (!ustar) return name;
  const prefix = cstring(b, 345, 155);
  return prefix ? `${prefix}/${name}` : name;
}

function cstring(b: Buffer, off: number, len: number): string {
  let end = b.indexOf(0, off);
  if (end < 0 || end > off + len) end = off + len;
  return b.toString('utf8', off, end);
}

/** An octal or (GNU) base-256 number field. */
function number(b: Buffer, off: number, len: number, what: string): number {
  if (b[off]! & 0x80) {
    if (b[off] === 0xff) throw invalidArgument(`the archive holds a negative ${what}`);
    let n = b[off]! & 0x7f;
    for (let i = 1; i < len; i++) {
      n = n * 256 + b[i + off]!;
      if (n > Number.MAX_SAFE_INTEGER) throw invalidArgument(`the archive holds a ${what} past 2^53`);
    }
    return n;
  }
  return octal(b, off, len, what);
}

function octal(b: Buffer, off: number, len: number, what: string): number {
  let i = off;
  const end = off + len;
  while (i < end && (b[i] === 0x20 || b[i] === 0)) i++;
  let n = 0;
  let digits = 0;
  for (; i < end; i++) {
    const c = b[i]!;
    if (c === 0x20 || c === 0) break;
    if (c < 0x30 || c > 0x37) throw invalidArgument(`the archive to copy is corrupt: its ${what} field is not a number (is it a tar?)`);
    n = n * 8 + (c - 0x30);
    digits++;
  }
  for (; i < end; i++) if (b[i] !== 0x20 && b[i] !== 0) throw invalidArgument(`the archive to copy is corrupt: its ${what} field is not a number (is it a tar?)`);
  return digits === 0 ? 0 : n;
}

function padOf(size: number): number {
  return (BLOCK - (size % BLOCK)) % BLOCK;
}

function isZero(b: Buffer): boolean {
  for (let i = 0; i < BLOCK; i++) if (b[i] !== 0) return false;
  return true;
}
