/**
 * `GET /info` (SystemInfo in API 1.45) and `POST /containers/create` replies:
 * only the fields Berth's CLI reads are typed; the daemon may send more.
 */
export interface SystemInfo {
  ID?: string;
  Containers?: number;
  ContainersRunning?: number;
  ContainersPaused?: number;
  ContainersStopped?: number;
  Images?: number;
  Driver?: string;
  DriverStatus?: [string, string][] | null;
  Plugins?: { Volume?: string[] | null; Network?: string[] | null; Log?: string[] | null };
  MemoryLimit?: boolean;
  SwapLimit?: boolean;
  CpuCfsPeriod?: boolean;
  CpuCfsQuota?: boolean;
  CPUShares?: boolean;
  CPUSet?: boolean;
  PidsLimit?: boolean;
  OomKillDisable?: boolean;
  KernelMemoryTCP?: boolean;
  IPv4Forwarding?: boolean;
  Debug?: boolean;
  NFd?: number;
  NGoroutines?: number;
  SystemTime?: string;
  LoggingDriver?: string;
  CgroupDriver?: string;
  CgroupVersion?: string;
  NEventsListener?: number;
  KernelVersion?: string;
  OperatingSystem?: string;
  OSVersion?: string;
  OSType?: string;
  Architecture?: string;
  NCPU?: number;
  MemTotal?: number;
  IndexServerAddress?: string;
  RegistryConfig?: {
    AllowNondistributableArtifactsCIDRs: string[];
    AllowNondistributableArtifactsHostnames: string[];
    InsecureRegistryCIDRs: string[];
    IndexConfigs: Record<string, { Name: string; Mirrors: string[]; Secure: boolean; Official: boolean }>;
    Mirrors: string[];
  };
  DockerRootDir?: string;
  HttpProxy?: string;
  HttpsProxy?: string;
  NoProxy?: string;
  Name?: string;
  Labels?: string[] | null;
  ExperimentalBuild?: boolean;
  ServerVersion?: string;
  Runtimes?: Record<string, { path?: string }> | null;
  DefaultRuntime?: string;
  RuncCommit?: { ID: string; Expected: string };
  ContainerdCommit?: { ID: string; Expected: string };
  InitCommit?: { ID: string; Expected: string };
  LiveRestoreEnabled?: boolean;
  Isolation?: string;
  InitBinary?: string;
  SecurityOptions?: string[] | null;
  Warnings?: string[] | null;
}

export interface ContainerCreateResponse {
  Id: string;
  Warnings: string[] | null;
}

export interface IdResponse {
  Id: string;
}
