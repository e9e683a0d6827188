/**
 * Resolves Docker's `-u`/`--user` value against an image's rootfs.
 *
 * Contract:
 * - `resolveUser(rootfs, user)` accepts '', `name`, `uid`, `name:group`, `uid:gid`,
 *   `uid:groupname` and `name:gid`, and returns `{ uid, gid, additionalGids, home }`,
 *   following runc/moby `GetExecUser`:
 *     - '' means root (0:0); home is taken from the passwd entry for uid 0, else '/'.
 *     - a name must exist in /etc/passwd, else invalid-argument
 *       `unable to find user NAME: no matching entries in passwd file` (Docker's wording);
 *     - a numeric uid need not exist; when it does, its passwd gid and home are used,
 *       otherwise gid 0 and home '/';
 *     - a group name must exist in /etc/group (`unable to find group NAME: no matching
 *       entries in group file`); a numeric gid need not;
 *     - additionalGids are the gids of the /etc/group entries that list the matched user's
 *       name, and only when no group was given explicitly (as Docker does);
 *     - ids must lie in 0..2147483647.
 * - The rootfs is untrusted. /etc/passwd and /etc/group are found with
 *   sys `resolveInRootSync`, which resolves symlinks as if the rootfs were `/` (a link to
 *   `/etc/shadow` or `../../..` stays inside), then opened with O_NOFOLLOW|O_NONBLOCK and
 *   read only if they are regular files, at most MAX_DB_BYTES. Missing, non-regular or
 *   unreadable files count as empty.
 * - Synchronous: called once per container start, before runc runs, on small files.
 */
import { closeSync, constants, fstatSync, lstatSync, openSync, readSync } from 'node:fs';
import { invalidArgument, isErrno } from '../common';
import { resolveInRootSync } from '../sys';

export interface ExecUser {
  uid: number;
  gid: number;
  additionalGids: number[];
  home: string;
}

interface PasswdEntry {
  name: string;
  uid: number;
  gid: number;
  home: string;
}

interface GroupEntry {
  name: string;
  gid: number;
  members: string[];
}

const MAX_ID = 2 ** 31 - 1;
const MAX_DB_BYTES = 4 * 1024 * 1024;

/** Reads a regular file inside the rootfs; undefined when absent or not a regular file. */
function readRootfsFile(rootfs: string, path: string): string | undefined {
  const host = resolveInRootSync(rootfs, path);
  let fd: number;
  try {
    // O_NOFOLLOW: the last component could have become a link since resolution.
    // O_NONBLOCK: a FIFO planted at /etc/passwd must not hang the daemon.
    fd = openSync(host, constants.O_RDONLY | constants.O_NOFOLLOW | constants.O_NONBLOCK);
  } catch (err) {
    if (isErrno(err, 'ENOENT') || isErrno(err, 'ENOTDIR') || isErrno(err, 'ELOOP')) return undefined;
    throw err;
  }
  try {
    const st = fstatSync(fd);
    if (!st.isFile()) return undefined;
    const tooBig = () => invalidArgument(`${path} in the image is larger than ${MAX_DB_BYTES} bytes; refusing to parse it`);
    if (st.size >= MAX_DB_BYTES) throw tooBig();
    // Sized by the file (and a byte more, to notice growth), not by the cap: a zero-filled 4 MiB
    // buffer for each of a start's two reads cost page faults, and in a burst of starts the
    // external memory brought major GCs (issue 14).
    let buf = Buffer.allocUnsafe(st.size + 1);
    let len = 0;
    for (;;) {
      if (len === buf.length) {
        if (buf.length >= MAX_DB_BYTES) throw tooBig();
        const bigger = Buffer.allocUnsafe(Math.min(MAX_DB_BYTES, buf.length * 2));
        buf.copy(bigger, 0, 0, len);
        buf = bigger;
      }
      const n = readSync(fd, buf, len, buf.length - len, null);
      if (n === 0) break;
      len += n;
    }
    return buf.toString('utf8', 0, len);
  } finally {
    closeSync(fd);
  }
}

function parseId(s: string): number | undefined {
  return /^\d+$/.test(s) ? Number(s) : undefined;
}

function records(text: string | undefined): string[][] {
  if (!text) return [];
  return text
    .split('\n')
    .map((l) => l.trim())
    .filter((l) => l !== '' && !l.startsWith('#'))
    .map((l) => l.split(':'));
}

