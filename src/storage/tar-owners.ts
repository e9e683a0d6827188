/**
 * Rewrites the owners of every entry of a tar stream, leaving all else byte for byte:
 * with user-namespace remapping, files on disk belong to shifted host ids, and a layer
 * or export written from them must carry the ids the container saw (dockerd does the
 * same when it commits or exports under --userns-remap).
 *
 * Contract
 * - Input: a ustar/PAX tar (what tar-writer.ts and tar-stream write). Each header's
 *   uid/gid fields (octal or GNU base-256) go through `map.uid`/`map.gid`; PAX `uid`
 *   and `gid` records too (the PAX header is rebuilt with its new length), and then the
 *   ustar field of the entry they cover is left alone. Checksums are recomputed.
 * - A mapped id too large for the 7-digit octal field is written as a PAX record when
 *   the entry has a PAX header of its own, else refused (invalid-argument). Mapping
 *   host ids back to container ids only makes them smaller, so this does not happen
 *   for that use.
 * - A stream that ends inside an entry is passed on as it is (the reader reports it).
 */
import { Transform, type TransformCallback } from 'node:stream';
import { invalidArgument } from '../common';

export interface OwnerMap {
  uid(id: number): number;
  gid(id: number): number;
}

const BLOCK = 512;
const MAX_OCTAL_7 = 0o7777777;

function readNumber(b: Buffer, off: number, len: number): number {
  if (b[off]! & 0x80) {
    // GNU base-256: big-endian, top bit of the first byte set.
    let n = b[off]! & 0x7f;
    for (let i = 1; i < len; i++) n = n * 256 + b[off + i]!;
    return n;
  }
  const s = b.toString('latin1', off, off + len).replace(/[\0 ]+$/, '').replace(/^[\0 ]+/, '');
  return s === '' ? 0 : Number.parseInt(s, 8);
}

function writeOctal(b: Buffer, off: number, value: number): void {
  b.write(`${value.toString(8).padStart(7, '0')}\0`, off, 'latin1');
}

function setChecksum(b: Buffer): void {
  b.fill(0x20, 148, 156);
  let sum = 0;
  for (let i = 0; i < BLOCK; i++) sum += b[i]!;
  b.write(`${sum.toString(8).padStart(6, '0')}\0 `, 148, 'latin1');
}

/** PAX records as [key, raw value] pairs (values may be binary: xattrs). */
function parsePax(body: Buffer): Array<[string, Buffer]> {
  const out: Array<[string, Buffer]> = [];
  let i = 0;
  while (i < body.length) {
    const sp = body.indexOf(0x20, i);
    if (sp < 0) break;
    const len = Number.parseInt(body.toString('latin1', i, sp), 10);
    if (!Number.isSafeInteger(len) || len <= 0 || i + len > body.length) break;
    const rec = body.subarray(sp + 1, i + len - 1); // drop the trailing newline
    const eq = rec.indexOf(0x3d);
    if (eq >= 0) out.push([rec.toString('utf8', 0, eq), rec.subarray(eq + 1)]);
    i += len;
  }
  return out;
}

function paxRecord(key: string, value: Buffer): Buffer {
  const body = Buffer.concat([Buffer.from(` ${key}=`, 'utf8'), value, Buffer.from('\n')]);
  let len = body.length + 1;
  while (String(len).length + body.length !== len) len = String(len).length + body.length;
  return Buffer.concat([Buffer.from(String(len)), body]);
}

const padTo = (n: number) => Math.ceil(n / BLOCK) * BLOCK;

export function mapTarOwners(map: OwnerMap): Transform {
  let buf: Buffer = Buffer.alloc(0);
  /** Bytes of entry data (with padding) still to pass through untouched. */
  let skip = 0;
  let ended = false;
  /** The last PAX header set uid/gid for the next entry. */
  let paxOwner = { uid: false, gid: false };

  const step = (push: (b: Buffer) => void): boolean => {
    if (skip > 0 || ended) {
      const n = ended ? buf.length : Math.min(skip, buf.length);
      if (n === 0) return false;
      push(buf.subarray(0, n));
      buf = buf.subarray(n);
      if (!ended) skip -= n;
      return true;
    }
    if (buf.length < BLOCK) return false;
    const h = Buffer.from(buf.subarray(0, BLOCK));
    if (h.every((x) => x === 0)) {
      ended = true; // end-of-archive blocks: the rest passes through
      return true;
    }
    const type = String.fromCharCode(h[156]!);
    const size = readNumber(h, 124, 12);
    if (type === 'x') {
      const total = BLOCK + padTo(size);
      if (buf.length < total) return false;
      const records = parsePax(buf.subarray(BLOCK, BLOCK + size)).map(([k, v]): [string, Buffer] => {
        if (k === 'uid' || k === 'gid') return [k, Buffer.from(String(map[k](Number(v.toString('latin1')))))];
        return [k, v];
      });
      paxOwner = { uid: records.some(([k]) => k === 'uid'), gid: records.some(([k]) => k === 'gid') };
      const body = Buffer.concat(records.map(([k, v]) => paxRecord(k, v)));
      h.write(`${body.length.toString(8).padStart(11, '0')}\0`, 124, 'latin1');
      setChecksum(h);
      push(Buffer.concat([h, body, Buffer.alloc(padTo(body.length) - body.length)]));
      buf = buf.subarray(total);
      return true;
    }
    if (type !== 'g') {
      for (const [key, off] of [['uid', 108], ['gid', 116]] as const) {
        if (paxOwner[key]) continue;
        const id = map[key](readNumber(h, off, 8));
        if (id > MAX_OCTAL_7) throw invalidArgument(`tar entry owner ${key} ${id} does not fit a ustar header`);
        writeOctal(h, off, id);
      }
      setChecksum(h);
      paxOwner = { uid: false, gid: false };
    }
    push(h);
    buf = buf.subarray(BLOCK);
    skip = padTo(size);
    return true;
  };

  return new Transform({
    transform(chunk: Buffer, _enc, cb: TransformCallback) {
      buf = buf.length ? Buffer.concat([buf, chunk]) : chunk;
      try {
        while (step((b) => this.push(b)));
        cb();
      } catch (e) {
        cb(e as Error);
      }
    },
    flush(cb: TransformCallback) {
      if (buf.length) this.push(buf);
      cb();
    },
  });
}
