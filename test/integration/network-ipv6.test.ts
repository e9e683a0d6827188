// IPv6 on user bridge networks (dual stack, as dockerd's --ipv6): netavark wires both
// families; containers get an IPv6 address from the network's subnet and reach each other.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { useDaemon, waitFor } from './harness';

const d = useDaemon();

test('--ipv6 --subnet: containers get IPv6 addresses and ping each other over IPv6', async () => {
  const x = d.net!.x;
  const sub = `fd00:db8:${x.toString(16)}::/64`;
  await d.dockerOk(['network', 'create', '--ipv6', '--subnet', sub, 'v6net']);
  const net = JSON.parse(await d.dockerOk(['network', 'inspect', 'v6net']))[0];
  assert.equal(net.EnableIPv6, true);
  // As dockerd shows it: the IPv6 config as given (no gateway), the IPv4 one berthd picked with its gateway.
  assert.ok(net.IPAM.Config.some((c: { Subnet: string; Gateway?: string }) => c.Subnet === sub && !('Gateway' in c)), JSON.stringify(net.IPAM));
  assert.ok(net.IPAM.Config.some((c: { Subnet: string; Gateway?: string }) => !c.Subnet.includes(':') && c.Gateway), JSON.stringify(net.IPAM));
  await d.dockerOk(['run', '-d', '--name', 'six1', '--network', 'v6net', 'busybox', 'sleep', '300']);
  const e = (await d.inspect('six1')).NetworkSettings.Networks.v6net;
  assert.equal(e.GlobalIPv6Address, `fd00:db8:${x.toString(16)}::2`);
  assert.equal(e.GlobalIPv6PrefixLen, 64);
  assert.equal(e.IPv6Gateway, `fd00:db8:${x.toString(16)}::1`);
  assert.match(e.IPAddress, /^10\./, 'dual stack: an IPv4 address too');
  const addrs = await d.dockerOk(['exec', 'six1', 'ip', '-6', 'addr', 'show', 'eth0']);
  assert.ok(addrs.includes(`${e.GlobalIPv6Address}/64`), addrs);
  const hosts = await d.dockerOk(['exec', 'six1', 'cat', '/etc/hosts']);
  assert.ok(hosts.includes(`${e.GlobalIPv6Address}\t`), hosts);
  const listed = JSON.parse(await d.dockerOk(['network', 'inspect', 'v6net']))[0].Containers;
  assert.ok(Object.values(listed).some((c) => (c as { IPv6Address: string }).IPv6Address === `${e.GlobalIPv6Address}/64`), JSON.stringify(listed));
  // Another container on the network reaches it by its IPv6 address (DAD may hold the address a moment).
  let last = '';
  await waitFor('ping6 by address', async () => {
    const r = await d.docker(['run', '--rm', '--network', 'v6net', 'busybox', 'sh', '-c', `ip -6 addr; ip -6 route; ping -6 -c 1 -W 2 ${e.GlobalIPv6Address}`], { timeoutMs: 30_000 });
    last = r.stdout + r.stderr;
    return r.code === 0;
  }, 30_000, 500).catch((err) => assert.fail(`${err}: ${last}`));
  // --ip6 picks the address; one outside the subnet is refused at create.
  await d.dockerOk(['run', '-d', '--name', 'six2', '--network', 'v6net', '--ip6', `fd00:db8:${x.toString(16)}::99`, 'busybox', 'sleep', '300']);
  assert.equal((await d.inspect('six2')).NetworkSettings.Networks.v6net.GlobalIPv6Address, `fd00:db8:${x.toString(16)}::99`);
  const out = await d.docker(['create', '--network', 'v6net', '--ip6', 'fd00:dead::5', 'busybox', 'true']);
  assert.notEqual(out.code, 0);
  assert.match(out.stderr, /no configured subnet or ip-range contain the IP address fd00:dead::5/);
  await d.dockerOk(['rm', '-f', 'six1', 'six2']);
  await d.dockerOk(['network', 'rm', 'v6net']);
});

