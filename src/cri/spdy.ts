/**
 * SPDY/3.1 framing, server side, as much as Kubernetes' streaming clients use
 * (client-go's remotecommand and portforward over `Upgrade: SPDY/3.1`): streams
 * opened by the client (SYN_STREAM) and answered (SYN_REPLY), data with FIN,
 * RST_STREAM, PING, SETTINGS, WINDOW_UPDATE and GOAWAY.
 *
 * Frames (draft-mbelshe-httpbis-spdy-00):
 *   control: 1 | version(15) | type(16) | flags(8) | length(24) | data
 *   data:    0 | stream id(31) | flags(8) | length(24) | data
 * Header blocks are zlib streams with the spec's dictionary, one context per
 * direction for the whole session. Incoming blocks go through one inflater; outgoing
 * ones are written as zlib "stored" (uncompressed) deflate blocks of one continuous
 * stream, which every inflater reads with the same dictionary.
 *
 * Flow control: the windows are not enforced in either direction (the Go peers do not
 * enforce them either); WINDOW_UPDATE frames are read and ignored.
 */
import { EventEmitter } from 'node:events';
import type { Duplex } from 'node:stream';
import zlib from 'node:zlib';

const VERSION = 3;
const T_SYN_STREAM = 1;
const T_SYN_REPLY = 2;
const T_RST_STREAM = 3;
const T_SETTINGS = 4;
const T_PING = 6;
const T_GOAWAY = 7;
const T_HEADERS = 8;
const T_WINDOW_UPDATE = 9;
const FLAG_FIN = 0x01;
const MAX_DATA = 32 * 1024;
const DEBUG = !!process.env.BERTH_SPDY_DEBUG;

/** Header names of the spec's dictionary, each as a length-prefixed string, then its tail of common values. */
const DICT_NAMES = [
  'options', 'head', 'post', 'put', 'delete', 'trace', 'accept', 'accept-charset', 'accept-encoding', 'accept-language',
  'accept-ranges', 'age', 'allow', 'authorization', 'cache-control', 'connection', 'content-base', 'content-encoding',
  'content-language', 'content-length', 'content-location', 'content-md5', 'content-range', 'content-type', 'date', 'etag',
  'expect', 'expires', 'from', 'host', 'if-match', 'if-modified-since', 'if-none-match', 'if-range', 'if-unmodified-since',
  'last-modified', 'location', 'max-forwards', 'pragma', 'proxy-authenticate', 'proxy-authorization', 'range', 'referer',
  'retry-after', 'server', 'te', 'trailer', 'transfer-encoding', 'upgrade', 'user-agent', 'vary', 'via', 'warning',
  'www-authenticate', 'method', 'get', 'status', '200 OK', 'version', 'HTTP/1.1', 'url', 'public', 'set-cookie', 'keep-alive',
  'origin',
];
const DICT_TAIL =
  '100101201202205206300302303304305306307402405406407408409410411412413414415416417502504505' +
  '203 Non-Authoritative Information204 No Content301 Moved Permanently400 Bad Request401 Unauthorized' +
  '403 Forbidden404 Not Found500 Internal Server Error501 Not Implemented503 Service Unavailable' +
  'Jan Feb Mar Apr May Jun Jul Aug Sept Oct Nov Dec 00:00:00 Mon, Tue, Wed, Thu, Fri, Sat, Sun, GMT' +
  'chunked,text/html,image/png,image/jpg,image/gif,application/xml,application/xhtml+xml,text/plain,' +
  'text/javascript,publicprivatemax-age=gzip,deflate,sdchcharset=utf-8charset=iso-8859-1,utf-,*,enq=0.';

export const SPDY_DICTIONARY: Buffer = (() => {
  const parts: Buffer[] = [];
  for (const n of DICT_NAMES) {
    const len = Buffer.alloc(4);
    len.writeUInt32BE(n.length);
    parts.push(len, Buffer.from(n, 'latin1'));
  }
  parts.push(Buffer.from(DICT_TAIL, 'latin1'));
  return Buffer.concat(parts);
})();

function adler32(buf: Buffer): number {
  let a = 1;
  let b = 0;
  for (const byte of buf) {
    a = (a + byte) % 65521;
    b = (b + a) % 65521;
  }
  return ((b << 16) | a) >>> 0;
}

