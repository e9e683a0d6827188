/**
 * Docker's container create body (Config, HostConfig, NetworkingConfig) → the engine's
 * `ContainerSpec`, validated once here. Syntax errors carry dockerd's words; what needs
 * the host or other containers (CPUs, devices, seccomp profiles, `container:X`, bind
 * sources) is checked by the engine at create.
 *
 * `specFromDocker` is also how records written before the model (their config was
 * this JSON) are upgraded: berthd hands it to the engine for that.
 */
import { invalidArgument, notFound } from '../common';
import {
  PROPAGATIONS,
  checkVolumeName,
  cleanPath,
  defaultSpec,
  mountError,
  notAbsolute,
  normalizeSignal,
  tmpfsOptions,
  type ContainerSpec,
  type HealthCheck,
  type MountRequest,
  type RestartPolicy,
  type ThrottleSetting,
  type VolumesFromRequest,
} from '../engine';
import { CONTAINER_CONFIG, HOST_CONFIG, asObject, checkFields } from './validate';

type Json = Record<string, unknown>;

/** A create request's body (and its `name` query parameter) → what the engine creates. */
export function createRequest(body: unknown, name: string | undefined): { name?: string; spec: ContainerSpec } {
  const config = asObject(body, 'container config');
  checkFields('container config', config, CONTAINER_CONFIG);
  const hostConfig = asObject(config.HostConfig ?? undefined, 'HostConfig');
  checkFields('HostConfig', hostConfig, HOST_CONFIG);
  if (typeof config.Image !== 'string' || config.Image === '') throw invalidArgument('no image specified: set the Image field');
  // dockerd checks these at create, so a container that could never start or stop is not made.
  if (typeof config.StopSignal === 'string' && config.StopSignal !== '') normalizeSignal(config.StopSignal);
  if (typeof config.WorkingDir === 'string' && config.WorkingDir !== '' && !config.WorkingDir.startsWith('/')) {
    throw invalidArgument(`the working directory '${config.WorkingDir}' is invalid, it needs to be an absolute path`);
  }
  const spec = specFromDocker(config, hostConfig);
  const endpoints = asObject(asObject(config.NetworkingConfig ?? undefined, 'NetworkingConfig').EndpointsConfig ?? undefined, 'EndpointsConfig');
  spec.network.endpoints = Object.fromEntries(
    Object.entries(endpoints).map(([net, ep]) => {
      const e = asObject(ep ?? undefined, `EndpointsConfig[${JSON.stringify(net)}]`);
      return [net, {
        aliases: strings(e.Aliases),
        links: strings(e.Links),
        ...(typeof e.MacAddress === 'string' && e.MacAddress ? { macAddress: e.MacAddress } : {}),
        ...ipam(e.IPAMConfig),
      }];
    }),
  );
  return { ...(name ? { name } : {}), spec };
}

