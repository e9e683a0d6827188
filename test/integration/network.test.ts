// Container networking end to end: the default bridge, published ports, user networks
// with DNS, isolation, the network API, driven by the real docker CLI against a real
// berthd (netavark underneath). Every address is on this daemon's private bridge and /16.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readdirSync, readFileSync } from 'node:fs';
import { connect, createServer, type AddressInfo } from 'node:net';
import { spawnSync } from 'node:child_process';
import { networkInterfaces } from 'node:os';
import { httpStream, processesMentioning, useDaemon, waitFor } from './harness';

const d = useDaemon();

/** busybox httpd serving a page that names the container. */
async function serve(name: string, args: string[] = [], page = name): Promise<string> {
  return d.dockerOk(['run', '-d', '--name', name, ...args, 'busybox', 'sh', '-c', `mkdir -p /www && echo ${page} > /www/index.html && exec httpd -f -p 80 -h /www`]);
}

/** A wget from a throwaway container; returns stdout or the failure. (`exit $?` keeps sh as PID 1: timeout's SIGTERM would not stop a PID 1 wget.) */
async function fetchFrom(args: string[], url: string): Promise<{ code: number; out: string }> {
  const r = await d.docker(['run', '--rm', ...args, 'busybox', 'sh', '-c', `timeout 5 wget -q -O- ${url}; exit $?`], { timeoutMs: 30_000 });
  return { code: r.code ?? -1, out: r.stdout.trim() + r.stderr.trim() };
}

function hostFetch(url: string): { code: number; out: string } {
  const r = spawnSync('curl', ['-s', '-g', '-m', '5', url], { encoding: 'utf8' });
  return { code: r.status ?? -1, out: (r.stdout ?? '').trim() };
}

test('the default bridge: an address, a route and NetworkSettings as dockerd fills them', async () => {
  const id = await d.dockerOk(['run', '-d', '--name', 'b1', 'busybox', 'sleep', '300']);
  const ins = await d.inspect(id);
  const ns = ins.NetworkSettings;
  const x = d.net!.x;
  assert.match(ns.IPAddress, new RegExp(`^10\\.${x}\\.0\\.\\d+$`));
  assert.equal(ns.Gateway, `10.${x}.0.1`);
  assert.equal(ns.IPPrefixLen, 24);
  assert.match(ns.MacAddress, /^02:42:/);
  const br = ns.Networks.bridge;
  assert.equal(br.IPAddress, ns.IPAddress);
  assert.match(br.NetworkID, /^[0-9a-f]{64}$/);
  assert.match(br.EndpointID, /^[0-9a-f]{64}$/);
  assert.equal(ins.HostConfig.NetworkMode, 'bridge');
  const inside = await d.dockerOk(['exec', 'b1', 'sh', '-c', 'ip -4 addr show eth0; ip route']);
  assert.ok(inside.includes(`${ns.IPAddress}/24`), inside);
  assert.ok(inside.includes(`default via 10.${x}.0.1`), inside);
  const hosts = await d.dockerOk(['exec', 'b1', 'cat', '/etc/hosts']);
  assert.ok(hosts.includes(`${ns.IPAddress}\t${id.slice(0, 12)}`), hosts);
  // The bridge device is this daemon's own, not docker0.
  const link = spawnSync('ip', ['-4', 'addr', 'show', `bt${x}`], { encoding: 'utf8' }).stdout;
  assert.ok(link.includes(`10.${x}.0.1/24`), link);
  const netIns = JSON.parse(await d.dockerOk(['network', 'inspect', 'bridge']))[0];
  assert.equal(netIns.Containers[id].IPv4Address, `${ns.IPAddress}/24`);
  assert.equal(netIns.Options['com.docker.network.bridge.name'], `bt${x}`);
  await d.dockerOk(['rm', '-f', 'b1']);

  // Events in dockerd's order: connected before start, disconnected before die (its cleanup comes first).
  const since = Math.floor(Date.now() / 1000) - 1;
  await d.dockerOk(['run', '--rm', '--name', 'b-ev', 'busybox', 'true']);
  const all = await d.dockerOk(['events', '--since', String(since), '--until', String(Math.floor(Date.now() / 1000) + 1), '--format', '{{.Type}} {{.Action}} {{.Actor.ID}} {{.Actor.Attributes.container}} {{.Actor.Attributes.name}}']);
  const cid = all.split('\n').find((l) => l.startsWith('container create') && l.endsWith(' b-ev'))!.split(' ')[2]!;
  const seq = all.split('\n').filter((l) => l.includes(cid)).map((l) => l.split(' ').slice(0, 2).join(' '));
  assert.deepEqual(seq, ['container create', 'container attach', 'network connect', 'container start', 'network disconnect', 'container die', 'container destroy'], all);
});

