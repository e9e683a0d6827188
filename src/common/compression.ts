/**
 * Layer and archive compression: detection by magic bytes and streaming
 * decompression of gzip (node's zlib), zstd (fzstd, a pure-JS streaming
 * decoder: node 20's zlib has no zstd, and the native bindings need build or
 * download steps at install time), and bzip2 and xz through the host's `bzip2` and
 * `xz` programs (as dockerd runs `xz` for xz). One module for image/ (archives,
 * blobs), storage/ (layer apply) and build/ (contexts, ADD), so all accept the same
 * formats: those dockerd's archive code takes.
 */
import { spawn } from 'node:child_process';
import { PassThrough, Readable, Transform, type TransformCallback } from 'node:stream';
import { createGunzip } from 'node:zlib';
import type { Decompress as ZstdDecoder } from 'fzstd';
import { invalidArgument } from './errors';
import { withLateErrorsHeard } from './streams';

export type Compression = 'none' | 'gzip' | 'zstd' | 'bzip2' | 'xz';

const GZIP_MAGIC = Buffer.from([0x1f, 0x8b]);
const ZSTD_MAGIC = Buffer.from([0x28, 0xb5, 0x2f, 0xfd]);
const BZIP2_MAGIC = Buffer.from('BZh');
const XZ_MAGIC = Buffer.from([0xfd, 0x37, 0x7a, 0x58, 0x5a, 0x00]);
/** The bytes detectCompression needs to see: the longest magic. */
export const MAGIC_BYTES = 6;

/** The compression the first bytes of a stream announce ('none' when no magic matches). */
export function detectCompression(head: Buffer): Compression {
  const starts = (magic: Buffer) => head.length >= magic.length && head.subarray(0, magic.length).equals(magic);
  if (starts(GZIP_MAGIC)) return 'gzip';
  if (starts(ZSTD_MAGIC)) return 'zstd';
  if (starts(BZIP2_MAGIC)) return 'bzip2';
  if (starts(XZ_MAGIC)) return 'xz';
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
  while (headLen < MAGIC_BYTES) {
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
  if (compression === 'bzip2' || compression === 'xz') return { stream: decompressWithTool(compression, raw), compression };
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

/** The most memory xz may take to decompress one stream. */
const XZ_MEMORY_LIMIT = '512MiB';

/** The Debian package of each program decompressStream runs. */
const TOOL_PACKAGE = { bzip2: 'bzip2', xz: 'xz-utils' } as const;

/**
 * `raw` through `tool -d -c -q`: the program's output, ended when it exits 0. Its failure
 * (corrupt or truncated data) is an invalid-argument error of the output, with what the
 * program said; an error of `raw` is passed on as the same object. Destroying the output
 * early kills the program and releases `raw`.
 */
function decompressWithTool(tool: 'bzip2' | 'xz', raw: Readable): Readable {
  const out = new PassThrough();
  withLateErrorsHeard(out);
  // A hostile xz header may ask for a dictionary of gigabytes: xz refuses past this (its
  // presets need at most 65 MiB). bzip2's memory is bounded by its format (under 4 MiB).
  const args = tool === 'xz' ? ['-d', '-c', '-q', `--memlimit-decompress=${XZ_MEMORY_LIMIT}`] : ['-d', '-c', '-q'];
  const child = spawn(tool, args, { stdio: ['pipe', 'pipe', 'pipe'] });
  let said = '';
  child.stderr.on('data', (d: Buffer) => {
    if (said.length < 1024) said += d.toString();
  });
  child.stdin.on('error', () => undefined);
  child.stdout.on('error', () => undefined);
  raw.once('error', (e) => {
    out.destroy(e);
    child.kill('SIGKILL');
  });
  raw.pipe(child.stdin);
  child.stdout.pipe(out, { end: false });
  child.once('error', (e: NodeJS.ErrnoException) => {
    out.destroy(e.code === 'ENOENT' ? invalidArgument(`${tool}-compressed data needs the ${tool} program on the daemon's host (apt-get install ${TOOL_PACKAGE[tool]})`, e) : e);
  });
  child.once('close', (code, signal) => {
    if (out.destroyed) return;
    if (code === 0) {
      out.end();
      return;
    }
    // The program's first line says what was wrong (bzip2 goes on with advice for its own users).
    const why = said.trim().split('\n')[0] || (signal ? `${tool} was killed by ${signal}` : `${tool} exited with ${code}`);
    out.destroy(invalidArgument(`${tool} data is corrupt or truncated: ${why}`));
  });
  out.once('close', () => {
    if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
    if (!raw.destroyed) raw.destroy();
  });
  return out;
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
