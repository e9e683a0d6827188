import { test } from 'node:test';
import assert from 'node:assert/strict';
import { checkFilterKeys, filterBool, matchLabelArgs, matchLabelFilters, parseFilterArgs } from './filters';

test('parseFilterArgs: map and legacy list forms; values mapped to false are left out', () => {
  assert.deepEqual(parseFilterArgs(null), new Map());
  assert.deepEqual(parseFilterArgs(''), new Map());
  assert.deepEqual(parseFilterArgs('{"status":{"exited":true,"running":false},"label":["a=b"]}'), new Map([['status', ['exited']], ['label', ['a=b']]]));
});

test('parseFilterArgs: malformed JSON and wrong shapes are invalid-argument', () => {
  for (const raw of ['{', '[]', '"x"', '{"status":"exited"}']) {
    assert.throws(() => parseFilterArgs(raw), (e: Error & { kind?: string }) => e.kind === 'invalid-argument' && /invalid (JSON in )?filters/.test(e.message), raw);
  }
});

test('checkFilterKeys names the first unknown key as dockerd does', () => {
  checkFilterKeys(new Map([['label', ['x']]]), ['label', 'name']);
  assert.throws(() => checkFilterKeys(new Map([['label', []], ['colour', ['red']]]), ['label']), { message: "invalid filter 'colour'" });
});

test('filterBool: absent, true/1, false/0, and the values dockerd refuses', () => {
  const f = (v: string[]) => new Map([['dangling', v]]);
  assert.equal(filterBool(new Map(), 'dangling'), undefined);
  assert.equal(filterBool(f(['true']), 'dangling'), true);
  assert.equal(filterBool(f(['1']), 'dangling'), true);
  assert.equal(filterBool(f(['false']), 'dangling'), false);
  assert.equal(filterBool(f(['0']), 'dangling'), false);
  assert.throws(() => filterBool(f(['maybe']), 'dangling'), { message: "invalid filter 'dangling=[maybe]'" });
  assert.throws(() => filterBool(f(['true', 'false']), 'dangling'), { message: "invalid filter 'dangling=[true false]'" });
  assert.throws(() => filterBool(f([]), 'dangling'), { message: "invalid filter 'dangling'" });
});

test('matchLabelFilters: key present, key=value exact, every filter must match', () => {
  const labels = { tier: 'front', empty: '', 'a=b': 'c' };
  assert.ok(matchLabelFilters(undefined, labels));
  assert.ok(matchLabelFilters([], null));
  assert.ok(matchLabelFilters(['tier'], labels));
  assert.ok(matchLabelFilters(['tier=front'], labels));
  assert.ok(matchLabelFilters(['empty='], labels));
  assert.ok(matchLabelFilters(['empty'], labels));
  assert.ok(!matchLabelFilters(['tier=back'], labels));
  assert.ok(!matchLabelFilters(['tier=front', 'missing'], labels));
  assert.ok(!matchLabelFilters(['tier'], null));
  assert.ok(!matchLabelFilters(['tier'], {}));
  // The first "=" splits key from value, so a key containing "=" cannot be asked for.
  assert.ok(!matchLabelFilters(['a=b=c'], labels));
  // Inherited properties are not labels.
  assert.ok(!matchLabelFilters(['constructor'], {}));
});

test('matchLabelArgs: label must all match, label! excludes when all of its values match', () => {
  const labels = { tier: 'front', team: 'x' };
  const f = (o: Record<string, string[]>) => new Map(Object.entries(o));
  assert.ok(matchLabelArgs(f({}), labels));
  assert.ok(matchLabelArgs(f({ label: ['tier'] }), labels));
  assert.ok(!matchLabelArgs(f({ 'label!': ['tier'] }), labels));
  assert.ok(!matchLabelArgs(f({ 'label!': ['tier=front'] }), labels));
  assert.ok(matchLabelArgs(f({ 'label!': ['tier=back'] }), labels));
  assert.ok(matchLabelArgs(f({ 'label!': ['tier', 'missing'] }), labels));
  assert.ok(matchLabelArgs(f({ 'label!': ['tier'] }), null));
  assert.ok(!matchLabelArgs(f({ label: ['tier'], 'label!': ['team=x'] }), labels));
});
