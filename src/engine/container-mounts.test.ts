import { test } from 'node:test';
import assert from 'node:assert/strict';
import { parseApiMount, parseBind, tmpfsOptions } from './container-mounts';

test('parseBind: binds, named and anonymous volumes, modes', () => {
  assert.deepEqual(parseBind('/host/dir/:/data/'), { type: 'bind', source: '/host/dir', destination: '/data', mode: '', rw: true, propagation: 'rprivate', createSource: true });
  assert.deepEqual(parseBind('/h:/d:ro,rslave'), { type: 'bind', source: '/h', destination: '/d', mode: 'ro,rslave', rw: false, propagation: 'rslave', createSource: true });
  assert.deepEqual(parseBind('vol:/d'), { type: 'volume', source: '', name: 'vol', destination: '/d', mode: 'z', rw: true, propagation: '', copyData: true });
  assert.deepEqual(parseBind('vol:/d:ro,nocopy'), { type: 'volume', source: '', name: 'vol', destination: '/d', mode: 'ro,nocopy', rw: false, propagation: '', copyData: false });
  assert.deepEqual(parseBind('/anon'), { type: 'volume', source: '', destination: '/anon', mode: '', rw: true, propagation: '', copyData: true, anonymous: true });
});

test('parseBind: Docker wording for bad specs', () => {
  assert.throws(() => parseBind('a:b:c:d'), { message: "invalid volume specification: 'a:b:c:d'" });
  assert.throws(() => parseBind('vol:rel'), { message: `invalid volume specification: 'vol:rel': invalid mount config for type "volume": invalid mount path: 'rel' mount path must be absolute` });
  assert.throws(() => parseBind('/h:/d:ro,rw'), { message: "invalid volume specification: '/h:/d:ro,rw': invalid mode: ro,rw" });
  assert.throws(() => parseBind('/h:/d:nocopy'), /invalid mode: nocopy/);
  assert.throws(() => parseBind('vol:/d:rshared'), /invalid mode: rshared/);
  assert.throws(() => parseBind('/h:/'), /destination can't be '\/'/);
  assert.throws(() => parseBind('a b:/d'), { message: /^create a b: "a b" includes invalid characters for a local volume name/ });
});

test('parseApiMount: --mount shapes and field rules', () => {
  assert.deepEqual(parseApiMount({ Type: 'bind', Source: '/s', Target: '/t', ReadOnly: true, BindOptions: { Propagation: 'rshared' } }), {
    type: 'bind', source: '/s', destination: '/t', mode: '', rw: false, propagation: 'rshared', createSource: false,
  });
  const vol = parseApiMount({ Type: 'volume', Source: 'v1', Target: '/t', VolumeOptions: { NoCopy: true, Labels: { a: 'b' }, DriverConfig: { Name: 'local', Options: { type: 'tmpfs' } } } });
  assert.equal(vol.copyData, false);
  assert.deepEqual(vol.volumeLabels, { a: 'b' });
  assert.deepEqual(vol.volumeOptions, { type: 'tmpfs' });
  assert.equal(parseApiMount({ Type: 'volume', Target: '/t' }).anonymous, true);
  assert.deepEqual(parseApiMount({ Type: 'tmpfs', Target: '/t', TmpfsOptions: { SizeBytes: 1 << 20, Mode: 0o1777 } }).tmpfsOptions, ['noexec', 'nosuid', 'nodev', 'size=1024k', 'mode=1777']);
  const bad: [object, string][] = [
    [{ Type: 'bind', Target: '/t' }, 'invalid mount config for type "bind": field Source must not be empty'],
    [{ Type: 'bind', Source: 'rel', Target: '/t' }, `invalid mount config for type "bind": invalid mount path: 'rel' mount path must be absolute`],
    [{ Type: 'bind', Source: '/s' }, 'invalid mount config for type "bind": field Target must not be empty'],
    [{ Type: 'bind', Source: '/s', Target: '/t', VolumeOptions: {} }, 'invalid mount config for type "bind": field VolumeOptions must not be specified'],
    [{ Type: 'tmpfs', Source: 'x', Target: '/t' }, 'invalid mount config for type "tmpfs": field Source must not be specified'],
    [{ Type: 'npipe', Target: '/t' }, 'invalid mount config for type "npipe": mount type unknown'],
  ];
  for (const [m, msg] of bad) assert.throws(() => parseApiMount(m), { message: msg });
});

test('tmpfsOptions: Docker defaults, later options win, unknown refused', () => {
  assert.deepEqual(tmpfsOptions([]), ['noexec', 'nosuid', 'nodev']);
  assert.deepEqual(tmpfsOptions(['exec', 'size=1m', 'size=2m']), ['nosuid', 'nodev', 'exec', 'size=2m']);
  assert.deepEqual(tmpfsOptions(['ro', 'mode=700']), ['noexec', 'nosuid', 'nodev', 'ro', 'mode=700']);
  assert.throws(() => tmpfsOptions(['bogus']), { message: 'invalid tmpfs option ["bogus"]' });
});
