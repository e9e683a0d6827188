import { test } from 'node:test';
import assert from 'node:assert/strict';
import { PassThrough } from 'node:stream';
import { ProgressRenderer, progressBar } from './progress';

function sink() {
  const s = new PassThrough();
  let text = '';
  s.on('data', (c: Buffer) => (text += c.toString()));
  return { s, text: () => text };
}

test('bar is 50 wide with a head, then current/total', () => {
  assert.equal(progressBar(1_000_000, 4_000_000), `[${'='.repeat(12)}>${' '.repeat(37)}] 1MB/4MB`);
  assert.equal(progressBar(5, 5), `[${'='.repeat(50)}] 5B/5B`);
  assert.equal(progressBar(1234, undefined), '1.234kB');
});

test('off a TTY progress updates are dropped and statuses print as lines', () => {
  const o = sink();
  const r = new ProgressRenderer(o.s, false);
  r.setFooter('ignored');
  r.write({ status: 'Loading layer', id: 'abc', progressDetail: { current: 1, total: 2 } });
  r.write({ stream: 'Loaded image: busybox:latest\n' });
  r.write({ status: 'sha256:1234' });
  r.write({ status: 'Pull complete', id: 'abc' });
  assert.equal(o.text(), 'Loaded image: busybox:latest\nsha256:1234\nabc: Pull complete\n');
});

test('on a TTY lines with an id are redrawn in place', () => {
  const o = sink();
  const r = new ProgressRenderer(o.s, true);
  r.write({ status: 'Waiting', id: 'l1' });
  r.write({ status: 'Waiting', id: 'l2' });
  r.write({ status: 'Done', id: 'l1' });
  assert.equal(o.text(), 'l1: Waiting\nl2: Waiting\n\x1b[2A\r\x1b[2Kl1: Done\r\x1b[2B');
});

test('load on a TTY: each layer is one bar redrawn as its bytes grow, then the loaded names', () => {
  const o = sink();
  const r = new ProgressRenderer(o.s, true);
  r.write({ status: 'Loading layer', id: 'aaa', progressDetail: { current: 1, total: 4 } });
  r.write({ status: 'Loading layer', id: 'bbb', progressDetail: { current: 2, total: 2 } });
  r.write({ status: 'Loading layer', id: 'aaa', progressDetail: { current: 4, total: 4 } });
  r.write({ stream: 'Loaded image: x:1\n' });
  const bar = (cur: number, total: number) => progressBar(cur, total);
  assert.equal(o.text(), [
    `aaa: Loading layer ${bar(1, 4)}\n`,
    `bbb: Loading layer ${bar(2, 2)}\n`,
    `\x1b[2A\r\x1b[2Kaaa: Loading layer ${bar(4, 4)}\r\x1b[2B`,
    'Loaded image: x:1\n',
  ].join(''));
  assert.equal(bar(1, 4), `[${'='.repeat(12)}>${' '.repeat(37)}] 1B/4B`);
});
