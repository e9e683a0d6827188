import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, writeFileSync, appendFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { LogFollower, parseLogLine, readLog, type LogEntry } from './k8s-log';

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
