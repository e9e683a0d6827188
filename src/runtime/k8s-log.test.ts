import { test } from 'node:test';
import assert from 'node:assert/strict';
import { appendFileSync, mkdtempSync, readdirSync, readFileSync, renameSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { gzipSync } from 'node:zlib';
import { closeLogs, LogFollower, openLog, openLogSet, parseLogLine, readyLog, scanLogFd, tailLines, type LogEntry } from './k8s-log';

/** The entries of `path` from `offset` on, and the offset after the last complete line. */
async function readLog(path: string, offset = 0): Promise<{ entries: LogEntry[]; end: number }> {
  const f = openLog(path);
  if (!f) return { entries: [], end: offset };
  try {
    const entries: LogEntry[] = [];
    const end = await scanLogFd(f.fd, offset, (e) => entries.push(e));
    return { entries, end };
  } finally {
    closeLogs([f]);
  }
}

/** Where the last `n` lines of `path` start (0 for a missing file). */
async function tailStart(path: string, n: number, end: number): Promise<number> {
  const f = openLog(path);
  if (!f) return 0;
  try {
    return (await tailLines(f.fd, n, end)).start;
  } finally {
    closeLogs([f]);
  }
}

test('full and partial k8s-file lines', () => {
  const f = parseLogLine(Buffer.from('2026-11-23T15:14:03.737710848+00:00 stdout F hi there'))!;
  assert.equal(f.time, '2026-11-23T15:14:03.737710848Z');
  assert.equal(f.stream, 'stdout');
  assert.equal(f.data.toString(), 'hi there\n');
  const p = parseLogLine(Buffer.from('2026-11-23T15:14:03.737710848+00:00 stderr P abc'))!;
  assert.equal(p.data.toString(), 'abc');
  const empty = parseLogLine(Buffer.from('2026-11-23T15:14:03.737710848+00:00 stdout F'))!;
  assert.equal(empty.data.toString(), '\n');
  assert.equal(parseLogLine(Buffer.from('garbage')), undefined);
});

test('readLog stops at the last complete line and resumes from its offset', async (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'berth-log-'));
  t.after(() => rmSync(dir, { recursive: true, force: true }));
  const path = join(dir, 'log');
  writeFileSync(path, '2026-01-01T00:00:00.1+00:00 stdout F one\n2026-01-01T00:00:00.2+00:00 stderr F tw');
  const a = await readLog(path);
  assert.deepEqual(a.entries.map((e) => e.data.toString()), ['one\n']);
  appendFileSync(path, 'o\n');
  const b = await readLog(path, a.end);
  assert.deepEqual(b.entries.map((e) => [e.stream, e.data.toString()]), [['stderr', 'two\n']]);
  assert.deepEqual((await readLog(join(dir, 'missing'))).entries, []);
});

test('LogFollower delivers lines appended later, then drains', async (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'berth-log-'));
  t.after(() => rmSync(dir, { recursive: true, force: true }));
  const path = join(dir, 'log');
  writeFileSync(path, '2026-01-01T00:00:00.1+00:00 stdout F old\n');
  const got: LogEntry[] = [];
  const f = new LogFollower(path, 41, (e) => got.push(e));
  appendFileSync(path, '2026-01-01T00:00:00.2+00:00 stdout F new\n');
  await f.drain();
  assert.deepEqual(got.map((e) => e.data.toString()), ['new\n']);
});

test('tailStart finds where the last n lines begin, reading backward across blocks; P records go with their line', async (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'berth-log-'));
  t.after(() => rmSync(dir, { recursive: true, force: true }));
  const path = join(dir, 'log');
  const rec = (i: number, tag = 'F', text = `line ${i}`) => `2026-01-01T00:00:00.${i}+00:00 stdout ${tag} ${text}\n`;
  // Enough records to span many 64 KiB blocks, a long line split in P records, and an unfinished last record.
  let body = '';
  for (let i = 0; i < 5000; i++) body += rec(i, 'F', `line ${i} ${'x'.repeat(i % 97)}`);
  body += rec(5000, 'P', 'part one, ') + rec(5000, 'P', 'part two, ') + rec(5000, 'F', 'the end');
  writeFileSync(path, body + '2026-01-01T00:00:01.0+00:00 stdout F unfinish');
  const size = Buffer.byteLength(body) + Buffer.byteLength('2026-01-01T00:00:01.0+00:00 stdout F unfinish');
  const linesFrom = async (start: number) => {
    const out: string[] = [];
    const f = openLog(path)!;
    await scanLogFd(f.fd, start, (e) => out.push(e.data.toString()), size);
    closeLogs([f]);
    return out.join('').split('\n').filter(Boolean);
  };
  assert.deepEqual(await linesFrom(await tailStart(path, 1, size)), ['part one, part two, the end']);
  const three = await linesFrom(await tailStart(path, 3, size));
  assert.deepEqual(three.map((l) => l.split(' ').slice(0, 2).join(' ')), ['line 4998', 'line 4999', 'part one,']);
  assert.equal((await linesFrom(await tailStart(path, 2000, size))).length, 2000);
  // The first block read is sized for the lines asked for: records cut by its edge still count once.
  const all = await linesFrom(0);
  for (const n of [15, 16, 17, 40, 255, 256, 257]) assert.deepEqual(await linesFrom(await tailStart(path, n, size)), all.slice(-n), `tail ${n}`);
  // More lines asked for than there are: from the start.
  assert.equal(await tailStart(path, 100000, size), 0);
  assert.equal(await tailStart(path, 0, size), size);
  assert.equal(await tailStart(join(dir, 'missing'), 5, 0), 0);
});

