import { test } from 'node:test';
import assert from 'node:assert/strict';
import net from 'node:net';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { AF_UNIX, MSG_DONTWAIT, SHUT_WR, SOCK_CLOEXEC, SOCK_SEQPACKET, SOCK_STREAM, close, connectUnix, recv, send, shutdown, socket } from './index';

function tempDir(t: { after(fn: () => void): void }): string {
  const dir = mkdtempSync(join(tmpdir(), 'berth-sock-'));
  t.after(() => rmSync(dir, { recursive: true, force: true }));
  return dir;
}

test('socket/connect/send/recv/shutdown against a node unix server', async (t) => {
  const path = join(tempDir(t), 's.sock');
  const received: Buffer[] = [];
  const server = net.createServer({ allowHalfOpen: true }, (c) => {
    c.on('data', (d: Buffer) => received.push(d));
    c.on('end', () => c.end('bye'));
  });
  await new Promise<void>((r) => server.listen(path, r));
  t.after(() => server.close());

  const fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC);
  try {
    connectUnix(fd, path);
    const buf = Buffer.alloc(16);
    assert.equal(recv(fd, buf, MSG_DONTWAIT), -1, 'nothing to read yet: would block');
    assert.equal(send(fd, Buffer.from('hello')), 5);
    shutdown(fd, SHUT_WR);
    let got = '';
    // Poll until the reply is in (the server runs on this same event loop); the cap only stops a hang.
    for (let i = 0; i < 2000 && !got.endsWith('bye'); i++) {
      await new Promise((r) => setTimeout(r, 5));
      const n = recv(fd, buf, MSG_DONTWAIT);
      if (n > 0) got += buf.subarray(0, n).toString();
    }
    assert.equal(got, 'bye');
    assert.equal(Buffer.concat(received).toString(), 'hello');
  } finally {
    close(fd);
  }
});

test('connectUnix reports errno like node does, and refuses paths a sockaddr_un cannot hold', (t) => {
  const dir = tempDir(t);
  const fd = socket(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC);
  try {
    assert.throws(() => connectUnix(fd, join(dir, 'missing')), (e: NodeJS.ErrnoException) => e.code === 'ENOENT' && e.syscall === 'connect');
    assert.throws(() => connectUnix(fd, '/' + 'x'.repeat(120)), (e: NodeJS.ErrnoException) => e.code === 'ENAMETOOLONG');
  } finally {
    close(fd);
  }
  assert.throws(() => close(fd), (e: NodeJS.ErrnoException) => e.code === 'EBADF');
});
