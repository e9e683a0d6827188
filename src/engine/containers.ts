/**
 * Container lifecycle: create, start, stop, kill, restart, wait, remove, and the
 * handling of exits. Records live in the ContainerStore; processes in the
 * ContainerRuntime (conmon keeps each container's log and exit code, so nothing about
 * a running container lives only in this process). I/O (logs, attach) is in
 * container-io.ts, live operations (pause, update, stats, top) in container-live.ts;
 * this class is their facade.
 *
 * Lifecycle operations on one container are serialized by a per-id mutex; exit
 * handling is idempotent and runs outside it, because stop() waits for the exit
 * while holding the lock.
 */
import { promises as fsp } from 'node:fs';
import { dirname, join } from 'node:path';
import type { Readable } from 'node:stream';
import {
  BerthError,
  checkFilterKeys,
  conflict,
  forEachLimit,
  internal,
  invalidArgument,
  log,
  matchLabelArgs,
  mergeImageEnv,
  isContainerId,
  newContainerId,
  notFound,
  notModified,
  traceSince,
  traceSpan,
  traceStart,
  normalizeSignal,
  signalNumber,
  SystemError,
  type ContainerId,
  type Digest,
  type FilterArgs,
} from '../common';
import { familiarString, formatPlatform, parsePlatform, parseReference, platformServes, withDefaultTag, type ImageRecord } from '../image';
import {
  DEFAULT_SHM_SIZE, checkWorkingDir, detectSysInfo, discardUnsupported, mountShm, startFailure, resolveUser, rootPair, toolVersion, unmountShm,
  type HostFacts, type IdMappings, type LogEntry, type SysInfo, type ToolVersion,
} from '../runtime';
import { parseLink } from '../network';
import { KeyedMutex } from '../state';
import { mkdirIn, type Snapshotter } from '../storage';
import { afterCreate, buildSpec, checkSpec, containerCgroupsPath, initBinaryPath, shareableShmPath } from './container-spec';
import { NO_MOUNTS, type ContainerMounts } from './container-mounts';
import { CONTAINER_RECORD_VERSION, ZERO_TIME, isLive, type ContainerEvents, type EndpointConfig, type ContainerRecord, type ContainerSpec, type LogConfig, type WaitCondition } from './container-model';
import type { ContainerNetwork, NetworkSetUp } from './container-network';
import type { ContainerRuntime, StdinConnection } from './container-runtime';
import type { ContainerStore } from './container-store';
import { ContainerIO, type LogsOptions } from './container-io';
import { ContainerArchive, type ArchiveConsumer, type ExtractRequest, type PathStat } from './container-archive';
import { LiveOps, type ContainerStatsSample, type UpdateOptions } from './container-live';
import { checkLogConfig, DEFAULT_LOG_DRIVER, logCompressed, logFileCount, logSizeLimit } from './log-config';
import { checkName, randomName } from './names';
import { parseTimestamp } from './image-filters';
import { checkRestartPolicy, policyWantsRestart, RESTART_INITIAL_DELAY_MS, RestartManager } from './restart-manager';
import { checkHealthCheck, mergeHealthCheck } from './health-monitor';

/** What the container service needs of images. */
export interface ContainerImages {
  /** By name or id; not-found when there is no such image. */
  resolve(ref: string): ImageRecord;
  /** The top layer of the image (null for none) and the directories of its layers, for the root snapshot. */
  rootLayers(img: ImageRecord): Promise<{ top: Digest | null; lowers: string[] }>;
  has(id: Digest): boolean;
  /** Removes layers no image and no container uses any more. */
  collectUnused(): Promise<void>;
}

/** A container to create: its name (random when absent) and its spec. */
export interface CreateRequest {
  name?: string;
  /**
   * The id, when the caller needs it before the create is done (the CRI makes a sandbox's
   * network namespace meanwhile): a fresh newContainerId(), 64 hex digits, in use by no one.
   */
  id?: ContainerId;
  spec: ContainerSpec;
  /**
   * `os/arch[/variant]` the image must be for (`docker create --platform`): a local image for
   * another platform is not found, in dockerd's words, so that the client pulls the one asked for.
   */
  platform?: string;
  /** Where the monitor writes the output (k8s-file lines); `<container dir>/container.log` when absent (CRI sets its own). */
  logPath?: string;
  /**
   * No Docker init layer (the empty mount points and /etc/mtab, .dockerenv it adds): runc
   * makes what the mounts need, as for containerd's CRI containers. Saves building it.
   */
  noInitLayer?: boolean;
  /**
   * Writes what the caller keeps beside the record (the CRI's entry), alongside the
   * record's own write; its failure fails the create. A crash may leave either without
   * the other: the caller must cope with an entry whose container is missing.
   */
  alongside?: (rec: ContainerRecord) => Promise<void>;
  /**
   * false: the record and the snapshot are written without fsync. They survive a kill of
   * berthd (the page cache is the kernel's), not a power loss: for containers that are made
   * again after a reboot anyway (the CRI's, which the kubelet recreates).
   */
  durable?: boolean;
}

export interface ContainerServiceOptions {
  store: ContainerStore;
  images: ContainerImages;
  snapshots: Snapshotter;
  runtime: ContainerRuntime;
  events: ContainerEvents;
  network: ContainerNetwork;
  mounts?: ContainerMounts;
  /** What the spec generator needs to know of the host, read once. */
  host: HostFacts;
  /** The daemon's --userns-remap mappings. */
  userns?: IdMappings;
  /** How often to look for containers whose monitor died without recording an exit. */
  lostMonitorSweepMs?: number;
  /** The cgroup controls the host offers; probed when not given. */
  sysinfo?: SysInfo;
  /** The daemon's default log driver and options (daemon.json `log-driver`, `log-opts`). */
  logDefaults?: LogConfig;
}

/** How long stop waits for an exit after a signal it could not send (dockerd's 2 s). */
const STOP_GRACE_MS = 2000;

const errorText = (err: unknown) => (err instanceof Error ? err.message : String(err));

export class ContainerService {
  private readonly store: ContainerStore;
  private readonly images: ContainerImages;
  private readonly snapshots: Snapshotter;
  private readonly runtime: ContainerRuntime;
  private readonly events: ContainerEvents;
  private readonly network: ContainerNetwork;
  private readonly mounts: ContainerMounts;
  private readonly host: HostFacts;
  private readonly userns: IdMappings | undefined;
  private readonly lock = new KeyedMutex();
  private readonly io: ContainerIO;
  private readonly live: LiveOps;
  private readonly archive: ContainerArchive;
  private readonly sweepMs: number;
  /** Removed containers whose files are still being deleted. */
  private readonly purging = new Set<Promise<void>>();
  /** The cgroup controls this host offers, probed once (`docker info` shows the missing ones). */
  readonly sysinfo: SysInfo;
  /** The `--init` binary's version (docker-init in `docker version`), read by init(). */
  initVersion: ToolVersion | undefined;
  /** The log configuration a container gets when its own names no driver. */
  readonly logDefaults: LogConfig;
  /** Restart policies: decides at each exit, and starts the container again after its back-off. */
  readonly restarts: RestartManager;

