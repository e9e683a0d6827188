/**
 * berthd --userland-proxy=false: published ports are NAT alone, as with dockerd's flag. A
 * container with only an IPv4 address then gets no "::" binding (nothing could carry it), an
 * IPv6 host address asked for is dropped, and no proxy process holds the ports.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { BERTHD, processesMentioning, run, useDaemonWithArgs, waitFor } from './harness';

const d = useDaemonWithArgs(['--userland-proxy=false']);

const fetch = (url: string) => (spawnSync('curl', ['-s', '-g', '-m', '5', url], { encoding: 'utf8' }).stdout ?? '').trim();

test('--userland-proxy=false: NAT on IPv4 only, no "::" binding listed or served, no proxy process', async () => {
  const hp = 24000 + d.net!.x * 10;
  await d.dockerOk(['run', '-d', '--name', 'np', '-p', `${hp}:80`, '-p', `[::1]:${hp + 1}:80`, 'busybox', 'sh', '-c', 'mkdir /www && echo np > /www/index.html && exec httpd -f -p 80 -h /www']);
  await waitFor('the port on 127.0.0.1', () => fetch(`http://127.0.0.1:${hp}/`) === 'np', 15_000, 100);
  assert.equal(await d.dockerOk(['port', 'np']), `80/tcp -> 0.0.0.0:${hp}`);
  assert.deepEqual((await d.inspect('np')).NetworkSettings.Ports, { '80/tcp': [{ HostIp: '0.0.0.0', HostPort: String(hp) }] });
  assert.equal(fetch(`http://[::1]:${hp}/`), '');
  assert.deepEqual(processesMentioning(`,10.${d.net!.x}.`, 'berth-proxy'), []);
  await d.dockerOk(['rm', '-f', 'np']);
});

test('--userland-proxy must be a boolean', async () => {
  const r = await run(BERTHD, ['--userland-proxy=maybe']);
  assert.equal(r.code, 125);
  assert.match(r.stderr, /invalid argument "maybe" for "--userland-proxy" flag: use true or false/);
});
