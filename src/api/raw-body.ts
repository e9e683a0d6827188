/**
 * Request bodies read from the connection itself rather than through node's HTTP parser:
 * a `docker cp` PUT of 100 MB arrives chunked in thousands of pieces, each of which node
 * copies into a Buffer of its own and hands to a callback, which costs this thread more
 * than the extraction's worker spends parsing the tar (and the Buffers bring old-space
 * GCs). Such a request is taken off the parser right after its headers, by node's own
 * Upgrade mechanism: the server's 'upgrade' event gets the socket and the bytes read past
 * the headers, and the extraction's worker reads the rest from a duplicate of the
 * connection's fd (storage/extract-thread.ts extractRawOnWorker).
 *
 * Contract
 * - watchRawBodies() is given each new connection; requests `wanted` says yes to, with
 *   a chunked or Content-Length body and no Expect, come out as 'upgrade' events with
 *   rawFramingOf(req) set. All other requests go through node as before.
 * - RawRequestBody is the body of such a request: made in the 'upgrade' listener's
 *   first synchronous step (it stops node reading the socket before anything is read),
 *   it is a Readable of the body (framing removed) and carries a RawBodySource under
 *   RAW_BODY for a reader that takes the connection instead (common/http-body.ts).
 * - The answer to such a request is a ServerResponse on the socket with Connection:
 *   close (see respondOn): what follows the body on the connection is never parsed.
 */
import { ServerResponse, type IncomingMessage } from 'node:http';
import type { Socket } from 'node:net';
import { Readable } from 'node:stream';
import { BodyDeframer, RAW_BODY, type BodyFraming, type RawBodySource } from '../common';

const RAW_FRAMING = Symbol('rawFraming');

interface StreamHandle {
  fd?: number;
  reading?: boolean;
  readStart?: () => number;
  readStop?: () => number;
}

type Marked = IncomingMessage & { [RAW_FRAMING]?: BodyFraming };

/** The framing of a request whose body can be read raw, if it has one. */
function framingOf(req: IncomingMessage): BodyFraming | undefined {
  if (req.headers.expect !== undefined) return undefined;
  const te = req.headers['transfer-encoding'];
  const cl = req.headers['content-length'];
  if (te !== undefined) return cl === undefined && te.trim().toLowerCase() === 'chunked' ? { chunked: true } : undefined;
  if (cl === undefined || !/^\d{1,15}$/.test(cl)) return undefined;
  const length = Number(cl);
  return length > 0 ? { length } : undefined;
}

/** Hooks node's parser of a new connection so that `wanted` requests come out as 'upgrade' events. */
export function watchRawBodies(socket: Socket, wanted: (req: IncomingMessage) => boolean): void {
  const parser = (socket as unknown as { parser?: { onIncoming?: (req: IncomingMessage, keepAlive: boolean) => number } }).parser;
  const handle = (socket as unknown as { _handle?: StreamHandle })._handle;
  const orig = parser?.onIncoming;
  if (!parser || typeof orig !== 'function' || (socket as { encrypted?: boolean }).encrypted) return;
  if (!handle || typeof handle.fd !== 'number' || handle.fd < 0 || typeof handle.readStop !== 'function' || typeof handle.readStart !== 'function') return;
  parser.onIncoming = function (this: unknown, req: IncomingMessage, keepAlive: boolean): number {
    const framing = !(req as { upgrade?: boolean }).upgrade && wanted(req) ? framingOf(req) : undefined;
    if (!framing) return orig.call(this, req, keepAlive);
    // What node does for an Upgrade request: the parser stops after the headers and the
    // server emits 'upgrade' with the socket and the bytes that followed them.
    (req as Marked)[RAW_FRAMING] = framing;
    (req as { upgrade?: boolean }).upgrade = true;
    return 2;
  };
}

/** The framing of a request watchRawBodies turned into an 'upgrade' event; undefined for real upgrades. */
export function rawFramingOf(req: IncomingMessage): BodyFraming | undefined {
  return (req as Marked)[RAW_FRAMING];
}

/**
 * A ServerResponse on the socket of such a request: Connection: close, the socket ended once
 * it is sent. An answer given before the body was read (an error: no such container, a
 * read-only target) is followed by reading what the client still sends, for at most
 * LINGER_MS, and dropping it: closed at once, the connection would fail the client's
 * writes (EPIPE), and the docker CLI reports that instead of the answer.
 */
