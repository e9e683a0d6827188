/**
 * User-namespace remapping (`berthd --userns-remap=default|USER[:GROUP]`): root in a
 * container is an unprivileged range of host ids, as with dockerd's option of that name.
 *
 * Contract
 * - `setupRemap(value)` runs once at daemon start. `default` means the user and group
 *   `berth-remap`, created (a system account, `useradd -r`) if missing, and given a
 *   65536-wide range in /etc/subuid and /etc/subgid if it has none (the first free
 *   range at or above 100000). Any other value names an existing user (name or uid)
 *   and optionally a group (name or gid; default: the user's name); their ranges must
 *   already be in /etc/subuid and /etc/subgid (invalid-argument naming the file
 *   otherwise). The files may list a user by name or by numeric id.
 * - Ranges stack in file order: the first maps container id 0 upwards, the next
 *   continues where it ended (as newuidmap(1) and dockerd read them). The kernel takes
 *   at most 340 lines per map; more are refused.
 * - `toHost`/`toContainer` translate one id through a map; an id outside every range
 *   has no translation (invalid-argument from toHost, null from toContainer).
 * - `applyUserNamespace(spec, mappings)` turns a generated runtime spec into one with a
 *   private user namespace: `linux.uidMappings`/`gidMappings`, namespaces joined by path
 *   (`container:X`) also join that process's user namespace; with the host's IPC
 *   namespace, /dev/mqueue is the host's (bound) or absent, as a user namespace cannot
 *   mount the host's queues. The caller refuses what
 *   a user namespace cannot have (the host's network or PID namespace, --privileged)
 *   before it gets here.
 * - Files are read synchronously except where noted; nothing here mounts or execs
 *   except `setupRemap` creating the default user.
 */
import { spawnSync } from 'node:child_process';
import { existsSync, promises as fsp, readFileSync } from 'node:fs';
import { invalidArgument } from '../common';
import type { OciSpec } from './spec';

/** One line of /proc/<pid>/uid_map: container ids [containerID, containerID+size) are host ids from hostID. */
export interface IdMap {
  containerID: number;
  hostID: number;
  size: number;
}

export interface IdMappings {
  uids: readonly IdMap[];
  gids: readonly IdMap[];
}

export interface SubIdRange {
  start: number;
  count: number;
}

/** Where the account databases live; tests point these at temp files. */
export interface AccountFiles {
  passwd: string;
  group: string;
  subuid: string;
  subgid: string;
}

export const HOST_ACCOUNT_FILES: AccountFiles = { passwd: '/etc/passwd', group: '/etc/group', subuid: '/etc/subuid', subgid: '/etc/subgid' };

export const DEFAULT_REMAP_USER = 'berth-remap';
/** The size of range given to the default user, and where the search for a free one starts (dockerd's choices). */
export const DEFAULT_RANGE_SIZE = 65536;
export const FIRST_SUBORDINATE_ID = 100000;
const MAX_MAP_LINES = 340;
const MAX_ID = 2 ** 32 - 2;

export interface RemapSettings {
  /** The user and group whose subordinate ids are used. */
  user: string;
  group: string;
  mappings: IdMappings;
}

/**
 * Ranges of /etc/subuid-style text (`name:start:count` lines) for any of `owners`
 * (names or decimal ids). Blank lines and `#` comments are skipped; malformed lines
 * for an owner are refused, others ignored.
 */
export function parseSubIds(text: string, owners: readonly string[], file = 'subordinate id file'): SubIdRange[] {
  const out: SubIdRange[] = [];
  const lines = text.split('\n');
  for (let i = 0; i < lines.length; i++) {
    const line = lines[i]!.trim();
    if (line === '' || line.startsWith('#')) continue;
    const parts = line.split(':');
    if (!owners.includes(parts[0]!)) continue;
    const [, start, count] = parts;
    if (parts.length !== 3 || !/^\d+$/.test(start!) || !/^\d+$/.test(count!)) {
      throw invalidArgument(`${file} line ${i + 1} is malformed (${JSON.stringify(line)}): expected NAME:START:COUNT`);
    }
    const r = { start: Number(start), count: Number(count) };
    if (r.count === 0) continue;
    if (r.start + r.count - 1 > MAX_ID) throw invalidArgument(`${file} line ${i + 1}: range ${r.start}+${r.count} goes past the largest id`);
    out.push(r);
  }
  return out;
}

