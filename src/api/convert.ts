/** Engine records → Docker Engine API shapes. */
import { containerConfigOf, DEFAULT_LOG_DRIVER, settledSettings, type ContainerRecord, type ContainerSpec, type Engine, type ImageRecord } from '../engine';
import { networkModeOf, networkSettings, summaryNetworks, summaryPorts } from './network-convert';
import { humanDuration, type ContainerInspect, type ContainerSummary, type ImageInspect, type ImageSummary, type MountPoint } from '../wire';

/** SizeRw: bytes in the container's writable layer; SizeRootFs: that plus its image's layers. */
export interface ContainerSizes {
  SizeRw: number;
  SizeRootFs: number;
}

export async function containerSizes(engine: Engine, r: ContainerRecord): Promise<ContainerSizes> {
  const size = await engine.containerSize(r);
  return { SizeRw: size.rw, SizeRootFs: size.rootFs };
}

/** As dockerd: a container waiting to restart counts as running. */
const running = (r: ContainerRecord) => r.state.status === 'running' || r.state.status === 'paused' || r.state.status === 'restarting';

/** `sizes` only when the client asked for them (`?size=1`): dockerd leaves both fields out otherwise. */
export function containerInspect(engine: Engine, r: ContainerRecord, sizes?: ContainerSizes): ContainerInspect {
  const s = r.state;
  return {
    Id: r.id,
    Created: r.created,
    Path: r.path,
    Args: r.args,
    State: {
      Status: s.status,
      Running: running(r),
      Paused: s.status === 'paused',
      Restarting: s.status === 'restarting',
      OOMKilled: s.oomKilled,
      Dead: s.status === 'dead',
      Pid: s.pid,
      ExitCode: s.exitCode,
      Error: s.error,
      StartedAt: s.startedAt,
      FinishedAt: s.finishedAt,
      ...(s.health
        ? {
            Health: {
              Status: s.health.status,
              FailingStreak: s.health.failingStreak,
              Log: s.health.log.map((l) => ({ Start: l.start, End: l.end, ExitCode: l.exitCode, Output: l.output })),
            },
          }
        : {}),
    },
    Image: r.imageId,
    ResolvConfPath: r.resolvConfPath,
    HostnamePath: r.hostnamePath,
    HostsPath: r.hostsPath,
    LogPath: r.logPath,
    Name: `/${r.name}`,
    RestartCount: r.restartCount,
    Driver: engine.storageDriver,
    Platform: 'linux',
    MountLabel: '',
    ProcessLabel: '',
    AppArmorProfile: '',
    ExecIDs: null,
    HostConfig: { ...inspectHostConfig(r.spec, engine.cgroupMode), NetworkMode: networkModeOf(engine, r) },
    GraphDriver: { Name: engine.storageDriver, Data: engine.graphDriverData(r) },
    ...sizes,
    Mounts: mountPoints(r),
    Config: inspectConfig(r.spec),
    NetworkSettings: networkSettings(engine, r),
  };
}

/** Config as `docker inspect` shows it: no environment is Go's nil slice to dockerd, so null, not []. */
function inspectConfig(spec: ContainerSpec): ReturnType<typeof containerConfigOf> | Record<string, unknown> {
  const cfg = containerConfigOf(spec);
  return cfg.Env?.length ? cfg : { ...cfg, Env: null };
}

/**
 * HostConfig as `docker inspect` shows it: every field Docker's has, from the spec,
 * with the values the engine settles (IPC mode, shm size, cgroup namespace mode, swap
 * default, masked and read-only paths) and the client's own wording where the spec
 * keeps it (Binds, Mounts, Tmpfs, VolumesFrom, SecurityOpt).
 */