export function respondOn(req: IncomingMessage, socket: Socket, body?: RawRequestBody): ServerResponse {
  const res = new ServerResponse(req);
  res.shouldKeepAlive = false;
  res.assignSocket(socket);
  res.on('finish', () => {
    res.detachSocket(socket);
    if (!body?.unread()) return void socket.destroySoon();
    socket.end();
    const timer = setTimeout(() => socket.destroy(), LINGER_MS);
    timer.unref();
    socket.once('close', () => clearTimeout(timer));
    body.discardRest(() => socket.destroy());
  });
  return res;
}

const LINGER_MS = 2000;

export class RawRequestBody extends Readable implements RawBodySource {
  private readonly handle: StreamHandle | undefined;
  private mode: 'idle' | 'taken' | 'stream' | 'ended' = 'idle';
  private pending: Buffer;
  private deframer: BodyDeframer | undefined;
  private readonly onData = (d: Buffer) => this.feed(d);
  private readonly onEnd = () => this.cut();
  private readonly onError = (e: Error) => this.destroy(e);

  constructor(
    private readonly socket: Socket,
    head: Buffer,
    private readonly framing: BodyFraming,
  ) {
    super({ highWaterMark: 512 * 1024 });
    this.pending = head;
    // Stop node reading the socket, now (node would start again on the next tick): the
    // rest of the body stays in the kernel for whoever reads it.
    const h = (socket as unknown as { _handle?: StreamHandle })._handle;
    if (h && socket.readableLength === 0 && typeof h.readStop === 'function' && typeof h.fd === 'number' && h.fd >= 0) {
      this.handle = h;
      (socket as unknown as { _read: () => void })._read = () => undefined;
      h.reading = false;
      h.readStop();
    }
    (this as unknown as { [RAW_BODY]: RawBodySource })[RAW_BODY] = this;
  }

  takeConnection(): { fd: number; head: Buffer; framing: BodyFraming } | undefined {
    if (this.mode !== 'idle' || !this.handle || this.socket.destroyed) return undefined;
    this.mode = 'taken';
    return { fd: this.handle.fd!, head: this.pending, framing: this.framing };
  }

  returnConnection(raw: Buffer): void {
    if (this.mode !== 'taken') throw new Error('returnConnection without takeConnection');
    this.mode = 'idle';
    this.pending = raw;
  }

  /** Whether some of the body is still to come (neither read to its end nor handed to a reader). */
  unread(): boolean {
    return (this.mode === 'idle' || this.mode === 'stream') && !this.destroyed;
  }

  /** Reads the rest of the body and drops it; `done` once it ended or failed. */
  discardRest(done: () => void): void {
    this.once('end', done);
    this.once('error', done);
    this.resume();
  }

  override _read(): void {
    if (this.mode === 'stream') {
      this.socket.resume();
      return;
    }
    if (this.mode !== 'idle') return;
    this.mode = 'stream';
    this.deframer = new BodyDeframer(this.framing);
    const head = this.pending;
    this.pending = Buffer.alloc(0);
    if (head.length > 0 && !this.feed(head)) return;
    if (this.socket.destroyed) return this.cut();
    this.socket.on('data', this.onData);
    this.socket.on('end', this.onEnd);
    this.socket.on('close', this.onEnd);
    this.socket.on('error', this.onError);
    if (this.handle) {
      delete (this.socket as unknown as { _read?: unknown })._read;
      this.handle.reading = true;
      this.handle.readStart!();
    }
    this.socket.resume();
  }

  override _destroy(err: Error | null, cb: (err?: Error | null) => void): void {
    this.detach();
    cb(err);
  }

  /** Takes the framing off raw bytes; false once the body ended (or failed). */
  private feed(raw: Buffer): boolean {
    let more = true;
    try {
      this.deframer!.feed(raw, (b) => {
        if (!this.push(b)) more = false;
      });
    } catch (err) {
      this.destroy(err as Error);
      return false;
    }
    if (this.deframer!.done) {
      this.mode = 'ended';
      this.detach();
      this.push(null);
      return false;
    }
    if (!more) this.socket.pause();
    return true;
  }

  private cut(): void {
    if (this.mode === 'stream') this.destroy(new Error('the archive stream closed before its end (the client went away?)'));
  }

  private detach(): void {
    this.socket.off('data', this.onData);
    this.socket.off('end', this.onEnd);
    this.socket.off('close', this.onEnd);
    this.socket.off('error', this.onError);
    if (this.mode === 'ended') this.socket.pause();
  }
}
