/** IPv6 addresses and subnets as BigInts, for the IPv6 side of dual-stack bridge networks. */
import { isIP } from 'node:net';

export interface Subnet6 {
  base: bigint;
  prefix: number;
  /** The address as written (for "it should be" messages). */
  address: bigint;
}

export function parseIPv6(s: string): bigint | undefined {
  if (isIP(s) !== 6 || s.includes('.')) return undefined;
  const [head = '', tail] = s.split('::');
  const h = head ? head.split(':') : [];
  const t = tail ? tail.split(':') : [];
  const groups = tail === undefined ? h : [...h, ...Array(8 - h.length - t.length).fill('0'), ...t];
  if (groups.length !== 8) return undefined;
  return groups.reduce((acc, g) => (acc << 16n) | BigInt(Number.parseInt(g, 16)), 0n);
}

export function formatIPv6(n: bigint): string {
  const g: number[] = [];
  for (let i = 7; i >= 0; i--) g.push(Number((n >> BigInt(i * 16)) & 0xffffn));
  // The longest run of zero groups (2 or more) becomes "::".
  let best = -1;
  let len = 0;
  for (let i = 0; i < 8; ) {
    if (g[i] !== 0) { i++; continue; }
    let j = i;
    while (j < 8 && g[j] === 0) j++;
    if (j - i > len && j - i >= 2) { best = i; len = j - i; }
    i = j;
  }
  const hex = g.map((x) => x.toString(16));
  if (best < 0) return hex.join(':');
  return `${hex.slice(0, best).join(':')}::${hex.slice(best + len).join(':')}`;
}

export function parseCIDR6(s: string): Subnet6 | undefined {
  const m = /^([0-9a-fA-F:]+)\/(\d{1,3})$/.exec(s);
  if (!m) return undefined;
  const address = parseIPv6(m[1]!);
  const prefix = Number(m[2]);
  if (address === undefined || prefix > 128) return undefined;
  const mask = prefix === 0 ? 0n : ((1n << 128n) - 1n) ^ ((1n << BigInt(128 - prefix)) - 1n);
  return { base: address & mask, prefix, address };
}

export const formatCIDR6 = (s: Subnet6) => `${formatIPv6(s.base)}/${s.prefix}`;

export function contains6(s: Subnet6, ip: bigint): boolean {
  return ip >> BigInt(128 - s.prefix) === s.base >> BigInt(128 - s.prefix);
}

export function overlaps6(a: Subnet6, b: Subnet6): boolean {
  return contains6(a, b.base) || contains6(b, a.base);
}
