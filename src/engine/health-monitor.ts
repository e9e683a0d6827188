/**
 * Health checks (`HEALTHCHECK` in the image, `--health-*` on create) with dockerd's rules.
 *
 * Contract:
 * - The check a container runs is fixed at create: its own fields over the image's, field by
 *   field (`mergeHealthCheck`); `["NONE"]` (`--no-healthcheck`) means none.
 * - Every start of a container with a check sets `state.health` to `starting` (streak 0,
 *   earlier results kept) and arms a timer; each probe runs the test through exec (so it
 *   shows up as exec events, as in Docker) one interval after the previous one ended:
 *   `startInterval` while starting within `startPeriod`, `interval` after. Exit 0 is
 *   healthy; anything else, a probe that cannot run (-1) or one that outlives `timeout`
 *   (-1, killed) is a failure. `retries` failures in a row make it unhealthy, except
 *   failures while starting within the start period, which do not count. The last five
 *   results are kept with at most 4096 bytes of output each. A change of status is saved
 *   and announced as a `health_status: <status>` event.
 * - An exit stops the timer and, as in dockerd, leaves the status unhealthy (streak and
 *   results kept); a removal stops the timer.
 * - When berthd starts again, running containers are re-armed with the status they had
 *   (dockerd resets it to starting; keeping it spares clients a false "starting").
 */
import { invalidArgument, log } from '../common';
import type { ContainerEvents, ContainerRecord, HealthCheck, HealthResult, HealthState } from './container-model';
import type { LogEntry } from '../runtime';

const NS_PER_MS = 1_000_000;
export const HEALTH_DEFAULTS = { intervalMs: 30_000, timeoutMs: 30_000, startPeriodMs: 0, startIntervalMs: 5_000, retries: 3 };
const MAX_LOG_ENTRIES = 5;
const MAX_OUTPUT_BYTES = 4096;

/** The image config's Healthcheck, as Docker writes it (durations in nanoseconds). */
export interface ImageHealthcheck {
  Test?: string[];
  Interval?: number;
  Timeout?: number;
  StartPeriod?: number;
  StartInterval?: number;
  Retries?: number;
}

/** dockerd's merge at create: the container's fields, each unset one taken from the image. */
export function mergeHealthCheck(own: HealthCheck | null, image: ImageHealthcheck | undefined): HealthCheck | null {
  if (!image) return own;
  const fromImage: HealthCheck = {
    test: image.Test ?? [], interval: image.Interval ?? 0, timeout: image.Timeout ?? 0, startPeriod: image.StartPeriod ?? 0,
    startInterval: image.StartInterval ?? 0, retries: image.Retries ?? 0,
  };
  if (!own) return fromImage;
  return {
    test: own.test.length ? own.test : fromImage.test,
    interval: own.interval || fromImage.interval,
    timeout: own.timeout || fromImage.timeout,
    startPeriod: own.startPeriod || fromImage.startPeriod,
    startInterval: own.startInterval || fromImage.startInterval,
    retries: own.retries || fromImage.retries,
  };
}

/** dockerd's limits on a check's fields, in its words: durations of at least 1 ms (or 0 for the default). */
export function checkHealthCheck(h: HealthCheck | null): void {
  if (!h) return;
  const fields: [string, number][] = [['Interval', h.interval], ['Timeout', h.timeout], ['StartPeriod', h.startPeriod], ['StartInterval', h.startInterval]];
  for (const [name, v] of fields) if (v !== 0 && v < NS_PER_MS) throw invalidArgument(`${name} in Healthcheck cannot be less than 1ms`);
  if (h.retries < 0) throw invalidArgument('Retries in Healthcheck cannot be negative');
}

/** The check a container runs, or undefined for none (no test, or NONE). */
export function activeCheck(rec: ContainerRecord): HealthCheck | undefined {
  const h = rec.spec.healthCheck;
  if (!h || h.test.length === 0 || h.test[0] === 'NONE') return undefined;
  return h;
}

