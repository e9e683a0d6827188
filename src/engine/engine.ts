/**
 * The engine: every use case of berthd, importable as a library.
 *
 *   const engine = await Engine.open({ dataRoot: '/var/lib/berth', execRoot: '/run/berth' });
 *
 * It owns the stores under dataRoot and the runtime state under execRoot; two
 * engines must not share either.
 */
import { promises as fsp, readFileSync } from 'node:fs';
import { randomUUID } from 'node:crypto';
import os from 'node:os';
import { dirname, join, resolve } from 'node:path';
import type { Readable } from 'node:stream';
import { invalidArgument, type Digest } from '../common';
import { ContentStore, ImageStore, loadRegistryMirrors, RegistryClient, type ImageRecord } from '../image';
import { AARDVARK_CANDIDATES, BridgeNetworking, CniNetwork, LoopbackNetwork, NETAVARK_CANDIDATES, findBinary, findProxy } from '../network';
import { Monitor, detectCgroupMode, hostBoundingCapabilities, idShifter, idUnshifter, readHostRlimits, rootPair, sysInfoWarnings, type CgroupMode, type IdMappings } from '../runtime';
import { writeFileAtomic } from '../state';
import { LayerStore, mapTarOwners, OverlaySnapshotter, VfsSnapshotter, VolumeStore, storageDriverName, type Snapshotter } from '../storage';
import type { ContainerRecord } from './container-model';
import { MonitorRuntime, type ContainerRuntime } from './container-runtime';
import { ContainerStore, type LegacySpecReader } from './container-store';
import { ContainerService, type ContainerImages } from './containers';
import { CommitService } from './commit';
import type { BuildService } from './builds';
import { ExecService } from './exec';
import { EventBus } from './events';
import { ImageService, hostArch } from './images';
import { VolumeService } from './volumes';
import { VolumeMounts } from './container-mounts';
import { HealthMonitor } from './health-monitor';
import { NetworkService } from './networks';
import type { ContainerNetwork } from './container-network';
import type { PodNetwork } from './pod-network';

export interface EngineOptions {
  dataRoot: string;
  execRoot: string;
  storageDriver?: string;
  runc?: string;
  conmon?: string;
  /**
   * User-namespace remapping (berthd --userns-remap): containers' root is these host
   * ids. As dockerd does, everything then lives under `<dataRoot>/<uid>.<gid>/`, with
   * layers unpacked once per mapping, owners shifted.
   */
  userns?: IdMappings;
  /**
   * Reads the Docker JSON that container records kept before the engine had its own
   * model (version 1); api/ provides it. Without it such records are skipped.
   */
  legacyContainerSpec?: LegacySpecReader;
  /** Registries reached over plain HTTP besides loopback ones (dockerd's --insecure-registry). */
  insecureRegistries?: string[];
  /** The log driver and options containers get by default (dockerd's --log-driver, --log-opt). */
  logDefaults?: { type: string; config: Record<string, string> };
  /** Detach keys of attach and exec streams that name none (daemon.json `detach-keys`); ctrl-p,ctrl-q when absent. */
  detachKeys?: string;
  /**
   * Networking (dockerd's -b/--bridge, --bip, --default-address-pool). Bridge networks
   * need netavark; `loopbackOnly` (or no netavark on the host) gives containers loopback only.
   */
  network?: { bridgeName?: string; bip?: string; pools?: { base: string; size: number }[]; loopbackOnly?: boolean; /** false: dockerd's --userland-proxy=false. */ userlandProxy?: boolean };
  /** Registry mirrors in containerd's hosts.toml layout (berthd --registry-config DIR). */
  registryConfigDir?: string;
  /** The CNI configuration and plugin directories of pod networks (CRI sandboxes). */
  cni?: { confDir: string; binDir: string };
}

export const ENGINE_VERSION = '0.1.0';

export class Engine {
  private constructor(
    readonly options: Required<Pick<EngineOptions, 'dataRoot' | 'execRoot'>> & EngineOptions,
    readonly images: ImageService,
    readonly containers: ContainerService,
    readonly events: EventBus,
    private readonly monitor: Monitor,
    /** The runtime port every container service goes through. */
    readonly runtime: ContainerRuntime,
    readonly cgroupMode: CgroupMode,
    private readonly snapshots: Snapshotter,
    /** Stable per data root, like dockerd's engine ID. */
    readonly id: string,
    readonly volumes: VolumeService,
  ) {}

