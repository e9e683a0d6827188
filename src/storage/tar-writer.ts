/**
 * Writes tar streams (POSIX ustar, with PAX records when a field does not fit) from
 * files on disk, one entry at a time, without holding file contents in memory.
 *
 * Why not tar-stream's packer: PAX values there are UTF-8 strings, and extended
 * attributes such as security.capability are binary; a layer tar must carry them
 * byte for byte (`SCHILY.xattr.<name>`), as Docker's and containerd's do.
 *
 * Times are written in whole seconds and atime/ctime are left out, as Docker does, so
 * that the same files always give the same tar (and diffID).
 */
import { closeSync, openSync, promises as fsp, readlinkSync, readSync, type Stats } from 'node:fs';
import { basename } from 'node:path';
import { invalidArgument, isErrno } from '../common';
import { lgetxattr, llistxattr } from '../sys';

/** Files up to this size are read in one synchronous call. */
const SMALL_FILE = 64 * 1024;

export type TarType = 'file' | 'dir' | 'symlink' | 'link' | 'char' | 'block' | 'fifo';

export interface TarHeader {
  /** Path inside the archive, no leading slash; a dir's name ends with '/'. */
  name: string;
  type: TarType;
  mode: number;
  uid: number;
  gid: number;
  size: number;
  /** Seconds since the epoch (truncated to whole seconds). */
  mtime: number;
  linkname?: string;
  devmajor?: number;
  devminor?: number;
  xattrs?: Map<string, Buffer>;
}

const TYPEFLAG: Record<TarType, string> = { file: '0', link: '1', symlink: '2', char: '3', block: '4', dir: '5', fifo: '6' };
const MAX_OCTAL_12 = 0o77777777777;
const MAX_OCTAL_8 = 0o7777777;

/** Two zero blocks: the end of a tar archive. */
export function endOfArchive(): Buffer {
  return Buffer.alloc(1024);
}

/** Padding that completes the last 512-byte block of `size` data bytes. */
export function padding(size: number): Buffer {
  return Buffer.alloc((512 - (size % 512)) % 512);
}

/** The header block(s) of one entry: a PAX extended header first when needed. */
export function encodeHeader(h: TarHeader): Buffer {
  const pax: Array<[string, Buffer]> = [];
  const nameBytes = Buffer.from(h.name);
  let name = h.name;
  let prefix = '';
  const ascii = (s: string) => /^[\x20-\x7e]*$/.test(s);
  if (!ascii(h.name)) pax.push(['path', nameBytes]);
  else if (nameBytes.length > 100) {
    const split = splitUstar(h.name);
    if (split) [prefix, name] = split;
    else pax.push(['path', nameBytes]);
  }
  const link = h.linkname ?? '';
  if (!ascii(link) || Buffer.byteLength(link) > 100) pax.push(['linkpath', Buffer.from(link)]);
  if (h.size > MAX_OCTAL_12) pax.push(['size', Buffer.from(String(h.size))]);
  if (h.uid > MAX_OCTAL_8) pax.push(['uid', Buffer.from(String(h.uid))]);
  if (h.gid > MAX_OCTAL_8) pax.push(['gid', Buffer.from(String(h.gid))]);
  for (const [k, v] of h.xattrs ?? []) pax.push([`SCHILY.xattr.${k}`, v]);

  const blocks: Buffer[] = [];
  if (pax.length > 0) {
    const body = Buffer.concat(pax.map(([k, v]) => paxRecord(k, v)));
    const paxName = `PaxHeaders.0/${basename(h.name.replace(/\/$/, ''))}`.slice(0, 100);
    blocks.push(ustar({ name: ascii(paxName) ? paxName : 'PaxHeaders.0/entry', prefix: '', typeflag: 'x', mode: 0o644, uid: 0, gid: 0, size: body.length, mtime: h.mtime, linkname: '', devmajor: 0, devminor: 0 }));
    blocks.push(body, padding(body.length));
  }
  const paxNames = new Set(pax.map(([k]) => k));
  blocks.push(
    ustar({
      name: paxNames.has('path') ? asciiTail(h.name, 100) : name,
      prefix: paxNames.has('path') ? '' : prefix,
      typeflag: TYPEFLAG[h.type],
      mode: h.mode & 0o7777,
      uid: h.uid > MAX_OCTAL_8 ? 0 : h.uid,
      gid: h.gid > MAX_OCTAL_8 ? 0 : h.gid,
      size: h.size > MAX_OCTAL_12 ? 0 : h.size,
      mtime: Math.max(0, Math.floor(h.mtime)),
      linkname: paxNames.has('linkpath') ? asciiTail(link, 100) : link,
      devmajor: h.devmajor ?? 0,
      devminor: h.devminor ?? 0,
    }),
  );
  return Buffer.concat(blocks);
}

