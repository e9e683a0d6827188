import { test } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { mkdtempSync, readlinkSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createNetns, removeNetns } from './netns';
import { DOOMED_LINK_GROUP, deleteLinkAsync, wireVeth } from './rtnetlink';

const root = process.getuid?.() === 0;
const ip = (...args: string[]) => execFileSync('ip', args).toString();
const inNs = (ns: string, ...args: string[]) => execFileSync('nsenter', [`--net=${ns}`, 'ip', ...args]).toString();
const hasLink = (name: string) => ip('-o', 'link').split('\n').some((l) => l.split(': ')[1]?.split('@')[0] === name);

/** A bridge of the test's own (up, with `address` when given) and a fresh namespace, both removed after it. */
async function bridgeAndNetns(t: { after(fn: () => Promise<void>): void }, tag: string, address?: string): Promise<{ bridge: string; ns: string }> {
  const dir = mkdtempSync(join(tmpdir(), 'berth-rtnl-'));
  const bridge = `brt${tag}${process.pid}`;
  const ns = join(dir, 'ns');
  t.after(async () => {
    await deleteLinkAsync(bridge).catch(() => undefined);
    await removeNetns(ns);
    rmSync(dir, { recursive: true, force: true });
  });
  ip('link', 'add', bridge, 'type', 'bridge');
  if (address) ip('addr', 'add', address, 'dev', bridge);
  ip('link', 'set', bridge, 'up');
  await createNetns(ns);
  return { bridge, ns };
}

test('wireVeth: the host end up on the bridge, eth0 with its MAC, address and default route in the namespace; deleteLinkAsync takes the pair away', { skip: !root && 'needs root' }, async (t) => {
  // On a private subnet with no route out.
  const { bridge, ns } = await bridgeAndNetns(t, 'n', '10.213.77.1/24');
  const own = readlinkSync('/proc/thread-self/ns/net');
  const host = `vethrt${process.pid % 100000}`;

  wireVeth({ bridge, hostName: host, netns: ns, ifname: 'eth0', mac: '02:42:0a:d5:4d:05', ip: '10.213.77.5', prefix: 24, gateway: '10.213.77.1' });
  assert.equal(readlinkSync('/proc/thread-self/ns/net'), own, 'the main thread is back in its own namespace');

  const hostLink = ip('-o', 'link', 'show', host);
  assert.match(hostLink, new RegExp(`master ${bridge} `));
  assert.match(hostLink, /<[^>]*\bUP\b/);
  const eth0 = inNs(ns, '-o', 'link', 'show', 'eth0');
  assert.match(eth0, /link\/ether 02:42:0a:d5:4d:05 /);
  assert.match(eth0, /<[^>]*\bUP\b/);
  assert.match(inNs(ns, '-o', 'link', 'show', 'lo'), /<[^>]*\bUP\b/);
  assert.match(inNs(ns, '-o', '-4', 'addr', 'show', 'eth0'), /inet 10\.213\.77\.5\/24 brd 10\.213\.77\.255 scope global eth0/);
  assert.match(inNs(ns, 'route'), /^default via 10\.213\.77\.1 dev eth0 proto static metric 100 $/m);
  const sysctl = (key: string) => execFileSync('nsenter', [`--net=${ns}`, 'sysctl', '-n', key]).toString().trim();
  // IPv6 off on both ends of an IPv4-only pair (as Docker since 26.0.2), so neither has an
  // address nor sends anything of its own onto the bridge.
  assert.equal(sysctl('net.ipv6.conf.eth0.disable_ipv6'), '1');
  assert.equal(sysctl('net.ipv6.conf.eth0.autoconf'), '0');
  assert.equal(sysctl('net.ipv6.conf.all.disable_ipv6'), '0', 'only eth0 is changed');
  assert.equal(sysctl('net.ipv6.conf.all.autoconf'), '1', 'only eth0 is changed');
  assert.equal(inNs(ns, '-o', '-6', 'addr', 'show', 'eth0'), '', 'eth0 has no IPv6 address, not even link-local');
  assert.equal(execFileSync('sysctl', ['-n', `net.ipv6.conf.${host}.disable_ipv6`]).toString().trim(), '1');
  assert.equal(ip('-o', '-6', 'addr', 'show', host), '', 'nor has the host end');

  // The same name again is refused and leaves the first pair as it was.
  assert.throws(() => wireVeth({ bridge, hostName: host, netns: ns, ifname: 'eth1', mac: '02:42:0a:d5:4d:06', ip: '10.213.77.6', prefix: 24, gateway: '10.213.77.1' }), /EEXIST/);
  assert.ok(hasLink(host));

  assert.equal(await deleteLinkAsync(host), true);
  assert.ok(!hasLink(host), 'the host end is gone');
  assert.doesNotMatch(inNs(ns, '-o', 'link'), /eth0/, 'and its peer with it');
  assert.equal(await deleteLinkAsync(host), false, 'a second delete finds nothing');
});

