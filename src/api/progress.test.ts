import { test } from 'node:test';
import assert from 'node:assert/strict';
import { EventEmitter } from 'node:events';
import type { ServerResponse } from 'node:http';
import { invalidArgument } from '../common';
import { errorLine, JSONProgressWriter, progressMessage } from './progress';

test('a moving item is a status with progressDetail, the progress bar text and its id, as dockerd sends it', () => {
  assert.deepEqual(progressMessage({ kind: 'status', id: 'abc123', status: 'Loading layer', current: 1_000_000, total: 4_000_000 }), {
    status: 'Loading layer',
    progressDetail: { current: 1_000_000, total: 4_000_000 },
    progress: `[${'='.repeat(12)}>${' '.repeat(37)}] 1MB/4MB`,
    id: 'abc123',
  });
  assert.deepEqual(progressMessage({ kind: 'status', id: 'abc123', status: 'Loading layer', current: 1234 }), {
    status: 'Loading layer', progressDetail: { current: 1234 }, progress: '1.234kB', id: 'abc123',
  });
});

test('an item without bytes has an empty progressDetail; a status without id has none', () => {
  assert.deepEqual(progressMessage({ kind: 'status', id: 'abc', status: 'Pull complete' }), { status: 'Pull complete', progressDetail: {}, id: 'abc' });
  assert.deepEqual(progressMessage({ kind: 'status', status: 'Digest: sha256:00' }), { status: 'Digest: sha256:00' });
});

test('messages are stream lines; aux passes through; errors are errorDetail and error', () => {
  assert.deepEqual(progressMessage({ kind: 'message', text: 'Loaded image: busybox:latest' }), { stream: 'Loaded image: busybox:latest\n' });
  assert.deepEqual(progressMessage({ kind: 'aux', aux: { ID: 'sha256:1' } }), { aux: { ID: 'sha256:1' } });
  assert.deepEqual(errorLine(invalidArgument('bad archive')), { errorDetail: { message: 'bad archive' }, error: 'bad archive' });
});

/** Just what the writer uses of a response: write and writable. */
function response() {
  const lines: unknown[] = [];
  const res = Object.assign(new EventEmitter(), {
    writable: true,
    write(chunk: string) {
      for (const l of chunk.split('\n').filter(Boolean)) lines.push(JSON.parse(l));
      return true;
    },
  });
  return { res, lines };
}

test('the writer sends events as JSON lines; quiet drops item statuses only; nothing is written once the client is gone', () => {
  const loud = response();
  const w = new JSONProgressWriter(loud.res as unknown as ServerResponse);
  w.sink({ kind: 'status', id: 'a', status: 'Loading layer', current: 1, total: 2 });
  w.sink({ kind: 'message', text: 'Loaded image: x:1' });
  w.fail(invalidArgument('then it broke'), 'req');
  assert.deepEqual(loud.lines, [
    { status: 'Loading layer', progressDetail: { current: 1, total: 2 }, progress: `[${'='.repeat(25)}>${' '.repeat(24)}] 1B/2B`, id: 'a' },
    { stream: 'Loaded image: x:1\n' },
    { errorDetail: { message: 'then it broke' }, error: 'then it broke' },
  ]);

  const quiet = response();
  const q = new JSONProgressWriter(quiet.res as unknown as ServerResponse, true);
  q.sink({ kind: 'status', id: 'a', status: 'Loading layer', current: 1, total: 2 });
  q.sink({ kind: 'message', text: 'Loaded image: x:1' });
  quiet.res.writable = false;
  q.sink({ kind: 'message', text: 'late' });
  q.fail(invalidArgument('late'), 'req');
  assert.deepEqual(quiet.lines, [{ stream: 'Loaded image: x:1\n' }]);
});
