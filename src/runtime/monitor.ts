/**
 * The runtime driver: one conmon per container creates it through runc and then
 * owns its stdio, log file and exit file, outliving berthd. berthd never holds
 * anything about a running container only in memory: everything it needs after
 * a restart is in these files.
 *
 * Layout under `execRoot` (per daemon, so several daemons can run side by side):
 *   runc/                 runc's --root (state of every container)
 *   exits/<id>            exit code, written by conmon when the container exits
 *   attach/               conmon's socket dir
 *   containers/<id>/      the bundle: config.json, pidfile, conmon.pid
 *   filters/<id>          the container's seccomp filter as berth-exec read it from the init
 *
 * Lifecycle: create() (conmon + runc create, waits until the process exists) →
 * start() → [kill()] → the exit file appears → remove() (runc delete).
 */
import { execFile } from 'node:child_process';
import { accessSync, closeSync, constants, existsSync, openSync, promises as fsp, readdirSync, readFileSync, readSync, rmdirSync, rmSync, statSync, unlinkSync, watch, type FSWatcher } from 'node:fs';
import { constants as osConstants } from 'node:os';
import { join } from 'node:path';
import { BerthError, failedPrecondition, internal, isContainerId, isErrno, log, traceSpan, traceStart } from '../common';
import { procStartTime, readMountInfo, sealedCopy, spawnPiped, spawnWith, type PipedProcess, type SpawnedProcess } from '../sys';
import { findMonitorNsHelper, holdOwnMount, monitorNsArgs, releaseOwnMount } from './monitor-ns';
import { EXEC_HELPER_UNSUPPORTED, execHelperArgs, findExecHelper, readContainerEntry, stateKey, type ContainerEntry } from './exec-helper';
import type { LogEntry } from './k8s-log';

export interface MonitorOptions {
  execRoot: string;
  runc?: string;
  conmon?: string;
  /** berth-exec's path; '' for none (runc exec for every exec); default: the built one. */
  execHelper?: string;
  /**
   * The dirs that hold every container's root and network namespace: each conmon starts in
   * a mount namespace without them, but for its own container's two (monitor-ns.ts).
   */
  ownMountDirs?: string[];
}

/** berth-logrotate.so (native/berth-logrotate.c), built beside berth-exec when a C compiler was there. */
const LOG_ROTATOR = join(__dirname, '..', '..', 'native', 'berth-logrotate.so');
let rotatorBuilt: boolean | undefined;

/**
 * Whether logs can keep several files (`max-file`): the rotation library was built, at a
 * path LD_PRELOAD can name (it splits its value at spaces and colons).
 */
export function logRotationAvailable(): boolean {
  rotatorBuilt ??= !/[\s:]/.test(LOG_ROTATOR) && existsSync(LOG_ROTATOR);
  return rotatorBuilt;
}

export interface CreateOptions {
  id: string;
  name: string;
  bundle: string;
  /** Written in the k8s-file format: `TIME STREAM F|P text`. */
  logPath: string;
  /**
   * Bytes the log may reach; conmon then starts it afresh (through a temp file and a
   * rename, so a reader never sees it half-written), keeping the newest lines.
   */
  logSizeMax?: number;
  /**
   * Files the log keeps (with logSizeMax): conmon, with berth-logrotate.so loaded, moves
   * the full file to `<log>.1` (and older ones along, to `<log>.N-1`) where it would start
   * it afresh. Ignored when the library was not built (see logRotationAvailable).
   */
  logMaxFile?: number;
  /** With logMaxFile: the kept files are gzipped, `<log>.1.gz` … (berth-logrotate.so does it). */
  logCompress?: boolean;
  /** Give the container a pseudo-terminal; its output is logged as stdout. */
  tty?: boolean;
  /** Keep the container's stdin open for attach-socket clients (OpenStdin). */
  stdin?: boolean;
  /** Close that stdin when the first client that wrote to it disconnects (StdinOnce). */
  stdinOnce?: boolean;
  /**
   * The container's mounts its monitor needs (its root, its network namespace file): conmon
   * then starts in a mount namespace without the other containers' (monitor-ns.ts). Absent:
   * in berthd's own.
   */
  keepMounts?: (string | undefined)[];
}

export interface ExecProcessOptions {
  containerId: string;
  /** conmon's session id for this process (names its attach symlink). */
  execId: string;
  /** Holds process.json (an OCI process object); conmon adds attach, ctl, log, pid and the exit file. */
  dir: string;
  tty?: boolean;
  stdin?: boolean;
  /**
   * Someone streams the process's output now and it need not outlive berthd (not a
   * detached exec). Without a terminal or stdin it then runs under `runc exec` straight
   * from berthd, without a conmon, and its output comes here as it is written instead of
   * going to `<dir>/log` (the result's `direct` says which of the two happened).
   */
  output?: (e: LogEntry) => void;
}

