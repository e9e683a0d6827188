/**
 * Seccomp profiles in Docker's format → the OCI `linux.seccomp` object runc loads.
 *
 * Contract:
 * - `parseSeccompProfile(text)` parses a profile as `docker run --security-opt
 *   seccomp=FILE` sends it (the file's content). Bad JSON or a bad shape throws
 *   invalid-argument starting `Decoding seccomp profile failed:`; unknown actions,
 *   operators and a rule with both `name` and `names` are refused here rather than by runc.
 * - `renderSeccomp(profile, ctx)` gives the OCI object for one container:
 *     - architectures: from `archMap`, the entry of this machine's architecture and its
 *       sub-architectures; or `architectures` as given (both at once is an error);
 *     - a rule applies only when every `includes.caps` is in the container's capability
 *       set, this machine's Go-style arch (amd64, arm64 …) is in `includes.arches`, and
 *       the running kernel is at least `includes.minKernel`; `excludes.caps` (any held)
 *       and `excludes.arches` drop it;
 *     - `defaultErrnoRet`, per-rule `errnoRet`, `args` and `flags` pass through.
 *   So the default profile lets a container keep what its capabilities allow (e.g.
 *   `--cap-add SYS_ADMIN` unlocks mount/unshare), as Docker's does.
 * - `kernelVersion(release)` parses `uname -r` style strings to [major, minor].
 */
import { kernelHasX32 } from '../sys';
import { release } from 'node:os';
import { invalidArgument } from '../common';

export interface SeccompArg {
  index: number;
  value: number;
  valueTwo?: number;
  op: string;
}

export interface SeccompFilter {
  caps?: string[] | null;
  arches?: string[] | null;
  minKernel?: string | null;
}

export interface SeccompRule {
  name?: string;
  names?: string[] | null;
  action: string;
  errnoRet?: number;
  args?: SeccompArg[] | null;
  comment?: string;
  includes?: SeccompFilter | null;
  excludes?: SeccompFilter | null;
}

export interface SeccompProfile {
  defaultAction: string;
  defaultErrnoRet?: number;
  architectures?: string[] | null;
  archMap?: Array<{ architecture: string; subArchitectures?: string[] | null }> | null;
  syscalls?: SeccompRule[] | null;
  flags?: string[] | null;
  listenerPath?: string;
  listenerMetadata?: string;
}

export interface OciSeccomp {
  defaultAction: string;
  defaultErrnoRet?: number;
  architectures?: string[];
  flags?: string[];
  listenerPath?: string;
  listenerMetadata?: string;
  syscalls: Array<{ names: string[]; action: string; errnoRet?: number; args?: SeccompArg[] }>;
}

export const SECCOMP_ACTIONS: readonly string[] = [
  'SCMP_ACT_KILL', 'SCMP_ACT_KILL_PROCESS', 'SCMP_ACT_KILL_THREAD', 'SCMP_ACT_TRAP', 'SCMP_ACT_ERRNO',
  'SCMP_ACT_TRACE', 'SCMP_ACT_ALLOW', 'SCMP_ACT_LOG', 'SCMP_ACT_NOTIFY',
];
const OPERATORS = new Set([
  'SCMP_CMP_NE', 'SCMP_CMP_LT', 'SCMP_CMP_LE', 'SCMP_CMP_EQ', 'SCMP_CMP_GE', 'SCMP_CMP_GT', 'SCMP_CMP_MASKED_EQ',
]);

/** Node's process.arch → the Go GOARCH names Docker profiles use in `arches`. */
const GO_ARCH: Record<string, string> = {
  x64: 'amd64', ia32: '386', arm64: 'arm64', arm: 'arm', ppc64: 'ppc64le', s390x: 's390x', riscv64: 'riscv64',
  mips: 'mips', mipsel: 'mipsle', mips64el: 'mips64le', loong64: 'loong64',
};

