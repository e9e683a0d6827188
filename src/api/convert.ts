/** Engine records → Docker Engine API shapes. */
import { DEFAULT_LOG_DRIVER, inspectHostConfig, visibleMountPoints, type ContainerRecord, type Engine, type ImageRecord } from '../engine';
import { humanDuration, type ContainerInspect, type ContainerSummary, type ImageInspect, type ImageSummary, type MountPoint } from '../wire';

/** SizeRw: bytes in the container's writable layer; SizeRootFs: that plus its image's layers. */
export interface ContainerSizes {
  SizeRw: number;
  SizeRootFs: number;
}

export async function containerSizes(engine: Engine, r: ContainerRecord): Promise<ContainerSizes> {
  const upper = engine.graphDriverData(r)?.UpperDir;
  const rw = upper ? await engine.images.measureDir(upper) : 0;
  const img = engine.images.get(r.imageId);
  return { SizeRw: rw, SizeRootFs: rw + (img?.size ?? 0) };
}

const running = (r: ContainerRecord) => r.state.status === 'running' || r.state.status === 'paused';

/** `sizes` only when the client asked for them (`?size=1`): dockerd leaves both fields out otherwise. */
export function containerInspect(engine: Engine, r: ContainerRecord, sizes?: ContainerSizes): ContainerInspect {
  const s = r.state;
  const logConfig = r.hostConfig.LogConfig as { Type?: string; Config?: Record<string, string> | null } | undefined;
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
    },
    Image: r.imageId,
    ResolvConfPath: r.resolvConfPath,
    HostnamePath: r.hostnamePath,
    HostsPath: r.hostsPath,
    LogPath: r.logPath,
    Name: `/${r.name}`,
    RestartCount: r.restartCount,
    Driver: engine.snapshots.driver,
    Platform: 'linux',
    MountLabel: '',
    ProcessLabel: '',
    AppArmorProfile: '',
    ExecIDs: null,
    HostConfig: {
      NetworkMode: 'none',
      RestartPolicy: { Name: 'no', MaximumRetryCount: 0 },
      LogConfig: { Type: DEFAULT_LOG_DRIVER, Config: {} },
      ...inspectHostConfig(r.hostConfig, engine.cgroupMode),
      // Containers created before create filled in the default driver: show the driver they got.
      ...(!logConfig?.Type ? { LogConfig: { Type: DEFAULT_LOG_DRIVER, Config: logConfig?.Config ?? {} } } : {}),
    },
    GraphDriver: { Name: engine.snapshots.driver, Data: engine.snapshots.driver === 'vfs' ? null : engine.graphDriverData(r) },
    ...sizes,
    Mounts: mountPoints(r),
    Config: { ...r.config, AttachStdin: !!r.config.AttachStdin, AttachStdout: !!r.config.AttachStdout, AttachStderr: !!r.config.AttachStderr },
    NetworkSettings: {
      Bridge: '',
      SandboxID: '',
      HairpinMode: false,
      Ports: {},
      SandboxKey: '',
      IPAddress: '',
      IPPrefixLen: 0,
      Gateway: '',
      MacAddress: '',
      Networks: { none: { NetworkID: 'none', EndpointID: '', Gateway: '', IPAddress: '', IPPrefixLen: 0, MacAddress: '' } },
    },
  };
}

export function containerStatusText(r: ContainerRecord, now = Date.now()): string {
  const s = r.state;
  switch (s.status) {
    case 'running':
      return `Up ${humanDuration(now - Date.parse(s.startedAt))}`;
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

/** `ps`'s view of a container; with the image deleted (rmi -f), Image is its ID, as in dockerd. */
export function containerSummary(r: ContainerRecord, engine?: Engine): ContainerSummary {
  const cmd = [r.path, ...r.args].map((a) => (/\s/.test(a) ? `'${a}'` : a)).join(' ');
  return {
    Id: r.id,
    Names: [`/${r.name}`],
    Image: engine && !engine.images.get(r.imageId) ? r.imageId : r.image,
    ImageID: r.imageId,
    Command: cmd,
    Created: Math.floor(Date.parse(r.created) / 1000),
    Ports: [],
    Labels: r.config.Labels ?? {},
    State: r.state.status,
    Status: containerStatusText(r),
    HostConfig: { NetworkMode: 'none' },
    NetworkSettings: { Networks: {} },
    Mounts: mountPoints(r),
  };
}

export function imageSummary(engine: Engine, img: ImageRecord): ImageSummary {
  const names = engine.images.namesOf(img.id);
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
  const names = engine.images.namesOf(img.id);
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
    },
    Architecture: c.architecture,
    ...(c.variant ? { Variant: c.variant } : {}),
    Os: c.os,
    Size: img.size,
    GraphDriver: { Name: engine.snapshots.driver, Data: engine.imageGraphDriverData(img) },
    RootFS: { Type: 'layers', Layers: img.layers },
    Metadata: { LastTagTime: names.lastTagTime ?? '0001-01-01T00:00:00Z' },
  };
}

/** Docker's MountPoint list: volumes carry Name and Driver, binds and tmpfs do not. */
export function mountPoints(r: ContainerRecord): MountPoint[] {
  return visibleMountPoints(r).map((m) => ({
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