/** A helper program's version and commit as its `--version` prints them. */
export interface ToolVersion {
  version: string;
  commit: string;
}

export type RuncStatus = 'creating' | 'created' | 'running' | 'paused' | 'stopped';

/** What is used here of runc's state.json (the file also carries the whole config). */
interface RuncStateFile {
  init_process_pid?: number;
  init_process_start?: number | string;
  cgroup_paths?: Record<string, string>;
  /** The container has a PID namespace of its own (not joined, not the host's). */
  ownPidNamespace: boolean;
}

function slimState(raw: RuncStateFile & { config?: { namespaces?: { type?: string; path?: string }[] } }): RuncStateFile {
  return {
    init_process_pid: raw.init_process_pid,
    init_process_start: raw.init_process_start,
    cgroup_paths: raw.cgroup_paths,
    ownPidNamespace: (raw.config?.namespaces ?? []).some((n) => n.type === 'NEWPID' && !n.path),
  };
}

export class Monitor {
  readonly runcRoot: string;
  readonly exitDir: string;
  private readonly socketDir: string;
  private readonly runc: string;
  /** The sealed copy of runc that execs run from, and the identity of the file it was made from. */
  private runcCopy?: { key: string; fd: number };
  private readonly conmon: string;
  /** berth-exec (exec-helper.ts), when built and not turned off. */
  private readonly execHelper?: string;
  private readonly filterDir: string;
  /** berth-monns and the dirs it detaches, once init() made each a mount of its own. */
  private monitorNs?: { helper: string; dirs: string[] };
  private readonly ownMountDirs: string[];
  /** What berth-exec needs of each running container's runc state, by id, with that state's identity. */
  private readonly entries = new Map<string, { key: string; entry: ContainerEntry }>();
  private watcher?: FSWatcher;

  constructor(opts: MonitorOptions) {
    this.runcRoot = join(opts.execRoot, 'runc');
    this.exitDir = join(opts.execRoot, 'exits');
    this.socketDir = join(opts.execRoot, 'attach');
    this.runc = lookPath(opts.runc ?? 'runc');
    this.conmon = lookPath(opts.conmon ?? 'conmon');
    this.filterDir = join(opts.execRoot, 'filters');
    const helper = opts.execHelper === undefined ? findExecHelper() : opts.execHelper || undefined;
    if (helper) this.execHelper = helper;
    this.ownMountDirs = opts.ownMountDirs ?? [];
  }

  /** runc's and conmon's versions, read once by init(); absent when the program would not say. */
  readonly versions: { runc?: ToolVersion; conmon?: ToolVersion } = {};

  async init(): Promise<void> {
    for (const d of [this.runcRoot, this.exitDir, this.socketDir, this.filterDir]) await fsp.mkdir(d, { recursive: true });
    const [runc, conmon] = await Promise.all([toolVersion(this.runc), toolVersion(this.conmon)]);
    if (runc) this.versions.runc = runc;
    if (conmon) this.versions.conmon = conmon;
    const nsHelper = this.ownMountDirs.length > 0 ? findMonitorNsHelper() : undefined;
    // One read of the mount table for both (it is long when berthd restarts with containers running).
    const table = nsHelper ? readMountInfo() : [];
    const dirs = nsHelper ? this.ownMountDirs.filter((d) => holdOwnMount(d, table)) : [];
    if (nsHelper && dirs.length > 0) this.monitorNs = { helper: nsHelper, dirs };
  }

  /** Calls `onExit(id)` whenever an exit file appears. The caller re-checks with exitCode(). */
  watchExits(onExit: (id: string) => void): void {
    this.watcher = watch(this.exitDir, (_event, file) => {
      if (file && /^[a-f0-9]{64}$/.test(String(file))) onExit(String(file));
    });
    this.watcher.on('error', (err) => log.error('exit watcher failed', { error: String(err) }));
  }

  close(): void {
    this.watcher?.close();
    for (const d of this.monitorNs?.dirs ?? []) releaseOwnMount(d);
  }

  /**
   * The container's exit code once it has exited, else undefined. The exit file, conmon.pid,
   * runc's state.json and the /proc and cgroup files below are a few bytes each on memory
   * file systems (the exec root is tmpfs as a rule): they are read synchronously, which costs
   * microseconds, where each asynchronous read is five trips through the thread pool, and the
   * restart that adopts 500 containers makes about 20 such reads per container (issue 14).
   */
  async exitCode(id: string): Promise<{ code: number; at: Date } | undefined> {
    const file = join(this.exitDir, id);
    try {
      const text = readFileSync(file, 'utf8');
      const st = statSync(file);
      const code = Number.parseInt(text.trim(), 10);
      if (Number.isNaN(code)) return undefined; // conmon is still writing it
      return { code, at: st.mtime };
    } catch (err) {
      if (isErrno(err, 'ENOENT')) return undefined;
      throw err;
    }
  }