  constructor(o: ContainerServiceOptions) {
    this.store = o.store;
    this.images = o.images;
    this.snapshots = o.snapshots;
    this.runtime = o.runtime;
    this.events = o.events;
    this.network = o.network;
    this.mounts = o.mounts ?? NO_MOUNTS;
    this.host = o.host;
    this.userns = o.userns;
    this.sweepMs = o.lostMonitorSweepMs ?? LOST_MONITOR_SWEEP_MS;
    this.sysinfo = o.sysinfo ?? detectSysInfo();
    this.logDefaults = o.logDefaults ?? { type: DEFAULT_LOG_DRIVER, config: {} };
    this.io = new ContainerIO(o.store, o.runtime);
    this.live = new LiveOps(o.store, o.runtime, this.lock, o.events, o.host, this.sysinfo);
    this.archive = new ContainerArchive(o.store, o.snapshots, this.lock, o.events, o.userns);
    this.restarts = new RestartManager((id) => void this.restartByPolicy(id));
  }

  /** Loads every record and reconciles it with what the runtime reports. */
  async init(): Promise<void> {
    const tLoad = traceStart();
    await this.store.load();
    traceSpan('init', 'container records load', tLoad);
    const init = initBinaryPath();
    if (init) this.initVersion = await toolVersion(init);
    this.runtime.watchExits((id) => void this.checkExit(id as ContainerId));
    // A monitor that dies (killed, OOM) leaves no exit: look for such containers now and then.
    setInterval(() => void this.sweepLostMonitors(), this.sweepMs).unref();
    const tAdopt = traceStart();
    await this.sweepTrash();
    // Removals first, one at a time (one may collect image layers); then the rest, independent
    // of one another, several at a time so that hundreds are adopted in a fraction of a second.
    for (const rec of this.store.list()) {
      if (rec.state.status === 'removing') await this.removeNow(rec).catch((err) => log.warn('removal failed', { id: rec.id, error: String(err) }));
    }
    await forEachLimit(this.store.list(), 16, async (rec) => {
      if (isLive(rec)) await this.reconcile(rec);
      else if (rec.state.status === 'created') await this.settleCreated(rec);
      if (this.store.has(rec.id)) await this.archive.recover(rec).catch((err) => log.warn('cannot clean up after an interrupted cp', { id: rec.id, error: String(err) }));
    });
    await this.network.recover?.(new Set(this.store.list().filter(isLive).map((r) => r.id)));
    // As dockerd does when it starts: a --rm container that is not running goes (one that
    // exited while berthd was down, one whose start berthd's end interrupted, one created
    // and never started).
    for (const rec of this.store.list()) {
      if (rec.spec.autoRemove && !isLive(rec)) await this.removeNow(rec).catch((err) => log.warn('auto-remove failed', { id: rec.id, error: String(err) }));
    }
    this.restartAtInit();
    traceSpan('init', 'containers reconciled', tAdopt);
  }

  /**
   * Restart policies when berthd starts: a restart that was waiting for its back-off when
   * berthd went down happens now (its count already taken); a container that was down
   * and whose policy brings it back when the daemon starts (always; unless-stopped not
   * stopped by hand) starts with its count reset, as dockerd does.
   */
  private restartAtInit(): void {
    for (const rec of this.store.list()) {
      if (rec.state.status === 'restarting') {
        this.restarts.schedule(rec.id, RESTART_INITIAL_DELAY_MS);
      } else if (rec.state.status === 'exited' && rec.state.startedAt !== ZERO_TIME && !this.restarts.isPending(rec.id)) {
        const p = rec.spec.restartPolicy;
        if (p.name === 'on-failure' && rec.manuallyStopped) continue;
        if (!policyWantsRestart(p, rec.state.exitCode, rec.restartCount, !!rec.manuallyStopped)) continue;
        rec.restartCount = 0;
        rec.state.status = 'restarting';
        this.restarts.schedule(rec.id, 0);
      }
    }
  }

  /** The policy's restart, once the back-off has passed; a container stopped or removed meanwhile stays so. */
  private async restartByPolicy(id: string): Promise<void> {
    const rec = this.store.find(id);
    if (!rec) return;
    await this.lock.run(rec.id, async () => {
      if (rec.state.status !== 'restarting' || !this.store.has(rec.id)) return;
      try {
        await this.startLocked(rec);
      } catch (err) {
        log.warn('restart by policy failed', { id: rec.id, error: errorText(err) });
        if (rec.state.status === 'restarting') rec.state.status = 'exited';
        await this.store.save(rec).catch(() => undefined);
      }
    });
  }

  /**
   * A created container as berthd's end may have left it. A create cut short (the record saved,
   * the snapshot never made, so the client had no answer) is removed. A start cut short leaves
   * the rootfs mounted or runc's container made (settleInterruptedStart).
   */
  private async settleCreated(rec: ContainerRecord): Promise<void> {
    const snapshot = await this.snapshots.info(rec.id).then(() => true, (err: unknown) => !(err instanceof BerthError && err.kind === 'not-found'));
    if (!snapshot) {
      await this.removeNow(rec).catch((err) => log.warn('cannot remove a half-created container', { id: rec.id, error: String(err) }));
      return;
    }
    if (this.runtime.known(rec.id) || this.snapshots.mounted(rec.id)) await this.settleInterruptedStart(rec);
  }

  /**
   * A start that berthd's end interrupted: the record still says created, but the rootfs is
   * mounted or runc has the container. A process already running (the end came between
   * runc's start and the record's save) is adopted as running. Anything else is undone (runc's
   * container, its init process and cgroups, then the mount; its conmon then exits), so that
   * the host holds nothing for a created container and `docker start` begins afresh; its
   * network goes with the other non-running containers' (network.recover).
   */
  private async settleInterruptedStart(rec: ContainerRecord): Promise<void> {
    const st = await this.runtime.state(rec.id).catch(() => undefined);
    if (st && (st.status === 'running' || st.status === 'paused')) {
      rec.state = { ...rec.state, status: st.status, pid: st.pid, exitCode: 0, error: '', oomKilled: false, startedAt: new Date().toISOString(), finishedAt: ZERO_TIME };
      await this.store.save(rec);
      return;
    }
    if (this.runtime.known(rec.id)) await this.runtime.delete(rec.id).catch((err) => log.warn('cannot undo an interrupted start', { id: rec.id, error: String(err) }));
    await this.snapshots.unmount(rec.id).catch(() => undefined);
    await this.mounts.stopped(rec).catch(() => undefined);
  }

  private async reconcile(rec: ContainerRecord): Promise<void> {
    if (await this.checkExit(rec.id)) return;
    const st = await this.runtime.state(rec.id).catch(() => undefined);
    if (st && (st.status === 'running' || st.status === 'paused')) {
      rec.state.pid = st.pid;
      rec.state.status = st.status;
      return;
    }
    // Neither an exit nor a live process: the monitor died with the container.
    await this.recordExit(rec, 255, new Date(), 'container monitor exited without recording an exit code');
  }

