/**
 * Go gRPC clients of the kubelet's era (crictl, critest 1.26) send the unix socket's
 * path as the HTTP/2 `:authority` (`/run/berth/cri.sock`); Node's HTTP/2 server
 * (nghttp2) refuses such a request with PROTOCOL_ERROR, since `/` cannot appear in an
 * authority. Every connection to the CRI socket therefore passes through this
 * filter: frames from the client are forwarded as they are, except header blocks,
 * which are decoded (HPACK, with the client's dynamic table), given the authority
 * `localhost` when theirs is not a valid one, and encoded again for the server as plain
 * literals (no table, no Huffman coding: the block is a few hundred bytes on a local
 * socket, and the encoding is a copy). Frames from the server go back untouched, the
 * frames of one write of the server's HTTP/2 session in one write to the socket.
 *
 * A header block (HEADERS and its CONTINUATIONs) larger than MAX_HEADER_BLOCK is a
 * connection error: the client gets GOAWAY (ENHANCE_YOUR_CALM) and the connection closes.
 */
import { Duplex } from 'node:stream';
import type { Socket } from 'node:net';
// hpack.js has no type declarations: the few calls made here are typed below.
const hpack = require('hpack.js') as HpackModule;

interface HeaderField {
  name: string;
  value: string;
  /** Sent as "never indexed" (§6.2.3), as the client marked it. */
  neverIndex?: boolean;
}
interface HpackModule {
  decompressor: { create(o: { table: { size: number } }): { write(b: Buffer): void; execute(): void; read(): HeaderField | null } };
}

