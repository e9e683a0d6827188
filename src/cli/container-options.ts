import type { ContainerCreateRequest, HostConfig, RestartPolicy } from '../wire';
import { isIP } from 'node:net';
import { parseGoDuration } from '../common';

/**
 * A flag's value the docker CLI refuses while parsing flags: its words are `invalid argument
 * "V" for "FLAG" flag: …`, printed with the usage line and exit 125.
 */
export class FlagError extends Error {}

/** Flags shared by `run` and `create`, as commander hands them over. */
export interface ContainerFlags {
  name?: string;
  env?: string[];
  envFile?: string[];
  workdir?: string;
  user?: string;
  entrypoint?: string;
  hostname?: string;
  tty?: boolean;
  interactive?: boolean;
  rm?: boolean;
  detach?: boolean;
  attach?: string[];
  label?: string[];
  publish?: string[];
  expose?: string[];
  volume?: string[];
  mount?: string[];
  tmpfs?: string[];
  network?: string;
  /** `--net`, docker's hidden old name of --network. */
  net?: string;
  networkAlias?: string[];
  netAlias?: string[];
  ip?: string;
  ip6?: string;
  linkLocalIp?: string[];
  macAddress?: string;
  link?: string[];
  dns?: string[];
  dnsOption?: string[];
  dnsSearch?: string[];
  domainname?: string;
  addHost?: string[];
  publishAll?: boolean;
  logDriver?: string;
  logOpt?: string[];
  volumesFrom?: string[];
  volumeDriver?: string;
  runtime?: string;
  cgroupParent?: string;
  storageOpt?: string[];
  annotation?: string[];
  restart?: string;
  privileged?: boolean;
  init?: boolean;
  readOnly?: boolean;
  capAdd?: string[];
  capDrop?: string[];
  stopSignal?: string;
  stopTimeout?: string;
  healthCmd?: string;
  healthInterval?: string;
  healthTimeout?: string;
  healthRetries?: string;
  healthStartPeriod?: string;
  healthStartInterval?: string;
  /** commander's `--no-healthcheck`: false when given. */
  healthcheck?: boolean;
  platform?: string;
  /** `--pull`: always, missing (default) or never. */
  pull?: string;
  /** `-q`: no pull progress. */
  quiet?: boolean;
  memory?: string;
  cpus?: string;
  detachKeys?: string;
  // Isolation and resources.
  pid?: string;
  ipc?: string;
  uts?: string;
  userns?: string;
  cgroupns?: string;
  memoryReservation?: string;
  memorySwap?: string;
  memorySwappiness?: string;
  oomKillDisable?: boolean;
  oomScoreAdj?: string;
  cpuShares?: string;
  cpuPeriod?: string;
  cpuQuota?: string;
  cpusetCpus?: string;
  cpusetMems?: string;
  blkioWeight?: string;
  blkioWeightDevice?: string[];
  deviceReadBps?: string[];
  deviceWriteBps?: string[];
  deviceReadIops?: string[];
  deviceWriteIops?: string[];
  pidsLimit?: string;
  device?: string[];
  deviceCgroupRule?: string[];
  /** `seccomp=FILE` entries already carry the file's JSON (createFromFlags reads it). */
  securityOpt?: string[];
  sysctl?: string[];
  ulimit?: string[];
  groupAdd?: string[];
  shmSize?: string;
}

/** Appends to a repeatable flag's list (commander's collector). */
export const collect = (value: string, previous: string[] | undefined): string[] => [...(previous ?? []), value];

/**
 * `-e` values as docker takes them: `K=V` kept; a bare `K` takes the CLI's own
 * value when it has one, else is passed bare (the daemon then unsets K).
 */
export function parseEnv(entries: string[], env: Record<string, string | undefined>): string[] {
  return entries.map((e) => {
    if (e.startsWith('=')) throw new Error(`invalid environment variable: ${e}`);
    if (e.includes('=')) return e;
    const v = env[e];
    return v === undefined ? e : `${e}=${v}`;
  });
}

/**
 * An env file: one `K=V` or `K` per line; `#` comments and blank lines skipped; leading
 * space trimmed. A name with whitespace or none at all is refused in the docker CLI's words.
 */