/** Go's time.Duration text, as dockerd's timeout message shows it (1s, 500ms, 1m30s). */
export function goDuration(ms: number): string {
  if (ms < 1000) return `${ms}ms`;
  const h = Math.floor(ms / 3_600_000);
  const m = Math.floor((ms % 3_600_000) / 60_000);
  const s = (ms % 60_000) / 1000;
  return `${h ? `${h}h` : ''}${h || m ? `${m}m` : ''}${s}s`;
}

/** What probes need of the exec service (exec.ts), without importing it. */
export interface ProbeExecs {
  create(ref: string, o: { cmd: string[]; attachStdout: boolean; attachStderr: boolean }): { id: string; pid: number };
  start(id: string, o: object, streams: { output(e: LogEntry): void }, abort: AbortSignal): Promise<void>;
  get(id: string): { exitCode: number | null };
}

export interface HealthMonitorDeps {
  find(id: string): ContainerRecord | undefined;
  list(): ContainerRecord[];
  execs(): ProbeExecs;
  save(rec: ContainerRecord): Promise<void>;
  events: ContainerEvents;
  /** SIGKILL to a host pid (a probe past its timeout). */
  killProcess(pid: number): void;
}

interface Armed {
  timer: NodeJS.Timeout | undefined;
  /** The run (startedAt) the timer belongs to: a result of an older run is dropped. */
  startedAt: string;
  stopped: boolean;
}

export class HealthMonitor {
  private readonly armed = new Map<string, Armed>();

  constructor(private readonly deps: HealthMonitorDeps) {}

  /** Follows starts and exits on the event stream; `subscribe` is the event bus's. */
  follow(subscribe: (fn: (e: { type: string; action: string; id: string }) => void) => () => void): () => void {
    return subscribe((e) => {
      if (e.type !== 'container') return;
      if (e.action === 'start') {
        const rec = this.deps.find(e.id);
        if (rec) this.arm(rec, true);
      } else if (e.action === 'die') this.stopped(e.id);
      else if (e.action === 'destroy') this.disarm(e.id);
    });
  }

  /** The container's process ended: probing stops and, as dockerd has it, the status is unhealthy. */
  private stopped(id: string): void {
    if (!this.armed.has(id)) return;
    this.disarm(id);
    const rec = this.deps.find(id);
    if (!rec?.state.health) return;
    rec.state.health.status = 'unhealthy';
    void this.deps.save(rec).catch((err) => log.warn('cannot save container health', { id, error: String(err) }));
  }

  /** Re-arms every running container with a check, keeping its status (berthd starting). */
  adoptRunning(): void {
    for (const rec of this.deps.list()) if (rec.state.status === 'running' || rec.state.status === 'paused') this.arm(rec, false);
  }

  /** Starts probing the container's current run; `fresh`: it has just started (status starting). */
  arm(rec: ContainerRecord, fresh: boolean): void {
    const check = activeCheck(rec);
    this.disarm(rec.id);
    if (!check) return;
    if (fresh || !rec.state.health) {
      rec.state.health = { status: 'starting', failingStreak: 0, log: rec.state.health?.log ?? [] };
      void this.deps.save(rec).catch((err) => log.warn('cannot save container health', { id: rec.id, error: String(err) }));
    }
    const a: Armed = { timer: undefined, startedAt: rec.state.startedAt, stopped: false };
    this.armed.set(rec.id, a);
    this.scheduleNext(rec, check, a);
  }

  disarm(id: string): void {
    const a = this.armed.get(id);
    if (!a) return;
    a.stopped = true;
    if (a.timer) clearTimeout(a.timer);
    this.armed.delete(id);
  }

  dispose(): void {
    for (const id of [...this.armed.keys()]) this.disarm(id);
  }

  private scheduleNext(rec: ContainerRecord, check: HealthCheck, a: Armed): void {
    const interval = check.interval / NS_PER_MS || HEALTH_DEFAULTS.intervalMs;
    const startPeriod = check.startPeriod / NS_PER_MS || HEALTH_DEFAULTS.startPeriodMs;
    const startInterval = check.startInterval / NS_PER_MS || HEALTH_DEFAULTS.startIntervalMs;
    const inStartPeriod = Date.now() - Date.parse(rec.state.startedAt) < startPeriod;
    const next = inStartPeriod && rec.state.health?.status === 'starting' ? startInterval : interval;
    a.timer = setTimeout(() => void this.tick(rec, check, a), next);
    a.timer.unref();
  }