export type Headers = Record<string, string[]>;

function encodeHeaderBlock(h: Headers): Buffer {
  const parts: Buffer[] = [];
  const u32 = (n: number) => {
    const b = Buffer.alloc(4);
    b.writeUInt32BE(n);
    return b;
  };
  const names = Object.keys(h);
  parts.push(u32(names.length));
  for (const name of names) {
    const n = Buffer.from(name.toLowerCase(), 'utf8');
    const v = Buffer.from(h[name]!.join('\0'), 'utf8');
    parts.push(u32(n.length), n, u32(v.length), v);
  }
  return Buffer.concat(parts);
}

function decodeHeaderBlock(b: Buffer): Headers {
  const out: Headers = {};
  let off = 0;
  const u32 = () => {
    if (off + 4 > b.length) throw new Error('truncated SPDY header block');
    const n = b.readUInt32BE(off);
    off += 4;
    return n;
  };
  const str = () => {
    const n = u32();
    if (off + n > b.length) throw new Error('truncated SPDY header block');
    const s = b.subarray(off, off + n).toString('utf8');
    off += n;
    return s;
  };
  const count = u32();
  for (let i = 0; i < count; i++) {
    const name = str().toLowerCase();
    out[name] = str().split('\0');
  }
  return out;
}

/** One stream of a session, opened by the peer. */
export class SpdyStream extends EventEmitter {
  /** The peer finished sending (FIN) or the stream was reset. */
  remoteClosed = false;
  /** We finished sending. */
  localClosed = false;
  constructor(
    readonly session: SpdySession,
    readonly id: number,
    readonly headers: Headers,
  ) {
    super();
  }

  header(name: string): string {
    return this.headers[name.toLowerCase()]?.[0] ?? '';
  }

  /**
   * Stops reading the whole connection until resume(): SPDY/3.1 windows are not
   * enforced here, so holding back the peer's writes in its kernel buffers is the only
   * way to make it wait. Frames already read are still delivered.
   */
  pause(): void {
    this.session.hold(this, true);
  }

  resume(): void {
    this.session.hold(this, false);
  }

  /** Answers the stream's SYN_STREAM (the peer waits for it). */
  reply(): void {
    this.session.sendReply(this.id);
  }

  write(data: Buffer | string): void {
    if (this.localClosed || this.session.closed) return;
    const buf = typeof data === 'string' ? Buffer.from(data) : data;
    for (let off = 0; off < buf.length; off += MAX_DATA) this.session.sendData(this.id, buf.subarray(off, off + MAX_DATA), false);
  }

  /** Sends FIN. */
  end(data?: Buffer | string): void {
    if (data !== undefined) this.write(data);
    if (this.localClosed) return;
    this.localClosed = true;
    this.session.sendData(this.id, Buffer.alloc(0), true);
    this.session.settle(this);
  }

  reset(): void {
    this.localClosed = true;
    this.remoteClosed = true;
    this.session.sendRst(this.id, 5 /* CANCEL */);
    this.session.settle(this);
  }
}

/** Bounds on what a peer can make the daemon hold: an inflated header block, unread output, open streams. */
const MAX_HEADER_BLOCK = 1 << 20;
const MAX_UNREAD = 16 << 20;
const MAX_STREAMS = 1024;
/** Frames read but not handled yet (header blocks inflate asynchronously): beyond it, reading waits. */
const MAX_QUEUED = 1 << 20;

/**
 * A server-side SPDY/3.1 session over an upgraded connection. Emits 'stream' (SpdyStream)
 * and 'close'. A stream is dropped, emitting its 'close', once both sides finished it
 * (FIN each way, or a reset); the rest emit 'close' when the session ends.
 */
export class SpdySession extends EventEmitter {
  private buf: Buffer = Buffer.alloc(0);
  private readonly streams = new Map<number, SpdyStream>();
  private readonly held = new Set<SpdyStream>();
  private queued = 0;
  private paused = false;
  private readonly inflater = zlib.createInflate({ dictionary: SPDY_DICTIONARY });
  private inflated: Buffer[] = [];
  private inflatedLen = 0;
  private queue: Promise<void> = Promise.resolve();
  private deflateStarted = false;
  closed = false;

