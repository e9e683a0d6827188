import type { ServerResponse } from 'node:http';
import type { Socket } from 'node:net';
import type { Duplex } from 'node:stream';
import type { WebSocket, WebSocketServer } from 'ws';
import { invalidArgument, traceSpan, traceStart } from '../../common';
import { logDetails, queryContainers, type ContainerRecord, type Engine, type LogEntry, type StdinSink, type WaitCondition } from '../../engine';
import { MULTIPLEXED, RAW_STREAM, StreamType, frame, type ContainerCreateResponse } from '../../wire';
import { containerInspect, containerSizes, containerSummary, type ContainerSizes } from '../convert';
import { sendEmpty, sendJSON, sendJSONList } from '../http';
import { compareVersions, qbool, qfilters, qint, readJSONBody, type Context, type Router } from '../router';
import { CONTAINER_CREATE } from '../validate';
import { unappliedOptions } from '../unapplied-options';
import { createRequest } from '../container-request';
import { DEFAULT_DETACH_KEYS, EscapeFilter, parseDetachKeys } from '../detach-keys';

export function containerRoutes(router: Router, engine: Engine): void {
  const svc = engine.containers;

  router.add('POST', '/containers/create', async (ctx) => {
    const t0 = traceStart();
    const body = await readJSONBody(ctx, 'container config', CONTAINER_CREATE);
    // As dockerd: the platform parameter exists from API 1.41 on.
    const platform = compareVersions(ctx.apiVersion, '1.41') >= 0 ? ctx.query.get('platform') : null;
    const request = { ...createRequest(body, ctx.query.get('name') || undefined), ...(platform ? { platform } : {}) };
    const b = body as Record<string, unknown>;
    const unapplied = unappliedOptions(b, (b.HostConfig ?? {}) as Record<string, unknown>);
    const t1 = traceStart();
    const { record: rec, warnings } = await svc.create(request);
    traceSpan(rec.id, 'request parse', t0, t1);
    const reply: ContainerCreateResponse = { Id: rec.id, Warnings: [...warnings, ...unapplied] };
    sendJSON(ctx, 201, reply);
  });

  router.add('GET', '/containers/json', async (ctx) => {
    const list = queryContainers(svc, { all: qbool(ctx.query, 'all'), limit: qint(ctx.query, 'limit'), filters: qfilters(ctx.query) });
    if (qbool(ctx.query, 'size')) sendJSON(ctx, 200, await Promise.all(list.map((r) => summaryWithSize(engine, r))));
    else sendJSONList(ctx, 200, list, (r) => containerSummary(r, engine));
  });

  router.add('GET', '/containers/{id}/json', async (ctx) => {
    const rec = svc.get(ctx.params[0]!);
    sendJSON(ctx, 200, containerInspect(engine, rec, qbool(ctx.query, 'size') ? await containerSizes(engine, rec) : undefined));
  });

  router.add('POST', '/containers/{id}/start', async (ctx) => {
    await svc.start(ctx.params[0]!);
    sendEmpty(ctx, 204);
  });

  router.add('POST', '/containers/{id}/stop', async (ctx) => {
    await svc.stop(ctx.params[0]!, qint(ctx.query, 't'), ctx.query.get('signal') || undefined);
    sendEmpty(ctx, 204);
  });

  router.add('POST', '/containers/{id}/restart', async (ctx) => {
    await svc.restart(ctx.params[0]!, qint(ctx.query, 't'), ctx.query.get('signal') || undefined);
    sendEmpty(ctx, 204);
  });

  router.add('POST', '/containers/{id}/kill', async (ctx) => {
    await svc.kill(ctx.params[0]!, ctx.query.get('signal') || 'SIGKILL');
    sendEmpty(ctx, 204);
  });

  router.add('POST', '/containers/{id}/resize', (ctx) => {
    const [h, w] = [qint(ctx.query, 'h'), qint(ctx.query, 'w')];
    if (h === undefined || w === undefined || h < 0 || w < 0) throw invalidArgument('resize needs h and w: the TTY height and width in characters');
    svc.resize(ctx.params[0]!, h, w);
    sendEmpty(ctx, 200);
  });

  router.add('POST', '/containers/{id}/wait', async (ctx) => {
    const cond = (ctx.query.get('condition') || 'not-running') as WaitCondition;
    if (!['not-running', 'next-exit', 'removed'].includes(cond)) throw invalidArgument(`invalid condition "${cond}": use not-running, next-exit or removed`);
    const rec = svc.get(ctx.params[0]!);
    const waiting = svc.wait(rec.id, cond, ctx.abort);
    const res = ctx.res!;
    // The client blocks on the headers before it starts the container: send them now.
    res.writeHead(200, { 'Content-Type': 'application/json' });
    res.flushHeaders();
    try {
      const code = await waiting;
      // A removal clears the state's error in dockerd: waiters for `removed` get none (the CLI's
      // `run --rm` of a command that cannot start would log it as a wait error).
      const error = cond === 'removed' ? '' : rec.state.error;
      res.end(JSON.stringify({ StatusCode: code, Error: error ? { Message: error } : null }) + '\n');
    } catch {
      res.destroy();
    }
  });

  router.add('POST', '/containers/{id}/rename', async (ctx) => {
    await svc.rename(ctx.params[0]!, ctx.query.get('name') ?? '');
    sendEmpty(ctx, 204);
  });

  router.add('DELETE', '/containers/{id}', async (ctx) => {
    await svc.remove(ctx.params[0]!, qbool(ctx.query, 'force'), qbool(ctx.query, 'v'));
    sendEmpty(ctx, 204);
  });

  router.add('GET', '/containers/{id}/logs', async (ctx) => {
    const rec = svc.get(ctx.params[0]!);
    const stdout = qbool(ctx.query, 'stdout');
    const stderr = qbool(ctx.query, 'stderr');
    if (!stdout && !stderr) throw invalidArgument('Bad parameters: you must choose at least one stream');
    const tailRaw = ctx.query.get('tail');
    // As dockerd reads it: a whole number, else (all, a word, a negative one) the whole log.
    const tail = tailRaw && /^[+-]?\d+$/.test(tailRaw.trim()) && Number(tailRaw) >= 0 ? Number(tailRaw) : undefined;
    const timestamps = qbool(ctx.query, 'timestamps');
    // dockerd puts a message's details (what the log-opts labels, env and tag give) and a
    // space before it; they are the same for every message of a container.
    const details = qbool(ctx.query, 'details')
      ? Buffer.from(`${logDetails(rec.spec.logConfig, { ...rec, labels: rec.spec.labels, env: rec.spec.process.env })} `)
      : undefined;
    const res = ctx.res!;
    const tty = rec.spec.process.tty;
    const follow = qbool(ctx.query, 'follow');
    // Without follow the whole answer is at hand at once: the headers, the lines and the
    // end of the body go out in one write (one wake-up of the client instead of three).
    if (!follow) res.cork();
    // The 200 goes out once the engine has accepted the request, so a refusal keeps its status.
    const start = () => {
      res.writeHead(200, { 'Content-Type': tty ? RAW_STREAM : compareVersions(ctx.apiVersion, '1.42') >= 0 ? MULTIPLEXED : RAW_STREAM });
      if (follow) res.flushHeaders();
    };
    const out = new BatchedWriter(res);
    await svc.logs(rec.id, { follow, tail, since: qtime(ctx, 'since'), until: qtime(ctx, 'until'), onStart: start }, (e) => {
      if ((e.stream === 'stdout' && !stdout) || (e.stream === 'stderr' && !stderr)) return;
      if (timestamps) out.pushEntry(tty ? undefined : streamType(e.stream), Buffer.from(`${e.time} `));
      if (details) out.pushEntry(tty ? undefined : streamType(e.stream), details);
      out.pushEntry(tty ? undefined : streamType(e.stream), e.data);
    }, ctx.abort, () => out.drained());
    await out.drained();
    res.end();
  });

  router.add('GET', '/containers/{id}/attach/ws', (ctx) => attachWebSocket(ctx, engine));

  router.add('POST', '/containers/{id}/attach', async (ctx) => {
    const rec = svc.get(ctx.params[0]!);
    const stdout = qbool(ctx.query, 'stdout');
    const stderr = qbool(ctx.query, 'stderr');
    const tty = rec.spec.process.tty;
    const contentType = tty || compareVersions(ctx.apiVersion, '1.42') < 0 ? RAW_STREAM : MULTIPLEXED;
    // Checked before the stream starts: a bad sequence is a 400, as in dockerd.
    const keys = detachKeysOf(ctx.query.get('detachKeys'), engine);
    svc.checkAttachable(ctx.params[0]!);
    const out = hijack(ctx, contentType);
    const write = (e: LogEntry) => {
      if ((e.stream === 'stdout' && !stdout) || (e.stream === 'stderr' && !stderr)) return;
      out.write(tty ? e.data : frame(e.stream === 'stdout' ? StreamType.Stdout : StreamType.Stderr, e.data));
    };
    let done = false;
    let stdinSock: { close(): void } | undefined;
    const input = out.input && qbool(ctx.query, 'stdin') && rec.spec.process.openStdin ? out.input : undefined;
    input?.pause();
    const detached = new AbortController();
    const connectStdin = () => {
      if (!input) return;
      // The end of the client's input closes the container's stdin only with StdinOnce
      // (conmon --leave-stdin-open otherwise); output keeps flowing until the exit.
      void svc.openStdin(rec.id, ctx.abort).then((sink) => {
        if (!sink) return void input.resume();
        if (done) return sink.close();
        stdinSock = sink;
        pumpStdin(input, ctx.head, sink, { keys, onDetach: () => detached.abort() });
      });
    };
    const abort = AbortSignal.any([ctx.abort, detached.signal]);
    try {
      // As dockerd: stream defaults to off; without it, attach only replays the logs (if asked) and ends.
      if (qbool(ctx.query, 'stream')) await svc.attach(rec.id, write, abort, connectStdin, qbool(ctx.query, 'logs'));
      else if (qbool(ctx.query, 'logs')) await svc.logs(rec.id, {}, write, ctx.abort);
    } finally {
      done = true;
      stdinSock?.close();
      out.end();
    }
  });
}