  // ---- lookup --------------------------------------------------------------

  /** By full id, name (with or without '/'), or unique id prefix. */
  get(ref: string): ContainerRecord {
    return this.store.get(ref);
  }

  /**
   * dockerd refuses a legacy --link to a container that does not exist (400, so the CLI
   * does not take it for a missing image). On user networks links are aliases: not checked.
   */
  private checkLinks(net: ContainerSpec['network']): void {
    const mode = net.mode ?? '';
    if (!['', 'default', 'bridge', 'none', 'host'].includes(mode) && !mode.startsWith('container:')) return;
    for (const link of net.links ?? []) {
      const { name } = parseLink(link);
      try {
        this.store.get(name);
      } catch (err) {
        if (err instanceof BerthError && err.kind === 'not-found') throw invalidArgument(`could not get container for ${name}: ${err.message}`);
        throw err;
      }
    }
  }

  /**
   * At start, as dockerd: a legacy --link on the default bridge needs its container running
   * (500 and exit code 128, in dockerd's words, naming the link as `/<container>/<alias>`).
   * A container removed since the create is not checked here (its hosts line is left out).
   */
  private checkLinksRunning(rec: ContainerRecord): void {
    const mode = rec.spec.network.mode ?? '';
    if (!['', 'default', 'bridge'].includes(mode)) return;
    for (const link of rec.spec.network.links ?? []) {
      const { name, alias } = parseLink(link);
      let child: ContainerRecord;
      try {
        child = this.store.get(name);
      } catch {
        continue;
      }
      if (isLive(child)) continue;
      throw new SystemError(`Cannot link to a non running container: /${child.name} AS /${rec.name}/${alias}`);
    }
  }

  /** By exact id, or undefined: a map lookup, for callers that hold an id. */
  find(id: string): ContainerRecord | undefined {
    return this.store.find(id);
  }

  /** Newest first. */
  list(): ContainerRecord[] {
    return this.store.list();
  }

  /** The top image layer (chainID) under each container's root, for the image garbage collector. */
  async layersInUse(): Promise<Digest[]> {
    const out: Digest[] = [];
    for (const r of this.store.list()) {
      const parent = (await this.snapshots.info(r.id).catch(() => undefined))?.parent;
      if (parent) out.push(parent);
    }
    return out;
  }

  usersOfImage(imageId: Digest): { id: string; running: boolean }[] {
    return this.list().filter((r) => r.imageId === imageId).map((r) => ({ id: r.id, running: isLive(r) }));
  }

  /** Labels of a container, for event attributes (Docker adds them to every container event). */
  eventLabels(id: string): Record<string, string> | undefined {
    return this.store.find(id)?.spec.labels;
  }

  // ---- create --------------------------------------------------------------

  /**
   * Creates the container: the image's settings fill what the spec leaves unset.
   * `warnings`: what was accepted but is not applied (a limit this host lacks…), for the client.
   */
  async create(req: CreateRequest): Promise<{ record: ContainerRecord; warnings: string[] }> {
    const name = req.name ? checkName(req.name) : randomName((n) => !!this.store.nameTaken(n));
    const taken = this.store.nameTaken(name);
    if (taken) throw conflict(`Conflict. The container name "/${name}" is already in use by container "${taken}". You have to remove (or rename) that container to be able to reuse that name.`);
    const req0 = req.spec;
    let img: ImageRecord;
    const tResolve = traceStart();
    try {
      img = this.images.resolve(req0.image);
    } catch (err) {
      if (err instanceof BerthError && err.kind === 'not-found') throw notFound(`No such image: ${nameWithTag(req0.image)}`, err);
      throw err;
    }
    if (req.platform) {
      const want = parsePlatform(req.platform);
      const c = img.config;
      const have = { os: c.os || 'linux', architecture: c.architecture || 'amd64', ...(c.variant ? { variant: c.variant } : {}) };
      if (!platformServes(want, have)) {
        throw notFound(`image with reference ${req0.image} was found but its platform (${formatPlatform(have)}) does not match the specified platform (${formatPlatform(want)})`);
      }
    }
    const ic = img.config.config ?? {};
    const p = req0.process;
    // A new entrypoint drops the image's CMD, as in Docker; `--entrypoint ""` (an entrypoint of
    // one empty word) then means none at all (null, as dockerd resets it).
    const emptied = p.entrypoint !== null && p.entrypoint.length === 1 && p.entrypoint[0] === '';
    const entrypoint = emptied ? null : p.entrypoint !== null ? p.entrypoint : ic.Entrypoint ?? null;
    const cmd = p.cmd && p.cmd.length ? p.cmd : p.entrypoint !== null ? null : ic.Cmd ?? null;
    const argv = [...(entrypoint ?? []), ...(cmd ?? [])];
    if (argv.length === 0) throw invalidArgument('no command specified');
    const resources = { ...req0.resources };
    const warnings = discardUnsupported(resources, this.sysinfo);
    checkRestartPolicy(req0.restartPolicy, req0.autoRemove);
    checkHealthCheck(req0.healthCheck);
    const logs = checkLogConfig(req0.logConfig, this.logDefaults);
    warnings.push(...logs.warnings);
    checkSpec({ ...req0, resources }, this.host, this.userns);
    this.network.check?.(req0.network);
    this.checkLinks(req0.network);
    if (req.id !== undefined && (!isContainerId(req.id) || this.store.find(req.id))) throw invalidArgument(`container id ${req.id} is not a fresh id`);
    const id = req.id ?? newContainerId();
    for (const e of p.env) if (e.startsWith('=') || e === '') throw invalidArgument(`invalid environment variable: ${e}`);
    const stopSignal = p.stopSignal || ic.StopSignal;
    const spec: ContainerSpec = {
      ...req0,
      resources,
      logConfig: logs.logConfig,
      process: {
        ...p,
        cmd,
        entrypoint,
        env: mergeImageEnv(p.env, ic.Env ?? []),
        user: p.user || ic.User || '',
        workingDir: p.workingDir || ic.WorkingDir || '',
        ...(stopSignal ? { stopSignal } : {}),
      },
      healthCheck: mergeHealthCheck(req0.healthCheck, ic.Healthcheck),
      hostname: req0.hostname || id.slice(0, 12),
      labels: { ...(ic.Labels ?? {}), ...req0.labels },
    };
    const dir = this.store.dir(id);
    const rec: ContainerRecord = {
      version: CONTAINER_RECORD_VERSION,
      id,
      name,
      created: new Date().toISOString(),
      image: spec.image,
      imageId: img.id,
      path: argv[0]!,
      args: argv.slice(1),
      spec,
      mountPoints: [],
      state: { status: 'created', pid: 0, exitCode: 0, error: '', oomKilled: false, startedAt: ZERO_TIME, finishedAt: ZERO_TIME },
      restartCount: 0,
      logPath: req.logPath ?? join(dir, 'container.log'),
      hostnamePath: join(dir, 'hostname'),
      hostsPath: join(dir, 'hosts'),
      resolvConfPath: join(dir, 'resolv.conf'),
    };
    // Claim the name before any await so two concurrent creates cannot both take it.
    this.store.add(rec);
    traceSpan(id, 'image resolve + spec', tResolve);
    const tPrepare = traceStart();
    // The snapshot is built while the record is written: a crash between the two leaves a
    // record without a snapshot (the next start of berthd removes it: settleCreated) or, as
    // before, a snapshot that no record names (disk space only: keys are fresh ids).
    const work = await Promise.allSettled([
      (async () => {
        const root = await this.images.rootLayers(img);
        await this.snapshots.prepare(id, root.top, root.lowers, { ...(req.noInitLayer ? { noInit: true } : {}), ...(req.durable === false ? { durable: false } : {}) });
        traceSpan(id, 'snapshot prepare', tPrepare);
      })(),
      (async () => {
        await Promise.all([
          fsp.mkdir(dir, { recursive: true }),
          req.logPath ? fsp.mkdir(dirname(req.logPath), { recursive: true }) : undefined,
          this.mounts.prepare(rec, Object.keys(ic.Volumes ?? {})),
        ]);
        const tSave = traceStart();
        await Promise.all([this.store.save(rec, req.durable ?? true), req.alongside?.(rec)]);
        traceSpan(id, 'record save (create)', tSave);
      })(),
    ]);
    let failed = work.find((r): r is PromiseRejectedResult => r.status === 'rejected');
    if (!failed) {
      try {
        await this.prepareWorkingDir(rec);
      } catch (err) {
        failed = { status: 'rejected', reason: err };
      }
    }
    if (failed) {
      this.store.delete(id);
      if (work[0]!.status === 'fulfilled') await this.snapshots.remove(id).catch(() => undefined);
      await this.mounts.release(rec, true).catch(() => undefined);
      await fsp.rm(dir, { recursive: true, force: true });
      throw failed.reason;
    }
    this.events.emit('container', 'create', id, { image: rec.image, name: rec.name });
    return { record: rec, warnings };
  }

