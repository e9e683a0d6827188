import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Readable } from 'node:stream';
import * as tar from 'tar-stream';
import { MemTree, treeChecksum } from './source-tree';
import { BuildContext } from './context';
import { exposedPorts, parseDuration, parseMount } from './instructions';

type E = { name: string; type?: 'file' | 'directory' | 'symlink' | 'link'; linkname?: string; data?: string; mode?: number };

async function tarOf(entries: E[], end = true): Promise<Buffer> {
  const pack = tar.pack();
  const chunks: Buffer[] = [];
  const done = (async () => {
    for await (const c of pack as unknown as AsyncIterable<Buffer>) chunks.push(c);
  })();
  for (const e of entries) {
    await new Promise<void>((res, rej) => {
      const cb = (err?: Error | null) => (err ? rej(err) : res());
      if (e.type && e.type !== 'file') pack.entry({ name: e.name, type: e.type, linkname: e.linkname ?? '', mode: e.mode ?? 0o755 }, cb);
      else pack.entry({ name: e.name, mode: e.mode ?? 0o644 }, Buffer.from(e.data ?? ''), cb);
    });
  }
  pack.finalize();
  await done;
  const all = Buffer.concat(chunks);
  return end ? all : all.subarray(0, all.length - 1024);
}

async function tree(entries: E[], end = true): Promise<MemTree> {
  const t = new MemTree(join(tmpdir(), 'unused-spill'));
  await t.load(Readable.from([await tarOf(entries, end)]));
  return t;
}

test('names that climb out are dropped; links resolve inside the context', async () => {
  const t = await tree([
    { name: '../../etc/evil', data: 'x' },
    { name: '/abs/file', data: 'abs' },
    { name: 'etc/passwd', data: 'ctx passwd' },
    { name: 'out', type: 'symlink', linkname: '/etc' },
    { name: 'up', type: 'symlink', linkname: '../../../../etc/passwd' },
  ]);
  assert.deepEqual(t.paths(), ['abs', 'abs/file', 'etc', 'etc/evil', 'etc/passwd', 'out', 'up']);
  assert.equal(t.readText('out/passwd'), 'ctx passwd');
  assert.equal(t.readText('up'), 'ctx passwd');
  assert.equal(t.resolve('../../out/../etc/passwd'), 'etc/passwd');
});

test('an entry below a link is refused; hardlinks must name an earlier file', async () => {
  await assert.rejects(tree([{ name: 'l', type: 'symlink', linkname: '/tmp' }, { name: 'l/x', data: 'through' }]), /lies below l, which is not a directory/);
  await assert.rejects(tree([{ name: 'h', type: 'link', linkname: '/etc/shadow' }]), /hard link/);
  const t = await tree([{ name: 'a', data: 'A' }, { name: 'b', type: 'link', linkname: 'a' }]);
  assert.equal(t.readText('b'), 'A');
});

test('a tar without its end blocks (Go writer not closed) still loads', async () => {
  const t = await tree([{ name: 'Dockerfile', data: 'FROM x\n' }], false);
  assert.equal(t.readText('Dockerfile'), 'FROM x\n');
});

test('long names: the ustar prefix and PAX records; big files spill to disk', async () => {
  const mid = `${'d'.repeat(90)}/${'e'.repeat(40)}`;
  const long = `${'a'.repeat(120)}/${'b'.repeat(150)}/file.txt`;
  const spill = mkdtempSync(join(tmpdir(), 'memtree-spill-'));
  try {
    const t = new MemTree(spill);
    const big = 'x'.repeat(3 << 20);
    await t.load(Readable.from([await tarOf([{ name: mid, data: 'mid' }, { name: long, data: 'long' }, { name: 'big.bin', data: big }])]));
    assert.equal(t.readText(mid), 'mid');
    assert.equal(t.readText(long), 'long');
    assert.equal(t.readText('big.bin')?.length, big.length);
    assert.equal(readdirSync(spill).length, 1);
  } finally {
    rmSync(spill, { recursive: true, force: true });
  }
  await assert.rejects(async () => {
    const t = new MemTree(tmpdir());
    await t.load(Readable.from([Buffer.alloc(512, 7)]));
  }, /not a valid tar/);
});

