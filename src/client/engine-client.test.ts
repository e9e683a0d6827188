import { test } from 'node:test';
import assert from 'node:assert/strict';
import { PassThrough } from 'node:stream';
import { frame, StreamType, MULTIPLEXED } from '../wire';
import { EngineClient } from './engine-client';
import { ClientError, ConnectionError, StreamError } from './errors';
import { parseHost } from './host';
import { demuxStream, readJSONMessages } from './streams';
import { readAll } from './transport';
import { sendJSON, startPeer, upgradeHead } from './test-peer';

function collect(): { stream: PassThrough; text: () => string } {
  const stream = new PassThrough();
  const chunks: Buffer[] = [];
  stream.on('data', (c: Buffer) => chunks.push(c));
  return { stream, text: () => Buffer.concat(chunks).toString() };
}

test('requests go under /v1.45 and JSON replies are decoded', async () => {
  const peer = await startPeer({ onRequest: (_req, res) => sendJSON(res, 200, [{ Id: 'abc', Names: ['/x'] }]) });
  try {
    const c = new EngineClient(parseHost(peer.host));
    const list = await c.containerList({ all: true, filters: { status: ['exited'] } });
    assert.equal(list[0]!.Id, 'abc');
    assert.equal(peer.log[0], `GET /v1.45/containers/json?all=1&filters=${encodeURIComponent('{"status":{"exited":true}}')}`);
  } finally {
    await peer.close();
  }
});

test('an error status becomes a ClientError with the daemon message and status', async () => {
  const peer = await startPeer({
    onRequest: (req, res) => {
      if (req.url!.includes('/json')) sendJSON(res, 404, { message: 'No such container: nope' });
      else {
        res.writeHead(500, { 'Content-Type': 'text/plain' });
        res.end('plain failure\n');
      }
    },
  });
  try {
    const c = new EngineClient(parseHost(peer.host));
    await assert.rejects(c.containerInspect('nope'), (e: unknown) => {
      assert.ok(e instanceof ClientError);
      assert.equal(e.status, 404);
      assert.equal(e.kind, 'not-found');
      assert.equal(e.message, 'No such container: nope');
      return true;
    });
    await assert.rejects(c.containerStart('x'), (e: unknown) => e instanceof ClientError && e.status === 500 && e.message === 'plain failure');
  } finally {
    await peer.close();
  }
});

test('304 from start is success and reported as not-modified', async () => {
  const peer = await startPeer({
    onRequest: (_req, res) => {
      res.writeHead(304);
      res.end();
    },
  });
  try {
    assert.equal(await new EngineClient(parseHost(peer.host)).containerStart('x'), true);
  } finally {
    await peer.close();
  }
});

test('a missing socket is a ConnectionError naming the address', async () => {
  const c = new EngineClient(parseHost('unix:///nonexistent/berth-test.sock'));
  await assert.rejects(c.version(), (e: unknown) => e instanceof ConnectionError && /unix:\/\/\/nonexistent\/berth-test.sock/.test(e.message));
});

test('a framed log stream is split to stdout and stderr, even when frames straddle chunks', async () => {
  const payload = Buffer.concat([frame(StreamType.Stdout, 'out 1\n'), frame(StreamType.Stderr, 'err 1\n'), frame(StreamType.Stdout, 'out 2\n')]);
  const peer = await startPeer({
    onRequest: (_req, res) => {
      res.writeHead(200, { 'Content-Type': MULTIPLEXED });
      // dribble it out a few bytes at a time
      let i = 0;
      const tick = (): void => {
        if (i >= payload.length) {
          res.end();
          return;
        }
        res.write(payload.subarray(i, i + 5));
        i += 5;
        setImmediate(tick);
      };
      tick();
    },
  });
  try {
    const c = new EngineClient(parseHost(peer.host));
    const res = await c.containerLogs('x', { follow: true, tail: '10' });
    const out = collect();
    const err = collect();
    await demuxStream(res, { stdout: out.stream, stderr: err.stream });
    assert.equal(out.text(), 'out 1\nout 2\n');
    assert.equal(err.text(), 'err 1\n');
    assert.match(peer.log[0]!, /^GET \/v1\.45\/containers\/x\/logs\?stdout=1&stderr=1&follow=1&tail=10$/);
  } finally {
    await peer.close();
  }
});

test('a system-error frame aborts the stream with its text', async () => {
  const peer = await startPeer({
    onRequest: (_req, res) => {
      res.writeHead(200, { 'Content-Type': MULTIPLEXED });
      res.end(Buffer.concat([frame(StreamType.Stdout, 'a'), frame(StreamType.System, 'log file vanished')]));
    },
  });
  try {
    const res = await new EngineClient(parseHost(peer.host)).containerLogs('x', {});
    await assert.rejects(demuxStream(res, { stdout: collect().stream, stderr: collect().stream }), /error from daemon in stream: log file vanished/);
  } finally {
    await peer.close();
  }
});

