import { test } from 'node:test';
import assert from 'node:assert/strict';
import type http from 'node:http';
import net from 'node:net';
import type { Duplex } from 'node:stream';
import type { Engine, StdinSink } from '../engine';
import type { CriRuntime } from './runtime';
import { StreamingServer, type StreamingOptions } from './streaming';
import { openSpdy, until, type SpdyClient } from './test-spdy-client';

/** A streaming server on 127.0.0.1, with the connections it upgraded (its end of them). */
async function serve(engine: Partial<Engine>, opts: StreamingOptions = {}) {
  const runtime = { sandboxPid: () => process.pid } as unknown as CriRuntime;
  const srv = new StreamingServer(engine as Engine, runtime, opts);
  await srv.listen('127.0.0.1', 0);
  const upgraded: Duplex[] = [];
  // Watched beside the server's own handler, which runs first.
  (srv['http'] as http.Server).on('upgrade', (_req, socket: Duplex) => upgraded.push(socket));
  return { srv, upgraded };
}

/** An exec whose process takes its stdin only when `ready()` is called; it exits 0 when stdin ends. */
function gatedExec() {
  let ready!: () => void;
  const gate = new Promise<void>((r) => (ready = r));
  const received: Buffer[] = [];
  const flushed: number[] = [];
  let ended!: () => void;
  const stdinEnded = new Promise<void>((r) => (ended = r));
  const sink: StdinSink & { full: boolean } = {
    full: true,
    write(d) {
      received.push(d);
      return !this.full;
    },
    end: () => ended(),
  };
  const engine: Partial<Engine> = {
    execs: {
      create: () => ({ id: 'x1' }),
      start: async (_id: string, _o: object, streams: { stdin?(s: StdinSink): void }) => {
        await gate;
        streams.stdin!(sink);
        flushed.push(received.reduce((n, b) => n + b.length, 0));
        await stdinEnded;
      },
      get: () => ({ exitCode: 0 }),
      resize: () => undefined,
    } as unknown as Engine['execs'],
  };
  return { engine, ready, sink, received, flushed };
}

test('exec stdin sent before the process takes it is held up to the bound, then the connection waits; none of it is lost', async () => {
  const x = gatedExec();
  // Above the session's own bound on frames waiting to be handled (1 MiB, spdy.ts), which pauses reading for a moment while the streams' headers inflate.
  const limit = 2 << 20;
  const { srv, upgraded } = await serve(x.engine, { limits: { stdinBuffer: limit } });
  let c: SpdyClient | undefined;
  try {
    const url = srv.register({ kind: 'exec', containerId: 'c1', cmd: ['cat'], tty: false, stdin: true, stdout: true, stderr: false });
    c = await openSpdy(url, 'v4.channel.k8s.io');
    await c.synStream(1, { streamtype: 'error' });
    await c.synStream(3, { streamtype: 'stdin' });
    await c.synStream(5, { streamtype: 'stdout' });
    const sent: Buffer[] = [];
    for (let i = 0; i < 512; i++) {
      const chunk = Buffer.alloc(32 << 10, i & 0xff);
      sent.push(chunk);
      c.data(3, chunk, false);
    }
    c.data(3, Buffer.alloc(0), true);
    const sock = upgraded[0]!;
    await until('the server to stop reading', () => sock.isPaused() && (sock as net.Socket).bytesRead >= limit);
    for (let i = 0; i < 3; i++) await new Promise((r) => setImmediate(r));
    assert.ok((sock as net.Socket).bytesRead < 8 << 20, `${(sock as net.Socket).bytesRead} of 16 MiB read while stdin had nowhere to go`);

    // The process takes stdin but is slow: what was held is handed over and the connection stays paused.
    x.ready();
    await until('the held stdin to be handed over', () => x.flushed.length === 1 || undefined);
    assert.ok(x.flushed[0]! >= limit && x.flushed[0]! < limit + (256 << 10), `${x.flushed[0]} bytes held before the process took stdin`);
    assert.ok(sock.isPaused());
    // It drains: the rest follows, in order, then EOF and a successful status.
    x.sink.full = false;
    x.sink.onDrain!();
    await until('the exit status', () => c!.finished(1) || undefined);
    assert.deepEqual(JSON.parse(c.dataOf(1).toString()), { metadata: {}, status: 'Success' });
    assert.ok(Buffer.concat(x.received).equals(Buffer.concat(sent)), 'the process got exactly the stdin sent');
  } finally {
    c?.sock.destroy();
    await srv.close();
  }
});