  /**
   * Like dockerd at create: the working directory is made in the container's filesystem (so
   * `docker diff` lists it), and one that names something other than a directory refuses the
   * create (`Cannot mkdir: /etc/passwd is not a directory`), not only its start.
   */
  private async prepareWorkingDir(rec: ContainerRecord): Promise<void> {
    const cwd = rec.spec.process.workingDir;
    if (!cwd || cwd === '/') return;
    // Usually the image has it (its WORKDIR): then there is nothing to check or make, and no mount.
    if (await this.snapshots.hasDirectory(rec.id, cwd)) return;
    await this.lock.run(rec.id, async () => {
      const rootfs = await this.snapshots.mount(rec.id);
      try {
        checkWorkingDir(rootfs, cwd);
        await mkdirIn(rootfs, cwd, this.userns && rec.spec.namespaces.userns !== 'host' ? rootPair(this.userns) : { uid: 0, gid: 0 });
      } finally {
        await this.snapshots.unmount(rec.id);
      }
    });
  }

  // ---- start ---------------------------------------------------------------

  /** A user's start: the restart policy acts again from its first delay and its count is reset. */
  /**
   * `network`: a namespace made beforehand for the container to join (a CRI sandbox's) and
   * the promise of its wiring; the process is started only once `ready` settles. `share`:
   * the network attachment that made it, whose addresses the container's files then name
   * (a build's RUN step in the build's namespace; see BridgeAttachment.share).
   */
  start(ref: string, network?: { netns: string; ready: Promise<void>; share?: string }): Promise<void> {
    const rec = this.get(ref);
    return this.lock.run(rec.id, async () => {
      if (rec.state.status === 'restarting') throw notModified('container already started');
      if (!isLive(rec) && rec.state.status !== 'removing') {
        this.restarts.reset(rec.id);
        rec.restartCount = 0;
        rec.manuallyStopped = false;
      }
      await this.startLocked(rec, network);
    });
  }

  private async startLocked(rec: ContainerRecord, given?: { netns: string; ready: Promise<void>; share?: string }): Promise<void> {
    if (!this.store.has(rec.id)) throw notFound(`No such container: ${rec.id}`);
    if (isLive(rec)) throw notModified('container already started');
    if (rec.state.status === 'removing') throw conflict(`cannot start container ${rec.id}: it is being removed`);
    try {
      this.checkLinksRunning(rec);
      const tMount = traceStart();
      const rootfs = await this.snapshots.mount(rec.id);
      traceSpan(rec.id, 'snapshot mount', tMount);
      checkWorkingDir(rootfs, rec.spec.process.workingDir);
      const tSetup = traceStart();
      const [mounts, setUp] = await Promise.all([
        this.mounts.specMounts(rec, rootfs),
        this.network.setUp({
          containerId: rec.id,
          hostname: rec.spec.hostname,
          files: { hostname: rec.hostnamePath, hosts: rec.hostsPath, resolvConf: rec.resolvConfPath },
          ...(this.userns ? { owner: rootPair(this.userns) } : {}),
          name: rec.name,
          domainname: rec.spec.domainname,
          network: rec.spec.network,
          ...(given?.share ? { share: given.share } : {}),
          ...(Object.keys(rec.spec.security.sysctls ?? {}).some((k) => k.startsWith('net.ipv6.conf.')) ? { keepIPv6: true } : {}),
        }),
      ]);
      const net: NetworkSetUp | void = given ?? setUp;
      // netavark wires the namespace while runc creates the container; a failure waits for the start.
      let wired = net?.ready?.then(() => undefined, (err: unknown) => err);
      if (rec.spec.namespaces.ipc === 'shareable') mountShm(shareableShmPath(rec), rec.spec.resources.shmSize || DEFAULT_SHM_SIZE);
      const tSpec = traceStart();
      traceSpan(rec.id, 'volumes + network', tSetup, tSpec);
      const spec = buildSpec(rec, {
        host: this.host,
        rootfs,
        user: resolveUser(rootfs, rec.spec.process.user),
        mounts,
        lookup: (ref) => this.get(ref),
        ...(this.userns ? { userns: this.userns } : {}),
        ...(net?.netns ? { netns: net.netns } : {}),
      });
      traceSpan(rec.id, 'spec render', tSpec);
      const p = rec.spec.process;
      const logSizeMax = logSizeLimit(rec.spec.logConfig);
      const logMaxFile = logSizeMax ? logFileCount(rec.spec.logConfig) : 1;
      const tCreate = traceStart();
      const pid = await this.runtime.create({ id: rec.id, name: rec.name, spec, logPath: rec.logPath, ...(logSizeMax ? { logSizeMax } : {}), ...(logMaxFile > 1 ? { logMaxFile } : {}), ...(logMaxFile > 1 && logCompressed(rec.spec.logConfig) ? { logCompress: true } : {}), tty: p.tty, stdin: p.openStdin, stdinOnce: p.stdinOnce });
      // A network wired into the namespace runc made (user-namespaced containers).
      if (net?.attach) wired = net.attach(pid).then(() => undefined, (err: unknown) => err);
      // Stdin attaches connect now, before the process runs, so no input is early.
      this.store.emit('created', rec.id);
      afterCreate(rec, this.host);
      const wireError = await wired;
      if (wireError) throw wireError;
      const tStart = traceStart();
      traceSpan(rec.id, 'runtime create (total)', tCreate, tStart);
      await this.runtime.start(rec.id);
      const tSave = traceStart();
      traceSpan(rec.id, 'start (exec fifo)', tStart, tSave);
      rec.state = { ...rec.state, status: 'running', pid, exitCode: 0, error: '', oomKilled: false, startedAt: new Date().toISOString(), finishedAt: ZERO_TIME };
      await this.store.save(rec);
      traceSpan(rec.id, 'record save (start)', tSave);
    } catch (err) {
      await this.runtime.delete(rec.id).catch(() => undefined);
      await this.snapshots.unmount(rec.id).catch(() => undefined);
      await this.mounts.stopped(rec).catch(() => undefined);
      await this.network.tearDown(rec.id).catch(() => undefined);
      const msg = err instanceof Error ? err.message : String(err);
      // Networking's failures read as dockerd's (it sets up the network after the task is made).
      const ownWords = err instanceof BerthError && (err.kind !== 'internal' || err instanceof SystemError);
      // The runtime's refusals are read as dockerd reads containerd's; berthd's own checks exit 128.
      const failure = ownWords ? { exitCode: 128, message: msg } : startFailure(`failed to create task for container: ${msg}`);
      // dockerd keeps in State.Error what its answer said.
      rec.state.error = failure.message;
      rec.state.exitCode = failure.exitCode;
      if (rec.state.startedAt !== ZERO_TIME) rec.state.status = 'exited';
      await this.store.save(rec).catch(() => undefined);
      // Like dockerd: a container that could not start and asked for --rm is removed at once.
      if (rec.spec.autoRemove) await this.removeNow(rec).catch((e) => log.warn('auto-remove failed', { id: rec.id, error: String(e) }));
      if (ownWords) throw err;
      // A command that cannot be executed is the caller's mistake (dockerd answers 400 too).
      if (rec.state.exitCode !== 128) throw invalidArgument(rec.state.error, err);
      throw internal(rec.state.error, err);
    }
    this.events.emit('container', 'start', rec.id, { image: rec.image, name: rec.name });
    // It may have exited before we recorded it as running: the exit event was then ignored.
    void this.checkExit(rec.id);
  }

