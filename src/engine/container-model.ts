/**
 * The engine's own model of a container: what it runs and how (`ContainerSpec`), and
 * the durable record around it (`ContainerRecord`). Front-ends build a spec and
 * hand it to `ContainerService.create`: api/ translates Docker's request JSON into it
 * once (validated there) and renders it back for inspect; a builder or a CRI server
 * builds one directly. Engine services read and write only this model.
 *
 * Contract:
 * - Field names are ours (camelCase); units are bytes, nanoseconds and plain counts.
 * - `undefined` (or `null` where a field allows it) means "not set": the engine then
 *   applies the image's value or its own default; 0 in a resource field means unlimited.
 * - `spec.mounts` is one normalized list of what was asked for (binds, volumes, tmpfs);
 *   `ContainerRecord.mountPoints` is what create resolved it to (volumes named and
 *   created, `volumesFrom` and image VOLUMEs added). Starts use the mount points only.
 * - `spec.echo` keeps the client's own wording where the normalized form cannot give
 *   it back (Docker's bind strings, --mount objects, SecurityOpt) and settings the
 *   engine accepts without acting on them. The engine never reads it; front-ends
 *   other than api/ leave it empty.
 * - Records are versioned (`CONTAINER_RECORD_VERSION`); container-store.ts upgrades
 *   older ones when it loads them.
 */
import type { ContainerId, Digest } from '../common';

/** The version of `ContainerRecord` this code writes. 1: Docker's request JSON (before the model). */
export const CONTAINER_RECORD_VERSION = 2;

export type ContainerStatus = 'created' | 'running' | 'paused' | 'restarting' | 'removing' | 'exited' | 'dead';

/** How the container's main process runs. */
export interface ProcessConfig {
  /** null: the image's (dropped when an entrypoint is given, as in Docker). */
  cmd: string[] | null;
  /** null: the image's; [] clears it. */
  entrypoint: string[] | null;
  /** KEY=value, merged over the image's by key. */
  env: string[];
  /** '' = the image's, else '/'. */
  workingDir: string;
  /** user[:group] by name or id; '' = the image's, else root. */
  user: string;
  tty: boolean;
  openStdin: boolean;
  /** Close stdin after the first attached client detaches. */
  stdinOnce: boolean;
  attachStdin: boolean;
  attachStdout: boolean;
  attachStderr: boolean;
  /** Signal name as given (SIGTERM, 15, term …); undefined = the image's, else SIGTERM. */
  stopSignal?: string;
  /** Seconds between the stop signal and SIGKILL; undefined = 10. */
  stopTimeout?: number;
  /** Run tini as PID 1 in front of the command; null = not said. */
  init: boolean | null;
  /** [height, width] of the TTY at start, before any resize. */
  consoleSize: [number, number] | null;
}

/** One mount asked for, normalized (the same shape as a resolved mount point). */
export interface MountRequest extends MountPointRecord {
  /** For a volume created by this mount. */
  volumeLabels?: Record<string, string>;
  volumeOptions?: Record<string, string>;
}

/** Another container's volumes and binds, mounted at the same places (`--volumes-from`). */
export interface VolumesFromRequest {
  /** Name, id or unique id prefix. */
  container: string;
  /** Overrides each mount's own mode. */
  mode?: 'ro' | 'rw';
}

/** One mount of a container, as kept in its record (Docker's MountPoint, our words). */
export interface MountPointRecord {
  type: 'volume' | 'bind' | 'tmpfs';
  destination: string;
  /** Host path for binds; the volume's data dir for volumes; '' for tmpfs. */
  source: string;
  /** Volume name. */
  name?: string;
  driver?: string;
  /** Docker's Mode text (`z`, `ro`, `ro,Z` …) shown by inspect. */
  mode: string;
  rw: boolean;
  /** As shown by inspect; binds default to rprivate, volumes show ''. */
  propagation: string;
  /** Fill an empty volume with the image's content at the destination. */
  copyData?: boolean;
  /** Created for this container: `rm -v` removes it. */
  anonymous?: boolean;
  /** `-v` binds create a missing host directory; `--mount` binds refuse it. */
  createSource?: boolean;
  tmpfsOptions?: string[];
  /** Tmpfs mounts asked for as such (not --mount) are not listed by inspect's Mounts. */
  hidden?: boolean;
}

export interface ThrottleSetting {
  /** Host path of a block device. */
  path: string;
  /** Bytes or operations per second. */
  rate: number;
}

export interface DeviceMapping {
  pathOnHost: string;
  /** '' = the host path. */
  pathInContainer: string;
  /** r, w, m; '' = rwm. */
  cgroupPermissions: string;
}

export interface Ulimit {
  name: string;
  soft: number;
  hard: number;
}