test('wireVeth: a failure after the pair exists (a gateway off the subnet) deletes the pair again', { skip: !root && 'needs root' }, async (t) => {
  const { bridge, ns } = await bridgeAndNetns(t, 'f');
  const host = `vethrf${process.pid % 100000}`;
  assert.throws(
    () => wireVeth({ bridge, hostName: host, netns: ns, ifname: 'eth0', mac: '02:42:0a:d5:4e:05', ip: '10.213.78.5', prefix: 24, gateway: '10.213.99.1' }),
    (e: Error) => /default route via 10\.213\.99\.1/.test(e.message),
  );
  assert.ok(!hasLink(host), 'no host end is left');
  assert.doesNotMatch(inNs(ns, '-o', 'link'), /eth0/);
});

test('deleteLinkAsync: deletions asked for together go as one group, each told whether its device was there', { skip: !root && 'needs root' }, async (t) => {
  const names = Array.from({ length: 6 }, (_, i) => `vbt${i}x${process.pid}`.slice(0, 15));
  t.after(() => {
    for (const n of names) if (hasLink(n)) ip('link', 'del', n);
  });
  for (const n of names) ip('link', 'add', n, 'type', 'veth', 'peer', 'name', `${n.slice(0, 13)}p`);
  const missing = `vbtnone${process.pid}`.slice(0, 15);
  // The first goes alone; the rest arrive while it runs and go together, the missing one among them.
  const results = await Promise.all([...names.map((n) => deleteLinkAsync(n)), deleteLinkAsync(missing)]);
  assert.deepEqual(results, [...names.map(() => true), false]);
  for (const n of names) {
    assert.ok(!hasLink(n), `${n} is gone`);
    assert.ok(!hasLink(`${n.slice(0, 13)}p`), `and its peer`);
  }
  // Nothing of ours is left in the group, and a later lone deletion still works.
  assert.equal(ip('-o', 'link', 'show', 'group', String(DOOMED_LINK_GROUP)).trim(), '');
  ip('link', 'add', names[0], 'type', 'veth', 'peer', 'name', `${names[0].slice(0, 13)}p`);
  assert.equal(await deleteLinkAsync(names[0]), true);
  assert.ok(!hasLink(names[0]));
});

test('deleteLinkAsync: more deletions at once than one request takes all go, in several batches', { skip: !root && 'needs root' }, async (t) => {
  const names = Array.from({ length: 150 }, (_, i) => `vbm${i}x${process.pid}`.slice(0, 15));
  t.after(() => {
    for (const n of names) if (hasLink(n)) ip('link', 'del', n);
  });
  execFileSync('ip', ['-batch', '-'], { input: names.map((n) => `link add ${n} type veth peer name ${n.slice(0, 13)}p\n`).join('') });
  const results = await Promise.all(names.map((n) => deleteLinkAsync(n)));
  assert.deepEqual(results, names.map(() => true));
  const left = ip('-o', 'link').split('\n').filter((l) => /: vbm\d+x/.test(l));
  assert.deepEqual(left, [], 'no pair is left');
});