test('a link loop is an error, not a hang', async () => {
  const t = await tree([{ name: 'a', type: 'symlink', linkname: 'b' }, { name: 'b', type: 'symlink', linkname: 'a' }]);
  assert.throws(() => t.resolve('a'), /too many levels of symbolic links/);
});

test('wildcard sources, checksums that follow content and modes, and writing the tree out', async () => {
  const t = await tree([{ name: 'x.txt', data: '1' }, { name: 'y.txt', data: '2' }, { name: 'd/z.txt', data: '3' }]);
  assert.deepEqual(t.sources('*.txt').map((s) => s.rel), ['x.txt', 'y.txt']);
  assert.deepEqual(t.sources('d/*').map((s) => s.key), ['d/z.txt']);
  assert.throws(() => t.sources('nope'), /file not found in build context/);
  const a = await treeChecksum(t, t.sources('.'));
  const t2 = await tree([{ name: 'x.txt', data: '1' }, { name: 'y.txt', data: '2!' }, { name: 'd/z.txt', data: '3' }]);
  const t3 = await tree([{ name: 'x.txt', data: '1', mode: 0o755 }, { name: 'y.txt', data: '2' }, { name: 'd/z.txt', data: '3' }]);
  assert.notEqual(await treeChecksum(t2, t2.sources('.')), a);
  assert.notEqual(await treeChecksum(t3, t3.sources('.')), a);
  assert.equal(await treeChecksum(t, t.sources('.')), a);
  const dir = mkdtempSync(join(tmpdir(), 'memtree-'));
  try {
    t.materialize(dir);
    assert.deepEqual(readdirSync(dir).sort(), ['d', 'x.txt', 'y.txt']);
    assert.equal(readFileSync(join(dir, 'd', 'z.txt'), 'utf8'), '3');
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test('RUN --mount, EXPOSE and durations', () => {
  assert.deepEqual(parseMount('type=cache,target=/c,id=x,sharing=locked,uid=1,mode=0700'), { type: 'cache', target: '/c', id: 'x', sharing: 'locked', readonly: false, mode: 0o700, uid: 1 });
  assert.deepEqual(parseMount('target=/m,source=data,from=build'), { type: 'bind', target: '/m', source: 'data', from: 'build', sharing: 'shared', readonly: true });
  assert.throws(() => parseMount('type=cache'), /needs a target/);
  assert.throws(() => parseMount('type=secret,target=/s'), /not supported/);
  assert.throws(() => parseMount('type=cache,target=/c,bogus=1'), /unexpected key 'bogus'/);
  assert.deepEqual(exposedPorts(['80', '53/udp', '8000-8002']), ['80/tcp', '53/udp', '8000/tcp', '8001/tcp', '8002/tcp']);
  assert.throws(() => exposedPorts(['http']), /invalid containerPort: http/);
  assert.equal(parseDuration('interval', '1m30s'), 90e9);
  assert.equal(parseDuration('interval', '250ms'), 250e6);
  assert.throws(() => parseDuration('interval', '5x'), /invalid duration/);
});

test('a context that arrives in pieces smaller than a tar header is still read as a tar', async () => {
  const bytes = await tarOf([{ name: 'Dockerfile', data: 'FROM busybox\n' }, { name: 'f.txt', data: 'x' }]);
  const pieces: Buffer[] = [];
  for (let o = 0; o < bytes.length; o += 100) pieces.push(bytes.subarray(o, o + 100));
  const tmp = mkdtempSync(join(tmpdir(), 'berth-ctx-'));
  try {
    const ctx = await BuildContext.open(Readable.from(pieces), tmp, 'Dockerfile');
    assert.equal(ctx.dockerfile, 'FROM busybox\n');
    assert.equal(ctx.tree.readText('f.txt'), 'x');
    await ctx.close();
  } finally {
    rmSync(tmp, { recursive: true, force: true });
  }
});