export function parseEnvFile(text: string, env: Record<string, string | undefined>, path = ''): string[] {
  const out: string[] = [];
  for (const raw of text.replace(/^\uFEFF/, '').split(/\r?\n/)) {
    const line = raw.replace(/^\s+/, '');
    if (line === '' || line.startsWith('#')) continue;
    const eq = line.indexOf('=');
    const name = eq < 0 ? line : line.slice(0, eq);
    if (/\s/.test(name)) throw new Error(`invalid env file (${path}): variable '${name}' contains whitespaces`);
    if (name === '') throw new Error(`invalid env file (${path}): no variable name on line '${line}'`);
    if (eq >= 0) out.push(line);
    else if (env[name] !== undefined) out.push(`${name}=${env[name]}`);
  }
  return out;
}

/** `--filter k=v` (repeatable) → docker's filter map. */
export function parseFilters(entries: string[]): Record<string, string[]> {
  const out: Record<string, string[]> = {};
  for (const e of entries) {
    const i = e.indexOf('=');
    if (i <= 0) throw new Error(`bad format of filter (expected name=value)`);
    const k = e.slice(0, i).trim().toLowerCase();
    (out[k] ??= []).push(e.slice(i + 1));
  }
  return out;
}

/** `512m`, `1g`, `1024` (bytes) → bytes, with the words of docker's RAMInBytes (go-units) for what it refuses. */
export function parseMemory(text: string): number {
  // The number ends at the last digit, dot or space; the suffix follows.
  let sep = -1;
  for (let i = text.length - 1; i >= 0; i--) if ('0123456789. '.includes(text[i]!)) { sep = i; break; }
  if (sep === -1) throw new Error(`invalid size: '${text}'`);
  const num = text[sep] === ' ' ? text.slice(0, sep) : text.slice(0, sep + 1);
  const sfx = text.slice(sep + 1);
  if (!/^[+-]?(\d+\.?\d*|\.\d+)$/.test(num)) throw new Error(`strconv.ParseFloat: parsing ${JSON.stringify(num)}: invalid syntax`);
  let size = Number(num);
  if (size < 0) throw new Error(`size is less than zero: ${text}`);
  const bad = () => new Error(`invalid suffix: '${sfx}'`);
  const lower = sfx.toLowerCase();
  if (lower !== '' && lower !== 'b') {
    const mult: Record<string, number> = { k: 1024, m: 1024 ** 2, g: 1024 ** 3, t: 1024 ** 4, p: 1024 ** 5 };
    const m = mult[lower[0]!];
    if (sfx.length > 3 || m === undefined || (lower.length === 2 && lower[1] !== 'b') || (lower.length === 3 && lower.slice(1) !== 'ib')) throw bad();
    size *= m;
  } else if (sfx.length > 1) {
    throw bad();
  }
  return Math.trunc(size);
}

/** A flag's value through `parse`, its refusal in the docker CLI's flag-parsing words (FlagError). */
export function flagValue<T>(flag: string, v: string, parse: (v: string) => T): T {
  try {
    return parse(v);
  } catch (e) {
    throw new FlagError(`invalid argument "${v}" for "${flag}" flag: ${(e as Error).message}`);
  }
}

/** A whole number for flag `name`, as docker's int flags parse it. */
function intFlag(name: string, v: string, shown = `--${name}`): number {
  if (!/^[+-]?\d+$/.test(v.trim())) throw new FlagError(`invalid argument "${v}" for "${shown}" flag: strconv.ParseInt: parsing "${v}": invalid syntax`);
  return Number(v);
}

/** `--device /dev/x[:/dev/y][:rwm]` → Docker's DeviceMapping. */
export function parseDevice(spec: string): { PathOnHost: string; PathInContainer: string; CgroupPermissions: string } {
  const parts = spec.split(':');
  const isMode = (m: string) => /^[rwm]{1,3}$/.test(m);
  let src = parts[0] ?? '';
  let dst = '';
  let perms = 'rwm';
  if (parts.length === 3) {
    dst = parts[1]!;
    perms = parts[2]!;
    if (!isMode(perms)) throw new Error(`invalid device mode: ${perms}`);
  } else if (parts.length === 2) {
    if (isMode(parts[1]!)) perms = parts[1]!;
    else dst = parts[1]!;
  } else if (parts.length !== 1) {
    throw new Error(`invalid device specification: ${spec}`);
  }
  if (!src.startsWith('/')) throw new Error(`invalid device specification: ${spec}`);
  if (dst === '') dst = src;
  if (!dst.startsWith('/')) throw new Error(`bad format for path: ${dst}`);
  src = src.replace(/\/+$/, '') || '/';
  return { PathOnHost: src, PathInContainer: dst, CgroupPermissions: perms };
}

