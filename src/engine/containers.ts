/**
 * Container use cases. Each container's durable record is
 * `<dataRoot>/containers/<id>/container.json`; its log and exit code are kept by
 * conmon (runtime/monitor.ts), so nothing about a running container lives only
 * in this process. Lifecycle operations on one container are serialized by a
 * per-id mutex; exit handling is idempotent and runs outside it, because stop()
 * waits for the exit while holding the lock.
 */
import { EventEmitter } from 'node:events';
import { promises as fsp, readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import {
  BerthError,
  conflict,
  internal,
  invalidArgument,
  isErrno,
  log,
  newContainerId,
  notFound,
  mergeImageEnv,
  notModified,
  type ContainerId,
  type Digest,
} from '../common';
import { familiarString, parseReference, withDefaultTag, type ImageRecord } from '../image';
import {
  DEFAULT_SHM_SIZE,
  Monitor,
  LogFollower,
  mountShm,
  unmountShm,
  detectCgroupMode,
  detectSysInfo,
  discardUnsupported,
  execFailure,
  hostBoundingCapabilities,
  readHostRlimits,
  cgroupDirs,
  cgroupPids,
  cgroupsPath,
  readCgroupSample,
  hostCpuSample,
  listProcesses,
  netDevOf,
  readOomKills,
  type CgroupSample,
  type NetDevStats,
  logSize,
  readLog,
  resolveUser,
  serializeSpec,
  type HostFacts,
  type IdMappings,
  type SysInfo,
  type ToolVersion,
  toolVersion,
  hostCpuset,
  updateResources,
  type ResourceOptions,
  type LogEntry,
  AttachSocket,
  resizeTerminal,
  rootPair,
  type DiscardableResources,
} from '../runtime';
import { writeJSONAtomic } from '../state';
import type { Snapshotter } from '../storage';
import type { ImageService } from './images';
import { afterCreate, buildSpec, checkHostConfig, discardUnsupportedLimits, initBinaryPath, shareableShmPath } from './container-spec';
import { NO_MOUNTS, type ContainerMounts } from './container-mounts';
import { checkLogConfig } from './log-config';
import { KeyedMutex } from '../state';
import { checkName, randomName } from './names';

export type ContainerStatus = 'created' | 'running' | 'paused' | 'restarting' | 'removing' | 'exited' | 'dead';

/** What a client asks for; Docker's fields in our own words. */
export interface CreateContainerOptions {
  name?: string;
  image: string;
  cmd?: string[] | null;
  entrypoint?: string[] | null;
  env?: string[] | null;
  workingDir?: string;
  user?: string;
  hostname?: string;
  domainname?: string;
  labels?: Record<string, string> | null;
  tty?: boolean;
  openStdin?: boolean;
  stopSignal?: string;
  stopTimeout?: number | null;
  autoRemove?: boolean;
  /** The request's Config and HostConfig as sent, echoed back by inspect. */
  rawConfig: Record<string, unknown>;
  rawHostConfig: Record<string, unknown>;
}

export interface ContainerState {
  status: ContainerStatus;
  pid: number;
  exitCode: number;
  error: string;
  oomKilled: boolean;
  startedAt: string;
  finishedAt: string;
}

/** The durable record of one container. */
export interface ContainerRecord {
  id: ContainerId;
  name: string;
  created: string;
  /** The image as the user named it. */
  image: string;
  imageId: Digest;
  path: string;
  args: string[];
  /** Effective config after merging the image's: Docker's Config shape. */
  config: Record<string, unknown> & { Env: string[]; Cmd: string[] | null; Entrypoint: string[] | null; WorkingDir: string; User: string; Hostname: string; Labels: Record<string, string>; Tty: boolean; StopSignal?: string; StopTimeout?: number | null };
  hostConfig: Record<string, unknown> & { AutoRemove?: boolean };
  state: ContainerState;
  restartCount: number;
  logPath: string;
  hostnamePath: string;
  hostsPath: string;
  resolvConfPath: string;
}

export type WaitCondition = 'not-running' | 'next-exit' | 'removed';

const ZERO_TIME = '0001-01-01T00:00:00Z';

export interface ContainerEvents {
  /** Docker event actions: create, start, die, kill, stop, destroy … */
  emit(type: 'container', action: string, id: string, attributes: Record<string, string>): void;
}

/** How long stop waits for an exit after a signal it could not send (dockerd's 2 s). */
const STOP_GRACE_MS = 2000;

const isLive = (r: ContainerRecord) => r.state.status === 'running' || r.state.status === 'paused';
const errorText = (err: unknown) => (err instanceof Error ? err.message : String(err));

export class ContainerService {
  private readonly records = new Map<ContainerId, ContainerRecord>();
  private readonly lock = new KeyedMutex();
  /** 'exit:<id>' after each exit is recorded, 'removed:<id>' after removal. */
  private readonly signals = new EventEmitter();
  /** Read once: the spec generator would otherwise read /proc on every start. */
  private readonly host: HostFacts = { cgroupMode: detectCgroupMode(), capabilities: hostBoundingCapabilities(), rlimits: readHostRlimits() };
  /** The cgroup controls this host offers, probed once (`docker info` shows the missing ones). */
  readonly sysinfo: SysInfo = detectSysInfo();
  /** The `--init` binary's version (docker-init in `docker version`), read by init(). */
  initVersion: ToolVersion | undefined;
  /** The daemon's --userns-remap mappings (set once while wiring the engine). */
  private userns: IdMappings | undefined;

  constructor(
    private readonly dataRoot: string,
    private readonly execRoot: string,
    private readonly images: ImageService,
    private readonly snapshots: Snapshotter,
    private readonly monitor: Monitor,
    private readonly events: ContainerEvents,
    private readonly mounts: ContainerMounts = NO_MOUNTS,
  ) {
    this.signals.setMaxListeners(0);
  }

  /** Turns on user-namespace remapping for every container (berthd --userns-remap). */
  useUserns(m: IdMappings): void {
    this.userns = m;
  }

  private dir(id: string): string {
    return join(this.dataRoot, 'containers', id);
  }
  private bundle(id: string): string {
    return join(this.execRoot, 'containers', id);
  }

  /** Loads every record and reconciles it with what conmon and runc report. */
  async init(): Promise<void> {
    await fsp.mkdir(join(this.dataRoot, 'containers'), { recursive: true });
    await fsp.mkdir(join(this.execRoot, 'containers'), { recursive: true });
    for (const id of readdirSync(join(this.dataRoot, 'containers'))) {
      try {
        const rec = JSON.parse(readFileSync(join(this.dir(id), 'container.json'), 'utf8')) as ContainerRecord;
        this.records.set(rec.id, rec);
      } catch (err) {
        log.warn('skipping unreadable container record', { id, error: String(err) });
      }
    }
    const init = initBinaryPath();
    if (init) this.initVersion = await toolVersion(init);
    this.monitor.watchExits((id) => void this.checkExit(id as ContainerId));
    // A conmon that dies (killed, OOM) leaves no exit file: look for such containers now and then.
    setInterval(() => void this.sweepLostMonitors(), LOST_MONITOR_SWEEP_MS).unref();
    for (const rec of this.records.values()) {
      if (rec.state.status === 'removing') await this.removeNow(rec).catch((err) => log.warn('removal failed', { id: rec.id, error: String(err) }));
      else if (rec.state.status === 'running' || rec.state.status === 'paused') await this.reconcile(rec);
    }
  }

  private async reconcile(rec: ContainerRecord): Promise<void> {
    if (await this.checkExit(rec.id)) return;
    const st = await this.monitor.state(rec.id).catch(() => undefined);
    if (st && (st.status === 'running' || st.status === 'paused')) {
      rec.state.pid = st.pid;
      rec.state.status = st.status;
      return;
    }
    // Neither an exit file nor a live process: conmon died with the container.
    await this.recordExit(rec, 255, new Date(), 'container monitor exited without recording an exit code');
  }

  // ---- lookup --------------------------------------------------------------

  /** By full id, name (with or without '/'), or unique id prefix. */
  get(ref: string): ContainerRecord {
    const byId = this.records.get(ref as ContainerId);
    if (byId) return byId;
    const name = ref.replace(/^\//, '');
    for (const r of this.records.values()) if (r.name === name) return r;
    if (/^[a-f0-9]+$/.test(ref)) {
      const matches = [...this.records.values()].filter((r) => r.id.startsWith(ref));
      if (matches.length === 1) return matches[0]!;
      if (matches.length > 1) throw invalidArgument(`multiple containers found with provided prefix: ${ref}`);
    }
    throw notFound(`No such container: ${ref}`);
  }

  list(): ContainerRecord[] {
    return [...this.records.values()].sort((a, b) => (a.created < b.created ? 1 : a.created > b.created ? -1 : 0));
  }

  /** The top image layer (chainID) under each container's root, for the image garbage collector. */
  async layersInUse(): Promise<Digest[]> {
    const out: Digest[] = [];
    for (const r of this.records.values()) {
      const parent = (await this.snapshots.info(r.id).catch(() => undefined))?.parent;
      if (parent) out.push(parent);
    }
    return out;
  }

  usersOfImage(imageId: Digest): { id: string; running: boolean }[] {
    return this.list().filter((r) => r.imageId === imageId).map((r) => ({ id: r.id, running: r.state.status === 'running' || r.state.status === 'paused' }));
  }

  // ---- create --------------------------------------------------------------

  /** `warnings`: what was accepted but is not applied (a limit this host lacks…), for the client. */
  async create(o: CreateContainerOptions): Promise<{ record: ContainerRecord; warnings: string[] }> {
    const name = o.name ? checkName(o.name) : randomName((n) => !!this.nameTaken(n));
    const taken = this.nameTaken(name);
    if (taken) throw conflict(`Conflict. The container name "/${name}" is already in use by container "${taken}". You have to remove (or rename) that container to be able to reuse that name.`);
    let img: ImageRecord;
    try {
      img = this.images.resolve(o.image);
    } catch (err) {
      if (err instanceof BerthError && err.kind === 'not-found') throw notFound(`No such image: ${nameWithTag(o.image)}`, err);
      throw err;
    }
    const ic = img.config.config ?? {};
    const entrypoint = o.entrypoint !== undefined && o.entrypoint !== null ? o.entrypoint : ic.Entrypoint ?? null;
    // A new entrypoint drops the image's CMD, as in Docker.
    const cmd = o.cmd && o.cmd.length ? o.cmd : o.entrypoint !== undefined && o.entrypoint !== null ? null : ic.Cmd ?? null;
    const argv = [...(entrypoint ?? []), ...(cmd ?? [])];
    if (argv.length === 0) throw invalidArgument('No command specified');
    const warnings = discardUnsupportedLimits(o.rawHostConfig, this.sysinfo);
    const log = checkLogConfig(o.rawHostConfig.LogConfig as Parameters<typeof checkLogConfig>[0]);
    o.rawHostConfig.LogConfig = log.logConfig;
    warnings.push(...log.warnings);
    checkHostConfig(o.rawHostConfig, this.host, this.userns);
    const id = newContainerId();
    for (const e of o.env ?? []) if (e.startsWith('=') || e === '') throw invalidArgument(`invalid environment variable: ${e}`);
    const env = mergeImageEnv(o.env ?? [], ic.Env ?? []);
    const dir = this.dir(id);
    const rec: ContainerRecord = {
      id,
      name,
      created: new Date().toISOString(),
      image: o.image,
      imageId: img.id,
      path: argv[0]!,
      args: argv.slice(1),
      config: {
        ...o.rawConfig,
        Hostname: o.hostname || id.slice(0, 12),
        Domainname: o.domainname ?? '',
        User: o.user ?? ic.User ?? '',
        Tty: !!o.tty,
        OpenStdin: !!o.openStdin,
        Env: env,
        Cmd: cmd,
        Entrypoint: entrypoint,
        Image: o.image,
        WorkingDir: o.workingDir || ic.WorkingDir || '',
        Labels: { ...(ic.Labels ?? {}), ...(o.labels ?? {}) },
        ...(o.stopSignal || ic.StopSignal ? { StopSignal: o.stopSignal || ic.StopSignal } : {}),
        ...(o.stopTimeout !== undefined && o.stopTimeout !== null ? { StopTimeout: o.stopTimeout } : {}),
      },
      hostConfig: { ...o.rawHostConfig, AutoRemove: !!o.autoRemove },
      state: { status: 'created', pid: 0, exitCode: 0, error: '', oomKilled: false, startedAt: ZERO_TIME, finishedAt: ZERO_TIME },
      restartCount: 0,
      logPath: join(dir, 'container.log'),
      hostnamePath: join(dir, 'hostname'),
      hostsPath: join(dir, 'hosts'),
      resolvConfPath: join(dir, 'resolv.conf'),
    };
    // Claim the name before any await so two concurrent creates cannot both take it.
    this.records.set(id, rec);
    try {
      await fsp.mkdir(dir, { recursive: true });
      const top = this.images.chain(img).at(-1) ?? null;
      await this.snapshots.prepare(id, top, top ? await this.images.layers.linkChain(top) : []);
      await this.mounts.prepare(rec, Object.keys(ic.Volumes ?? {}));
      await this.save(rec, true);
    } catch (err) {
      this.records.delete(id);
      await this.snapshots.remove(id).catch(() => undefined);
      await fsp.rm(dir, { recursive: true, force: true });
      throw err;
    }
    this.events.emit('container', 'create', id, { image: rec.image, name: rec.name });
    return { record: rec, warnings };
  }

  private nameTaken(name: string): string | undefined {
    for (const r of this.records.values()) if (r.name === name) return r.id;
    return undefined;
  }

  /**
   * The record's state changes on every start and exit; what conmon and runc keep
   * lets init() correct it after a crash, so only the first write (at create) waits
   * for the disk.
   */
  private async save(rec: ContainerRecord, durable = false): Promise<void> {
    await writeJSONAtomic(join(this.dir(rec.id), 'container.json'), rec, { durable });
  }

  // ---- start ---------------------------------------------------------------

  start(ref: string): Promise<void> {
    const rec = this.get(ref);
    return this.lock.run(rec.id, () => this.startLocked(rec));
  }

  private async startLocked(rec: ContainerRecord): Promise<void> {
    if (!this.records.has(rec.id)) throw notFound(`No such container: ${rec.id}`);
    if (rec.state.status === 'running' || rec.state.status === 'paused') throw notModified('container already started');
    if (rec.state.status === 'removing') throw conflict(`cannot start container ${rec.id}: it is being removed`);
    const bundle = this.bundle(rec.id);
    try {
      const rootfs = await this.snapshots.mount(rec.id);
      const [mounts] = await Promise.all([this.mounts.specMounts(rec, rootfs), this.writeEtcFiles(rec), fsp.mkdir(bundle, { recursive: true })]);
      if (rec.hostConfig.IpcMode === 'shareable') mountShm(shareableShmPath(rec), Number(rec.hostConfig.ShmSize) || DEFAULT_SHM_SIZE);
      const user = resolveUser(rootfs, rec.config.User);
      const spec = buildSpec(rec, {
        host: this.host,
        rootfs,
        user,
        mounts,
        lookup: (ref) => this.get(ref),
        ...(this.userns ? { userns: this.userns } : {}),
      });
      // The client's terminal size at create (docker run -t): the TTY starts with it, before any resize call.
      const cs = rec.hostConfig.ConsoleSize;
      if (rec.config.Tty && Array.isArray(cs) && cs.length === 2 && cs.every((n) => Number.isInteger(n) && n > 0)) {
        (spec.process as { consoleSize?: { height: number; width: number } }).consoleSize = { height: cs[0] as number, width: cs[1] as number };
      }
      await fsp.writeFile(join(bundle, 'config.json'), serializeSpec(spec));
      if (this.monitor.known(rec.id)) await this.monitor.remove(rec.id); // a stale runc state would block create
      const pid = await this.monitor.create({ id: rec.id, name: rec.name, bundle, logPath: rec.logPath, tty: rec.config.Tty, stdin: !!rec.config.OpenStdin, stdinOnce: !!rec.config.StdinOnce });
      // Stdin attaches connect now, before the process runs, so no input is early.
      this.signals.emit(`created:${rec.id}`);
      afterCreate(rec, this.host);
      await this.monitor.start(rec.id);
      rec.state = { ...rec.state, status: 'running', pid, exitCode: 0, error: '', oomKilled: false, startedAt: new Date().toISOString(), finishedAt: ZERO_TIME };
      await this.save(rec);
    } catch (err) {
      await this.monitor.remove(rec.id).catch(() => undefined);
      await this.snapshots.unmount(rec.id).catch(() => undefined);
      await this.mounts.stopped(rec).catch(() => undefined);
      const msg = err instanceof Error ? err.message : String(err);
      rec.state.error = msg;
      const why = execFailure(msg);
      rec.state.exitCode = why === 'not-found' ? 127 : why === 'not-executable' ? 126 : 128;
      if (rec.state.startedAt !== ZERO_TIME) rec.state.status = 'exited';
      await this.save(rec).catch(() => undefined);
      // Like dockerd: a container that could not start and asked for --rm is removed at once.
      if (rec.hostConfig.AutoRemove) await this.removeNow(rec).catch((e) => log.warn('auto-remove failed', { id: rec.id, error: String(e) }));
      if (err instanceof BerthError && err.kind !== 'internal') throw err;
      // A command that cannot be executed is the caller's mistake (dockerd answers 400 too).
      if (rec.state.exitCode !== 128) throw invalidArgument(`failed to create task for container: ${msg}`, err);
      throw internal(`failed to create task for container: ${msg}`, err);
    }
    this.events.emit('container', 'start', rec.id, { image: rec.image, name: rec.name });
    // It may have exited before we recorded it as running: the exit event was then ignored.
    void this.checkExit(rec.id);
  }

  private async writeEtcFiles(rec: ContainerRecord): Promise<void> {
    const resolv = async () => {
      let text = '';
      try {
        text = await fsp.readFile('/etc/resolv.conf', 'utf8');
      } catch {
        // no host resolver config: the container gets an empty one
      }
      // Loopback resolvers of the host are unreachable from the container's own network namespace.
      await fsp.writeFile(rec.resolvConfPath, text.split('\n').filter((l) => !/^\s*nameserver\s+(127\.|::1\s*$)/.test(l)).join('\n'));
    };
    await Promise.all([
      fsp.writeFile(rec.hostnamePath, `${rec.config.Hostname}\n`),
      fsp.writeFile(
        rec.hostsPath,
        '127.0.0.1\tlocalhost\n::1\tlocalhost ip6-localhost ip6-loopback\nfe00::0\tip6-localnet\nff00::0\tip6-mcastprefix\nff02::1\tip6-allnodes\nff02::2\tip6-allrouters\n',
      ),
      resolv(),
    ]);
    if (this.userns) {
      // The remapped root must be able to write its own /etc/hosts and friends.
      const { uid, gid } = rootPair(this.userns);
      await Promise.all([rec.hostnamePath, rec.hostsPath, rec.resolvConfPath].map((p) => fsp.chown(p, uid, gid)));
    }
  }

  // ---- exit ----------------------------------------------------------------

  /**
   * Records the exit if conmon has written the exit file, or if conmon is gone without one and
   * runc sees no live process (nobody will ever report that exit: 255, as at startup).
   * True when the container is known to have exited.
   */
  private async checkExit(id: ContainerId): Promise<boolean> {
    const rec = this.records.get(id);
    if (!rec || (rec.state.status !== 'running' && rec.state.status !== 'paused')) return false;
    const exit = await this.monitor.exitCode(id);
    if (exit) {
      await this.recordExit(rec, exit.code, exit.at, '');
      return true;
    }
    if ((await this.monitor.conmonPid(this.bundle(id))) !== undefined) return false;
    const st = await this.monitor.state(id).catch(() => undefined);
    if (st && (st.status === 'running' || st.status === 'paused')) return false;
    // conmon writes the exit file before it exits: look once more before calling the exit lost.
    const late = await this.monitor.exitCode(id);
    if (late) await this.recordExit(rec, late.code, late.at, '');
    else await this.recordExit(rec, 255, new Date(), 'container monitor exited without recording an exit code');
    return true;
  }

  private sweeping = false;

  private async sweepLostMonitors(): Promise<void> {
    if (this.sweeping) return;
    this.sweeping = true;
    try {
      for (const rec of [...this.records.values()]) {
        if (rec.state.status === 'running' || rec.state.status === 'paused') await this.checkExit(rec.id).catch(() => undefined);
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
    if (rec.state.status !== 'running' && rec.state.status !== 'paused') return;
    const finish = this.finishExit(rec, code, at, error).finally(() => this.finishing.delete(rec.id));
    this.finishing.set(rec.id, finish);
    await finish;
    if (rec.hostConfig.AutoRemove) {
      await this.lock.run(rec.id, () => this.removeNow(rec)).catch((err) => log.warn('auto-remove failed', { id: rec.id, error: String(err) }));
    }
  }

  /** Unmounts a shareable container's host-side /dev/shm (joiners keep theirs until they exit). */
  private releaseShm(rec: ContainerRecord): void {
    if (rec.hostConfig.IpcMode !== 'shareable') return;
    try {
      unmountShm(shareableShmPath(rec));
    } catch (err) {
      log.warn('cannot unmount shm', { id: rec.id, error: String(err) });
    }
  }

  /** Cleans up after an exit, records it, and tells waiters; not the auto-removal. */
  private async finishExit(rec: ContainerRecord, code: number, at: Date, error: string): Promise<void> {
    const oomKilled = this.oomKilled(rec.id);
    await this.monitor.remove(rec.id).catch((err) => log.warn('runc delete failed', { id: rec.id, error: String(err) }));
    await this.snapshots.unmount(rec.id).catch((err) => log.warn('unmount failed', { id: rec.id, error: String(err) }));
    this.releaseShm(rec);
    await this.mounts.stopped(rec).catch((err) => log.warn('volume unmount failed', { id: rec.id, error: String(err) }));
    rec.state = { ...rec.state, status: 'exited', pid: 0, exitCode: code, error, oomKilled, finishedAt: at.toISOString() };
    await this.save(rec).catch((err) => log.error('cannot save container state', { id: rec.id, error: String(err) }));
    if (rec.state.oomKilled) this.events.emit('container', 'oom', rec.id, { image: rec.image, name: rec.name });
    this.events.emit('container', 'die', rec.id, { exitCode: String(code), image: rec.image, name: rec.name });
    this.signals.emit(`exit:${rec.id}`, code);
  }

  private nextExit(id: string, timeoutMs?: number): Promise<boolean> {
    return new Promise((resolve) => {
      const done = (v: boolean) => {
        this.signals.off(`exit:${id}`, onExit);
        this.signals.off(`removed:${id}`, onExit);
        if (timer) clearTimeout(timer);
        resolve(v);
      };
      const onExit = () => done(true);
      this.signals.once(`exit:${id}`, onExit);
      this.signals.once(`removed:${id}`, onExit);
      const timer = timeoutMs !== undefined ? setTimeout(() => done(false), timeoutMs) : undefined;
    });
  }

  // ---- stop / kill ---------------------------------------------------------

  stop(ref: string, timeoutSec?: number, signal?: string): Promise<void> {
    const rec = this.get(ref);
    return this.lock.run(rec.id, async () => {
      if (rec.state.status !== 'running' && rec.state.status !== 'paused') throw notModified('container already stopped');
      await this.stopLocked(rec, timeoutSec, signal);
      this.events.emit('container', 'stop', rec.id, { image: rec.image, name: rec.name });
    });
  }

  private async stopLocked(rec: ContainerRecord, timeoutSec?: number, signal?: string): Promise<void> {
    const t = timeoutSec ?? rec.config.StopTimeout ?? 10;
    const sig = signal || rec.config.StopSignal || 'SIGTERM';
    const signalError = await this.monitor.kill(rec.id, normalizeSignal(sig)).then(() => undefined, (err: unknown) => err);
    await this.thawAfterSignal(rec);
    // As dockerd: a stop signal that could not be sent leaves a short grace, not the whole timeout.
    const exited = this.nextExit(rec.id, t < 0 ? undefined : signalError ? STOP_GRACE_MS : t * 1000);
    if (!isLive(rec) || (await this.checkExit(rec.id)) || (await exited)) return;
    if (signalError) log.warn('stop signal not delivered', { id: rec.id, signal: sig, error: errorText(signalError) });
    const failure = await this.killHard(rec);
    if (failure) throw internal(`cannot stop container: ${rec.name}: ${failure}`);
  }

  /**
   * SIGKILL for every process of the container and the wait for its exit; what went wrong
   * when it did not exit. As dockerd, a container runc cannot signal has its init process
   * killed directly (its PID namespace goes with it); runc's error is kept for the answer.
   * `signalled` runs once the signal is sent, before the wait (for the kill event).
   */
  private async killHard(rec: ContainerRecord, signalled?: () => void): Promise<string | undefined> {
    const killed = this.nextExit(rec.id, 30_000);
    const runcError = await this.monitor.kill(rec.id, 'KILL', true).then(() => undefined, (err: unknown) => err);
    if (runcError) {
      log.warn('runc could not kill the container: killing its init process directly', { id: rec.id, pid: rec.state.pid, error: errorText(runcError) });
      try {
        if (rec.state.pid > 0) process.kill(rec.state.pid, 'SIGKILL');
      } catch (err) {
        if (!isErrno(err, 'ESRCH')) return `${errorText(runcError)}; killing pid ${rec.state.pid}: ${errorText(err)}`;
      }
    }
    signalled?.();
    if (!isLive(rec) || (await this.checkExit(rec.id)) || (await killed)) return undefined;
    return runcError ? errorText(runcError) : 'tried to kill container, but did not receive an exit event';
  }

  async kill(ref: string, signal = 'SIGKILL'): Promise<void> {
    const rec = this.get(ref);
    const sig = normalizeSignal(signal);
    if (rec.state.status !== 'running' && rec.state.status !== 'paused') throw conflict(`Cannot kill container: ${ref}: Container ${rec.id} is not running`);
    const exited = sig === 'KILL' ? this.nextExit(rec.id, 30_000) : undefined;
    await this.monitor.kill(rec.id, sig, sig === 'KILL');
    await this.thawAfterSignal(rec);
    this.events.emit('container', 'kill', rec.id, { image: rec.image, name: rec.name, signal: String(signalNumber(sig)) });
    if (exited && !(await this.checkExit(rec.id))) await exited;
  }

  async restart(ref: string, timeoutSec?: number, signal?: string): Promise<void> {
    const rec = this.get(ref);
    await this.lock.run(rec.id, async () => {
      if (rec.state.status === 'running' || rec.state.status === 'paused') await this.stopLocked(rec, timeoutSec, signal);
    });
    rec.restartCount = 0;
    await this.start(rec.id);
    this.events.emit('container', 'restart', rec.id, { image: rec.image, name: rec.name });
  }

  // ---- wait ----------------------------------------------------------------

  /** Resolves with the exit code once the condition holds. */
  async wait(ref: string, condition: WaitCondition = 'not-running', abort?: AbortSignal): Promise<number> {
    const rec = this.get(ref);
    const running = () => rec.state.status === 'running' || rec.state.status === 'paused';
    if (condition === 'not-running' && !running()) return rec.state.exitCode;
    if (condition === 'removed' && !this.records.has(rec.id)) return rec.state.exitCode;
    const event = condition === 'removed' ? `removed:${rec.id}` : `exit:${rec.id}`;
    return await new Promise<number>((resolve, reject) => {
      const done = () => {
        abort?.removeEventListener('abort', onAbort);
        resolve(rec.state.exitCode);
      };
      const onAbort = () => {
        this.signals.off(event, done);
        reject(new Error('wait aborted'));
      };
      this.signals.once(event, done);
      abort?.addEventListener('abort', onAbort);
    });
  }

  // ---- remove --------------------------------------------------------------

  remove(ref: string, force: boolean, removeVolumes = false): Promise<void> {
    const rec = this.get(ref);
    return this.lock.run(rec.id, async () => {
      if (!this.records.has(rec.id)) throw notFound(`No such container: ${ref}`);
      if (rec.state.status === 'running' || rec.state.status === 'paused') {
        if (!force) throw conflict(`You cannot remove a running container ${rec.id}. Stop the container before attempting removal or force remove`);
        const failure = await this.killHard(rec, () => this.events.emit('container', 'kill', rec.id, { image: rec.image, name: rec.name, signal: '9' }));
        if (failure) throw internal(`cannot remove container "/${rec.name}": could not kill: ${failure}`);
      }
      await this.removeNow(rec, removeVolumes);
    });
  }

  private async removeNow(rec: ContainerRecord, removeVolumes = false): Promise<void> {
    if (!this.records.has(rec.id)) return;
    rec.state.status = 'removing';
    await this.save(rec).catch(() => undefined);
    await Promise.all([
      this.monitor.known(rec.id) ? this.monitor.remove(rec.id) : undefined,
      this.snapshots.remove(rec.id),
      fsp.rm(this.bundle(rec.id), { recursive: true, force: true }),
    ]);
    // --rm removes the container's anonymous volumes too, as in Docker.
    await this.mounts.release(rec, removeVolumes || !!rec.hostConfig.AutoRemove);
    this.releaseShm(rec);
    // The record goes last: until then a restarted daemon finishes the removal.
    await fsp.rm(this.dir(rec.id), { recursive: true, force: true });
    this.records.delete(rec.id);
    // Its image was deleted (rmi -f) while it stayed: the layers only it kept go now.
    if (!this.images.get(rec.imageId)) await this.images.collect('all').catch((err) => log.warn('layer collection failed', { error: String(err) }));
    this.events.emit('container', 'destroy', rec.id, { image: rec.image, name: rec.name });
    this.signals.emit(`removed:${rec.id}`);
  }

  // ---- logs and attach -----------------------------------------------------

  /**
   * Writes the container's log entries: everything, or the last `tail`, then
   * (with follow) new ones until the container stops or `abort` fires.
   */
  async logs(ref: string, opts: { follow?: boolean; tail?: number; since?: number; until?: number }, write: (e: LogEntry) => void, abort: AbortSignal): Promise<void> {
    const rec = this.get(ref);
    const { entries, end } = await readLog(rec.logPath);
    const inWindow = (e: LogEntry) => {
      const t = Date.parse(e.time) / 1000;
      return (opts.since === undefined || t >= opts.since) && (opts.until === undefined || t <= opts.until);
    };
    let shown = entries.filter(inWindow);
    if (opts.tail !== undefined && opts.tail >= 0) shown = opts.tail === 0 ? [] : shown.slice(-opts.tail);
    for (const e of shown) write(e);
    if (!opts.follow || rec.state.status !== 'running' || abort.aborted) return;
    await this.followUntilExit(rec, end, (e) => inWindow(e) && write(e), abort);
  }

  /**
   * Streams output written from now on until the container's next exit (attach);
   * with `withLogs`, everything logged so far first, with nothing lost between.
   */
  async attach(ref: string, write: (e: LogEntry) => void, abort: AbortSignal, onFollowing?: () => void, withLogs = false): Promise<void> {
    const rec = this.get(ref);
    // A container that is not running yet (or any more) streams its next run, as
    // `docker start -a` expects: it attaches first and starts afterwards.
    const offset = withLogs ? 0 : await logSize(rec.logPath);
    // Input may be sent from here on: its answer lands past `offset`.
    onFollowing?.();
    await this.followUntilExit(rec, offset, write, abort);
  }

  /**
   * Connects to the container's stdin (through conmon's attach socket): now when
   * it runs, else at its next start, before its process runs. Undefined when the
   * container was not created with OpenStdin, or `abort` fired first. The caller
   * closes the socket; ending it closes the container's stdin when StdinOnce.
   */
  async openStdin(ref: string, abort: AbortSignal): Promise<AttachSocket | undefined> {
    const rec = this.get(ref);
    if (!rec.config.OpenStdin || abort.aborted) return undefined;
    const connect = (): AttachSocket | undefined => {
      try {
        return AttachSocket.connect(this.bundle(rec.id));
      } catch (err) {
        log.warn('cannot attach to container stdin', { id: rec.id, error: String(err) });
        return undefined;
      }
    };
    if (rec.state.status === 'running' || rec.state.status === 'paused') return connect();
    return await new Promise<AttachSocket | undefined>((resolve) => {
      const onCreated = () => {
        abort.removeEventListener('abort', onAbort);
        resolve(connect());
      };
      const onAbort = () => {
        this.signals.off(`created:${rec.id}`, onCreated);
        resolve(undefined);
      };
      this.signals.once(`created:${rec.id}`, onCreated);
      abort.addEventListener('abort', onAbort, { once: true });
    });
  }

  /** Resizes the container's TTY (conmon's ctl fifo); a no-op without TTY or when not running. */
  resize(ref: string, height: number, width: number): void {
    const rec = this.get(ref);
    if (!rec.config.Tty || rec.state.status !== 'running') return;
    resizeTerminal(this.bundle(rec.id), height, width);
  }

  private async followUntilExit(rec: ContainerRecord, offset: number, write: (e: LogEntry) => void, abort: AbortSignal): Promise<void> {
    const exited = this.nextExit(rec.id);
    const follower = new LogFollower(rec.logPath, offset, write);
    const aborted = new Promise<void>((resolve) => {
      if (abort.aborted) resolve();
      abort.addEventListener('abort', () => resolve(), { once: true });
    });
    await Promise.race([exited, aborted]);
    if (abort.aborted) follower.stop();
    else await follower.drain();
    this.signals.emit(`exit-wait-done:${rec.id}`);
  }

  // ---- operations: pause, update, stats, top (accounting and live control) ----

  private cgroupDirsOf(id: string): Record<string, string> {
    return cgroupDirs(this.host.cgroupMode ?? detectCgroupMode(), cgroupsPath('/berth', id));
  }

  /** Whether the kernel OOM-killed a process of the container's current cgroup. */
  private oomKilled(id: string): boolean {
    try {
      return readOomKills(this.host.cgroupMode ?? detectCgroupMode(), this.cgroupDirsOf(id)) > 0;
    } catch (err) {
      log.warn('cannot read the OOM counter', { id, error: String(err) });
      return false;
    }
  }

  /** A signal queued to a frozen process waits for the thaw: stop and kill thaw, as dockerd does. */
  private async thawAfterSignal(rec: ContainerRecord): Promise<void> {
    if (rec.state.status !== 'paused') return;
    try {
      await this.monitor.resume(rec.id);
    } catch {
      // `runc kill --all` thaws by itself, and a container that already exited cannot be resumed.
      return;
    }
    // The exit may have been recorded while runc ran: never turn it back into running.
    if (rec.state.status !== 'paused') return;
    rec.state.status = 'running';
    await this.save(rec).catch(() => undefined);
  }

  /** Labels of a container, for event attributes (Docker adds them to every container event). */
  eventLabels(id: string): Record<string, string> | undefined {
    return this.records.get(id as ContainerId)?.config.Labels;
  }

  pause(ref: string): Promise<void> {
    const rec = this.get(ref);
    return this.lock.run(rec.id, async () => {
      if (rec.state.status === 'paused') throw conflict(`Container ${rec.id} is already paused`);
      if (rec.state.status !== 'running') throw conflict(`Container ${rec.id} is not running`);
      await this.monitor.pause(rec.id);
      rec.state.status = 'paused';
      await this.save(rec);
      this.events.emit('container', 'pause', rec.id, { image: rec.image, name: rec.name });
    });
  }

  unpause(ref: string): Promise<void> {
    const rec = this.get(ref);
    return this.lock.run(rec.id, async () => {
      if (rec.state.status !== 'paused') throw conflict(`Container ${rec.id} is not paused`);
      await this.monitor.resume(rec.id);
      rec.state.status = 'running';
      await this.save(rec);
      this.events.emit('container', 'unpause', rec.id, { image: rec.image, name: rec.name });
    });
  }

  /**
   * Changes resource limits (Docker's update semantics: an absent or zero field keeps
   * its value) and the restart policy. A running or paused container gets them at
   * once through `runc update`; the record's HostConfig keeps them for later starts.
   */
  update(ref: string, u: UpdateOptions): Promise<string[]> {
    const rec = this.get(ref);
    return this.lock.run(rec.id, async () => {
      const warnings = discardUnsupported(u, this.sysinfo);
      const hc = rec.hostConfig as Record<string, unknown>;
      const cur = (k: string): number => (typeof hc[k] === 'number' ? (hc[k] as number) : 0);
      const set = (v: number | undefined): v is number => v !== undefined && v !== 0;
      const current: ResourceOptions = {
        memory: cur('Memory'), memorySwap: cur('MemorySwap'), memoryReservation: cur('MemoryReservation'),
        nanoCpus: cur('NanoCpus'), cpuShares: cur('CpuShares'), cpuPeriod: cur('CpuPeriod'), cpuQuota: cur('CpuQuota'),
        cpusetCpus: typeof hc.CpusetCpus === 'string' ? hc.CpusetCpus : '', cpusetMems: typeof hc.CpusetMems === 'string' ? hc.CpusetMems : '',
        blkioWeight: cur('BlkioWeight'),
      };
      const { oci } = updateResources(current, u, this.host.cpuset ?? hostCpuset());
      const policy = u.restartPolicy;
      if (policy) {
        if (!['', 'no', 'always', 'unless-stopped', 'on-failure'].includes(policy.name)) throw invalidArgument(`invalid restart policy '${policy.name}': use no, always, unless-stopped or on-failure`);
        if (policy.name !== 'on-failure' && (policy.maximumRetryCount ?? 0) !== 0) throw invalidArgument(`invalid restart policy: maximum retry count can only be used with 'on-failure'`);
        if (policy.name && policy.name !== 'no' && rec.hostConfig.AutoRemove) throw invalidArgument('Restart policy cannot be updated because AutoRemove is enabled for the container');
      }

      const live = rec.state.status === 'running' || rec.state.status === 'paused';
      const changesResources = Object.entries(u).some(([k, v]) => k !== 'restartPolicy' && v !== undefined);
      if (live && changesResources) {
        try {
          await this.monitor.update(rec.id, oci);
        } catch (err) {
          throw invalidArgument(`Cannot update container ${rec.id}: ${err instanceof Error ? err.message : String(err)}`, err);
        }
      }
      const next: Record<string, unknown> = {};
      if (set(u.memory)) next.Memory = u.memory;
      if (set(u.memorySwap)) next.MemorySwap = u.memorySwap;
      if (set(u.memoryReservation)) next.MemoryReservation = u.memoryReservation;
      if (set(u.nanoCpus)) next.NanoCpus = u.nanoCpus;
      if (set(u.cpuShares)) next.CpuShares = u.cpuShares;
      if (set(u.cpuPeriod)) next.CpuPeriod = u.cpuPeriod;
      if (set(u.cpuQuota)) next.CpuQuota = u.cpuQuota;
      if (u.cpusetCpus) next.CpusetCpus = u.cpusetCpus;
      if (u.cpusetMems) next.CpusetMems = u.cpusetMems;
      if (u.pidsLimit !== undefined) next.PidsLimit = u.pidsLimit;
      if (set(u.blkioWeight)) next.BlkioWeight = u.blkioWeight;
      if (policy) next.RestartPolicy = { Name: policy.name, MaximumRetryCount: policy.maximumRetryCount ?? 0 };
      Object.assign(rec.hostConfig, next);
      await this.save(rec);
      this.events.emit('container', 'update', rec.id, { image: rec.image, name: rec.name });
      return warnings;
    });
  }

  /**
   * One accounting sample. `cgroup` is absent when the container is not running
   * (Docker then reports zeros).
   */
  stats(ref: string): ContainerStatsSample {
    const rec = this.get(ref);
    const read = new Date();
    const live = rec.state.status === 'running' || rec.state.status === 'paused';
    const hostCpu = hostCpuSample();
    const out: ContainerStatsSample = { id: rec.id, name: rec.name, read, running: live, systemCpuNs: hostCpu.systemNs, onlineCpus: hostCpu.onlineCpus };
    if (!live) return out;
    out.cgroup = readCgroupSample(this.host.cgroupMode ?? detectCgroupMode(), this.cgroupDirsOf(rec.id));
    const networks = rec.state.pid > 0 ? netDevOf(rec.state.pid) : undefined;
    if (networks) out.networks = networks;
    return out;
  }

  /** The container's processes as host `ps` shows them (Docker's `top`). */
  async top(ref: string, psArgs = '-ef'): Promise<{ titles: string[]; processes: string[][] }> {
    const rec = this.get(ref);
    if (rec.state.status !== 'running' && rec.state.status !== 'paused') throw conflict(`Container ${rec.id} is not running`);
    const pids = new Set(cgroupPids(this.host.cgroupMode ?? detectCgroupMode(), this.cgroupDirsOf(rec.id)));
    const top = await listProcesses(psArgs, pids);
    this.events.emit('container', 'top', rec.id, { image: rec.image, name: rec.name });
    return top;
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

const SIGNALS: Record<string, number> = {
  HUP: 1, INT: 2, QUIT: 3, ILL: 4, TRAP: 5, ABRT: 6, BUS: 7, FPE: 8, KILL: 9, USR1: 10, SEGV: 11, USR2: 12, PIPE: 13, ALRM: 14, TERM: 15,
  STKFLT: 16, CHLD: 17, CONT: 18, STOP: 19, TSTP: 20, TTIN: 21, TTOU: 22, URG: 23, XCPU: 24, XFSZ: 25, VTALRM: 26, PROF: 27, WINCH: 28, IO: 29, PWR: 30, SYS: 31,
};

/** `SIGTERM`, `term`, `15` → `TERM` (runc's form); unknown → invalid-argument. */
export function normalizeSignal(s: string): string {
  const up = s.trim().toUpperCase().replace(/^SIG/, '');
  if (/^\d+$/.test(up)) {
    const n = Number(up);
    const name = Object.keys(SIGNALS).find((k) => SIGNALS[k] === n);
    if (name) return name;
    if (n >= 34 && n <= 64) return String(n);
  } else if (up in SIGNALS) return up;
  else if (/^RTMIN(\+\d+)?$|^RTMAX(-\d+)?$/.test(up)) return up;
  throw invalidArgument(`Invalid signal: ${s}`);
}

export function signalNumber(name: string): number {
  return SIGNALS[name] ?? Number(name);
}

/** What `update` may change; an absent or zero field keeps its value (Docker's semantics). */
export type UpdateOptions = Pick<DiscardableResources, 'memory' | 'memorySwap' | 'memoryReservation' | 'nanoCpus' | 'cpuShares' | 'cpuPeriod' | 'cpuQuota' | 'cpusetCpus' | 'cpusetMems' | 'blkioWeight'> & {
  /** > 0 limits; 0 or -1 removes the limit. */
  pidsLimit?: number;
  restartPolicy?: { name: string; maximumRetryCount?: number };
};

export interface ContainerStatsSample {
  id: string;
  name: string;
  read: Date;
  running: boolean;
  /** Host CPU time in nanoseconds since boot (Docker's system_cpu_usage). */
  systemCpuNs: number;
  onlineCpus: number;
  cgroup?: CgroupSample;
  networks?: Record<string, NetDevStats>;
}
