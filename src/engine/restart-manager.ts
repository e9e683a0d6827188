/**
 * Restart policies (`--restart no|always|on-failure[:N]|unless-stopped`) with dockerd's rules.
 *
 * Contract:
 * - At each exit the container service asks `onExit`: the answer is the delay before the
 *   container starts again, or undefined when it stays down. A restart counts at once
 *   (`restartCount` goes up when it is decided, as dockerd's RestartCount does) and the
 *   container shows as `restarting` until `start` is called back, after the delay.
 * - The delay is a back-off per container: 100 ms, doubled at each restart up to one
 *   minute, back to 100 ms when the last run lasted 10 s or more. It lives in memory: a
 *   new berthd starts again at 100 ms, while `restartCount` (in the record) carries on.
 * - `cancelNext` is dockerd's ExitOnNext: the next exit (a stop, a kill) is not followed by
 *   a restart, and a pending restart is dropped. A manual start (`reset`) clears it,
 *   along with the back-off.
 * - `unless-stopped` also stays down after a manual stop across daemon restarts: the
 *   record's `manuallyStopped` flag (set by stop and kill, cleared by a manual start)
 *   says so. `always` comes back when berthd starts again, as in Docker.
 * - Timers are the only state; `dispose` drops them all (berthd shutting down, tests).
 */
import { invalidArgument } from '../common';
import type { ContainerRecord, RestartPolicy } from './container-model';

export const RESTART_INITIAL_DELAY_MS = 100;
export const RESTART_MAX_DELAY_MS = 60_000;
/** A run at least this long resets the back-off. */
export const RESTART_RESET_AFTER_MS = 10_000;

const POLICIES = ['no', 'always', 'on-failure', 'unless-stopped'];

/** dockerd's checks of a restart policy, in its words (create and update). */
export function checkRestartPolicy(p: { name: string; maximumRetryCount?: number }, autoRemove = false): void {
  const count = p.maximumRetryCount ?? 0;
  if (p.name === 'on-failure') {
    if (count < 0) throw invalidArgument('invalid restart policy: maximum retry count cannot be negative');
  } else if (p.name === '') {
    // Older clients send an empty name for "no", with any count.
  } else if (POLICIES.includes(p.name)) {
    if (count !== 0) throw invalidArgument(`invalid restart policy: maximum retry count can only be used with 'on-failure'${count < 0 ? ' and cannot be negative' : ''}`);
  } else {
    throw invalidArgument(`invalid restart policy: unknown policy '${p.name}'; use one of 'no', 'always', 'on-failure', or 'unless-stopped'`);
  }
  if (autoRemove && p.name !== '' && p.name !== 'no') throw invalidArgument("can't create 'AutoRemove' container with restart policy");
}

/** Whether the policy asks for a restart after this exit (no back-off, no cancel involved). */
export function policyWantsRestart(policy: RestartPolicy, exitCode: number, restartCount: number, manuallyStopped: boolean): boolean {
  switch (policy.name) {
    case 'always':
      return true;
    case 'unless-stopped':
      return !manuallyStopped;
    case 'on-failure':
      return exitCode !== 0 && (policy.maximumRetryCount <= 0 || restartCount < policy.maximumRetryCount);
    default:
      return false;
  }
}

/** Timers, so tests can run the back-off on a fake clock. */
export interface RestartClock {
  setTimeout(fn: () => void, ms: number): unknown;
  clearTimeout(handle: unknown): void;
}

const REAL_CLOCK: RestartClock = {
  // berthd's API keeps the process alive; a pending restart must not keep a test's alive.
  setTimeout: (fn, ms) => setTimeout(fn, ms).unref(),
  clearTimeout: (h) => clearTimeout(h as NodeJS.Timeout),
};

export class RestartManager {
  /** The current back-off of each container that restarted at least once since its manual start. */
  private readonly delays = new Map<string, number>();
  /** Containers whose next exit must not restart them (a stop or kill is under way). */
  private readonly canceled = new Set<string>();
  private readonly pending = new Map<string, unknown>();

  /** `restart(id)` starts the container again; called when a delay has passed. */
  constructor(
    private readonly restart: (id: string) => void,
    private readonly clock: RestartClock = REAL_CLOCK,
  ) {}

  /**
   * Decides at an exit, and when the container restarts counts the restart on `rec` and
   * schedules it: the delay in ms, or undefined when it stays down.
   */
  onExit(rec: ContainerRecord, exitCode: number, ranMs: number): number | undefined {
    if (this.canceled.has(rec.id)) return undefined;
    const policy = rec.spec.restartPolicy;
    if (!policyWantsRestart(policy, exitCode, rec.restartCount, !!rec.manuallyStopped)) return undefined;
    const before = ranMs >= RESTART_RESET_AFTER_MS ? 0 : this.delays.get(rec.id) ?? 0;
    const delay = before === 0 ? RESTART_INITIAL_DELAY_MS : Math.min(before * 2, RESTART_MAX_DELAY_MS);
    this.delays.set(rec.id, delay);
    rec.restartCount++;
    this.schedule(rec.id, delay);
    return delay;
  }

  /** Starts the container after `delayMs` (a restart decided earlier, e.g. before a daemon restart). */
  schedule(id: string, delayMs: number): void {
    this.clear(id);
    this.pending.set(id, this.clock.setTimeout(() => {
      this.pending.delete(id);
      this.restart(id);
    }, delayMs));
  }

  /** Whether a restart of the container waits for its delay. */
  isPending(id: string): boolean {
    return this.pending.has(id);
  }

  /** dockerd's ExitOnNext: no restart after the next exit; a pending restart is dropped. True if one was. */
  cancelNext(id: string): boolean {
    this.canceled.add(id);
    return this.clear(id);
  }

  /** A manual start: the policy acts again, from the first delay. */
  reset(id: string): void {
    this.canceled.delete(id);
    this.delays.delete(id);
    this.clear(id);
  }

  /** The container is gone. */
  forget(id: string): void {
    this.reset(id);
  }

  dispose(): void {
    for (const id of [...this.pending.keys()]) this.clear(id);
  }

  private clear(id: string): boolean {
    const h = this.pending.get(id);
    if (h === undefined) return false;
    this.clock.clearTimeout(h);
    this.pending.delete(id);
    return true;
  }
}
