import { test } from 'node:test';
import assert from 'node:assert/strict';
import net from 'node:net';
import { mkdtempSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { SPDY_DICTIONARY, SpdySession, type SpdyStream } from './spdy';
import { SpdyClient, until } from './test-spdy-client';

function adler32(buf: Buffer): number {
  let a = 1;
  let b = 0;
  for (const x of buf) {
    a = (a + x) % 65521;
    b = (b + a) % 65521;
  }
  return ((b << 16) | a) >>> 0;
}

/** A SpdySession serving each connection to a fresh unix socket, with `onStream` for its streams. */
async function serve(onStream: (s: SpdyStream, session: SpdySession) => void) {
  const dir = mkdtempSync('/tmp/spdy-');
  const path = join(dir, 's.sock');
  const sessions: SpdySession[] = [];
  const sockets: net.Socket[] = [];
  const server = net.createServer((sock) => {
    const s = new SpdySession(sock);
    sessions.push(s);
    sockets.push(sock);
    s.on('stream', (st: SpdyStream) => onStream(st, s));
  });
  await new Promise<void>((r) => server.listen(path, () => r()));
  const sock = net.connect(path);
  const client = new SpdyClient(sock);
  await until('the session', () => sessions[0]);
  return {
    client,
    session: sessions[0]!,
    /** The server's end of the connection. */
    socket: sockets[0]!,
    close: () => {
      sock.destroy();
      server.close();
      rmSync(dir, { recursive: true, force: true });
    },
  };
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
  const client = new SpdyClient(sock);
  try {
    await client.synStream(1, { streamtype: 'error' });
    await client.synStream(3, { streamtype: 'stdout', port: '80' });
    const replies = await until('two replies', () => (client.frames.filter((f) => f.control && f.type === 2).length === 2 ? client.frames.filter((f) => f.control && f.type === 2) : undefined));
    assert.deepEqual(replies.map((f) => f.id), [1, 3]);
    // Each reply's header block inflates, with the shared context, to an empty block.
    for (const r of replies) assert.deepEqual(await client.decompress(r.data.subarray(4)), Buffer.from([0, 0, 0, 0]));
    assert.deepEqual(streams.map((s) => [s.id, s.header('streamType')]), [[1, 'error'], [3, 'stdout']]);
    assert.equal(streams[1]!.header('port'), '80');

    client.data(3, Buffer.from('hi'), true);
    await until('the echo', () => client.frames.some((f) => !f.control && f.id === 3 && f.flags & 1) || undefined);
    const got = client.frames.filter((f) => !f.control && f.id === 3);
    assert.equal(Buffer.concat(got.map((f) => f.data)).toString(), 'echo:hi');

    const ping = Buffer.from([0, 0, 0, 7]);
    client.control(6, 0, ping);
    const pong = await until('the pong', () => client.frames.find((f) => f.control && f.type === 6));
    assert.deepEqual(pong.data, ping);
  } finally {
    sock.destroy();
    server.close();
    rmSync(dir, { recursive: true, force: true });
  }
});

test('a stream finished both ways is dropped from the session and emits close; one reset is too', async () => {
  const closed: number[] = [];
  const t = await serve((st) => {
    st.reply();
    st.on('close', () => closed.push(st.id));
    if (st.header('streamtype') === 'reset') st.reset();
    else st.on('end', () => st.end('bye'));
  });
  try {
    for (let i = 0; i < 50; i++) {
      const id = 1 + 2 * i;
      await t.client.synStream(id, { streamtype: 'data' });
      t.client.data(id, Buffer.from('x'), true);
    }
    await until('every stream to finish', () => closed.length === 50 || undefined);
    assert.equal(t.session.openStreams, 0);
    assert.ok(t.client.finished(99));

    await t.client.synStream(101, { streamtype: 'reset' });
    await until('the reset', () => t.client.resetOf(101));
    assert.equal(t.session.openStreams, 0);
    // A stream the peer resets is dropped as well.
    await t.client.synStream(103, { streamtype: 'data' });
    await until('stream 103', () => t.session.openStreams === 1 || undefined);
    t.client.control(3, 0, Buffer.from([0, 0, 0, 103, 0, 0, 0, 5]));
    await until('stream 103 to close', () => closed.includes(103) || undefined);
    assert.equal(t.session.openStreams, 0);
    assert.equal(t.session.closed, false);
  } finally {
    t.close();
  }
});

test('streams beyond the per-session bound are refused (RST_STREAM REFUSED_STREAM); the session goes on', async () => {
  const t = await serve((st) => st.reply());
  try {
    for (let i = 0; i < 1025; i++) await t.client.synStream(1 + 2 * i, { streamtype: 'data' });
    assert.equal(await until('the refusal', () => t.client.resetOf(2049)), 3);
    assert.equal(t.session.openStreams, 1024);
    const ping = Buffer.from([0, 0, 0, 9]);
    t.client.control(6, 0, ping);
    await until('the pong', () => t.client.frames.find((f) => f.control && f.type === 6));
  } finally {
    t.close();
  }
});

test('a paused stream stops the reading of the connection; resume reads on', async () => {
  let stream: SpdyStream | undefined;
  let got = 0;
  let paused = false;
  const t = await serve((st) => {
    stream = st;
    st.reply();
    st.on('data', (d: Buffer) => {
      got += d.length;
      if (!paused && got >= 1 << 20) {
        paused = true;
        st.pause();
      }
    });
  });
  try {
    await t.client.synStream(1, { streamtype: 'stdin' });
    const chunk = Buffer.alloc(32 << 10, 7);
    for (let i = 0; i < 512; i++) t.client.data(1, chunk, false);
    t.client.control(6, 0, Buffer.from([0, 0, 0, 5]));
    await until('the connection to pause', () => t.socket.isPaused());
    for (let i = 0; i < 3; i++) await new Promise((r) => setImmediate(r));
    // What was read when it paused still arrives: about a read's worth, not the 16 MiB sent.
    assert.ok(got < (1 << 20) + (256 << 10), `${got} bytes delivered after the pause`);
    assert.ok(t.socket.bytesRead < 4 << 20, `${t.socket.bytesRead} bytes read after the pause`);
    assert.ok(!t.client.frames.some((f) => f.control && f.type === 6), 'the ping behind the data is not read yet');
    stream!.resume();
    await until('the rest and the pong', () => (got === 16 << 20 && t.client.frames.some((f) => f.control && f.type === 6)) || undefined);
  } finally {
    t.close();
  }
});