/** `--blkio-weight-device /dev/sda:200`. */
export function parseWeightDevice(spec: string): { Path: string; Weight: number } {
  const i = spec.lastIndexOf(':');
  const path = spec.slice(0, i);
  const w = spec.slice(i + 1);
  if (i <= 0 || !path.startsWith('/dev/')) throw new Error(`bad format: ${spec}`);
  if (!/^\d+$/.test(w) || (Number(w) !== 0 && (Number(w) < 10 || Number(w) > 1000))) {
    throw new Error(`invalid weight for device: ${spec}`);
  }
  return { Path: path, Weight: Number(w) };
}

/** `--device-read-bps /dev/sda:1mb` (sizes) or `--device-read-iops /dev/sda:1000` (counts). */
export function parseThrottleDevice(spec: string, sizes: boolean): { Path: string; Rate: number } {
  const i = spec.lastIndexOf(':');
  const path = spec.slice(0, i);
  const r = spec.slice(i + 1);
  if (i <= 0 || !path.startsWith('/dev/')) throw new Error(`bad format: ${spec}`);
  let rate: number;
  if (sizes) {
    try {
      rate = parseMemory(r);
    } catch {
      throw new Error(`invalid rate for device: ${spec}. The correct format is <device-path>:<number>[<unit>]. Number must be a positive integer. Unit is optional and can be kb, mb, or gb`);
    }
  } else {
    if (!/^\d+$/.test(r)) throw new Error(`invalid rate for device: ${spec}. The correct format is <device-path>:<number>. Number must be a positive integer`);
    rate = Number(r);
  }
  return { Path: path, Rate: rate };
}

/** `--ulimit nofile=1024[:2048]` → Docker's Ulimit (a single value is both limits). */
export function parseUlimit(spec: string): { Name: string; Soft: number; Hard: number } {
  // go-units' ParseUlimit, with its words.
  const eq = spec.indexOf('=');
  if (eq < 0) throw new Error(`invalid ulimit argument: ${spec}`);
  const name = spec.slice(0, eq);
  if (!ULIMIT_NAMES.has(name)) throw new Error(`invalid ulimit type: ${name}`);
  const vals = spec.slice(eq + 1).split(':');
  if (vals.length > 2) throw new Error(`too many limit value arguments - ${spec.slice(eq + 1)}, can only have up to two, \`soft[:hard]\``);
  const int = (v: string) => {
    if (!/^[+-]?\d+$/.test(v)) throw new Error(`strconv.ParseInt: parsing ${JSON.stringify(v)}: invalid syntax`);
    return Number(v);
  };
  const hard = vals.length === 2 ? int(vals[1]!) : undefined;
  const soft = int(vals[0]!);
  const h = hard ?? soft;
  if (h !== -1 && soft > h) throw new Error(`ulimit soft limit must be less than or equal to hard limit: ${soft} > ${h}`);
  return { Name: name, Soft: soft, Hard: h };
}

const ULIMIT_NAMES = new Set(['as', 'core', 'cpu', 'data', 'fsize', 'locks', 'memlock', 'msgqueue', 'nice', 'nofile', 'nproc', 'rss', 'rtprio', 'rttime', 'sigpending', 'stack']);

/** `--sysctl k=v` entries → map. */
export function parseSysctls(list: string[]): Record<string, string> {
  const out: Record<string, string> = {};
  for (const e of list) {
    // The docker CLI's ValidateSysctl: only the namespaced ones a container may set.
    const i = e.indexOf('=');
    const k = i < 0 ? '' : e.slice(0, i);
    const allowed = NAMESPACED_SYSCTLS.has(k) || k.startsWith('net.') || k.startsWith('fs.mqueue.');
    if (!allowed) throw new FlagError(`invalid argument "${e}" for "--sysctl" flag: sysctl '${e}' is not allowed`);
    out[k] = e.slice(i + 1);
  }
  return out;
}

const NAMESPACED_SYSCTLS = new Set(['kernel.msgmax', 'kernel.msgmnb', 'kernel.msgmni', 'kernel.sem', 'kernel.shmall', 'kernel.shmmax', 'kernel.shmmni', 'kernel.shm_rmid_forced']);