  // ---- exit ----------------------------------------------------------------

  /**
   * Records the exit if the runtime has one, or if the monitor is gone without one and
   * the runtime sees no live process (nobody will ever report that exit: 255, as at
   * startup). True when the container is known to have exited.
   */
  private async checkExit(id: ContainerId): Promise<boolean> {
    const rec = this.store.find(id);
    if (!rec || !isLive(rec)) return false;
    const exit = await this.runtime.exitCode(id);
    if (exit) {
      traceSince(id, 'exit noticed (since exit file mtime)', exit.at.getTime());
      await this.recordExit(rec, exit.code, exit.at, '');
      return true;
    }
    if (await this.runtime.monitorAlive(id)) return false;
    const st = await this.runtime.state(id).catch(() => undefined);
    if (st && (st.status === 'running' || st.status === 'paused')) return false;
    // The monitor records the exit before it exits: look once more before calling the exit lost.
    const late = await this.runtime.exitCode(id);
    if (late) await this.recordExit(rec, late.code, late.at, '');
    else await this.recordExit(rec, 255, new Date(), 'container monitor exited without recording an exit code');
    return true;
  }

  private sweeping = false;

  private async sweepLostMonitors(): Promise<void> {
    if (this.sweeping) return;
    this.sweeping = true;
    try {
      let n = 0;
      for (const rec of this.store.list()) {
        if (!isLive(rec)) continue;
        // A live monitor answers from memory and /proc without yielding: with hundreds
        // running, let requests in between batches instead of holding the loop for the lot.
        if (++n % SWEEP_BATCH === 0) await new Promise((r) => setImmediate(r));
        // A live monitor records the exit itself; only a dead one needs the full check.
        if (!(await this.runtime.monitorAlive(rec.id).catch(() => false))) await this.checkExit(rec.id).catch(() => undefined);
      }
    } finally {
      this.sweeping = false;
    }
  }

  /** Exits being recorded: a second caller waits for the first instead of returning early. */
  private finishing = new Map<string, Promise<void>>();

  private async recordExit(rec: ContainerRecord, code: number, at: Date, error: string): Promise<void> {
    const inFlight = this.finishing.get(rec.id);
    if (inFlight) return inFlight;
    if (!isLive(rec)) return;
    const tFinish = traceStart();
    const finish = this.finishExit(rec, code, at, error).finally(() => this.finishing.delete(rec.id));
    this.finishing.set(rec.id, finish);
    await finish;
    traceSpan(rec.id, 'exit cleanup (runc delete, unmount, record)', tFinish);
    if (rec.spec.autoRemove && rec.state.status !== 'restarting') {
      await this.lock.run(rec.id, () => this.removeNow(rec)).catch((err) => log.warn('auto-remove failed', { id: rec.id, error: String(err) }));
    }
  }

  /** Unmounts a shareable container's host-side /dev/shm (joiners keep theirs until they exit). */
  private releaseShm(rec: ContainerRecord): void {
    if (rec.spec.namespaces.ipc !== 'shareable') return;
    try {
      unmountShm(shareableShmPath(rec));
    } catch (err) {
      log.warn('cannot unmount shm', { id: rec.id, error: String(err) });
    }
  }

  /** Cleans up after an exit, records it, and tells waiters; not the auto-removal. */
  private async finishExit(rec: ContainerRecord, code: number, at: Date, error: string): Promise<void> {
    const t0 = traceStart();
    const oomKilled = this.oomKilled(rec);
    // The exit file stays until the record has the exit: berthd ending in between would
    // otherwise leave a container that ran, exited and has no code (255 at the next start).
    await this.runtime.delete(rec.id, true).catch((err) => log.warn('runc delete failed', { id: rec.id, error: String(err) }));
    const t1 = traceStart();
    traceSpan(rec.id, 'exit: runtime delete', t0, t1);
    await this.snapshots.unmount(rec.id).catch((err) => log.warn('unmount failed', { id: rec.id, error: String(err) }));
    const t2 = traceStart();
    traceSpan(rec.id, 'exit: snapshot unmount', t1, t2);
    this.releaseShm(rec);
    await this.mounts.stopped(rec).catch((err) => log.warn('volume unmount failed', { id: rec.id, error: String(err) }));
    await this.network.tearDown(rec.id).catch((err) => log.warn('network teardown failed', { id: rec.id, error: String(err) }));
    traceSpan(rec.id, 'exit: shm, volumes, network', t2);
    const ranMs = at.getTime() - Date.parse(rec.state.startedAt);
    const restartIn = this.restarts.onExit(rec, code, Number.isFinite(ranMs) ? ranMs : 0);
    rec.state = { ...rec.state, status: restartIn === undefined ? 'exited' : 'restarting', pid: 0, exitCode: code, error, oomKilled, finishedAt: at.toISOString() };
    const saved = await this.store.save(rec).then(() => true, (err: unknown) => {
      log.error('cannot save container state', { id: rec.id, error: String(err) });
      return false;
    });
    if (saved) this.runtime.forgetExit(rec.id);
    if (rec.state.oomKilled) this.events.emit('container', 'oom', rec.id, { image: rec.image, name: rec.name });
    this.events.emit('container', 'die', rec.id, { exitCode: String(code), execDuration: String(Number.isFinite(ranMs) ? Math.max(0, Math.floor(ranMs / 1000)) : 0), image: rec.image, name: rec.name });
    this.store.emit('exit', rec.id, code);
  }

