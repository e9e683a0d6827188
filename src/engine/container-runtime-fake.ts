/**
 * An in-memory ContainerRuntime for unit tests: no processes, no root. A container's
 * "process" runs from `start` until a test ends it (`exit`) or a signal it does not
 * ignore arrives (exit code 128 + the signal's number, as a shell reports it). Exits
 * are announced to `watchExits` on a later tick, as a real monitor's would be.
 *
 * `exec` stands in for `conmon --exec` + `runc exec`: it reads the process.json in the
 * exec's directory when the process "starts" (as runc does), refuses a container that is
 * not running, and keeps the process (a `FakeExec`) until a test ends it with `exit`; its
 * `write` appends to the exec's log in conmon's k8s-file format, or, for an attached
 * process without a terminal or stdin, hands the line to the exec's `output` as the real
 * runtime does. The container's exit
 * kills its execs (137), as the end of its PID namespace would.
 */
import { appendFileSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import type { ExecProcessOptions, OciSpec, RuncStatus } from '../runtime';
import type { ContainerRuntime, ExecProcess, RuntimeCreateOptions, StdinConnection } from './container-runtime';
import { signalNumber } from '../common';

/** A process started by the fake's `exec`. */
export interface FakeExec {
  options: ExecProcessOptions;
  /** The OCI process object read from process.json when it started. */
  process: Record<string, unknown>;
  pid: number;
  /** Null while it runs. */
  exitCode: number | null;
  /** `HxW` of every resize asked of it (a no-op without a terminal, as in conmon). */
  resizes: string[];
  /** What was written to its stdin, and whether stdin was ended. */
  stdin: { data: Buffer[]; ended: boolean };
  /** The process writes `text` (a full line) on `stream`. */
  write(stream: 'stdout' | 'stderr', text: string): void;
  /** The process exits with `code`. */
  exit(code: number): void;
}

interface FakeContainer {
  options: RuntimeCreateOptions;
  status: RuncStatus;
  pid: number;
  exit?: { code: number; at: Date };
  monitorAlive: boolean;
  resources: object[];
  /** A signal sent while frozen, delivered at the thaw. */
  pending?: string;
}

export class FakeRuntime implements ContainerRuntime {
  private readonly containers = new Map<string, FakeContainer>();
  private readonly onExit: ((id: string) => void)[] = [];
  private nextPid = 1000;
  /** Signals each container's process ignores (its "trap"). */
  readonly ignored = new Map<string, Set<string>>();
  /** Every call, in order, as `method id` (for tests of what the services ask). */
  readonly calls: string[] = [];
  /** Makes the next `create` of this id fail with the message, as runc would. */
  readonly failCreate = new Map<string, string>();
  /** Makes the `exec` of this exec id fail with the message, as runc exec would. */
  readonly failExec = new Map<string, string>();
  /** Processes started by `exec`, by exec id. */
  readonly execs = new Map<string, FakeExec>();
  private readonly execWaiters = new Map<string, ((x: FakeExec) => void)[]>();

  private get(id: string): FakeContainer {
    const c = this.containers.get(id);
    if (!c) throw new Error(`container ${id} does not exist`);
    return c;
  }

  /** The container's process exits by itself with `code`. */
  exit(id: string, code: number): void {
    const c = this.get(id);
    if (c.status !== 'running' && c.status !== 'paused') throw new Error(`container ${id} is not running`);
    c.status = 'stopped';
    c.exit = { code, at: new Date() };
    for (const x of this.execs.values()) if (x.options.containerId === id && x.exitCode === null) x.exit(137);
    setImmediate(() => this.onExit.forEach((f) => f(id)));
  }

  /** Resolves with the exec's process once `exec` has started it (at once if it has). */
  execStarted(execId: string): Promise<FakeExec> {
    const x = this.execs.get(execId);
    if (x) return Promise.resolve(x);
    return new Promise((resolve) => this.execWaiters.set(execId, [...(this.execWaiters.get(execId) ?? []), resolve]));
  }

  /** The monitor dies with the container and records nothing (a killed conmon). */
  loseMonitor(id: string): void {
    const c = this.get(id);
    c.status = 'stopped';
    c.monitorAlive = false;
  }

  /** The resources given to `update`, oldest first. */
  updates(id: string): object[] {
    return this.get(id).resources;
  }

  watchExits(onExit: (id: string) => void): void {
    this.onExit.push(onExit);
  }

  async create(o: RuntimeCreateOptions): Promise<number> {
    this.calls.push(`create ${o.id}`);
    const fail = this.failCreate.get(o.id);
    if (fail !== undefined) {
      this.failCreate.delete(o.id);
      throw new Error(fail);
    }
    const pid = this.nextPid++;
    this.containers.set(o.id, { options: o, status: 'created', pid, monitorAlive: true, resources: [] });
    return pid;
  }

  async start(id: string): Promise<void> {
    this.calls.push(`start ${id}`);
    const c = this.get(id);
    if (c.status !== 'created') throw new Error(`cannot start a container that is ${c.status}`);
    c.status = 'running';
  }

  async kill(id: string, signal: string, _all?: boolean): Promise<void> {
    this.calls.push(`kill ${id} ${signal}`);
    const c = this.get(id);
    if (c.status !== 'running' && c.status !== 'paused') throw new Error('container not running');
    if (signal !== 'KILL' && this.ignored.get(id)?.has(signal)) return;
    if (c.status === 'paused' && signal !== 'KILL') {
      c.pending = signal;
      return;
    }
    this.exit(id, 128 + signalNumber(signal));
  }

  killProcess(pid: number): void {
    this.calls.push(`killProcess ${pid}`);
    for (const [id, c] of this.containers) if (c.pid === pid && (c.status === 'running' || c.status === 'paused')) this.exit(id, 137);
  }
  /** Fake processes catch every signal: a stop's signal is never sent twice. */
  catchesSignal(): boolean {
    return true;
  }


  async pause(id: string): Promise<void> {
    this.calls.push(`pause ${id}`);
    const c = this.get(id);
    if (c.status !== 'running') throw new Error('container not running');
    c.status = 'paused';
  }

  async resume(id: string): Promise<void> {
    this.calls.push(`resume ${id}`);
    const c = this.get(id);
    if (c.status !== 'paused') throw new Error('container not paused');
    c.status = 'running';
    if (c.pending) this.exit(id, 128 + signalNumber(c.pending));
  }

  async update(id: string, resources: object): Promise<void> {
    const c = this.get(id);
    if (c.status !== 'running' && c.status !== 'paused') throw new Error('container not running');
    c.resources.push(resources);
  }

  async state(id: string): Promise<{ status: RuncStatus; pid: number } | undefined> {
    const c = this.containers.get(id);
    return c && { status: c.status, pid: c.status === 'stopped' ? 0 : c.pid };
  }

  async exitCode(id: string): Promise<{ code: number; at: Date } | undefined> {
    return this.containers.get(id)?.exit;
  }

  async monitorAlive(id: string): Promise<boolean> {
    const c = this.containers.get(id);
    return !!c && c.monitorAlive && !c.exit;
  }

  known(id: string): boolean {
    return this.containers.has(id);
  }

  async delete(id: string): Promise<void> {
    this.calls.push(`delete ${id}`);
    this.containers.delete(id);
  }

  forgetExit(_id: string): void {
    // The exit lives with the container here, gone with delete().
  }

  async discard(id: string): Promise<void> {
    this.calls.push(`discard ${id}`);
    this.containers.delete(id);
  }

  oomKilled(_cgroupsPath: string): boolean {
    return false;
  }

  openStdin(id: string): StdinConnection {
    throw new Error(`the fake runtime has no stdin for ${id}`);
  }

  resize(id: string, height: number, width: number): void {
    this.calls.push(`resize ${id} ${height}x${width}`);
  }

  specOf(id: string): OciSpec {
    return this.get(id).options.spec;
  }

  async exec(o: ExecProcessOptions): Promise<ExecProcess> {
    this.calls.push(`exec ${o.containerId} ${o.execId}`);
    const c = this.get(o.containerId);
    if (c.status !== 'running') throw new Error(`cannot exec in a ${c.status} container`);
    const process = JSON.parse(readFileSync(join(o.dir, 'process.json'), 'utf8')) as Record<string, unknown>;
    const fail = this.failExec.get(o.execId);
    if (fail !== undefined) {
      this.failExec.delete(o.execId);
      throw new Error(fail);
    }
    let exited!: (code: number) => void;
    const done = new Promise<number>((resolve) => (exited = resolve));
    // As the real runtime: an attached process without a terminal or stdin writes straight to `output`.
    const direct = o.output && !o.tty && !o.stdin ? o.output : undefined;
    const x: FakeExec = {
      options: o,
      process,
      pid: this.nextPid++,
      exitCode: null,
      resizes: [],
      stdin: { data: [], ended: false },
      write: (stream, text) => {
        const time = new Date().toISOString();
        if (direct) direct({ time, stream, data: Buffer.from(`${text}\n`) });
        else appendFileSync(join(o.dir, 'log'), `${time} ${stream} F ${text}\n`);
      },
      exit: (code) => {
        if (x.exitCode !== null) return;
        x.exitCode = code;
        exited(code);
      },
    };
    this.execs.set(o.execId, x);
    this.execWaiters.get(o.execId)?.forEach((f) => f(x));
    this.execWaiters.delete(o.execId);
    return {
      pid: x.pid,
      exited: done,
      outputDirect: !!direct,
      openStdin: () => {
        if (!o.stdin) throw new Error(`exec ${o.execId} has no stdin`);
        return { write: (data) => (x.stdin.data.push(Buffer.from(data)), true), end: () => void (x.stdin.ended = true), close: () => undefined };
      },
      resize: (h, w) => void x.resizes.push(`${h}x${w}`),
    };
  }
}
