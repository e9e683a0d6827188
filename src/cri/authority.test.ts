import { test } from 'node:test';
import assert from 'node:assert/strict';
import http2 from 'node:http2';
import net from 'node:net';
import { mkdtempSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { authorityFilter, encodeLiterals } from './authority';

async function serve(filter: boolean) {
  const dir = mkdtempSync('/tmp/auth-');
  const path = join(dir, 'g.sock');
  const h2 = http2.createServer();
  h2.on('stream', (stream, headers) => {
    stream.respond({ ':status': 200 });
    stream.end(`${headers[':authority']} ${headers[':path']}`);
  });
  const server = net.createServer((sock) => h2.emit('connection', filter ? authorityFilter(sock) : sock));
  await new Promise<void>((r) => server.listen(path, () => r()));
  return { path, close: () => { server.close(); h2.close(); rmSync(dir, { recursive: true, force: true }); } };
}

/** Requests as old Go gRPC clients make them: the socket path as :authority. */
function ask(path: string, authority: string, paths: string[]): Promise<string[]> {
  return new Promise((resolve, reject) => {
    const client = http2.connect('http://localhost', { createConnection: () => net.connect(path) });
    client.on('error', reject);
    const answers: Promise<string>[] = paths.map((p) => new Promise((res, rej) => {
      const req = client.request({ ':method': 'POST', ':path': p, ':authority': authority, 'x-pad': 'y'.repeat(200) });
      let body = '';
      req.on('data', (d) => (body += d));
      req.on('end', () => res(body));
      req.on('error', rej);
      req.end();
    }));
    Promise.all(answers).then((a) => { client.close(); resolve(a); }, (e) => { client.destroy(); reject(e); });
  });
}

test('without the filter, Node refuses a socket path as :authority', async () => {
  const s = await serve(false);
  try {
    await assert.rejects(ask(s.path, '/run/berth/cri.sock', ['/a']));
  } finally {
    s.close();
  }
});

test('through the filter the request gets localhost as its authority; valid authorities and later requests on the connection pass as they are', async () => {
  const s = await serve(true);
  try {
    assert.deepEqual(await ask(s.path, '/run/berth/cri.sock', ['/a', '/b', '/c']), ['localhost /a', 'localhost /b', 'localhost /c']);
    assert.deepEqual(await ask(s.path, 'node-1:10250', ['/d']), ['node-1:10250 /d']);
  } finally {
    s.close();
  }
});

function h2frame(type: number, flags: number, stream: number, payload: Buffer): Buffer {
  const h = Buffer.alloc(9);
  h.writeUIntBE(payload.length, 0, 3);
  h[3] = type;
  h[4] = flags;
  h.writeUInt32BE(stream, 5);
  return Buffer.concat([h, payload]);
}

test('a header block that CONTINUATION frames grow past 1 MiB gets GOAWAY (ENHANCE_YOUR_CALM) and the connection is closed; others are served', async () => {
  const s = await serve(true);
  try {
    const sock = net.connect(s.path);
    let got = Buffer.alloc(0);
    sock.on('data', (d: Buffer) => (got = Buffer.concat([got, d])));
    sock.on('error', () => undefined);
    const closed = new Promise<void>((r) => sock.on('close', () => r()));
    sock.write(Buffer.concat([Buffer.from('PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n'), h2frame(0x4, 0, 0, Buffer.alloc(0))]));
    // HEADERS without END_HEADERS, then 2 MiB of CONTINUATION that never ends the block.
    sock.write(h2frame(0x1, 0, 1, Buffer.alloc(1000, 0x40)));
    for (let i = 0; i < 128 && !sock.destroyed; i++) sock.write(h2frame(0x9, 0, 1, Buffer.alloc(16384, 0x40)));
    await Promise.race([closed, new Promise((_, rej) => setTimeout(() => rej(new Error('the connection was not closed')), 10_000).unref())]);
    const frames: { type: number; payload: Buffer }[] = [];
    for (let off = 0; off + 9 <= got.length; ) {
      const len = got.readUIntBE(off, 3);
      frames.push({ type: got[off + 3]!, payload: got.subarray(off + 9, off + 9 + len) });
      off += 9 + len;
    }
    const goaway = frames.find((f) => f.type === 0x7);
    assert.ok(goaway, `a GOAWAY among frames of types ${frames.map((f) => f.type).join(',')}`);
    assert.equal(goaway.payload.readUInt32BE(4), 0xb);
    assert.match(goaway.payload.subarray(8).toString(), /header block larger than 1048576 bytes/);
    assert.deepEqual(await ask(s.path, '/run/berth/cri.sock', ['/after']), ['localhost /after']);
  } finally {
    s.close();
  }
});

test('the re-encoded header block decodes to the same fields, whatever the string lengths (HPACK integer prefixes)', () => {
  const hpack = require('hpack.js') as { decompressor: { create(o: object): { write(b: Buffer): void; execute(): void; read(): { name: string; value: string; neverIndex: boolean } | null } } };
  const fields = [0, 1, 126, 127, 128, 300, 16383, 20000].map((n, i) => ({ name: `x-len-${i}`, value: 'v'.repeat(n), neverIndex: i % 2 === 1 }));
  fields.push({ name: 'x-bytes', value: '\u00ff\u0080\u0000a', neverIndex: false });
  const d = hpack.decompressor.create({ table: { size: 4096 } });
  d.write(encodeLiterals(fields));
  d.execute();
  const got = [];
  for (let f = d.read(); f; f = d.read()) got.push({ name: f.name, value: f.value, neverIndex: f.neverIndex });
  assert.deepEqual(got, fields);
});