/** Docker's Config and HostConfig (types already checked) → the engine's spec. */
export function specFromDocker(c: Json, hc: Json): ContainerSpec {
  const spec = defaultSpec(typeof c.Image === 'string' ? c.Image : '');
  const str = (v: unknown, d = ''): string => (typeof v === 'string' ? v : d);
  const num = (v: unknown, d = 0): number => (typeof v === 'number' ? v : d);
  const bool = (v: unknown): boolean => v === true;
  const p = spec.process;
  p.cmd = list(c.Cmd);
  p.entrypoint = list(c.Entrypoint);
  p.env = strings(c.Env) ?? [];
  // Cleaned as dockerd stores it (`/tmp/x/../y/` is `/tmp/y`); a relative one was refused before.
  p.workingDir = str(c.WorkingDir).startsWith('/') ? cleanPath(str(c.WorkingDir)) : str(c.WorkingDir);
  p.user = str(c.User);
  p.tty = bool(c.Tty);
  p.openStdin = bool(c.OpenStdin);
  p.stdinOnce = bool(c.StdinOnce);
  p.attachStdin = bool(c.AttachStdin);
  p.attachStdout = bool(c.AttachStdout);
  p.attachStderr = bool(c.AttachStderr);
  if (typeof c.StopSignal === 'string' && c.StopSignal !== '') p.stopSignal = c.StopSignal;
  if (typeof c.StopTimeout === 'number') p.stopTimeout = c.StopTimeout;
  p.init = typeof hc.Init === 'boolean' ? hc.Init : null;
  const cs = hc.ConsoleSize;
  if (Array.isArray(cs) && cs.length === 2) p.consoleSize = [cs[0] as number, cs[1] as number];
  spec.hostname = str(c.Hostname);
  spec.domainname = str(c.Domainname);
  spec.labels = { ...((c.Labels as Record<string, string> | null | undefined) ?? {}) };
  spec.volumes = c.Volumes && typeof c.Volumes === 'object' ? Object.keys(c.Volumes) : null;
  if (c.Healthcheck && typeof c.Healthcheck === 'object') spec.healthCheck = healthCheck(c.Healthcheck as Json);

  spec.mounts = mountRequests(hc);
  spec.volumesFrom = volumesFrom(hc.VolumesFrom);

  const r = spec.resources;
  r.memory = num(hc.Memory);
  r.memoryReservation = num(hc.MemoryReservation);
  r.memorySwap = num(hc.MemorySwap);
  // -1 (the docker CLI's default) is no setting: dockerd keeps null, and shows it.
  r.memorySwappiness = typeof hc.MemorySwappiness === 'number' && hc.MemorySwappiness !== -1 ? hc.MemorySwappiness : null;
  r.oomKillDisable = typeof hc.OomKillDisable === 'boolean' ? hc.OomKillDisable : null;
  r.nanoCpus = num(hc.NanoCpus);
  r.cpuShares = num(hc.CpuShares);
  r.cpuPeriod = num(hc.CpuPeriod);
  r.cpuQuota = num(hc.CpuQuota);
  r.cpuRealtimePeriod = num(hc.CpuRealtimePeriod);
  r.cpuRealtimeRuntime = num(hc.CpuRealtimeRuntime);
  r.cpusetCpus = str(hc.CpusetCpus);
  r.cpusetMems = str(hc.CpusetMems);
  r.blkioWeight = num(hc.BlkioWeight);
  r.blkioWeightDevice = objects(hc.BlkioWeightDevice).map((d) => ({ path: str(d.Path), weight: num(d.Weight) }));
  r.blkioDeviceReadBps = throttle(hc.BlkioDeviceReadBps);
  r.blkioDeviceWriteBps = throttle(hc.BlkioDeviceWriteBps);
  r.blkioDeviceReadIOps = throttle(hc.BlkioDeviceReadIOps);
  r.blkioDeviceWriteIOps = throttle(hc.BlkioDeviceWriteIOps);
  r.pidsLimit = typeof hc.PidsLimit === 'number' ? hc.PidsLimit : null;
  r.devices = objects(hc.Devices).map((d) => ({ pathOnHost: str(d.PathOnHost), pathInContainer: str(d.PathInContainer), cgroupPermissions: str(d.CgroupPermissions) }));
  r.deviceCgroupRules = strings(hc.DeviceCgroupRules);
  r.ulimits = objects(hc.Ulimits).map((u) => {
    if (typeof u.Name !== 'string' || !u.Name) throw invalidArgument('each ulimit needs a Name, such as nofile');
    return { name: u.Name, soft: num(u.Soft), hard: num(u.Hard) };
  });
  r.shmSize = num(hc.ShmSize);

  const s = spec.security;
  s.privileged = bool(hc.Privileged);
  s.capAdd = strings(hc.CapAdd);
  s.capDrop = strings(hc.CapDrop);
  s.readonlyRootfs = bool(hc.ReadonlyRootfs);
  Object.assign(s, securityOpts(strings(hc.SecurityOpt) ?? []));
  s.maskedPaths = strings(hc.MaskedPaths);
  s.readonlyPaths = strings(hc.ReadonlyPaths);
  s.sysctls = hc.Sysctls && typeof hc.Sysctls === 'object' ? { ...(hc.Sysctls as Record<string, string>) } : null;
  s.groupAdd = strings(hc.GroupAdd);
  s.oomScoreAdj = num(hc.OomScoreAdj);

  spec.namespaces = { pid: str(hc.PidMode), ipc: str(hc.IpcMode), uts: str(hc.UTSMode), userns: str(hc.UsernsMode), cgroupns: str(hc.CgroupnsMode) };

  const n = spec.network;
  if (typeof hc.NetworkMode === 'string') n.mode = hc.NetworkMode;
  n.exposedPorts = c.ExposedPorts && typeof c.ExposedPorts === 'object' ? Object.keys(c.ExposedPorts) : null;
  n.portBindings = portBindings(hc.PortBindings);
  n.publishAllPorts = bool(hc.PublishAllPorts);
  // Absent lists show as empty ones, as the CLI sends them.
  n.dns = hc.Dns === undefined ? [] : strings(hc.Dns);
  n.dnsOptions = hc.DnsOptions === undefined ? [] : strings(hc.DnsOptions);
  n.dnsSearch = hc.DnsSearch === undefined ? [] : strings(hc.DnsSearch);
  n.extraHosts = strings(hc.ExtraHosts);
  n.links = strings(hc.Links);
  if (typeof c.MacAddress === 'string' && c.MacAddress) n.macAddress = c.MacAddress;
  if (typeof c.NetworkDisabled === 'boolean') n.disabled = c.NetworkDisabled;

  spec.restartPolicy = restartPolicy(hc.RestartPolicy);
  const lc = (hc.LogConfig ?? {}) as Json;
  spec.logConfig = { type: str(lc.Type), config: { ...((lc.Config as Record<string, string> | null | undefined) ?? {}) } };
  spec.autoRemove = bool(hc.AutoRemove);

  const echo = spec.echo;
  if (hc.Binds !== undefined) echo.binds = strings(hc.Binds);
  if (hc.Mounts !== undefined) echo.mounts = hc.Mounts as unknown[] | null;
  if (hc.Tmpfs !== undefined) echo.tmpfs = hc.Tmpfs as Record<string, string> | null;
  if (hc.VolumesFrom !== undefined) echo.volumesFrom = strings(hc.VolumesFrom);
  if (hc.SecurityOpt !== undefined) echo.securityOpt = strings(hc.SecurityOpt);
  const ignored: Json = {};
  for (const k of IGNORED_HOST_FIELDS) if (hc[k] !== undefined) ignored[k] = hc[k];
  if (Object.keys(ignored).length) echo.ignored = ignored;
  const is = spec.imageSettings;
  if (c.OnBuild !== undefined) is.onBuild = strings(c.OnBuild);
  if (Array.isArray(c.Shell)) is.shell = c.Shell as string[];
  if (typeof c.ArgsEscaped === 'boolean') is.argsEscaped = c.ArgsEscaped;
  return spec;
}

