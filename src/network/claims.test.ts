import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { BridgeNetworking } from './bridge';
import { otherClaims, writeClaim } from './claims';

test('claims: live daemons are seen, gone ones and our own data root are not', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'berth-claims-'));
  try {
    await writeClaim({ pid: process.ppid, dataRoot: '/a', devices: ['x0'], subnets: ['10.97.0.0/24'] }, dir);
    await writeClaim({ pid: 999_999_999, dataRoot: '/gone', devices: ['x1'], subnets: ['10.97.1.0/24'] }, dir);
    writeFileSync(join(dir, 'junk.json'), '{');
    assert.deepEqual(otherClaims('/b', dir).map((c) => c.dataRoot), ['/a']);
    assert.deepEqual(otherClaims('/a', dir), []);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test('a daemon keeps clear of the bridge device and subnets another live daemon holds', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'berth-claims-'));
  try {
    const claims = join(dir, 'claims');
    await writeClaim({ pid: process.ppid, dataRoot: '/other', devices: ['berth0'], subnets: ['10.97.0.0/24'] }, claims);
    const pools = [{ base: '10.97.0.0/22', size: 24 }];
    const b = new BridgeNetworking({ dataRoot: join(dir, 'data'), execRoot: join(dir, 'exec'), netavark: '/bin/false', pools, claimsDir: claims });
    await b.init();
    const bridge = b.get('bridge');
    assert.equal(bridge.bridge, 'berth1');
    assert.equal(bridge.subnet, '10.97.1.0/24');
    const n = await b.create({ name: 'u1' });
    assert.equal(b.get(n.id).subnet, '10.97.2.0/24');
    await assert.rejects(b.create({ name: 'u2', subnet: '10.97.0.0/25' }), /another berthd/);
    const explicit = new BridgeNetworking({ dataRoot: join(dir, 'data2'), execRoot: join(dir, 'exec2'), netavark: '/bin/false', bridgeName: 'berth0', claimsDir: claims });
    await assert.rejects(explicit.init(), /bridge berth0 is in use by another berthd/);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});
