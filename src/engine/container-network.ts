/**
 * The container-network port: how a container gets its network. The engine calls
 * `setUp` before every start, once the record's files directory exists, and
 * `tearDown` after every exit and at removal (also after a failed start). The
 * implementation owns the files bound at /etc/hostname, /etc/hosts and
 * /etc/resolv.conf (their host paths are in `files`). The first implementation is
 * network/loopback.ts: a namespace with loopback only.
 */
export interface NetworkAttachment {
  containerId: string;
  /** The name the container sees as its own. */
  hostname: string;
  files: { hostname: string; hosts: string; resolvConf: string };
  /** Owner of the files (the remapped root with --userns-remap); root when absent. */
  owner?: { uid: number; gid: number };
}

export interface ContainerNetwork {
  setUp(a: NetworkAttachment): Promise<void>;
  tearDown(containerId: string): Promise<void>;
}