  /**
   * conmon in a session of its own, started with posix_spawn rather than a fork of berthd
   * (sys/spawn.ts): stdin and stdout /dev/null, stderr and its sync pipe (fd 3) piped to
   * berthd. It does not keep berthd alive. Throws when conmon cannot be run.
   */
  private spawnConmon(args: string[], cwd?: string, extraEnv?: Record<string, string>, keepMounts?: (string | undefined)[]): SpawnedProcess {
    const ns = keepMounts && this.monitorNs;
    const [program, argv] = ns ? [ns.helper, [ns.helper, ...monitorNsArgs(ns.dirs, keepMounts, extraEnv), this.conmon, ...args]] : [this.conmon, [this.conmon, ...args]];
    try {
      return spawnWith(program, argv, ['null', 'null', 'pipe', 'pipe'], {
        env: { PATH: process.env.PATH ?? '/usr/sbin:/usr/bin:/sbin:/bin', _OCI_SYNCPIPE: '3', ...(ns ? {} : extraEnv) },
        setsid: true,
        unref: true,
        ...(cwd !== undefined ? { cwd } : {}),
      });
    } catch (err) {
      throw failedPrecondition(`cannot run conmon (${this.conmon}): ${err instanceof Error ? err.message : String(err)}; install the conmon package`, err);
    }
  }

