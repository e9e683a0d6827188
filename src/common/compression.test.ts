import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { PassThrough, Readable } from 'node:stream';
import { gzipSync } from 'node:zlib';
import { decompressStream, detectCompression } from './compression';
import { tee } from './streams';

async function readAll(r: Readable): Promise<Buffer> {
  const out: Buffer[] = [];
  for await (const c of r) out.push(c as Buffer);
  return Buffer.concat(out);
}

/** Splits into small chunks so magic sniffing and decoders see split input. */
const chunked = (b: Buffer, n = 3000) => Readable.from(Array.from({ length: Math.ceil(b.length / n) }, (_, i) => b.subarray(i * n, (i + 1) * n)));

const data = Buffer.concat([randomBytes(300_000), Buffer.alloc(500_000, 'a'), randomBytes(1)]);

/** `data` packed by the host's `tool` (zstd, bzip2, xz). */
const packWith = (tool: string, input: Buffer = data) => spawnSync(tool, ['-q', '-c'], { input, maxBuffer: 1 << 26 }).stdout as Buffer;

/** The pids of processes running `tool` now. */
const running = (tool: string) => spawnSync('pgrep', ['-x', tool], { encoding: 'utf8' }).stdout.split('\n').filter(Boolean);

test('detects and streams plain, gzip, zstd, bzip2 and xz data', async () => {
  const zst = packWith('zstd');
  for (const [name, input, want] of [['none', data, 'none'], ['gzip', gzipSync(data), 'gzip'], ['zstd', zst, 'zstd'], ['bzip2', packWith('bzip2'), 'bzip2'], ['xz', packWith('xz'), 'xz']] as const) {
    const { stream, compression } = await decompressStream(chunked(input));
    assert.equal(compression, want, name);
    assert.ok((await readAll(stream)).equals(data), name);
  }
  assert.equal(detectCompression(Buffer.from([0x1f])), 'none');
  const empty = await decompressStream(Readable.from([]));
  assert.equal(empty.compression, 'none');
  assert.equal((await readAll(empty.stream)).length, 0);
});

test('corrupt or truncated compressed data is an invalid-argument error', async () => {
  const zst = packWith('zstd');
  const gz = gzipSync(data);
  const bz = packWith('bzip2');
  const xz = packWith('xz');
  for (const bad of [
    gz.subarray(0, gz.length / 2), Buffer.concat([gz.subarray(0, 100), Buffer.alloc(1000, 7)]), zst.subarray(0, zst.length / 2),
    bz.subarray(0, bz.length / 2), Buffer.concat([xz.subarray(0, 100), Buffer.alloc(1000, 7)]), xz.subarray(0, xz.length / 2),
  ]) {
    const { stream } = await decompressStream(chunked(bad));
    await assert.rejects(readAll(stream), (e: Error & { kind?: string }) => e.kind === 'invalid-argument' && /corrupt/.test(e.message));
  }
});

test('an xz stream that asks for more memory than the limit is refused, not decompressed', async () => {
  // A 1 GiB dictionary declared by a small stream: xz would allocate it to decompress.
  const big = spawnSync('xz', ['-c', '--lzma2=dict=1GiB', '-M', '0'], { input: Buffer.from('tiny'), maxBuffer: 1 << 20 });
  assert.equal(big.status, 0, String(big.stderr));
  const { stream } = await decompressStream(chunked(big.stdout as Buffer));
  await assert.rejects(readAll(stream), (e: Error & { kind?: string }) => e.kind === 'invalid-argument' && /xz data is corrupt or truncated: .*[Mm]emory usage limit/.test(e.message));
});

test('an input error surfaces as the same object; stopping early releases the input (and ends the bzip2 or xz program)', async () => {
  const before = [...running('bzip2'), ...running('xz')];
  for (const packed of [data, gzipSync(data), packWith('bzip2'), packWith('xz')]) {
    const boom = new Error('disk gone');
    const failing = Readable.from((async function* () {
      yield packed.subarray(0, 10_000);
      throw boom;
    })());
    const { stream } = await decompressStream(failing);
    await assert.rejects(readAll(stream), (e) => e === boom);

    // Endless valid input (gzip members may be concatenated); only an early stop can end it.
    let release!: () => void;
    const released = new Promise<void>((r) => (release = r));
    const endless = Readable.from((async function* () {
      try {
        for (;;) yield packed;
      } finally {
        release();
      }
    })());
    const early = await decompressStream(endless);
    for await (const _ of early.stream) break;
    await released;
  }
  // The programs that were stopped early are gone (killed, then reaped).
  const until = Date.now() + 5000;
  while ([...running('bzip2'), ...running('xz')].some((p) => !before.includes(p)) && Date.now() < until) await new Promise((r) => setTimeout(r, 20));
  assert.deepEqual([...running('bzip2'), ...running('xz')].filter((p) => !before.includes(p)), []);
});

test('a source that fails after its readers stopped listening raises no uncaught error (decompressStream, tee)', async () => {
  // A consumer that took the stream and then stopped reading without destroying it: only
  // the streams' own listeners are left when the source fails.
  const gz = new PassThrough();
  gz.write(gzipSync(Buffer.from('x'.repeat(1000))).subarray(0, 20));
  const { stream, compression } = await decompressStream(gz);
  assert.equal(compression, 'gzip');
  const plain = new PassThrough();
  plain.write(Buffer.from('plain bytes'));
  const direct = await decompressStream(plain);
  direct.stream.resume();
  const src = new PassThrough();
  const [a, b] = tee(src);
  const closed = [stream, direct.stream, a, b].map((s) => new Promise((resolve) => s.on('close', resolve)));
  gz.destroy(new Error('source failed late'));
  plain.destroy(new Error('source failed late'));
  src.destroy(new Error('source failed late'));
  // An 'error' event without a listener would throw before these close events (the test
  // runner reports such a throw as a failure of this test).
  await Promise.all(closed);
  for (const s of [stream, direct.stream, a, b]) assert.ok(s.destroyed);
});
