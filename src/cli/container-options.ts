import type { ContainerCreateRequest, HostConfig, RestartPolicy } from '../wire';
import { parseGoDuration } from '../common';

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

/** An env file: one `K=V` or `K` per line; `#` comments and blank lines skipped. */
export function parseEnvFile(text: string, env: Record<string, string | undefined>): string[] {
  const lines = text
    .split(/\r?\n/)
    .map((l) => l.replace(/^\s+/, ''))
    .filter((l) => l !== '' && !l.startsWith('#'));
  return parseEnv(lines, env);
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

/** `512m`, `1g`, `1024` (bytes) → bytes, as docker's RAMInBytes. */
export function parseMemory(s: string): number {
  const m = /^(\d+(?:\.\d+)?)\s*([kmgtp]?)(?:i?b)?$/i.exec(s.trim());
  if (!m) throw new Error(`invalid size: '${s}'`);
  const mult: Record<string, number> = { '': 1, k: 1024, m: 1024 ** 2, g: 1024 ** 3, t: 1024 ** 4, p: 1024 ** 5 };
  return Math.round(Number(m[1]) * mult[m[2]!.toLowerCase()]!);
}

/** A whole number for flag `name`, as docker's int flags parse it. */
function intFlag(name: string, v: string): number {
  if (!/^[+-]?\d+$/.test(v.trim())) throw new Error(`invalid argument "${v}" for "--${name}" flag: strconv.ParseInt: parsing "${v}": invalid syntax`);
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
  const eq = spec.indexOf('=');
  if (eq <= 0) throw new Error(`invalid ulimit argument: ${spec}`);
  const name = spec.slice(0, eq);
  const vals = spec.slice(eq + 1).split(':');
  if (vals.length > 2 || vals.some((v) => !/^-?\d+$/.test(v))) throw new Error(`invalid ulimit argument: ${spec}`);
  const soft = Number(vals[0]);
  const hard = vals.length === 2 ? Number(vals[1]) : soft;
  if (soft > hard && hard !== -1) throw new Error(`ulimit soft limit must be less than or equal to hard limit: ${soft} > ${hard}`);
  return { Name: name, Soft: soft, Hard: hard };
}

/** `--sysctl k=v` entries → map. */
export function parseSysctls(list: string[]): Record<string, string> {
  const out: Record<string, string> = {};
  for (const e of list) {
    const i = e.indexOf('=');
    if (i <= 0) throw new Error(`invalid argument "${e}" for "--sysctl" flag: sysctl '${e}' is not allowed`);
    out[e.slice(0, i)] = e.slice(i + 1);
  }
  return out;
}

/** The isolation and resource flags' HostConfig fields. */
export function isolationHostConfig(f: ContainerFlags): Record<string, unknown> {
  const h: Record<string, unknown> = {};
  if (f.pid !== undefined) h.PidMode = f.pid;
  if (f.ipc !== undefined) h.IpcMode = f.ipc;
  if (f.uts !== undefined) h.UTSMode = f.uts;
  if (f.userns !== undefined) h.UsernsMode = f.userns;
  if (f.cgroupns !== undefined) {
    if (!['', 'host', 'private'].includes(f.cgroupns)) throw new Error(`invalid argument "${f.cgroupns}" for "--cgroupns" flag: invalid cgroup namespace mode`);
    h.CgroupnsMode = f.cgroupns;
  }
  if (f.memoryReservation) h.MemoryReservation = parseMemory(f.memoryReservation);
  if (f.memorySwap) h.MemorySwap = f.memorySwap.trim() === '-1' ? -1 : parseMemory(f.memorySwap);
  if (f.memorySwappiness !== undefined) h.MemorySwappiness = intFlag('memory-swappiness', f.memorySwappiness);
  if (f.oomKillDisable) h.OomKillDisable = true;
  if (f.oomScoreAdj !== undefined) {
    const v = intFlag('oom-score-adj', f.oomScoreAdj);
    if (v < -1000 || v > 1000) throw new Error(`invalid value: ${v}. Valid values are from -1000 to 1000`);
    h.OomScoreAdj = v;
  }
  if (f.cpuShares !== undefined) h.CpuShares = intFlag('cpu-shares', f.cpuShares);
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
  if (f.ulimit?.length) h.Ulimits = f.ulimit.map(parseUlimit);
  if (f.groupAdd?.length) h.GroupAdd = f.groupAdd;
  if (f.shmSize) h.ShmSize = parseMemory(f.shmSize);
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
  envFiles: string[] = [],
): ContainerCreateRequest {
  if (f.rm && f.restart && !['no', ''].includes(parseRestart(f.restart).Name)) throw new Error('conflicting options: cannot specify both --restart and --rm');
  const attach = (f.attach ?? []).map((a) => a.toLowerCase());
  for (const a of attach) if (!['stdin', 'stdout', 'stderr'].includes(a)) throw new Error(`invalid argument "${a}" for "-a, --attach" flag: valid streams are STDIN, STDOUT and STDERR`);
  if (f.detach && attach.length) throw new Error('conflicting options: cannot specify both --attach and --detach');
  const attachStdin = attach.length ? attach.includes('stdin') : !!f.interactive && !f.detach;
  const attachStdout = attach.length ? attach.includes('stdout') : !f.detach;
  const attachStderr = attach.length ? attach.includes('stderr') : !f.detach;

  const envList = [...envFiles.flatMap((t) => parseEnvFile(t, env)), ...parseEnv(f.env ?? [], env)];
  const labels: Record<string, string> = {};
  for (const l of f.label ?? []) {
    const i = l.indexOf('=');
    labels[i < 0 ? l : l.slice(0, i)] = i < 0 ? '' : l.slice(i + 1);
  }

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

  const host: HostConfig = {
    Binds: binds.length ? binds : null,
    NetworkMode: f.network || 'default',
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
  if (f.memory) host['Memory'] = parseMemory(f.memory);
  Object.assign(host, isolationHostConfig(f));
  if (f.cpus) {
    const n = Number(f.cpus);
    if (!(n > 0)) throw new Error(`invalid argument "${f.cpus}" for "--cpus" flag`);
    host['NanoCpus'] = Math.round(n * 1e9);
  }

  let stopTimeout: number | undefined;
  if (f.stopTimeout !== undefined) {
    stopTimeout = Number(f.stopTimeout);
    if (!Number.isInteger(stopTimeout)) throw new Error(`invalid argument "${f.stopTimeout}" for "--stop-timeout" flag`);
  }

  return {
    Hostname: f.hostname ?? '',
    Domainname: '',
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
    NetworkingConfig: { EndpointsConfig: {} },
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
      throw new Error(`invalid argument "${v}" for "--${flag}" flag: ${(e as Error).message}`);
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
