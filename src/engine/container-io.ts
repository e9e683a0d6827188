/**
 * A container's I/O: its log (`logs`), output from now on (`attach`), its stdin
 * and its terminal size. Output is what the runtime logged, followed as it grows,
 * so a client never misses what was written before it read.
 */
import { log, notImplemented } from '../common';
import { closeLogs, LogFollower, openLogSet, readyLog, scanLogFd, tailLines, type LogEntry } from '../runtime';
import type { ContainerRecord } from './container-model';
import { logsReadable, UNREADABLE_LOG } from './log-config';
import type { ContainerRuntime, StdinConnection } from './container-runtime';
import type { ContainerStore } from './container-store';

export interface LogsOptions {
  follow?: boolean;
  /** The last this many lines only. */
  tail?: number;
  /** Unix seconds. */
  since?: number;
  until?: number;
  /** Called once the log is known to be readable, before the first entry (a caller's reply can start then). */
  onStart?: () => void;
}

export class ContainerIO {
  constructor(
    private readonly store: ContainerStore,
    private readonly runtime: ContainerRuntime,
  ) {}

  /**
   * Writes the container's log entries: everything, or the last `tail`, then
   * (with follow) new ones until the container stops or `abort` fires.
   */
  /**
   * The log (`docker logs`), then with `follow` what comes until the container exits.
   * `pace` is awaited between blocks of a large log, so a slow reader holds it back.
   */
  async logs(
    ref: string, opts: LogsOptions, write: (e: LogEntry) => void, abort: AbortSignal, pace?: () => Promise<void>,
  ): Promise<void> {
    const rec = this.store.get(ref);
    if (!logsReadable(rec.spec.logConfig)) throw notImplemented(UNREADABLE_LOG);
    opts.onStart?.();
    const windowed = opts.since !== undefined || opts.until !== undefined;
    const inWindow = (e: LogEntry) => {
      if (!windowed) return true;
      const t = Date.parse(e.time) / 1000;
      return (opts.since === undefined || t >= opts.since) && (opts.until === undefined || t <= opts.until);
    };
    const tail = opts.tail !== undefined && opts.tail >= 0 ? opts.tail : undefined;
    // Every file of the log opened at once, oldest first (what a rotation kept, then the
    // current one), so that a rotation while they are read changes nothing for this reader.
    const { rotated, current } = openLogSet(rec.logPath);
    const files = current ? [...rotated, current] : rotated;
    let handedOn = false;
    // Where the current file was read to (after its last complete line): following goes on from there.
    let end = current ? current.size : 0;
    try {
      if (tail !== undefined && windowed) {
        // The tail of what the time window selects: read the window, keep its last lines.
        const shown: LogEntry[] = [];
        for (const file of files) {
          const f = await readyLog(file);
          const to = await scanLogFd(f.fd, 0, (e) => {
            if (!inWindow(e)) return;
            shown.push(e);
            // Trimmed now and then, not on every line.
            if (shown.length > 2 * tail + 1024) shown.splice(0, shown.length - tail);
          }, f.size);
          if (f === current) end = to;
        }
        for (const e of tail === 0 ? [] : shown.slice(-tail)) write(e);
      } else {
        // Streamed from where the last `tail` lines start (found reading backward, from the
        // newest file to older ones), never held whole.
        let first = 0;
        let start = 0;
        if (tail !== undefined) {
          first = files.length - 1;
          start = files.length ? (await readyLog(files[first]!)).size : 0;
          for (let need = tail, i = files.length - 1; i >= 0 && need > 0; i--) {
            const f = await readyLog(files[i]!);
            const found = await tailLines(f.fd, need, f.size, i === files.length - 1);
            first = i;
            start = found.start;
            need -= found.lines;
          }
        }
        for (let i = Math.max(first, 0); i < files.length; i++) {
          const f = await readyLog(files[i]!);
          const to = await scanLogFd(f.fd, i === first ? start : 0, windowed ? (e) => inWindow(e) && write(e) : write, f.size, pace);
          if (f === current) end = to;
        }
      }
      if (!opts.follow || rec.state.status !== 'running' || abort.aborted) return;
      handedOn = true;
      // The current file is handed over to the follower (it closes it), from where it was read to.
      const follower = new LogFollower(rec.logPath, end, (e) => inWindow(e) && write(e), { file: current, read: rotated.map((f) => f.key) });
      await this.untilExit(rec, follower, abort);
    } finally {
      if (!handedOn) closeLogs(files);
      else closeLogs(rotated);
    }
  }

  /**
   * Streams output written from now on until the container's next exit (attach);
   * with `withLogs`, everything logged so far first, with nothing lost between.
   */
  async attach(ref: string, write: (e: LogEntry) => void, abort: AbortSignal, onFollowing?: () => void, withLogs = false): Promise<void> {
    const rec = this.store.get(ref);
    // A container that is not running yet (or any more) streams its next run, as
    // `docker start -a` expects: it attaches first and starts afterwards.
    const follower = new LogFollower(rec.logPath, withLogs ? 0 : 'end', write);
    // Input may be sent from here on: its answer lands past where the follower starts.
    onFollowing?.();
    await this.untilExit(rec, follower, abort);
  }

  /**
   * Connects to the container's stdin: now when it runs, else at its next start,
   * before its process runs. Undefined when the container was not created with
   * openStdin, or `abort` fired first. The caller closes the connection; ending it
   * closes the container's stdin when stdinOnce.
   */
  async openStdin(ref: string, abort: AbortSignal): Promise<StdinConnection | undefined> {
    const rec = this.store.get(ref);
    if (!rec.spec.process.openStdin || abort.aborted) return undefined;
    const connect = (): StdinConnection | undefined => {
      try {
        return this.runtime.openStdin(rec.id);
      } catch (err) {
        log.warn('cannot attach to container stdin', { id: rec.id, error: String(err) });
        return undefined;
      }
    };
    if (rec.state.status === 'running' || rec.state.status === 'paused') return connect();
    return await new Promise<StdinConnection | undefined>((resolve) => {
      const onAbort = () => {
        off();
        resolve(undefined);
      };
      const off = this.store.once('created', rec.id, () => {
        abort.removeEventListener('abort', onAbort);
        resolve(connect());
      });
      abort.addEventListener('abort', onAbort, { once: true });
    });
  }

  /** Resizes the container's TTY; a no-op without TTY or when not running. */
  resize(ref: string, height: number, width: number): void {
    const rec = this.store.get(ref);
    if (!rec.spec.process.tty || rec.state.status !== 'running') return;
    this.runtime.resize(rec.id, height, width);
  }

  /** Lets `follower` run until the container's next exit (then reads what is left) or `abort`. */
  private async untilExit(rec: ContainerRecord, follower: LogFollower, abort: AbortSignal): Promise<void> {
    const exited = this.store.nextExit(rec.id);
    const aborted = new Promise<void>((resolve) => {
      if (abort.aborted) resolve();
      abort.addEventListener('abort', () => resolve(), { once: true });
    });
    await Promise.race([exited, aborted]);
    if (abort.aborted) follower.stop();
    else await follower.drain();
  }
}