/** Every range in a subordinate id file, whoever owns it (to find a free one). */
function allRanges(text: string): SubIdRange[] {
  const out: SubIdRange[] = [];
  for (const line of text.split('\n')) {
    const m = /^\s*[^:#\s][^:]*:(\d+):(\d+)\s*$/.exec(line);
    if (m) out.push({ start: Number(m[1]), count: Number(m[2]) });
  }
  return out;
}

/** Stacks ranges into a map: the first range holds container id 0. */
export function mapFromRanges(ranges: readonly SubIdRange[]): IdMap[] {
  const out: IdMap[] = [];
  let next = 0;
  for (const r of ranges) {
    out.push({ containerID: next, hostID: r.start, size: r.count });
    next += r.count;
  }
  return out;
}

/** The host id of container id `id`; invalid-argument if no range covers it. */
export function toHost(map: readonly IdMap[], id: number, what = 'id'): number {
  for (const m of map) if (id >= m.containerID && id < m.containerID + m.size) return m.hostID + (id - m.containerID);
  throw invalidArgument(`container ${what} ${id} cannot be mapped to a host ${what}: it is outside the daemon's --userns-remap ranges`);
}

/** The container id of host id `id`, or null if the map does not cover it. */
export function toContainer(map: readonly IdMap[], id: number): number | null {
  for (const m of map) if (id >= m.hostID && id < m.hostID + m.size) return m.containerID + (id - m.hostID);
  return null;
}

/** The host uid and gid of the container's root. */
export function rootPair(m: IdMappings): { uid: number; gid: number } {
  return { uid: toHost(m.uids, 0, 'uid'), gid: toHost(m.gids, 0, 'gid') };
}

/** A file owner's shift from image ids to host ids (for unpacking layers). */
export function idShifter(m: IdMappings): (owner: { uid: number; gid: number }) => { uid: number; gid: number } {
  return ({ uid, gid }) => ({ uid: toHost(m.uids, uid, 'uid'), gid: toHost(m.gids, gid, 'gid') });
}

/** The reverse shift (for writing layer tars from a container's files); ids outside the map become 65534 (nobody), as the kernel shows them. */
export function idUnshifter(m: IdMappings): (owner: { uid: number; gid: number }) => { uid: number; gid: number } {
  return ({ uid, gid }) => ({ uid: toContainer(m.uids, uid) ?? 65534, gid: toContainer(m.gids, gid) ?? 65534 });
}

interface Account {
  name: string;
  id: number;
}

/** Finds a passwd or group entry by name or decimal id. */
function lookupAccount(file: string, ref: string): Account | null {
  let text = '';
  try {
    text = readFileSync(file, 'utf8');
  } catch {
    return null;
  }
  const numeric = /^\d+$/.test(ref);
  for (const line of text.split('\n')) {
    const f = line.split(':');
    if (f.length < 3 || !/^\d+$/.test(f[2]!)) continue;
    if (numeric ? f[2] === ref : f[0] === ref) return { name: f[0]!, id: Number(f[2]) };
  }
  return null;
}

/** Splits `USER[:GROUP]`. */
export function parseRemapValue(value: string): { user: string; group: string | undefined } {
  const v = value.trim();
  const [user, group, ...rest] = v.split(':');
  if (!user || rest.length > 0 || group === '') {
    throw invalidArgument(`invalid --userns-remap value ${JSON.stringify(value)}: use "default", USER or USER:GROUP (names or numeric ids)`);
  }
  return { user, group };
}

/**
 * Resolves `--userns-remap` to id mappings, creating the default user and its ranges
 * when needed (only for `default`). Startup errors name what to fix.
 */
export async function setupRemap(value: string, files: AccountFiles = HOST_ACCOUNT_FILES): Promise<RemapSettings> {
  const isDefault = value.trim() === 'default';
  const { user: userRef, group: groupRef } = isDefault ? { user: DEFAULT_REMAP_USER, group: DEFAULT_REMAP_USER } : parseRemapValue(value);
  if (isDefault) await ensureDefaultUser(files);

  const user = lookupAccount(files.passwd, userRef);
  if (!user) {
    if (/^\d+$/.test(userRef)) throw invalidArgument(`--userns-remap: uid ${userRef} is not in ${files.passwd}; create the user first (useradd)`);
    throw invalidArgument(`--userns-remap: user ${JSON.stringify(userRef)} does not exist in ${files.passwd}; create it (useradd) or use --userns-remap=default`);
  }
  const groupName = groupRef ?? user.name;
  const group = lookupAccount(files.group, groupName);
  if (!group && (groupRef === undefined || !/^\d+$/.test(groupRef))) {
    throw invalidArgument(`--userns-remap: group ${JSON.stringify(groupName)} does not exist in ${files.group}; create it (groupadd) or name an existing group as USER:GROUP`);
  }
  const gid = group ? group.id : Number(groupRef);
  const gname = group ? group.name : groupRef!;

  const uidRanges = parseSubIds(readOrEmpty(files.subuid), [user.name, String(user.id)], files.subuid);
  if (uidRanges.length === 0) {
    throw invalidArgument(`--userns-remap: no subordinate uid ranges for user ${user.name} in ${files.subuid}; add a line such as ${user.name}:${FIRST_SUBORDINATE_ID}:${DEFAULT_RANGE_SIZE} (usermod --add-subuids)`);
  }
  const gidRanges = parseSubIds(readOrEmpty(files.subgid), [gname, String(gid)], files.subgid);
  if (gidRanges.length === 0) {
    throw invalidArgument(`--userns-remap: no subordinate gid ranges for group ${gname} in ${files.subgid}; add a line such as ${gname}:${FIRST_SUBORDINATE_ID}:${DEFAULT_RANGE_SIZE} (usermod --add-subgids)`);
  }
  if (uidRanges.length > MAX_MAP_LINES || gidRanges.length > MAX_MAP_LINES) {
    throw invalidArgument(`--userns-remap: the kernel takes at most ${MAX_MAP_LINES} ranges per user namespace map; merge the lines for ${user.name} in ${files.subuid}/${files.subgid}`);
  }
  return { user: user.name, group: gname, mappings: { uids: mapFromRanges(uidRanges), gids: mapFromRanges(gidRanges) } };
}

function readOrEmpty(file: string): string {
  try {
    return readFileSync(file, 'utf8');
  } catch {
    return '';
  }
}

/** The first `size` ids at or above FIRST_SUBORDINATE_ID that no listed range overlaps. */
export function freeRange(taken: readonly SubIdRange[], size = DEFAULT_RANGE_SIZE): SubIdRange {
  let start = FIRST_SUBORDINATE_ID;
  const sorted = [...taken].sort((a, b) => a.start - b.start);
  for (const r of sorted) {
    if (r.start + r.count <= start) continue;
    if (r.start >= start + size) break;
    start = r.start + r.count;
  }
  if (start + size - 1 > MAX_ID) throw invalidArgument(`no free range of ${size} subordinate ids is left`);
  return { start, count: size };
}

/** Creates the `berth-remap` account and its ranges if missing (what dockerd does for `dockremap`). */
async function ensureDefaultUser(files: AccountFiles): Promise<void> {
  const name = DEFAULT_REMAP_USER;
  if (!lookupAccount(files.passwd, name)) {
    const onHost = files.passwd === HOST_ACCOUNT_FILES.passwd && files.group === HOST_ACCOUNT_FILES.group;
    const useradd = ['/usr/sbin/useradd', '/sbin/useradd', '/usr/bin/useradd'].find((p) => existsSync(p));
    if (onHost && useradd) {
      // -U: a group of the same name (Debian's default for -r is no group without it).
      const r = spawnSync(useradd, ['-r', '-U', '-M', '-s', '/bin/false', '-c', 'berthd user namespace remapping', name], { encoding: 'utf8' });
      if (r.status !== 0 && !lookupAccount(files.passwd, name)) {
        throw invalidArgument(`--userns-remap=default: creating user ${name} with useradd failed: ${(r.stderr || r.error?.message || '').trim()}`);
      }
    } else {
      const id = freeSystemId(files);
      if (!lookupAccount(files.group, name)) await appendLine(files.group, `${name}:x:${id}:`);
      const gid = lookupAccount(files.group, name)!.id;
      await appendLine(files.passwd, `${name}:x:${id}:${gid}:berthd user namespace remapping:/nonexistent:/bin/false`);
    }
  }
  for (const file of [files.subuid, files.subgid]) {
    const text = readOrEmpty(file);
    if (parseSubIds(text, [name], file).length > 0) continue;
    const r = freeRange(allRanges(text));
    await appendLine(file, `${name}:${r.start}:${r.count}`);
  }
}

/** A system id (below 1000) free in both passwd and group, from the top down as useradd -r picks. */
function freeSystemId(files: AccountFiles): number {
  const used = new Set<number>();
  for (const f of [files.passwd, files.group]) {
    for (const line of readOrEmpty(f).split('\n')) {
      const id = line.split(':')[2];
      if (id && /^\d+$/.test(id)) used.add(Number(id));
    }
  }
  for (let id = 999; id >= 100; id--) if (!used.has(id)) return id;
  throw invalidArgument(`no free system id below 1000 in ${files.passwd}; create the ${DEFAULT_REMAP_USER} user by hand`);
}

async function appendLine(file: string, line: string): Promise<void> {
  const text = readOrEmpty(file);
  const sep = text === '' || text.endsWith('\n') ? '' : '\n';
  await fsp.appendFile(file, `${sep}${line}\n`, { mode: 0o644 });
}

type SpecWithUserns = OciSpec & {
  linux: OciSpec['linux'] & {
    uidMappings?: IdMap[];
    gidMappings?: IdMap[];
  };
};

/** Puts the container in a user namespace of its own with these mappings (see the contract above). */
export function applyUserNamespace(spec: OciSpec, m: IdMappings): OciSpec {
  const s = spec as SpecWithUserns;
  const namespaces = s.linux.namespaces as Array<{ type: string; path?: string }>;
  // To join another container's namespace, join the user namespace that owns it too.
  const joined = namespaces.find((n) => n.path && /^\/proc\/\d+\/ns\//.test(n.path));
  const userns: { type: string; path?: string } = joined ? { type: 'user', path: joined.path!.replace(/[^/]+$/, 'user') } : { type: 'user' };
  s.linux.namespaces = [...namespaces.filter((n) => n.type !== 'user'), userns] as OciSpec['linux']['namespaces'];
  // runc 1.1 wants the mappings even when joining (they are the same daemon-wide).
  s.linux.uidMappings = m.uids.map((x) => ({ ...x }));
  s.linux.gidMappings = m.gids.map((x) => ({ ...x }));
  if (!namespaces.some((n) => n.type === 'ipc')) {
    // The host's IPC namespace belongs to the host's user namespace: no new mqueue
    // mount from inside ours. Bind the host's, if it has one mounted.
    const hostMqueue = existsSync('/dev/mqueue');
    s.mounts = s.mounts.flatMap((mt) =>
      mt.type !== 'mqueue' ? [mt] : hostMqueue ? [{ destination: mt.destination, type: 'bind', source: '/dev/mqueue', options: ['rbind', 'nosuid', 'noexec', 'nodev'] }] : [],
    );
  }
  return s;
}