test('an interface with only an IPv4 address has IPv6 off (as dockerd since 26.0.2), on the default bridge, a user network and after connect, unless --sysctl says otherwise', async () => {
  const v6 = (ctr: string, ifname: string) => d.dockerOk(['exec', ctr, 'sh', '-c', `cat /proc/sys/net/ipv6/conf/${ifname}/disable_ipv6; ip -6 addr show ${ifname}`]);
  // The default bridge (wired by berthd itself), and its host end.
  await d.dockerOk(['run', '-d', '--name', 'v6a', 'busybox', 'sleep', '300']);
  assert.equal(await v6('v6a', 'eth0'), '1', 'disable_ipv6=1 and no address, not even link-local');
  const ifindex = (await d.dockerOk(['exec', 'v6a', 'cat', '/sys/class/net/eth0/iflink'])).trim();
  const hostEnd = spawnSync('ip', ['-o', 'link'], { encoding: 'utf8' }).stdout.split('\n').find((l) => l.startsWith(`${ifindex}: `))!.split(': ')[1]!.split('@')[0]!;
  assert.equal(spawnSync('sysctl', ['-n', `net.ipv6.conf.${hostEnd}.disable_ipv6`], { encoding: 'utf8' }).stdout.trim(), '1', `host end ${hostEnd}`);
  // A user network with DNS (wired by netavark), and a second interface from `network connect`.
  await d.dockerOk(['network', 'create', 'v6net']);
  await d.dockerOk(['run', '-d', '--name', 'v6b', '--network', 'v6net', 'busybox', 'sleep', '300']);
  assert.equal(await v6('v6b', 'eth0'), '1');
  await d.dockerOk(['network', 'connect', 'bridge', 'v6b']);
  assert.equal(await v6('v6b', 'eth1'), '1');
  // The container's own settings win.
  await d.dockerOk(['run', '-d', '--name', 'v6c', '--sysctl', 'net.ipv6.conf.eth0.disable_ipv6=0', 'busybox', 'sleep', '300']);
  assert.match(await v6('v6c', 'eth0'), /^0(\n|$)/);
  await waitFor('a link-local address on eth0 with IPv6 left on', async () => /inet6 fe80::/.test(await v6('v6c', 'eth0')));
  await d.dockerOk(['rm', '-f', 'v6a', 'v6b', 'v6c']);
  await d.dockerOk(['network', 'rm', 'v6net']);
});

test('--network none has only loopback; host shares the host\'s interfaces', async () => {
  const out = await d.dockerOk(['run', '--rm', '--network', 'none', 'busybox', 'sh', '-c', 'ls /sys/class/net']);
  assert.deepEqual(out.split(/\s+/).filter(Boolean), ['lo']);
  const hostOut = await d.dockerOk(['run', '--rm', '--network', 'host', 'busybox', 'sh', '-c', 'ls /sys/class/net']);
  assert.ok(hostOut.split(/\s+/).includes(`bt${d.net!.x}`), hostOut);
});

test('a container reaches a listener on the host through the gateway', async () => {
  const x = d.net!.x;
  // The default bridge (and its gateway address) is up once a container used it.
  await d.dockerOk(['run', '--rm', 'busybox', 'true']);
  const srv = createServer((s) => s.end('from-host\n'));
  await new Promise<void>((r) => srv.listen(0, `10.${x}.0.1`, r));
  const port = (srv.address() as AddressInfo).port;
  try {
    const out = await d.dockerOk(['run', '--rm', 'busybox', 'sh', '-c', `nc 10.${x}.0.1 ${port} </dev/null`]);
    assert.equal(out, 'from-host');
  } finally {
    srv.close();
  }
});