/** GOARCH → the libseccomp name of that architecture, as in archMap. */
const SCMP_ARCH: Record<string, string> = {
  amd64: 'SCMP_ARCH_X86_64', '386': 'SCMP_ARCH_X86', arm64: 'SCMP_ARCH_AARCH64', arm: 'SCMP_ARCH_ARM',
  ppc64le: 'SCMP_ARCH_PPC64LE', s390x: 'SCMP_ARCH_S390X', riscv64: 'SCMP_ARCH_RISCV64', mips: 'SCMP_ARCH_MIPS',
  mipsle: 'SCMP_ARCH_MIPSEL', mips64le: 'SCMP_ARCH_MIPSEL64', loong64: 'SCMP_ARCH_LOONGARCH64',
};

export function goArch(nodeArch: string = process.arch): string {
  return GO_ARCH[nodeArch] ?? nodeArch;
}

export function kernelVersion(rel: string = release()): [number, number] {
  const m = /^(\d+)\.(\d+)/.exec(rel.trim());
  if (!m) throw invalidArgument(`cannot read a kernel version from ${JSON.stringify(rel)}: expected MAJOR.MINOR`);
  return [Number(m[1]), Number(m[2])];
}

const fail = (why: string) => invalidArgument(`Decoding seccomp profile failed: ${why}`);

const isObj = (v: unknown): v is Record<string, unknown> => typeof v === 'object' && v !== null && !Array.isArray(v);
const isStrList = (v: unknown): boolean => v === undefined || v === null || (Array.isArray(v) && v.every((x) => typeof x === 'string'));
const isUint = (v: unknown): boolean => typeof v === 'number' && Number.isSafeInteger(v) && v >= 0;

function checkFilter(where: string, f: unknown): void {
  if (f === undefined || f === null) return;
  if (!isObj(f)) throw fail(`${where} must be an object`);
  if (!isStrList(f.caps) || !isStrList(f.arches)) throw fail(`${where}.caps and ${where}.arches must be lists of strings`);
  if (f.minKernel !== undefined && f.minKernel !== null && f.minKernel !== '') {
    if (typeof f.minKernel !== 'string' || !/^\d+\.\d+/.test(f.minKernel)) throw fail(`${where}.minKernel must look like "4.8"`);
  }
}

/** Parses and checks a profile in Docker's format. */
export function parseSeccompProfile(text: string): SeccompProfile {
  let v: unknown;
  try {
    v = JSON.parse(text);
  } catch (err) {
    throw fail((err as Error).message);
  }
  return checkSeccompProfile(v);
}

export function checkSeccompProfile(v: unknown): SeccompProfile {
  if (!isObj(v)) throw fail('the profile must be a JSON object');
  if (typeof v.defaultAction !== 'string' || !SECCOMP_ACTIONS.includes(v.defaultAction)) {
    throw fail(`defaultAction must be one of ${SECCOMP_ACTIONS.join(', ')}`);
  }
  if (v.defaultErrnoRet !== undefined && !isUint(v.defaultErrnoRet)) throw fail('defaultErrnoRet must be a number ≥ 0');
  if (!isStrList(v.architectures) || !isStrList(v.flags)) throw fail('architectures and flags must be lists of strings');
  const archs = v.architectures as string[] | null | undefined;
  if (archs && archs.length > 0 && Array.isArray(v.archMap) && v.archMap.length > 0) {
    throw fail("use either 'architectures' or 'archMap'");
  }
  if (v.archMap !== undefined && v.archMap !== null) {
    if (!Array.isArray(v.archMap) || !v.archMap.every((a) => isObj(a) && typeof a.architecture === 'string' && isStrList(a.subArchitectures))) {
      throw fail('archMap must be a list of { architecture, subArchitectures }');
    }
  }
  if (v.syscalls !== undefined && v.syscalls !== null && !Array.isArray(v.syscalls)) throw fail('syscalls must be a list');
  for (const [i, r] of ((v.syscalls ?? []) as unknown[]).entries()) {
    const where = `syscalls[${i}]`;
    if (!isObj(r)) throw fail(`${where} must be an object`);
    if (r.name !== undefined && r.name !== '' && Array.isArray(r.names) && r.names.length > 0) {
      throw fail(`${where}: use either 'name' or 'names'`);
    }
    if ((r.name !== undefined && typeof r.name !== 'string') || !isStrList(r.names)) throw fail(`${where}: name must be a string and names a list of strings`);
    if (typeof r.action !== 'string' || !SECCOMP_ACTIONS.includes(r.action)) {
      throw fail(`${where}: action must be one of ${SECCOMP_ACTIONS.join(', ')}`);
    }
    if (r.errnoRet !== undefined && !isUint(r.errnoRet)) throw fail(`${where}: errnoRet must be a number ≥ 0`);
    if (r.args !== undefined && r.args !== null) {
      if (!Array.isArray(r.args)) throw fail(`${where}: args must be a list`);
      for (const a of r.args as unknown[]) {
        if (!isObj(a) || !isUint(a.index) || !isUint(a.value) || (a.valueTwo !== undefined && !isUint(a.valueTwo)) || typeof a.op !== 'string' || !OPERATORS.has(a.op)) {
          throw fail(`${where}: each arg needs index, value (numbers ≥ 0) and op (one of ${[...OPERATORS].join(', ')})`);
        }
      }
    }
    checkFilter(`${where}.includes`, r.includes);
    checkFilter(`${where}.excludes`, r.excludes);
  }
  return v as unknown as SeccompProfile;
}