/** HostConfig fields Berth accepts without acting on them; inspect shows them back. */
export const IGNORED_HOST_FIELDS = [
  'ContainerIDFile', 'VolumeDriver', 'Runtime', 'Isolation', 'Cgroup', 'CgroupParent', 'KernelMemoryTCP', 'CpuCount', 'CpuPercent',
  'IOMaximumIOps', 'IOMaximumBandwidth', 'DeviceRequests', 'Annotations',
] as const;

const list = (v: unknown): string[] | null => (typeof v === 'string' ? [v] : Array.isArray(v) ? (v as string[]) : null);
const strings = (v: unknown): string[] | null => (Array.isArray(v) ? [...(v as string[])] : null);
const objects = (v: unknown): Json[] => (Array.isArray(v) ? (v as Json[]) : []);
const throttle = (v: unknown): ThrottleSetting[] => objects(v).map((d) => ({ path: typeof d.Path === 'string' ? d.Path : '', rate: typeof d.Rate === 'number' ? d.Rate : 0 }));

function ipam(v: unknown): { ipv4Address?: string; ipv6Address?: string } {
  if (!v || typeof v !== 'object') return {};
  const o = v as Json;
  return {
    ...(typeof o.IPv4Address === 'string' && o.IPv4Address ? { ipv4Address: o.IPv4Address } : {}),
    ...(typeof o.IPv6Address === 'string' && o.IPv6Address ? { ipv6Address: o.IPv6Address } : {}),
  };
}

function healthCheck(h: Json): HealthCheck {
  const n = (v: unknown) => (typeof v === 'number' ? v : 0);
  return { test: strings(h.Test) ?? [], interval: n(h.Interval), timeout: n(h.Timeout), startPeriod: n(h.StartPeriod), startInterval: n(h.StartInterval), retries: n(h.Retries) };
}

function restartPolicy(v: unknown): RestartPolicy {
  if (!v || typeof v !== 'object') return { name: 'no', maximumRetryCount: 0 };
  const o = v as Json;
  return { name: (typeof o.Name === 'string' ? o.Name : '') as RestartPolicy['name'], maximumRetryCount: typeof o.MaximumRetryCount === 'number' ? o.MaximumRetryCount : 0 };
}