  static async open(opts: EngineOptions): Promise<Engine> {
    const driver = storageDriverName(opts.storageDriver);
    if (!driver) throw invalidArgument(`error initializing graphdriver: driver not supported: ${opts.storageDriver}; use overlay2 or vfs`);
    const { execRoot, userns } = opts;
    const owner = userns ? rootPair(userns) : undefined;
    const dataRoot = owner ? await remappedRoot(opts.dataRoot, owner) : opts.dataRoot;
    await fsp.mkdir(dataRoot, { recursive: true, mode: 0o711 });
    await fsp.mkdir(execRoot, { recursive: true, mode: 0o711 });
    const content = new ContentStore(join(dataRoot, 'blobs'));
    await content.init();
    const imageStore = new ImageStore(join(dataRoot, 'images'), content);
    const layers = await LayerStore.open(join(dataRoot, 'layers'), userns ? { idShift: idShifter(userns) } : {});
    const snapOpts = owner ? { rootOwner: owner } : {};
    // The containers' overlays are mounted at <data-root>/rootfs/<id>/merged, a dir of mount points
    // alone, as their network namespaces are in <exec-root>/netns: each conmon starts without
    // the other containers' mounts (runtime/monitor-ns.ts). A vfs root is a plain dir.
    const rootfsDir = join(dataRoot, 'rootfs');
    const snapshots: Snapshotter = driver === 'vfs' ? new VfsSnapshotter(join(dataRoot, 'vfs'), snapOpts) : new OverlaySnapshotter(join(dataRoot, 'overlay'), { ...snapOpts, mountRoot: rootfsDir });
    const ownMountDirs = [...(driver === 'vfs' ? [] : [rootfsDir]), join(execRoot, 'netns')];
    const monitor = new Monitor({ execRoot, runc: opts.runc, conmon: opts.conmon, ownMountDirs });
    await monitor.init();
    const cgroupMode = detectCgroupMode();
    const runtime = new MonitorRuntime(monitor, execRoot, cgroupMode);
    await runtime.init();
    const events = new EventBus();
    let containers: ContainerService | undefined;
    const netavark = opts.network?.loopbackOnly ? undefined : findBinary(NETAVARK_CANDIDATES);
    const proxy = opts.network?.userlandProxy === false ? undefined : findProxy();
    const bridge = netavark
      ? new BridgeNetworking({
          dataRoot,
          execRoot,
          netavark,
          aardvark: findBinary(AARDVARK_CANDIDATES),
          ...(opts.network?.bridgeName ? { bridgeName: opts.network.bridgeName } : {}),
          ...(opts.network?.bip ? { bip: opts.network.bip } : {}),
          ...(opts.network?.pools ? { pools: opts.network.pools } : {}),
          ...(proxy ? { proxy } : {}),
          onEvent: (action, id, attrs) => events.emit('network', action, id, attrs),
        })
      : undefined;
    await bridge?.init();
    const network: ContainerNetwork = bridge ?? new LoopbackNetwork();
    const mirrors = opts.registryConfigDir ? loadRegistryMirrors(opts.registryConfigDir) : new Map<string, string>();
    const registry = new RegistryClient({ insecureRegistries: opts.insecureRegistries ?? [], mirrors, userAgent: `berth/${ENGINE_VERSION}` });
    const images = new ImageService(content, imageStore, layers, (id) => containers!.usersOfImage(id), () => containers!.layersInUse(), registry);
    images.onEvent = (action, id, attrs) => events.emit('image', action, id, attrs);
    const volumeStore = new VolumeStore(join(dataRoot, 'volumes'), { dataOwner: owner, onEvent: (action, name, attrs) => events.emit('volume', action, name, attrs) });
    await volumeStore.init();
    const volumes = new VolumeService(volumeStore);
    const store = new ContainerStore(dataRoot, opts.legacyContainerSpec);
    containers = new ContainerService({
      store,
      images: containerImages(images),
      snapshots,
      runtime,
      events,
      network,
      mounts: new VolumeMounts(volumeStore, () => containers!.list()),
      // Read once: the spec generator would otherwise read /proc on every start.
      host: { cgroupMode, capabilities: hostBoundingCapabilities(), rlimits: readHostRlimits() },
      ...(userns ? { userns } : {}),
      ...(opts.logDefaults ? { logDefaults: opts.logDefaults } : {}),
    });
    events.describe = (type, id) => (type === 'container' ? containers!.eventLabels(id) : undefined);
    await containers.init();
    const engine = new Engine({ ...opts, dataRoot, execRoot }, images, containers, events, monitor, runtime, cgroupMode, snapshots, await engineId(dataRoot), volumes);
    engine.health = new HealthMonitor({
      find: (id) => store.find(id),
      list: () => store.list(),
      execs: () => engine.execs,
      save: (rec) => store.save(rec),
      events,
      killProcess: (pid) => runtime.killProcess(pid),
    });
    engine.health.follow((fn) => events.subscribe(fn));
    engine.health.adoptRunning();
    if (bridge) engine.networks = new NetworkService(bridge, containers);
    return engine;
  }