test('attach hijacks with 101: frames come back, stdin goes out, half-close ends our side', async () => {
  let gotStdin = '';
  let sawHeaders: Record<string, string | string[] | undefined> = {};
  const peer = await startPeer({
    onRequest: (_req, res) => sendJSON(res, 500, { message: 'unexpected' }),
    onUpgrade: (req, socket) => {
      sawHeaders = req.headers;
      // the first frame rides in the same write as the header block
      socket.write(Buffer.concat([Buffer.from(upgradeHead(MULTIPLEXED)), frame(StreamType.Stdout, 'hello\n')]));
      socket.on('data', (c: Buffer) => (gotStdin += c.toString()));
      socket.on('end', () => {
        socket.write(frame(StreamType.Stderr, `got ${gotStdin}`));
        socket.end();
      });
    },
  });
  try {
    const c = new EngineClient(parseHost(peer.host));
    const h = await c.containerAttach('abc', { stdin: true, stdout: true, stderr: true });
    assert.equal(h.contentType, MULTIPLEXED);
    assert.equal(String(sawHeaders['upgrade']).toLowerCase(), 'tcp');
    assert.equal(String(sawHeaders['connection']).toLowerCase(), 'upgrade');
    assert.equal(peer.log[0], 'POST /v1.45/containers/abc/attach?stream=1&stdin=1&stdout=1&stderr=1 (upgrade)');
    const out = collect();
    const err = collect();
    const done = demuxStream(h.socket, { stdout: out.stream, stderr: err.stream }, h.head);
    h.socket.end('ping');
    await done;
    assert.equal(out.text(), 'hello\n');
    assert.equal(err.text(), 'got ping');
  } finally {
    await peer.close();
  }
});

test('attach refuses a 200 answer and reports a JSON error from before the hijack', async () => {
  const peer = await startPeer({
    onRequest: () => undefined,
    onUpgrade: (req, socket) => {
      if (req.url!.includes('/missing/')) {
        const body = JSON.stringify({ message: 'No such container: missing' });
        socket.end(`HTTP/1.1 404 Not Found\r\nContent-Type: application/json\r\nContent-Length: ${body.length}\r\n\r\n${body}`);
      } else {
        socket.end('HTTP/1.1 200 OK\r\nContent-Type: application/vnd.docker.raw-stream\r\nContent-Length: 0\r\n\r\n');
      }
    },
  });
  try {
    const c = new EngineClient(parseHost(peer.host));
    await assert.rejects(c.containerAttach('missing', { stdout: true }), (e: unknown) => e instanceof ClientError && e.status === 404 && e.message === 'No such container: missing');
    await assert.rejects(c.containerAttach('x', { stdout: true }), /unable to upgrade to tcp, received 200/);
  } finally {
    await peer.close();
  }
});

test('wait resolves once headers arrive and delivers the status code later', async () => {
  let finish: () => void = () => undefined;
  const peer = await startPeer({
    onRequest: (_req, res) => {
      res.writeHead(200, { 'Content-Type': 'application/json' });
      res.flushHeaders();
      finish = () => res.end(JSON.stringify({ StatusCode: 3 }) + '\n');
    },
  });
  try {
    const w = await new EngineClient(parseHost(peer.host)).containerWait('c1', 'next-exit');
    assert.equal(peer.log[0], 'POST /v1.45/containers/c1/wait?condition=next-exit');
    finish();
    assert.deepEqual(await w.result, { StatusCode: 3 });
  } finally {
    await peer.close();
  }
});

test('a JSON progress stream hands over messages and fails on an errorDetail', async () => {
  const peer = await startPeer({
    onRequest: (req, res, body) => {
      res.writeHead(200, { 'Content-Type': 'application/json' });
      res.write(JSON.stringify({ status: 'Loading layer', id: 'abc', progressDetail: { current: 1, total: 2 } }) + '\n');
      res.write(JSON.stringify({ stream: `Loaded image: ${body.toString()}\n` }) + '\n');
      if (req.url!.includes('quiet=1')) res.end(JSON.stringify({ errorDetail: { message: 'disk full' }, error: 'disk full' }) + '\n');
      else res.end();
    },
  });
  try {
    const c = new EngineClient(parseHost(peer.host));
    const seen: string[] = [];
    await readJSONMessages(await c.imageLoad(Buffer.from('img:1')), (m) => seen.push(m.stream ?? m.status ?? ''));
    assert.deepEqual(seen, ['Loading layer', 'Loaded image: img:1\n']);
    await assert.rejects(readJSONMessages(await c.imageLoad(Buffer.from('x'), { quiet: true }), () => undefined), (e: unknown) => e instanceof StreamError && e.message === 'disk full');
    assert.equal(peer.log[0], 'POST /v1.45/images/load?quiet=0');
  } finally {
    await peer.close();
  }
});

test('a streamed body (import from a pipe) arrives whole', async () => {
  const peer = await startPeer({
    onRequest: (_req, res, body) => sendJSON(res, 200, { status: `sha256:${body.length}` }),
  });
  try {
    const src = new PassThrough();
    const p = new EngineClient(parseHost(peer.host)).imageImport(src, { repo: 'me/app:v1', changes: ['CMD ["sh"]', 'ENV A=1'] });
    src.write(Buffer.alloc(70000, 1));
    src.end(Buffer.alloc(5, 2));
    const res = await p;
    assert.equal((await readAll(res)).toString(), '{"status":"sha256:70005"}');
    assert.equal(peer.log[0], `POST /v1.45/images/create?fromSrc=-&repo=me%2Fapp%3Av1&changes=CMD+%5B%22sh%22%5D&changes=ENV+A%3D1`);
  } finally {
    await peer.close();
  }
});
