import { test } from 'node:test';
import assert from 'node:assert/strict';
import { JSONMessageDisplay, progressText } from './json-display';

function sink(columns?: number) {
  let text = '';
  return { out: { write: (s: string) => ((text += s), true), columns } as never, text: () => text };
}

const pull = [
  { status: 'Pulling from t/bb', progressDetail: {}, id: 'v1' },
  { status: 'Pulling fs layer', progressDetail: {}, id: 'aaa' },
  { status: 'Downloading', progressDetail: { current: 512, total: 1024 }, id: 'aaa' },
  { status: 'Download complete', progressDetail: {}, id: 'aaa' },
  { status: 'Pull complete', progressDetail: {}, id: 'aaa' },
  { status: 'Digest: sha256:abc' },
];

test('not on a terminal: progress updates dropped, every other message one line', () => {
  const s = sink();
  const d = new JSONMessageDisplay(s.out, { tty: false });
  for (const m of pull) d.write(m);
  assert.equal(s.text(), 'v1: Pulling from t/bb\naaa: Pulling fs layer\naaa: Download complete\naaa: Pull complete\nDigest: sha256:abc\n');
});

test('on a terminal: one line per id, redrawn in place with the cursor moved up and back', () => {
  const s = sink(120);
  const d = new JSONMessageDisplay(s.out, { tty: true });
  for (const m of pull.slice(0, 3)) d.write(m);
  assert.equal(
    s.text(),
    '\n\x1b[1A\x1b[2K\rv1: Pulling from t/bb \r\x1b[1B' +
      '\n\x1b[1A\x1b[2K\raaa: Pulling fs layer \r\x1b[1B' +
      `\x1b[1A\x1b[2K\raaa: Downloading [${'='.repeat(25)}>${' '.repeat(25)}]     512B/1.024kB\r\x1b[1B`,
  );
});

test('an error message rejects with its text', () => {
  const d = new JSONMessageDisplay(sink().out, { tty: false });
  assert.throws(() => d.write({ error: 'boom', errorDetail: { message: 'boom' } }), /boom/);
});

test('progress text: no bar on a narrow terminal, nothing when nothing is known', () => {
  assert.equal(progressText({}, 200), '');
  assert.equal(progressText({ current: 2_000_000, total: 4_000_000 }, 80), '     2MB/4MB');
  assert.equal(progressText({ current: 1500 }, 200), '   1.5kB');
});