  /** `docker network …`; absent when the host has no netavark (containers get loopback only). */
  networks: NetworkService | undefined;

  /** What must finish before the daemon exits: queued network teardowns, unused bridges. */
  async shutdown(): Promise<void> {
    await this.networks?.bridge.close();
    this.close();
  }

  /** Health checks of running containers (set by open). */
  health?: HealthMonitor;

  private cniNetwork?: PodNetwork;
  /** Pod sandboxes' networks (CNI), for the CRI server. */
  get podNetwork(): PodNetwork {
    const cni = this.options.cni ?? { confDir: '/etc/cni/net.d', binDir: '/usr/lib/cni' };
    return (this.cniNetwork ??= new CniNetwork(cni.confDir, cni.binDir, join(this.options.dataRoot, 'cni'), join(this.options.execRoot, 'cri-netns')));
  }

  private execService?: ExecService;
  /** Exec instances (`docker exec`), created on first use. */
  get execs(): ExecService {
    return (this.execService ??= new ExecService(this.containers, this.runtime, this.options.execRoot, this.events));
  }

  private commitService?: CommitService;
  /** diff, export and commit of containers. */
  get commits(): CommitService {
    return (this.commitService ??= new CommitService({
      containers: this.containers,
      images: this.images,
      snapshots: this.snapshots,
      runtime: this.runtime,
      events: this.events,
      ownersAsContainerSees: (tar) => this.ownersAsContainerSees(tar),
    }));
  }

  private buildService?: Promise<BuildService>;
  /**
   * Dockerfile builds (`docker build`) and the build cache. The build layer is loaded on the
   * first call, not at start: a daemon that never builds does not carry it.
   */
  builds(): Promise<BuildService> {
    return (this.buildService ??= (async () => {
      const [{ BuildService }, { EngineStepRunner }] = await Promise.all([import('./builds'), import('./build-runner')]);
      return new BuildService(this.options.dataRoot, new EngineStepRunner({
        images: this.images,
        containers: this.containers,
        snapshots: this.snapshots,
        ownersAsContainerSees: (tar) => this.ownersAsContainerSees(tar),
        userns: !!this.options.userns,
        ...(this.options.userns ? { ownerOnDisk: idShifter(this.options.userns) } : {}),
        ...(this.networks ? { network: this.networks.bridge } : {}),
        networkDir: join(this.options.execRoot, 'build-networks'),
      }), this.images);
    })());
  }

  /** The storage driver's name (overlay2, vfs), as Docker's Driver fields show it. */
  get storageDriver(): string {
    return this.snapshots.driver;
  }

  /**
   * The image a container is listed with: the name it was created from while that name still
   * names its image, else the image's ID (the name was removed or now names another image;
   * dockerd's list does the same).
   */
  imageShown(name: string, id: Digest): string {
    return name === id || this.images.stillNames(name, id) ? name : id;
  }

  /** The names an image goes by: repo:tag references, repo@digest references, and when it was last tagged. */
  imageNames(id: Digest): { tags: string[]; digests: string[]; lastTagTime?: string } {
    return this.images.namesOf(id);
  }

  /** Docker's GraphDriver.Data for a container (overlay2: its dirs; vfs: null). */
  graphDriverData(r: ContainerRecord): Record<string, string> | null {
    if (this.snapshots.driver === 'vfs') return null;
    const img = this.images.get(r.imageId);
    return this.snapshots.graphDriverData(r.id, img ? this.images.layerDirs(img) : []) ?? {};
  }

  /** Bytes in the container's writable layer, and that plus its image (Docker's SizeRw, SizeRootFs). */
  async containerSize(r: ContainerRecord): Promise<{ rw: number; rootFs: number }> {
    const upper = this.snapshots.graphDriverData(r.id, [])?.UpperDir;
    const rw = upper ? await this.images.measureDir(upper) : 0;
    return { rw, rootFs: rw + (this.images.get(r.imageId)?.size ?? 0) };
  }

  /**
   * An image's dirs as dockerd's overlay2 shows them: its top layer as UpperDir, the layers
   * under it as LowerDir (none for a one-layer image), keys in Go's map order. No merged or
   * work dir exists for an image here.
   */
  imageGraphDriverData(img: ImageRecord): Record<string, string> | null {
    const [top, ...lower] = this.images.layerDirs(img);
    if (this.snapshots.driver === 'vfs' || !top) return null;
    return { ...(lower.length ? { LowerDir: lower.join(':') } : {}), MergedDir: '', UpperDir: top, WorkDir: '' };
  }

  close(): void {
    this.containers.restarts.dispose();
    this.health?.dispose();
    this.monitor.close();
  }

