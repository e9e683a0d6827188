/**
 * Docker's multiplexed stream framing (attach, exec, logs without a TTY):
 * an 8-byte header [stream, 0, 0, 0, size (uint32 big-endian)] before each payload.
 */
export const enum StreamType {
  Stdin = 0,
  Stdout = 1,
  Stderr = 2,
  System = 3,
}

export const MULTIPLEXED = 'application/vnd.docker.multiplexed-stream';
export const RAW_STREAM = 'application/vnd.docker.raw-stream';

export function frame(stream: StreamType, payload: Buffer | string): Buffer {
  const body = typeof payload === 'string' ? Buffer.from(payload) : payload;
  const header = Buffer.alloc(8);
  header[0] = stream;
  header.writeUInt32BE(body.length, 4);
  return Buffer.concat([header, body]);
}

export interface Frame {
  stream: StreamType;
  payload: Buffer;
}

/**
 * Incremental decoder: push chunks as they arrive, get whole frames back.
 * A frame split across chunks is held until complete; an unknown stream type throws.
 */
export class FrameDecoder {
  private buf: Buffer = Buffer.alloc(0);

  push(chunk: Buffer): Frame[] {
    this.buf = this.buf.length ? Buffer.concat([this.buf, chunk]) : chunk;
    const out: Frame[] = [];
    while (this.buf.length >= 8) {
      const type = this.buf[0]!;
      if (type > 3) throw new Error(`invalid stream type ${type} in multiplexed stream`);
      const size = this.buf.readUInt32BE(4);
      if (this.buf.length < 8 + size) break;
      out.push({ stream: type as StreamType, payload: this.buf.subarray(8, 8 + size) });
      this.buf = this.buf.subarray(8 + size);
    }
    return out;
  }

  /** Bytes of an incomplete frame still waiting for the rest. */
  get pending(): number {
    return this.buf.length;
  }
}
