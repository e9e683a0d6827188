/**
 * The container-network conformance suite on network/loopback.ts. It lives in engine
 * because network may not import engine (where the port and the suite are).
 */
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { LoopbackNetwork } from '../network';
import { networkConformance } from './test-network-conformance';

networkConformance('loopback network', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'berth-loopback-'));
  const hostResolvConf = join(dir, 'resolv.conf');
  writeFileSync(hostResolvConf, 'nameserver 127.0.0.53\nnameserver 192.0.2.53\n');
  return {
    network: new LoopbackNetwork(hostResolvConf),
    // Loopback only, as dockerd's --network none: no address for the hostname.
    hostnameAddress: () => null,
    cleanup: async () => rmSync(dir, { recursive: true, force: true }),
  };
});