/** The namespace modes the docker CLI takes (its `--pid: invalid PID mode` words otherwise). */
function checkModes(f: ContainerFlags): void {
  const container = (m: string) => /^container:.+/.test(m);
  if (f.pid !== undefined && !(f.pid === '' || f.pid === 'host' || container(f.pid))) throw new Error('--pid: invalid PID mode');
  if (f.uts !== undefined && !['', 'host'].includes(f.uts)) throw new Error('--uts: invalid UTS mode');
  if (f.userns !== undefined && !['', 'host'].includes(f.userns)) throw new Error('--userns: invalid USER mode');
  if (f.cgroupns !== undefined && !['', 'host', 'private'].includes(f.cgroupns)) throw new Error('--cgroupns: invalid CGROUP mode');
  for (const o of f.securityOpt ?? []) {
    // key=value or key:value; only no-new-privileges stands alone.
    const m = /^([^=:]*)[=:](.*)$/s.exec(o);
    if (o !== 'no-new-privileges' && (!m || m[2] === '')) throw new Error(`Invalid --security-opt: ${JSON.stringify(o)}`);
  }
}

/** The isolation and resource flags' HostConfig fields. */
export function isolationHostConfig(f: ContainerFlags): Record<string, unknown> {
  const h: Record<string, unknown> = {};
  if (f.pid !== undefined) h.PidMode = f.pid;
  if (f.ipc !== undefined) h.IpcMode = f.ipc;
  if (f.uts !== undefined) h.UTSMode = f.uts;
  if (f.userns !== undefined) h.UsernsMode = f.userns;
  checkModes(f);
  if (f.cgroupns !== undefined) h.CgroupnsMode = f.cgroupns;
  if (f.memoryReservation) h.MemoryReservation = flagValue('--memory-reservation', f.memoryReservation, parseMemory);
  if (f.memorySwap) h.MemorySwap = f.memorySwap.trim() === '-1' ? -1 : flagValue('--memory-swap', f.memorySwap, parseMemory);
  if (f.memorySwappiness !== undefined) {
    const v = intFlag('memory-swappiness', f.memorySwappiness);
    if (v !== -1 && (v < 0 || v > 100)) throw new Error(`invalid value: ${v}. Valid memory swappiness range is 0-100`);
    h.MemorySwappiness = v;
  }
  if (f.oomKillDisable) h.OomKillDisable = true;
  if (f.oomScoreAdj !== undefined) {
    // The range is the daemon's to check (and its words).
    const v = intFlag('oom-score-adj', f.oomScoreAdj);
    h.OomScoreAdj = v;
  }
  if (f.cpuShares !== undefined) h.CpuShares = intFlag('cpu-shares', f.cpuShares, '-c, --cpu-shares');
  if (f.cpuPeriod !== undefined) h.CpuPeriod = intFlag('cpu-period', f.cpuPeriod);
  if (f.cpuQuota !== undefined) h.CpuQuota = intFlag('cpu-quota', f.cpuQuota);
  if (f.cpusetCpus !== undefined) h.CpusetCpus = f.cpusetCpus;
  if (f.cpusetMems !== undefined) h.CpusetMems = f.cpusetMems;
  if (f.blkioWeight !== undefined) h.BlkioWeight = intFlag('blkio-weight', f.blkioWeight);
  if (f.blkioWeightDevice?.length) h.BlkioWeightDevice = f.blkioWeightDevice.map(parseWeightDevice);
  if (f.deviceReadBps?.length) h.BlkioDeviceReadBps = f.deviceReadBps.map((d) => parseThrottleDevice(d, true));
  if (f.deviceWriteBps?.length) h.BlkioDeviceWriteBps = f.deviceWriteBps.map((d) => parseThrottleDevice(d, true));
  if (f.deviceReadIops?.length) h.BlkioDeviceReadIOps = f.deviceReadIops.map((d) => parseThrottleDevice(d, false));
  if (f.deviceWriteIops?.length) h.BlkioDeviceWriteIOps = f.deviceWriteIops.map((d) => parseThrottleDevice(d, false));
  if (f.pidsLimit !== undefined) h.PidsLimit = intFlag('pids-limit', f.pidsLimit);
  if (f.device?.length) h.Devices = f.device.map(parseDevice);
  if (f.deviceCgroupRule?.length) h.DeviceCgroupRules = f.deviceCgroupRule;
  if (f.securityOpt?.length) h.SecurityOpt = f.securityOpt;
  if (f.sysctl?.length) h.Sysctls = parseSysctls(f.sysctl);
  if (f.ulimit?.length) h.Ulimits = f.ulimit.map((u) => flagValue('--ulimit', u, parseUlimit));
  if (f.groupAdd?.length) h.GroupAdd = f.groupAdd;
  if (f.shmSize) h.ShmSize = flagValue('--shm-size', f.shmSize, parseMemory);
  return h;
}

