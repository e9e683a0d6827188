/**
 * A client of conmon's attach socket and control fifo.
 *
 * conmon listens on `<bundle>/attach`, a unix SOCK_SEQPACKET socket (node's net
 * module cannot open those, so this goes through libc). Protocol, as conmon
 * speaks it:
 * - conmon → client: one packet per read of the container's output, whose first
 *   byte names the stream (2 stdout, 3 stderr; a TTY is all stdout) followed by
 *   up to 8192 bytes of data.
 * - client → conmon: raw bytes for the container's stdin (only kept when conmon
 *   was started with `--stdin`). A packet longer than conmon's buffer would be
 *   truncated, so writes go out in pieces of at most 8192 bytes.
 * - When the client shuts its write side (or closes), conmon closes the
 *   container's stdin, unless it was started with `--leave-stdin-open`.
 *
 * conmon writes to an attached client with blocking writes: a client that stops
 * reading stalls the container's output. So an AttachSocket always reads, and
 * hands output to `onOutput` (or drops it when nobody wants it).
 *
 * There is no worker thread: a timer polls the socket with non-blocking calls,
 * every millisecond while data moves and backing off to 50 ms when idle.
 *
 * Resizing a TTY goes through the `ctl` fifo: the line `1 <rows> <cols>\n`.
 */
import { closeSync, constants, openSync, writeSync } from 'node:fs';
import { join } from 'node:path';
import { AF_UNIX, MSG_DONTWAIT, MSG_NOSIGNAL, SHUT_WR, SOCK_CLOEXEC, SOCK_SEQPACKET, close, connectUnix, recv, send, shutdown, socket } from '../sys';

/** conmon's stdio buffer size: the largest payload of one packet. */
const PACKET = 8192;
const HIGH_WATER = 256 * 1024;
const IDLE_MS = 50;

export type AttachStream = 'stdout' | 'stderr';

export class AttachSocket {
  /** Output of the container while attached; without a listener it is dropped. */
  onOutput?: (stream: AttachStream, data: Buffer) => void;
  /** Called when queued input fell below the high-water mark again. */
  onDrain?: () => void;
  /** Settles when conmon closed the connection or close() was called. */
  readonly closed: Promise<void>;

  private fd: number;
  private readonly queue: Buffer[] = [];
  private queued = 0;
  private ending = false;
  private writeShut = false;
  private delay = 1;
  private timer?: NodeJS.Timeout;
  private readonly buf = Buffer.alloc(PACKET + 1);
  private resolveClosed!: () => void;

  private constructor(fd: number) {
    this.fd = fd;
    this.closed = new Promise((r) => (this.resolveClosed = r));
    this.schedule(0);
  }

  /**
   * Connects to the attach socket in `dir` (the bundle conmon was given). The
   * socket is reached through /proc/self/fd so that long paths still fit a
   * sockaddr_un. Throws a SysError (ENOENT, ECONNREFUSED …) when conmon is gone.
   */
  static connect(dir: string): AttachSocket {
    const dirfd = openSync(dir, constants.O_RDONLY | constants.O_DIRECTORY);
    let fd = -1;
    try {
      fd = socket(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC);
      connectUnix(fd, `/proc/self/fd/${dirfd}/attach`);
      return new AttachSocket(fd);
    } catch (err) {
      if (fd >= 0) close(fd);
      throw err;
    } finally {
      closeSync(dirfd);
    }
  }

  /** Queues bytes for the container's stdin; false when the caller should wait for onDrain. */
  write(data: Buffer): boolean {
    if (this.fd < 0 || this.ending) return true;
    for (let off = 0; off < data.length; off += PACKET) {
      const piece = data.subarray(off, off + PACKET);
      this.queue.push(piece);
      this.queued += piece.length;
    }
    this.schedule(0);
    return this.queued < HIGH_WATER;
  }

  /** Closes the write side once the queued input is sent: the container's stdin sees EOF. */
  end(): void {
    this.ending = true;
    this.schedule(0);
  }

  /** Sends what is queued if the socket takes it now, then closes. */
  close(): void {
    if (this.fd < 0) return;
    try {
      this.flush();
    } catch {
      // conmon is gone: nothing to deliver to
    }
    if (this.timer) clearTimeout(this.timer);
    this.timer = undefined;
    try {
      close(this.fd);
    } catch {
      // already invalid: nothing left to release
    }
    this.fd = -1;
    this.resolveClosed();
  }

  private schedule(ms: number): void {
    if (this.fd < 0) return;
    if (this.timer) {
      if (ms > 0) return;
      clearTimeout(this.timer);
    }
    this.timer = setTimeout(() => {
      this.timer = undefined;
      this.tick();
    }, ms);
  }

  private tick(): void {
    if (this.fd < 0) return;
    let busy = false;
    try {
      busy = this.flush() || busy;
      busy = this.drainInput() || busy;
    } catch {
      // ECONNRESET, EPIPE …: conmon went away
      this.close();
      return;
    }
    if (this.fd < 0) return;
    this.delay = busy ? 1 : Math.min(this.delay * 2, IDLE_MS);
    this.schedule(this.delay);
  }

  /** Sends queued input; true when anything moved. */
  private flush(): boolean {
    let moved = false;
    const before = this.queued;
    while (this.queue.length) {
      const head = this.queue[0]!;
      const n = send(this.fd, head, MSG_DONTWAIT | MSG_NOSIGNAL);
      if (n < 0) break;
      moved = true;
      this.queue.shift();
      this.queued -= head.length;
    }
    if (before >= HIGH_WATER && this.queued < HIGH_WATER) this.onDrain?.();
    if (this.ending && !this.writeShut && this.queue.length === 0) {
      this.writeShut = true;
      shutdown(this.fd, SHUT_WR);
    }
    return moved;
  }

  /** Reads what conmon sent; true when anything arrived. */
  private drainInput(): boolean {
    let got = false;
    for (let i = 0; i < 64; i++) {
      const n = recv(this.fd, this.buf, MSG_DONTWAIT);
      if (n < 0) break;
      if (n === 0) {
        this.close();
        return false;
      }
      got = true;
      const kind = this.buf[0];
      if (n > 1 && this.onOutput && (kind === 2 || kind === 3)) this.onOutput(kind === 2 ? 'stdout' : 'stderr', Buffer.from(this.buf.subarray(1, n)));
    }
    return got;
  }
}

/**
 * Asks conmon to resize the container's TTY. False when no conmon listens on the
 * fifo (the container is not running).
 */
/** Asks conmon to reopen the container's log file (after it was moved away, as a log rotator does). */
export function reopenLogFile(dir: string): boolean {
  return writeCtl(dir, '2 0 0\n');
}

export function resizeTerminal(dir: string, height: number, width: number): boolean {
  return writeCtl(dir, `1 ${Math.trunc(height)} ${Math.trunc(width)}\n`);
}

function writeCtl(dir: string, message: string): boolean {
  let fd: number;
  try {
    fd = openSync(join(dir, 'ctl'), constants.O_WRONLY | constants.O_NONBLOCK);
  } catch {
    return false;
  }
  try {
    writeSync(fd, message);
    return true;
  } catch {
    return false;
  } finally {
    closeSync(fd);
  }
}
