import { test } from 'node:test';
import assert from 'node:assert/strict';
import http2 from 'node:http2';
import net from 'node:net';
import { mkdtempSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { authorityFilter } from './authority';

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