  /** Whether the kernel OOM-killed a process of the container's current run. */
  private oomKilled(rec: ContainerRecord): boolean {
    try {
      // The engine knows the cgroup from the record (the spec was built from it): no read of config.json.
      return this.runtime.oomKilled(containerCgroupsPath(rec));
    } catch (err) {
      log.warn('cannot read the OOM counter', { id: rec.id, error: String(err) });
      return false;
    }
  }

  // ---- stop / kill ---------------------------------------------------------

  stop(ref: string, timeoutSec?: number, signal?: string): Promise<void> {
    const rec = this.get(ref);
    return this.lock.run(rec.id, async () => {
      if (rec.state.status === 'restarting') await this.endRestarting(rec);
      else if (!isLive(rec)) throw notModified('container already stopped');
      else await this.stopLocked(rec, timeoutSec, signal);
      this.events.emit('container', 'stop', rec.id, { image: rec.image, name: rec.name });
    });
  }

  /** A stop or kill of a container waiting to restart: it stays down, with the exit it had. */
  private async endRestarting(rec: ContainerRecord): Promise<void> {
    this.restarts.cancelNext(rec.id);
    rec.state.status = 'exited';
    rec.manuallyStopped = true;
    await this.store.save(rec).catch((err) => log.warn('cannot save container state', { id: rec.id, error: String(err) }));
  }

  /** A user stops or kills the container: dockerd's ExitOnNext and HasBeenManuallyStopped. */
  private async stoppedByUser(rec: ContainerRecord, signal: string): Promise<void> {
    const own = rec.spec.process.stopSignal;
    if (!own || signal === 'KILL' || normalizeSignal(own) === signal) this.restarts.cancelNext(rec.id);
    if (rec.manuallyStopped) return;
    rec.manuallyStopped = true;
    await this.store.save(rec).catch((err) => log.warn('cannot save container state', { id: rec.id, error: String(err) }));
  }

  private async stopLocked(rec: ContainerRecord, timeoutSec?: number, signal?: string): Promise<void> {
    const t = timeoutSec ?? rec.spec.process.stopTimeout ?? 10;
    const sig = signal || rec.spec.process.stopSignal || 'SIGTERM';
    const name = normalizeSignal(sig);
    await this.stoppedByUser(rec, name);
    const caughtBefore = this.runtime.catchesSignal(rec.state.pid, signalNumber(name));
    const signalError = await this.runtime.kill(rec.id, name).then(() => undefined, (err: unknown) => err);
    await this.thawAfterSignal(rec);
    if (!signalError && !caughtBefore) void this.resendOnceCaught(rec, name);
    // As dockerd: a stop signal that could not be sent leaves a short grace, not the whole timeout.
    const exited = this.store.nextExit(rec.id, t < 0 ? undefined : signalError ? STOP_GRACE_MS : t * 1000);
    if (!isLive(rec) || (await this.checkExit(rec.id)) || (await exited)) return;
    if (signalError) log.warn('stop signal not delivered', { id: rec.id, signal: sig, error: errorText(signalError) });
    const failure = await this.killHard(rec);
    if (failure) throw internal(`cannot stop container: ${rec.name}: ${failure}`);
  }

  /**
   * A PID-namespace init drops a signal it has no handler for. A stop that lands between the
   * exec of the container's program and the program installing its handler (a container
   * stopped right after its start) would then wait its whole timeout: for the first
   * RESEND_WINDOW_MS, the signal is sent again once the process catches it.
   */
  private async resendOnceCaught(rec: ContainerRecord, sig: string): Promise<void> {
    const pid = rec.state.pid;
    const num = signalNumber(sig);
    const until = Date.now() + RESEND_WINDOW_MS;
    while (Date.now() < until && isLive(rec) && rec.state.pid === pid) {
      await new Promise((r) => setTimeout(r, 10));
      if (this.runtime.catchesSignal(pid, num)) {
        if (isLive(rec) && rec.state.pid === pid) await this.runtime.kill(rec.id, sig).catch(() => undefined);
        return;
      }
    }
  }

  /**
   * SIGKILL for every process of the container and the wait for its exit; what went wrong
   * when it did not exit. As dockerd, a container the runtime cannot signal has its init
   * process killed directly (its PID namespace goes with it); the runtime's error is kept
   * for the answer. `signalled` runs once the signal is sent, before the wait.
   */
  private async killHard(rec: ContainerRecord, signalled?: () => void): Promise<string | undefined> {
    const killed = this.store.nextExit(rec.id, 30_000);
    const runtimeError = await this.runtime.kill(rec.id, 'KILL', true).then(() => undefined, (err: unknown) => err);
    if (runtimeError) {
      log.warn('runc could not kill the container: killing its init process directly', { id: rec.id, pid: rec.state.pid, error: errorText(runtimeError) });
      try {
        if (rec.state.pid > 0) this.runtime.killProcess(rec.state.pid);
      } catch (err) {
        return `${errorText(runtimeError)}; killing pid ${rec.state.pid}: ${errorText(err)}`;
      }
    }
    signalled?.();
    if (!isLive(rec) || (await this.checkExit(rec.id)) || (await killed)) return undefined;
    return runtimeError ? errorText(runtimeError) : 'tried to kill container, but did not receive an exit event';
  }

  async kill(ref: string, signal = 'SIGKILL'): Promise<void> {
    const rec = this.get(ref);
    const sig = normalizeSignal(signal);
    if (rec.state.status === 'restarting') {
      await this.lock.run(rec.id, () => this.endRestarting(rec));
      this.events.emit('container', 'kill', rec.id, { image: rec.image, name: rec.name, signal: String(signalNumber(sig)) });
      return;
    }
    if (!isLive(rec)) throw conflict(`Cannot kill container: ${ref}: Container ${rec.id} is not running`);
    await this.stoppedByUser(rec, sig);
    const exited = sig === 'KILL' ? this.store.nextExit(rec.id, 30_000) : undefined;
    await this.runtime.kill(rec.id, sig, sig === 'KILL');
    await this.thawAfterSignal(rec);
    this.events.emit('container', 'kill', rec.id, { image: rec.image, name: rec.name, signal: String(signalNumber(sig)) });
    if (exited && !(await this.checkExit(rec.id))) await exited;
  }

