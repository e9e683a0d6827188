/**
 * Where a registry named in an image reference is reached: `docker.io` is
 * served by registry-1.docker.io, loopback registries and those the daemon
 * lists as insecure speak plain HTTP, every other one HTTPS.
 */
import { BlockList, isIP } from 'node:net';
import { invalidArgument } from '../../common';
import { DEFAULT_DOMAIN, isValidDomain } from '../../common';

/** The host that serves Docker Hub's registry API. */
export const DOCKER_HUB_REGISTRY_HOST = 'registry-1.docker.io';

/** Docker Hub's index, which serves the v1 search API. */
export const DOCKER_HUB_INDEX = 'https://index.docker.io';

export interface RegistryEndpoint {
  /** The registry as references name it: `docker.io`, `localhost:5000`, `[::1]:5000`. */
  domain: string;
  /** `https://registry-1.docker.io`, `http://127.0.0.1:5000`: no trailing slash. */
  base: string;
  /** True when the endpoint is plain HTTP. */
  plainHttp: boolean;
}

/**
 * The endpoint of `domain`. `insecureRegistries` entries are `host`,
 * `host:port` or an IP range in CIDR form (`10.0.0.0/8`), as dockerd's
 * `insecure-registries` option takes them.
 */
export function resolveEndpoint(domain: string, insecureRegistries: readonly string[] = []): RegistryEndpoint {
  if (!isValidDomain(domain)) throw invalidArgument(`invalid registry name ${JSON.stringify(domain)}`);
  const host = domain === DEFAULT_DOMAIN ? DOCKER_HUB_REGISTRY_HOST : domain;
  const plainHttp = isLoopbackHost(hostOf(host)) || isInsecureRegistry(host, insecureRegistries);
  return { domain, base: `${plainHttp ? 'http' : 'https'}://${host}`, plainHttp };
}

/** The host name or address of `host[:port]`, without brackets around IPv6 addresses. */
export function hostOf(hostPort: string): string {
  if (hostPort.startsWith('[')) {
    const end = hostPort.indexOf(']');
    return end > 0 ? hostPort.slice(1, end) : hostPort;
  }
  const colon = hostPort.indexOf(':');
  return colon >= 0 && hostPort.indexOf(':', colon + 1) < 0 ? hostPort.slice(0, colon) : hostPort;
}

/** True for `localhost`, 127.0.0.0/8 and ::1 (also as ::ffff:127.x.y.z). */
export function isLoopbackHost(host: string): boolean {
  const h = host.toLowerCase().replace(/^\[|\]$/g, '');
  if (h === 'localhost') return true;
  const kind = isIP(h);
  if (kind === 4) return LOOPBACK.check(h, 'ipv4');
  if (kind === 6) return LOOPBACK.check(h, 'ipv6');
  return false;
}

const LOOPBACK = new BlockList();
LOOPBACK.addSubnet('127.0.0.0', 8, 'ipv4');
LOOPBACK.addAddress('::1', 'ipv6');

/** Whether `hostPort` is one of the daemon's insecure registries (a host, host:port or CIDR entry). */
export function isInsecureRegistry(hostPort: string, entries: readonly string[]): boolean {
  const host = hostOf(hostPort).toLowerCase();
  const ipKind = isIP(host);
  for (const raw of entries) {
    const e = raw.trim().toLowerCase();
    if (e === '') continue;
    if (e === hostPort.toLowerCase() || e === host) return true;
    const slash = e.indexOf('/');
    if (slash > 0 && ipKind !== 0) {
      const net = e.slice(0, slash);
      const bits = Number(e.slice(slash + 1));
      const netKind = isIP(net);
      if (netKind === 0 || !Number.isInteger(bits)) continue;
      const list = new BlockList();
      try {
        list.addSubnet(net, bits, netKind === 4 ? 'ipv4' : 'ipv6');
      } catch {
        continue;
      }
      if (list.check(host, ipKind === 4 ? 'ipv4' : 'ipv6')) return true;
    }
  }
  return false;
}
