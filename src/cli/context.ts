import type { Readable, Writable } from 'node:stream';
import { EngineClient, resolveHost } from '../client';

export type InStream = Readable & { isTTY?: boolean; setRawMode?: (mode: boolean) => unknown };
export type OutStream = Writable & { isTTY?: boolean; columns?: number; rows?: number };

/** The process surface a command may touch; tests hand in their own streams and env. */
export interface CliIO {
  stdin: InStream;
  stdout: OutStream;
  stderr: OutStream;
  env: Record<string, string | undefined>;
  /** Where process signals arrive (the real process in bin/); absent in tests. */
  signals?: NodeJS.EventEmitter;
}

/**
 * What every command gets: its streams and a client for the daemon, made on first
 * use so `--help` and flag errors never touch the socket.
 */
export class CliContext {
  private engine?: EngineClient;
  constructor(
    readonly io: CliIO,
    private readonly hostFlag: () => string | undefined,
  ) {}

  get client(): EngineClient {
    if (!this.engine) this.engine = new EngineClient(resolveHost(this.hostFlag(), this.io.env));
    return this.engine;
  }

  out(text: string): void {
    this.io.stdout.write(text);
  }

  err(text: string): void {
    this.io.stderr.write(text);
  }
}

/** Ends the command with this exit code; `message` (if any) goes to stderr. */
export class ExitError extends Error {
  constructor(
    readonly code: number,
    message = '',
  ) {
    super(message);
    this.name = 'ExitError';
  }
}
