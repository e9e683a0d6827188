import assert from 'node:assert/strict';
import { Readable } from 'node:stream';
import { test } from 'node:test';
import * as tarStream from 'tar-stream';
import { BerthError } from '../common';
import { encodeHeader, endOfArchive, padding } from './tar-writer';
import { makeTar } from './tar-fixtures';
import { mapTarOwners } from './tar-owners';

const back = { uid: (id: number) => (id >= 100000 ? id - 100000 : 65534), gid: (id: number) => (id >= 200000 ? id - 200000 : 65534) };

async function pipeThrough(tar: Buffer, chunk = 97): Promise<Buffer> {
  const parts: Buffer[] = [];
  for (let i = 0; i < tar.length; i += chunk) parts.push(tar.subarray(i, i + chunk));
  const out: Buffer[] = [];
  for await (const c of Readable.from(parts).pipe(mapTarOwners(back))) out.push(c as Buffer);
  return Buffer.concat(out);
}

async function entries(tar: Buffer): Promise<Array<{ name: string; uid: number; gid: number; data: string; pax: Record<string, string> }>> {
  const ex = tarStream.extract();
  const out: Array<{ name: string; uid: number; gid: number; data: string; pax: Record<string, string> }> = [];
  const done = (async () => {
    for await (const e of ex) {
      const chunks: Buffer[] = [];
      for await (const c of e) chunks.push(c as Buffer);
      out.push({ name: e.header.name, uid: e.header.uid ?? -1, gid: e.header.gid ?? -1, data: Buffer.concat(chunks).toString(), pax: (e.header.pax ?? {}) as Record<string, string> });
    }
  })();
  ex.end(tar);
  await done;
  return out;
}

test('mapTarOwners maps ustar owners, keeps names, data and types, across any chunking', async () => {
  const tar = await makeTar([
    { name: 'dir/', type: 'directory', uid: 100000, gid: 200000 },
    { name: 'dir/file', data: 'x'.repeat(1000), uid: 101000, gid: 200050 },
    { name: 'dir/link', type: 'symlink', linkname: 'file', uid: 5, gid: 5 },
  ]);
  for (const chunk of [1, 97, 512, 100000]) {
    const got = await entries(await pipeThrough(tar, chunk));
    assert.deepEqual(got.map((e) => [e.name, e.uid, e.gid, e.data.length]), [
      ['dir/', 0, 0, 0],
      ['dir/file', 1000, 50, 1000],
      ['dir/link', 65534, 65534, 0],
    ]);
    assert.equal(got[1]!.data, 'x'.repeat(1000));
  }
});

test('mapTarOwners rewrites PAX uid/gid records and keeps binary xattrs', async () => {
  // tar-writer puts ids above the octal range into PAX records, with 0 in the ustar field.
  const big = 3_000_000;
  const map = { uid: (id: number) => id - 2_900_000, gid: (id: number) => id };
  const h = encodeHeader({ name: 'f', type: 'file', mode: 0o644, uid: big, gid: 7, size: 3, mtime: 0, xattrs: new Map([['user.bin', Buffer.from([0, 1, 2, 255])]]) });
  const tar = Buffer.concat([h, Buffer.from('abc'), padding(3), endOfArchive()]);
  const out: Buffer[] = [];
  for await (const c of Readable.from([tar]).pipe(mapTarOwners(map))) out.push(c as Buffer);
  const got = await entries(Buffer.concat(out));
  assert.equal(got.length, 1);
  // tar-stream leaves PAX ids in header.pax; the ustar field stays 0 as the writer set it.
  assert.equal(got[0]!.pax.uid, '100000');
  assert.equal(got[0]!.uid, 0);
  assert.equal(got[0]!.gid, 7);
  assert.equal(got[0]!.data, 'abc');
  assert.ok('SCHILY.xattr.user.bin' in got[0]!.pax);
});

test('mapTarOwners refuses an id that does not fit a ustar field without PAX', async () => {
  const tar = await makeTar([{ name: 'f', data: 'a', uid: 1, gid: 1 }]);
  const up = mapTarOwners({ uid: () => 0o10000000, gid: (g) => g });
  await assert.rejects(
    (async () => {
      for await (const _ of Readable.from([tar]).pipe(up)) {
        // drain
      }
    })(),
    (e: unknown) => e instanceof BerthError && /does not fit a ustar header/.test(e.message),
  );
});