function portBindings(v: unknown): ContainerSpec['network']['portBindings'] {
  if (!v || typeof v !== 'object') return null;
  // fromEntries: a key such as "__proto__" stays a plain key.
  return Object.fromEntries(
    Object.entries(v as Record<string, Json[] | null>).map(([port, bs]) => [
      port,
      bs === null ? null : bs.map((b) => ({ hostIp: typeof b.HostIp === 'string' ? b.HostIp : '', hostPort: typeof b.HostPort === 'string' ? b.HostPort : '' })),
    ]),
  );
}

// ---- security options ------------------------------------------------------

type SecurityFields = Pick<ContainerSpec['security'], 'noNewPrivileges' | 'seccomp' | 'systemPathsUnconfined'>;

const parseBool = (opt: string, v: string): boolean => {
  if (/^(1|t|true)$/i.test(v)) return true;
  if (/^(0|f|false)$/i.test(v)) return false;
  throw invalidArgument(`invalid --security-opt 2: "${opt}"`);
};

/**
 * Docker's SecurityOpt strings (`key=value`, or the older `key:value`). A seccomp
 * profile is kept as its JSON text: the engine parses it at create.
 */
export function securityOpts(list: readonly string[]): SecurityFields {
  const out: SecurityFields = { noNewPrivileges: false, seccomp: 'default', systemPathsUnconfined: false };
  for (const opt of list) {
    if (opt === 'no-new-privileges') {
      out.noNewPrivileges = true;
      continue;
    }
    const eq = opt.indexOf('=');
    const colon = opt.indexOf(':');
    const sep = eq >= 0 && (colon < 0 || eq < colon) ? eq : colon;
    if (sep < 0) throw invalidArgument(`invalid --security-opt 1: "${opt}"`);
    const key = opt.slice(0, sep);
    const value = opt.slice(sep + 1);
    switch (key) {
      case 'no-new-privileges':
        out.noNewPrivileges = parseBool(opt, value);
        break;
      case 'seccomp':
        out.seccomp = value === 'unconfined' ? 'unconfined' : { profile: value };
        break;
      case 'systempaths':
        if (value !== 'unconfined') throw invalidArgument(`invalid --security-opt 2: "${opt}": systempaths only takes unconfined`);
        out.systemPathsUnconfined = true;
        break;
      case 'apparmor':
      case 'label':
      case 'writable-cgroups':
        // No AppArmor or SELinux on this host; cgroup writability follows --privileged.
        break;
      default:
        throw invalidArgument(`invalid --security-opt 2: "${opt}"`);
    }
  }
  return out;
}

// ---- mounts ------------------------------------------------------------------

const badSpec = (raw: string, why?: string) => invalidArgument(`invalid volume specification: '${raw}'${why ? `: ${why}` : ''}`);

function volumeName(name: string): void {
  try {
    checkVolumeName(name);
  } catch (err) {
    throw invalidArgument(`create ${name}: ${(err as Error).message}`, err);
  }
}

/** Binds, then Mounts, then Tmpfs, as one list (the engine refuses a destination twice). */
function mountRequests(hc: Json): MountRequest[] {
  const out: MountRequest[] = [];
  const add = (m: MountRequest) => out.push(m);
  for (const b of strings(hc.Binds) ?? []) add(parseBind(b));
  const apiMounts = hc.Mounts;
  if (apiMounts !== undefined && apiMounts !== null && !Array.isArray(apiMounts)) throw invalidArgument('invalid HostConfig: field Mounts must be an array of mount objects');
  for (const m of (apiMounts as unknown[] | null | undefined) ?? []) {
    if (typeof m !== 'object' || m === null) throw invalidArgument('invalid HostConfig: each entry of Mounts must be an object');
    add(parseApiMount(m as ApiMount));
  }
  for (const [dest, opts] of Object.entries((hc.Tmpfs as Json | null | undefined) ?? {})) {
    if (typeof opts !== 'string') throw invalidArgument(`invalid HostConfig: the options of tmpfs mount ${dest} must be a string`);
    if (!dest.startsWith('/')) throw invalidArgument(`invalid tmpfs mount: ${notAbsolute(dest)}`);
    add({ type: 'tmpfs', source: '', destination: cleanPath(dest), mode: '', rw: true, propagation: '', hidden: true, tmpfsOptions: tmpfsOptions(opts ? opts.split(',') : []) });
  }
  return out;
}