/** `-p [ip:][hostPort:]containerPort[/proto]` → the exposed key and its binding. */
export function parsePublish(spec: string): { port: string; binding: { HostIp: string; HostPort: string } } {
  let rest = spec;
  let proto = 'tcp';
  const slash = rest.lastIndexOf('/');
  if (slash >= 0) {
    proto = rest.slice(slash + 1).toLowerCase();
    rest = rest.slice(0, slash);
  }
  if (!['tcp', 'udp', 'sctp'].includes(proto)) throw new Error(`invalid proto: ${proto}`);
  let hostIp = '';
  const v6 = /^\[([^\]]*)\]:(.*)$/.exec(rest);
  if (v6) {
    hostIp = v6[1]!;
    rest = v6[2]!;
  }
  const parts = rest.split(':');
  let hostPort = '';
  let containerPort: string;
  if (parts.length === 1) containerPort = parts[0]!;
  else if (parts.length === 2) [hostPort, containerPort] = parts as [string, string];
  else if (parts.length === 3 && !v6) [hostIp, hostPort, containerPort] = parts as [string, string, string];
  else throw new Error(`invalid port format for --publish: ${spec}`);
  if (hostIp !== '' && !isIP(hostIp)) throw new Error(`invalid IP address: ${hostIp}`);
  const valid = (p: string) => /^\d+(-\d+)?$/.test(p) && p.split('-').every((n) => Number(n) >= 1 && Number(n) <= 65535);
  if (!valid(containerPort)) throw new Error(`invalid containerPort: ${containerPort}`);
  if (hostPort !== '' && !valid(hostPort)) throw new Error(`invalid hostPort: ${hostPort}`);
  return { port: `${containerPort}/${proto}`, binding: { HostIp: hostIp, HostPort: hostPort } };
}

/** `no`, `always`, `unless-stopped`, `on-failure[:N]`. */
export function parseRestart(s: string): { Name: string; MaximumRetryCount: number } {
  // The syntax only, as the docker CLI checks it: the policy's name and its count are the daemon's to judge.
  if (s === '') return { Name: '', MaximumRetryCount: 0 };
  const colon = s.indexOf(':');
  const name = colon < 0 ? s : s.slice(0, colon);
  const count = colon < 0 ? '' : s.slice(colon + 1);
  if (colon >= 0 && name === '') throw new Error('invalid restart policy format: no policy provided before colon');
  if (count !== '' && !/^[+-]?\d+$/.test(count)) throw new Error('invalid restart policy format: maximum retry count must be an integer');
  return { Name: name, MaximumRetryCount: count === '' ? 0 : Number(count) };
}

/**
 * The `POST /containers/create` body docker builds from these flags.
 * `envFiles` are the env files' contents, read by the caller.
 */
