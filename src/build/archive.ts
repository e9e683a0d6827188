/**
 * Unpacking hostile tars into a directory we own (a build context, an ADDed archive):
 * every entry's name is cleaned and must stay below the destination, no component
 * above an entry may be a symlink (so a link in the archive can never redirect a
 * later entry outside), hardlinks must point at regular files already unpacked
 * here, and device nodes are skipped. Compression (gzip, zstd, bzip2, xz) is detected
 * by its magic bytes.
 */
import { createHash } from 'node:crypto';
import {
  chmodSync, closeSync, constants as fsc, fchmodSync, fchownSync, futimesSync, lchownSync, linkSync, lstatSync, lutimesSync, mkdirSync, openSync, promises as fsp,
  rmSync, symlinkSync, writeSync,
} from 'node:fs';
import { join, posix } from 'node:path';
import { Readable } from 'node:stream';
import * as tarStream from 'tar-stream';
import { decompressStream, invalidArgument } from '../common';

export interface UnpackOptions {
  /** Owner for every entry (ADD gives root unless --chown); undefined keeps the archive's. */
  owner?: { uid: number; gid: number };
  /** Maps each owner (the archive's or `owner`) to the one written on disk (--userns-remap). */
  mapOwner?(o: { uid: number; gid: number }): { uid: number; gid: number };
  /** Called for each entry's relative path; false skips it. */
  filter?(rel: string): boolean;
  /** Filled with each regular file's sha256 (hex), by relative path. */
  digests?: Map<string, string>;
}

/** Reads the first bytes of a stream, giving them back with the whole stream. */
async function peek(input: Readable, n: number): Promise<{ head: Buffer; stream: Readable }> {
  const chunks: Buffer[] = [];
  let len = 0;
  const it = input[Symbol.asyncIterator]() as AsyncIterator<Buffer>;
  let done = false;
  while (len < n) {
    const r = await it.next();
    if (r.done) {
      done = true;
      break;
    }
    chunks.push(r.value);
    len += r.value.length;
  }
  const head = Buffer.concat(chunks);
  const stream = Readable.from(
    (async function* () {
      yield head;
      if (done) return;
      for (;;) {
        const r = await it.next();
        if (r.done) return;
        yield r.value;
      }
    })(),
    { objectMode: false },
  );
  return { head, stream };
}

const TAR_HEADER = 512;

/** The plain tar of a possibly compressed stream (gzip, zstd, bzip2, xz), and its first 512 bytes (fewer if it is shorter). */
export async function decompressAny(input: Readable): Promise<{ stream: Readable; head: Buffer }> {
  const d = await decompressStream(input);
  // A whole tar header, however the input arrives in pieces: looksLikeTar needs all 512 bytes.
  return peek(d.stream, TAR_HEADER);
}

/** Whether these bytes start a tar archive (ustar or old v7 with a valid checksum). */
export function looksLikeTar(head: Buffer): boolean {
  if (head.length < 512) return false;
  if (head.subarray(257, 262).toString('latin1') === 'ustar') return true;
  const stored = parseInt(head.subarray(148, 156).toString('latin1').replace(/\0.*$/, '').trim(), 8);
  if (!Number.isFinite(stored)) return false;
  let sum = 0;
  for (let i = 0; i < 512; i++) sum += i >= 148 && i < 156 ? 32 : head[i]!;
  return sum === stored;
}

/** Cleans an archive entry's name; undefined when it climbs out or is empty. */
export function cleanEntryName(name: string): string | undefined {
  const n = posix.normalize('/' + name).slice(1).replace(/\/+$/, '');
  if (n === '' || n === '.') return undefined;
  if (n.split('/').includes('..')) return undefined;
  return n;
}

/**
 * Makes the parents of `rel` below `dest` (0755), refusing any that is not a real
 * directory. `known` remembers the directories already checked; a replaced entry
 * clears it.
 */
function checkParents(dest: string, rel: string, known: Set<string>): void {
  const parts = rel.split('/');
  let sub = '';
  for (let i = 0; i < parts.length - 1; i++) {
    sub = sub ? `${sub}/${parts[i]!}` : parts[i]!;
    if (known.has(sub)) continue;
    const cur = join(dest, sub);
    let st;
    try {
      st = lstatSync(cur);
    } catch {
      mkdirSync(cur, { mode: 0o755 });
      known.add(sub);
      continue;
    }
    if (!st.isDirectory()) throw invalidArgument(`archive entry ${rel} lies below ${sub}, which is not a directory in the archive`);
    known.add(sub);
  }
}