  /**
   * Starts conmon, which runs `runc create` and reports the container's pid on
   * the sync pipe. Resolves with that pid; rejects with runc's own message.
   */
  async create(o: CreateOptions): Promise<number> {
    // Synchronous, like the bundle's files: through the pool it queued behind fsyncs.
    rmSync(join(this.exitDir, o.id), { force: true });
    const args = [
      '--api-version', '1',
      '-c', o.id, '-u', o.id, '-n', o.name,
      // The sealed copy of runc, reached through berthd's descriptor: its `runc init` then
      // skips copying the 8-9 MB binary (runc only needs it while it creates the container).
      '-r', this.runcToExec().replace(/^\/proc\/self\//, `/proc/${process.pid}/`),
      '-b', o.bundle,
      '-p', join(o.bundle, 'pidfile'),
      '--exit-dir', this.exitDir,
      '--socket-dir-path', this.socketDir,
      '-l', `k8s-file:${o.logPath}`,
      ...(o.logSizeMax ? ['--log-size-max', String(o.logSizeMax)] : []),
      '--conmon-pidfile', join(o.bundle, 'conmon.pid'),
      '--runtime-arg', `--root=${this.runcRoot}`,
      '--log-level', 'error',
      ...(o.tty ? ['-t'] : []),
      ...(o.stdin ? ['-i', ...(o.stdinOnce ? [] : ['--leave-stdin-open'])] : []),
    ];
    const tSpawn = traceStart();
    // conmon writes an `oom` file into its working directory on OOM events: keep it in the bundle.
    const rotate = o.logSizeMax && o.logMaxFile && o.logMaxFile > 1 && logRotationAvailable()
      ? { LD_PRELOAD: LOG_ROTATOR, BERTH_LOG_PATH: o.logPath, BERTH_LOG_MAX_FILE: String(o.logMaxFile), ...(o.logCompress ? { BERTH_LOG_COMPRESS: '1' } : {}) }
      : undefined;
    const child = this.spawnConmon(args, o.bundle, rotate, o.keepMounts);
    const tSpawned = traceStart();
    traceSpan(o.id, 'conmon spawn (posix_spawn)', tSpawn, tSpawned);
    return await new Promise<number>((resolve, reject) => {
      let sync = '';
      let stderr = '';
      const sp = child.pipes[3]!;
      child.pipes[2]!.on('data', (d: Buffer) => (stderr += d.toString()));
      child.pipes[2]!.on('error', () => undefined);
      sp.on('data', (d: Buffer) => {
        sync += d.toString();
        const msg = parseSync(sync);
        if (!msg) return;
        if (msg.data > 0) {
          traceSpan(o.id, 'conmon + runc create (until pid)', tSpawned);
          resolve(msg.data);
        }
        else reject(runtimeError(msg.message ?? `conmon reported ${msg.data}`));
        sp.removeAllListeners('data');
        (sp as NodeJS.ReadableStream & { destroy(): void }).destroy();
      });
      sp.on('end', () => reject(runtimeError(stderr.trim() || 'conmon exited before the container was created')));
      sp.on('error', (err) => reject(runtimeError(`conmon sync pipe failed: ${err.message}`)));
      const timer = setTimeout(() => {
        reject(runtimeError('timed out after 60s waiting for conmon to create the container'));
        try {
          process.kill(child.pid, 'SIGKILL');
        } catch {
          // gone already
        }
      }, 60_000);
      timer.unref();
    });
  }

  /**
   * Lets the created container run. This is what `runc start` does, without the
   * cost of another runc process: runc init waits to write one byte into
   * `exec.fifo` before it execs the container's command; reading that byte
   * releases it, and removing the fifo is how runc tells "running" from "created".
   * Anything unexpected falls back to `runc start`, which reports runc's own error.
   */
  async start(id: string): Promise<void> {
    if (!(await releaseExecFifo(join(this.runcRoot, id, 'exec.fifo')))) await this.runcCmd(['start', id]);
  }

  /**
   * `runc kill`. A running container's init is signalled in-process, as runc would do it,
   * without a runc process: after checking through runc's state file that the pid is still
   * the container's init. `all` (every process of the container) is done that way only for
   * SIGKILL of a container with a PID namespace of its own, where the kernel kills the whole
   * namespace with its init. Anything else (paused, host PID namespace, an unknown signal
   * name) goes to runc, which gives runc's own errors too.
   */
  async kill(id: string, signal: string | number, all = false): Promise<void> {
    const sig = signalNumber(signal);
    // runc's state.json (≈ 30 KB: it carries the whole config) is read and parsed once here.
    const raw = sig === undefined ? undefined : this.readRuncState(id);
    if (sig !== undefined && raw && (!all || (sig === osConstants.signals.SIGKILL && raw.ownPidNamespace))) {
      const st = this.stateFromFiles(id, raw);
      if (st?.status === 'running') {
        try {
          process.kill(st.pid, sig);
          return;
        } catch (err) {
          if (!isErrno(err, 'ESRCH')) throw err;
          // it exited meanwhile: runc reports that as runc does
        }
      }
    }
    await this.runcCmd(['kill', ...(all ? ['--all'] : []), id, String(signal)]);
  }

  /** What was last read of each container's state.json, with the file's inode, size and mtime then. */
  private readonly runcStates = new Map<string, { key: string; st: RuncStateFile }>();

  /**
   * runc's state.json for the container, parsed; undefined when there is none or it cannot be
   * read. A kill and the delete after it read it again unchanged: what is used of it is kept
   * while the file's inode, size and mtime stay (a parse of its ≈ 30 KB took ≈ 0.5 ms with 20
   * containers exiting at once).
   */
  private readRuncState(id: string): RuncStateFile | undefined {
    const file = join(this.runcRoot, id, 'state.json');
    try {
      const s = statSync(file);
      const key = `${s.ino}:${s.size}:${s.mtimeMs}`;
      const seen = this.runcStates.get(id);
      if (seen?.key === key) return seen.st;
      const st = slimState(JSON.parse(readFileSync(file, 'utf8')) as RuncStateFile);
      this.runcStates.set(id, { key, st });
      return st;
    } catch {
      this.runcStates.delete(id);
      return undefined;
    }
  }

  /** Freezes every process of the container (runc pause: the freezer cgroup). */
  async pause(id: string): Promise<void> {
    await this.runcCmd(['pause', id]);
  }

  /** Thaws a paused container (runc resume). */
  async resume(id: string): Promise<void> {
    await this.runcCmd(['resume', id]);
  }

  /**
   * Changes the cgroup limits of a running container: `resources` is an OCI
   * `linux.resources` object; fields left out keep their values.
   */
  async update(id: string, resources: object): Promise<void> {
    await this.runcCmd(['update', '--resources', '-', id], JSON.stringify(resources));
  }

  /** runc's view; undefined when runc does not know the container. */
  async state(id: string): Promise<{ status: RuncStatus; pid: number } | undefined> {
    const quick = this.stateFromFiles(id);
    if (quick) return quick;
    // runc would only say it does not know the container (after an in-process delete, say).
    if (!this.known(id)) return undefined;
    try {
      const out = await this.runcCmd(['state', id]);
      const s = JSON.parse(out) as { status: RuncStatus; pid: number };
      return { status: s.status, pid: s.pid };
    } catch (err) {
      // runc exits 1 for every failure: whether it still has state for the container tells "unknown" apart.
      if (!this.known(id)) return undefined;
      throw err;
    }
  }

  /**
   * What `runc state` answers, worked out in-process from runc's state.json the way runc
   * does it (init pid alive with the recorded start time; exec.fifo present → created;
   * freezer FROZEN → paused), without a runc process: adopting 500 containers at start
   * would otherwise spawn 500 runc. Undefined when anything is unusual (no state file,
   * an unreadable freezer, a freeze in progress): the caller then asks runc.
   */
  private stateFromFiles(id: string, st = this.readRuncState(id)): { status: RuncStatus; pid: number } | undefined {
    const dir = join(this.runcRoot, id);
    if (!st) return undefined;
    const pid = st.init_process_pid;
    if (!pid || st.init_process_start === undefined) return undefined;
    let stat: string;
    try {
      stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    } catch (err) {
      return isErrno(err, 'ENOENT') || isErrno(err, 'ESRCH') ? { status: 'stopped', pid: 0 } : undefined;
    }
    const f = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    if (f[0] === 'Z' || f[0] === 'X' || f[19] !== String(st.init_process_start)) return { status: 'stopped', pid: 0 };
    if (existsSync(join(dir, 'exec.fifo'))) return { status: 'created', pid };
    const cg = st.cgroup_paths ?? {};
    let frozen: boolean;
    try {
      if (cg.freezer) {
        const v = readFileSync(join(cg.freezer, 'freezer.state'), 'utf8').trim();
        if (v !== 'FROZEN' && v !== 'THAWED') return undefined;
        frozen = v === 'FROZEN';
      } else if (cg['']) {
        frozen = readFileSync(join(cg[''], 'cgroup.freeze'), 'utf8').trim() === '1';
      } else return undefined;
    } catch {
      return undefined;
    }
    return { status: frozen ? 'paused' : 'running', pid };
  }

  /** Whether runc still keeps state for the container (a cheap check before remove()). */
  known(id: string): boolean {
    return existsSync(join(this.runcRoot, id));
  }

  /** Deletes runc's state and the container's cgroups, and with them the exit file unless `keepExit`; fine if already gone. */
  async remove(id: string, keepExit = false): Promise<void> {
    this.entries.delete(id);
    rmSync(join(this.filterDir, id), { force: true });
    const t = traceStart();
    // The state a kill read is used once more here, then dropped with the container.
    const quick = await this.removeStopped(id);
    this.runcStates.delete(id);
    traceSpan(id, quick ? 'runtime delete: in-process' : 'runtime delete: in-process refused', t);
    if (quick) {
      if (!keepExit) this.forgetExit(id);
      return;
    }
    try {
      await this.runcCmd(['delete', '--force', id]);
    } catch (err) {
      if (this.known(id)) throw err;
    }
    if (!keepExit) this.forgetExit(id);
  }

  /** Removes the exit file conmon wrote (exec root, a tmpfs as a rule: synchronous). */
  forgetExit(id: string): void {
    rmSync(join(this.exitDir, id), { force: true });
  }

  /**
   * `runc delete` for a container whose processes are all gone, done in-process:
   * remove its (empty) cgroups and runc's state directory. False when anything
   * is unusual (a process left in a cgroup, no state file): runc then does it.
   * The files are runc's state on the exec root (tmpfs as a rule) and cgroupfs, which
   * answer from memory: they are read and removed synchronously (on cgroup v1 a
   * container has a dozen controllers' dirs, and two trips through the thread pool for
   * each took 15-20 ms under load).
   */
  private async removeStopped(id: string): Promise<boolean> {
    const dir = join(this.runcRoot, id);
    const state = this.readRuncState(id);
    if (!state || (state.init_process_pid && pidAlive(state.init_process_pid))) return false;
    const paths = [...new Set(Object.values(state.cgroup_paths ?? {}))];
    for (const p of paths) {
      try {
        if (readFileSync(join(p, 'cgroup.procs'), 'utf8').trim() !== '') return false;
        rmdirSync(p);
      } catch (err) {
        if (!isErrno(err, 'ENOENT')) return false;
      }
    }
    // runc keeps plain files there: removed one by one (node's recursive rm stats each first).
    try {
      for (const name of readdirSync(dir)) unlinkSync(join(dir, name));
      rmdirSync(dir);
    } catch {
      rmSync(dir, { recursive: true, force: true });
    }
    return true;
  }

  /** conmon's pid for a container, if its pidfile exists and the process lives. */
  async conmonPid(bundle: string): Promise<number | undefined> {
    try {
      const pid = Number.parseInt(readFileSync(join(bundle, 'conmon.pid'), 'utf8'), 10);
      process.kill(pid, 0);
      return pid;
    } catch {
      return undefined;
    }
  }

  /**
   * Runs a process in a running container through `conmon --exec` (which runs
   * `runc exec` with `<dir>/process.json`). conmon owns the process's stdio as for
   * a container: output goes to `<dir>/log` (k8s-file), stdin (with `stdin`) to
   * the attach socket `<dir>/attach`, TTY resizes to `<dir>/ctl`. Resolves once
   * the process runs, with its pid and a promise of its exit code (from conmon's
   * sync pipe, else the exit file `<dir>/<containerId>`). Rejects with runc's
   * message when the process cannot be started.
   */
  async exec(o: ExecProcessOptions): Promise<{ pid: number; exited: Promise<number>; direct: boolean }> {
    if (o.output && !o.tty && !o.stdin) return this.execDirect(o, o.output);
    const args = [
      '--api-version', '1',
      '-c', o.containerId, '-u', o.execId,
      '-r', this.runc,
      '-b', o.dir,
      '-p', join(o.dir, 'pid'),
      '--exit-dir', o.dir,
      '--socket-dir-path', o.dir,
      '-l', `k8s-file:${join(o.dir, 'log')}`,
      '-e', '--exec-process-spec', join(o.dir, 'process.json'),
      '--runtime-arg', `--root=${this.runcRoot}`,
      '--log-level', 'error',
      ...(o.tty ? ['-t'] : []),
      ...(o.stdin ? ['-i'] : []),
    ];
    const child = this.spawnConmon(args);
    const sp = child.pipes[3]! as NodeJS.ReadableStream & { destroy(): void };
    let stderr = '';
    child.pipes[2]!.on('data', (d: Buffer) => (stderr += d.toString()));
    child.pipes[2]!.on('error', () => undefined);
    let text = '';
    const messages: { data: number; message?: string }[] = [];
    let wake: () => void = () => undefined;
    let ended = false;
    sp.on('data', (d: Buffer) => {
      text += d.toString();
      let nl: number;
      while ((nl = text.indexOf('\n')) >= 0) {
        const line = text.slice(0, nl);
        text = text.slice(nl + 1);
        const msg = parseSync(line);
        if (msg) messages.push(msg);
      }
      wake();
    });
    sp.on('error', () => undefined);
    sp.on('close', () => {
      ended = true;
      wake();
    });
    const next = async (): Promise<{ data: number; message?: string } | undefined> => {
      while (!messages.length && !ended) await new Promise<void>((r) => (wake = r));
      return messages.shift();
    };
    const first = await next();
    if (!first || first.data <= 0) {
      sp.destroy();
      throw execError(cleanRuncMessage(first?.message ?? stderr) || 'conmon exited before the process started');
    }
    const exited = (async () => {
      const m = await next();
      sp.destroy();
      if (m) return m.data;
      const code = Number.parseInt(await fsp.readFile(join(o.dir, o.containerId), 'utf8').catch(() => ''), 10);
      return Number.isNaN(code) ? 255 : code;
    })();
    return { pid: first.data, exited, direct: false };
  }

  /**
   * An attached process without a terminal or stdin, as berthd's own child: one process
   * less than conmon's way, started with posix_spawn (sys/spawn.ts) rather than a fork of
   * berthd. It is berth-exec (exec-helper.ts) where that can do it, else `runc exec`.
   * Its output goes to `o.output` as it comes, not to a log: what it writes before the
   * start is confirmed is held back, so that a failed start streams nothing and its reason
   * is only in the rejection. Its exit code is the process's (128+N for a signal) and is
   * known once its output has ended too. Resolves once the pid file is written (the
   * process runs); rejects with the runtime's message when it never ran.
   */
  private async execDirect(o: ExecProcessOptions, output: (e: LogEntry) => void): Promise<{ pid: number; exited: Promise<number>; direct: boolean }> {
    const pidFile = join(o.dir, 'pid');
    const helper = this.execHelper && this.helperCall(o, pidFile);
    if (helper) {
      const started = await this.runDirect(o, output, this.execHelper!, [this.execHelper!, ...helper.args], helper.env);
      if (started !== 'unsupported') return started;
    }
    const runc = await this.runDirect(o, output, this.runcToExec(), [this.runc, `--root=${this.runcRoot}`, 'exec', '--process', join(o.dir, 'process.json'), '--pid-file', pidFile, o.containerId], {
      PATH: process.env.PATH ?? '/usr/sbin:/usr/bin:/sbin:/bin',
    });
    if (runc === 'unsupported') throw execError('runc exec exited before the process started');
    return runc;
  }

  /** berth-exec's arguments for this exec, or undefined when runc must do it. */
  private helperCall(o: ExecProcessOptions, pidFile: string): { args: string[]; env: Record<string, string> } | undefined {
    const key = stateKey(this.runcRoot, o.containerId);
    if (!key) return undefined;
    let known = this.entries.get(o.containerId);
    if (known?.key !== key) {
      const entry = readContainerEntry(this.runcRoot, o.containerId);
      if (!entry) return undefined;
      known = { key, entry };
      this.entries.set(o.containerId, known);
    }
    let proc: Record<string, unknown>;
    try {
      proc = JSON.parse(readFileSync(join(o.dir, 'process.json'), 'utf8')) as Record<string, unknown>;
    } catch {
      return undefined;
    }
    return execHelperArgs(known.entry, o.containerId, proc, { pidFile, seccompCache: join(this.filterDir, o.containerId) });
  }

  /**
   * Runs `argv` (berth-exec or runc exec) and waits for `<dir>/pid`. 'unsupported' when
   * berth-exec said it cannot run this exec before starting anything (runc then does).
   */
  private async runDirect(
    o: ExecProcessOptions,
    output: (e: LogEntry) => void,
    file: string,
    argv: string[],
    env: Record<string, string>,
  ): Promise<{ pid: number; exited: Promise<number>; direct: boolean } | 'unsupported'> {
    const pidFile = join(o.dir, 'pid');
    const helper = argv[0] === this.execHelper;
    let errText = '';
    let child: PipedProcess;
    try {
      child = spawnPiped(file, argv, { env, setsid: true });
    } catch (err) {
      if (helper) return 'unsupported';
      throw execError(`cannot run runc (${this.runc}): ${err instanceof Error ? err.message : String(err)}`, err);
    }
    let early: LogEntry[] | undefined = [];
    const pass = (stream: 'stdout' | 'stderr') => (data: Buffer) => {
      if (stream === 'stderr' && early && errText.length < 1 << 16) errText += data.toString();
      const e: LogEntry = { time: new Date().toISOString(), stream, data };
      if (early) early.push(e);
      else output(e);
    };
    const ended = (s: NodeJS.ReadableStream) =>
      new Promise<void>((resolve) => {
        s.on('data', pass(s === child.stdout ? 'stdout' : 'stderr'));
        s.on('error', () => resolve());
        s.on('close', () => resolve());
      });
    const exited = Promise.all([child.exited, ended(child.stdout), ended(child.stderr)]).then(([code]) => code);
    const pid = await new Promise<number | undefined>((resolve) => {
      let done = false;
      const watcher = watch(o.dir, () => check());
      watcher.on('error', () => undefined);
      const finish = (v: number | undefined) => {
        if (done) return;
        done = true;
        watcher.close();
        resolve(v);
      };
      const check = () => {
        try {
          const n = Number.parseInt(readFileSync(pidFile, 'utf8'), 10);
          if (n > 0) finish(n);
        } catch {
          // not written yet
        }
      };
      check();
      void child.exited.then(() => {
        check();
        finish(undefined);
      });
    });
    if (pid === undefined) {
      const code = await exited;
      if (helper && code === EXEC_HELPER_UNSUPPORTED) {
        log.warn('berth-exec cannot run this exec; runc exec runs it', { id: o.containerId, why: errText.trim() });
        return 'unsupported';
      }
      throw execError(cleanRuncMessage(errText) || `${helper ? 'berth-exec' : 'runc exec'} exited with ${code} before the process started`);
    }
    const held = early;
    early = undefined;
    for (const e of held) output(e);
    return { pid, exited, direct: true };
  }

  /**
   * What to execute for a `runc exec` started here: a sealed memfd copy of runc (see
   * sys/sealedCopy), so that its `runc init` does not copy the 8–9 MB binary again for every
   * exec; made anew when the binary on disk changes (an upgrade), and runc's own path when
   * the copy cannot be made.
   */
  private runcToExec(): string {
    let key: string;
    try {
      const st = statSync(this.runc);
      key = `${st.dev}:${st.ino}:${st.size}:${st.mtimeMs}`;
    } catch {
      return this.runc;
    }
    if (this.runcCopy?.key !== key) {
      if (this.runcCopy && this.runcCopy.fd >= 0) closeSync(this.runcCopy.fd);
      let fd = -1;
      try {
        fd = sealedCopy(this.runc);
      } catch (err) {
        log.warn('cannot make a sealed copy of runc; runc exec copies itself each time', { runc: this.runc, error: String(err) });
      }
      this.runcCopy = { key, fd };
    }
    return this.runcCopy.fd >= 0 ? `/proc/self/fd/${this.runcCopy.fd}` : this.runc;
  }

  private runcCmd(args: string[], input?: string): Promise<string> {
    const t = traceStart();
    return new Promise((resolve, reject) => {
      const child = execFile(this.runc, [`--root=${this.runcRoot}`, ...args], { maxBuffer: 4 << 20 }, (err, stdout, stderr) => {
        traceSpan(args.find((a) => isContainerId(a)) ?? 'runc', `runc ${args[0]}`, t);
        if (err) reject(internal(`runc ${args[0]} failed: ${cleanRuncMessage(stderr) || err.message}`));
        else resolve(stdout);
      });
      child.stdin?.on('error', () => undefined);
      child.stdin?.end(input);
    });
  }
}

/**
 * `<program> version X` and `commit: Y` lines, as runc and conmon print them (tini's
 * `tini version X - git.Y` too); undefined when neither is there.
 */
export function parseToolVersion(text: string): ToolVersion | undefined {
  let version = '';
  let commit = '';
  for (const line of text.split('\n')) {
    const v = /\bversion\s+(\S+)(?:\s+-\s+git\.(\S+))?/.exec(line);
    if (v && !version) {
      version = v[1]!;
      commit ||= v[2] ?? '';
    }
    const c = /^commit:\s*(\S+)/.exec(line.trim());
    if (c) commit = c[1]!;
  }
  return version || commit ? { version, commit } : undefined;
}

/** `bin --version`, parsed; undefined (and a logged warning) when it cannot be read. */
export async function toolVersion(bin: string): Promise<ToolVersion | undefined> {
  const out = await new Promise<string | undefined>((resolve) => {
    execFile(bin, ['--version'], { timeout: 10_000 }, (err, stdout) => {
      if (err) log.warn('cannot read a helper program\'s version', { program: bin, error: err.message });
      resolve(err ? undefined : stdout);
    });
  });
  return out === undefined ? undefined : parseToolVersion(out);
}

/**
 * What dockerd makes of a runtime's refusal to run a container's or an exec's process: the
 * exit code it records and the words it answers with. runc exits 1 for every failure and
 * `runc init` hands the exec error up only as a message (no errno reaches runc's caller), so
 * these words are the only source; dockerd reads the same ones, case-blind, in this order, and
 * adds to two of them (Go 1.20's "is a directory" still has to read as permission denied to
 * the docker CLI, which exits 126 on those words).
 */
export function startFailure(message: string): { exitCode: 126 | 127 | 128; message: string } {
  const m = message.toLowerCase();
  if (m.includes('permission denied')) return { exitCode: 126, message };
  if (m.includes('is a directory')) return { exitCode: 126, message: `${message}: permission denied` };
  if (m.includes('not a directory')) {
    return { exitCode: 127, message: `${message}: Are you trying to mount a directory onto a file (or vice-versa)? Check if the specified host path exists and is the expected type` };
  }
  if (/executable file not found|no such file or directory|system cannot find the file specified|failed to run runc create\/exec call/.test(m)) return { exitCode: 127, message };
  return { exitCode: 128, message };
}

/** conmon wants an absolute runtime path; resolve bare names through PATH. */
export function lookPath(bin: string): string {
  if (bin.includes('/')) return bin;
  for (const dir of (process.env.PATH ?? '/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin').split(':')) {
    const p = join(dir || '.', bin);
    try {
      accessSync(p, constants.X_OK);
      return p;
    } catch {
      // not here
    }
  }
  return bin;
}

function parseSync(text: string): { data: number; message?: string } | undefined {
  for (const line of text.split('\n')) {
    try {
      const v = JSON.parse(line) as { data?: number; message?: string };
      if (typeof v.data === 'number') return { data: v.data, message: v.message };
    } catch {
      // an incomplete line: wait for more
    }
  }
  return undefined;
}

/** runc prints logrus lines (`time=… level=error msg="…"`); users want the msg. */
function cleanRuncMessage(stderr: string): string {
  const msgs = [...stderr.matchAll(/msg="((?:[^"\\]|\\.)*)"/g)].map((m) => m[1]!.replace(/\\"/g, '"').replace(/\\\\/g, '\\'));
  return (msgs.length ? msgs.join('; ') : stderr).trim();
}