export function inspectHostConfig(spec: ContainerSpec, cgroupMode: Engine['cgroupMode']): Record<string, unknown> {
  const { resources: r, security: sec, namespaces: ns, network: net, process: p, echo } = spec;
  const settled = settledSettings(spec, cgroupMode);
  const throttle = (list: ContainerSpec['resources']['blkioDeviceReadBps']) => list.map((d) => ({ Path: d.path, Rate: d.rate }));
  return {
    Binds: echo.binds ?? null,
    ContainerIDFile: '',
    // Create fills in the default driver; records made before it did show the driver they got.
    LogConfig: { Type: spec.logConfig.type || DEFAULT_LOG_DRIVER, Config: spec.logConfig.config },
    NetworkMode: net.mode ?? 'none',
    PortBindings: net.portBindings
      ? Object.fromEntries(Object.entries(net.portBindings).map(([k, v]) => [k, v && v.map((b) => ({ HostIp: b.hostIp, HostPort: b.hostPort }))]))
      : {},
    RestartPolicy: { Name: spec.restartPolicy.name, MaximumRetryCount: spec.restartPolicy.maximumRetryCount },
    AutoRemove: spec.autoRemove,
    VolumeDriver: '',
    VolumesFrom: echo.volumesFrom ?? null,
    ...(p.consoleSize ? { ConsoleSize: p.consoleSize } : {}),
    CapAdd: sec.capAdd,
    CapDrop: sec.capDrop,
    CgroupnsMode: settled.cgroupnsMode,
    Dns: net.dns,
    DnsOptions: net.dnsOptions,
    DnsSearch: net.dnsSearch,
    ExtraHosts: net.extraHosts,
    GroupAdd: sec.groupAdd,
    IpcMode: settled.ipcMode,
    Cgroup: '',
    Links: net.links,
    OomScoreAdj: sec.oomScoreAdj,
    PidMode: ns.pid,
    Privileged: sec.privileged,
    PublishAllPorts: net.publishAllPorts,
    ReadonlyRootfs: sec.readonlyRootfs,
    SecurityOpt: echo.securityOpt ?? null,
    ...(echo.tmpfs !== undefined ? { Tmpfs: echo.tmpfs } : {}),
    UTSMode: ns.uts,
    UsernsMode: ns.userns,
    ShmSize: settled.shmSize,
    ...(sec.sysctls ? { Sysctls: sec.sysctls } : {}),
    Runtime: 'runc',
    Isolation: '',
    CpuShares: r.cpuShares,
    Memory: r.memory,
    NanoCpus: r.nanoCpus,
    CgroupParent: '',
    BlkioWeight: r.blkioWeight,
    BlkioWeightDevice: r.blkioWeightDevice.map((d) => ({ Path: d.path, Weight: d.weight })),
    BlkioDeviceReadBps: throttle(r.blkioDeviceReadBps),
    BlkioDeviceWriteBps: throttle(r.blkioDeviceWriteBps),
    BlkioDeviceReadIOps: throttle(r.blkioDeviceReadIOps),
    BlkioDeviceWriteIOps: throttle(r.blkioDeviceWriteIOps),
    CpuPeriod: r.cpuPeriod,
    CpuQuota: r.cpuQuota,
    CpuRealtimePeriod: r.cpuRealtimePeriod,
    CpuRealtimeRuntime: r.cpuRealtimeRuntime,
    CpusetCpus: r.cpusetCpus,
    CpusetMems: r.cpusetMems,
    Devices: r.devices.map((d) => ({ PathOnHost: d.pathOnHost, PathInContainer: d.pathInContainer, CgroupPermissions: d.cgroupPermissions })),
    DeviceCgroupRules: r.deviceCgroupRules,
    DeviceRequests: null,
    MemoryReservation: r.memoryReservation,
    MemorySwap: settled.memorySwap,
    MemorySwappiness: r.memorySwappiness,
    OomKillDisable: r.oomKillDisable === null && cgroupMode !== 'v2' ? false : r.oomKillDisable,
    PidsLimit: r.pidsLimit === 0 ? null : r.pidsLimit,
    Ulimits: r.ulimits.map((u) => ({ Name: u.name, Soft: u.soft, Hard: u.hard })),
    CpuCount: 0,
    CpuPercent: 0,
    IOMaximumIOps: 0,
    IOMaximumBandwidth: 0,
    ...(echo.mounts !== undefined ? { Mounts: echo.mounts } : {}),
    MaskedPaths: settled.maskedPaths,
    ReadonlyPaths: settled.readonlyPaths,
    ...(p.init !== null ? { Init: p.init } : {}),
    ...(echo.ignored ?? {}),
  };
}

