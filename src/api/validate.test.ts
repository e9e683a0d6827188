import { test } from 'node:test';
import assert from 'node:assert/strict';
import { CONTAINER_CREATE, UPDATE_CONFIG, foldFieldNames } from './validate';

test('foldFieldNames spells known fields as the schema does, at every depth, as Go decodes them', () => {
  const got = foldFieldNames({
    image: 'busybox',
    CMD: ['true'],
    labels: { 'Com.Example': 'x', image: 'kept' },
    hostconfig: {
      CPURealtimePeriod: 1000, cpurealtimeruntime: 500, restartpolicy: { name: 'always', maximumretrycount: 0 },
      logconfig: { type: 'json-file', config: { 'Max-Size': '1m' } },
      mounts: [{ type: 'volume', target: '/data', volumeoptions: { drivercONFIG: { name: 'local', options: { O: 'x' } }, labels: { A: 'b' } } }],
      portbindings: { '80/tcp': [{ hostip: '127.0.0.1', hostport: '8080' }] },
      sysctls: { 'net.ipv4.ip_forward': '1' },
      tmpfs: { '/RUN': 'rw' },
    },
    networkingconfig: { endpointsconfig: { MyNet: { aliases: ['a'], ipamconfig: { ipv4address: '10.0.0.2' } } } },
    healthcheck: { test: ['NONE'] },
    Unknown: 1,
  }, CONTAINER_CREATE);
  assert.deepEqual(got, {
    Image: 'busybox',
    Cmd: ['true'],
    Labels: { 'Com.Example': 'x', image: 'kept' },
    HostConfig: {
      CpuRealtimePeriod: 1000, CpuRealtimeRuntime: 500, RestartPolicy: { Name: 'always', MaximumRetryCount: 0 },
      LogConfig: { Type: 'json-file', Config: { 'Max-Size': '1m' } },
      Mounts: [{ Type: 'volume', Target: '/data', VolumeOptions: { DriverConfig: { Name: 'local', Options: { O: 'x' } }, Labels: { A: 'b' } } }],
      PortBindings: { '80/tcp': [{ HostIp: '127.0.0.1', HostPort: '8080' }] },
      Sysctls: { 'net.ipv4.ip_forward': '1' },
      Tmpfs: { '/RUN': 'rw' },
    },
    NetworkingConfig: { EndpointsConfig: { MyNet: { Aliases: ['a'], IPAMConfig: { IPv4Address: '10.0.0.2' } } } },
    Healthcheck: { Test: ['NONE'] },
    Unknown: 1,
  });
});

test('foldFieldNames: the later of two spellings wins; exact names count too', () => {
  assert.deepEqual(foldFieldNames({ memory: 1, Memory: 2 }, UPDATE_CONFIG), { Memory: 2 });
  assert.deepEqual(foldFieldNames({ Memory: 2, MEMORY: 3 }, UPDATE_CONFIG), { Memory: 3 });
});

test('foldFieldNames leaves non-objects and wrong shapes to the type checks', () => {
  assert.equal(foldFieldNames(undefined, UPDATE_CONFIG), undefined);
  assert.deepEqual(foldFieldNames([1], UPDATE_CONFIG), [1]);
  assert.deepEqual(foldFieldNames({ restartpolicy: 'always', ulimits: { x: 1 } }, UPDATE_CONFIG), { RestartPolicy: 'always', Ulimits: { x: 1 } });
});

test('foldFieldNames keeps a "__proto__" field a plain field', () => {
  const got = foldFieldNames(JSON.parse('{"__proto__": {"polluted": true}, "labels": {"__proto__": "x"}}'), CONTAINER_CREATE) as Record<string, any>;
  assert.equal(Object.getPrototypeOf(got), Object.prototype);
  assert.equal(({} as Record<string, unknown>).polluted, undefined);
  assert.deepEqual(Object.keys(got), ['__proto__', 'Labels']);
  assert.equal(Object.getPrototypeOf(got.Labels), Object.prototype);
});