/**
 * `GET /containers/{id}/attach/ws`: the container's stdio over a WebSocket, as dockerd serves it.
 * Output (stdout and stderr, never multiplexed) goes out as binary messages (text before API
 * 1.42); what the client sends is the container's stdin when it keeps one open (detach keys
 * apply). `logs` replays the log first, `stream` follows; both default to off. The socket
 * closes when the attach ends: the container exited, or the client detached or left.
 */
async function attachWebSocket(ctx: Context, engine: Engine): Promise<void> {
  const svc = engine.containers;
  const rec = svc.get(ctx.params[0]!);
  if (!ctx.socket || ctx.req.headers.upgrade?.toLowerCase() !== 'websocket') throw invalidArgument('attach/ws needs a WebSocket: send the request with Upgrade: websocket');
  const keys = detachKeysOf(ctx.query.get('detachKeys'), engine);
  svc.checkAttachable(ctx.params[0]!);
  const { server, stream } = webSockets();
  // A handshake the library refuses gets its 400 there and the socket closes: then nothing more to do.
  const ws = await new Promise<WebSocket | undefined>((resolve) => {
    ctx.abort.addEventListener('abort', () => resolve(undefined), { once: true });
    server.handleUpgrade(ctx.req, ctx.socket as Socket, ctx.head ?? Buffer.alloc(0), resolve);
  });
  if (!ws) return;
  ws.on('error', () => undefined);
  const binary = compareVersions(ctx.apiVersion, '1.42') >= 0;
  const write = (e: LogEntry) => {
    if (ws.readyState === ws.OPEN) ws.send(e.data, { binary });
  };
  const closed = new AbortController();
  ws.once('close', () => closed.abort());
  const detached = new AbortController();
  const abort = AbortSignal.any([ctx.abort, closed.signal, detached.signal]);
  let done = false;
  let stdinSock: { close(): void } | undefined;
  const input = rec.spec.process.openStdin ? stream(ws) : undefined;
  input?.on('error', () => undefined);
  input?.pause();
  const connectStdin = () => {
    if (!input) return;
    void svc.openStdin(rec.id, abort).then((sink) => {
      if (!sink) return void input.resume();
      if (done) return sink.close();
      stdinSock = sink;
      pumpStdin(input, undefined, sink, { keys, onDetach: () => detached.abort() });
    });
  };
  try {
    if (qbool(ctx.query, 'stream')) await svc.attach(rec.id, write, abort, connectStdin, qbool(ctx.query, 'logs'));
    else if (qbool(ctx.query, 'logs')) await svc.logs(rec.id, {}, write, abort);
  } finally {
    done = true;
    stdinSock?.close();
    if (ws.readyState === ws.OPEN) ws.close(1000);
  }
}