test('published ports: -p HOST:CTR reachable on 127.0.0.1 and the bridge address; port, ps and inspect show them', async () => {
  const hp = 20000 + d.net!.x * 10;
  await serve('web1', ['-p', `${hp}:80`, '-p', `127.0.0.1::80`, '-p', `${hp + 1}:81/udp`]);
  await waitFor('the published port to answer', () => hostFetch(`http://127.0.0.1:${hp}/`).out === 'web1', 15_000, 100);
  assert.equal(hostFetch(`http://10.${d.net!.x}.0.1:${hp}/`).out, 'web1');
  // The host's own address (not loopback, not the bridge), and hairpin: a container on the same
  // bridge reaching the published port through the host.
  const own = Object.values(networkInterfaces()).flat().find((a) => a && a.family === 'IPv4' && !a.internal && !a.address.startsWith(`10.${d.net!.x}.`));
  if (own) assert.equal(hostFetch(`http://${own.address}:${hp}/`).out, 'web1', `via ${own.address}`);
  assert.equal((await fetchFrom([], `http://10.${d.net!.x}.0.1:${hp}/`)).out, 'web1', 'hairpin through the gateway');
  if (own) assert.equal((await fetchFrom([], `http://${own.address}:${hp}/`)).out, 'web1', `hairpin through ${own.address}`);
  const port = await d.dockerOk(['port', 'web1']);
  assert.ok(port.includes(`80/tcp -> 0.0.0.0:${hp}`), port);
  assert.ok(port.includes(`81/udp -> 0.0.0.0:${hp + 1}`), port);
  const random = /80\/tcp -> 127\.0\.0\.1:(\d+)/.exec(port);
  assert.ok(random, port);
  assert.equal(hostFetch(`http://127.0.0.1:${random![1]}/`).out, 'web1');
  assert.equal(await d.dockerOk(['ps', '--filter', 'publish=80', '--format', '{{.Names}}']), 'web1');
  assert.equal(await d.dockerOk(['ps', '--filter', 'publish=81/udp', '--format', '{{.Names}}']), 'web1');
  assert.equal(await d.dockerOk(['ps', '--filter', 'publish=82', '--format', '{{.Names}}']), '');
  const ps = await d.dockerOk(['ps', '--filter', 'name=web1', '--format', '{{.Ports}}']);
  assert.ok(ps.includes(`0.0.0.0:${hp}->80/tcp`), ps);
  const ins = await d.inspect('web1');
  assert.deepEqual(ins.HostConfig.PortBindings['80/tcp'].map((b: any) => b.HostPort).sort(), ['', String(hp)].sort());
  assert.ok(ins.NetworkSettings.Ports['80/tcp'].some((b: any) => b.HostPort === String(hp)));

  // The same host port again: a clear error and no container left running.
  const r = await d.docker(['run', '-d', '--name', 'web2', '-p', `${hp}:80`, 'busybox', 'sleep', '100']);
  assert.notEqual(r.code, 0);
  assert.match(r.stderr, new RegExp(`Bind for 0\\.0\\.0\\.0:${hp} failed: port is already allocated`));
  const st = JSON.parse(await d.dockerOk(['inspect', 'web2']))[0].State;
  assert.equal(st.Running, false);
  await d.dockerOk(['rm', '-f', 'web2']);

  // A host process holding the port: refused too.
  const holder = createServer();
  await new Promise<void>((res) => holder.listen(hp + 5, '0.0.0.0', res));
  try {
    const r2 = await d.docker(['run', '--rm', '-p', `${hp + 5}:80`, 'busybox', 'true']);
    assert.notEqual(r2.code, 0);
    assert.match(r2.stderr, /address already in use/);
  } finally {
    holder.close();
  }
  await d.dockerOk(['rm', '-f', 'web1']);
  assert.notEqual(hostFetch(`http://127.0.0.1:${hp}/`).out, 'web1', 'the port is closed once the container is gone');
});

test('-P publishes every exposed port on a random host port', async () => {
  await d.dockerOk(['run', '-d', '--name', 'pall', '--expose', '80', '--expose', '90', '-P', 'busybox', 'sh', '-c', 'mkdir /www; echo pall > /www/index.html; exec httpd -f -p 80 -h /www']);
  const port = await d.dockerOk(['port', 'pall', '80']);
  const m = /0\.0\.0\.0:(\d+)/.exec(port);
  assert.ok(m, port);
  await waitFor('-P port to answer', () => hostFetch(`http://127.0.0.1:${m![1]}/`).out === 'pall', 15_000, 100);
  assert.match(await d.dockerOk(['port', 'pall', '90']), /0\.0\.0\.0:\d+/);
  await d.dockerOk(['rm', '-f', 'pall']);
});