/**
 * `rw|ro`, `z|Z`, `nocopy`, one propagation, one consistency (`consistent|cached|delegated`,
 * accepted and ignored as on Linux dockerd): each at most once (Docker's linux mode rules,
 * refused as `invalid mode: …`). A bind with `nocopy` or a volume with a propagation is then
 * refused for the option it cannot take, in dockerd's words.
 */
function parseMode(raw: string, mode: string, type: 'bind' | 'volume'): { rw: boolean; propagation: string; nocopy: boolean } {
  const seen = new Map<string, string>();
  for (const m of mode ? mode.split(',') : []) {
    const kind = m === 'rw' || m === 'ro' ? 'rw'
      : m === 'z' || m === 'Z' ? 'label'
      : m === 'nocopy' ? 'copy'
      : PROPAGATIONS.has(m) ? 'propagation'
      : CONSISTENCIES.has(m) ? 'consistency'
      : undefined;
    if (!kind || seen.has(kind)) throw invalidArgument(`invalid mode: ${mode}`);
    seen.set(kind, m);
  }
  const nocopy = seen.has('copy');
  if (seen.has('copy') && type === 'bind') throw badSpec(raw, 'invalid mount config for type "bind": field VolumeOptions must not be specified');
  if (seen.has('propagation') && type === 'volume') throw badSpec(raw, 'invalid mount config for type "volume": field BindOptions must not be specified');
  return { rw: seen.get('rw') !== 'ro', propagation: seen.get('propagation') ?? '', nocopy };
}

const CONSISTENCIES = new Set(['consistent', 'cached', 'delegated']);

/** One `HostConfig.Binds` entry: `/host:/ctr[:mode]`, `name:/ctr[:mode]` or `/ctr`. */
export function parseBind(raw: string): MountRequest {
  const parts = raw.split(':');
  if (parts.length > 3 || parts.some((p) => p === '')) throw badSpec(raw);
  let source = '';
  let dest: string;
  let mode = '';
  if (parts.length === 1) dest = parts[0]!;
  else {
    source = parts[0]!;
    dest = parts[1]!;
    mode = parts[2] ?? '';
  }
  const type = source.startsWith('/') ? 'bind' : 'volume';
  if (!dest.startsWith('/')) throw badSpec(raw, `invalid mount config for type "${type}": ${notAbsolute(dest)}`);
  const destination = cleanPath(dest);
  if (destination === '/') throw badSpec(raw, `invalid mount config for type "${type}": invalid specification: destination can't be '/'`);
  const m = mode ? parseMode(raw, mode, type) : { rw: true, propagation: '', nocopy: false };
  if (type === 'bind') {
    return { type, source: cleanPath(source), destination, mode, rw: m.rw, propagation: m.propagation || 'rprivate', createSource: true };
  }
  if (source) volumeName(source);
  return {
    type,
    source: '',
    ...(source ? { name: source } : {}),
    destination,
    // Docker shows `z` for a local-driver volume given without a mode.
    mode: mode || (source ? 'z' : ''),
    rw: m.rw,
    propagation: '',
    copyData: !m.nocopy,
    ...(source ? {} : { anonymous: true }),
  };
}

interface ApiMount {
  Type?: unknown;
  Source?: unknown;
  Target?: unknown;
  ReadOnly?: unknown;
  BindOptions?: { Propagation?: unknown; CreateMountpoint?: unknown } | null;
  VolumeOptions?: { NoCopy?: unknown; Labels?: unknown; DriverConfig?: { Name?: unknown; Options?: unknown } | null } | null;
  TmpfsOptions?: { SizeBytes?: unknown; Mode?: unknown } | null;
}