let wsServer: WebSocketServer | undefined;
let wsStream: typeof import('ws').createWebSocketStream;

/** Upgrades attach/ws requests (a message, stdin, is at most 1 MiB); `ws` is loaded on the first. */
function webSockets(): { server: WebSocketServer; stream: typeof import('ws').createWebSocketStream } {
  if (!wsServer) {
    // eslint-disable-next-line @typescript-eslint/no-var-requires
    const ws = require('ws') as typeof import('ws');
    wsServer = new ws.WebSocketServer({ noServer: true, maxPayload: 1 << 20 });
    wsStream = ws.createWebSocketStream;
  }
  return { server: wsServer, stream: wsStream };
}

export interface HijackedStream {
  write(b: Buffer): void;
  end(): void;
  /** The client's side of an upgraded connection (stdin); dropped unless the caller pumps it. */
  input?: Duplex;
}

/**
 * Writes many small frames (log lines) as few large writes: pushed frames go out
 * together on the next turn of the event loop, or when `drained` is awaited, which
 * also waits while the client is behind.
 */
class BatchedWriter {
  /** Runs of payloads of one stream, each sent as one frame (none for a TTY's raw stream). */
  private pending: { type: StreamType | undefined; parts: Buffer[]; size: number }[] = [];
  private bytes = 0;
  private scheduled = false;