  constructor(private readonly socket: Duplex, head?: Buffer) {
    super();
    this.inflater.on('data', (d: Buffer) => {
      // A header block is small; a compressed run that inflates past the bound is refused.
      this.inflatedLen += d.length;
      if (this.inflatedLen > MAX_HEADER_BLOCK) this.fail(new Error('SPDY header block too large'));
      else this.inflated.push(d);
    });
    this.inflater.on('error', (err) => this.fail(err));
    socket.on('data', (d: Buffer) => this.receive(d));
    socket.on('close', () => this.shutdown());
    socket.on('error', () => this.shutdown());
    if (head?.length) this.receive(head);
  }

  /** Streams not yet finished both ways. */
  get openStreams(): number {
    return this.streams.size;
  }

  close(): void {
    if (this.closed) return;
    this.sendControl(T_GOAWAY, 0, Buffer.from([0, 0, 0, 0, 0, 0, 0, 0]));
    this.socket.end();
    this.shutdown();
  }

  private shutdown(): void {
    if (this.closed) return;
    this.closed = true;
    for (const s of this.streams.values()) {
      if (!s.remoteClosed) {
        s.remoteClosed = true;
        s.emit('end');
      }
      s.emit('close');
    }
    this.streams.clear();
    this.held.clear();
    this.inflater.close();
    this.socket.destroy();
    this.emit('close');
  }

  private fail(err: unknown): void {
    this.emit('error', err);
    this.shutdown();
  }

  private receive(d: Buffer): void {
    this.buf = this.buf.length ? Buffer.concat([this.buf, d]) : d;
    while (this.buf.length >= 8) {
      const len = this.buf.readUIntBE(5, 3);
      if (this.buf[0]! & 0x80 && len > MAX_HEADER_BLOCK) return this.fail(new Error('SPDY control frame too large'));
      if (this.buf.length < 8 + len) break;
      const frame = this.buf.subarray(0, 8 + len);
      this.buf = this.buf.subarray(8 + len);
      // Frames are handled in order: header blocks inflate asynchronously.
      this.queued += frame.length;
      this.queue = this.queue
        .then(() => this.handle(frame))
        .catch((err) => this.fail(err))
        .then(() => {
          this.queued -= frame.length;
          this.flow();
        });
    }
    this.flow();
  }

  /** Reads while no stream holds the connection and the handling keeps up. */
  private flow(): void {
    if (this.closed) return;
    const pause = this.held.size > 0 || this.queued > MAX_QUEUED;
    if (pause === this.paused) return;
    this.paused = pause;
    if (pause) this.socket.pause();
    else this.socket.resume();
  }

  private async inflate(block: Buffer): Promise<Buffer> {
    this.inflated = [];
    this.inflatedLen = 0;
    this.inflater.write(block);
    await new Promise<void>((resolve) => this.inflater.flush(zlib.constants.Z_SYNC_FLUSH, () => resolve()));
    const out = Buffer.concat(this.inflated);
    this.inflated = [];
    return out;
  }

  private async handle(f: Buffer): Promise<void> {
    if (this.closed) return;
    if (DEBUG) process.stderr.write(`spdy < ${f.subarray(0, 24).toString('hex')} (${f.length})\n`);
    const flags = f[4]!;
    const data = f.subarray(8);
    if (!(f[0]! & 0x80)) {
      const id = f.readUInt32BE(0) & 0x7fffffff;
      const s = this.streams.get(id);
      if (!s) return;
      if (data.length) s.emit('data', Buffer.from(data));
      if (flags & FLAG_FIN) this.remoteEnd(s);
      this.settle(s);
      return;
    }
    const type = f.readUInt16BE(2);
    switch (type) {
      case T_SYN_STREAM: {
        const id = data.readUInt32BE(0) & 0x7fffffff;
        const headers = decodeHeaderBlock(await this.inflate(data.subarray(10)));
        if (this.streams.size >= MAX_STREAMS) {
          this.sendRst(id, 3 /* REFUSED_STREAM */);
          break;
        }
        const s = new SpdyStream(this, id, headers);
        this.streams.set(id, s);
        this.emit('stream', s);
        if (flags & FLAG_FIN) this.remoteEnd(s);
        break;
      }
      case T_HEADERS:
      case T_SYN_REPLY:
        await this.inflate(data.subarray(4));
        break;
      case T_RST_STREAM: {
        const s = this.streams.get(data.readUInt32BE(0) & 0x7fffffff);
        if (s) {
          s.localClosed = true;
          this.remoteEnd(s);
          s.emit('reset');
          this.settle(s);
        }
        break;
      }
      case T_PING:
        this.sendControl(T_PING, 0, Buffer.from(data));
        break;
      case T_GOAWAY:
        this.shutdown();
        break;
      case T_SETTINGS:
      case T_WINDOW_UPDATE:
      default:
        break;
    }
  }