function asciiTail(s: string, max: number): string {
  return s.replace(/[^\x20-\x7e]/g, '_').slice(-max);
}

function splitUstar(name: string): [string, string] | null {
  for (let i = name.length - 1; i > 0; i--) {
    if (name[i] !== '/') continue;
    const pre = name.slice(0, i);
    const rest = name.slice(i + 1);
    if (rest.length === 0 || rest.length > 100) return null;
    if (pre.length <= 155) return [pre, rest];
  }
  return null;
}

interface Raw {
  name: string;
  prefix: string;
  typeflag: string;
  mode: number;
  uid: number;
  gid: number;
  size: number;
  mtime: number;
  linkname: string;
  devmajor: number;
  devminor: number;
}

function ustar(r: Raw): Buffer {
  const b = Buffer.alloc(512);
  b.write(r.name, 0, 100, 'latin1');
  octal(b, 100, 8, r.mode);
  octal(b, 108, 8, r.uid);
  octal(b, 116, 8, r.gid);
  octal(b, 124, 12, r.size);
  octal(b, 136, 12, r.mtime);
  b.write('        ', 148, 'latin1');
  b.write(r.typeflag, 156, 'latin1');
  b.write(r.linkname, 157, 100, 'latin1');
  b.write('ustar\0', 257, 'latin1');
  b.write('00', 263, 'latin1');
  octal(b, 329, 8, r.devmajor);
  octal(b, 337, 8, r.devminor);
  b.write(r.prefix, 345, 155, 'latin1');
  let sum = 0;
  for (const x of b) sum += x;
  b.write(`${sum.toString(8).padStart(6, '0')}\0 `, 148, 'latin1');
  return b;
}

function octal(b: Buffer, off: number, len: number, n: number): void {
  b.write(`${Math.floor(n).toString(8).padStart(len - 1, '0')}\0`, off, len, 'latin1');
}

/** "<len> key=value\n", where len counts the whole record, its own digits included. */
function paxRecord(key: string, value: Buffer): Buffer {
  const body = Buffer.concat([Buffer.from(` ${key}=`), value, Buffer.from('\n')]);
  let len = body.length + 1;
  while (String(len).length + body.length !== len) len = String(len).length + body.length;
  return Buffer.concat([Buffer.from(String(len)), body]);
}

/** Extended attributes worth carrying in a tar: all but overlayfs' own bookkeeping. */
export function readXattrs(abs: string): Map<string, Buffer> {
  const out = new Map<string, Buffer>();
  let names: string[];
  try {
    names = llistxattr(abs);
  } catch (e) {
    if (isErrno(e, 'ENOTSUP') || isErrno(e, 'EOPNOTSUPP')) return out;
    throw e;
  }
  for (const n of names.sort()) {
    if (n.startsWith('trusted.overlay.')) continue;
    const v = lgetxattr(abs, n);
    if (v !== null) out.set(n, v);
  }
  return out;
}