  constructor(private readonly res: ServerResponse) {}

  /**
   * Queues `data` of `type` (undefined: raw, no frame). Consecutive lines of one stream
   * share a frame, as a client reading the multiplexed stream cannot tell: a large log
   * then costs both ends a header per block, not per line.
   */
  pushEntry(type: StreamType | undefined, data: Buffer): void {
    const last = this.pending[this.pending.length - 1];
    if (last && last.type === type && last.size < MAX_FRAME) {
      last.parts.push(data);
      last.size += data.length;
    } else {
      this.pending.push({ type, parts: [data], size: data.length });
      if (type !== undefined) this.bytes += 8;
    }
    this.bytes += data.length;
    if (!this.scheduled) {
      this.scheduled = true;
      setImmediate(() => this.flush());
    }
  }

  private flush(): boolean {
    this.scheduled = false;
    if (this.pending.length === 0 || !this.res.writable) return true;
    const chunk = Buffer.allocUnsafe(this.bytes);
    let off = 0;
    for (const run of this.pending) {
      if (run.type !== undefined) {
        chunk.fill(0, off, off + 8);
        chunk[off] = run.type;
        chunk.writeUInt32BE(run.size, off + 4);
        off += 8;
      }
      for (const p of run.parts) off += p.copy(chunk, off);
    }
    this.pending = [];
    this.bytes = 0;
    return this.res.write(chunk);
  }

  async drained(): Promise<void> {
    if (this.flush() || !this.res.writable) return;
    // A corked answer (logs without follow) that outgrew the buffer goes out as it comes from here on.
    while (this.res.writableCorked > 0) this.res.uncork();
    await new Promise<void>((resolve) => {
      const done = () => {
        this.res.off('drain', done);
        this.res.off('close', done);
        resolve();
      };
      this.res.once('drain', done);
      this.res.once('close', done);
    });
  }
}

const MAX_FRAME = 1 << 20;

const streamType = (s: 'stdout' | 'stderr'): StreamType => (s === 'stdout' ? StreamType.Stdout : StreamType.Stderr);

