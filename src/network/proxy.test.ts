import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createSocket } from 'node:dgram';
import { connect, createServer, type AddressInfo, type Server } from 'node:net';
import { randomBytes } from 'node:crypto';
import { findProxy, ProxyBindError, proxyAlive, startProxy, stopProxy } from './proxy';
import { portFree, type PortMapping } from './ports';
import { procStartTime } from '../sys';

// The real berth-proxy (built by `npm run build` from native/berth-proxy.c) relaying to
// servers on 127.0.0.1 that stand for a container's address.
const binary = findProxy();

function listen(s: Server, host: string, port = 0): Promise<number> {
  return new Promise((resolve, reject) => {
    s.once('error', reject);
    s.listen({ port, host, ipv6Only: host.includes(':') }, () => resolve((s.address() as AddressInfo).port));
  });
}

/** A free port on both 0.0.0.0 and "::" (the kernel's pick for one, checked for the other). */
async function freeBoth(): Promise<number> {
  for (;;) {
    const s = createServer();
    const p = await listen(s, '0.0.0.0');
    await new Promise((r) => s.close(r));
    if (await portFree('tcp', '::', p)) return p;
  }
}

const map = (protocol: 'tcp' | 'udp', hostIp: string, hostPort: number, containerPort: number): PortMapping => ({ protocol, hostIp, hostPort, containerPort });

test('berth-proxy is built', () => {
  assert.ok(binary, 'dist/native/berth-proxy is missing: npm run build compiles it');
});

test('TCP: a connection on "::" reaches the IPv4 target, bytes both ways, half-close passed on; the ports are held until stopProxy', async () => {
  // An echo server that answers once the client has finished sending (so half-close must reach it).
  const target = createServer((c) => {
    const got: Buffer[] = [];
    c.on('data', (d) => got.push(d));
    c.on('end', () => c.end(Buffer.concat(got)));
  });
  const tport = await listen(target, '127.0.0.1');
  const hp = await freeBoth();
  const h = await startProxy(binary!, [map('tcp', '', hp, tport), map('tcp', '::', hp, tport)], '127.0.0.1');
  try {
    assert.ok(proxyAlive(h));
    const payload = randomBytes(3 << 20);
    const echoed = await new Promise<Buffer>((resolve, reject) => {
      const c = connect({ host: '::1', port: hp });
      const got: Buffer[] = [];
      c.on('data', (d) => got.push(d));
      c.on('end', () => resolve(Buffer.concat(got)));
      c.on('error', reject);
      c.end(payload);
    });
    assert.ok(echoed.equals(payload), `${echoed.length} of ${payload.length} bytes came back intact`);
    assert.equal(await portFree('tcp', '0.0.0.0', hp), false, 'the IPv4 side is held');
    assert.equal(await portFree('tcp', '::', hp), false, 'the IPv6 side is held');
  } finally {
    await stopProxy(h);
    target.close();
  }
  assert.equal(proxyAlive(h), false);
  assert.equal(await portFree('tcp', '0.0.0.0', hp), true, 'free once stopped');
  assert.equal(await portFree('tcp', '::', hp), true);
});

test('TCP: a target that refuses closes the client connection', async () => {
  const gone = createServer();
  const tport = await listen(gone, '127.0.0.1');
  await new Promise((r) => gone.close(r));
  const hp = await freeBoth();
  const h = await startProxy(binary!, [map('tcp', '::', hp, tport)], '127.0.0.1');
  try {
    const ended = await new Promise<string>((resolve) => {
      const c = connect({ host: '::1', port: hp });
      c.on('close', () => resolve('closed'));
      c.on('error', () => undefined);
    });
    assert.equal(ended, 'closed');
  } finally {
    await stopProxy(h);
  }
});

test('UDP: each peer gets its own relay, and the answers go back to it', async () => {
  const target = createSocket('udp4');
  target.on('message', (m, r) => target.send(Buffer.concat([Buffer.from('re:'), m]), r.port, r.address));
  const tport = await new Promise<number>((r) => target.bind(0, '127.0.0.1', () => r(target.address().port)));
  const hp = await freeBoth();
  const h = await startProxy(binary!, [map('udp', '::', hp, tport)], '127.0.0.1');
  const ask = (text: string) =>
    new Promise<string>((resolve, reject) => {
      const s = createSocket('udp6');
      s.once('message', (m) => {
        s.close();
        resolve(m.toString());
      });
      s.once('error', reject);
      s.send(text, hp, '::1');
    });
  try {
    assert.deepEqual(await Promise.all([ask('one'), ask('two')]), ['re:one', 're:two']);
  } finally {
    await stopProxy(h);
    target.close();
  }
});

test('a port a host process holds: ProxyBindError names that mapping with the cause in dockerd\'s words; nothing left running', async () => {
  const holder = createServer();
  const held = await listen(holder, '::');
  const free = await freeBoth();
  try {
    const ports = [map('tcp', '0.0.0.0', free, 80), map('tcp', '::', held, 80)];
    const err = await startProxy(binary!, ports, '127.0.0.1').then(
      () => undefined,
      (e: unknown) => e,
    );
    assert.ok(err instanceof ProxyBindError, String(err));
    assert.equal(err.mapping, ports[1]);
    assert.equal(err.cause_, 'address already in use');
    // The listener it had bound before the failure went with it.
    assert.equal(await portFree('tcp', '0.0.0.0', free), true);
  } finally {
    holder.close();
  }
});

test('stopProxy leaves alone a process whose start time differs (a reused pid)', async () => {
  await stopProxy({ pid: process.pid, start: '1' });
  assert.ok(proxyAlive({ pid: process.pid, start: procStartTime(process.pid)! }));
});