  /**
   * A tar of a container's files with the owners the container sees: with
   * --userns-remap the files on disk belong to shifted host ids (commit, export).
   */
  ownersAsContainerSees(tar: Readable): Readable {
    const m = this.options.userns;
    if (!m) return tar;
    const back = idUnshifter(m);
    const out = mapTarOwners({ uid: (id) => back({ uid: id, gid: 0 }).uid, gid: (id) => back({ uid: 0, gid: id }).gid });
    tar.on('error', (e) => out.destroy(e));
    out.on('close', () => tar.destroy());
    return tar.pipe(out);
  }

  /** Facts for `docker info`, in our own words; api/ shapes them. */
  info() {
    const all = this.containers.list();
    const count = (s: string) => all.filter((c) => c.state.status === s).length;
    return {
      containers: all.length,
      running: count('running'),
      paused: count('paused'),
      stopped: all.length - count('running') - count('paused'),
      images: this.images.count(),
      driver: this.snapshots.driver,
      cgroupVersion: this.cgroupMode === 'v2' ? '2' : '1',
      kernelVersion: os.release(),
      operatingSystem: osName(),
      arch: os.arch() === 'x64' ? 'x86_64' : os.arch(),
      imageArch: hostArch(),
      ncpu: os.cpus().length,
      memTotal: os.totalmem(),
      hostname: os.hostname(),
      dataRoot: this.options.dataRoot,
      execRoot: this.options.execRoot,
      version: ENGINE_VERSION,
      /** Containers run in user namespaces (--userns-remap). */
      userns: !!this.options.userns,
      ...(this.options.userns ? { ownerOnDisk: idShifter(this.options.userns) } : {}),
      /** The log driver containers get by default. */
      logDriver: this.containers.logDefaults.type,
      /** The cgroup controls this host offers (probed once at start). */
      sysinfo: this.containers.sysinfo,
      /** runc's and conmon's versions, read at start. */
      runtimeVersions: this.monitor.versions,
      /** The `--init` binary's version, read at start. */
      initVersion: this.containers.initVersion,
      /** `docker info`'s warnings about the controls this host lacks. */
      warnings: sysInfoWarnings(this.containers.sysinfo),
      /** --insecure-registry entries (CIDRs and host[:port] names), as given. */
      insecureRegistries: this.options.insecureRegistries ?? [],
    };
  }
}

/** The image service as the container service needs it. */
function containerImages(images: ImageService): ContainerImages {
  return {
    resolve: (ref) => images.resolve(ref),
    rootLayers: (img) => images.rootLayers(img),
    has: (id) => !!images.get(id),
    collectUnused: async () => void (await images.collect('all')),
  };
}

function osName(): string {
  try {
    const text = readFileSync('/etc/os-release', 'utf8');
    return /^PRETTY_NAME="?([^"\n]*)"?/m.exec(text)?.[1] ?? 'Linux';
  } catch {
    return 'Linux';
  }
}

/**
 * dockerd's layout for a remapped daemon: `<dataRoot>/<uid>.<gid>`, owned by root and
 * the remapped root's group (0710), below a data root others may traverse (0711).
 */
async function remappedRoot(dataRoot: string, owner: { uid: number; gid: number }): Promise<string> {
  await fsp.mkdir(dataRoot, { recursive: true, mode: 0o711 });
  // Containers reach their rootfs, volumes and etc files from inside their user
  // namespace: every dir above the data root must let the remapped root through.
  for (let dir = dirname(resolve(dataRoot)); ; dir = dirname(dir)) {
    const st = await fsp.stat(dir);
    const x = st.uid === owner.uid ? 0o100 : st.gid === owner.gid ? 0o010 : 0o001;
    if (!(st.mode & x)) {
      throw invalidArgument(`a directory in the data root path (${dir}) does not let the remapped root (uid ${owner.uid}) through; allow it with chmod o+x ${dir}`);
    }
    if (dir === '/') break;
  }
  const st = await fsp.stat(dataRoot);
  if ((st.mode & 0o001) === 0) await fsp.chmod(dataRoot, (st.mode & 0o7777) | 0o011);
  const dir = join(dataRoot, `${owner.uid}.${owner.gid}`);
  await fsp.mkdir(dir, { recursive: true, mode: 0o710 });
  await fsp.chown(dir, 0, owner.gid);
  await fsp.chmod(dir, 0o710);
  return dir;
}

async function engineId(dataRoot: string): Promise<string> {
  const file = join(dataRoot, 'engine-id');
  try {
    return (await fsp.readFile(file, 'utf8')).trim();
  } catch {
    const id = randomUUID();
    await writeFileAtomic(file, id + '\n');
    return id;
  }
}
