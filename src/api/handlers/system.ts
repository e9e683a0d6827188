import { buildCacheUsage } from './build';
import os from 'node:os';
import { LOG_DRIVERS, type Engine } from '../../engine';
import { API_VERSION, MIN_API_VERSION, type SystemInfo, type VersionResponse } from '../../wire';
import type { Router } from '../router';
import { sendJSON } from '../http';
import { imageSummary } from '../convert';
import { summaryWithSize } from './containers';
import { volumeJSON } from './volumes';

export function systemRoutes(router: Router, engine: Engine): void {
  router.add('GET', '/_ping', (ctx) => {
    const res = ctx.res!;
    res.writeHead(200, {
      'Content-Type': 'text/plain; charset=utf-8',
      'Content-Length': ctx.req.method === 'HEAD' ? 0 : 2,
      'Builder-Version': '1',
      Swarm: 'inactive',
      'Cache-Control': 'no-cache, no-store, must-revalidate',
      Pragma: 'no-cache',
    });
    res.end(ctx.req.method === 'HEAD' ? undefined : 'OK');
  });

  router.add('GET', '/version', (ctx) => {
    const i = engine.info();
    const v: VersionResponse = {
      Platform: { Name: 'Berth Engine' },
      Components: [
        { Name: 'Engine', Version: i.version, Details: { ApiVersion: API_VERSION, MinAPIVersion: MIN_API_VERSION, Os: 'linux', Arch: i.imageArch, KernelVersion: i.kernelVersion, GitCommit: '', GoVersion: process.version, BuildTime: '', Experimental: 'false' } },
        ...(['runc', 'conmon'] as const).flatMap((name) => {
          const t = i.runtimeVersions[name];
          return t ? [{ Name: name, Version: t.version, Details: { GitCommit: t.commit } }] : [];
        }),
        ...(i.initVersion ? [{ Name: 'docker-init', Version: i.initVersion.version, Details: { GitCommit: i.initVersion.commit } }] : []),
      ],
      Version: i.version,
      ApiVersion: API_VERSION,
      MinAPIVersion: MIN_API_VERSION,
      GitCommit: '',
      GoVersion: process.version,
      Os: 'linux',
      Arch: i.imageArch,
      KernelVersion: i.kernelVersion,
      BuildTime: '',
    };
    sendJSON(ctx, 200, v);
  });

  /**
   * `docker system df`: images with their usage, containers with their
   * writable-layer size, volumes (from the volume service's usage hook), no
   * build cache yet. `type=image|container|volume|build-cache` limits the work.
   */
  router.add('GET', '/system/df', async (ctx) => {
    const types = new Set(ctx.query.getAll('type'));
    const want = (t: string) => types.size === 0 || types.has(t);
    const body: Record<string, unknown> = {};
    if (want('image')) {
      body.LayersSize = await engine.images.layersSize();
      body.Images = engine.images.list().map((e) => ({
        ...imageSummary(engine, e.image),
        RepoTags: e.repoTags,
        RepoDigests: e.repoDigests,
        SharedSize: e.sharedSize,
        Containers: e.containers,
      }));
    }
    if (want('container')) {
      body.Containers = await Promise.all(engine.containers.list().map((r) => summaryWithSize(engine, r)));
    }
    if (want('volume')) {
      // The volume service's usage() is the hook: each volume with its size and reference count.
      const usage = new Map((await engine.volumes.usage()).map((u) => [u.name, u]));
      body.Volumes = engine.volumes.list().map((v) => ({
        ...volumeJSON(engine, v),
        UsageData: { Size: usage.get(v.name)?.size ?? -1, RefCount: usage.get(v.name)?.refCount ?? 0 },
      }));
    }
    if (want('build-cache')) body.BuildCache = await buildCacheUsage(engine);
    sendJSON(ctx, 200, body);
  });

  router.add('GET', '/info', (ctx) => {
    const i = engine.info();
    const body: SystemInfo = {
      ID: engine.id,
      Containers: i.containers,
      ContainersRunning: i.running,
      ContainersPaused: i.paused,
      ContainersStopped: i.stopped,
      Images: i.images,
      Driver: i.driver,
      DriverStatus: [['Backing Filesystem', 'extfs'], ['Supports d_type', 'true']],
      Plugins: { Volume: ['local'], Network: engine.networks ? ['bridge', 'host', 'null'] : ['none', 'host'], Log: [...LOG_DRIVERS] },
      MemoryLimit: i.sysinfo.memoryLimit,
      SwapLimit: i.sysinfo.swapLimit,
      KernelMemoryTCP: i.sysinfo.kernelMemoryTCP,
      CpuCfsPeriod: i.sysinfo.cpuCfs,
      CpuCfsQuota: i.sysinfo.cpuCfs,
      CPUShares: i.sysinfo.cpuShares,
      CPUSet: i.sysinfo.cpuset,
      PidsLimit: i.sysinfo.pidsLimit,
      OomKillDisable: i.sysinfo.oomKillDisable,
      IPv4Forwarding: true,
      Debug: false,
      NFd: 0,
      NGoroutines: 0,
      SystemTime: new Date().toISOString(),
      LoggingDriver: i.logDriver,
      CgroupDriver: 'cgroupfs',
      CgroupVersion: i.cgroupVersion,
      NEventsListener: 0,
      KernelVersion: i.kernelVersion,
      OperatingSystem: i.operatingSystem,
      OSVersion: '',
      OSType: 'linux',
      Architecture: i.arch,
      NCPU: i.ncpu,
      MemTotal: i.memTotal,
      IndexServerAddress: 'https://index.docker.io/v1/',
      RegistryConfig: registryConfig(i.insecureRegistries),
      DockerRootDir: i.dataRoot,
      Name: os.hostname(),
      Labels: [],
      ExperimentalBuild: false,
      ServerVersion: i.version,
      Runtimes: { runc: { path: 'runc' } },
      DefaultRuntime: 'runc',
      // dockerd's "N/A" where it cannot tell (tini packages often print no commit); no containerd here
      // (conmon is in docker version's components).
      RuncCommit: { ID: i.runtimeVersions.runc?.commit || 'N/A', Expected: i.runtimeVersions.runc?.commit || 'N/A' },
      ContainerdCommit: { ID: 'N/A', Expected: 'N/A' },
      InitCommit: { ID: i.initVersion?.commit || 'N/A', Expected: i.initVersion?.commit || 'N/A' },
      LiveRestoreEnabled: true,
      Isolation: '',
      InitBinary: 'docker-init',
      SecurityOptions: [...(i.userns ? ['name=userns'] : []), ...(i.cgroupVersion === '2' ? ['name=cgroupns'] : [])],
      // Go's nil slice when there are none, as from dockerd.
      Warnings: i.warnings.length ? i.warnings : null,
    };
    sendJSON(ctx, 200, body);
  });
}

/**
 * RegistryConfig as dockerd reports it: loopback is always reached over plain HTTP (and
 * listed first), --insecure-registry CIDRs beside it, names as index configs that are not
 * secure; docker.io is the official index. No mirrors and no non-distributable settings here.
 */
function registryConfig(insecure: readonly string[]): NonNullable<SystemInfo['RegistryConfig']> {
  const cidrs = ['127.0.0.0/8', ...insecure.filter((e) => e.includes('/') && e !== '127.0.0.0/8')];
  const names = insecure.filter((e) => !e.includes('/'));
  const index = (name: string, official: boolean) => ({ Name: name, Mirrors: [], Secure: official, Official: official });
  return {
    AllowNondistributableArtifactsCIDRs: [],
    AllowNondistributableArtifactsHostnames: [],
    InsecureRegistryCIDRs: cidrs,
    IndexConfigs: { ...Object.fromEntries(names.map((n) => [n, index(n, false)])), 'docker.io': index('docker.io', true) },
    Mirrors: [],
  };
}
