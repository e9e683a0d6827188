/**
 * berth-exec (native/berth-exec.c, built into dist/native by `npm run build` when a C
 * compiler is there): the way into a running container for an attached exec without a
 * terminal or stdin, in place of `runc exec`. runc starts two Go runtimes per exec and
 * compiles the seccomp profile again each time; berth-exec is one small process that joins
 * the container's cgroups and namespaces, sets ids, capabilities and limits as runc would,
 * loads the container's own filter (read once from its init) and executes the program.
 *
 * This module turns the exec's OCI process object and runc's state of the container into
 * berth-exec's arguments. It answers undefined for anything berth-exec does not do (a
 * terminal, an AppArmor or SELinux label, I/O priority, a scheduler, no pivot_root), and
 * the caller then uses `runc exec`. `BERTH_EXEC_HELPER=0` in berthd's environment turns
 * the helper off altogether (the tests compare the two ways).
 */
import { readFileSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { builtHelper } from '../sys';
import { capabilityMask } from './capabilities';

/** berth-exec's exit code for "cannot do this one; use runc exec" (nothing was started). */
export const EXEC_HELPER_UNSUPPORTED = 111;

/** The built helper, if it is there and may be used. */
export function findExecHelper(env: NodeJS.ProcessEnv = process.env): string | undefined {
  return env.BERTH_EXEC_HELPER === '0' ? undefined : builtHelper('berth-exec');
}

/** What berth-exec needs of runc's state.json, read once per container start. */
export interface ContainerEntry {
  pid: number;
  start: number;
  cgroups: string[];
  seccomp: boolean;
  keyring: boolean;
}

/** Linux's RLIMIT_* numbers (the same on x86-64 and arm64). */
const RLIMITS: Record<string, number> = {
  RLIMIT_CPU: 0, RLIMIT_FSIZE: 1, RLIMIT_DATA: 2, RLIMIT_STACK: 3, RLIMIT_CORE: 4, RLIMIT_RSS: 5,
  RLIMIT_NPROC: 6, RLIMIT_NOFILE: 7, RLIMIT_MEMLOCK: 8, RLIMIT_AS: 9, RLIMIT_LOCKS: 10,
  RLIMIT_SIGPENDING: 11, RLIMIT_MSGQUEUE: 12, RLIMIT_NICE: 13, RLIMIT_RTPRIO: 14, RLIMIT_RTTIME: 15,
};

/** The OCI process fields berth-exec applies; any other field set sends the exec to runc. */
const HANDLED = new Set(['terminal', 'consoleSize', 'user', 'args', 'env', 'cwd', 'capabilities', 'rlimits', 'noNewPrivileges', 'oomScoreAdj']);

interface OciProcess {
  terminal?: boolean;
  user?: { uid?: number; gid?: number; additionalGids?: number[]; umask?: number };
  args?: string[];
  env?: string[];
  cwd?: string;
  capabilities?: Partial<Record<'bounding' | 'effective' | 'permitted' | 'inheritable' | 'ambient', string[]>>;
  rlimits?: { type: string; soft: number; hard: number }[];
  noNewPrivileges?: boolean;
  oomScoreAdj?: number;
  [field: string]: unknown;
}

/**
 * Reads what berth-exec needs from runc's state of a container (its init's pid and start
 * time, its cgroups, whether it has a seccomp filter); undefined when the state is missing
 * or describes something berth-exec does not handle.
 */
export function readContainerEntry(runcRoot: string, id: string): ContainerEntry | undefined {
  let state: {
    init_process_pid?: number;
    init_process_start?: number | string;
    cgroup_paths?: Record<string, string>;
    config?: { no_pivot_root?: boolean; seccomp?: unknown; no_new_keyring?: boolean; rootless_euid?: boolean };
  };
  try {
    state = JSON.parse(readFileSync(join(runcRoot, id, 'state.json'), 'utf8')) as typeof state;
  } catch {
    return undefined;
  }
  const pid = state.init_process_pid;
  const start = Number(state.init_process_start);
  if (!pid || !Number.isSafeInteger(start) || state.config?.no_pivot_root || state.config?.rootless_euid) return undefined;
  return {
    pid,
    start,
    cgroups: [...new Set(Object.values(state.cgroup_paths ?? {}))].filter((p) => p !== ''),
    seccomp: state.config?.seccomp != null,
    keyring: !state.config?.no_new_keyring,
  };
}

/** The identity of runc's state file, to tell a container's next start from this one. */
export function stateKey(runcRoot: string, id: string): string | undefined {
  try {
    const st = statSync(join(runcRoot, id, 'state.json'));
    return `${st.ino}:${st.mtimeMs}`;
  } catch {
    return undefined;
  }
}

/**
 * berth-exec's argument list and environment for one exec, or undefined when the process
 * asks for something only runc does.
 */
export function execHelperArgs(
  c: ContainerEntry,
  id: string,
  proc: OciProcess,
  files: { pidFile: string; seccompCache: string },
): { args: string[]; env: Record<string, string> } | undefined {
  for (const [field, value] of Object.entries(proc)) if (value !== undefined && !HANDLED.has(field)) return undefined;
  if (proc.terminal || !proc.args?.length) return undefined;
  const user = proc.user ?? {};
  const caps = proc.capabilities ?? {};
  const mask = (names?: string[]) => capabilityMask(names ?? []);
  const args = [
    '-p', String(c.pid), '-s', String(c.start), '-f', files.pidFile,
    ...c.cgroups.flatMap((p) => ['-c', p]),
    ...(c.seccomp ? ['-S', files.seccompCache] : []),
    '-u', String(user.uid ?? 0), '-g', String(user.gid ?? 0),
    ...(user.additionalGids?.length ? ['-G', user.additionalGids.join(',')] : []),
    ...(user.umask !== undefined ? ['-m', user.umask.toString(8)] : []),
    '-B', mask(caps.bounding), '-E', mask(caps.effective), '-P', mask(caps.permitted), '-I', mask(caps.inheritable), '-A', mask(caps.ambient),
  ];
  for (const r of proc.rlimits ?? []) {
    const n = RLIMITS[r.type];
    if (n === undefined) return undefined;
    args.push('-r', `${n}:${limit(r.soft)}:${limit(r.hard)}`);
  }
  if (proc.noNewPrivileges) args.push('-n');
  if (proc.oomScoreAdj !== undefined) args.push('-o', String(proc.oomScoreAdj));
  if (c.keyring) args.push('-k', `_ses.${id}`);
  if (proc.cwd) args.push('-w', proc.cwd);
  args.push('--', ...proc.args);
  const env: Record<string, string> = {};
  for (const e of proc.env ?? []) {
    const eq = e.indexOf('=');
    if (eq <= 0) continue;
    env[e.slice(0, eq)] = e.slice(eq + 1);
  }
  return { args, env };
}

/** An rlimit value as berth-exec reads it: -1 for unlimited (2^64-1 in the spec). */
function limit(v: number): string {
  return v >= Number.MAX_SAFE_INTEGER || v < 0 ? '-1' : String(Math.trunc(v));
}
