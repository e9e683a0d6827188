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
import type { NetworkConfig } from './container-model';

export interface NetworkAttachment {
  containerId: string;
  /** The name the container sees as its own. */
  hostname: string;
  files: { hostname: string; hosts: string; resolvConf: string };
  /** Owner of the files (the remapped root with --userns-remap); root when absent. */
  owner?: { uid: number; gid: number };
  /** The container's name (DNS name on user networks). */
  name?: string;
  domainname?: string;
  /** What the container asked for; absent = loopback only. */
  network?: NetworkConfig;
  /**
   * The container has a user namespace of its own (--userns-remap): its network
   * namespace must belong to that user namespace (or it cannot mount sysfs), so runc
   * makes it and the implementation wires it through `adopt` once the process exists.
   */
  namespaceByRuntime?: boolean;
}

export interface NetworkSetUp {
  netns?: string;
  ready?: Promise<void>;
  /** With `namespaceByRuntime`: keeps and wires the namespace of the created container's process. */
  adopt?: (pid: number) => Promise<void>;
}

export interface ContainerNetwork {
  setUp(a: NetworkAttachment): Promise<NetworkSetUp | void>;
  tearDown(containerId: string): Promise<void>;
  /** Refuses at create what setUp would refuse (unknown network, bad ports). */
  check?(network: NetworkConfig): void;
  /** At start, once the engine knows which containers still run: undo what belongs to others. */
  recover?(live: ReadonlySet<string>): Promise<void>;
}
