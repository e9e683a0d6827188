import { test } from 'node:test';
import assert from 'node:assert/strict';
import { BerthError } from '../common';
import { makeTar, padBlock, paxRecord, rawHeader } from './tar-fixtures';
import { MAX_META, TarReader, type TarEntryHeader } from './tar-reader';

/** Everything a reader hands its sink, with each entry's data joined. */
function read(tar: Buffer, step = tar.length): { h: TarEntryHeader; data: string }[] {
  const out: { h: TarEntryHeader; data: Buffer[] }[] = [];
  let open = false;
  const r = new TarReader({
    entry: (h) => {
      assert.ok(!open, 'an entry starts only after the previous one ended');
      open = true;
      out.push({ h, data: [] });
    },
    data: (c) => out[out.length - 1]!.data.push(Buffer.from(c)),
    end: () => {
      assert.ok(open);
      open = false;
    },
  });
  for (let off = 0; off < tar.length; off += step) r.push(tar.subarray(off, off + step));
  r.end();
  return out.map((e) => ({ h: e.h, data: Buffer.concat(e.data).toString() }));
}

const isBad = (e: unknown) => e instanceof BerthError && e.kind === 'invalid-argument';

test('reads what tar-stream writes, whatever the pushes look like: ustar, PAX long names, links, modes, owners', async () => {
  const long = `${'d'.repeat(120)}/${'f'.repeat(130)}`;
  const tar = await makeTar([
    { name: 'dir/', type: 'directory', mode: 0o750, uid: 1000, gid: 1001 },
    { name: 'dir/a', data: 'hello', mode: 0o640 },
    { name: long, data: 'x'.repeat(1000) },
    { name: 'sym', type: 'symlink', linkname: '/etc/passwd' },
    { name: 'hard', type: 'link', linkname: 'dir/a' },
    { name: 'empty', data: '' },
  ]);
  const whole = read(tar);
  assert.deepEqual(whole.map((e) => [e.h.name, e.h.type, e.data.length]), [
    ['dir/', 'directory', 0], ['dir/a', 'file', 5], [long, 'file', 1000], ['sym', 'symlink', 0], ['hard', 'link', 0], ['empty', 'file', 0],
  ]);
  assert.equal(whole[0]!.h.mode, 0o750);
  assert.equal(whole[0]!.h.uid, 1000);
  assert.equal(whole[0]!.h.gid, 1001);
  assert.equal(whole[1]!.data, 'hello');
  assert.equal(whole[3]!.h.linkname, '/etc/passwd');
  assert.equal(whole[0]!.h.mtime, 1_600_000_000);
  for (const step of [1, 7, 511, 513, 4096]) assert.deepEqual(read(tar, step), whole, `pushes of ${step} bytes`);
});

test('GNU long names, base-256 numbers, a PAX size and a header-only type with a size', () => {
  const name = 'n'.repeat(200);
  const longName = Buffer.from(`${name}\0`);
  const big = rawHeader('ignored', '0', 3);
  // GNU base-256 uid (2^21 + 5, too big for 7 octal digits).
  big.fill(0, 108, 116);
  big[108] = 0x80;
  big.writeUInt32BE(2 ** 21 + 5, 112);
  big.write('ustar  \0', 257, 'latin1');
  fixSum(big);
  const sizeRec = paxRecord('size', Buffer.from('4'));
  const tar = Buffer.concat([
    rawHeader('././@LongLink', 'L', longName.length), padBlock(longName), big, padBlock(Buffer.from('abc')),
    rawHeader('paxsized', 'x', sizeRec.length), padBlock(sizeRec), rawHeader('paxsized', '0', 0), padBlock(Buffer.from('wxyz')),
    // A directory claiming 512 bytes of data: none follow (Go's reader), the next header does.
    rawHeader('d/', '5', 512), rawHeader('after', '0', 1), padBlock(Buffer.from('!')),
    Buffer.alloc(1024),
  ]);
  const got = read(tar);
  assert.deepEqual(got.map((e) => [e.h.name, e.data]), [[name, 'abc'], ['paxsized', 'wxyz'], ['d/', ''], ['after', '!']]);
  assert.equal(got[0]!.h.uid, 2 ** 21 + 5);
});

test('hostile archives are refused as invalid-argument: checksums, numbers, huge metadata, truncation, odd types', () => {
  const good = rawHeader('a', '0', 3);
  const badSum = Buffer.from(good);
  badSum[0] = 0x62;
  assert.throws(() => read(badSum), (e) => isBad(e) && /checksum/.test((e as Error).message));
  const notTar = Buffer.alloc(512, 'x');
  assert.throws(() => read(notTar), isBad);
  const badNum = rawHeader('a', '0', 0);
  badNum.write('00009', 100, 'latin1');
  fixSum(badNum);
  assert.throws(() => read(badNum), (e) => isBad(e) && /mode field/.test((e as Error).message));
  // A PAX header claiming a gigabyte is refused from its header, before any of it is buffered.
  assert.throws(() => read(rawHeader('p', 'x', 2 ** 30)), (e) => isBad(e) && new RegExp(`at most ${MAX_META}`).test((e as Error).message));
  assert.throws(() => read(rawHeader('l', 'L', MAX_META + 1)), isBad);
  const negative = paxRecord('size', Buffer.from('-1'));
  assert.throws(() => read(Buffer.concat([rawHeader('p', 'x', negative.length), padBlock(negative), rawHeader('p', '0', 0)])), (e) => isBad(e) && /invalid PAX size/.test((e as Error).message));
  assert.throws(() => read(Buffer.concat([rawHeader('p', 'x', 8), padBlock(Buffer.from('999 a=b\n'))])), (e) => isBad(e) && /malformed PAX/.test((e as Error).message));
  // Cut inside the data, inside the padding, inside a header, after a PAX header.
  assert.throws(() => read(Buffer.concat([good, Buffer.from('ab')])), (e) => isBad(e) && /truncated/.test((e as Error).message));
  assert.throws(() => read(Buffer.concat([good, Buffer.from('abc\0')])), isBad);
  assert.throws(() => read(good.subarray(0, 300)), isBad);
  assert.throws(() => read(Buffer.concat([rawHeader('p', 'x', 11), padBlock(Buffer.from('11 path=a\n\0'))])), isBad);
  assert.throws(() => read(rawHeader('sparse', 'S', 0)), (e) => isBad(e) && /unsupported type/.test((e as Error).message));
  // A zero block ends the archive: what follows is not read.
  assert.deepEqual(read(Buffer.concat([Buffer.alloc(512), Buffer.alloc(512, 'x')])), []);
  // No end blocks at all, at an entry boundary: accepted (as Go's reader does).
  assert.deepEqual(read(Buffer.concat([good, padBlock(Buffer.from('abc'))])).map((e) => e.data), ['abc']);
});

function fixSum(b: Buffer): void {
  b.write('        ', 148, 'latin1');
  let sum = 0;
  for (const x of b) sum += x;
  b.write(`${sum.toString(8).padStart(6, '0')}\0 `, 148, 'latin1');
}
