/**
 * Today's container networking: a network namespace with only loopback in it (runc
 * brings `lo` up), and the files that name and resolve hosts inside the container.
 *
 * Contract:
 * - `setUp` (before every start) writes the container's hostname file, a hosts file
 *   with the loopback names, and a resolv.conf copied from the host's without the
 *   host's loopback resolvers, which are unreachable from the container's namespace.
 *   With `owner`, the files belong to it (the remapped root of --userns-remap).
 * - `tearDown` (after every exit and at removal) has nothing to release here: no
 *   interface or address outlives the container's namespace.
 */
import { promises as fsp } from 'node:fs';

export interface NetworkFiles {
  hostname: string;
  hosts: string;
  resolvConf: string;
}

export interface LoopbackAttachment {
  containerId: string;
  hostname: string;
  /** Host paths of the files bound at /etc/hostname, /etc/hosts and /etc/resolv.conf. */
  files: NetworkFiles;
  owner?: { uid: number; gid: number };
}

const HOSTS = '127.0.0.1\tlocalhost\n::1\tlocalhost ip6-localhost ip6-loopback\nfe00::0\tip6-localnet\nff00::0\tip6-mcastprefix\nff02::1\tip6-allnodes\nff02::2\tip6-allrouters\n';

/** The host's resolver config without loopback nameservers. */
export function containerResolvConf(hostText: string): string {
  return hostText
    .split('\n')
    .filter((l) => !/^\s*nameserver\s+(127\.|::1\s*$)/.test(l))
    .join('\n');
}

export class LoopbackNetwork {
  constructor(private readonly hostResolvConf = '/etc/resolv.conf') {}

  async setUp(a: LoopbackAttachment): Promise<void> {
    let resolv = '';
    try {
      resolv = await fsp.readFile(this.hostResolvConf, 'utf8');
    } catch {
      // no host resolver config: the container gets an empty one
    }
    const { files } = a;
    await Promise.all([fsp.writeFile(files.hostname, `${a.hostname}\n`), fsp.writeFile(files.hosts, HOSTS), fsp.writeFile(files.resolvConf, containerResolvConf(resolv))]);
    if (a.owner) {
      const { uid, gid } = a.owner;
      await Promise.all([files.hostname, files.hosts, files.resolvConf].map((p) => fsp.chown(p, uid, gid)));
    }
  }

  async tearDown(_containerId: string): Promise<void> {
    // Loopback lives and dies with the container's namespace.
  }
}