  /** Drops a stream finished both ways. */
  settle(s: SpdyStream): void {
    if (!s.localClosed || !s.remoteClosed || this.streams.get(s.id) !== s) return;
    this.streams.delete(s.id);
    this.hold(s, false);
    s.emit('close');
  }

  /** Reading pauses while any stream holds it (SpdyStream.pause). */
  hold(s: SpdyStream, on: boolean): void {
    if (on === this.held.has(s)) return;
    if (on) this.held.add(s);
    else this.held.delete(s);
    this.flow();
  }

  private remoteEnd(s: SpdyStream): void {
    if (s.remoteClosed) return;
    s.remoteClosed = true;
    s.emit('end');
  }

  /** Our header blocks: one zlib stream of stored deflate blocks, with the dictionary's id in its header. */
  private headerBlock(h: Headers): Buffer {
    const raw = encodeHeaderBlock(h);
    const parts: Buffer[] = [];
    if (!this.deflateStarted) {
      this.deflateStarted = true;
      const cmf = 0x78;
      let flg = 0x20; // FDICT
      flg += (31 - ((cmf * 256 + flg) % 31)) % 31;
      const dictId = Buffer.alloc(4);
      dictId.writeUInt32BE(adler32(SPDY_DICTIONARY));
      parts.push(Buffer.from([cmf, flg]), dictId);
    }
    for (let off = 0; off < raw.length; off += 0xffff) {
      const chunk = raw.subarray(off, off + 0xffff);
      const hdr = Buffer.alloc(5);
      hdr[0] = 0; // BFINAL 0, BTYPE 00 (stored)
      hdr.writeUInt16LE(chunk.length, 1);
      hdr.writeUInt16LE(~chunk.length & 0xffff, 3);
      parts.push(hdr, chunk);
    }
    // An empty stored block, as a sync flush ends one: inflaters hand out what they hold when they reach it.
    parts.push(Buffer.from([0, 0, 0, 0xff, 0xff]));
    return Buffer.concat(parts);
  }

  sendReply(id: number, headers: Headers = {}): void {
    const sid = Buffer.alloc(4);
    sid.writeUInt32BE(id & 0x7fffffff);
    this.sendControl(T_SYN_REPLY, 0, Buffer.concat([sid, this.headerBlock(headers)]));
  }

  sendRst(id: number, status: number): void {
    const b = Buffer.alloc(8);
    b.writeUInt32BE(id & 0x7fffffff, 0);
    b.writeUInt32BE(status, 4);
    this.sendControl(T_RST_STREAM, 0, b);
  }

  sendData(id: number, data: Buffer, fin: boolean): void {
    if (this.closed) return;
    // A peer that stops reading must not make the daemon hold the output without bound.
    if (this.socket.writableLength > MAX_UNREAD) return this.fail(new Error('SPDY peer is not reading'));
    const h = Buffer.alloc(8);
    h.writeUInt32BE(id & 0x7fffffff, 0);
    h.writeUInt32BE(data.length, 4);
    h[4] = fin ? FLAG_FIN : 0;
    this.socket.write(Buffer.concat([h, data]));
  }

  private sendControl(type: number, flags: number, data: Buffer): void {
    if (this.closed) return;
    const h = Buffer.alloc(8);
    h.writeUInt16BE(0x8000 | VERSION, 0);
    h.writeUInt16BE(type, 2);
    h.writeUInt32BE(data.length, 4);
    h[4] = flags;
    if (DEBUG) process.stderr.write(`spdy > ${Buffer.concat([h, data]).subarray(0, 40).toString('hex')}\n`);
    this.socket.write(Buffer.concat([h, data]));
  }
}