  /** A signal queued to a frozen process waits for the thaw: stop and kill thaw, as dockerd does. */
  private async thawAfterSignal(rec: ContainerRecord): Promise<void> {
    if (rec.state.status !== 'paused') return;
    try {
      await this.runtime.resume(rec.id);
    } catch {
      // `runc kill --all` thaws by itself, and a container that already exited cannot be resumed.
      return;
    }
    // The exit may have been recorded while runc ran: never turn it back into running.
    if (rec.state.status !== 'paused') return;
    rec.state.status = 'running';
    await this.store.save(rec).catch(() => undefined);
  }

  async restart(ref: string, timeoutSec?: number, signal?: string): Promise<void> {
    const rec = this.get(ref);
    await this.lock.run(rec.id, async () => {
      if (rec.state.status === 'restarting') await this.endRestarting(rec);
      else if (isLive(rec)) await this.stopLocked(rec, timeoutSec, signal);
    });
    await this.start(rec.id);
    this.events.emit('container', 'restart', rec.id, { image: rec.image, name: rec.name });
  }

  // ---- wait ----------------------------------------------------------------

  /** Resolves with the exit code once the condition holds; rejects when `abort` fires first. */
  async wait(ref: string, condition: WaitCondition = 'not-running', abort?: AbortSignal): Promise<number> {
    const rec = this.get(ref);
    if (condition === 'not-running' && !isLive(rec)) return rec.state.exitCode;
    if (condition === 'removed' && !this.store.has(rec.id)) return rec.state.exitCode;
    return await new Promise<number>((resolve, reject) => {
      const onAbort = () => {
        off();
        reject(new Error('wait aborted'));
      };
      const off = this.store.once(condition === 'removed' ? 'removed' : 'exit', rec.id, () => {
        abort?.removeEventListener('abort', onAbort);
        resolve(rec.state.exitCode);
      });
      abort?.addEventListener('abort', onAbort);
    });
  }

  // ---- networks (networks.ts) -------------------------------------------------

  /** Adds (or with null removes) a network of the container's configuration: network connect and disconnect. */
  setNetworkEndpoint(id: string, network: string, endpoint: EndpointConfig | null): Promise<void> {
    const rec = this.get(id);
    return this.lock.run(rec.id, async () => {
      const net = rec.spec.network;
      const endpoints = { ...net.endpoints };
      const mode = net.mode ?? '';
      const primary = mode === '' || mode === 'default' ? 'bridge' : mode;
      if (endpoint) {
        endpoints[network] = endpoint;
        if (primary === network) delete net.primaryDetached;
      } else {
        delete endpoints[network];
        if (primary === network) net.primaryDetached = true;
      }
      net.endpoints = endpoints;
      await this.store.save(rec);
    });
  }

  // ---- rename / prune -------------------------------------------------------