/** A full k8s-file record of `s` on stdout. */
const rec = (s: string) => `2026-01-01T00:00:00.1+00:00 stdout F ${s}\n`;

/** The lines of the log file open as `fd`, from its start. */
async function textOf(fd: number): Promise<string[]> {
  const out: string[] = [];
  await scanLogFd(fd, 0, (e) => out.push(e.data.toString().trim()));
  return out;
}

test('openLogSet opens the rotated files oldest first, then the current one; tailLines counts what it found', async (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'berth-log-'));
  t.after(() => rmSync(dir, { recursive: true, force: true }));
  const path = join(dir, 'log');
  writeFileSync(`${path}.2`, rec('a') + rec('b'));
  writeFileSync(`${path}.1`, rec('c'));
  writeFileSync(`${path}.4`, rec('not in the unbroken run from .1'));
  writeFileSync(path, rec('d') + rec('e'));
  const { rotated, current } = openLogSet(path);
  t.after(() => closeLogs([current, ...rotated]));
  assert.deepEqual(await Promise.all(rotated.map((f) => textOf(f.fd))), [['a', 'b'], ['c']]);
  assert.deepEqual(await textOf(current!.fd), ['d', 'e']);
  assert.deepEqual(await tailLines(current!.fd, 5, current!.size), { start: 0, lines: 2 });
  assert.deepEqual(await tailLines(current!.fd, 1, current!.size), { start: rec('d').length, lines: 1 });
});

/** `text` gzipped as berth-logrotate.so writes it: the header's comment names the plain file's key. */
function gzLikeTheRotator(text: string, key: string): Buffer {
  const plain = gzipSync(text);
  return Buffer.concat([Buffer.from([0x1f, 0x8b, 8, 0x10, 0, 0, 0, 0, 0, 3]), Buffer.from(`berth-log-key:${key}\0`, 'latin1'), plain.subarray(10)]);
}

test('openLogSet reads kept files gzipped as <log>.I.gz (the plain name first), keyed as the plain file they were; a follower reads a compressed file it read plain only once', async (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'berth-log-'));
  t.after(() => rmSync(dir, { recursive: true, force: true }));
  const path = join(dir, 'log');
  writeFileSync(`${path}.2.gz`, gzLikeTheRotator(rec('a') + rec('b'), '11:22'));
  writeFileSync(`${path}.1`, rec('c'));
  writeFileSync(`${path}.1.gz`, gzLikeTheRotator(rec('stale copy'), '33:44'));
  writeFileSync(path, rec('d'));
  const { rotated, current } = openLogSet(path);
  t.after(() => closeLogs([current, ...rotated]));
  await Promise.all(rotated.map((f) => readyLog(f)));
  assert.equal(rotated[0]!.key, '11:22');
  assert.equal(rotated[0]!.size, (rec('a') + rec('b')).length);
  assert.deepEqual(await Promise.all(rotated.map((f) => textOf(f.fd))), [['a', 'b'], ['c']]);
  // The decompressed text has no name in the directory.
  assert.deepEqual(readdirSync(dir).sort(), ['log', 'log.1', 'log.1.gz', 'log.2.gz']);

  // A follower at the end of `log`; it rotates to .1 and is compressed there (same key), then a new file.
  rmSync(`${path}.1.gz`);
  const got: string[] = [];
  const f = new LogFollower(path, 'end', (e) => got.push(e.data.toString().trim()));
  await f.poke();
  appendFileSync(path, rec('e'));
  const st = statSync(path, { bigint: true });
  renameSync(`${path}.1`, `${path}.2`);
  renameSync(path, `${path}.1`);
  writeFileSync(`${path}.1.gz`, gzLikeTheRotator(readFileSync(`${path}.1`, 'latin1'), `${st.ino}:${st.birthtimeNs}`));
  rmSync(`${path}.1`);
  writeFileSync(path, rec('f'));
  await f.drain();
  assert.deepEqual(got, ['e', 'f']);
});

