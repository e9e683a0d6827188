/**
 * The runtime port: what the container, exec and commit services need from the
 * processes under them. `MonitorRuntime` is the real one (conmon + runc, bundles
 * under `<execRoot>/containers/<id>/`); container-runtime-fake.ts is an in-memory one
 * for unit tests.
 *
 * Contract:
 * - `create` prepares the container with its OCI spec and returns the pid of its
 *   process, which does not run its command before `start`. A leftover runtime state
 *   of the same id is removed first.
 * - An exit is recorded by the runtime (`exitCode` answers from then on) and
 *   announced through `watchExits`; the services may also poll `exitCode` and
 *   `monitorAlive` for exits that were never announced.
 * - `kill`, `pause`, `resume`, `update` reject with the runtime's message when the
 *   runtime refuses (not running, …).
 * - `delete` forgets the runtime's state of a stopped container; `discard` also
 *   removes everything the runtime keeps for it (bundle, sockets). Both are no-ops
 *   for an unknown id.
 */
import { randomBytes } from 'node:crypto';
import { mkdirSync, promises as fsp, readFileSync, renameSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { isErrno, traceSpan, traceStart } from '../common';
import { deleteInBackground } from '../state';
import {
  AttachSocket,
  cgroupDirs,
  detectCgroupMode,
  procStartTime,
  readOomKills,
  resizeTerminal,
  reopenLogFile,
  serializeSpec,
  type CgroupMode,
  type ExecProcessOptions,
  type Monitor,
  type OciSpec,
  type RuncStatus,
} from '../runtime';

/** Where a process's stdin goes (conmon's attach socket in the real runtime). */
export interface StdinSink {
  /** False when the caller should pause its input until onDrain. */
  write(data: Buffer): boolean;
  /** EOF for the process's stdin. */
  end(): void;
  onDrain?: () => void;
}

/** A connection to a container's stdin; the caller closes it. */
export interface StdinConnection extends StdinSink {
  close(): void;
}

export interface RuntimeCreateOptions {
  id: string;
  name: string;
  spec: OciSpec;
  /** Written in the k8s-file format: `TIME STREAM F|P text`. */
  logPath: string;
  /** Bytes the log may reach before it is started afresh, keeping the newest lines. */
  logSizeMax?: number;
  /** Files the log keeps, the full ones as `<log>.1` … (with logSizeMax). */
  logMaxFile?: number;
  /** Gzip the kept files (`<log>.1.gz` …; with logMaxFile). */
  logCompress?: boolean;
  tty: boolean;
  /** Keep stdin open for `openStdin` clients. */
  stdin: boolean;
  /** Close that stdin when the first client that wrote to it disconnects. */
  stdinOnce: boolean;
}

export interface ContainerRuntime {
  /** Calls `onExit` with a container's id whenever an exit of it is recorded. */
  watchExits(onExit: (id: string) => void): void;
  create(o: RuntimeCreateOptions): Promise<number>;
  start(id: string): Promise<void>;
  /** `signal` as runc names it (TERM, KILL, 10 …); `all` signals every process. */
  kill(id: string, signal: string, all?: boolean): Promise<void>;
  /**
   * SIGKILL straight to a container's init process, past the runtime: for a container
   * the runtime cannot signal (its PID namespace dies with its init). A process that is
   * gone already is no error.
   */
  killProcess(pid: number): void;
  /**
   * Whether process `pid` has a handler for signal number `signal` (a PID-namespace init
   * drops the ones it has none for); true when that cannot be known; false while it is still
   * the runtime's init that has not exec'd the container's program yet.
   */
  catchesSignal(pid: number, signal: number): boolean;
  pause(id: string): Promise<void>;
  resume(id: string): Promise<void>;
  /** Changes the cgroup limits of a running or paused container (OCI linux.resources fields). */
  update(id: string, resources: object): Promise<void>;
  state(id: string): Promise<{ status: RuncStatus; pid: number } | undefined>;
  /** The recorded exit, once there is one. */
  exitCode(id: string): Promise<{ code: number; at: Date } | undefined>;
  /** Whether the process that watches the container (and records its exit) is alive. */
  monitorAlive(id: string): Promise<boolean>;
  /** Whether the runtime has state for the container. */
  known(id: string): boolean;
  /**
   * Deletes the runtime's state of a stopped container; with `keepExit`, its recorded exit stays
   * until forgetExit, so that an end of berthd before the exit is saved elsewhere loses nothing.
   */
  delete(id: string, keepExit?: boolean): Promise<void>;
  /** Drops the exit the monitor recorded (once the caller has it saved). */
  forgetExit(id: string): void;
  discard(id: string): Promise<void>;
  /** Whether the kernel OOM-killed a process in the container's cgroup (`cgroupsPath`, as its spec names it) since it started. */
  oomKilled(cgroupsPath: string): boolean;
  /** The container's stdin, while it is created or running with `stdin`. */
  openStdin(id: string): StdinConnection;
  /** Resizes the container's terminal; a no-op without one. */
  resize(id: string, height: number, width: number): void;
  /** Makes the monitor reopen the container's log file; false when it could not be asked. */
  reopenLog?(id: string): boolean;
  /** The OCI spec the container was created with. */
  specOf(id: string): OciSpec;
  /**
   * Runs one more process in a running container (see Monitor.exec: `o.dir` holds its
   * process.json and receives its log, unless its output goes to `o.output`). Resolves
   * once it runs.
   */
  exec(o: ExecProcessOptions): Promise<ExecProcess>;
}

/** A process started by `exec`. */
export interface ExecProcess {
  pid: number;
  /** Its exit code; with `outputDirect`, only after its last output was handed over. */
  exited: Promise<number>;
  /** Its output went to the `output` of the exec's options, not to `<dir>/log`. */
  outputDirect?: boolean;
  /** Its stdin, when started with `stdin`. */
  openStdin(): StdinConnection;
  /** Resizes its terminal; a no-op without one. */
  resize(height: number, width: number): void;
}

/** The runtime of berthd: one conmon per container, runc under it. */
export class MonitorRuntime implements ContainerRuntime {
  constructor(
    private readonly monitor: Monitor,
    private readonly execRoot: string,
    private readonly cgroupMode: CgroupMode = detectCgroupMode(),
  ) {}

  private bundle(id: string): string {
    return join(this.execRoot, 'containers', id);
  }

  async init(): Promise<void> {
    await fsp.mkdir(join(this.execRoot, 'containers'), { recursive: true });
    // Bundles of removed containers that a killed berthd had not deleted yet.
    await fsp.rm(join(this.execRoot, 'trash'), { recursive: true, force: true });
    await fsp.mkdir(join(this.execRoot, 'trash'));
  }

  watchExits(onExit: (id: string) => void): void {
    this.monitor.watchExits(onExit);
  }

  async create(o: RuntimeCreateOptions): Promise<number> {
    this.conmons.delete(o.id);
    const bundle = this.bundle(o.id);
    const t0 = traceStart();
    // Synchronous: two quick calls on the exec root that, through the pool, waited behind the
    // records' and snapshots' fsyncs (tens of ms under load; see bench/README.md).
    mkdirSync(bundle, { recursive: true });
    writeFileSync(join(bundle, 'config.json'), serializeSpec(o.spec));
    if (this.monitor.known(o.id)) await this.monitor.remove(o.id); // a stale runc state would block create
    traceSpan(o.id, 'bundle write', t0);
    return this.monitor.create({ id: o.id, name: o.name, bundle, logPath: o.logPath, ...(o.logSizeMax ? { logSizeMax: o.logSizeMax } : {}), ...(o.logMaxFile ? { logMaxFile: o.logMaxFile } : {}), ...(o.logCompress ? { logCompress: true } : {}), tty: o.tty, stdin: o.stdin, stdinOnce: o.stdinOnce, ...(sharesMountsWithHost(o.spec) ? {} : { keepMounts: [o.spec.root?.path, o.spec.linux?.namespaces?.find((n) => n.type === 'network')?.path] }) });
  }

  start(id: string): Promise<void> {
    return this.monitor.start(id);
  }

  kill(id: string, signal: string, all = false): Promise<void> {
    return this.monitor.kill(id, signal, all);
  }

  killProcess(pid: number): void {
    try {
      process.kill(pid, 'SIGKILL');
    } catch (err) {
      if (!isErrno(err, 'ESRCH')) throw err;
    }
  }

  catchesSignal(pid: number, signal: number): boolean {
    if (!(pid > 0) || !(signal >= 1 && signal <= 64)) return true;
    try {
      const status = readFileSync(`/proc/${pid}/status`, 'utf8');
      // Still runc's init, which has released the start but not yet exec'd the program (a stop
      // right after a start): its Go runtime catches every signal, the program does not yet.
      if (/^Name:\s*runc:\[/m.test(status)) return false;
      const m = /^SigCgt:\s*([0-9a-f]+)$/m.exec(status);
      return m ? ((BigInt(`0x${m[1]}`) >> BigInt(signal - 1)) & 1n) === 1n : true;
    } catch {
      return true;
    }
  }

  pause(id: string): Promise<void> {
    return this.monitor.pause(id);
  }

  resume(id: string): Promise<void> {
    return this.monitor.resume(id);
  }

  update(id: string, resources: object): Promise<void> {
    return this.monitor.update(id, resources);
  }

  state(id: string): Promise<{ status: RuncStatus; pid: number } | undefined> {
    return this.monitor.state(id);
  }

  exitCode(id: string): Promise<{ code: number; at: Date } | undefined> {
    return this.monitor.exitCode(id);
  }

  /** conmon of each container as last seen alive: pid and start time (so a reused pid is not taken for it). */
  private readonly conmons = new Map<string, { pid: number; start: string }>();

  /**
   * The services ask this of every running container every few seconds: after the first
   * look at conmon.pid, one read of /proc/PID/stat (no file system, no thread pool) answers.
   */
  async monitorAlive(id: string): Promise<boolean> {
    const seen = this.conmons.get(id);
    if (seen && procStartTime(seen.pid) === seen.start) return true;
    this.conmons.delete(id);
    const pid = await this.monitor.conmonPid(this.bundle(id));
    if (pid === undefined) return false;
    const start = procStartTime(pid);
    if (start === undefined) return false;
    this.conmons.set(id, { pid, start });
    return true;
  }

  known(id: string): boolean {
    return this.monitor.known(id);
  }

  delete(id: string, keepExit = false): Promise<void> {
    return this.monitor.remove(id, keepExit);
  }

  forgetExit(id: string): void {
    this.monitor.forgetExit(id);
  }

  /** The bundle is renamed into `<execRoot>/trash` and deleted from there in the background. */
  async discard(id: string): Promise<void> {
    this.conmons.delete(id);
    // conmon's link to the bundle, for a short attach socket path: unlinked on a pool thread
    // and not waited for (an unlink waits for the filesystem's journal while another
    // container's exit flushes it; nothing looks the link up once the record is gone).
    void fsp.rm(join(this.execRoot, 'attach', id), { force: true }).catch(() => undefined);
    await Promise.all([this.monitor.known(id) ? this.monitor.remove(id) : undefined, this.trashBundle(id)]);
  }

  private async trashBundle(id: string): Promise<void> {
    const doomed = join(this.execRoot, 'trash', `${id}-${randomBytes(4).toString('hex')}`);
    for (let attempt = 0; ; attempt++) {
      try {
        renameSync(this.bundle(id), doomed);
        break;
      } catch (err) {
        if (!isErrno(err, 'ENOENT')) throw err;
        // No bundle, or no trash dir yet (init not called): make it once and look again.
        if (attempt > 0) return;
        mkdirSync(join(this.execRoot, 'trash'), { recursive: true });
      }
    }
    void deleteInBackground(doomed);
  }

  oomKilled(cgroupsPath: string): boolean {
    return readOomKills(this.cgroupMode, cgroupDirs(this.cgroupMode, cgroupsPath)) > 0;
  }

  openStdin(id: string): StdinConnection {
    return AttachSocket.connect(this.bundle(id));
  }

  resize(id: string, height: number, width: number): void {
    resizeTerminal(this.bundle(id), height, width);
  }

  reopenLog(id: string): boolean {
    return reopenLogFile(this.bundle(id));
  }

  specOf(id: string): OciSpec {
    return JSON.parse(readFileSync(join(this.bundle(id), 'config.json'), 'utf8')) as OciSpec;
  }

  async exec(o: ExecProcessOptions): Promise<ExecProcess> {
    const { pid, exited, direct } = await this.monitor.exec(o);
    return { pid, exited, outputDirect: direct, openStdin: () => AttachSocket.connect(o.dir), resize: (h, w) => void resizeTerminal(o.dir, h, w) };
  }
}

/**
 * Whether mounts made in the container must reach the host (a shared or rshared mount,
 * `bind-propagation=rshared`, the CRI's Bidirectional): its conmon then starts in berthd's own
 * mount namespace, since a monitor's namespace of its own (runtime/monitor-ns.ts) only receives
 * from the host and sends nothing back.
 */
function sharesMountsWithHost(spec: RuntimeCreateOptions['spec']): boolean {
  const shared = (o: string) => o === 'shared' || o === 'rshared';
  return shared(spec.linux?.rootfsPropagation ?? '') || (spec.mounts ?? []).some((m) => (m.options ?? []).some(shared));
}
