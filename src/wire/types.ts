/**
 * Docker Engine API shapes (API 1.45, ../shared/reference/docker-engine-api.yaml).
 * Field names are Docker's PascalCase; only the fields Berth reads or writes are typed.
 */

export const API_VERSION = '1.45';
export const MIN_API_VERSION = '1.24';

export interface ContainerConfig {
  Hostname?: string;
  Domainname?: string;
  User?: string;
  AttachStdin?: boolean;
  AttachStdout?: boolean;
  AttachStderr?: boolean;
  Tty?: boolean;
  OpenStdin?: boolean;
  StdinOnce?: boolean;
  Env?: string[] | null;
  Cmd?: string[] | null;
  Entrypoint?: string[] | null;
  Image?: string;
  Labels?: Record<string, string> | null;
  WorkingDir?: string;
  StopSignal?: string;
  StopTimeout?: number | null;
  Volumes?: Record<string, object> | null;
  ExposedPorts?: Record<string, object> | null;
  OnBuild?: string[] | null;
  ArgsEscaped?: boolean;
}

export interface RestartPolicy {
  Name?: '' | 'no' | 'always' | 'unless-stopped' | 'on-failure';
  MaximumRetryCount?: number;
}

export interface HostConfig {
  Binds?: string[] | null;
  NetworkMode?: string;
  AutoRemove?: boolean;
  RestartPolicy?: RestartPolicy;
  Privileged?: boolean;
  CapAdd?: string[] | null;
  CapDrop?: string[] | null;
  ReadonlyRootfs?: boolean;
  Init?: boolean | null;
  LogConfig?: { Type?: string; Config?: Record<string, string> };
  [key: string]: unknown;
}

export interface ContainerCreateRequest extends ContainerConfig {
  HostConfig?: HostConfig;
  NetworkingConfig?: unknown;
}

export interface ContainerState {
  Status: 'created' | 'running' | 'paused' | 'restarting' | 'removing' | 'exited' | 'dead';
  Running: boolean;
  Paused: boolean;
  Restarting: boolean;
  OOMKilled: boolean;
  Dead: boolean;
  Pid: number;
  ExitCode: number;
  Error: string;
  StartedAt: string;
  FinishedAt: string;
  Health?: {
    Status: 'none' | 'starting' | 'healthy' | 'unhealthy';
    FailingStreak: number;
    Log: { Start: string; End: string; ExitCode: number; Output: string }[];
  };
}

export interface MountPoint {
  Type: string;
  Name?: string;
  Source: string;
  Destination: string;
  Driver?: string;
  Mode: string;
  RW: boolean;
  Propagation: string;
}

export interface ContainerInspect {
  Id: string;
  Created: string;
  Path: string;
  Args: string[];
  State: ContainerState;
  Image: string;
  ResolvConfPath: string;
  HostnamePath: string;
  HostsPath: string;
  LogPath: string;
  Name: string;
  RestartCount: number;
  Driver: string;
  Platform: string;
  MountLabel: string;
  ProcessLabel: string;
  AppArmorProfile: string;
  ExecIDs: string[] | null;
  HostConfig: HostConfig;
  GraphDriver: { Name: string; Data: Record<string, string> | null };
  Mounts: MountPoint[];
  Config: ContainerConfig;
  NetworkSettings: Record<string, unknown>;
}

export interface ContainerSummary {
  Id: string;
  Names: string[];
  Image: string;
  ImageID: string;
  Command: string;
  Created: number;
  Ports: unknown[];
  Labels: Record<string, string>;
  State: string;
  Status: string;
  HostConfig: { NetworkMode: string };
  NetworkSettings: { Networks: Record<string, unknown> };
  Mounts: MountPoint[];
  SizeRw?: number;
  SizeRootFs?: number;
}

/** One row of `GET /images/{name}/history`, newest first. */
export interface ImageHistoryItem {
  /** The image this row is the top of, or `<missing>`. */
  Id: string;
  /** Unix seconds. */
  Created: number;
  CreatedBy: string;
  Tags: string[] | null;
  Size: number;
  Comment: string;
}

export interface ImageSummary {
  Id: string;
  ParentId: string;
  RepoTags: string[];
  RepoDigests: string[];
  Created: number;
  Size: number;
  SharedSize: number;
  VirtualSize?: number;
  Labels: Record<string, string> | null;
  Containers: number;
}

export interface ImageInspect {
  Id: string;
  RepoTags: string[];
  RepoDigests: string[];
  Parent: string;
  Comment: string;
  Created: string;
  DockerVersion: string;
  Author: string;
  Config: ContainerConfig;
  Architecture: string;
  Variant?: string;
  Os: string;
  Size: number;
  VirtualSize?: number;
  GraphDriver: { Name: string; Data: Record<string, string> | null };
  RootFS: { Type: string; Layers: string[] };
  Metadata: { LastTagTime: string };
}

export interface DeleteItem {
  Untagged?: string;
  Deleted?: string;
}

export interface WaitResponse {
  StatusCode: number;
  Error?: { Message: string } | null;
}

export interface VersionResponse {
  Platform: { Name: string };
  Components: { Name: string; Version: string; Details?: Record<string, string> }[];
  Version: string;
  ApiVersion: string;
  MinAPIVersion: string;
  GitCommit: string;
  GoVersion: string;
  Os: string;
  Arch: string;
  KernelVersion: string;
  BuildTime: string;
}

export interface ErrorResponse {
  message: string;
}
