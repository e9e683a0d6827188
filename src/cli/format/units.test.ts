import { test } from 'node:test';
import assert from 'node:assert/strict';
import { bytesSize, goFormatG, humanDuration, humanSize, parseTimestamp, timeAgo } from './units';

test('sizes are decimal with docker images precision 3', () => {
  assert.equal(humanSize(0, 3), '0B');
  assert.equal(humanSize(999, 3), '999B');
  assert.equal(humanSize(1000, 3), '1kB');
  assert.equal(humanSize(4_268_032, 3), '4.27MB');
  assert.equal(humanSize(7_800_000, 3), '7.8MB');
  assert.equal(humanSize(128_000, 3), '128kB');
  assert.equal(humanSize(1_234_567_890, 3), '1.23GB');
  assert.equal(humanSize(77_800_000, 3), '77.8MB');
  assert.equal(humanSize(999_950, 3), '1e+03kB'); // Go's %.3g does the same
  assert.equal(humanSize(4_268_032), '4.268MB');
});

test('goFormatG follows strconv g formatting', () => {
  assert.equal(goFormatG(1.5, 3), '1.5');
  assert.equal(goFormatG(100, 3), '100');
  assert.equal(goFormatG(0.0001234, 3), '0.000123');
  assert.equal(goFormatG(0.00001234, 3), '1.23e-05');
});

test('binary sizes for memory', () => {
  assert.equal(bytesSize(16_663_375_872), '15.52GiB');
  assert.equal(bytesSize(512), '512B');
});

test('durations read like docker HumanDuration', () => {
  const s = 1000;
  const m = 60 * s;
  const h = 60 * m;
  assert.equal(humanDuration(500), 'Less than a second');
  assert.equal(humanDuration(1 * s), '1 second');
  assert.equal(humanDuration(45 * s), '45 seconds');
  assert.equal(humanDuration(60 * s), 'About a minute');
  assert.equal(humanDuration(119 * s), 'About a minute');
  assert.equal(humanDuration(2 * m), '2 minutes');
  assert.equal(humanDuration(59 * m), '59 minutes');
  assert.equal(humanDuration(60 * m), 'About an hour');
  assert.equal(humanDuration(89 * m), 'About an hour');
  assert.equal(humanDuration(91 * m), '2 hours');
  assert.equal(humanDuration(47 * h), '47 hours');
  assert.equal(humanDuration(48 * h), '2 days');
  assert.equal(humanDuration(14 * 24 * h), '2 weeks');
  assert.equal(humanDuration(60 * 24 * h), '2 months');
  assert.equal(humanDuration(800 * 24 * h), '2 years');
});

test('timeAgo is relative to now; zero means unknown', () => {
  const now = 1_700_000_000_000;
  assert.equal(timeAgo(now / 1000 - 120, now), '2 minutes ago');
  assert.equal(timeAgo(0, now), '');
});

test('--since accepts unix seconds, RFC 3339 and Go durations', () => {
  const now = 1_700_000_000_000;
  assert.equal(parseTimestamp('1699999999', now), '1699999999');
  assert.equal(parseTimestamp('2023-11-14T22:13:20Z', now), '1700000000');
  assert.equal(parseTimestamp('10m', now), '1699999400');
  assert.equal(parseTimestamp('1h30m', now), '1699994600');
  assert.throws(() => parseTimestamp('yesterday', now), /failed to parse value as time or duration: "yesterday"/);
});
