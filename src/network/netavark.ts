/**
 * netavark, the network stack under Berth's networks: one `setup` or `teardown` call
 * per container namespace with the whole picture as JSON on stdin (which networks,
 * which addresses, which ports). netavark makes the bridge, the veth pair, the
 * addresses and routes, the iptables NAT and port forwarding rules, and starts
 * aardvark-dns for networks with DNS. Berth decides every address; netavark only wires.
 */
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { traceSpan, traceStart } from '../common';
import { runCollected } from '../sys';

export const NETAVARK_CANDIDATES = ['/usr/lib/podman/netavark', '/usr/libexec/podman/netavark', '/usr/local/lib/podman/netavark'];
export const AARDVARK_CANDIDATES = ['/usr/lib/podman/aardvark-dns', '/usr/libexec/podman/aardvark-dns', '/usr/local/lib/podman/aardvark-dns'];

export function findBinary(candidates: readonly string[]): string | undefined {
  return candidates.find((p) => existsSync(p));
}

/** A network as netavark reads it (Podman's network JSON). */
export interface NetavarkNetwork {
  name: string;
  id: string;
  driver: 'bridge';
  network_interface: string;
  subnets: { subnet: string; gateway?: string }[];
  ipv6_enabled: boolean;
  internal: boolean;
  dns_enabled: boolean;
  options?: Record<string, string>;
  ipam_options: { driver: 'host-local' };
}

export interface NetavarkPort {
  host_ip: string;
  container_port: number;
  host_port: number;
  range: number;
  protocol: string;
}

export interface NetavarkRequest {
  container_id: string;
  container_name: string;
  port_mappings: NetavarkPort[];
  networks: Record<string, { static_ips: string[]; aliases: string[]; interface_name: string; static_mac?: string }>;
  network_info: Record<string, NetavarkNetwork>;
  dns_servers?: string[];
}

export interface NetavarkResult {
  [network: string]: {
    interfaces: Record<string, { mac_address: string; subnets?: { ipnet: string; gateway?: string }[] }>;
    dns_server_ips?: string[];
    dns_search_domains?: string[];
  };
}

export class Netavark {
  /**
   * Calls for different containers run side by side (netavark waits on the xtables lock);
   * `exclusive` calls (a network's anchor, which makes or removes the bridge and its chains)
   * wait for everything before them and hold off what comes after.
   *
   * Calls that touch a network with DNS go one at a time among themselves: netavark (1.4)
   * locks aardvark-dns's config only while adding entries. A teardown rewrites the network's
   * file in place (truncate, then write) with no lock, so another teardown reading it in
   * between saw it empty, deleted it and stopped aardvark-dns: the containers left on the
   * network could no longer resolve each other (`docker rm -f` of several at once did it).
   */
  private exclusiveTail: Promise<unknown> = Promise.resolve();
  private dnsTail: Promise<unknown> = Promise.resolve();
  private readonly inFlight = new Set<Promise<unknown>>();

  constructor(
    readonly binary: string,
    /** netavark's own state (aardvark-dns config) lives here. */
    readonly configDir: string,
    readonly aardvark?: string,
  ) {}

  /**
   * netavark runs `iptables` two dozen times per container setup, looked up in PATH: the
   * directory that has it goes first, so that each run is one execve, not one per PATH
   * entry before it (seven on a PATH like /root/.cargo/bin:…:/usr/sbin). Made at the first call.
   */
  private envCache?: Record<string, string>;
  private get env(): Record<string, string> {
    if (!this.envCache) {
      const dirs = (process.env.PATH ?? '/usr/sbin:/usr/bin:/sbin:/bin').split(':').filter(Boolean);
      const first = dirs.find((d) => existsSync(join(d, 'iptables')));
      const path = first ? [first, ...dirs.filter((d) => d !== first)] : dirs;
      this.envCache = { ...(process.env as Record<string, string>), PATH: path.join(':'), RUST_LOG: 'error' };
    }
    return this.envCache;
  }

  setup(netns: string, req: NetavarkRequest, exclusive = false): Promise<NetavarkResult> {
    return this.call('setup', netns, req, exclusive).then((out) => JSON.parse(out || '{}') as NetavarkResult);
  }

  async teardown(netns: string, req: NetavarkRequest, exclusive = false): Promise<void> {
    await this.call('teardown', netns, req, exclusive);
  }

  private call(cmd: 'setup' | 'teardown', netns: string, req: NetavarkRequest, exclusive: boolean): Promise<string> {
    const settled = (p: Promise<unknown>) => p.then(() => undefined, () => undefined);
    if (exclusive) {
      const before = [settled(this.exclusiveTail), ...[...this.inFlight].map(settled)];
      const next = Promise.all(before).then(() => this.exec(cmd, netns, req));
      this.exclusiveTail = next;
      return next;
    }
    const dns = Object.values(req.network_info).some((n) => n.dns_enabled);
    const gate = dns ? Promise.all([settled(this.exclusiveTail), settled(this.dnsTail)]) : settled(this.exclusiveTail);
    const next = gate.then(() => this.exec(cmd, netns, req));
    if (dns) this.dnsTail = next;
    this.inFlight.add(next);
    void settled(next).then(() => this.inFlight.delete(next));
    return next;
  }

  private async exec(cmd: string, netns: string, req: NetavarkRequest): Promise<string> {
    const args = ['--config', this.configDir, ...(this.aardvark ? ['--aardvark-binary', this.aardvark] : []), cmd, netns];
    // posix_spawn, not a fork of berthd (see sys/spawn.ts): one call per container start and
    // removal, 20 of them at once in a burst of `run -d`. A teardown runs after the container's
    // exit or removal has answered (nothing waits for it but the address's reuse): at a lower
    // priority, so that a burst of removals (rm -f of 20) is not slowed by its own clean-up.
    const t = traceStart();
    const { code, stdout, stderr } = await runCollected(this.binary, args, Buffer.from(JSON.stringify(req)), { env: this.env, ...(cmd === 'teardown' ? { nice: 10 } : {}) });
    traceSpan(req.container_id, `netavark ${cmd}`, t);
    if (code === 0) return stdout;
    // netavark reports failures as {"error": "..."} on stdout.
    let msg = '';
    try {
      msg = (JSON.parse(stdout) as { error?: string }).error ?? '';
    } catch {
      msg = stdout.trim();
    }
    const why = stderr.split('\n').filter((l) => l && !l.includes('syslog')).join('; ');
    throw new Error(`netavark ${cmd}: ${msg || why || `exit ${code}`}`);
  }
}
