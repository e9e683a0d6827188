/**
 * Layer and archive compression: detection by magic bytes and streaming
 * decompression of gzip (node's zlib) and zstd (fzstd, a pure-JS streaming
 * decoder: node 20's zlib has no zstd, and the native bindings need build or
 * download steps at install time). One module for image/ (archives, blobs) and
 * storage/ (layer apply), so both accept the same formats.
 */
import { Readable, Transform, type TransformCallback } from 'node:stream';
import { createGunzip } from 'node:zlib';
import type { Decompress as ZstdDecoder } from 'fzstd';
import { invalidArgument } from './errors';
import { withLateErrorsHeard } from './streams';

export type Compression = 'none' | 'gzip' | 'zstd';

const GZIP_MAGIC = Buffer.from([0x1f, 0x8b]);
const ZSTD_MAGIC = Buffer.from([0x28, 0xb5, 0x2f, 0xfd]);

/** The compression the first bytes of a stream announce ('none' when neither magic matches). */
export function detectCompression(head: Buffer): Compression {
  if (head.length >= 2 && head.subarray(0, 2).equals(GZIP_MAGIC)) return 'gzip';
  if (head.length >= 4 && head.subarray(0, 4).equals(ZSTD_MAGIC)) return 'zstd';
  return 'none';
}

/**
 * Returns the decompressed form of `input`, whatever of none/gzip/zstd it is,
 * and which one it was (known once the first bytes arrived). Streaming, with
 * backpressure. An error of `input` surfaces, as the same object, as the error of
 * the returned stream (or of this call, while the head is read), so callers can
 * tell a failing source from bad data; corrupt or truncated compressed data is an
 * invalid-argument error of the returned stream. Destroying the returned stream
 * before its end (a consumer that stops early) releases `input` too.
 */
export async function decompressStream(input: Readable): Promise<{ stream: Readable; compression: Compression }> {
  const it = input[Symbol.asyncIterator]() as AsyncIterator<Buffer | string>;
  const head: Buffer[] = [];
  let headLen = 0;
  let ended = false;
  while (headLen < 4) {
    const r = await it.next();
    if (r.done) {
      ended = true;
      break;
    }
    const b = typeof r.value === 'string' ? Buffer.from(r.value) : r.value;
    head.push(b);
    headLen += b.length;
  }
  const compression = detectCompression(Buffer.concat(head));
  const raw = Readable.from(
    (async function* () {
      try {
        yield* head;
        if (ended) return;
        for (;;) {
          const r = await it.next();
          if (r.done) return;
          yield typeof r.value === 'string' ? Buffer.from(r.value) : r.value;
        }
      } finally {
        // Runs when raw is destroyed early too: the input is not left paused and open.
        await it.return?.();
      }
    })(),
    { objectMode: false },
  );
  // Every stream made here keeps an error listener of its own (see withLateErrorsHeard).
  withLateErrorsHeard(raw);
  if (compression === 'none') return { stream: raw, compression };
  const decoder: Transform = compression === 'gzip' ? createGunzip() : new ZstdDecompressStream();
  withLateErrorsHeard(decoder);
  raw.once('error', (e) => decoder.destroy(e));
  raw.pipe(decoder);
  let out: Readable = decoder;
  if (compression === 'gzip') {
    // zlib's own errors carry codes like Z_DATA_ERROR; make them a user-facing kind.
    const mapped = new Transform({ transform: (c, _e, cb) => cb(null, c) });
    withLateErrorsHeard(mapped);
    decoder.once('error', (e: NodeJS.ErrnoException) => mapped.destroy(e.code?.startsWith('Z_') ? invalidArgument(`gzip data is corrupt or truncated: ${e.message}`, e) : e));
    decoder.pipe(mapped);
    out = mapped;
  }
  out.once('close', () => {
    if (!raw.destroyed) raw.destroy();
  });
  return { stream: out, compression };
}

/** A Transform over fzstd's streaming decoder. */
export class ZstdDecompressStream extends Transform {
  // fzstd is loaded with the first zstd stream: most daemons never see one (issue 14, idle memory).
  private readonly decoder: ZstdDecoder = new (require('fzstd') as typeof import('fzstd')).Decompress((data) => {
    // fzstd may hand out views of its window buffer: copy before it is reused.
    if (data.length > 0) this.push(Buffer.from(data));
  });
  private sawInput = false;

  override _transform(chunk: Buffer, _enc: BufferEncoding, cb: TransformCallback): void {
    try {
      if (chunk.length > 0) this.sawInput = true;
      this.decoder.push(chunk);
      cb();
    } catch (e) {
      cb(invalidArgument(`zstd data is corrupt: ${(e as Error).message}`, e));
    }
  }

  override _flush(cb: TransformCallback): void {
    try {
      if (this.sawInput) this.decoder.push(new Uint8Array(0), true);
      cb();
    } catch (e) {
      cb(invalidArgument(`zstd data is corrupt or truncated: ${(e as Error).message}`, e));
    }
  }
}
