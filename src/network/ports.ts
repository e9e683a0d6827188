/**
 * Published ports: the container's port bindings (`-p`, `-P`) expanded into one
 * mapping per container port and host address, checked, and given host ports.
 */
import { createServer, isIP, type AddressInfo } from 'node:net';
import { createSocket } from 'node:dgram';
import { invalidArgument } from '../common';

export type Protocol = 'tcp' | 'udp' | 'sctp';

export interface PortMapping {
  containerPort: number;
  protocol: Protocol;
  /** '' = every host address (IPv4 and, through the proxy, IPv6); '0.0.0.0' or '::' = every address of one family. */
  hostIp: string;
  /** 0 until allocated. */
  hostPort: number;
  /** A host port range to choose from ("8000-8010"), when one was asked for. */
  hostRange?: [number, number];
  /**
   * The "::" twin of the mapping before it (host address ''), as Docker lists one for a
   * port published on every address: the same host port, forwarded by the userland proxy
   * (or by the '' mapping's NAT when the container has an IPv6 address).
   */
  twin?: true;
}

export interface PortRequest {
  exposedPorts: string[] | null;
  portBindings: Record<string, { hostIp: string; hostPort: string }[] | null> | null;
  publishAllPorts: boolean;
}

function portNumber(s: string, what: string): number {
  if (!/^\d+$/.test(s)) throw invalidArgument(`invalid ${what}: ${JSON.stringify(s)}`);
  const n = Number(s);
  if (n < 1 || n > 65535) throw invalidArgument(`invalid port specification: "${s}"`);
  return n;
}

/** "80", "80/udp" → port and protocol. */
export function parsePortKey(key: string): { port: number; protocol: Protocol } {
  const [p, proto = 'tcp'] = key.split('/');
  const protocol = proto.toLowerCase();
  if (protocol !== 'tcp' && protocol !== 'udp' && protocol !== 'sctp') throw invalidArgument(`invalid proto: ${proto}`);
  return { port: portNumber(p ?? '', 'containerPort'), protocol };
}

function parseHostPort(s: string): { hostPort: number; hostRange?: [number, number] } {
  if (s === '') return { hostPort: 0 };
  const m = /^(\d+)-(\d+)$/.exec(s);
  if (m) {
    const a = portNumber(m[1]!, 'hostPort');
    const b = portNumber(m[2]!, 'hostPort');
    if (b < a) throw invalidArgument(`invalid hostPort: ${s}`);
    return a === b ? { hostPort: a } : { hostPort: 0, hostRange: [a, b] };
  }
  return { hostPort: portNumber(s, 'hostPort') };
}

/** Every mapping the request asks for (host ports 0 where the daemon chooses). Throws on bad input. */
export function portMappings(req: PortRequest): PortMapping[] {
  const out: PortMapping[] = [];
  const seen = new Set<string>();
  const add = (m: PortMapping) => {
    const k = `${m.containerPort}/${m.protocol}/${m.hostIp}/${m.hostPort}/${m.hostRange?.join('-') ?? ''}`;
    if (seen.has(k)) return;
    seen.add(k);
    out.push(m);
  };
  for (const [key, binds] of Object.entries(req.portBindings ?? {})) {
    const { port, protocol } = parsePortKey(key);
    for (const b of binds ?? [{ hostIp: '', hostPort: '' }]) {
      // An address the host cannot have (1.2.3, 300.1.1.1) would otherwise fail later as a bind "already in use".
      if (b.hostIp && !isIP(b.hostIp)) throw invalidArgument(`invalid host IP: ${b.hostIp}`);
      add({ containerPort: port, protocol, hostIp: b.hostIp, ...parseHostPort(b.hostPort) });
    }
  }
  if (req.publishAllPorts) {
    for (const key of req.exposedPorts ?? []) {
      const { port, protocol } = parsePortKey(key);
      if (req.portBindings && key in req.portBindings) continue;
      if (req.portBindings && `${port}/${protocol}` in req.portBindings) continue;
      add({ containerPort: port, protocol, hostIp: '', hostPort: 0 });
    }
  }
  return out;
}

/** Whether the host port is free right now on the host address (binds and closes it). */
export function portFree(protocol: Protocol, hostIp: string, port: number): Promise<boolean> {
  return bindProbe(protocol, hostIp, port).then((p) => p !== undefined);
}

/** Whether two host addresses of mappings on one port and protocol would take the same sockets. */
export function hostIpsOverlap(a: string, b: string): boolean {
  if (a === b || a === '' || b === '') return true;
  const wild = (ip: string) => ip === '0.0.0.0' || ip === '::';
  return a.includes(':') === b.includes(':') && (wild(a) || wild(b));
}

/** Whether this host can listen on IPv6 at all (Docker adds no "::" binding when it cannot). */
export function ipv6Listenable(): Promise<boolean> {
  return bindProbe('tcp', '::1', 0).then((p) => p !== undefined);
}

function bindProbe(protocol: Protocol, hostIp: string, port: number): Promise<number | undefined> {
  const host = hostIp || '0.0.0.0';
  // "::" alone: the IPv4 side is another mapping's (or nobody's) to check.
  const ipv6Only = host.includes(':');
  return new Promise((resolve) => {
    if (protocol === 'udp') {
      const s = createSocket({ type: host.includes(':') ? 'udp6' : 'udp4', ipv6Only });
      s.once('error', () => {
        s.close();
        resolve(undefined);
      });
      s.bind(port, host, () => {
        const p = s.address().port;
        s.close(() => resolve(p));
      });
      return;
    }
    const s = createServer();
    s.once('error', () => resolve(undefined));
    s.listen({ port, host, exclusive: true, ipv6Only }, () => {
      const p = (s.address() as AddressInfo).port;
      s.close(() => resolve(p));
    });
  });
}
