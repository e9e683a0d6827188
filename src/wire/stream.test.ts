import { test } from 'node:test';
import assert from 'node:assert/strict';
import { frame, FrameDecoder, StreamType } from './stream';

test('frame writes the 8-byte header with a big-endian length', () => {
  const f = frame(StreamType.Stderr, 'hi');
  assert.deepEqual([...f], [2, 0, 0, 0, 0, 0, 0, 2, 0x68, 0x69]);
});

test('decoder reassembles frames split at every byte boundary', () => {
  const all = Buffer.concat([frame(StreamType.Stdout, 'hello\n'), frame(StreamType.Stderr, ''), frame(StreamType.Stderr, 'e')]);
  for (let cut = 0; cut <= all.length; cut++) {
    const d = new FrameDecoder();
    const got = [...d.push(all.subarray(0, cut)), ...d.push(all.subarray(cut))];
    assert.deepEqual(got.map((g) => [g.stream, g.payload.toString()]), [[1, 'hello\n'], [2, ''], [2, 'e']]);
    assert.equal(d.pending, 0);
  }
});

test('decoder rejects an unknown stream type', () => {
  const bad = frame(StreamType.Stdout, 'x');
  bad[0] = 9;
  assert.throws(() => new FrameDecoder().push(bad), /invalid stream type 9/);
});