/** Switches the connection to a raw stream: 101 for Upgrade requests, 200 otherwise. */
export function hijack(ctx: Context, contentType: string): HijackedStream {
  if (ctx.socket) {
    const sock = ctx.socket;
    sock.write(`HTTP/1.1 101 UPGRADED\r\nContent-Type: ${contentType}\r\nConnection: Upgrade\r\nUpgrade: tcp\r\n\r\n`);
    // Input nobody asked for is read and dropped; pumpStdin() replaces this.
    sock.on('data', dropInput);
    sock.on('error', () => undefined);
    if (!dropsEarlyBytes(ctx)) return { write: (b) => void (sock.writable && sock.write(b)), end: () => sock.end(), input: sock };
    // docker-py reads the headers through a buffered file, then reads the raw socket: bytes that
    // arrive with the headers are lost to it. Its first bytes go out a moment after the headers.
    const held: Buffer[] = [];
    let holding = true;
    let ending = false;
    setTimeout(() => {
      holding = false;
      for (const b of held.splice(0)) if (sock.writable) sock.write(b);
      if (ending) sock.end();
    }, PYTHON_CLIENT_GRACE_MS).unref();
    return {
      write: (b) => void (holding ? held.push(b) : sock.writable && sock.write(b)),
      end: () => void (holding ? (ending = true) : sock.end()),
      input: sock,
    };
  }
  const res = ctx.res!;
  res.writeHead(200, { 'Content-Type': contentType });
  res.flushHeaders();
  return { write: (b) => void res.write(b), end: () => res.end() };
}

const PYTHON_CLIENT_GRACE_MS = 30;

function dropsEarlyBytes(ctx: Context): boolean {
  return /^docker-sdk-python\//.test(ctx.req.headers['user-agent'] ?? '');
}

function dropInput(): void {
  // input for a stream that takes none
}

/**
 * Feeds a hijacked connection's input to a process's stdin, pausing the client
 * while the sink is full; the client's half-close ends the stdin.
 */
export function pumpStdin(input: Duplex, head: Buffer | undefined, sink: StdinSink, detach?: Detach): void {
  input.off('data', dropInput);
  const filter = detach ? new EscapeFilter(detach.keys) : undefined;
  let detached = false;
  const feed = (d: Buffer): boolean => {
    if (detached) return true;
    const pass = filter ? filter.push(d) : d;
    const more = pass.length === 0 || sink.write(pass);
    if (filter?.detached) {
      // As dockerd: the client's stream ends, the process keeps running and its stdin stays open.
      detached = true;
      input.off('data', onData);
      input.resume();
      detach!.onDetach();
    }
    return more;
  };
  const onData = (d: Buffer) => {
    if (!feed(d)) input.pause();
  };
  if (head?.length) feed(head);
  if (detached) return;
  // A client whose stdin was empty (`</dev/null`) may have half-closed before the process
  // started: its end was seen already (a paused stream with nothing buffered still ends).
  if (input.readableEnded) {
    sink.end();
    return;
  }
  input.on('data', onData);
  sink.onDrain = () => input.resume();
  input.once('end', () => {
    if (!detached) sink.end();
  });
  input.resume();
}

/** The detach keys of an attached stdin and what to do when they are typed. */
export interface Detach {
  keys: Buffer;
  onDetach: () => void;
}

/** The request's `detachKeys` (or the exec's), else the daemon's default, as bytes. */
export function detachKeysOf(requested: string | null | undefined, engine: Engine): Buffer {
  return parseDetachKeys(requested || engine.options.detachKeys || DEFAULT_DETACH_KEYS);
}

function qtime(ctx: Context, name: string): number | undefined {
  const v = ctx.query.get(name);
  if (!v || v === '0') return undefined;
  const n = Number(v);
  if (!Number.isFinite(n)) throw invalidArgument(`invalid ${name} value ${JSON.stringify(v)}: use unix seconds, optionally with a fraction`);
  return n;
}

/** The summary with SizeRw (the writable layer) and SizeRootFs (that plus the image), as `ps -s` and `system df` show. */
export async function summaryWithSize(engine: Engine, r: ContainerRecord): Promise<ReturnType<typeof containerSummary> & ContainerSizes> {
  return { ...containerSummary(r, engine), ...(await containerSizes(engine, r)) };
}