/** One `HostConfig.Mounts` entry (`--mount`). Bind sources are checked by the engine. */
export function parseApiMount(m: ApiMount): MountRequest {
  const type = typeof m.Type === 'string' ? m.Type : '';
  if (!['bind', 'volume', 'tmpfs'].includes(type)) throw mountError(type, 'mount type unknown');
  const t = type as 'bind' | 'volume' | 'tmpfs';
  const target = typeof m.Target === 'string' ? m.Target : '';
  const source = typeof m.Source === 'string' ? m.Source : '';
  if (!target) throw mountError(t, 'field Target must not be empty');
  if (!target.startsWith('/')) throw mountError(t, notAbsolute(target));
  const destination = cleanPath(target);
  if (destination === '/') throw mountError(t, "invalid specification: destination can't be '/'");
  const rw = m.ReadOnly !== true;
  const notAllowed = (f: string) => mountError(t, `field ${f} must not be specified`);
  if (t === 'bind') {
    if (m.VolumeOptions) throw notAllowed('VolumeOptions');
    if (m.TmpfsOptions) throw notAllowed('TmpfsOptions');
    if (!source) throw mountError(t, 'field Source must not be empty');
    if (!source.startsWith('/')) throw mountError(t, notAbsolute(source));
    const prop = typeof m.BindOptions?.Propagation === 'string' ? m.BindOptions.Propagation : '';
    if (prop && !PROPAGATIONS.has(prop)) throw mountError(t, `invalid propagation mode: ${prop}`);
    return { type: t, source: cleanPath(source), destination, mode: '', rw, propagation: prop || 'rprivate', createSource: m.BindOptions?.CreateMountpoint === true };
  }
  if (t === 'volume') {
    if (m.BindOptions) throw notAllowed('BindOptions');
    if (m.TmpfsOptions) throw notAllowed('TmpfsOptions');
    if (source) volumeName(source);
    const vo = m.VolumeOptions ?? {};
    const driver = typeof vo.DriverConfig?.Name === 'string' ? vo.DriverConfig.Name : '';
    if (driver && driver !== 'local') throw notFound(`${source ? `create ${source}: ` : ''}error looking up volume plugin ${driver}: plugin "${driver}" not found`);
    return {
      type: t,
      source: '',
      ...(source ? { name: source } : { anonymous: true }),
      destination,
      mode: 'z',
      rw,
      propagation: '',
      copyData: vo.NoCopy !== true,
      ...(vo.Labels && typeof vo.Labels === 'object' ? { volumeLabels: vo.Labels as Record<string, string> } : {}),
      ...(vo.DriverConfig?.Options && typeof vo.DriverConfig.Options === 'object' ? { volumeOptions: vo.DriverConfig.Options as Record<string, string> } : {}),
    };
  }
  if (source) throw notAllowed('Source');
  if (m.BindOptions) throw notAllowed('BindOptions');
  if (m.VolumeOptions) throw notAllowed('VolumeOptions');
  const data: string[] = [];
  const size = m.TmpfsOptions?.SizeBytes;
  if (size !== undefined && size !== null) {
    if (typeof size !== 'number' || !Number.isInteger(size) || size < 0) throw mountError(t, 'invalid tmpfs size: SizeBytes must be a whole number of bytes');
    if (size > 0) data.push(size % 1024 === 0 ? `size=${size / 1024}k` : `size=${size}`);
  }
  const mode = m.TmpfsOptions?.Mode;
  if (mode !== undefined && mode !== null && mode !== 0) {
    if (typeof mode !== 'number' || !Number.isInteger(mode) || mode < 0 || mode > 0o7777) throw mountError(t, 'invalid tmpfs mode: Mode must be a file mode such as 1777 (octal)');
    data.push(`mode=${mode.toString(8)}`);
  }
  return { type: t, source: '', destination, mode: '', rw, propagation: '', tmpfsOptions: tmpfsOptions([...data, ...(rw ? [] : ['ro'])]) };
}

/** `HostConfig.VolumesFrom` entries: `CONTAINER[:ro|rw]`. */
function volumesFrom(raw: unknown): VolumesFromRequest[] {
  if (raw === undefined || raw === null) return [];
  if (!Array.isArray(raw) || raw.some((v) => typeof v !== 'string')) throw invalidArgument('invalid HostConfig: field VolumesFrom must be an array of strings');
  return (raw as string[]).map((entry) => {
    const [ref = '', mode, ...extra] = entry.split(':');
    if (ref === '' || extra.length > 0 || (mode !== undefined && mode !== 'ro' && mode !== 'rw')) {
      throw invalidArgument(`invalid volumes-from specification: ${entry}: use CONTAINER[:ro|rw]`);
    }
    return { container: ref, ...(mode ? { mode } : {}) };
  });
}