test('readyLog decompresses a gzipped kept file while the event loop goes on; a broken one is refused with its name; closing during it waits for it', async (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'berth-log-'));
  t.after(() => rmSync(dir, { recursive: true, force: true }));
  const path = join(dir, 'log');
  // About 24 MB of text: decompressed in one synchronous call, no timer could fire meanwhile.
  const lines = 200_000;
  const text = Array.from({ length: lines }, (_, i) => rec(`line ${i} ${'x'.repeat(80)}`)).join('');
  writeFileSync(`${path}.1.gz`, gzLikeTheRotator(text, '55:66'));
  const fdsBefore = readdirSync('/proc/self/fd').length;
  {
    const { rotated, current } = openLogSet(path);
    assert.equal(current, undefined);
    let turns = 0;
    const ticker = setInterval(() => turns++, 0);
    const f = await readyLog(rotated[0]!);
    clearInterval(ticker);
    assert.ok(turns > 0, 'the event loop ran while the file was decompressed');
    assert.equal(f.size, Buffer.byteLength(text));
    let n = 0;
    let last = '';
    await scanLogFd(f.fd, 0, (e) => {
      n++;
      last = e.data.toString();
    });
    assert.equal(n, lines);
    assert.ok(last.startsWith(`line ${lines - 1} `));
    // Ready already: the same text, not decompressed again.
    assert.equal((await readyLog(f)).fd, f.fd);
    closeLogs(rotated);
  }
  {
    // Closed while decompressing: the descriptors go once it is over, and nothing throws.
    const { rotated } = openLogSet(path);
    const pending = readyLog(rotated[0]!);
    closeLogs(rotated);
    await pending;
  }
  writeFileSync(`${path}.1.gz`, gzLikeTheRotator(text, '55:66').subarray(0, 5000));
  {
    const { rotated } = openLogSet(path);
    await assert.rejects(readyLog(rotated[0]!), (err: Error) => err.message.startsWith(`cannot read the kept log file ${path}.1.gz: `));
    closeLogs(rotated);
  }
  await new Promise((r) => setImmediate(r));
  assert.equal(readdirSync('/proc/self/fd').length, fdsBefore, 'no descriptor left open');
});

test('LogFollower reads across rotations: the rest of its file, the rotated files it has not read, oldest first, then the new one', async (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'berth-log-'));
  t.after(() => rmSync(dir, { recursive: true, force: true }));
  const path = join(dir, 'log');
  writeFileSync(`${path}.1`, rec('old, read before'));
  writeFileSync(path, rec('one'));
  const got: string[] = [];
  const f = new LogFollower(path, 'end', (e) => got.push(e.data.toString().trim()));
  await f.poke();
  // Two rotations before the follower looks again: its file ends up as .2, a file it never saw as .1.
  appendFileSync(path, rec('two'));
  renameSync(`${path}.1`, `${path}.2`);
  renameSync(path, `${path}.1`);
  renameSync(`${path}.1`, `${path}.2`);
  writeFileSync(`${path}.1`, rec('three') + rec('four'));
  writeFileSync(path, rec('five'));
  await f.drain();
  assert.deepEqual(got, ['two', 'three', 'four', 'five']);
});

test('tailLines: a P record goes with the next record of its own stream; P records nothing goes on with are a line, as dockerd counts its last message', async (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'berth-log-'));
  t.after(() => rmSync(dir, { recursive: true, force: true }));
  const path = join(dir, 'log');
  const rec = (stream: string, tag: string, s: string) => `2026-01-01T00:00:00.1+00:00 ${stream} ${tag} ${s}\n`;
  const texts = async (n: number, unfinishedCounts = true) => {
    const { current } = openLogSet(path);
    try {
      const { start } = await tailLines(current!.fd, n, current!.size, unfinishedCounts);
      const out: string[] = [];
      await scanLogFd(current!.fd, start, (e) => out.push(`${e.stream}:${e.data.toString()}`));
      return out;
    } finally {
      closeLogs([current]);
    }
  };
  // Output without a final newline on stdout, then a line on stderr.
  writeFileSync(path, rec('stdout', 'F', 'out1') + rec('stdout', 'P', 'no newline') + rec('stderr', 'F', 'err1'));
  assert.deepEqual(await texts(1), ['stderr:err1\n']);
  assert.deepEqual(await texts(2), ['stdout:no newline', 'stderr:err1\n']);
  assert.deepEqual(await texts(3), ['stdout:out1\n', 'stdout:no newline', 'stderr:err1\n']);
  // A long line split in P records is one line, finished or not.
  writeFileSync(path, rec('stdout', 'F', 'a') + rec('stdout', 'P', 'b1') + rec('stdout', 'P', 'b2'));
  assert.deepEqual(await texts(1), ['stdout:b1', 'stdout:b2']);
  // In a rotated file the P records it ends with go on in the next file: not a line here.
  assert.deepEqual(await texts(1, false), ['stdout:a\n', 'stdout:b1', 'stdout:b2']);
});