test('a port published on every address is also served on "::" by the userland proxy, as dockerd 28 lists it; held on the host; random ports in order; free again at once after rm -f; served across kill -9 of berthd', async () => {
  const hp = 20000 + d.net!.x * 10 + 6;
  await serve('v6a', ['-p', `${hp}:80`, '-p', '80', '-p', `0.0.0.0:${hp + 1}:80`, '-p', `[::1]:${hp + 2}:80`]);
  await waitFor('the port on ::1 to answer', () => hostFetch(`http://[::1]:${hp}/`).out === 'v6a', 15_000, 100);
  assert.equal(hostFetch(`http://127.0.0.1:${hp}/`).out, 'v6a');
  assert.equal(hostFetch(`http://[::1]:${hp + 2}/`).out, 'v6a', 'an explicit IPv6 host address');
  const lines = (await d.dockerOk(['port', 'v6a', '80'])).split('\n');
  const random = Number(/^0\.0\.0\.0:(\d+)$/.exec(lines.find((l) => l.startsWith('0.0.0.0:') && l !== `0.0.0.0:${hp}` && l !== `0.0.0.0:${hp + 1}`)!)![1]);
  // Twins for the mappings without a host address only: 0.0.0.0 given is IPv4 alone, [::1] IPv6 alone.
  assert.deepEqual(lines.sort(), [`0.0.0.0:${hp}`, `0.0.0.0:${hp + 1}`, `0.0.0.0:${random}`, `[::1]:${hp + 2}`, `[::]:${hp}`, `[::]:${random}`].sort());
  const ins = await d.inspect('v6a');
  const bindings = ins.NetworkSettings.Ports['80/tcp'];
  const at = (ip: string, port: number) => bindings.findIndex((b: any) => b.HostIp === ip && b.HostPort === String(port));
  assert.ok(at('0.0.0.0', hp) >= 0 && at('::', hp) === at('0.0.0.0', hp) + 1, JSON.stringify(bindings));
  const ps = await d.dockerOk(['ps', '--filter', 'name=v6a', '--format', '{{.Ports}}']);
  assert.ok(ps.includes(`[::]:${hp}->80/tcp`), ps);
  // Held on the host, as docker-proxy holds it: a host process cannot take either side.
  for (const host of ['0.0.0.0', '::']) {
    const s = createServer();
    const err = await new Promise<NodeJS.ErrnoException | undefined>((res) => {
      s.once('error', res);
      s.listen({ port: hp, host, ipv6Only: true }, () => s.close(() => res(undefined)));
    });
    assert.equal(err?.code, 'EADDRINUSE', `${host}:${hp} is held`);
  }
  // The next random port is searched after the last one given, as dockerd does.
  await serve('v6b', ['-p', '80']);
  const next = Number(/0\.0\.0\.0:(\d+)/.exec(await d.dockerOk(['port', 'v6b', '80']))![1]);
  assert.ok(next > random && next - random < 50, `${random} then ${next}`);

  // kill -9 of berthd: the proxy, like the container, does not depend on it.
  await d.kill();
  assert.equal(hostFetch(`http://[::1]:${hp}/`).out, 'v6a', 'served while berthd is down');
  await d.start();
  assert.match(await d.dockerOk(['port', 'v6a', '80']), new RegExp(`\\[::\\]:${hp}`));
  // rm -f, then the same port at once: dockerd frees it before answering.
  await d.dockerOk(['rm', '-f', 'v6a']);
  await serve('v6c', ['-p', `${hp}:80`]);
  await waitFor('the new container on the same port', () => hostFetch(`http://[::1]:${hp}/`).out === 'v6c', 15_000, 100);
  await d.dockerOk(['rm', '-f', 'v6b', 'v6c']);
  await waitFor('the port to be free', () => hostFetch(`http://[::1]:${hp}/`).out === '', 10_000, 100);
  assert.deepEqual(processesMentioning(`,10.${d.net!.x}.`, 'berth-proxy'), [], 'no proxy left');

  // A host process holding the IPv6 side: the start fails in dockerd 28's words, nothing left running.
  const holder = createServer();
  await new Promise<void>((res) => holder.listen({ port: hp + 3, host: '::', ipv6Only: true }, res));
  try {
    const r = await d.docker(['run', '-d', '--name', 'v6d', '-p', `${hp + 3}:80`, 'busybox', 'sleep', '100']);
    assert.equal(r.code, 125);
    assert.match(r.stderr, new RegExp(`failed to set up container networking: driver failed programming external connectivity on endpoint v6d \\([0-9a-f]{64}\\): failed to bind host port for \\[::\\]:${hp + 3}:10\\.${d.net!.x}\\.0\\.\\d+:80/tcp: address already in use`));
    assert.equal((await d.inspect('v6d')).State.Running, false);
  } finally {
    holder.close();
  }
  assert.deepEqual(processesMentioning(`,10.${d.net!.x}.`, 'berth-proxy'), [], 'the failed start left no proxy');
  await d.dockerOk(['rm', '-f', 'v6d']);
});

test('a user network: containers reach each other by name, alias and short id; DNS answers only there', async () => {
  const events = httpStream(d.sock, 'GET', '/events?filters=' + encodeURIComponent(JSON.stringify({ type: ['network'] })));
  await d.dockerOk(['network', 'create', 'front', '--label', 'tier=web']);
  await d.dockerOk(['network', 'create', 'back']);
  const id = await serve('srv', ['--network', 'front', '--network-alias', 'www']);
  const short = id.slice(0, 12);
  for (const host of ['srv', 'www', short]) {
    await waitFor(`wget http://${host}/`, async () => (await fetchFrom(['--network', 'front'], `http://${host}/`)).out === 'srv', 20_000, 200);
  }
  // Another network does not resolve it, nor reach its address.
  const ip = (await d.inspect('srv')).NetworkSettings.Networks.front.IPAddress;
  assert.ok(ip);
  const fromBack = await fetchFrom(['--network', 'back'], 'http://srv/');
  assert.notEqual(fromBack.code, 0, fromBack.out);
  const byIp = await fetchFrom(['--network', 'back'], `http://${ip}/`);
  assert.notEqual(byIp.out, 'srv', 'networks are isolated');
  // The default bridge has no DNS between containers.
  const fromBridge = await fetchFrom([], 'http://srv/');
  assert.notEqual(fromBridge.code, 0);

  // connect a running container to a second network with an alias, then disconnect it.
  await d.dockerOk(['network', 'connect', '--alias', 'api', 'back', 'srv']);
  await waitFor('the alias on back', async () => (await fetchFrom(['--network', 'back'], 'http://api/')).out === 'srv', 20_000, 200);
  const nets = Object.keys((await d.inspect('srv')).NetworkSettings.Networks).sort();
  assert.deepEqual(nets, ['back', 'front']);
  const backIns = JSON.parse(await d.dockerOk(['network', 'inspect', 'back']))[0];
  assert.ok(backIns.Containers[id], JSON.stringify(backIns.Containers));
  await d.dockerOk(['network', 'disconnect', 'back', 'srv']);
  assert.notEqual((await fetchFrom(['--network', 'back'], 'http://api/')).code, 0);

  // rm refuses a network in use, with dockerd's status and words.
  const rm = await d.api('DELETE', '/networks/front');
  assert.equal(rm.status, 403);
  assert.match(rm.json.message, /has active endpoints/);
  assert.equal(await d.dockerOk(['ps', '--filter', 'network=front', '--format', '{{.Names}}']), 'srv');
  const ls = await d.dockerOk(['network', 'ls', '--filter', 'label=tier=web', '--format', '{{.Name}}']);
  assert.equal(ls, 'front');
  await d.dockerOk(['rm', '-f', 'srv']);
  const left = JSON.parse(await d.dockerOk(['network', 'inspect', 'back']))[0].Containers;
  assert.deepEqual(left, {}, JSON.stringify(await d.dockerOk(['ps', '-a'])));
  await d.dockerOk(['network', 'rm', 'front', 'back']);
  await waitFor('network events', () => {
    const out = events.output();
    return ['"create"', '"connect"', '"disconnect"', '"destroy"'].every((a) => out.includes(a));
  }, 10_000, 100);
  events.stop();
});