  private async tick(rec: ContainerRecord, check: HealthCheck, a: Armed): Promise<void> {
    if (a.stopped) return;
    if (rec.state.status === 'running') {
      const result = await this.probe(rec, check);
      if (a.stopped || rec.state.startedAt !== a.startedAt || rec.state.status !== 'running') return;
      await this.record(rec, check, result);
    }
    // A paused container is not probed; the next interval tries again.
    if (!a.stopped) this.scheduleNext(rec, check, a);
  }

  /** Runs the test once through exec. */
  async probe(rec: ContainerRecord, check: HealthCheck): Promise<HealthResult> {
    const start = new Date();
    const timeoutMs = check.timeout / NS_PER_MS || HEALTH_DEFAULTS.timeoutMs;
    const shell = rec.spec.imageSettings.shell?.length ? rec.spec.imageSettings.shell : ['/bin/sh', '-c'];
    const cmd = check.test[0] === 'CMD-SHELL' ? [...shell, check.test.slice(1).join(' ')] : check.test.slice(1);
    const chunks: Buffer[] = [];
    let bytes = 0;
    const execs = this.deps.execs();
    const ac = new AbortController();
    let timedOut = false;
    let timer: NodeJS.Timeout | undefined;
    try {
      const x = execs.create(rec.id, { cmd, attachStdout: true, attachStderr: true });
      timer = setTimeout(() => {
        timedOut = true;
        if (x.pid > 0) {
          try {
            this.deps.killProcess(x.pid);
          } catch (err) {
            log.warn('cannot kill a health probe past its timeout', { id: rec.id, pid: x.pid, error: String(err) });
          }
        }
        ac.abort();
      }, timeoutMs);
      await execs.start(x.id, {}, {
        output: (e) => {
          if (bytes >= MAX_OUTPUT_BYTES) return;
          const part = e.data.subarray(0, MAX_OUTPUT_BYTES - bytes);
          chunks.push(part);
          bytes += part.length;
        },
      }, ac.signal);
      const end = new Date();
      if (timedOut) return { start: start.toISOString(), end: end.toISOString(), exitCode: -1, output: `Health check exceeded timeout (${goDuration(timeoutMs)})` };
      const code = execs.get(x.id).exitCode ?? -1;
      return { start: start.toISOString(), end: end.toISOString(), exitCode: code, output: Buffer.concat(chunks).toString('utf8') };
    } catch (err) {
      return { start: start.toISOString(), end: new Date().toISOString(), exitCode: -1, output: err instanceof Error ? err.message : String(err) };
    } finally {
      if (timer) clearTimeout(timer);
    }
  }

  /** dockerd's handling of one result: streak, status, the five last results, the event. */
  private async record(rec: ContainerRecord, check: HealthCheck, result: HealthResult): Promise<void> {
    const h: HealthState = rec.state.health ?? { status: 'starting', failingStreak: 0, log: [] };
    const before = h.status;
    h.log = [...h.log, result].slice(-MAX_LOG_ENTRIES);
    if (result.exitCode === 0) {
      h.failingStreak = 0;
      h.status = 'healthy';
    } else {
      const startPeriod = check.startPeriod / NS_PER_MS || HEALTH_DEFAULTS.startPeriodMs;
      const graced = h.status === 'starting' && Date.parse(result.start) - Date.parse(rec.state.startedAt) < startPeriod;
      if (!graced) {
        h.failingStreak++;
        if (h.failingStreak >= (check.retries > 0 ? check.retries : HEALTH_DEFAULTS.retries)) h.status = 'unhealthy';
      }
    }
    rec.state.health = h;
    await this.deps.save(rec).catch((err) => log.warn('cannot save container health', { id: rec.id, error: String(err) }));
    if (h.status !== before) this.deps.events.emit('container', `health_status: ${h.status}`, rec.id, { image: rec.image, name: rec.name });
  }
}
