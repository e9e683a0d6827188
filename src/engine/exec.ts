/**
 * Exec: more processes in a running container (Docker's exec instances).
 *
 * An exec instance is created (its configuration kept in memory, as dockerd
 * does), then started once. Starting runs `conmon --exec`, which runs `runc exec`
 * with a process.json derived from the container's own config.json process:
 * the same namespaces, cgroup, capabilities, seccomp, rlimits and environment,
 * with the exec's command, user, working directory, extra env, TTY and (with
 * Privileged) every capability of the host. conmon rather than a `runc exec`
 * child of berthd, because conmon owns the TTY (runc hands the pty master to a
 * console socket, which needs fd passing), logs the output to a file we follow
 * (nothing is lost before a client reads), takes stdin through its attach socket,
 * resizes the TTY through its ctl fifo, and outlives berthd for detached execs.
 *
 * Files live in `<execRoot>/execs/<id>/` while the process runs and until its
 * output has been streamed; the record stays until the container is removed or
 * it is older than EXEC_RECORD_TTL_MS after the process exited.
 */
import { mkdirSync, promises as fsp, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { BerthError, conflict, internal, invalidArgument, log, newContainerId, notFound, replaceOrAppendEnv, traceSpan, traceStart } from '../common';
import { LogFollower, hostBoundingCapabilities, processGroups, resolveGroups, resolveUser, startFailure, type LogEntry } from '../runtime';
import type { ContainerEvents, ContainerRecord } from './container-model';
import type { ContainerRuntime, ExecProcess, StdinConnection, StdinSink } from './container-runtime';
import type { ContainerService } from './containers';

const EXEC_RECORD_TTL_MS = 10 * 60_000;

export interface ExecCreateOptions {
  cmd: string[];
  env?: string[] | null;
  workingDir?: string;
  user?: string;
  privileged?: boolean;
  tty?: boolean;
  attachStdin?: boolean;
  attachStdout?: boolean;
  attachStderr?: boolean;
  detachKeys?: string;
  consoleSize?: [number, number] | null;
}

export interface ExecRecord {
  id: string;
  containerId: string;
  options: ExecCreateOptions;
  running: boolean;
  started: boolean;
  /** null until the process has exited. */
  exitCode: number | null;
  pid: number;
  finishedAt?: number;
}

/** How to start an exec; whether it has a TTY was fixed at create, as in dockerd. */
export interface ExecStartOptions {
  detach?: boolean;
  consoleSize?: [number, number] | null;
}

export interface ExecStreams {
  /** Output as it is logged (a TTY's output is all stdout). */
  output(e: LogEntry): void;
  /** Called once the process runs, when it was created with AttachStdin. */
  stdin?(sink: StdinSink): void;
}

export class ExecService {
  private readonly execs = new Map<string, ExecRecord>();
  /** The processes of running execs. */
  private readonly processes = new Map<string, ExecProcess>();

  constructor(
    private readonly containers: ContainerService,
    private readonly runtime: ContainerRuntime,
    private readonly execRoot: string,
    private readonly events?: ContainerEvents,
  ) {}

  private dir(id: string): string {
    return join(this.execRoot, 'execs', id);
  }

  create(ref: string, o: ExecCreateOptions): ExecRecord {
    const rec = this.containers.get(ref);
    checkRunning(rec);
    if (!o.cmd || o.cmd.length === 0) throw invalidArgument('No exec command specified');
    this.prune();
    const x: ExecRecord = { id: newContainerId(), containerId: rec.id, options: { ...o }, running: false, started: false, exitCode: null, pid: 0 };
    this.execs.set(x.id, x);
    this.events?.emit('container', `exec_create: ${o.cmd.join(' ')}`, rec.id, { image: rec.image, name: rec.name, execID: x.id });
    return x;
  }

  get(id: string): ExecRecord {
    const x = this.execs.get(id);
    if (!x) throw notFound(`No such exec instance: ${id}`);
    return x;
  }

  /** Exec ids of a container, for its inspect. */
  idsOf(containerId: string): string[] {
    return [...this.execs.values()].filter((x) => x.containerId === containerId).map((x) => x.id);
  }

  /**
   * Checks that the exec can start; call before switching the connection to a
   * stream so that errors still get their status code.
   */
  checkStart(id: string): ExecRecord {
    const x = this.get(id);
    if (x.running) throw conflict(`Error: Exec command ${id} is already running`);
    if (x.started) throw conflict(`Error: Exec command ${id} has already run`);
    checkRunning(this.containers.get(x.containerId));
    return x;
  }

  /**
   * Starts the process. Detached: resolves once it runs. Attached: streams its
   * output until it exits (or `abort`), then resolves. A process that cannot be
   * started rejects; the runtime's refusals get the exit code dockerd records for them
   * (startFailure: 126 cannot be executed, 127 not found, 128 anything else), others 126.
   */
  async start(id: string, o: ExecStartOptions, streams: ExecStreams | undefined, abort?: AbortSignal): Promise<void> {
    const x = this.checkStart(id);
    const rec = this.containers.get(x.containerId);
    x.started = true;
    const dir = this.dir(x.id);
    const tty = !!x.options.tty;
    let started: ExecProcess;
    // Output the runtime hands over itself (no log file in between); none once the stream is gone.
    let streaming = !o.detach && !!streams;
    const output = streaming ? (e: LogEntry) => void (streaming && streams!.output(e)) : undefined;
    try {
      // Synchronous: two small writes cost less than their thread-pool round trips on this hot path.
      const t0 = traceStart();
      mkdirSync(dir, { recursive: true });
      const proc = this.processSpec(rec, x, tty, o.consoleSize ?? x.options.consoleSize ?? null);
      writeFileSync(join(dir, 'process.json'), JSON.stringify(proc));
      const t1 = traceStart();
      traceSpan(x.id, 'exec: process.json', t0, t1);
      started = await this.runtime.exec({ containerId: rec.id, execId: x.id, dir, tty, stdin: !!x.options.attachStdin, output });
      traceSpan(x.id, 'exec: conmon + runc exec (until pid)', t1);
    } catch (err) {
      x.finishedAt = Date.now();
      await fsp.rm(dir, { recursive: true, force: true }).catch(() => undefined);
      if (!(err instanceof BerthError) || err.kind !== 'internal') {
        x.exitCode = 126;
        throw err;
      }
      const failure = startFailure(err.message);
      x.exitCode = failure.exitCode;
      throw failure.exitCode === 128 ? err : invalidArgument(failure.message, err);
    }
    x.running = true;
    x.pid = started.pid;
    this.processes.set(x.id, started);
    this.events?.emit('container', `exec_start: ${x.options.cmd.join(' ')}`, rec.id, { image: rec.image, name: rec.name, execID: x.id });
    let stdin: StdinConnection | undefined;
    if (x.options.attachStdin && streams?.stdin && !o.detach) {
      try {
        stdin = started.openStdin();
        streams.stdin(stdin);
      } catch (err) {
        log.warn('cannot attach to exec stdin', { id: x.id, error: String(err) });
      }
    }
    const finished = started.exited.then(
      (code) => this.finish(x, code),
      (err) => {
        log.warn('exec exit unknown', { id: x.id, error: String(err) });
        this.finish(x, 255);
      },
    );
    if (o.detach || !streams) {
      void finished.then(() => fsp.rm(dir, { recursive: true, force: true })).catch(() => undefined);
      return;
    }
    const follower = started.outputDirect ? undefined : new LogFollower(join(dir, 'log'), 0, streams.output);
    const aborted = new Promise<void>((resolve) => {
      if (abort?.aborted) resolve();
      abort?.addEventListener('abort', () => resolve(), { once: true });
    });
    const tRun = traceStart();
    await Promise.race([finished, aborted]);
    const tDrain = traceStart();
    traceSpan(x.id, 'exec: running until exit known', tRun, tDrain);
    streaming = false;
    if (abort?.aborted && x.running) follower?.stop();
    else await follower?.drain();
    traceSpan(x.id, 'exec: output drained', tDrain);
    stdin?.close();
    void finished.then(() => fsp.rm(dir, { recursive: true, force: true })).catch(() => undefined);
  }

  resize(id: string, height: number, width: number): void {
    const x = this.get(id);
    if (!x.running) throw conflict(`Exec ${id} is not running`);
    if (x.options.tty) this.processes.get(id)?.resize(height, width);
  }

  /** Forgets the execs of a removed container. */
  forget(containerId: string): void {
    for (const [id, x] of this.execs) if (x.containerId === containerId && !x.running) this.execs.delete(id);
  }

  private finish(x: ExecRecord, code: number): void {
    this.processes.delete(x.id);
    x.running = false;
    x.exitCode = code;
    x.finishedAt = Date.now();
    const rec = this.containers.find(x.containerId);
    if (rec) this.events?.emit('container', 'exec_die', rec.id, { image: rec.image, name: rec.name, execID: x.id, exitCode: String(code) });
  }

  private prune(): void {
    const now = Date.now();
    const live = new Set<string>(this.containers.list().map((r) => r.id));
    for (const [id, x] of this.execs) {
      if (x.running) continue;
      if (!live.has(x.containerId) || (x.finishedAt !== undefined && now - x.finishedAt > EXEC_RECORD_TTL_MS)) this.execs.delete(id);
    }
  }

  /** The container's process section with the exec's changes (an OCI process object). */
  private processSpec(rec: ContainerRecord, x: ExecRecord, tty: boolean, consoleSize: [number, number] | null): Record<string, unknown> {
    let spec: { process?: Record<string, unknown>; root?: { path?: string } };
    try {
      spec = this.runtime.specOf(rec.id) as unknown as typeof spec;
    } catch (err) {
      throw internal(`cannot read the runtime config of container ${rec.id}: ${err instanceof Error ? err.message : String(err)}`, err);
    }
    const base = spec.process ?? {};
    const proc: Record<string, unknown> = { ...base, args: x.options.cmd, terminal: tty };
    delete proc.consoleSize;
    if (tty && consoleSize && consoleSize[0] > 0 && consoleSize[1] > 0) proc.consoleSize = { height: consoleSize[0], width: consoleSize[1] };
    let env = (base.env as string[] | undefined) ?? [];
    const rootfs = spec.root?.path;
    if (x.options.user && rootfs) {
      const u = resolveUser(rootfs, x.options.user);
      const groupAdd = rec.spec.security.groupAdd ?? [];
      // As in the container's own spec (and dockerd's exec), the groups start with the primary gid.
      proc.user = { uid: u.uid, gid: u.gid, additionalGids: processGroups(u.gid, [...u.additionalGids, ...resolveGroups(rootfs, groupAdd)]) };
      // HOME follows the exec's user unless the container's config set it.
      if (!rec.spec.process.env.some((e) => e.startsWith('HOME='))) env = replaceOrAppendEnv(env, [`HOME=${u.home}`]);
    }
    if (tty && !env.some((e) => e.startsWith('TERM='))) env = [...env, 'TERM=xterm'];
    proc.env = replaceOrAppendEnv(env, x.options.env ?? []);
    if (x.options.workingDir) proc.cwd = x.options.workingDir;
    if (x.options.privileged) {
      const all = hostBoundingCapabilities();
      proc.capabilities = { bounding: all, effective: all, permitted: all, inheritable: [], ambient: [] };
      delete proc.apparmorProfile;
    }
    return proc;
  }
}

function checkRunning(rec: ContainerRecord): void {
  if (rec.state.status === 'paused') throw conflict(`Container ${rec.id} is paused, unpause the container before exec`);
  if (rec.state.status === 'restarting') throw conflict(`Container ${rec.id} is restarting, wait until the container is running`);
  if (rec.state.status !== 'running') throw conflict(`container ${rec.id} is not running`);
}
