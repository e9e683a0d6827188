/**
 * Linux capabilities for a container's process, with Docker's semantics.
 *
 * Contract:
 * - Names are canonical `CAP_*` strings in upper case, always returned in kernel bit order.
 * - `resolveCapabilities(capAdd, capDrop, privileged, hostCaps?)` turns `--cap-add`,
 *   `--cap-drop` and `--privileged` into the one list the OCI spec puts in the bounding,
 *   effective and permitted sets:
 *     - names are accepted with or without the `CAP_` prefix, in any case; `ALL` means
 *       every capability the host can grant;
 *     - privileged: every capability the host has (add/drop are ignored, as in Docker);
 *     - `ALL` in capAdd: every host capability except those in capDrop;
 *     - `ALL` in capDrop (and not in capAdd): exactly capAdd;
 *     - otherwise: the default set minus capDrop, plus capAdd (add wins over drop).
 *   An unknown name throws invalid-argument `unknown capability: "CAP_X"` (Docker's
 *   wording). A capability explicitly added that the host's bounding set lacks throws
 *   invalid-argument: runc cannot grant it, and failing here names the cause.
 * - `hostCapabilities` defaults to `hostBoundingCapabilities()`, read from
 *   /proc/self/status. Defaults the host lacks are left
 *   out rather than failing the container.
 * - `capabilityMask(names)` gives the bit mask as /proc/<pid>/status prints it (CapEff…).
 */
import { readFileSync } from 'node:fs';
import { invalidArgument } from '../common';

/** Index = kernel capability number (linux/capability.h, up to 5.9+). */
export const ALL_CAPABILITIES: readonly string[] = [
  'CAP_CHOWN', 'CAP_DAC_OVERRIDE', 'CAP_DAC_READ_SEARCH', 'CAP_FOWNER', 'CAP_FSETID',
  'CAP_KILL', 'CAP_SETGID', 'CAP_SETUID', 'CAP_SETPCAP', 'CAP_LINUX_IMMUTABLE',
  'CAP_NET_BIND_SERVICE', 'CAP_NET_BROADCAST', 'CAP_NET_ADMIN', 'CAP_NET_RAW', 'CAP_IPC_LOCK',
  'CAP_IPC_OWNER', 'CAP_SYS_MODULE', 'CAP_SYS_RAWIO', 'CAP_SYS_CHROOT', 'CAP_SYS_PTRACE',
  'CAP_SYS_PACCT', 'CAP_SYS_ADMIN', 'CAP_SYS_BOOT', 'CAP_SYS_NICE', 'CAP_SYS_RESOURCE',
  'CAP_SYS_TIME', 'CAP_SYS_TTY_CONFIG', 'CAP_MKNOD', 'CAP_LEASE', 'CAP_AUDIT_WRITE',
  'CAP_AUDIT_CONTROL', 'CAP_SETFCAP', 'CAP_MAC_OVERRIDE', 'CAP_MAC_ADMIN', 'CAP_SYSLOG',
  'CAP_WAKE_ALARM', 'CAP_BLOCK_SUSPEND', 'CAP_AUDIT_READ', 'CAP_PERFMON', 'CAP_BPF',
  'CAP_CHECKPOINT_RESTORE',
];

const BIT = new Map(ALL_CAPABILITIES.map((name, bit) => [name, bit]));

/** Docker's default set (moby oci/caps DefaultCapabilities). */
export const DEFAULT_CAPABILITIES: readonly string[] = sortByBit([
  'CAP_CHOWN', 'CAP_DAC_OVERRIDE', 'CAP_FSETID', 'CAP_FOWNER', 'CAP_MKNOD', 'CAP_NET_RAW',
  'CAP_SETGID', 'CAP_SETUID', 'CAP_SETFCAP', 'CAP_SETPCAP', 'CAP_NET_BIND_SERVICE',
  'CAP_SYS_CHROOT', 'CAP_KILL', 'CAP_AUDIT_WRITE',
]);

function sortByBit(names: Iterable<string>): string[] {
  return [...new Set(names)].sort((a, b) => (BIT.get(a) ?? 0) - (BIT.get(b) ?? 0));
}

/** `net_admin`, `CAP_NET_ADMIN`, `Cap_Net_Admin` → `CAP_NET_ADMIN`; `all` → `ALL`. */
export function normalizeCapability(name: string): string {
  const upper = name.trim().toUpperCase();
  if (upper === 'ALL') return 'ALL';
  const full = upper.startsWith('CAP_') ? upper : `CAP_${upper}`;
  if (!BIT.has(full)) throw invalidArgument(`unknown capability: "${full}"`);
  return full;
}

/** Parses the CapBnd line of /proc/self/status (or the given text) into names. */
export function hostBoundingCapabilities(statusText?: string): string[] {
  const text = statusText ?? readFileSync('/proc/self/status', 'utf8');
  const m = /^CapBnd:\s*([0-9a-fA-F]+)\s*$/m.exec(text);
  if (!m) return [...ALL_CAPABILITIES];
  const mask = BigInt(`0x${m[1]}`);
  // Bits past our table belong to capabilities newer than this code; runc would only warn.
  return ALL_CAPABILITIES.filter((_, bit) => (mask >> BigInt(bit)) & 1n);
}

/** The 16-hex-digit mask /proc/<pid>/status prints for these capabilities. */
export function capabilityMask(names: Iterable<string>): string {
  let mask = 0n;
  for (const n of names) {
    const bit = BIT.get(normalizeCapability(n));
    if (bit !== undefined) mask |= 1n << BigInt(bit);
  }
  return mask.toString(16).padStart(16, '0');
}

export function resolveCapabilities(
  capAdd: readonly string[] = [],
  capDrop: readonly string[] = [],
  privileged = false,
  hostCapabilities?: readonly string[],
): string[] {
  const host = hostCapabilities ?? hostBoundingCapabilities();
  if (privileged) return sortByBit(host);

  const add = capAdd.map(normalizeCapability);
  const drop = new Set(capDrop.map(normalizeCapability));

  let caps: string[];
  if (add.includes('ALL')) {
    caps = host.filter((c) => !drop.has(c));
  } else {
    const base = drop.has('ALL') ? [] : DEFAULT_CAPABILITIES.filter((c) => !drop.has(c));
    caps = [...base, ...add];
  }
  const have = new Set(host);
  for (const c of add) {
    if (c !== 'ALL' && !have.has(c)) {
      throw invalidArgument(
        `capability ${c} is not in this host's bounding set, so no container can be given it; remove it from --cap-add`,
      );
    }
  }
  // A default the host lacks is dropped quietly: runc would fail capset(2) on it.
  return sortByBit(caps.filter((c) => have.has(c)));
}