/** cgroup limits; 0 (or undefined) is unlimited / the kernel's default. */
export interface Resources {
  memory: number;
  memoryReservation: number;
  /** Memory plus swap; 0 = twice `memory` when that is set; -1 unlimited. */
  memorySwap: number;
  memorySwappiness: number | null;
  oomKillDisable: boolean | null;
  nanoCpus: number;
  cpuShares: number;
  cpuPeriod: number;
  cpuQuota: number;
  cpuRealtimePeriod: number;
  cpuRealtimeRuntime: number;
  /** "0-3,5"; '' = all. */
  cpusetCpus: string;
  cpusetMems: string;
  blkioWeight: number;
  blkioWeightDevice: { path: string; weight: number }[];
  blkioDeviceReadBps: ThrottleSetting[];
  blkioDeviceWriteBps: ThrottleSetting[];
  blkioDeviceReadIOps: ThrottleSetting[];
  blkioDeviceWriteIOps: ThrottleSetting[];
  /** null or 0: unlimited. */
  pidsLimit: number | null;
  devices: DeviceMapping[];
  deviceCgroupRules: string[] | null;
  ulimits: Ulimit[];
  /** /dev/shm size in bytes; 0 = 64 MiB. */
  shmSize: number;
}

/** What the container may do. */
export interface Security {
  privileged: boolean;
  capAdd: string[] | null;
  capDrop: string[] | null;
  readonlyRootfs: boolean;
  noNewPrivileges: boolean;
  /** 'default' = Docker's profile for the container's capabilities; else a profile's JSON text. */
  seccomp: 'default' | 'unconfined' | { profile: string };
  /** /proc and /sys paths left unmasked and writable (systempaths=unconfined). */
  systemPathsUnconfined: boolean;
  /** null = the default list. */
  maskedPaths: string[] | null;
  readonlyPaths: string[] | null;
  sysctls: Record<string, string> | null;
  /** Extra groups of the process, by name or id. */
  groupAdd: string[] | null;
  oomScoreAdj: number;
}

/**
 * Namespace modes, as Docker words them: '' = the default (private), 'host' = the
 * host's, 'container:<ref>' = another running container's.
 */
export interface NamespaceModes {
  pid: string;
  /** '' | private | shareable | none | host | container:<ref> */
  ipc: string;
  uts: string;
  userns: string;
  /** '' | private | host ('' = private on a cgroup v2 host). */
  cgroupns: string;
}

/** One network the container is attached to, for the networking to come. */
export interface EndpointConfig {
  aliases: string[] | null;
  links: string[] | null;
  ipv4Address?: string;
  ipv6Address?: string;
  macAddress?: string;
}

export interface NetworkConfig {
  /** undefined = the default; host, none, container:<ref> or a network name. */
  mode?: string;
  endpoints: Record<string, EndpointConfig>;
  /** Ports the image or client declares ("80/tcp"). */
  exposedPorts: string[] | null;
  portBindings: Record<string, { hostIp: string; hostPort: string }[] | null> | null;
  publishAllPorts: boolean;
  dns: string[] | null;
  dnsOptions: string[] | null;
  dnsSearch: string[] | null;
  /** host:ip lines for /etc/hosts. */
  extraHosts: string[] | null;
  links: string[] | null;
  macAddress?: string;
  disabled?: boolean;
  /** The network `mode` names was disconnected (network disconnect): the container is not on it. */
  primaryDetached?: boolean;
}

export interface RestartPolicy {
  /** '' and 'no' never restart. */
  name: '' | 'no' | 'always' | 'unless-stopped' | 'on-failure';
  maximumRetryCount: number;
}

/** Durations in nanoseconds; 0 = the default. */
export interface HealthCheck {
  /** ["NONE"], ["CMD", …] or ["CMD-SHELL", "…"]; [] = the image's. */
  test: string[];
  interval: number;
  timeout: number;
  startPeriod: number;
  startInterval: number;
  retries: number;
}

export interface LogConfig {
  /** '' = the daemon's default. */
  type: string;
  config: Record<string, string>;
}

/**
 * The client's own wording, kept only to show it back (see the header). Engine code
 * never reads these fields.
 */
export interface RequestEcho {
  binds?: string[] | null;
  mounts?: unknown[] | null;
  tmpfs?: Record<string, string> | null;
  volumesFrom?: string[] | null;
  securityOpt?: string[] | null;
  /** Accepted and not acted on (Docker has no use for them on this host, or not yet). */
  ignored?: Record<string, unknown>;
}

/** Settings a container does not act on but an image committed from it keeps. */
export interface ImageSettings {
  onBuild?: string[] | null;
  shell?: string[];
  argsEscaped?: boolean;
}

