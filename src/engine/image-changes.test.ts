import { test } from 'node:test';
import assert from 'node:assert/strict';
import { errorKind, parseGoDuration } from '../common';
import { applyChanges } from './image-changes';

test('HEALTHCHECK changes: options, exec and shell forms, NONE; Go durations', () => {
  assert.deepEqual(applyChanges({}, ['HEALTHCHECK --interval=200ms --timeout=1m30s --start-period=2s --start-interval=500ms --retries=4 CMD ["probe", "-x"]']).Healthcheck, {
    Test: ['CMD', 'probe', '-x'], Interval: 200_000_000, Timeout: 90_000_000_000, StartPeriod: 2_000_000_000, StartInterval: 500_000_000, Retries: 4,
  });
  assert.deepEqual(applyChanges({}, ['HEALTHCHECK CMD curl -f http://localhost/ || exit 1']).Healthcheck, { Test: ['CMD-SHELL', 'curl -f http://localhost/ || exit 1'] });
  assert.deepEqual(applyChanges({}, ['healthcheck none']).Healthcheck, { Test: ['NONE'] });
  assert.throws(() => applyChanges({}, ['HEALTHCHECK --bogus=1 CMD true']), (e: unknown) => errorKind(e) === 'invalid-argument');
  assert.throws(() => applyChanges({}, ['HEALTHCHECK true']), /Unknown type/);
  assert.equal(parseGoDuration('1h2m3.5s'), 3_723_500_000_000);
  assert.equal(parseGoDuration('0'), 0);
  // Go's words for each kind of mistake.
  assert.throws(() => parseGoDuration('5 seconds'), /^Error: time: unknown unit " seconds" in duration "5 seconds"$|unknown unit " seconds" in duration "5 seconds"/);
  assert.throws(() => parseGoDuration('1'), /time: missing unit in duration "1"/);
  assert.throws(() => parseGoDuration('abc'), /time: invalid duration "abc"/);
  assert.throws(() => parseGoDuration(''), /time: invalid duration ""/);
  assert.equal(parseGoDuration('.5s'), 500_000_000);
});
