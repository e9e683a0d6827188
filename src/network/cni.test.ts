import { test } from 'node:test';
import assert from 'node:assert/strict';
import { chmodSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync, existsSync } from 'node:fs';
import { join } from 'node:path';
import { CniNetwork } from './cni';

/** Fake plugins (bridge answers an address, the others print no result): each appends "<type> <command> <ifname> <netns>" and its stdin to calls.log, then answers. */
function rig(failing = '') {
  const dir = mkdtempSync('/tmp/cni-');
  const bin = join(dir, 'bin');
  const conf = join(dir, 'net.d');
  mkdirSync(bin);
  mkdirSync(conf);
  for (const type of ['loopback', 'bridge', 'portmap']) {
    const result = type === 'bridge' ? '{"cniVersion":"0.4.0","ips":[{"version":"4","address":"10.9.0.5/24"}]}' : '';
    const answer = type === failing
      ? `[ "$CNI_COMMAND" = ADD ] && { echo '{"code":11,"msg":"no luck","details":"the ${type} plugin refuses"}'; exit 1; }`
      : '';
    writeFileSync(join(bin, type), `#!/bin/sh
stdin=$(cat)
echo "${type} $CNI_COMMAND $CNI_IFNAME $CNI_NETNS $CNI_CONTAINERID $CNI_ARGS" >> ${dir}/calls.log
echo "$stdin" >> ${dir}/stdin.log
${answer}
if [ "$CNI_COMMAND" = ADD ]; then
  [ -n '${result}' ] && echo '${result}'
fi
exit 0
`);
    chmodSync(join(bin, type), 0o755);
  }
  writeFileSync(join(conf, '20-other.conflist'), JSON.stringify({ cniVersion: '0.4.0', name: 'second', plugins: [{ type: 'bridge' }] }));
  writeFileSync(join(conf, '10-pods.conflist'), JSON.stringify({
    cniVersion: '0.4.0', name: 'pods', plugins: [{ type: 'bridge', bridge: 'x0' }, { type: 'portmap', capabilities: { portMappings: true } }],
  }));
  const calls = () => readFileSync(join(dir, 'calls.log'), 'utf8').trim().split('\n');
  const stdins = () => readFileSync(join(dir, 'stdin.log'), 'utf8').trim().split('\n').map((l) => JSON.parse(l));
  return { dir, net: new CniNetwork(conf, bin, join(dir, 'state')), calls, stdins };
}

test('add runs loopback then the first conflist in order, chaining results; remove runs it backwards with the kept result', async () => {
  const r = rig();
  try {
    const res = await r.net.add({ id: 'abc', netns: '/proc/1/ns/net', podName: 'web', podNamespace: 'ns', portMappings: [{ hostPort: 8080, containerPort: 80, protocol: 'tcp' }] });
    assert.deepEqual(res, { ips: ['10.9.0.5'], network: 'pods' });
    // loopback runs beside the chain, so its line may come anywhere; the chain keeps its order.
    const args = 'IgnoreUnknown=1;K8S_POD_NAMESPACE=ns;K8S_POD_NAME=web;K8S_POD_INFRA_CONTAINER_ID=abc';
    assert.deepEqual([...r.calls()].sort(), [
      `bridge ADD eth0 /proc/1/ns/net abc ${args}`,
      `loopback ADD lo /proc/1/ns/net abc ${args}`,
      `portmap ADD eth0 /proc/1/ns/net abc ${args}`,
    ]);
    assert.deepEqual(r.calls().filter((l) => !l.startsWith('loopback')).map((l) => l.split(' ')[0]), ['bridge', 'portmap']);
    const confs = r.stdins();
    const bridge = confs.find((c) => c.type === 'bridge');
    const portmap = confs.find((c) => c.type === 'portmap');
    assert.equal(bridge.name, 'pods');
    assert.equal(bridge.runtimeConfig, undefined);
    assert.deepEqual(portmap.runtimeConfig, { portMappings: [{ hostPort: 8080, containerPort: 80, protocol: 'tcp' }] });
    assert.deepEqual(portmap.prevResult.ips, [{ version: '4', address: '10.9.0.5/24' }]);
    assert.deepEqual(await r.net.addresses('abc'), ['10.9.0.5']);

    // After a restart (a new instance on the same state), the sandbox is released with an empty netns.
    const again = new CniNetwork(join(r.dir, 'net.d'), join(r.dir, 'bin'), join(r.dir, 'state'));
    await again.remove('abc', '');
    assert.deepEqual(r.calls().slice(3).map((l) => l.replace(/ +/g, ' ').split(' ').slice(0, 4).join(' ')), ['portmap DEL eth0 abc', 'bridge DEL eth0 abc']);
    assert.deepEqual(r.stdins()[3]!.prevResult.ips, [{ version: '4', address: '10.9.0.5/24' }]);
    assert.equal(existsSync(join(r.dir, 'state', 'abc.json')), false);
    await again.remove('abc', ''); // released already: nothing to do
    assert.equal(r.calls().length, 5);
  } finally {
    rmSync(r.dir, { recursive: true, force: true });
  }
});

test('a failing plugin is reported with its message, and what was added is deleted again', async () => {
  const r = rig('portmap');
  try {
    await assert.rejects(r.net.add({ id: 'x1', netns: '/proc/1/ns/net' }), /plugin type="portmap" failed \(add\): no luck: the portmap plugin refuses/);
    assert.deepEqual(r.calls().map((l) => l.split(' ').slice(0, 2).join(' ')).filter((l) => !l.startsWith('loopback')), ['bridge ADD', 'portmap ADD', 'portmap DEL', 'bridge DEL']);
  } finally {
    rmSync(r.dir, { recursive: true, force: true });
  }
});

test('without a .conflist the network is not ready, and add says where it looked', async () => {
  const dir = mkdtempSync('/tmp/cni-');
  try {
    const net = new CniNetwork(dir, '/usr/lib/cni', join(dir, 'state'));
    assert.equal(await net.ready(), false);
    await assert.rejects(net.add({ id: 'y', netns: '/proc/1/ns/net' }), new RegExp(`no .conflist network configuration in ${dir}`));
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});