/** A TCP server on 127.0.0.1 echoing each connection, kept open until the client ends it. */
async function echoServer() {
  const conns = new Set<net.Socket>();
  const server = net.createServer((s) => {
    conns.add(s);
    s.on('close', () => conns.delete(s));
    s.on('error', () => undefined);
    s.pipe(s);
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', () => r()));
  const port = (server.address() as net.AddressInfo).port;
  return { port, conns, close: () => { for (const s of conns) s.destroy(); server.close(); } };
}

/** Opens the error and data streams of one port-forward request. */
async function forward(c: SpdyClient, request: number, port: number): Promise<{ error: number; data: number }> {
  const error = 4 * request + 1;
  const data = error + 2;
  await c.synStream(error, { streamtype: 'error', port: String(port), requestid: String(request) });
  await c.synStream(data, { streamtype: 'data', port: String(port), requestid: String(request) });
  return { error, data };
}

test('port forwards beyond the per-connection and the overall caps are refused on their error stream; an ended one frees its place', async () => {
  const echo = await echoServer();
  // The helper runs in the test's own network namespace: no nsenter (and no root) needed.
  const { srv } = await serve({}, { limits: { forwardsPerConnection: 2, forwards: 3 }, enterNetwork: () => [] });
  const clients: SpdyClient[] = [];
  try {
    const open = async () => {
      const c = await openSpdy(srv.register({ kind: 'portforward', sandboxId: 'pod1', ports: [echo.port] }), 'portforward.k8s.io');
      clients.push(c);
      return c;
    };
    const echoes = async (c: SpdyClient, f: { data: number }, text: string) => {
      c.data(f.data, Buffer.from(text), false);
      await until(`the echo of ${text}`, () => c.dataOf(f.data).toString().includes(text) || undefined);
    };
    const a = await open();
    const a1 = await forward(a, 0, echo.port);
    const a2 = await forward(a, 1, echo.port);
    const a3 = await forward(a, 2, echo.port);
    await until('the third to be refused', () => a.finished(a3.error) || undefined);
    assert.match(a.dataOf(a3.error).toString(), /^error forwarding port \d+ to pod pod1: too many forwards are open on this connection \(at most 2\)/);
    assert.ok(a.finished(a3.data), 'its data stream is ended');
    await echoes(a, a1, 'one');
    await echoes(a, a2, 'two');

    const b = await open();
    const b1 = await forward(b, 0, echo.port);
    await echoes(b, b1, 'three');
    const b2 = await forward(b, 1, echo.port);
    await until('the fourth to be refused', () => b.finished(b2.error) || undefined);
    assert.match(b.dataOf(b2.error).toString(), /too many forwards are open on this node \(at most 3\)/);

    // The client ends one forward: its helper exits (the error stream ends) and its place is free.
    a.data(a1.data, Buffer.alloc(0), true);
    await until('the first forward to end', () => a.finished(a1.error) || undefined);
    assert.equal(a.dataOf(a1.error).length, 0, 'it ended without an error');
    const b3 = await forward(b, 2, echo.port);
    await echoes(b, b3, 'four');
    assert.equal(b.dataOf(b3.error).length, 0);
  } finally {
    for (const c of clients) c.sock.destroy();
    await srv.close();
    echo.close();
  }
});

test('port-forward request ids waiting for their other stream are capped per connection, and time out', async () => {
  const { srv } = await serve({}, { limits: { unpairedRequests: 4 }, enterNetwork: () => [] });
  let c: SpdyClient | undefined;
  try {
    c = await openSpdy(srv.register({ kind: 'portforward', sandboxId: 'pod1', ports: [80] }), 'portforward.k8s.io');
    for (let r = 0; r < 4; r++) await c.synStream(4 * r + 1, { streamtype: 'error', port: '80', requestid: String(r) });
    await c.synStream(17, { streamtype: 'error', port: '80', requestid: '4' });
    await c.synStream(19, { streamtype: 'data', port: '80', requestid: '5' });
    await until('the fifth to be refused', () => c!.finished(17) || undefined);
    assert.match(c.dataOf(17).toString(), /too many requests on this connection are waiting for their other stream \(at most 4\)/);
    assert.equal(await until('the data stream of the sixth to be reset', () => c!.resetOf(19)), 5);
    assert.ok(!c.finished(1), 'the first four still wait');
  } finally {
    c?.sock.destroy();
    await srv.close();
  }

  const short = await serve({}, { limits: { pairWaitMs: 100 }, enterNetwork: () => [] });
  try {
    c = await openSpdy(short.srv.register({ kind: 'portforward', sandboxId: 'pod1', ports: [80] }), 'portforward.k8s.io');
    await c.synStream(1, { streamtype: 'error', port: '80', requestid: '0' });
    await c.synStream(7, { streamtype: 'data', port: '80', requestid: '1' });
    await until('the lone error stream to time out', () => c!.finished(1) || undefined);
    assert.match(c.dataOf(1).toString(), /timed out waiting for the other stream of request 0/);
    assert.equal(await until('the lone data stream to be reset', () => c!.resetOf(7)), 5);
  } finally {
    c?.sock.destroy();
    await short.srv.close();
  }
});

test('a listening streaming server survives repeated server errors (failed accepts) and keeps serving', async () => {
  const { srv } = await serve({});
  try {
    // Node reports a failed accept (EMFILE, ENFILE …) as an 'error' on the listening server, each time.
    const server = srv['http'] as http.Server;
    for (let i = 0; i < 3; i++) server.emit('error', Object.assign(new Error('accept EMFILE'), { code: 'EMFILE', syscall: 'accept' }));
    const c = await openSpdy(srv.register({ kind: 'portforward', sandboxId: 'pod1', ports: [80] }), 'portforward.k8s.io');
    c.sock.destroy();
  } finally {
    await srv.close();
  }
});