test('containers of a DNS network removed and started all at once: the others still resolve each other and the new ones', async () => {
  await d.dockerOk(['network', 'create', 'crowd']);
  const all = ['c1', 'c2', 'c3', 'c4', 'c5', 'c6'];
  for (const n of all) await d.dockerOk(['run', '-d', '--name', n, '--network', 'crowd', 'busybox', 'sleep', '300']);
  // The CLI removes its arguments in parallel; two more start meanwhile.
  await Promise.all([
    d.dockerOk(['rm', '-f', 'c1', 'c2', 'c3', 'c4']),
    d.dockerOk(['run', '-d', '--name', 'c7', '--network', 'crowd', 'busybox', 'sleep', '300']),
    d.dockerOk(['run', '-d', '--name', 'c8', '--network', 'crowd', 'busybox', 'sleep', '300']),
  ]);
  // Their names leave DNS once their unwiring (after the removal answered) is done.
  for (const n of ['c1', 'c2', 'c3', 'c4']) {
    await waitFor(`${n} gone from DNS`, async () => (await d.docker(['exec', 'c5', 'nslookup', n])).code !== 0, 20_000, 200);
  }
  for (const [from, to] of [['c5', 'c6'], ['c6', 'c5'], ['c5', 'c7'], ['c7', 'c8']] as const) {
    const want = (await d.inspect(to)).NetworkSettings.Networks.crowd.IPAddress;
    let last = '';
    await waitFor(`${from} resolves ${to}`, async () => {
      const r = await d.docker(['exec', from, 'nslookup', to]);
      last = r.stdout + r.stderr;
      return last.includes(`Address: ${want}`);
    }, 10_000, 200).catch(() => assert.fail(`${from} cannot resolve ${to}: ${last}`));
  }
  await d.dockerOk(['rm', '-f', 'c5', 'c6', 'c7', 'c8']);
  await d.dockerOk(['network', 'rm', 'crowd']);
});
test('network create: subnet, gateway, ip-range, --ip, bridge name; bad input refused with dockerd\'s statuses', async () => {
  const x = d.net!.x;
  await d.dockerOk(['network', 'create', '--subnet', `10.${x}.200.0/24`, '--gateway', `10.${x}.200.254`, '--ip-range', `10.${x}.200.128/25`, '-o', `com.docker.network.bridge.name=bn${x}`, 'fixed']);
  const ins = JSON.parse(await d.dockerOk(['network', 'inspect', 'fixed']))[0];
  assert.deepEqual(ins.IPAM.Config, [{ Subnet: `10.${x}.200.0/24`, Gateway: `10.${x}.200.254`, IPRange: `10.${x}.200.128/25` }]);
  // dockerd 28 shows EnableIPv4 (the CLI's templates read it) whatever API version was asked.
  assert.equal(await d.dockerOk(['network', 'inspect', '-f', '{{.EnableIPv4}} {{.EnableIPv6}}', 'fixed']), 'true false');
  // A subnet without a gateway is shown as given, as dockerd does; the network still takes the first address.
  await d.dockerOk(['network', 'create', '--subnet', `10.${x}.202.0/24`, 'nogw']);
  assert.deepEqual(JSON.parse(await d.dockerOk(['network', 'inspect', 'nogw']))[0].IPAM.Config, [{ Subnet: `10.${x}.202.0/24` }]);
  assert.match(await d.dockerOk(['run', '--rm', '--network', 'nogw', 'busybox', 'sh', '-c', 'ip -4 route show default']), new RegExp(`^default via 10\\.${x}\\.202\\.1 dev eth0 `));
  await d.dockerOk(['network', 'rm', 'nogw']);
  const auto = await d.dockerOk(['run', '--rm', '--network', 'fixed', 'busybox', 'sh', '-c', 'ip -4 -o addr show eth0']);
  assert.ok(auto.includes(`10.${x}.200.128/24`), auto);
  const fixed = await d.dockerOk(['run', '--rm', '--network', 'fixed', '--ip', `10.${x}.200.7`, '--mac-address', '02:42:de:ad:be:ef', 'busybox', 'sh', '-c', 'ip -o link show eth0; ip -4 -o addr show eth0']);
  assert.ok(fixed.includes(`10.${x}.200.7/24`), fixed);
  assert.ok(fixed.includes('02:42:de:ad:be:ef'), fixed);
  assert.ok(spawnSync('ip', ['link', 'show', `bn${x}`]).status === 0, 'the bridge has the name asked for');

  const overlap = await d.api('POST', '/networks/create', { Name: 'ov', IPAM: { Config: [{ Subnet: `10.${x}.200.0/25` }] } });
  assert.equal(overlap.status, 403);
  assert.match(overlap.json.message, /Pool overlaps with other one on this address space/);
  const dup = await d.api('POST', '/networks/create', { Name: 'fixed' });
  assert.equal(dup.status, 409);
  assert.match(dup.json.message, /network with name fixed already exists/);
  const gw = await d.api('POST', '/networks/create', { Name: 'gw', IPAM: { Config: [{ Subnet: `10.${x}.201.0/24`, Gateway: `10.${x}.9.1` }] } });
  assert.equal(gw.status, 400);
  assert.match(gw.json.message, new RegExp(`invalid gateway 10\\.${x}\\.9\\.1: parent subnet 10\\.${x}\\.201\\.0/24 doesn't contain this address`));
  assert.equal((await d.api('GET', '/networks/nosuch')).status, 404);
  // Drivers Berth lacks: overlay answers as dockerd off a swarm, any other as a missing plugin.
  const overlay = await d.docker(['network', 'create', '--driver', 'overlay', 'ovr']);
  assert.equal(overlay.code, 1);
  assert.equal(overlay.stderr, 'Error response from daemon: This node is not a swarm manager. Use "docker swarm init" or "docker swarm join" to connect this node to swarm and try again.\n');
  assert.equal((await d.api('POST', '/networks/create', { Name: 'mv', Driver: 'macvlan2' })).status, 404);
  const unknown = await d.docker(['run', '--rm', '--network', 'nosuch', 'busybox', 'true']);
  assert.notEqual(unknown.code, 0);
  assert.match(unknown.stderr, /network nosuch not found/);
  const outside = await d.docker(['run', '--rm', '--network', 'fixed', '--ip', '192.0.2.9', 'busybox', 'true']);
  assert.notEqual(outside.code, 0);
  assert.match(outside.stderr, /no configured subnet or ip-range contain the IP address 192\.0\.2\.9/);
  const onBridge = await d.docker(['run', '--rm', '--ip', `10.${x}.0.50`, 'busybox', 'true']);
  assert.notEqual(onBridge.code, 0);
  assert.match(onBridge.stderr, /user specified IP address is supported on user defined networks only/);
  // (the docker CLI refuses this itself; the API answers dockerd's 400)
  const alias = await d.api('POST', '/containers/create', { Image: 'busybox', Cmd: ['true'], NetworkingConfig: { EndpointsConfig: { bridge: { Aliases: ['x'] } } } });
  assert.equal(alias.status, 400);
  assert.match(alias.json.message, /network-scoped alias is supported only for containers in user defined networks/);
  const pre = await d.api('DELETE', '/networks/bridge');
  assert.equal(pre.status, 403);
  await d.dockerOk(['network', 'rm', 'fixed']);
  assert.notEqual(spawnSync('ip', ['link', 'show', `bn${x}`]).status, 0, 'the bridge goes with the network');
  // --internal: no way out (no default route), yet containers on it reach each other.
  await d.dockerOk(['network', 'create', '--internal', 'inside']);
  const routes = await d.dockerOk(['run', '--rm', '--network', 'inside', 'busybox', 'ip', 'route']);
  assert.ok(!routes.includes('default'), routes);
  assert.equal(JSON.parse(await d.dockerOk(['network', 'inspect', 'inside']))[0].Internal, true);
  await d.dockerOk(['network', 'rm', 'inside']);
  await d.dockerOk(['network', 'create', 'unused1']);
  const pruned = await d.dockerOk(['network', 'prune', '-f']);
  assert.ok(pruned.includes('unused1'), pruned);
});