test('IPv6 bad input: no subnet, a v6 subnet without --ipv6, overlapping subnets', async () => {
  const x = d.net!.x;
  const noSub = await d.docker(['network', 'create', '--ipv6', 'v6bad']);
  assert.notEqual(noSub.code, 0);
  assert.match(noSub.stderr, /needs its IPv6 subnet/);
  const noFlag = await d.docker(['network', 'create', '--subnet', `fd00:db8:${x.toString(16)}::/64`, 'v6bad']);
  assert.notEqual(noFlag.code, 0);
  assert.match(noFlag.stderr, /IPv6 is not enabled on the network: add --ipv6/);
  await d.dockerOk(['network', 'create', '--ipv6', '--subnet', `fd00:db8:${x.toString(16)}::/64`, 'v6a']);
  const clash = await d.docker(['network', 'create', '--ipv6', '--subnet', `fd00:db8:${x.toString(16)}::/80`, 'v6b']);
  assert.notEqual(clash.code, 0);
  assert.match(clash.stderr, /Pool overlaps with other one on this address space/);
  const names = await d.dockerOk(['network', 'ls', '--format', '{{.Name}}']);
  assert.ok(!names.includes('v6bad') && !names.includes('v6b'), names);
  await d.dockerOk(['network', 'rm', 'v6a']);
});

test('IPAM entries: a gateway or ip-range without a subnet, or of the other family, is a 400 for either family; nothing is made', async () => {
  const x = d.net!.x;
  const v6 = `fd00:db8:${x.toString(16)}:77::`;
  const create = (name: string, config: object[], ipv6 = true) => d.api('POST', '/networks/create', { Name: name, EnableIPv6: ipv6, IPAM: { Config: config } });
  const cases: [object[], RegExp][] = [
    [[{ Gateway: `${v6}1` }], new RegExp(`gateway ${v6}1 given without a subnet`)],
    [[{ Subnet: `10.${x}.220.0/24` }, { Gateway: `${v6}1` }], new RegExp(`gateway ${v6}1 given without a subnet`)],
    [[{ Gateway: `10.${x}.220.1` }], new RegExp(`gateway 10\\.${x}\\.220\\.1 given without a subnet`)],
    [[{ IPRange: `${v6}/80` }], /ip-range .* given without a subnet/],
    [[{ Subnet: `${v6}/64`, Gateway: `10.${x}.220.1` }], /invalid gateway .*: parent subnet is an IPv6 block/],
    [[{ Subnet: `10.${x}.220.0/24`, Gateway: `${v6}1` }], /invalid gateway .*: parent subnet is an IPv4 block/],
    [[{ Subnet: `${v6}/64`, Gateway: 'fd00:dead::1' }], new RegExp(`invalid gateway fd00:dead::1: parent subnet ${v6}/64 doesn't contain this address`)],
  ];
  for (const [config, re] of cases) {
    const r = await create('ipamx', config);
    assert.equal(r.status, 400, `${JSON.stringify(config)}: ${r.body}`);
    assert.match(r.json.message, re);
  }
  // The docker CLI refuses a gateway without a subnet itself; the API answer above is the daemon's.
  assert.ok(!(await d.dockerOk(['network', 'ls', '--format', '{{.Name}}'])).split('\n').includes('ipamx'));
  // Given right, the IPv6 gateway is the network's.
  const ok = await create('ipamok', [{ Subnet: `10.${x}.220.0/24` }, { Subnet: `${v6}/64`, Gateway: `${v6}fe` }]);
  assert.equal(ok.status, 201, ok.body);
  const net = JSON.parse(await d.dockerOk(['network', 'inspect', 'ipamok']))[0];
  assert.ok(net.IPAM.Config.some((c: { Subnet: string; Gateway: string }) => c.Subnet === `${v6}/64` && c.Gateway === `${v6}fe`), JSON.stringify(net.IPAM));
  await d.dockerOk(['network', 'rm', 'ipamok']);
});
