/**
 * A SPDY/3.1 client for tests, framing as Go's spdystream does (one deflate context,
 * sync-flushed per header block), and the HTTP upgrade the streaming server expects.
 */
import net from 'node:net';
import zlib from 'node:zlib';
import { SPDY_DICTIONARY } from './spdy';

export interface Frame {
  control: boolean;
  /** Control frames only. */
  type: number;
  /** The stream: a data frame's, or the first word of a control frame's body. */
  id: number;
  flags: number;
  data: Buffer;
}

const T_RST_STREAM = 3;
const FLAG_FIN = 1;

export class SpdyClient {
  private readonly deflate = zlib.createDeflate({ dictionary: SPDY_DICTIONARY });
  private readonly inflate = zlib.createInflate({ dictionary: SPDY_DICTIONARY });
  private buf = Buffer.alloc(0);
  readonly frames: Frame[] = [];
  closed = false;

  constructor(
    readonly sock: net.Socket,
    head: Buffer = Buffer.alloc(0),
  ) {
    sock.on('data', (d: Buffer) => this.receive(d));
    sock.on('close', () => (this.closed = true));
    sock.on('error', () => undefined);
    if (head.length) this.receive(head);
  }

  private receive(d: Buffer): void {
    this.buf = Buffer.concat([this.buf, d]);
    while (this.buf.length >= 8 && this.buf.length >= 8 + this.buf.readUIntBE(5, 3)) {
      const len = this.buf.readUIntBE(5, 3);
      const f = this.buf.subarray(0, 8 + len);
      this.buf = this.buf.subarray(8 + len);
      const control = !!(f[0]! & 0x80);
      this.frames.push({
        control,
        type: control ? f.readUInt16BE(2) : 0,
        id: control ? (len >= 4 ? f.readUInt32BE(8) & 0x7fffffff : 0) : f.readUInt32BE(0),
        flags: f[4]!,
        data: f.subarray(8),
      });
    }
  }

  private compress(block: Buffer): Promise<Buffer> {
    return syncFlushed(this.deflate, block);
  }

  decompress(block: Buffer): Promise<Buffer> {
    return syncFlushed(this.inflate, block);
  }

  async synStream(id: number, headers: Record<string, string>, fin = false): Promise<void> {
    const parts: Buffer[] = [];
    const u32 = (n: number) => {
      const b = Buffer.alloc(4);
      b.writeUInt32BE(n);
      return b;
    };
    parts.push(u32(Object.keys(headers).length));
    for (const [k, v] of Object.entries(headers)) parts.push(u32(k.length), Buffer.from(k), u32(v.length), Buffer.from(v));
    const block = await this.compress(Buffer.concat(parts));
    this.control(1, fin ? FLAG_FIN : 0, Buffer.concat([u32(id), u32(0), Buffer.from([0, 0]), block]));
  }

  control(type: number, flags: number, body: Buffer): void {
    const h = Buffer.alloc(8);
    h.writeUInt16BE(0x8003, 0);
    h.writeUInt16BE(type, 2);
    h.writeUInt32BE(body.length, 4);
    h[4] = flags;
    this.sock.write(Buffer.concat([h, body]));
  }

  data(id: number, data: Buffer, fin: boolean): void {
    const h = Buffer.alloc(8);
    h.writeUInt32BE(id, 0);
    h.writeUInt32BE(data.length, 4);
    h[4] = fin ? FLAG_FIN : 0;
    this.sock.write(Buffer.concat([h, data]));
  }

  /** Everything the server sent on stream `id`. */
  dataOf(id: number): Buffer {
    return Buffer.concat(this.frames.filter((f) => !f.control && f.id === id).map((f) => f.data));
  }

  /** The server finished stream `id` (FIN). */
  finished(id: number): boolean {
    return this.frames.some((f) => !f.control && f.id === id && f.flags & FLAG_FIN);
  }

  /** The RST_STREAM status the server sent for `id`, if it did. */
  resetOf(id: number): number | undefined {
    const f = this.frames.find((x) => x.control && x.type === T_RST_STREAM && x.id === id);
    return f ? f.data.readUInt32BE(4) : undefined;
  }
}

/** Upgrades a streaming URL to SPDY/3.1 offering `protocol`; rejects unless the answer is 101. */
export function openSpdy(url: string, protocol: string): Promise<SpdyClient> {
  const u = new URL(url);
  return new Promise((resolve, reject) => {
    const sock = net.connect({ host: u.hostname.replace(/^\[|\]$/g, ''), port: Number(u.port) });
    let got = Buffer.alloc(0);
    const onData = (d: Buffer) => {
      got = Buffer.concat([got, d]);
      const end = got.indexOf('\r\n\r\n');
      if (end < 0) return;
      sock.off('data', onData);
      const head = got.subarray(0, end).toString('latin1');
      if (!/^HTTP\/1\.1 101 /.test(head)) {
        sock.destroy();
        return reject(new Error(`upgrade refused: ${head.split('\r\n')[0]}`));
      }
      resolve(new SpdyClient(sock, got.subarray(end + 4)));
    };
    sock.on('data', onData);
    sock.once('error', reject);
    sock.write(`POST ${u.pathname} HTTP/1.1\r\nHost: ${u.host}\r\nConnection: Upgrade\r\nUpgrade: SPDY/3.1\r\nX-Stream-Protocol-Version: ${protocol}\r\n\r\n`);
  });
}

/** Polls `f` every few ms until it gives a value (not undefined or false), up to `ms`. */
export async function until<T>(what: string, f: () => T | undefined | false, ms = 10_000): Promise<T> {
  const end = Date.now() + ms;
  for (;;) {
    const v = f();
    if (v !== undefined && v !== false) return v;
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 5));
  }
}

/** Writes `block` through a persistent zlib stream and returns what one sync flush gives out. */
async function syncFlushed(z: zlib.Deflate | zlib.Inflate, block: Buffer): Promise<Buffer> {
  const out: Buffer[] = [];
  const onData = (d: Buffer) => out.push(d);
  z.on('data', onData);
  z.write(block);
  await new Promise<void>((r) => z.flush(zlib.constants.Z_SYNC_FLUSH, () => r()));
  z.off('data', onData);
  return Buffer.concat(out);
}