export function buildCreateRequest(
  image: string,
  args: string[],
  f: ContainerFlags,
  env: Record<string, string | undefined>,
  envFiles: { path: string; text: string }[] = [],
): ContainerCreateRequest {
  if (f.rm && f.restart && !['no', ''].includes(parseRestart(f.restart).Name)) throw new Error('conflicting options: cannot specify both --restart and --rm');
  const attach = (f.attach ?? []).map((a) => a.toLowerCase());
  for (const a of attach) if (!['stdin', 'stdout', 'stderr'].includes(a)) throw new Error(`invalid argument "${a}" for "-a, --attach" flag: valid streams are STDIN, STDOUT and STDERR`);
  if (f.detach && attach.length) throw new Error('conflicting options: cannot specify both --attach and --detach');
  const attachStdin = attach.length ? attach.includes('stdin') : !!f.interactive && !f.detach;
  const attachStdout = attach.length ? attach.includes('stdout') : !f.detach;
  const attachStderr = attach.length ? attach.includes('stderr') : !f.detach;

  const envList = [...envFiles.flatMap((ef) => parseEnvFile(ef.text, env, ef.path)), ...(f.env ?? []).map((e) => flagValue('-e, --env', e, (v) => parseEnv([v], env)[0]!))];
  for (const l of f.label ?? []) if (l.startsWith('=')) throw new FlagError(`invalid argument "${l}" for "-l, --label" flag: invalid label '${l}': empty name`);
  const labels = keyValues(f.label);

  const exposed: Record<string, object> = {};
  const bindings: Record<string, { HostIp: string; HostPort: string }[]> = {};
  for (const p of f.publish ?? []) {
    const { port, binding } = parsePublish(p);
    exposed[port] = {};
    (bindings[port] ??= []).push(binding);
  }
  for (const e of f.expose ?? []) {
    const [port, proto = 'tcp'] = e.split('/');
    exposed[`${port}/${proto}`] = {};
  }

  const binds: string[] = [];
  const volumes: Record<string, object> = {};
  for (const v of f.volume ?? []) {
    if (v.includes(':')) binds.push(v);
    else volumes[v] = {};
  }

  const network = f.network || f.net || 'default';
  const host: HostConfig = {
    Binds: binds.length ? binds : null,
    NetworkMode: network,
    AutoRemove: !!f.rm,
    // A name the daemon does not know goes as typed: its refusal is what docker shows.
    RestartPolicy: f.restart ? (parseRestart(f.restart) as RestartPolicy) : { Name: 'no', MaximumRetryCount: 0 },
    Privileged: !!f.privileged,
    ReadonlyRootfs: !!f.readOnly,
    CapAdd: f.capAdd?.length ? f.capAdd : null,
    CapDrop: f.capDrop?.length ? f.capDrop : null,
    Init: f.init ? true : null,
    PortBindings: Object.keys(bindings).length ? bindings : {},
  };
  Object.assign(host, mountHostConfig(f));
  Object.assign(host, networkHostConfig(f));
  if (f.memory) host['Memory'] = flagValue('-m, --memory', f.memory, parseMemory);
  Object.assign(host, isolationHostConfig(f));
  if (f.cpus) {
    // Any rational number; the daemon judges the range.
    const n = flagValue('--cpus', f.cpus, (v) => {
      if (!/^[+-]?(\d+\.?\d*|\.\d+)$/.test(v)) throw new Error(`failed to parse ${v} as a rational number`);
      return Number(v);
    });
    host['NanoCpus'] = Math.round(n * 1e9);
  }

  let stopTimeout: number | undefined;
  if (f.stopTimeout !== undefined) stopTimeout = intFlag('stop-timeout', f.stopTimeout);

  return {
    Hostname: f.hostname ?? '',
    Domainname: f.domainname ?? '',
    User: f.user ?? '',
    AttachStdin: attachStdin,
    AttachStdout: attachStdout,
    AttachStderr: attachStderr,
    ExposedPorts: Object.keys(exposed).length ? exposed : undefined,
    Tty: !!f.tty,
    OpenStdin: !!f.interactive,
    StdinOnce: !!f.interactive && attachStdin && !f.detach,
    Env: envList,
    Cmd: args.length ? args : null,
    Image: image,
    Volumes: Object.keys(volumes).length ? volumes : null,
    WorkingDir: f.workdir ?? '',
    Entrypoint: f.entrypoint !== undefined ? [f.entrypoint] : null,
    Labels: labels,
    StopSignal: f.stopSignal,
    StopTimeout: stopTimeout,
    ...healthcheckOf(f),
    HostConfig: host,
    NetworkingConfig: networkingConfig(network, f),
  };
}

/** Keys and values of repeatable `K=V` flags (labels, `--opt`, `--log-opt`, `--storage-opt`, `--annotation`); a bare `K` maps to ''. */
export function keyValues(entries: string[] | undefined): Record<string, string> {
  const out: Record<string, string> = {};
  for (const e of entries ?? []) {
    const i = e.indexOf('=');
    out[i < 0 ? e : e.slice(0, i)] = i < 0 ? '' : e.slice(i + 1);
  }
  return out;
}

/** The HostConfig fields of the network, DNS, logging and runtime flags, as the docker CLI fills them. */
function networkHostConfig(f: ContainerFlags): Partial<HostConfig> & Record<string, unknown> {
  const out: Record<string, unknown> = {};
  if (f.link?.length) out.Links = f.link;
  if (f.dns?.length) {
    for (const d of f.dns) if (!isIP(d)) throw new FlagError(`invalid argument "${d}" for "--dns" flag: IP address is not correctly formatted: ${d}`);
    out.Dns = f.dns;
  }
  if (f.dnsOption?.length) out.DnsOptions = f.dnsOption;
  if (f.dnsSearch?.length) out.DnsSearch = f.dnsSearch;
  if (f.addHost?.length) out.ExtraHosts = f.addHost.map(checkAddHost);
  if (f.publishAll) out.PublishAllPorts = true;
  if (f.logDriver !== undefined || f.logOpt?.length) out.LogConfig = { Type: f.logDriver ?? '', Config: keyValues(f.logOpt) };
  if (f.volumesFrom?.length) out.VolumesFrom = f.volumesFrom;
  if (f.volumeDriver) out.VolumeDriver = f.volumeDriver;
  if (f.runtime) out.Runtime = f.runtime;
  if (f.cgroupParent) out.CgroupParent = f.cgroupParent;
  if (f.storageOpt?.length) out.StorageOpt = keyValues(f.storageOpt);
  if (f.annotation?.length) out.Annotations = keyValues(f.annotation);
  return out;
}