/** Everything about how a container runs: built by front-ends, completed at create. */
export interface ContainerSpec {
  /** The image as the client named it. */
  image: string;
  process: ProcessConfig;
  /** '' = the container id's first 12 characters (set at create). */
  hostname: string;
  domainname: string;
  labels: Record<string, string>;
  mounts: MountRequest[];
  volumesFrom: VolumesFromRequest[];
  /** Paths to get anonymous volumes (beside the image's VOLUMEs); null = none asked for. */
  volumes: string[] | null;
  resources: Resources;
  security: Security;
  namespaces: NamespaceModes;
  network: NetworkConfig;
  restartPolicy: RestartPolicy;
  healthCheck: HealthCheck | null;
  logConfig: LogConfig;
  /** Remove the container (and its anonymous volumes) when it exits. */
  autoRemove: boolean;
  /** The cgroup the container's cgroup is made under (a CRI pod's); undefined = /berth. */
  cgroupParent?: string;
  imageSettings: ImageSettings;
  echo: RequestEcho;
}

/** One health probe's result (Docker's HealthcheckResult). */
export interface HealthResult {
  /** RFC 3339 times. */
  start: string;
  end: string;
  /** 0 healthy, 1 unhealthy; -1 when the probe could not run or timed out. */
  exitCode: number;
  /** stdout and stderr, at most 4096 bytes. */
  output: string;
}

/** The health of a container with a health check (Docker's State.Health). */
export interface HealthState {
  status: 'starting' | 'healthy' | 'unhealthy';
  failingStreak: number;
  /** The last five results, oldest first. */
  log: HealthResult[];
}

export interface ContainerState {
  status: ContainerStatus;
  pid: number;
  exitCode: number;
  error: string;
  oomKilled: boolean;
  startedAt: string;
  finishedAt: string;
  /** Set while a health check is configured and the container has started. */
  health?: HealthState;
}

/** The durable record of one container (`<dataRoot>/containers/<id>/container.json`). */
export interface ContainerRecord {
  version: typeof CONTAINER_RECORD_VERSION;
  id: ContainerId;
  name: string;
  created: string;
  /** The image as the user named it. */
  image: string;
  imageId: Digest;
  path: string;
  args: string[];
  /** Effective: the image's settings merged in at create. */
  spec: ContainerSpec;
  mountPoints: MountPointRecord[];
  state: ContainerState;
  /** Restarts by its restart policy since its last manual start. */
  restartCount: number;
  /**
   * Stopped or killed by a user since its last manual start: `unless-stopped` then
   * stays down, even when berthd starts again (dockerd's HasBeenManuallyStopped).
   */
  manuallyStopped?: boolean;
  logPath: string;
  hostnamePath: string;
  hostsPath: string;
  resolvConfPath: string;
}

export type WaitCondition = 'not-running' | 'next-exit' | 'removed';

export const ZERO_TIME = '0001-01-01T00:00:00Z';

export const isLive = (r: Pick<ContainerRecord, 'state'>): boolean => r.state.status === 'running' || r.state.status === 'paused';

/** Docker's event sink, as the container services use it. */
export interface ContainerEvents {
  /** Docker event actions: create, start, die, kill, stop, destroy … */
  emit(type: 'container', action: string, id: string, attributes: Record<string, string>): void;
}

/** A spec with every field at its default: front-ends fill in what they were given. */
export function defaultSpec(image: string): ContainerSpec {
  return {
    image,
    process: {
      cmd: null, entrypoint: null, env: [], workingDir: '', user: '', tty: false, openStdin: false, stdinOnce: false,
      attachStdin: false, attachStdout: false, attachStderr: false, init: null, consoleSize: null,
    },
    hostname: '',
    domainname: '',
    labels: {},
    mounts: [],
    volumesFrom: [],
    volumes: null,
    resources: {
      memory: 0, memoryReservation: 0, memorySwap: 0, memorySwappiness: null, oomKillDisable: null, nanoCpus: 0, cpuShares: 0,
      cpuPeriod: 0, cpuQuota: 0, cpuRealtimePeriod: 0, cpuRealtimeRuntime: 0, cpusetCpus: '', cpusetMems: '', blkioWeight: 0,
      blkioWeightDevice: [], blkioDeviceReadBps: [], blkioDeviceWriteBps: [], blkioDeviceReadIOps: [], blkioDeviceWriteIOps: [],
      pidsLimit: null, devices: [], deviceCgroupRules: null, ulimits: [], shmSize: 0,
    },
    security: {
      privileged: false, capAdd: null, capDrop: null, readonlyRootfs: false, noNewPrivileges: false, seccomp: 'default',
      systemPathsUnconfined: false, maskedPaths: null, readonlyPaths: null, sysctls: null, groupAdd: null, oomScoreAdj: 0,
    },
    namespaces: { pid: '', ipc: '', uts: '', userns: '', cgroupns: '' },
    network: {
      endpoints: {}, exposedPorts: null, portBindings: null, publishAllPorts: false, dns: null, dnsOptions: null, dnsSearch: null,
      extraHosts: null, links: null,
    },
    restartPolicy: { name: 'no', maximumRetryCount: 0 },
    healthCheck: null,
    logConfig: { type: '', config: {} },
    autoRemove: false,
    imageSettings: {},
    echo: {},
  };
}