test('network connect --ip/MacAddress: checked whether the container runs or not, as dockerd checks them; nothing saved when refused', async () => {
  const x = d.net!.x;
  await d.dockerOk(['network', 'create', '--subnet', `10.${x}.210.0/24`, 'cfix']);
  await d.dockerOk(['network', 'create', 'cauto']);
  await d.dockerOk(['create', '--name', 'sc', 'busybox', 'sleep', '300']);
  const connect = (net: string, ctr: string, ep: object) => d.api('POST', `/networks/${net}/connect`, { Container: ctr, EndpointConfig: ep });
  const ip = (a: string) => ({ IPAMConfig: { IPv4Address: a } });
  const refused: [string, object, number, RegExp][] = [
    ['cfix', ip('192.0.2.9'), 400, /no configured subnet or ip-range contain the IP address 192\.0\.2\.9/],
    ['cfix', ip(`10.${x}.210.300`), 400, /invalid IPv4 address: /],
    ['cfix', ip('0.0.0.0'), 400, /invalid IPv4 address: 0\.0\.0\.0/],
    ['cfix', ip(`10.${x}.210.1`), 403, /gateway address of network cfix.*Address already in use/],
    ['cfix', ip(`10.${x}.210.0`), 403, /Address already in use/],
    ['cfix', ip(`10.${x}.210.255`), 403, /Address already in use/],
    ['cauto', ip(`10.${x}.210.9`), 400, /user specified IP address is supported only when connecting to networks with user configured subnets/],

    ['cfix', { MacAddress: 'not-a-mac' }, 400, /invalid MAC address not-a-mac/],
    ['cfix', { MacAddress: '02:42:0a:00:00' }, 400, /invalid MAC address/],
    ['cfix', { MacAddress: '01:00:5e:00:00:01' }, 400, /invalid MAC address 01:00:5e:00:00:01/],
  ];
  for (const [net, ep, status, re] of refused) {
    const r = await connect(net, 'sc', ep);
    assert.equal(r.status, status, `${net} ${JSON.stringify(ep)}: ${r.body}`);
    assert.match(r.json.message, re);
  }
  // The docker CLI shows the same.
  const cli = await d.docker(['network', 'connect', '--ip', `10.${x}.210.1`, 'cfix', 'sc']);
  assert.notEqual(cli.code, 0);
  assert.match(cli.stderr, /Address already in use/);
  assert.deepEqual(Object.keys((await d.inspect('sc')).NetworkSettings.Networks), ['bridge'], 'nothing refused was saved');
  await d.dockerOk(['create', '--name', 'sc3', '--network', 'cauto', 'busybox', 'true']);
  const onBridge = await connect('bridge', 'sc3', ip(`10.${x}.0.9`));
  assert.equal(onBridge.status, 400);
  assert.match(onBridge.json.message, /user specified IP address is supported on user defined networks only/);
  assert.deepEqual(Object.keys((await d.inspect('sc3')).NetworkSettings.Networks), ['cauto']);

  // Good values are saved (normalized) and applied at start.
  assert.equal((await connect('cfix', 'sc', { ...ip(`10.${x}.210.9`), MacAddress: '02-42-0A-D2-00-09' })).status, 200);
  assert.equal((await d.inspect('sc')).NetworkSettings.Networks.cfix.IPAMConfig.IPv4Address, `10.${x}.210.9`);
  await d.dockerOk(['start', 'sc']);
  const inside = await d.dockerOk(['exec', 'sc', 'ip', '-o', 'addr']);
  assert.match(inside, new RegExp(`10\\.${x}\\.210\\.9/24`));
  assert.match(await d.dockerOk(['exec', 'sc', 'ip', '-o', 'link']), /02:42:0a:d2:00:09/);
  // An address another container holds: accepted while stopped (it may be free by then), refused at start, as dockerd does.
  await d.dockerOk(['create', '--name', 'sc2', 'busybox', 'sleep', '300']);
  assert.equal((await connect('cfix', 'sc2', ip(`10.${x}.210.9`))).status, 200);
  const start = await d.api('POST', '/containers/sc2/start');
  assert.equal(start.status, 403, start.body);
  assert.match(start.json.message, /Address already in use/);
  // A running container: the same checks (a held address too), and nothing half connected.
  await d.dockerOk(['run', '-d', '--name', 'sr', '--network', 'cauto', 'busybox', 'sleep', '300']);
  const bad = await connect('cfix', 'sr', { MacAddress: 'zz:zz' });
  assert.equal(bad.status, 400);
  assert.match(bad.json.message, /invalid MAC address zz:zz/);
  const held = await connect('cfix', 'sr', ip(`10.${x}.210.9`));
  assert.equal(held.status, 403, held.body);
  assert.match(held.json.message, /Address already in use/);
  assert.deepEqual(Object.keys((await d.inspect('sr')).NetworkSettings.Networks), ['cauto']);
  assert.equal((await d.dockerOk(['exec', 'sr', 'ls', '/sys/class/net'])).split(/\s+/).sort().join(' '), 'eth0 lo');
  await d.dockerOk(['rm', '-f', 'sc', 'sc2', 'sc3', 'sr']);
  await d.dockerOk(['network', 'rm', 'cfix', 'cauto']);
});