/** Unpacks a (possibly compressed) tar into `dest`, which must exist. */
export async function unpackTar(input: Readable, dest: string, o: UnpackOptions = {}): Promise<number> {
  const { stream } = await decompressAny(input);
  const ex = tarStream.extract();
  const pump = new Promise<void>((resolve, reject) => {
    stream.on('error', (e) => {
      ex.destroy(e);
      reject(e);
    });
    stream.pipe(ex);
    ex.on('finish', resolve);
    ex.on('error', reject);
  });
  // Go's tar writer, unclosed (the docker CLI's context with a Dockerfile from outside
  // it), ends without the last entry's padding or the end blocks: like Go's reader,
  // an end between entries is the end of the archive.
  let inEntry = false;
  const tolerated = (e: unknown) => !inEntry && e instanceof Error && e.message === 'Unexpected end of data';
  const settled = pump.then(() => undefined, (e: unknown) => e);
  let count = 0;
  const dirTimes: Array<[string, Date]> = [];
  try {
    count = await unpackEntries(ex, dest, o, dirTimes, (v) => (inEntry = v));
  } catch (e) {
    if (!tolerated(e)) throw e;
  }
  const pumpErr = await settled;
  if (pumpErr !== undefined && !tolerated(pumpErr)) throw pumpErr;
  for (const [p, t] of dirTimes.reverse()) await fsp.utimes(p, t, t).catch(() => undefined);
  return count;
}

async function unpackEntries(ex: tarStream.Extract, dest: string, o: UnpackOptions, dirTimes: Array<[string, Date]>, busy: (v: boolean) => void): Promise<number> {
  let count = 0;
  const known = new Set<string>();
  // Small files are many in a build context: plain synchronous calls cost far less
  // than a round trip through the thread pool for each of them.
  for await (const entry of ex) {
    busy(true);
    const h = entry.header;
    const rel = cleanEntryName(h.name);
    const drain = async () => {
      entry.resume();
      await new Promise<void>((r) => entry.on('end', r));
    };
    if (!rel || (o.filter && !o.filter(rel))) {
      await drain();
      busy(false);
      continue;
    }
    checkParents(dest, rel, known);
    const path = join(dest, rel);
    const want = { uid: o.owner?.uid ?? h.uid ?? 0, gid: o.owner?.gid ?? h.gid ?? 0 };
    const { uid, gid } = o.mapOwner ? o.mapOwner(want) : want;
    const mode = (h.mode ?? 0o644) & 0o7777;
    const mtime = h.mtime ?? new Date();
    let existing;
    try {
      existing = lstatSync(path);
    } catch {
      existing = undefined;
    }
    if (existing && !(existing.isDirectory() && h.type === 'directory')) {
      rmSync(path, { recursive: true, force: true });
      known.clear();
    }
    switch (h.type) {
      case 'directory':
        if (!existing?.isDirectory()) mkdirSync(path, { mode });
        chmodSync(path, mode);
        lchownSync(path, uid, gid);
        known.add(rel);
        dirTimes.push([path, mtime]);
        await drain();
        break;
      case 'file':
      case 'contiguous-file': {
        const hash = createHash('sha256');
        const fd = openSync(path, fsc.O_WRONLY | fsc.O_CREAT | fsc.O_EXCL | fsc.O_NOFOLLOW, 0o600);
        try {
          for await (const c of entry as AsyncIterable<Buffer>) {
            hash.update(c);
            for (let off = 0; off < c.length; ) off += writeSync(fd, c, off);
          }
          fchownSync(fd, uid, gid);
          fchmodSync(fd, mode);
          futimesSync(fd, mtime, mtime);
        } finally {
          closeSync(fd);
        }
        o.digests?.set(rel, hash.digest('hex'));
        break;
      }
      case 'symlink':
        symlinkSync(h.linkname ?? '', path);
        lchownSync(path, uid, gid);
        try {
          lutimesSync(path, mtime, mtime);
        } catch {
          // not every filesystem keeps link times
        }
        await drain();
        break;
      case 'link': {
        const target = cleanEntryName(h.linkname ?? '');
        if (!target) throw invalidArgument(`archive entry ${rel} is a hard link to ${h.linkname}, outside the archive`);
        checkParents(dest, target, known);
        let tst;
        try {
          tst = lstatSync(join(dest, target));
        } catch {
          tst = undefined;
        }
        if (!tst?.isFile()) throw invalidArgument(`archive entry ${rel} is a hard link to ${target}, which is no regular file unpacked before it`);
        linkSync(join(dest, target), path);
        const d = o.digests?.get(target);
        if (d) o.digests!.set(rel, d);
        await drain();
        break;
      }
      default:
        // devices, fifos and the rest are not part of a build
        await drain();
        busy(false);
        continue;
    }
    count++;
    busy(false);
  }
  return count;
}
