/**
 * What every ContainerNetwork must do, as node:test cases (like test-runtime-conformance.ts
 * for the runtime port): registered once per implementation, today by
 * loopback-network.test.ts for network/loopback.ts.
 *
 * `make` gives a fresh network and says which address its hosts file maps a container's
 * hostname to. dockerd writes that line (`<ip>\t<hostname>`) only for a network that gives
 * the container an address; with `--network none` (loopback only) its hosts file holds the
 * loopback names alone, and so must ours. The suite writes the files in a temp dir of its own.
 */
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdirSync, mkdtempSync, readFileSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { needsRoot } from '../common/test-root';
import type { ContainerNetwork, NetworkAttachment } from './container-network';

export interface NetworkUnderTest {
  network: ContainerNetwork;
  /** The address of the container's hostname line in its hosts file; null when there is none. */
  hostnameAddress(a: NetworkAttachment): string | null;
  cleanup(): Promise<void>;
}

type Files = NetworkAttachment['files'];

export function networkConformance(name: string, make: () => Promise<NetworkUnderTest>): void {
  let t: NetworkUnderTest;
  let dir: string;
  let n = 0;
  /** An attachment of a new container, its files in a directory of their own. */
  const attachment = (over: Partial<NetworkAttachment> = {}): NetworkAttachment => {
    const containerId = `${(++n).toString(16).padStart(4, '0')}${'d'.repeat(60)}`;
    const files = join(dir, containerId);
    mkdirSync(files);
    return {
      containerId,
      hostname: containerId.slice(0, 12),
      files: { hostname: join(files, 'hostname'), hosts: join(files, 'hosts'), resolvConf: join(files, 'resolv.conf') },
      ...over,
    };
  };
  const read = (f: Files) => ({ hostname: readFileSync(f.hostname, 'utf8'), hosts: readFileSync(f.hosts, 'utf8'), resolvConf: readFileSync(f.resolvConf, 'utf8') });
  /** The files as dockerd writes them for the attachment. */
  const checkFiles = (a: NetworkAttachment) => {
    const { hostname, hosts } = read(a.files);
    assert.equal(hostname, `${a.hostname}\n`);
    const lines = hosts.split('\n');
    assert.equal(lines[0], '127.0.0.1\tlocalhost', `hosts starts with the IPv4 loopback name:\n${hosts}`);
    assert.ok(lines.includes('::1\tlocalhost ip6-localhost ip6-loopback'), `hosts names the IPv6 loopback:\n${hosts}`);
    assert.ok(hosts.endsWith('\n'), 'hosts ends with a newline');
    const naming = lines.filter((l) => l.split(/\s+/).slice(1).includes(a.hostname));
    const address = t.hostnameAddress(a);
    assert.deepEqual(naming, address === null ? [] : [`${address}\t${a.hostname}`], `the lines naming ${a.hostname}:\n${hosts}`);
    assert.ok(statSync(a.files.resolvConf).isFile(), 'resolv.conf is written');
  };

  before(async () => {
    dir = mkdtempSync(join(tmpdir(), 'berth-netconf-'));
    t = await make();
  });
  after(async () => {
    await t.cleanup();
    rmSync(dir, { recursive: true, force: true });
  });

  test(`${name}: setUp writes each container's hostname, hosts and resolv.conf`, async () => {
    const a = attachment();
    const b = attachment({ hostname: 'web' });
    await Promise.all([t.network.setUp(a), t.network.setUp(b)]);
    checkFiles(a);
    checkFiles(b);
    await t.network.tearDown(a.containerId);
    await t.network.tearDown(b.containerId);
  });

  test(`${name}: the files belong to the owner when one is given`, needsRoot('chown to another user'), async () => {
    const owner = { uid: 100000, gid: 100001 };
    const a = attachment({ owner });
    await t.network.setUp(a);
    for (const p of Object.values(a.files)) {
      const st = statSync(p);
      assert.deepEqual({ uid: st.uid, gid: st.gid }, owner, p);
    }
    await t.network.tearDown(a.containerId);
  });

  test(`${name}: tearDown of an unknown container is a no-op`, async () => {
    const a = attachment();
    await t.network.setUp(a);
    const kept = read(a.files);
    await t.network.tearDown(`ffff${'e'.repeat(60)}`);
    assert.deepEqual(read(a.files), kept, 'another container\'s files are left alone');
    await t.network.tearDown(a.containerId);
  });

  test(`${name}: setUp again after tearDown (a restart) gives the same files`, async () => {
    const a = attachment();
    await t.network.setUp(a);
    const first = read(a.files);
    await t.network.tearDown(a.containerId);
    await t.network.setUp(a);
    checkFiles(a);
    assert.deepEqual(read(a.files), first);
    await t.network.tearDown(a.containerId);
    await t.network.tearDown(a.containerId);
  });

  test(`${name}: setUp twice is idempotent`, async () => {
    const a = attachment();
    await t.network.setUp(a);
    const first = read(a.files);
    await t.network.setUp(a);
    checkFiles(a);
    assert.deepEqual(read(a.files), first, 'nothing is appended twice');
    await t.network.tearDown(a.containerId);
  });
}
