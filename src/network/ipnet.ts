/**
 * IPv4 addresses and subnets as numbers: parsing, containment, overlap, and the
 * host's routes (to keep a new network off subnets the host already reaches).
 */
import { readFileSync } from 'node:fs';

export interface Subnet {
  /** Network address as an unsigned 32-bit number. */
  base: number;
  prefix: number;
}

export function parseIPv4(s: string): number | undefined {
  const m = /^(\d{1,3})\.(\d{1,3})\.(\d{1,3})\.(\d{1,3})$/.exec(s.trim());
  if (!m) return undefined;
  const parts = m.slice(1).map(Number);
  if (parts.some((p) => p > 255)) return undefined;
  return ((parts[0]! << 24) >>> 0) + (parts[1]! << 16) + (parts[2]! << 8) + parts[3]!;
}

export function formatIPv4(n: number): string {
  return [n >>> 24, (n >>> 16) & 255, (n >>> 8) & 255, n & 255].join('.');
}

const mask = (prefix: number) => (prefix === 0 ? 0 : (0xffffffff << (32 - prefix)) >>> 0);

/** "10.1.0.0/16" → subnet; with `host` true the address part may have host bits (10.1.0.1/16 → 10.1.0.0/16). */
export function parseCIDR(s: string, host = false): (Subnet & { address: number }) | undefined {
  const m = /^([^/]+)\/(\d{1,2})$/.exec(s.trim());
  if (!m) return undefined;
  const address = parseIPv4(m[1]!);
  const prefix = Number(m[2]);
  if (address === undefined || prefix > 32) return undefined;
  const base = (address & mask(prefix)) >>> 0;
  if (!host && base !== address) return undefined;
  return { base, prefix, address };
}

export const formatCIDR = (s: Subnet) => `${formatIPv4(s.base)}/${s.prefix}`;
export const subnetSize = (s: Subnet) => 2 ** (32 - s.prefix);
export const contains = (s: Subnet, ip: number) => ((ip & mask(s.prefix)) >>> 0) === s.base;
export const overlaps = (a: Subnet, b: Subnet) => contains(a, b.base) || contains(b, a.base);
/** The broadcast (last) address. */
export const lastAddress = (s: Subnet) => (s.base + subnetSize(s) - 1) >>> 0;

/** Subnets the host routes to through an interface other than `exceptDevices` (from /proc/net/route). */
export function hostRoutes(exceptDevices: readonly string[] = [], text?: string): { device: string; subnet: Subnet }[] {
  let t = text;
  if (t === undefined) {
    try {
      t = readFileSync('/proc/net/route', 'utf8');
    } catch {
      return [];
    }
  }
  const out: { device: string; subnet: Subnet }[] = [];
  for (const line of t.split('\n').slice(1)) {
    const f = line.trim().split(/\s+/);
    if (f.length < 8 || exceptDevices.includes(f[0]!)) continue;
    const dest = leHex(f[1]!);
    const m = leHex(f[7]!);
    if (m === 0) continue; // the default route overlaps everything: dockerd ignores it too
    let prefix = 0;
    while (prefix < 32 && (m & (0x80000000 >>> prefix)) !== 0) prefix++;
    out.push({ device: f[0]!, subnet: { base: (dest & mask(prefix)) >>> 0, prefix } });
  }
  return out;
}

/** /proc/net/route prints addresses as little-endian hex. */
function leHex(h: string): number {
  const n = Number.parseInt(h, 16);
  return (((n & 255) << 24) >>> 0) + (((n >>> 8) & 255) << 16) + (((n >>> 16) & 255) << 8) + ((n >>> 24) & 255);
}

/** dockerd's default pools: 172.17–31.0.0/16, then 192.168.0.0/16 cut into /20s. */
export const DEFAULT_POOLS: readonly { base: string; size: number }[] = [
  { base: '172.17.0.0/16', size: 16 },
  { base: '172.18.0.0/16', size: 16 },
  { base: '172.19.0.0/16', size: 16 },
  { base: '172.20.0.0/14', size: 16 },
  { base: '172.24.0.0/14', size: 16 },
  { base: '172.28.0.0/14', size: 16 },
  { base: '192.168.0.0/16', size: 20 },
];

/** The first subnet from the pools that overlaps none of `taken`. */
export function pickSubnet(pools: readonly { base: string; size: number }[], taken: readonly Subnet[]): Subnet | undefined {
  for (const p of pools) {
    const pool = parseCIDR(p.base);
    if (!pool || p.size < pool.prefix || p.size > 30) continue;
    const step = 2 ** (32 - p.size);
    for (let b = pool.base; b <= lastAddress(pool); b += step) {
      const cand = { base: b >>> 0, prefix: p.size };
      if (!taken.some((t) => overlaps(t, cand))) return cand;
    }
  }
  return undefined;
}