const PREFACE_LEN = 24;
const T_HEADERS = 0x1;
const T_GOAWAY = 0x7;
const T_CONTINUATION = 0x9;
const ENHANCE_YOUR_CALM = 0xb;
const F_END_STREAM = 0x1;
const F_END_HEADERS = 0x4;
const F_PADDED = 0x8;
const F_PRIORITY = 0x20;
const MAX_FRAME = 16384;
/** As for SPDY (spdy.ts): gRPC's header blocks are a few KiB. */
const MAX_HEADER_BLOCK = 1 << 20;
const VALID_AUTHORITY = /^[A-Za-z0-9\-._~!$&'()*+,;=:%[\]@]*$/;

/** An HPACK integer with an N-bit prefix (RFC 7541 §5.1), the prefix's other bits zero. */
function hpackInt(value: number, prefixBits: number, out: number[]): void {
  const max = (1 << prefixBits) - 1;
  if (value < max) {
    out.push(value);
    return;
  }
  out.push(max);
  for (value -= max; value >= 128; value = Math.floor(value / 128)) out.push((value % 128) + 128);
  out.push(value);
}

/**
 * A header block of literal fields with new names, not indexed (§6.2.2, or never
 * indexed, §6.2.3), with raw (not Huffman-coded) strings: the decoder on the other side
 * keeps no state for it. Strings are bytes as hpack.js decodes them (one char per byte).
 */
export function encodeLiterals(fields: readonly HeaderField[]): Buffer {
  const parts: Buffer[] = [];
  for (const f of fields) {
    const name = Buffer.from(f.name, 'latin1');
    const value = Buffer.from(f.value, 'latin1');
    const head: number[] = [f.neverIndex ? 0x10 : 0];
    hpackInt(name.length, 7, head);
    parts.push(Buffer.from(head), name);
    const len: number[] = [];
    hpackInt(value.length, 7, len);
    parts.push(Buffer.from(len), value);
  }
  return Buffer.concat(parts);
}

export function authorityFilter(socket: Socket): Duplex {
  const decoder = hpack.decompressor.create({ table: { size: 4096 } });
  let pending: Buffer = Buffer.alloc(0);
  let prefaceLeft = PREFACE_LEN;
  // A header block being collected: its stream, flags, priority bytes, fragments and their size.
  let block: { stream: number; flags: number; priority: Buffer | null; parts: Buffer[]; size: number } | null = null;
  // The highest stream whose headers went to the server, for GOAWAY.
  let lastStream = 0;
  let failed = false;

  // A write is done for the session as soon as the socket took it (unless the socket asks to
  // wait for 'drain'): a unary answer's trailers follow its message only once the message's
  // write is done, and the socket's own callback would come a turn of the event loop later.
  // A failed write destroys the socket, and with it the session.
  const send = (chunk: Buffer, cb: (err?: Error | null) => void) => {
    // After a GOAWAY of ours the server's last words are dropped.
    if (failed) return cb();
    if (socket.write(chunk)) cb();
    else socket.once('drain', () => cb());
  };

  const out = new Duplex({
    read() {
      socket.resume();
    },
    write(chunk: Buffer, _enc, cb) {
      send(chunk, cb);
    },
    // The frames of one write of the session (it corks this stream): one write to the socket.
    writev(chunks, cb) {
      send(chunks.length === 1 ? chunks[0]!.chunk : Buffer.concat(chunks.map((c) => c.chunk as Buffer)), cb);
    },
    final(cb) {
      socket.end();
      cb();
    },
    destroy(err, cb) {
      socket.destroy();
      cb(err);
    },
  });

  const frame = (type: number, flags: number, stream: number, payload: Buffer): Buffer => {
    const h = Buffer.alloc(9);
    h.writeUIntBE(payload.length, 0, 3);
    h[3] = type;
    h[4] = flags;
    h.writeUInt32BE(stream & 0x7fffffff, 5);
    return Buffer.concat([h, payload]);
  };

  const goAway = (msg: string) => {
    failed = true;
    pending = Buffer.alloc(0);
    block = null;
    const payload = Buffer.alloc(8 + Buffer.byteLength(msg));
    payload.writeUInt32BE(lastStream, 0);
    payload.writeUInt32BE(ENHANCE_YOUR_CALM, 4);
    payload.write(msg, 8);
    // A peer that does not read the GOAWAY is not waited for long.
    const timer = setTimeout(() => socket.destroy(), 1000);
    timer.unref();
    socket.end(frame(T_GOAWAY, 0, 0, payload), () => {
      clearTimeout(timer);
      socket.destroy();
    });
  };

  const reencode = (b: NonNullable<typeof block>): Buffer => {
    decoder.write(Buffer.concat(b.parts));
    decoder.execute();
    const fields: HeaderField[] = [];
    for (let f = decoder.read(); f; f = decoder.read()) fields.push({ name: f.name, value: f.value, neverIndex: f.neverIndex });
    for (const f of fields) if (f.name === ':authority' && !VALID_AUTHORITY.test(f.value)) f.value = 'localhost';
    let body = encodeLiterals(fields);
    const frames: Buffer[] = [];
    let first = true;
    do {
      const room = MAX_FRAME - (first && b.priority ? 5 : 0);
      const part = body.subarray(0, room);
      body = body.subarray(part.length);
      const last = body.length === 0;
      if (first) {
        const flags = (b.flags & F_END_STREAM) | (b.priority ? F_PRIORITY : 0) | (last ? F_END_HEADERS : 0);
        frames.push(frame(T_HEADERS, flags, b.stream, b.priority ? Buffer.concat([b.priority, part]) : part));
      } else frames.push(frame(T_CONTINUATION, last ? F_END_HEADERS : 0, b.stream, part));
      first = false;
    } while (body.length);
    return Buffer.concat(frames);
  };

  socket.on('data', (d: Buffer) => {
    if (failed) return;
    const outs: Buffer[] = [];
    pending = pending.length ? Buffer.concat([pending, d]) : d;
    if (prefaceLeft > 0) {
      const n = Math.min(prefaceLeft, pending.length);
      outs.push(pending.subarray(0, n));
      pending = pending.subarray(n);
      prefaceLeft -= n;
    }
    try {
      while (prefaceLeft === 0 && pending.length >= 9) {
        const len = pending.readUIntBE(0, 3);
        const type = pending[3]!;
        // Refused as soon as the frame's length is known, before it is read.
        const blockSize = type === T_HEADERS ? len : type === T_CONTINUATION && block ? block.size + len : 0;
        if (blockSize > MAX_HEADER_BLOCK) return goAway(`header block larger than ${MAX_HEADER_BLOCK} bytes`);
        if (pending.length < 9 + len) break;
        const flags = pending[4]!;
        const stream = pending.readUInt32BE(5) & 0x7fffffff;
        const whole = pending.subarray(0, 9 + len);
        let payload = pending.subarray(9, 9 + len);
        pending = pending.subarray(9 + len);
        if (type === T_HEADERS) {
          let priority: Buffer | null = null;
          if (flags & F_PADDED) {
            const pad = payload[0]!;
            payload = payload.subarray(1, payload.length - pad);
          }
          if (flags & F_PRIORITY) {
            priority = Buffer.from(payload.subarray(0, 5));
            payload = payload.subarray(5);
          }
          block = { stream, flags, priority, parts: [Buffer.from(payload)], size: len };
        } else if (type === T_CONTINUATION && block) {
          block.parts.push(Buffer.from(payload));
          block.size += len;
        } else {
          outs.push(whole);
          continue;
        }
        if (flags & F_END_HEADERS) {
          outs.push(reencode(block));
          lastStream = Math.max(lastStream, block.stream);
          block = null;
        }
      }
    } catch (err) {
      out.destroy(err as Error);
      return;
    }
    if (outs.length && !out.push(Buffer.concat(outs))) socket.pause();
  });
  socket.on('end', () => out.push(null));
  socket.on('error', (err) => out.destroy(err));
  socket.on('close', () => out.destroy());
  return out;
}
