import { test } from 'node:test';
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { BodyDeframer, type BodyFraming } from './http-body';

/** Feeds `raw` in pieces of `step` bytes; the body and the raw bytes the deframer said were its own. */
function run(framing: BodyFraming, raw: Buffer, step: number): { body: Buffer; used: number; done: boolean } {
  const d = new BodyDeframer(framing);
  const out: Buffer[] = [];
  let used = 0;
  for (let i = 0; i < raw.length; i += step) used += d.feed(raw.subarray(i, i + step), (b) => out.push(Buffer.from(b)));
  return { body: Buffer.concat(out), used, done: d.done };
}

function chunked(parts: Buffer[], last = '0\r\n\r\n'): Buffer {
  return Buffer.concat([...parts.flatMap((p) => [Buffer.from(`${p.length.toString(16)}\r\n`), p, Buffer.from('\r\n')]), Buffer.from(last)]);
}

test('chunked bodies come out whole however the bytes are split, and nothing past their end is taken', () => {
  const parts = [randomBytes(1), randomBytes(4096), randomBytes(70_000), randomBytes(15)];
  const raw = Buffer.concat([chunked(parts), Buffer.from('GET / HTTP/1.1\r\n')]);
  const bodyLen = raw.length - 'GET / HTTP/1.1\r\n'.length;
  for (const step of [1, 2, 3, 7, 512, 4099, raw.length]) {
    const r = run({ chunked: true }, raw, step);
    assert.ok(r.done, `step ${step}`);
    assert.equal(r.used, bodyLen, `step ${step}`);
    assert.ok(r.body.equals(Buffer.concat(parts)), `step ${step}`);
  }
});

test('chunk extensions, upper-case hex and trailer fields are taken off', () => {
  const raw = Buffer.from('5;name=value\r\nhello\r\nA ; x\r\n0123456789\r\n0;last\r\nX-Trailer: 1\r\nY: 2\r\n\r\n');
  for (const step of [1, 5, raw.length]) {
    const r = run({ chunked: true }, raw, step);
    assert.ok(r.done);
    assert.equal(r.used, raw.length);
    assert.equal(r.body.toString(), 'hello0123456789');
  }
});

test('a Content-Length body is that many bytes', () => {
  const raw = Buffer.concat([randomBytes(10_000), Buffer.from('next')]);
  const r = run({ length: 10_000 }, raw, 333);
  assert.ok(r.done);
  assert.equal(r.used, 10_000);
  assert.ok(r.body.equals(raw.subarray(0, 10_000)));
  assert.ok(new BodyDeframer({ length: 0 }).done);
});

test('a body cut short is not done', () => {
  assert.ok(!run({ chunked: true }, Buffer.from('5\r\nhel'), 2).done);
  assert.ok(!run({ chunked: true }, Buffer.from('5\r\nhello\r\n0\r\n'), 2).done);
  assert.ok(!run({ length: 10 }, Buffer.alloc(9), 4).done);
});

test('malformed framing is refused, naming what is wrong', () => {
  const bad: [string, RegExp][] = [
    ['x\r\n', /not a hexadecimal number/],
    ['\r\n', /not a hexadecimal number/],
    ['5\nhello\r\n', /not a hexadecimal number|CRLF/],
    ['5\r\nhelloX\r\n', /longer than its size/],
    ['5\r\nhello\rX', /does not end in CRLF/],
    ['12345678901234\r\n', /too large/],
    [`5;${'e'.repeat(5000)}\r\n`, /too long/],
    ['0\r\nX: 1\rY', /trailer field does not end in CRLF/],
    ['0\r\n\rX', /does not end in CRLF/],
    [`0\r\n${'X: y\r\n'.repeat(4000)}\r\n`, /trailer fields are too long/],
  ];
  for (const [raw, re] of bad) {
    assert.throws(() => run({ chunked: true }, Buffer.from(raw), 1), (err: Error) => re.test(err.message) && /chunked body is malformed/.test(err.message), JSON.stringify(raw.slice(0, 30)));
  }
});