export function containerStatusText(r: ContainerRecord, now = Date.now()): string {
  const s = r.state;
  switch (s.status) {
    case 'running':
      if (s.health) return `Up ${humanDuration(now - Date.parse(s.startedAt))} (${s.health.status === 'starting' ? 'health: starting' : s.health.status})`;
      return `Up ${humanDuration(now - Date.parse(s.startedAt))}`;
    case 'restarting':
      return `Restarting (${s.exitCode}) ${humanDuration(now - Date.parse(s.finishedAt))} ago`;
    case 'paused':
      return `Up ${humanDuration(now - Date.parse(s.startedAt))} (Paused)`;
    case 'exited':
      return `Exited (${s.exitCode}) ${humanDuration(now - Date.parse(s.finishedAt))} ago`;
    case 'removing':
      return 'Removal In Progress';
    case 'dead':
      return 'Dead';
    default:
      return 'Created';
  }
}

/** `ps`'s view of a container; once its image name no longer names its image, Image is the image's ID, as in dockerd. */
export function containerSummary(r: ContainerRecord, engine?: Engine): ContainerSummary {
  const cmd = [r.path, ...r.args].map((a) => (/\s/.test(a) ? `'${a}'` : a)).join(' ');
  return {
    Id: r.id,
    Names: [`/${r.name}`],
    Image: engine ? engine.imageShown(r.image, r.imageId) : r.image,
    ImageID: r.imageId,
    Command: cmd,
    Created: Math.floor(Date.parse(r.created) / 1000),
    Ports: summaryPorts(r, engine),
    Labels: r.spec.labels,
    State: r.state.status,
    Status: containerStatusText(r),
    HostConfig: { NetworkMode: networkModeOf(engine, r) },
    NetworkSettings: summaryNetworks(engine, r),
    Mounts: mountPoints(r),
  };
}

export function imageSummary(engine: Engine, img: ImageRecord): ImageSummary {
  const names = engine.imageNames(img.id);
  return {
    Id: img.id,
    ParentId: img.parent ?? '',
    RepoTags: names.tags,
    RepoDigests: names.digests,
    Created: Math.floor(Date.parse(img.created) / 1000),
    Size: img.size,
    SharedSize: -1,
    Labels: img.config.config?.Labels ?? null,
    Containers: -1,
  };
}

export function imageInspect(engine: Engine, img: ImageRecord): ImageInspect {
  const names = engine.imageNames(img.id);
  const c = img.config;
  const cfg = c.config ?? {};
  return {
    Id: img.id,
    RepoTags: names.tags,
    RepoDigests: names.digests,
    Parent: img.parent ?? '',
    Comment: c.history?.at(-1)?.comment ?? '',
    Created: img.created,
    DockerVersion: '',
    Author: c.author ?? '',
    Config: {
      Hostname: '',
      Domainname: '',
      User: cfg.User ?? '',
      AttachStdin: false,
      AttachStdout: false,
      AttachStderr: false,
      Tty: false,
      OpenStdin: false,
      StdinOnce: false,
      Env: cfg.Env ?? null,
      Cmd: cfg.Cmd ?? null,
      Image: '',
      Volumes: cfg.Volumes ?? null,
      WorkingDir: cfg.WorkingDir ?? '',
      Entrypoint: cfg.Entrypoint ?? null,
      OnBuild: cfg.OnBuild ?? null,
      Labels: cfg.Labels ?? null,
      ...(cfg.StopSignal ? { StopSignal: cfg.StopSignal } : {}),
      ...(cfg.ExposedPorts ? { ExposedPorts: cfg.ExposedPorts } : {}),
      ...(cfg.Healthcheck ? { Healthcheck: cfg.Healthcheck } : {}),
      ...(cfg.Shell ? { Shell: cfg.Shell } : {}),
    },
    Architecture: c.architecture,
    ...(c.variant ? { Variant: c.variant } : {}),
    Os: c.os,
    Size: img.size,
    GraphDriver: { Name: engine.storageDriver, Data: engine.imageGraphDriverData(img) },
    RootFS: { Type: 'layers', Layers: img.layers },
    Metadata: { LastTagTime: names.lastTagTime ?? '0001-01-01T00:00:00Z' },
  };
}

/** Docker's MountPoint list: volumes carry Name and Driver, binds and tmpfs do not. */
export function mountPoints(r: ContainerRecord): MountPoint[] {
  return r.mountPoints.filter((m) => !m.hidden).map((m) => ({
    Type: m.type,
    ...(m.type === 'volume' ? { Name: m.name ?? '' } : {}),
    Source: m.source,
    Destination: m.destination,
    ...(m.type === 'volume' ? { Driver: m.driver ?? 'local' } : {}),
    Mode: m.mode,
    RW: m.rw,
    Propagation: m.propagation,
  }));
}
