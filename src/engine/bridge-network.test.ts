/**
 * The container-network conformance suite on network/bridge.ts with netavark: every
 * attachment asks for the default bridge, on a bridge and subnet of this test's own.
 */
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { BridgeNetworking, NETAVARK_CANDIDATES, findBinary } from '../network';
import { defaultSpec } from './container-model';
import type { ContainerNetwork, NetworkAttachment } from './container-network';
import { networkConformance } from './test-network-conformance';

const netavark = findBinary(NETAVARK_CANDIDATES);
if (netavark && process.getuid?.() === 0) {
  networkConformance('bridge network (netavark)', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'berth-bridge-'));
    const hostResolvConf = join(dir, 'resolv.conf');
    writeFileSync(hostResolvConf, 'nameserver 127.0.0.53\nnameserver 192.0.2.53\n');
    // 10.99.N.0/24: outside the integration tests' 10.100–199 and the CRI tests' 10.77 and 10.88.
    const n = process.pid % 250;
    const bridge = new BridgeNetworking({ dataRoot: join(dir, 'data'), execRoot: join(dir, 'exec'), netavark, bridgeName: `btu${n}`, bip: `10.99.${n}.1/24`, hostResolvConf });
    await bridge.init();
    await bridge.recover(new Set());
    const network: ContainerNetwork = {
      setUp: async (a: NetworkAttachment) => {
        const r = await bridge.setUp({ ...a, network: defaultSpec('x').network });
        await r.ready;
        return r;
      },
      tearDown: (id) => bridge.tearDown(id),
    };
    return {
      network,
      hostnameAddress: (a) => bridge.stateOf(a.containerId)?.endpoints[0]?.ip ?? null,
      cleanup: async () => {
        await bridge.close();
        rmSync(dir, { recursive: true, force: true });
      },
    };
  });
}
