// Networks across berthd restarts and crashes, and the cleanup check: after kill -9 running
// containers keep their addresses, published ports and DNS; a setup a crash interrupted is
// undone at the next start; once containers and networks are gone (and berthd stopped) no
// veth, bridge, iptables rule or namespace of this daemon is left.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { existsSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { mountsUnder, useDaemon, waitFor } from './harness';

const d = useDaemon();
const NETAVARK = '/usr/lib/podman/netavark';

/** What of this daemon's /16 the host shows: links on its bridges, its bridges, iptables lines naming its subnets. */
function footprint(x: number): { links: string[]; rules: string[] } {
  const ours = new Set<string>();
  for (const l of spawnSync('ip', ['-o', '-4', 'addr', 'show'], { encoding: 'utf8' }).stdout.split('\n')) {
    if (l.includes(` 10.${x}.`)) ours.add(l.split(/\s+/)[1]!);
  }
  const enslaved = spawnSync('ip', ['-o', 'link', 'show'], { encoding: 'utf8' }).stdout.split('\n')
    .filter((l) => [...ours].some((b) => l.includes(`master ${b} `)))
    .map((l) => l.split(':')[1]!.trim().split('@')[0]!);
  const rules = spawnSync('iptables-save', [], { encoding: 'utf8' }).stdout.split('\n').filter((l) => l.includes(`10.${x}.`));
  return { links: [...ours, ...enslaved].sort(), rules };
}

function hostFetch(url: string): string {
  return (spawnSync('curl', ['-s', '-m', '5', url], { encoding: 'utf8' }).stdout ?? '').trim();
}

test('kill -9 and restart: containers keep address, ports and DNS; networks and leases persist; cleanup leaves nothing', async () => {
  const x = d.net!.x;
  const before = footprint(x);
  assert.deepEqual(before, { links: [], rules: [] }, 'nothing of this daemon before the test');
  const hp = 30000 + x * 10;
  await d.dockerOk(['network', 'create', 'keep']);
  await d.dockerOk(['run', '-d', '--name', 'kweb', '--network', 'keep', '-p', `${hp}:80`, 'busybox', 'sh', '-c', 'mkdir /www; echo kweb > /www/index.html; exec httpd -f -p 80 -h /www']);
  await d.dockerOk(['run', '-d', '--name', 'kcli', '--network', 'keep', 'busybox', 'sleep', '600']);
  await waitFor('the published port', () => hostFetch(`http://127.0.0.1:${hp}/`) === 'kweb', 15_000, 100);
  const ip = (await d.inspect('kweb')).NetworkSettings.Networks.keep.IPAddress;
  const during = footprint(x);
  assert.ok(during.links.length >= 3, `a bridge and veths: ${during.links}`);
  assert.ok(during.rules.length > 0, 'NAT and forwarding rules');

  await d.kill();
  assert.equal(hostFetch(`http://127.0.0.1:${hp}/`), 'kweb', 'the port keeps working while berthd is down');

  // A setup a crash interrupted: its record written, its namespace made and wired, no container.
  const fake = 'f'.repeat(64);
  const ns = join(d.execRoot, 'netns', fake);
  writeFileSync(ns, '');
  assert.equal(spawnSync('unshare', [`--net=${ns}`, 'true']).status, 0);
  const netDir = join(d.dataRoot, 'networks');
  const netRec = readdirSync(netDir).filter((f) => f.endsWith('.json')).map((f) => JSON.parse(readFileSync(join(netDir, f), 'utf8'))).find((n: any) => n.name === 'keep');
  const fakeIp = `10.${netRec.subnet.split('.')[1]}.${netRec.subnet.split('.')[2]}.77`;
  const state = { containerId: fake, containerName: 'ghost', netns: ns, ports: [], endpoints: [{ networkId: netRec.id, endpointId: 'e'.repeat(64), ip: fakeIp, prefix: 24, gateway: netRec.gateway, mac: '02:42:00:00:00:77', ifname: 'eth0', aliases: [] }] };
  writeFileSync(join(d.dataRoot, 'networks', 'endpoints', `${fake}.json`), JSON.stringify(state));
  const req = {
    container_id: fake, container_name: 'ghost', port_mappings: [],
    // netavark knows a network as berth-<id12> (network/bridge.ts netavarkName).
    networks: { [`berth-${netRec.id.slice(0, 12)}`]: { static_ips: [fakeIp], aliases: [], interface_name: 'eth0' } },
    network_info: { [`berth-${netRec.id.slice(0, 12)}`]: { name: `berth-${netRec.id.slice(0, 12)}`, id: netRec.id, driver: 'bridge', network_interface: netRec.bridge, subnets: [{ subnet: netRec.subnet, gateway: netRec.gateway }], ipv6_enabled: false, internal: false, dns_enabled: false, ipam_options: { driver: 'host-local' } } },
  };
  const setup = spawnSync(NETAVARK, ['--config', join(d.execRoot, 'netavark'), 'setup', ns], { input: JSON.stringify(req), encoding: 'utf8' });
  assert.equal(setup.status, 0, setup.stdout + setup.stderr);
  assert.equal(spawnSync('ip', ['-o', '-4', 'addr', 'show'], { encoding: 'utf8' }).stdout.includes(fakeIp), false);
  const vethsWithGhost = footprint(x).links.length;

  await d.start();
  // The interrupted setup is undone: its veth, namespace and record are gone.
  await waitFor('the ghost endpoint to be cleaned up', () => !existsSync(join(d.dataRoot, 'networks', 'endpoints', `${fake}.json`)), 15_000, 100);
  assert.equal(existsSync(ns), false);
  assert.equal(footprint(x).links.length, vethsWithGhost - 1, 'the ghost veth is gone');

  // The running containers kept everything.
  const again = await d.inspect('kweb');
  assert.equal(again.NetworkSettings.Networks.keep.IPAddress, ip);
  assert.ok(again.NetworkSettings.Ports['80/tcp'].some((b: any) => b.HostPort === String(hp)));
  assert.ok((await d.dockerOk(['port', 'kweb', '80'])).includes(`0.0.0.0:${hp}`));
  assert.equal(hostFetch(`http://127.0.0.1:${hp}/`), 'kweb');
  assert.equal(await d.dockerOk(['exec', 'kcli', 'wget', '-q', '-O-', 'http://kweb/']), 'kweb', 'DNS keeps answering');
  // A new container does not take a leased address.
  const other = await d.dockerOk(['run', '--rm', '--network', 'keep', 'busybox', 'sh', '-c', 'ip -4 -o addr show eth0']);
  assert.ok(!other.includes(`${ip}/`), other);
  assert.deepEqual(JSON.parse(await d.dockerOk(['network', 'ls', '--filter', 'name=keep', '--format', '{{json .Name}}'])), 'keep');

  // A clean stop with containers running keeps their networks too.
  await d.stop();
  assert.equal(hostFetch(`http://127.0.0.1:${hp}/`), 'kweb');
  await d.start();
  await d.dockerOk(['rm', '-f', 'kweb', 'kcli']);
  await d.dockerOk(['network', 'rm', 'keep']);
  await d.dockerOk(['run', '--rm', '-p', `${hp + 1}:80`, 'busybox', 'true']);
  await d.stop();
  assert.deepEqual(footprint(x), before, 'no veth, bridge or iptables rule of this daemon is left');
  assert.deepEqual(mountsUnder(d.dir).filter((m) => m.includes('/netns/')), [], 'no namespace mount is left');
  assert.deepEqual(readdirSync(join(d.dataRoot, 'networks', 'endpoints')), [], 'no lease is left');
  await d.start();
});