test('--dns, --dns-search, --dns-option, --add-host with host-gateway, --hostname, --domainname, --link', async () => {
  const x = d.net!.x;
  const out = await d.dockerOk([
    'run', '--rm', '--dns', '10.9.9.9', '--dns-search', 'example.test', '--dns-option', 'ndots:2', '--add-host', 'db:10.1.2.3', '--add-host', 'gw:host-gateway',
    '--hostname', 'box', '--domainname', 'example.test', 'busybox', 'sh', '-c', 'cat /etc/resolv.conf /etc/hosts; hostname',
  ]);
  assert.match(out, /nameserver 10\.9\.9\.9/);
  assert.match(out, /search example\.test/);
  assert.match(out, /options ndots:2/);
  assert.match(out, /10\.1\.2\.3\tdb/);
  assert.ok(out.includes(`10.${x}.0.1\tgw`), out);
  assert.match(out, /\tbox\.example\.test box\n/);
  assert.ok(out.trim().endsWith('box'), out);
  await serve('linked');
  const viaLink = await waitFor('wget through --link', async () => {
    const r = await fetchFrom(['--link', 'linked:lk'], 'http://lk/');
    return r.out === 'linked' ? r : undefined;
  }, 20_000, 200);
  assert.equal(viaLink?.out, 'linked');
  await d.dockerOk(['rm', '-f', 'linked']);
});

