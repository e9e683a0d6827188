import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mountHostConfig, parseMountFlag } from './container-options';

test('--mount CSV becomes a HostConfig.Mounts entry as docker builds it', () => {
  assert.deepEqual(parseMountFlag('type=bind,src=/h,dst=/c,readonly,bind-propagation=rslave'), {
    Type: 'bind', Source: '/h', Target: '/c', ReadOnly: true, BindOptions: { Propagation: 'rslave' },
  });
  assert.deepEqual(parseMountFlag('source=v,target=/d,volume-nocopy,volume-label=a=b,volume-opt=type=tmpfs,volume-opt=device=tmpfs'), {
    Type: 'volume', Source: 'v', Target: '/d', VolumeOptions: { NoCopy: true, Labels: { a: 'b' }, DriverConfig: { Options: { type: 'tmpfs', device: 'tmpfs' } } },
  });
  assert.deepEqual(parseMountFlag('type=tmpfs,destination=/t,tmpfs-size=1m,tmpfs-mode=1770,ro=false'), {
    Type: 'tmpfs', Target: '/t', ReadOnly: false, TmpfsOptions: { SizeBytes: 1 << 20, Mode: 0o1770 },
  });
  assert.throws(() => parseMountFlag('type=bind,bogus=1'), { message: "unexpected key 'bogus' in 'bogus=1'" });
  assert.throws(() => parseMountFlag('type'), { message: "invalid field 'type' must be a key=value pair" });
});

test('--tmpfs PATH[:OPTIONS] becomes HostConfig.Tmpfs', () => {
  assert.deepEqual(mountHostConfig({ tmpfs: ['/run', '/t:size=1m,exec'] }), { Tmpfs: { '/run': '', '/t': 'size=1m,exec' } });
  assert.deepEqual(mountHostConfig({}), {});
});
