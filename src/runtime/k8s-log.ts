/**
 * Reader for conmon's k8s-file log format: one record per line,
 * `<RFC3339Nano time> <stdout|stderr> <F|P> <text>`, where F ends a line
 * (a newline was written) and P is a partial line (no newline yet).
 */
import { randomBytes } from 'node:crypto';
import { closeSync, constants as fsc, createReadStream, fstatSync, openSync, read, readSync, statSync, unlinkSync, watch, write } from 'node:fs';
import { basename, dirname, join } from 'node:path';
import { Writable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { createGunzip } from 'node:zlib';

export interface LogEntry {
  /** RFC 3339 with nanoseconds, in UTC (`…Z`) when conmon wrote +00:00. */
  time: string;
  stream: 'stdout' | 'stderr';
  /** The bytes the container wrote, newline included for full lines. */
  data: Buffer;
}

/** One record, without its newline. */
export function parseLogLine(line: Buffer): LogEntry | undefined {
  return parseRecord(Buffer.concat([line, NEWLINE]));
}

const NEWLINE = Buffer.from('\n');
const SPACE = 0x20;

/**
 * One record with its trailing newline. The entry's data is a view of `rec` (no copy):
 * for a full line the text and that newline, for a partial one the text alone.
 */
function parseRecord(rec: Buffer): LogEntry | undefined {
  const end = rec.length - 1;
  const s1 = rec.indexOf(SPACE);
  if (s1 < 0 || s1 >= end) return undefined;
  const s2 = rec.indexOf(SPACE, s1 + 1);
  // `stdout` or `stderr`: six bytes, told apart by the fourth.
  if (s2 !== s1 + 7 || rec[s1 + 1] !== 0x73 || rec[s1 + 2] !== 0x74 || rec[s1 + 3] !== 0x64) return undefined;
  const which = rec[s1 + 4];
  const stream = which === 0x6f && rec[s1 + 5] === 0x75 && rec[s1 + 6] === 0x74 ? 'stdout' : which === 0x65 && rec[s1 + 5] === 0x72 && rec[s1 + 6] === 0x72 ? 'stderr' : undefined;
  if (!stream) return undefined;
  const tag = rec[s2 + 1];
  const textStart = rec[s2 + 2] === SPACE ? s2 + 3 : s2 + 2;
  if (textStart > end + 1 || (textStart === s2 + 2 && s2 + 2 !== end)) return undefined;
  // conmon writes UTC as +00:00; the API shows it as Z.
  const utc = s1 >= 6 && rec.toString('latin1', s1 - 6, s1) === '+00:00';
  const time = utc ? `${rec.toString('latin1', 0, s1 - 6)}Z` : rec.toString('latin1', 0, s1);
  return { time, stream, data: tag === 0x46 ? rec.subarray(textStart) : rec.subarray(textStart, end) };
}

/** Splits bytes into complete records (each with its newline), keeping an unfinished tail for the next push. */
class LineSplitter {
  private rest: Buffer = Buffer.alloc(0);
  push(chunk: Buffer): Buffer[] {
    const buf = this.rest.length ? Buffer.concat([this.rest, chunk]) : chunk;
    const lines: Buffer[] = [];
    let start = 0;
    for (let i = buf.indexOf(0x0a); i >= 0; i = buf.indexOf(0x0a, start)) {
      lines.push(buf.subarray(start, i + 1));
      start = i + 1;
    }
    this.rest = Buffer.from(buf.subarray(start));
    return lines;
  }
}

/** One file of a container's log, held open: reading it never follows a rename. */
export interface LogFile {
  fd: number;
  /** Its size when it was opened. */
  size: number;
  /** Which file it is: inode and birth time (an inode number alone is reused once a file is gone). */
  key: string;
}

function fileKey(st: { ino: bigint; birthtimeNs: bigint }): string {
  return `${st.ino}:${st.birthtimeNs}`;
}

/** The key of the file `path` names now; undefined when there is none. */
function keyOf(path: string): string | undefined {
  const st = statSync(path, { bigint: true, throwIfNoEntry: false });
  return st ? fileKey(st) : undefined;
}

/** Opens a log file for reading; undefined when there is none. */
export function openLog(path: string): LogFile | undefined {
  let fd: number;
  try {
    fd = openSync(path, 'r');
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
    throw err;
  }
  const st = fstatSync(fd, { bigint: true });
  return { fd, size: Number(st.size), key: fileKey(st) };
}

/**
 * A kept file that berth-logrotate.so gzipped (`<log>.I.gz`). Its key is the plain file's it
 * was made from, as the gzip header's comment names it, so that a reader that read that file
 * knows this one. Its text is decompressed into an unnamed file by readyLog, which every
 * reader calls before it reads: in the background (zlib on the thread pool, a block at a
 * time), so a large kept file never holds up the event loop.
 */
class GzLogFile implements LogFile {
  private text?: { fd: number; size: number };
  private loading?: Promise<void>;
  private closed = false;

  constructor(private readonly gzFd: number, readonly key: string, private readonly path: string) {}

  get fd(): number {
    return this.loaded().fd;
  }

  get size(): number {
    return this.loaded().size;
  }

  /** Decompresses the text; once per file (again only after a failure). */
  load(): Promise<void> {
    if (this.text) return Promise.resolve();
    this.loading ??= this.inflate().finally(() => {
      if (!this.text) this.loading = undefined;
    });
    return this.loading;
  }

  /** Closes now, or once a decompression under way is over (it reads the gzipped descriptor). */
  close(): void {
    this.closed = true;
    if (this.loading && !this.text) {
      void this.loading.then(() => this.closeNow(), () => this.closeNow());
      return;
    }
    this.closeNow();
  }

  private closeNow(): void {
    if (this.text) closeSync(this.text.fd);
    this.text = undefined;
    closeSync(this.gzFd);
  }

  private loaded(): { fd: number; size: number } {
    if (!this.text) throw new Error(`the kept log file ${this.path} is read before readyLog decompressed it`);
    return this.text;
  }

  private async inflate(): Promise<void> {
    const fd = unnamedFile(dirname(this.path));
    let size = 0;
    const out = new Writable({
      write: (chunk: Buffer, _enc, done) => {
        if (size + chunk.length > GZ_TEXT_LIMIT) return done(new Error(`it holds more than ${GZ_TEXT_LIMIT} bytes of text`));
        writeAllAsync(fd, chunk, size).then(() => {
          size += chunk.length;
          done();
        }, done);
      },
    });
    try {
      await pipeline(createReadStream('', { fd: this.gzFd, start: 0, autoClose: false }), createGunzip(), out);
    } catch (err) {
      closeSync(fd);
      throw new Error(`cannot read the kept log file ${this.path}: ${(err as Error).message}`, { cause: err });
    }
    if (this.closed) {
      closeSync(fd);
      return;
    }
    this.text = { fd, size };
  }
}

/** `f`, its text ready to read without blocking (a gzipped kept file is decompressed first). */
export async function readyLog<F extends LogFile>(f: F): Promise<F> {
  if (f instanceof GzLogFile) await f.load();
  return f;
}

async function writeAllAsync(fd: number, buf: Buffer, position: number): Promise<void> {
  for (let off = 0; off < buf.length; ) {
    off += await new Promise<number>((resolve, reject) => write(fd, buf, off, buf.length - off, position + off, (err, n) => (err ? reject(err) : resolve(n))));
  }
}

/** More than any kept file holds (each is at most max-size and a line). */
const GZ_TEXT_LIMIT = 1 << 30;

/** O_TMPFILE: a file with no name, gone once closed. */
const O_TMPFILE = 0o20000000 | fsc.O_DIRECTORY;

function unnamedFile(dir: string): number {
  try {
    return openSync(dir, O_TMPFILE | fsc.O_RDWR, 0o600);
  } catch {
    // A filesystem without O_TMPFILE: a named file, unlinked at once.
    const path = join(dir, `.berth-log-${randomBytes(6).toString('hex')}`);
    const fd = openSync(path, fsc.O_RDWR | fsc.O_CREAT | fsc.O_EXCL, 0o600);
    unlinkSync(path);
    return fd;
  }
}

/** The key berth-logrotate.so wrote in a gzip header's comment (FCOMMENT), if any. */
function gzipCommentKey(gz: Buffer): string | undefined {
  if (gz.length < 10 || gz[0] !== 0x1f || gz[1] !== 0x8b) return undefined;
  const flags = gz[3]!;
  let at = 10;
  if (flags & 0x04) {
    if (at + 2 > gz.length) return undefined;
    at += 2 + gz.readUInt16LE(at); // FEXTRA
  }
  if (flags & 0x08) at = at < gz.length ? gz.indexOf(0, at) + 1 : 0; // FNAME
  if (!(flags & 0x10) || at <= 0 || at >= gz.length) return undefined;
  const end = gz.indexOf(0, at);
  const m = /^berth-log-key:(\d+:\d+)$/.exec(gz.toString('latin1', at, end < 0 ? gz.length : end));
  return m?.[1];
}

/**
 * Opens `<log>.I.gz`; undefined when there is none. Only its header is read here (a follower
 * opens every kept file at each rotation to compare keys); the rest when its text is read.
 */
function openGzLog(path: string): LogFile | undefined {
  const gz = openLog(path);
  if (!gz) return undefined;
  const head = Buffer.alloc(Math.min(gz.size, GZ_HEADER_READ));
  readSync(gz.fd, head, 0, head.length, 0);
  return new GzLogFile(gz.fd, gzipCommentKey(head) ?? gz.key, path);
}

/** Enough of a gzip header for berth-logrotate.so's comment. */
const GZ_HEADER_READ = 512;

export function closeLogs(files: readonly (LogFile | undefined)[]): void {
  for (const f of files) {
    if (f instanceof GzLogFile) f.close();
    else if (f) closeSync(f.fd);
  }
}

/**
 * A container's log, every file of it opened at once: the files a rotation kept, oldest
 * first (`path.N` … `path.1`, or `path.I.gz` where they were gzipped, as far as they run
 * unbroken from `.1`), and `path` itself
 * (undefined when missing: not written yet, or caught between a rotation's two renames).
 * A rotation while they were opened shows as one file opened twice; then it starts over.
 * The caller closes them (closeLogs).
 */
export function openLogSet(path: string): { rotated: LogFile[]; current: LogFile | undefined } {
  for (let attempt = 0; ; attempt++) {
    const current = openLog(path);
    const rotated: LogFile[] = [];
    for (let i = 1; ; i++) {
      // Plain first: the compressor unlinks it only once the gzipped copy is whole.
      const f = openLog(`${path}.${i}`) ?? openGzLog(`${path}.${i}.gz`);
      if (!f) break;
      rotated.unshift(f);
    }
    const keys = new Set([...rotated, ...(current ? [current] : [])].map((f) => f.key));
    if (keys.size === rotated.length + (current ? 1 : 0) || attempt >= 4) return { rotated, current };
    closeLogs([current, ...rotated]);
  }
}

/**
 * Calls `each` for every entry of complete lines from byte `offset` up to `limit`
 * (the file's end when absent), reading in blocks so that a large log is never held
 * in memory, and awaits `afterBlock` after each block; resolves with the offset
 * after the last complete line it read.
 */
export async function scanLogFd(
  fd: number, offset: number, each: (e: LogEntry) => void, limit = Number.POSITIVE_INFINITY, afterBlock?: () => Promise<void>,
): Promise<number> {
  // A span of one block (a tail, what a follower finds new, a small log) is read
  // synchronously; larger spans in the background.
  const stop = Math.min(limit, fstatSync(fd).size);
  const small = stop - offset <= SCAN_BLOCK;
  const split = new LineSplitter();
  const size = small ? Math.max(1 << 16, stop - offset) : SCAN_BLOCK;
  let pos = offset;
  let consumed = offset;
  // Entries are views of the block they came from and may still be referenced while the
  // next block is read: a block that was handed on is not read into again.
  let buf = Buffer.allocUnsafe(size);
  let handedOn = false;
  while (pos < limit) {
    if (handedOn) buf = Buffer.allocUnsafe(size);
    handedOn = true;
    const want = Math.min(size, limit - pos);
    const bytesRead = small ? readSync(fd, buf, 0, want, pos) : await readAsync(fd, buf, want, pos);
    if (bytesRead === 0) break;
    pos += bytesRead;
    for (const rec of split.push(buf.subarray(0, bytesRead))) {
      consumed += rec.length;
      const e = parseRecord(rec);
      if (e) each(e);
    }
    // The reader's chance to push back (a slow client) before the next block.
    await afterBlock?.();
  }
  return consumed;
}

function readAsync(fd: number, buf: Buffer, length: number, position: number): Promise<number> {
  return new Promise((resolve, reject) => read(fd, buf, 0, length, position, (err, n) => (err ? reject(err) : resolve(n))));
}

const SCAN_BLOCK = 1 << 20;

/**
 * The offset at which the last `n` lines the container wrote start, reading the file
 * backward from `end` in blocks, and how many lines that is (fewer than `n` when the
 * file holds fewer: then from 0). A line is one `F` record and the `P` records before
 * it on its stream (a long line conmon split); with `unfinishedCounts` (the file is the
 * log's newest), so are the P records a stream ends with. Lines after `end`, and an
 * unfinished last record (no newline yet), are not counted.
 */
export async function tailLines(fd: number, n: number, end: number, unfinishedCounts = true): Promise<{ start: number; lines: number }> {
  if (n <= 0) return { start: end, lines: 0 };
  // Synchronous reads of 64 KiB blocks (a tail is usually one or two), with a turn of the
  // event loop every 16 blocks when many lines are asked for.
  // `buf` holds the file's bytes [pos, pos + buf.length); records after `recEnd` (the
  // newline ending the latest record not yet counted) are done with and dropped.
  let buf = Buffer.alloc(0);
  let pos = end;
  let recEnd: number | undefined;
  let seen = 0;
  // The record from `start` to `recEnd`: true once it is the (n+1)-th line from the end. A P
  // record joins the line a later record of its stream goes on with; one that none goes on
  // with (the unfinished line a log may end with: output without a final newline) is a line
  // of its own, as dockerd counts its last message. Streams are told apart by the letter
  // after `std`: o(ut) or e(rr).
  const goesOn = new Set<number>(unfinishedCounts ? [] : [0x6f, 0x65]);
  const count = (start: number): boolean => {
    const r = recordKind(buf, start - pos, recEnd! - pos);
    if (!r) return false;
    const counts = r.full || !goesOn.has(r.stream);
    goesOn.add(r.stream);
    return counts && ++seen > n;
  };
  let blocks = 0;
  while (pos > 0) {
    if (++blocks % 16 === 0) await new Promise<void>((r) => setImmediate(r));
    // The first block sized for the lines asked for (about 256 bytes each), later ones 64 KiB.
    const size = Math.min(blocks === 1 ? Math.min(1 << 16, Math.max(1 << 12, n * 256)) : 1 << 16, pos);
    const chunk = Buffer.allocUnsafe(size);
    const bytesRead = readSync(fd, chunk, 0, size, pos - size);
    if (bytesRead !== size) break;
    pos -= size;
    buf = buf.length ? Buffer.concat([chunk, buf]) : chunk;
    // Newlines found natively (memrchr): a byte loop here is interpreted on a cold call,
    // about 20 ns a byte, 0.5 ms for a tail of 100 lines.
    for (let i = size > 0 ? buf.lastIndexOf(0x0a, size - 1) : -1; i >= 0; i = i > 0 ? buf.lastIndexOf(0x0a, i - 1) : -1) {
      const nl = pos + i;
      if (recEnd !== undefined && count(nl + 1)) return { start: recEnd + 1, lines: n };
      recEnd = nl;
    }
    if (recEnd !== undefined) buf = buf.subarray(0, recEnd - pos);
  }
  if (recEnd !== undefined && pos === 0 && count(0)) return { start: recEnd + 1, lines: n };
  return { start: 0, lines: seen };
}

/** Of the k8s-file record in buf[start, end) (`TIME STREAM F|P …`): whether it ends a line, and its stream's letter after `std`. */
function recordKind(buf: Buffer, start: number, end: number): { full: boolean; stream: number } | undefined {
  const s1 = buf.indexOf(0x20, start);
  const s2 = s1 < 0 || s1 >= end ? -1 : buf.indexOf(0x20, s1 + 1);
  if (s2 < 0 || s2 + 1 >= end) return undefined;
  return { full: buf[s2 + 1] === 0x46, stream: buf[s1 + 4]! };
}

/**
 * Follows a container's log, calling `onEntry` for each new entry until stop(). Wakes on
 * inotify events, with a slow poll as a safety net.
 *
 * Where it starts: with `from`, at `offset` of `from.file` (opened by the caller and handed
 * over; absent when there was no log file), `from.read` naming the files the caller read
 * already. Without it, at `offset` of the file `path` names now (`'end'`: its end), the
 * rotated files there now counting as read.
 *
 * When `path` comes to name another file (a rotation, or conmon starting the log afresh
 * past its max-size), the file being read is read to its end (its writer closed it before
 * the rename), then the rotated files not read yet, oldest first, then the new one.
 */
export class LogFollower {
  private offset: number;
  private file: LogFile | undefined;
  private readonly read: Set<string>;
  private stopped = false;
  private reading: Promise<void> = Promise.resolve();
  private again = false;
  private readonly timer: NodeJS.Timeout;
  private readonly watcher?: ReturnType<typeof watch>;

  constructor(
    private readonly path: string, offset: number | 'end', private readonly onEntry: (e: LogEntry) => void,
    from?: { file: LogFile | undefined; read: readonly string[] },
  ) {
    if (from) {
      this.file = from.file;
      this.read = new Set(from.read);
    } else {
      const { rotated, current } = openLogSet(path);
      closeLogs(rotated);
      this.file = current;
      this.read = new Set(rotated.map((f) => f.key));
    }
    this.offset = !this.file ? 0 : offset === 'end' ? this.file.size : offset;
    // The directory is watched, not the file: a write to the log, its creation and a
    // rotation's renames all wake the follower, whichever file the path names by then.
    try {
      this.watcher = watch(dirname(path), (_event, name) => {
        if (!name || name.startsWith(basename(path))) void this.poke();
      });
      this.watcher.on('error', () => undefined);
    } catch {
      // no directory yet: the poll stands in
    }
    this.timer = setInterval(() => this.poke(), 250);
    this.poke();
  }

  /** Reads whatever is new now; resolves when caught up. */
  poke(): Promise<void> {
    if (this.stopped) return this.reading;
    if (this.again) return this.reading;
    this.again = true;
    this.reading = this.reading.then(() => {
      this.again = false;
      return this.readNew();
    }).catch(() => undefined);
    return this.reading;
  }

  /** Reads to the current end once more, then stops. */
  async drain(): Promise<void> {
    await this.poke();
    await this.reading;
    this.stop();
  }

  stop(): void {
    this.stopped = true;
    clearInterval(this.timer);
    this.watcher?.close();
    // Closed once a read under way is over, so that it never reads a reused descriptor.
    void this.reading.then(() => {
      if (this.file) closeSync(this.file.fd);
      this.file = undefined;
    });
  }

  private async readNew(): Promise<void> {
    const deliver = (e: LogEntry) => {
      if (!this.stopped) this.onEntry(e);
    };
    // Bounded: a log rotated faster than it is read is caught up with by the next turns.
    for (let turn = 0; turn < 8 && !this.stopped; turn++) {
      if (this.file) {
        this.offset = await scanLogFd(this.file.fd, this.offset, deliver);
        const now = keyOf(this.path);
        // The same file, or none (between a rotation's two renames: the next turn sees).
        if (now === this.file.key || now === undefined) return;
        this.offset = await scanLogFd(this.file.fd, this.offset, deliver);
        this.read.add(this.file.key);
        closeSync(this.file.fd);
        this.file = undefined;
      }
      const { rotated, current } = openLogSet(this.path);
      try {
        // Files rotated out are gone for good (a key is never reused): only the ones there now are remembered.
        const there = new Set([...rotated, ...(current ? [current] : [])].map((f) => f.key));
        for (const k of this.read) if (!there.has(k)) this.read.delete(k);
        for (const f of rotated) {
          if (this.read.has(f.key) || this.stopped) continue;
          await scanLogFd((await readyLog(f)).fd, 0, deliver);
          this.read.add(f.key);
        }
      } finally {
        closeLogs(rotated);
      }
      if (!current) return;
      if (this.read.has(current.key)) {
        closeSync(current.fd);
        return;
      }
      this.file = current;
      this.offset = 0;
    }
  }
}
