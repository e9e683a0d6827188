/**
 * The container-network port: how a container gets its network. The engine calls
 * `setUp` before every start, once the record's files directory exists, and
 * `tearDown` after every exit and at removal (also after a failed start). The
 * implementation owns the files bound at /etc/hostname, /etc/hosts and
 * /etc/resolv.conf (their host paths are in `files`). Implementations:
 * network/loopback.ts (a namespace with loopback only) and network/bridge.ts
 * (bridge networks through netavark).
 *
 * `setUp` may return the path of a network namespace it made for the container (runc
 * joins it) and a `ready` promise: the engine creates the container meanwhile and
 * starts its process only once `ready` settles.
 */
import type { BridgeAttachment, NetworkSetUp } from '../network';
import type { NetworkConfig } from './container-model';

/**
 * What the engine hands the implementation: the network layer's attachment (container id,
 * hostname, the files bound at /etc/hostname, hosts and resolv.conf, their owner with
 * --userns-remap, name, domain name), with the network in the engine's model; absent =
 * loopback only. `setUp` answers with the network layer's `NetworkSetUp`: a namespace for
 * runc to join and a `ready` promise, or `attach(pid)` for a namespace runc makes (the
 * user-namespaced containers, whose /sys mount needs a network namespace their user
 * namespace owns).
 */
export type NetworkAttachment = Omit<BridgeAttachment, 'network'> & { network?: NetworkConfig };
export type { NetworkSetUp };

export interface ContainerNetwork {
  setUp(a: NetworkAttachment): Promise<NetworkSetUp | void>;
  tearDown(containerId: string): Promise<void>;
  /** Refuses at create what setUp would refuse (unknown network, bad ports). */
  check?(network: NetworkConfig): void;
  /** At start, once the engine knows which containers still run: undo what belongs to others. */
  recover?(live: ReadonlySet<string>): Promise<void>;
}
