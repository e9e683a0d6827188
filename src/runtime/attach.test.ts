import { test } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { closeSync, constants, mkdtempSync, openSync, readSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { AttachSocket, resizeTerminal } from './attach';

function tempDir(t: { after(fn: () => void): void }): string {
  const dir = mkdtempSync(join(tmpdir(), 'berth-attach-'));
  t.after(() => rmSync(dir, { recursive: true, force: true }));
  return dir;
}

test('resizeTerminal writes conmon\'s resize line to the ctl fifo', (t) => {
  const dir = tempDir(t);
  execFileSync('mkfifo', [join(dir, 'ctl')]);
  // Without a reader (no conmon) the resize is refused, not blocked on.
  assert.equal(resizeTerminal(dir, 24, 80), false);
  const reader = openSync(join(dir, 'ctl'), constants.O_RDONLY | constants.O_NONBLOCK);
  try {
    assert.equal(resizeTerminal(dir, 40.7, 100), true);
    const buf = Buffer.alloc(64);
    const n = readSync(reader, buf);
    assert.equal(buf.subarray(0, n).toString(), '1 40 100\n');
  } finally {
    closeSync(reader);
  }
});

test('AttachSocket.connect fails cleanly when no conmon listens', (t) => {
  const dir = tempDir(t);
  assert.throws(() => AttachSocket.connect(dir), (e: NodeJS.ErrnoException) => e.code === 'ENOENT');
  assert.throws(() => AttachSocket.connect(join(dir, 'nope')), (e: NodeJS.ErrnoException) => e.code === 'ENOENT');
});