export interface SeccompContext {
  /** The container's capabilities (canonical CAP_* names). */
  capabilities: readonly string[];
  /** Go-style architecture; default: this machine's. */
  arch?: string;
  /** [major, minor]; default: the running kernel's. */
  kernel?: readonly [number, number];
  /**
   * Whether the kernel runs x32 programs; default: asked of the running kernel.
   * Without x32 the filter leaves SCMP_ARCH_X32 out: no process can make those
   * calls, and each architecture in the filter costs runc milliseconds to compile.
   */
  x32?: boolean;
}

const atLeast = (have: readonly [number, number], want: string): boolean => {
  const [maj, min] = kernelVersion(want);
  return have[0] > maj || (have[0] === maj && have[1] >= min);
};

export function renderSeccomp(profile: SeccompProfile, ctx: SeccompContext): OciSeccomp {
  const arch = ctx.arch ?? goArch();
  const kernel = ctx.kernel ?? kernelVersion();
  const caps = new Set(ctx.capabilities);
  const out: OciSeccomp = { defaultAction: profile.defaultAction, syscalls: [] };
  if (profile.defaultErrnoRet !== undefined) out.defaultErrnoRet = profile.defaultErrnoRet;

  if (profile.archMap && profile.archMap.length > 0) {
    const native = SCMP_ARCH[arch];
    const entry = profile.archMap.find((a) => a.architecture === native);
    if (entry) out.architectures = [entry.architecture, ...(entry.subArchitectures ?? [])].filter((a) => a !== 'SCMP_ARCH_X32' || (ctx.x32 ?? kernelHasX32()));
  } else if (profile.architectures && profile.architectures.length > 0) {
    out.architectures = [...profile.architectures];
  }
  if (profile.flags && profile.flags.length > 0) out.flags = [...profile.flags];
  if (profile.listenerPath) out.listenerPath = profile.listenerPath;
  if (profile.listenerMetadata) out.listenerMetadata = profile.listenerMetadata;

  for (const r of profile.syscalls ?? []) {
    const inc = r.includes ?? {};
    const exc = r.excludes ?? {};
    if (inc.arches && inc.arches.length > 0 && !inc.arches.includes(arch)) continue;
    if (inc.caps && inc.caps.some((c) => !caps.has(c))) continue;
    if (inc.minKernel && !atLeast(kernel, inc.minKernel)) continue;
    if (exc.arches && exc.arches.includes(arch)) continue;
    if (exc.caps && exc.caps.some((c) => caps.has(c))) continue;
    const names = r.names && r.names.length > 0 ? [...r.names] : r.name ? [r.name] : [];
    if (names.length === 0) continue;
    const rule: OciSeccomp['syscalls'][number] = { names, action: r.action };
    if (r.errnoRet !== undefined) rule.errnoRet = r.errnoRet;
    if (r.args && r.args.length > 0) rule.args = r.args.map((a) => ({ ...a }));
    out.syscalls.push(rule);
  }
  return out;
}