  /** dockerd's rename: the new name must be free and differ from the old one; a `rename` event. */
  rename(ref: string, newName: string): Promise<void> {
    const rec = this.get(ref.trim());
    if (newName.replace(/^\//, '') === '') throw invalidArgument('Neither old nor new names may be empty');
    return this.lock.run(rec.id, async () => {
      let name: string;
      try {
        // dockerd checks the name with its slash, and shows it so.
        name = checkName(`/${newName.replace(/^\//, '')}`);
      } catch (err) {
        throw invalidArgument(`Error when allocating new name: ${errorText(err)}`, err);
      }
      if (name === rec.name) throw invalidArgument('Renaming a container with the same name as its current name');
      const taken = this.store.nameTaken(name);
      if (taken) throw conflict(`Error when allocating new name: Conflict. The container name "/${name}" is already in use by container "${taken}". You have to remove (or rename) that container to be able to reuse that name.`);
      const oldName = rec.name;
      rec.name = name;
      try {
        await this.store.save(rec);
      } catch (err) {
        rec.name = oldName;
        throw err;
      }
      this.events.emit('container', 'rename', rec.id, { image: rec.image, name, oldName: `/${oldName}` });
    });
  }

  /**
   * `POST /containers/prune`: removes every container that is not running and passes
   * `until` (created before) and `label`/`label!`; `sizeOf` measures what each frees.
   */
  async prune(filters: FilterArgs, sizeOf: (r: ContainerRecord) => Promise<number>): Promise<{ ContainersDeleted: string[] | null; SpaceReclaimed: number }> {
    checkFilterKeys(filters, ['until', 'label', 'label!']);
    const untilValues = filters.get('until') ?? [];
    if (untilValues.length > 1) throw invalidArgument('more than one until filter specified');
    const until = untilValues.length ? parseTimestamp(untilValues[0]!) : undefined;
    const deleted: string[] = [];
    let bytes = 0;
    for (const rec of this.store.list()) {
      if (isLive(rec) || rec.state.status === 'removing') continue;
      if (until !== undefined && !(Date.parse(rec.created) < until)) continue;
      if (!matchLabelArgs(filters, rec.spec.labels)) continue;
      const size = await sizeOf(rec).catch(() => 0);
      try {
        await this.remove(rec.id, false);
      } catch (err) {
        // Started or removed meanwhile: not ours to prune any more.
        log.warn('prune: container not removed', { id: rec.id, error: errorText(err) });
        continue;
      }
      deleted.push(rec.id);
      bytes += size;
    }
    this.events.emit('container', 'prune', '', { reclaimed: String(bytes) });
    return { ContainersDeleted: deleted.length ? deleted : null, SpaceReclaimed: bytes };
  }

  // ---- cp (container-archive.ts) ----------------------------------------------

  statPath(ref: string, path: string): Promise<PathStat> {
    return this.archive.stat(ref, path);
  }

  archivePath(ref: string, path: string, consume: ArchiveConsumer): Promise<void> {
    return this.archive.get(ref, path, consume);
  }

  extractToDir(ref: string, path: string, input: Readable, req: ExtractRequest): Promise<void> {
    return this.archive.put(ref, path, input, req);
  }

  // ---- remove --------------------------------------------------------------

  /**
   * `releaseLater`: answer once the record is in the trash and gone from the store (its id
   * and name are free), and release its bundle, snapshot and network afterwards, as
   * the trash sweep would after a crash (the CRI's RemoveContainer: the kubelet only needs
   * the container gone from the lists). Not with `removeVolumes`.
   */
  remove(ref: string, force: boolean, removeVolumes = false, releaseLater = false): Promise<void> {
    const rec = this.get(ref);
    return this.lock.run(rec.id, async () => {
      if (!this.store.has(rec.id)) throw notFound(`No such container: ${ref}`);
      if (rec.state.status === 'restarting') {
        if (!force) throw conflict(`cannot remove container "/${rec.name}": container is restarting: stop the container before removing or force remove`);
        this.restarts.cancelNext(rec.id);
      } else if (isLive(rec)) {
        if (!force) {
          const why = rec.state.status === 'paused' ? 'container is paused and must be unpaused first' : 'container is running: stop the container before removing or force remove';
          throw conflict(`cannot remove container "/${rec.name}": ${why}`);
        }
        const failure = await this.killHard(rec, () => this.events.emit('container', 'kill', rec.id, { image: rec.image, name: rec.name, signal: '9' }));
        if (failure) throw internal(`cannot remove container "/${rec.name}": could not kill: ${failure}`);
      }
      await this.removeNow(rec, removeVolumes, releaseLater && !removeVolumes);
    });
  }

  /**
   * The record's dir goes to the trash first (one rename, the point of no return: a berthd
   * killed after it does not bring the container back, and finishes the removal when it
   * starts); its bundle and snapshot are renamed away as well, so that the API answers as
   * soon as nothing is left under the container's id and its name is free. The files are
   * deleted in the background (`purging`).
   */
  private async removeNow(rec: ContainerRecord, removeVolumes = false, releaseLater = false): Promise<void> {
    if (!this.store.has(rec.id)) return;
    this.restarts.forget(rec.id);
    const tRemove = traceStart();
    rec.state.status = 'removing';
    await this.store.trash(rec.id);
    const tDiscard = traceStart();
    traceSpan(rec.id, 'remove: record to trash', tRemove, tDiscard);
    const release = () => this.releaseAll(rec.id, rec, removeVolumes || rec.spec.autoRemove).then(() => traceSpan(rec.id, 'remove: bundle, snapshot, volumes, network', tDiscard));
    // Its image was deleted (rmi -f) while it stayed: the layers only it kept go, once it is gone.
    const collect = async () => {
      if (!this.images.has(rec.imageId)) await this.images.collectUnused().catch((err) => log.warn('layer collection failed', { error: String(err) }));
    };
    if (!releaseLater) await release();
    this.store.delete(rec.id);
    if (!releaseLater) await collect();
    traceSpan(rec.id, 'remove', tRemove);
    this.events.emit('container', 'destroy', rec.id, { image: rec.image, name: rec.name });
    this.store.emit('removed', rec.id);
    const purge = (releaseLater ? release().then(collect) : Promise.resolve())
      .then(() => this.store.purge(rec.id))
      .catch((err) => log.warn('container removal: cleanup failed', { id: rec.id, error: String(err) }))
      .finally(() => this.purging.delete(purge));
    this.purging.add(purge);
  }

  /**
   * What a removal frees besides the record: runtime state and bundle, snapshot, volumes
   * (anonymous ones with `removeVolumes`), network, shm. `rec` is missing when a trashed
   * record could not be read: then only what is found under the id goes.
   */
  private async releaseAll(id: string, rec: ContainerRecord | undefined, removeVolumes: boolean): Promise<void> {
    const t0 = traceStart();
    await Promise.all([
      this.runtime.discard(id).then(() => traceSpan(id, 'remove: runtime discard', t0)),
      this.snapshots.remove(id).then(() => traceSpan(id, 'remove: snapshot', t0), (err: unknown) => {
        if (!(err instanceof BerthError && err.kind === 'not-found')) throw err;
      }),
    ]);
    if (!rec) return;
    const t1 = traceStart();
    // --rm removes the container's anonymous volumes too, as in Docker.
    await this.mounts.release(rec, removeVolumes);
    await this.network.tearDown(id).catch((err) => log.warn('network teardown failed', { id, error: String(err) }));
    this.releaseShm(rec);
    traceSpan(id, 'remove: volumes, network, shm', t1);
  }

  /** Removals a killed berthd left in the trash: finished before anything else starts. */
  private async sweepTrash(): Promise<void> {
    let orphanedLayers = false;
    for (const { id, rec } of await this.store.trashed()) {
      try {
        await this.releaseAll(id, rec, false);
        await this.store.purge(id);
        if (rec && !this.images.has(rec.imageId)) orphanedLayers = true;
      } catch (err) {
        log.warn('cannot finish the removal of a container', { id, error: String(err) });
      }
    }
    if (orphanedLayers) await this.images.collectUnused().catch((err) => log.warn('layer collection failed', { error: String(err) }));
  }

  /** Settles once the files of every removal so far are deleted. */
  async removalsSettled(): Promise<void> {
    while (this.purging.size) await Promise.all([...this.purging]);
  }

  // ---- I/O and live operations (container-io.ts, container-live.ts) ----------

  logs(
    ref: string, opts: LogsOptions, write: (e: LogEntry) => void, abort: AbortSignal, pace?: () => Promise<void>,
  ): Promise<void> {
    return this.io.logs(ref, opts, write, abort, pace);
  }

  /**
   * Refuses an attach to a paused or restarting container, in dockerd's words (`ref` as
   * the client named it); called before the connection is taken over.
   */
  checkAttachable(ref: string): void {
    const rec = this.get(ref);
    if (rec.state.status === 'paused') throw conflict(`container ${ref} is paused, unpause the container before attach`);
    if (rec.state.status === 'restarting') throw conflict(`container ${ref} is restarting, wait until the container is running`);
  }

  /** With `withLogs`, everything logged so far first, with nothing lost between. An `attach` event, as dockerd sends. */
  attach(ref: string, write: (e: LogEntry) => void, abort: AbortSignal, onFollowing?: () => void, withLogs = false): Promise<void> {
    const rec = this.get(ref);
    this.events.emit('container', 'attach', rec.id, { image: rec.image, name: rec.name });
    return this.io.attach(ref, write, abort, onFollowing, withLogs);
  }

  openStdin(ref: string, abort: AbortSignal): Promise<StdinConnection | undefined> {
    return this.io.openStdin(ref, abort);
  }

  /** Reopens the log file of a running container (the CRI's ReopenContainerLog). */
  reopenLog(ref: string): void {
    const rec = this.get(ref);
    if (rec.state.status !== 'running') throw conflict(`container ${rec.id} is not running`);
    if (!this.runtime.reopenLog?.(rec.id)) throw internal(`cannot ask the monitor of container ${rec.id} to reopen its log`);
  }

  resize(ref: string, height: number, width: number): void {
    this.io.resize(ref, height, width);
  }

  pause(ref: string): Promise<void> {
    return this.live.pause(ref);
  }

  unpause(ref: string): Promise<void> {
    return this.live.unpause(ref);
  }

  update(ref: string, u: UpdateOptions): Promise<string[]> {
    return this.live.update(ref, u);
  }

  stats(ref: string): ContainerStatsSample {
    return this.live.stats(ref);
  }

  top(ref: string, psArgs?: string): Promise<{ titles: string[]; processes: string[][] }> {
    return this.live.top(ref, psArgs);
  }
}

/** `busybox` → `busybox:latest`, as dockerd names a missing image; ids and bad names unchanged. */
function nameWithTag(image: string): string {
  if (/^(sha256:)?[0-9a-f]{12,64}$/.test(image)) return image;
  try {
    return familiarString(withDefaultTag(parseReference(image)));
  } catch {
    return image;
  }
}

const LOST_MONITOR_SWEEP_MS = 2000;
/** Containers checked by the lost-monitor sweep between two turns of the event loop. */
const SWEEP_BATCH = 50;

/** How long after a stop signal its re-sending is considered (see resendOnceCaught). */
const RESEND_WINDOW_MS = 1000;