/** `--add-host NAME:IP` (or NAME=IP), checked as the docker CLI checks it; IPv6 addresses may be bracketed. */
function checkAddHost(v: string): string {
  const sep = v.search(/[:=]/);
  const name = sep < 0 ? '' : v.slice(0, sep);
  let ip = sep < 0 ? '' : v.slice(sep + 1);
  if (sep <= 0 || ip === '') throw new FlagError(`invalid argument "${v}" for "--add-host" flag: bad format for add-host: "${v}"`);
  if (ip.startsWith('[') && ip.endsWith(']')) ip = ip.slice(1, -1);
  if (ip !== 'host-gateway' && !isIP(ip)) throw new FlagError(`invalid argument "${v}" for "--add-host" flag: invalid IP address in add-host: "${ip}"`);
  return `${name}:${ip}`;
}

/**
 * NetworkingConfig as the docker CLI sends it: one endpoint for the container's network
 * (none for host or container:X), with the address, MAC and aliases asked for; links go
 * there too on a user-defined network.
 */
function networkingConfig(network: string, f: ContainerFlags): { EndpointsConfig: Record<string, Record<string, unknown>> } {
  if (network === 'host' || network.startsWith('container:')) return { EndpointsConfig: {} };
  const userDefined = !['default', 'bridge', 'none'].includes(network);
  const aliases = [...(f.networkAlias ?? []), ...(f.netAlias ?? [])];
  if (aliases.length && !userDefined) throw new Error('network-scoped aliases are only supported for user-defined networks');
  if (f.macAddress !== undefined && !/^[0-9a-f]{2}([:-])[0-9a-f]{2}(\1[0-9a-f]{2}){4}$/i.test(f.macAddress)) throw new Error(`${f.macAddress} is not a valid mac address`);
  const ipam = f.ip || f.ip6 || f.linkLocalIp?.length ? { ...(f.ip ? { IPv4Address: f.ip } : {}), ...(f.ip6 ? { IPv6Address: f.ip6 } : {}), ...(f.linkLocalIp?.length ? { LinkLocalIPs: f.linkLocalIp } : {}) } : null;
  return {
    EndpointsConfig: {
      [network]: {
        IPAMConfig: ipam,
        Links: userDefined && f.link?.length ? f.link : null,
        Aliases: aliases.length ? aliases : null,
        MacAddress: f.macAddress ?? '',
        DriverOpts: null,
      },
    },
  };
}

/** The docker CLI's Healthcheck from the --health-* flags and --no-healthcheck (with its messages). */
export function healthcheckOf(f: ContainerFlags): { Healthcheck?: Record<string, unknown> } {
  const any = [f.healthCmd, f.healthInterval, f.healthTimeout, f.healthRetries, f.healthStartPeriod, f.healthStartInterval].some((v) => v !== undefined);
  if (f.healthcheck === false) {
    if (any) throw new Error('--no-healthcheck conflicts with --health-* options');
    return { Healthcheck: { Test: ['NONE'] } };
  }
  if (!any) return {};
  const duration = (flag: string, v: string | undefined): number => {
    if (v === undefined) return 0;
    let n: number;
    try {
      n = parseGoDuration(v);
    } catch (e) {
      throw new FlagError(`invalid argument "${v}" for "--${flag}" flag: ${(e as Error).message}`);
    }
    if (n < 0) throw new Error(`--${flag} cannot be negative`);
    return n;
  };
  let retries = 0;
  if (f.healthRetries !== undefined) {
    retries = Number(f.healthRetries);
    if (!Number.isInteger(retries)) throw new Error(`invalid argument "${f.healthRetries}" for "--health-retries" flag: strconv.ParseInt: parsing "${f.healthRetries}": invalid syntax`);
    if (retries < 0) throw new Error('--health-retries cannot be negative');
  }
  return {
    Healthcheck: {
      Test: f.healthCmd ? ['CMD-SHELL', f.healthCmd] : [],
      Interval: duration('health-interval', f.healthInterval),
      Timeout: duration('health-timeout', f.healthTimeout),
      StartPeriod: duration('health-start-period', f.healthStartPeriod),
      StartInterval: duration('health-start-interval', f.healthStartInterval),
      Retries: retries,
    },
  };
}