test('berth network … and berth port print what docker prints', async () => {
  const same = async (args: string[]) => {
    const a = await d.dockerOk(args);
    const b = await d.berth(args);
    assert.equal(b.code, 0, b.stderr);
    assert.equal(b.stdout.trim(), a, `berth ${args.join(' ')}`);
    return a;
  };
  const created = await d.berth(['network', 'create', '--label', 'k=v', 'bcli']);
  assert.equal(created.code, 0, created.stderr);
  assert.match(created.stdout.trim(), /^[0-9a-f]{64}$/);
  await same(['network', 'ls']);
  await same(['network', 'ls', '-q', '--filter', 'label=k=v']);
  await same(['network', 'ls', '--format', '{{.Name}} {{.Driver}} {{.Internal}}', '--no-trunc']);
  await same(['network', 'inspect', '-f', '{{.Name}} {{.Driver}} {{json .Labels}}', 'bcli']);
  const hp = 22000 + d.net!.x * 10;
  // Two bindings of 80 on every address: four lines whose order docker port sorts naturally.
  await serve('bport', ['--network', 'bcli', '-p', `${hp}:80`, '-p', '80', '-p', '127.0.0.1::81/udp']);
  await same(['port', 'bport']);
  await same(['port', 'bport', '80']);
  // Refusals in the docker CLI 28's words: the port as given; Go's words for one that is not a port.
  for (const arg of ['99', '99/udp', 'abc', '70000']) {
    const want = await d.docker(['port', 'bport', arg]);
    const got = await d.berth(['port', 'bport', arg]);
    assert.equal(got.code, want.code, arg);
    assert.equal(got.stderr.trim(), want.stderr.trim(), arg);
  }
  await d.dockerOk(['rm', '-f', 'bport']);
  const rm = await d.berth(['network', 'rm', 'bcli']);
  assert.equal(rm.stdout, 'bcli\n');
  const gone = await d.berth(['network', 'inspect', 'bcli']);
  assert.equal(gone.code, 1);
  assert.match(gone.stderr, /network bcli not found/);
});

test('a userland proxy out of descriptors waits for them instead of spinning, and serves again once they are free', async () => {
  const hp = 26000 + d.net!.x * 10;
  // [::1]: what the proxy serves (NAT takes IPv4, loopback included).
  await serve('fdless', ['-p', `${hp}:80`]);
  await waitFor('the page on the published port', () => hostFetch(`http://[::1]:${hp}/`).out === 'fdless', 15_000, 100);
  const [proxy] = processesMentioning(`,10.${d.net!.x}.`, 'berth-proxy');
  assert.ok(proxy, 'a proxy serves the port');
  // Room for exactly four relayed connections (two descriptors each): the fifth client finds
  // accept failing with EMFILE (one free descriptor would only let it accept and drop clients).
  const open = new Set(readdirSync(`/proc/${proxy}/fd`).map(Number));
  let free = 0;
  while (open.has(free)) free++;
  const limit = free + 8;
  for (let fd = free; fd < limit; fd++) assert.ok(!open.has(fd), `descriptor ${fd} is free: ${[...open]}`);
  assert.equal(spawnSync('prlimit', ['--pid', String(proxy), `--nofile=${limit}:${limit}`]).status, 0);
  const held = Array.from({ length: 24 }, () => connect(hp, '::1').on('error', () => undefined));
  await waitFor('the clients to connect', () => held.every((s) => !s.connecting), 10_000, 50);
  const cpu = () => readFileSync(`/proc/${proxy}/stat`, 'utf8').split(') ')[1]!.split(' ').slice(11, 13).reduce((a, b) => a + Number(b), 0);
  const before = cpu();
  // One second of clients waiting in the accept queue: a proxy retrying accept would burn it all (100 ticks).
  await new Promise((r) => setTimeout(r, 1000));
  const used = cpu() - before;
  assert.ok(used < 20, `the proxy used ${used} ticks of CPU in one second while out of descriptors`);
  for (const s of held) s.destroy();
  await waitFor('the page again once descriptors are free', () => hostFetch(`http://[::1]:${hp}/`).out === 'fdless', 15_000, 100);
  await d.dockerOk(['rm', '-f', 'fdless']);
});