/**
 * Header for a file on disk, or null for a kind a tar cannot hold (a socket).
 * `links` maps "dev:ino" of multiply-linked files to the archive name written first;
 * later names of the same inode become hardlink entries.
 */
export async function headerFor(abs: string, st: Stats, name: string, links: Map<string, string>): Promise<TarHeader | null> {
  return headerWith(abs, st, name, links, st.isSymbolicLink() ? await fsp.readlink(abs) : '');
}

/** headerFor with a synchronous readlink (cp's tar, which reads synchronously throughout). */
export function headerForSync(abs: string, st: Stats, name: string, links: Map<string, string>): TarHeader | null {
  return headerWith(abs, st, name, links, st.isSymbolicLink() ? readlinkSync(abs) : '');
}

function headerWith(abs: string, st: Stats, name: string, links: Map<string, string>, linkTarget: string): TarHeader | null {
  const base = { name, mode: st.mode & 0o7777, uid: st.uid, gid: st.gid, size: 0, mtime: Math.floor(st.mtimeMs / 1000) };
  if (st.isDirectory()) return { ...base, name: name.endsWith('/') ? name : `${name}/`, type: 'dir', xattrs: readXattrs(abs) };
  if (st.isSymbolicLink()) return { ...base, type: 'symlink', linkname: linkTarget };
  if (st.nlink > 1 && !st.isDirectory()) {
    const key = `${st.dev}:${st.ino}`;
    const first = links.get(key);
    if (first !== undefined) return { ...base, type: 'link', linkname: first };
    links.set(key, name);
  }
  if (st.isFile()) return { ...base, type: 'file', size: st.size, xattrs: readXattrs(abs) };
  if (st.isCharacterDevice() || st.isBlockDevice()) {
    const dev = Number(st.rdev);
    // glibc's major/minor split of dev_t
    const major = ((dev >>> 8) & 0xfff) | (Math.floor(dev / 2 ** 32) & ~0xfff);
    const minor = (dev & 0xff) | ((dev >>> 12) & ~0xff);
    return { ...base, type: st.isCharacterDevice() ? 'char' : 'block', devmajor: major, devminor: minor, xattrs: readXattrs(abs) };
  }
  if (st.isFIFO()) return { ...base, type: 'fifo', xattrs: readXattrs(abs) };
  return null;
}

/**
 * Yields one entry: its header blocks, then (for a regular file) its contents in
 * chunks and the padding. A file that changed size while being read is an error:
 * the tar would be corrupt otherwise.
 */
export async function* entryChunks(h: TarHeader, abs: string): AsyncGenerator<Buffer> {
  yield encodeHeader(h);
  if (h.type !== 'file' || h.size === 0) return;
  if (h.size <= SMALL_FILE) {
    // Layers of many small files (a build's COPY): one synchronous read costs far less
    // than the thread-pool round trips of open, read and close.
    const buf = Buffer.allocUnsafe(h.size);
    const fd = openSync(abs, 'r');
    try {
      for (let off = 0; off < h.size; ) {
        const n = readSync(fd, buf, off, h.size - off, null);
        if (n === 0) throw invalidArgument(`${abs} shrank while it was being archived; retry when nothing writes to it`);
        off += n;
      }
    } finally {
      closeSync(fd);
    }
    yield buf;
    yield padding(h.size);
    return;
  }
  const fh = await fsp.open(abs, 'r');
  try {
    let left = h.size;
    while (left > 0) {
      const buf = Buffer.allocUnsafe(Math.min(left, 256 * 1024));
      const { bytesRead } = await fh.read(buf, 0, buf.length, null);
      if (bytesRead === 0) throw invalidArgument(`${abs} shrank while it was being archived; retry when nothing writes to it`);
      left -= bytesRead;
      yield bytesRead === buf.length ? buf : buf.subarray(0, bytesRead);
    }
  } finally {
    await fh.close();
  }
  yield padding(h.size);
}
