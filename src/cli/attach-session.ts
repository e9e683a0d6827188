import type { Duplex } from 'node:stream';
import { Hijacked, copyRawStream, demuxStream, type WaitHandle } from '../client';
import { CliContext, ExitError } from './context';
import { daemonErrorText as errorText } from './command';

export interface AttachStreams {
  stdin: boolean;
  tty: boolean;
}

/**
 * Pumps a hijacked attach: stdin → socket (half-closing the socket at EOF, as
 * docker's CloseWrite), socket → stdout/stderr (demultiplexed unless TTY).
 * `done` settles when the daemon closes the output side.
 */
export class AttachSession {
  readonly done: Promise<void>;
  private readonly socket: Duplex;
  private rawMode = false;
  private stdinAttached = false;

  constructor(
    private readonly ctx: CliContext,
    hijacked: Hijacked,
    private readonly opts: AttachStreams,
  ) {
    this.socket = hijacked.socket;
    const { stdout, stderr } = ctx.io;
    this.done = opts.tty
      ? copyRawStream(this.socket, stdout, hijacked.head)
      : demuxStream(this.socket, { stdout, stderr }, hijacked.head);
    this.done.then(
      () => this.close(),
      () => this.close(),
    );
  }

  /** Starts forwarding stdin (call after the container started). */
  pumpStdin(): void {
    if (!this.opts.stdin || this.stdinAttached) return;
    this.stdinAttached = true;
    const stdin = this.ctx.io.stdin;
    if (this.opts.tty && stdin.isTTY && stdin.setRawMode) {
      stdin.setRawMode(true);
      this.rawMode = true;
    }
    stdin.on('data', this.onData);
    stdin.once('end', this.onEnd);
    stdin.resume();
  }

  private readonly onData = (chunk: Buffer) => {
    if (!this.socket.destroyed && this.socket.writable) this.socket.write(chunk);
  };

  private readonly onEnd = () => {
    if (!this.socket.destroyed && this.socket.writable) this.socket.end();
  };

  /** Stops reading stdin, leaves raw mode and drops the connection. */
  close(): void {
    const stdin = this.ctx.io.stdin;
    if (this.stdinAttached) {
      stdin.removeListener('data', this.onData);
      stdin.removeListener('end', this.onEnd);
      stdin.pause();
      this.stdinAttached = false;
    }
    if (this.rawMode && stdin.setRawMode) {
      stdin.setRawMode(false);
      this.rawMode = false;
    }
    if (!this.socket.destroyed) this.socket.destroy();
  }
}

/** Resizes the container's TTY to ours now and whenever the terminal changes. */
export function followTerminalSize(ctx: CliContext, id: string): () => void {
  const out = ctx.io.stdout;
  if (!out.isTTY) return () => undefined;
  const resize = () => {
    const h = out.rows ?? 0;
    const w = out.columns ?? 0;
    if (h > 0 && w > 0) ctx.client.containerResize(id, h, w).catch(() => undefined);
  };
  resize();
  out.on('resize', resize);
  return () => out.removeListener('resize', resize);
}

/** Forwards SIGINT/SIGTERM/… to the container while it runs (docker's sig-proxy). */
export function proxySignals(ctx: CliContext, id: string): () => void {
  if (!ctx.io.signals) return () => undefined;
  const sigs: NodeJS.Signals[] = ['SIGINT', 'SIGTERM', 'SIGHUP', 'SIGQUIT', 'SIGUSR1', 'SIGUSR2'];
  const handlers = sigs.map((s) => {
    const h = () => {
      ctx.client.containerKill(id, s).catch(() => undefined);
    };
    ctx.io.signals!.on(s, h);
    return [s, h] as const;
  });
  return () => {
    for (const [s, h] of handlers) ctx.io.signals!.removeListener(s, h);
  };
}

/**
 * The attached part of run, start -a and attach: pumps stdin, follows the terminal
 * size (TTY) or proxies signals (no TTY, unless `sigProxy` is false), waits for the
 * streams and the container's exit, and returns its code. A wait error is 125 with
 * `report(text)` as the message.
 */
export async function attachUntilExit(
  ctx: CliContext, id: string, session: AttachSession, wait: WaitHandle,
  o: { tty: boolean; sigProxy: boolean; report?: (text: string) => string },
): Promise<number> {
  const report = o.report ?? ((t: string) => t);
  session.pumpStdin();
  const stopResize = o.tty ? followTerminalSize(ctx, id) : () => undefined;
  const stopSignals = o.sigProxy && !o.tty ? proxySignals(ctx, id) : () => undefined;
  try {
    await session.done.catch((e: unknown) => ctx.err(`${errorText(e)}\n`));
    let status;
    try {
      status = await wait.result;
    } catch (e) {
      throw new ExitError(125, report(errorText(e)));
    }
    if (status.Error?.Message) throw new ExitError(125, report(status.Error.Message));
    return status.StatusCode;
  } finally {
    stopResize();
    stopSignals();
    session.close();
  }
}

/**
 * docker's exit codes for a failed start: 127 not found, 126 not executable, else 125.
 * The API answers a failed start with a message only (no code), so the CLI, like
 * docker's, reads runc's words in it.
 */
export function startFailureCode(message: string): number {
  if (message.includes('executable file not found') || message.includes('no such file or directory')) return 127;
  if (message.includes('permission denied') || message.includes('is a directory')) return 126;
  return 125;
}
