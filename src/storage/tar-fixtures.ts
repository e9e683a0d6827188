/**
 * Builds small layer tars in memory for tests (named after their case in each test).
 * Not part of the public surface.
 */
import * as tarStream from 'tar-stream';

export type FixtureEntry = Partial<tarStream.Header> & { name: string; data?: string | Buffer; pax?: Record<string, string> };

export async function makeTar(entries: FixtureEntry[]): Promise<Buffer> {
  const pack = tarStream.pack();
  const chunks: Buffer[] = [];
  const done = (async () => {
    for await (const c of pack) chunks.push(c as Buffer);
  })();
  for (const e of entries) {
    const { data, ...header } = e;
    await new Promise<void>((resolve, reject) => {
      const cb = (err?: Error | null) => (err ? reject(err) : resolve());
      if (data !== undefined) pack.entry({ mtime: new Date(1_600_000_000_000), ...header }, data, cb);
      else pack.entry({ mtime: new Date(1_600_000_000_000), ...header }, cb);
    });
  }
  pack.finalize();
  await done;
  return Buffer.concat(chunks);
}

/** One raw ustar header block (tar-stream cannot write binary PAX values). */
export function rawHeader(name: string, typeflag: string, size: number): Buffer {
  const b = Buffer.alloc(512);
  b.write(name, 0, 'latin1');
  b.write('0000644\0', 100, 'latin1');
  b.write('0000000\0', 108, 'latin1');
  b.write('0000000\0', 116, 'latin1');
  b.write(size.toString(8).padStart(11, '0') + '\0', 124, 'latin1');
  b.write('14337060000\0', 136, 'latin1');
  b.write('        ', 148, 'latin1');
  b.write(typeflag, 156, 'latin1');
  b.write('ustar\0', 257, 'latin1');
  b.write('00', 263, 'latin1');
  let sum = 0;
  for (const x of b) sum += x;
  b.write(sum.toString(8).padStart(6, '0') + '\0 ', 148, 'latin1');
  return b;
}

export function padBlock(data: Buffer): Buffer {
  const pad = (512 - (data.length % 512)) % 512;
  return Buffer.concat([data, Buffer.alloc(pad)]);
}

/** A PAX record "<len> key=value\n" with a binary value. */
export function paxRecord(key: string, value: Buffer): Buffer {
  const body = Buffer.concat([Buffer.from(` ${key}=`, 'latin1'), value, Buffer.from('\n')]);
  let len = body.length + 1;
  while (String(len).length + body.length !== len) len = String(len).length + body.length;
  return Buffer.concat([Buffer.from(String(len)), body]);
}
