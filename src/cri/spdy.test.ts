import { test } from 'node:test';
import assert from 'node:assert/strict';
import net from 'node:net';
import zlib from 'node:zlib';
import { mkdtempSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { SPDY_DICTIONARY, SpdySession, type SpdyStream } from './spdy';

function adler32(buf: Buffer): number {
  let a = 1;
  let b = 0;
  for (const x of buf) {
    a = (a + x) % 65521;
    b = (b + a) % 65521;
  }
  return ((b << 16) | a) >>> 0;
}

/** A SPDY/3.1 client as Go's spdystream frames it: one deflate context, sync-flushed per header block. */
class Client {
  private readonly deflate = zlib.createDeflate({ dictionary: SPDY_DICTIONARY });
  private readonly inflate = zlib.createInflate({ dictionary: SPDY_DICTIONARY });
  private buf = Buffer.alloc(0);
  frames: { control: boolean; type: number; id: number; flags: number; data: Buffer }[] = [];
  constructor(readonly sock: net.Socket) {
    sock.on('data', (d: Buffer) => {
      this.buf = Buffer.concat([this.buf, d]);
      while (this.buf.length >= 8 && this.buf.length >= 8 + this.buf.readUIntBE(5, 3)) {
        const len = this.buf.readUIntBE(5, 3);
        const f = this.buf.subarray(0, 8 + len);
        this.buf = this.buf.subarray(8 + len);
        const control = !!(f[0]! & 0x80);
        this.frames.push({ control, type: control ? f.readUInt16BE(2) : 0, id: control ? f.readUInt32BE(8) & 0x7fffffff : f.readUInt32BE(0), flags: f[4]!, data: f.subarray(8) });
      }
    });
  }
  private async compress(block: Buffer): Promise<Buffer> {
    const out: Buffer[] = [];
    const onData = (d: Buffer) => out.push(d);
    this.deflate.on('data', onData);
    this.deflate.write(block);
    await new Promise<void>((r) => this.deflate.flush(zlib.constants.Z_SYNC_FLUSH, () => r()));
    this.deflate.off('data', onData);
    return Buffer.concat(out);
  }
  async decompress(block: Buffer): Promise<Buffer> {
    const out: Buffer[] = [];
    const onData = (d: Buffer) => out.push(d);
    this.inflate.on('data', onData);
    this.inflate.write(block);
    await new Promise<void>((r) => this.inflate.flush(zlib.constants.Z_SYNC_FLUSH, () => r()));
    this.inflate.off('data', onData);
    return Buffer.concat(out);
  }
  async synStream(id: number, headers: Record<string, string>): Promise<void> {
    const parts: Buffer[] = [];
    const u32 = (n: number) => { const b = Buffer.alloc(4); b.writeUInt32BE(n); return b; };
    parts.push(u32(Object.keys(headers).length));
    for (const [k, v] of Object.entries(headers)) parts.push(u32(k.length), Buffer.from(k), u32(v.length), Buffer.from(v));
    const block = await this.compress(Buffer.concat(parts));
    const body = Buffer.concat([u32(id), u32(0), Buffer.from([0, 0]), block]);
    this.control(1, 0, body);
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
    h[4] = fin ? 1 : 0;
    this.sock.write(Buffer.concat([h, data]));
  }
}

async function until<T>(f: () => T | undefined, ms = 5000): Promise<T> {
  const end = Date.now() + ms;
  for (;;) {
    const v = f();
    if (v !== undefined && v !== false) return v;
    if (Date.now() > end) throw new Error('timed out');
    await new Promise((r) => setTimeout(r, 5));
  }
}

test('the dictionary is the SPDY/3 one (its zlib id is what Go peers send)', () => {
  assert.equal(SPDY_DICTIONARY.length, 1423);
  assert.equal(adler32(SPDY_DICTIONARY).toString(16), 'e3c6a7c2');
});

test('streams opened by a client are answered, carry data both ways, and end with FIN; pings are echoed', async () => {
  const dir = mkdtempSync('/tmp/spdy-');
  const path = join(dir, 's.sock');
  const streams: SpdyStream[] = [];
  const server = net.createServer((sock) => {
    const s = new SpdySession(sock);
    s.on('stream', (st: SpdyStream) => {
      streams.push(st);
      st.reply();
      st.on('data', (d: Buffer) => st.write(Buffer.concat([Buffer.from('echo:'), d])));
      st.on('end', () => st.end());
    });
  });
  await new Promise<void>((r) => server.listen(path, () => r()));
  const sock = net.connect(path);
  const client = new Client(sock);
  try {
    await client.synStream(1, { streamtype: 'error' });
    await client.synStream(3, { streamtype: 'stdout', port: '80' });
    const replies = await until(() => (client.frames.filter((f) => f.control && f.type === 2).length === 2 ? client.frames.filter((f) => f.control && f.type === 2) : undefined));
    assert.deepEqual(replies.map((f) => f.id), [1, 3]);
    // Each reply's header block inflates, with the shared context, to an empty block.
    for (const r of replies) assert.deepEqual(await client.decompress(r.data.subarray(4)), Buffer.from([0, 0, 0, 0]));
    assert.deepEqual(streams.map((s) => [s.id, s.header('streamType')]), [[1, 'error'], [3, 'stdout']]);
    assert.equal(streams[1]!.header('port'), '80');

    client.data(3, Buffer.from('hi'), true);
    await until(() => client.frames.some((f) => !f.control && f.id === 3 && f.flags & 1) || undefined);
    const got = client.frames.filter((f) => !f.control && f.id === 3);
    assert.equal(Buffer.concat(got.map((f) => f.data)).toString(), 'echo:hi');

    const ping = Buffer.from([0, 0, 0, 7]);
    client.control(6, 0, ping);
    const pong = await until(() => client.frames.find((f) => f.control && f.type === 6));
    assert.deepEqual(pong.data, ping);
  } finally {
    sock.destroy();
    server.close();
    rmSync(dir, { recursive: true, force: true });
  }
});