export function parsePasswd(text: string | undefined): PasswdEntry[] {
  const out: PasswdEntry[] = [];
  for (const f of records(text)) {
    const uid = parseId(f[2] ?? '');
    const gid = parseId(f[3] ?? '');
    // Malformed lines are skipped rather than read as uid 0.
    if (uid === undefined || gid === undefined) continue;
    out.push({ name: f[0] ?? '', uid, gid, home: f[5] ?? '' });
  }
  return out;
}

export function parseGroup(text: string | undefined): GroupEntry[] {
  const out: GroupEntry[] = [];
  for (const f of records(text)) {
    const gid = parseId(f[2] ?? '');
    if (gid === undefined) continue;
    const members = (f[3] ?? '').split(',').map((m) => m.trim()).filter((m) => m !== '');
    out.push({ name: f[0] ?? '', gid, members });
  }
  return out;
}

/** A numeric `-u` part: digits, or a signed number that is then out of range. */
function numericArg(s: string): number | undefined {
  if (!/^[+-]?\d+$/.test(s)) return undefined;
  const n = Number(s);
  if (!Number.isSafeInteger(n) || n < 0 || n > MAX_ID) {
    throw invalidArgument(`invalid user ${s}: uids and gids must be in range 0-${MAX_ID}`);
  }
  return n;
}

export function resolveUser(rootfs: string, user: string): ExecUser {
  const sep = user.indexOf(':');
  const userArg = sep < 0 ? user : user.slice(0, sep);
  const groupArg = sep < 0 ? '' : user.slice(sep + 1);

  const result: ExecUser = { uid: 0, gid: 0, additionalGids: [], home: '/' };
  const uidArg = userArg === '' ? undefined : numericArg(userArg);
  const passwd = parsePasswd(readRootfsFile(rootfs, '/etc/passwd'));
  const match = passwd.find((u) =>
    userArg === '' ? u.uid === 0 : uidArg !== undefined ? u.uid === uidArg : u.name === userArg,
  );
  if (match) {
    result.uid = match.uid;
    result.gid = match.gid;
    result.home = match.home || '/';
  } else if (uidArg !== undefined) {
    result.uid = uidArg;
  } else if (userArg !== '') {
    throw invalidArgument(`unable to find user ${userArg}: no matching entries in passwd file`);
  }

  if (groupArg === '' && !match) return result;
  const groups = parseGroup(readRootfsFile(rootfs, '/etc/group'));
  if (groupArg !== '') {
    const gidArg = numericArg(groupArg);
    const g = groups.find((e) => (gidArg !== undefined ? e.gid === gidArg : e.name === groupArg));
    if (g) result.gid = g.gid;
    else if (gidArg !== undefined) result.gid = gidArg;
    else throw invalidArgument(`unable to find group ${groupArg}: no matching entries in group file`);
  } else if (match) {
    const gids = groups.filter((e) => e.members.includes(match.name)).map((e) => e.gid);
    result.additionalGids = [...new Set(gids)];
  }
  return result;
}

/**
 * Docker's `--group-add`: numbers are taken as they are; names must exist in the image's
 * /etc/group (`Unable to find group NAME: no matching entries in group file`).
 */
export function resolveGroups(rootfs: string, groups: readonly string[]): number[] {
  if (groups.length === 0) return [];
  let table: GroupEntry[] | undefined;
  const out: number[] = [];
  for (const g of groups) {
    const n = numericArg(g.trim());
    if (n !== undefined) {
      out.push(n);
      continue;
    }
    table ??= parseGroup(readRootfsFile(rootfs, '/etc/group'));
    const e = table.find((t) => t.name === g.trim());
    if (!e) throw invalidArgument(`Unable to find group ${g}: no matching entries in group file`);
    out.push(e.gid);
  }
  return [...new Set(out)];
}

/**
 * Refuses a working directory that names something other than a directory in the rootfs
 * (resolved inside it, as the container would), in dockerd's words: runc would otherwise
 * fail with "mkdir …: not a directory". A missing one is fine: runc creates it.
 */
export function checkWorkingDir(rootfs: string, cwd: string): void {
  if (!cwd || cwd === '/') return;
  let st: ReturnType<typeof lstatSync>;
  try {
    st = lstatSync(resolveInRootSync(rootfs, cwd));
  } catch (err) {
    if (isErrno(err, 'ENOENT') || isErrno(err, 'ENOTDIR')) return;
    throw err;
  }
  if (!st.isDirectory()) throw invalidArgument(`Cannot mkdir: ${cwd} is not a directory`);
}