/** Docker's ParseBool for `--mount` values such as `readonly=1`. */
function mountBool(key: string, v: string | undefined): boolean {
  if (v === undefined) return true;
  const t = v.toLowerCase();
  if (['1', 't', 'true'].includes(t)) return true;
  if (['0', 'f', 'false'].includes(t)) return false;
  throw new Error(`invalid value for ${key}: ${v}`);
}

/**
 * `--mount type=bind|volume|tmpfs,src=…,dst=…[,readonly][,bind-propagation=…]
 * [,volume-nocopy][,volume-label=k=v][,volume-driver=…][,volume-opt=k=v][,tmpfs-size=…][,tmpfs-mode=…]`
 * → one HostConfig.Mounts entry, as docker's CLI builds it (the daemon validates the rest).
 */
export function parseMountFlag(spec: string): Record<string, unknown> {
  const m: Record<string, unknown> = { Type: 'volume' };
  const bind: Record<string, unknown> = {};
  const vol: Record<string, unknown> = {};
  const driver: { Name?: string; Options?: Record<string, string> } = {};
  const tmpfs: Record<string, unknown> = {};
  for (const field of spec.split(',')) {
    if (field === '') continue;
    const eq = field.indexOf('=');
    const key = (eq < 0 ? field : field.slice(0, eq)).toLowerCase().trim();
    const value = eq < 0 ? undefined : field.slice(eq + 1);
    const need = () => {
      if (value === undefined) throw new Error(`invalid field '${field}' must be a key=value pair`);
      return value;
    };
    switch (key) {
      case 'type': m.Type = need().toLowerCase(); break;
      case 'source': case 'src': m.Source = need(); break;
      case 'target': case 'dst': case 'destination': m.Target = need(); break;
      case 'readonly': case 'ro': m.ReadOnly = mountBool(key, value); break;
      case 'consistency': m.Consistency = need(); break;
      case 'bind-propagation': bind.Propagation = need().toLowerCase(); break;
      case 'bind-nonrecursive': bind.NonRecursive = mountBool(key, value); break;
      case 'bind-create-mountpoint': bind.CreateMountpoint = mountBool(key, value); break;
      case 'volume-nocopy': vol.NoCopy = mountBool(key, value); break;
      case 'volume-label': {
        const [k, ...rest] = need().split('=');
        vol.Labels = { ...(vol.Labels as object), [k!]: rest.join('=') };
        break;
      }
      case 'volume-driver': driver.Name = need(); break;
      case 'volume-opt': {
        const v = need();
        const i = v.indexOf('=');
        if (i <= 0) throw new Error(`invalid value for ${key}: ${v}`);
        driver.Options = { ...driver.Options, [v.slice(0, i)]: v.slice(i + 1) };
        break;
      }
      case 'volume-subpath': vol.Subpath = need(); break;
      case 'tmpfs-size': tmpfs.SizeBytes = parseMemory(need()); break;
      case 'tmpfs-mode': {
        const v = need();
        if (!/^[0-7]+$/.test(v)) throw new Error(`invalid value for ${key}: ${v}`);
        tmpfs.Mode = parseInt(v, 8);
        break;
      }
      default:
        throw new Error(`unexpected key '${key}' in '${field}'`);
    }
  }
  if (driver.Name || driver.Options) vol.DriverConfig = driver;
  if (Object.keys(bind).length) m.BindOptions = bind;
  if (Object.keys(vol).length) m.VolumeOptions = vol;
  if (Object.keys(tmpfs).length) m.TmpfsOptions = tmpfs;
  return m;
}

/** HostConfig.Mounts from `--mount` and HostConfig.Tmpfs from `--tmpfs /path[:options]`. */
export function mountHostConfig(f: ContainerFlags): Record<string, unknown> {
  const h: Record<string, unknown> = {};
  if (f.mount?.length) h.Mounts = f.mount.map(parseMountFlag);
  if (f.tmpfs?.length) {
    const t: Record<string, string> = {};
    for (const spec of f.tmpfs) {
      const i = spec.indexOf(':');
      t[i < 0 ? spec : spec.slice(0, i)] = i < 0 ? '' : spec.slice(i + 1);
    }
    h.Tmpfs = t;
  }
  return h;
}