/** In the words dockerd passes on from containerd (its shim's prefix, gRPC's code at the end). */
function runtimeError(message: string): BerthError {
  return internal(`failed to create shim task: OCI runtime create failed: ${cleanRuncMessage(message)}: unknown`);
}

/** An exec's process did not start, in the same words as runtimeError's. */
function execError(message: string, cause?: unknown): BerthError {
  return internal(`OCI runtime exec failed: ${message}: unknown`, cause);
}


/** A signal as runc takes it (`KILL`, `SIGTERM`, `9`) as a number; undefined when unknown. */
export function signalNumber(signal: string | number): number | undefined {
  if (typeof signal === 'number') return Number.isInteger(signal) && signal > 0 && signal < 65 ? signal : undefined;
  if (/^\d+$/.test(signal)) return signalNumber(Number(signal));
  const name = signal.toUpperCase().startsWith('SIG') ? signal.toUpperCase() : `SIG${signal.toUpperCase()}`;
  return (osConstants.signals as Record<string, number>)[name];
}

/** Whether a process exists and is not a zombie. */
const pidAlive = (pid: number): boolean => procStartTime(pid) !== undefined;

/**
 * Opens runc's exec.fifo without blocking, waits for runc init's byte and removes
 * the fifo. False (and nothing changed) when there is no fifo or no byte arrives
 * within the timeout, e.g. because runc init died.
 */
async function releaseExecFifo(fifo: string, timeoutMs = 10_000): Promise<boolean> {
  let fd: number;
  try {
    fd = openSync(fifo, constants.O_RDONLY | constants.O_NONBLOCK);
  } catch {
    return false;
  }
  try {
    const buf = Buffer.alloc(16);
    const deadline = Date.now() + timeoutMs;
    // runc init writes its byte as soon as it is scheduled after this open: the first looks
    // come after one turn of the event loop each, later ones after growing sleeps.
    for (let n = 0, wait = 0; ; n++) {
      try {
        if (readSync(fd, buf, 0, buf.length, null) > 0) break;
      } catch (err) {
        if (!isErrno(err, 'EAGAIN')) return false;
      }
      if (Date.now() > deadline) return false;
      if (n < 20) await new Promise((r) => setImmediate(r));
      else await new Promise((r) => setTimeout(r, (wait = Math.min(wait + 1, 10))));
    }
  } finally {
    closeSync(fd);
  }
  rmSync(fifo, { force: true });
  return true;
}
