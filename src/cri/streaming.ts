/**
 * The CRI streaming server: Exec, Attach and PortForward answer with a one-time URL
 * of this HTTP server; the client (kubelet's proxy, crictl, critest) upgrades it to
 * SPDY/3.1 and speaks
 *   - remote command (`v4.channel.k8s.io`, also v3/v2/`channel.k8s.io`): streams
 *     typed by their `streamType` header: error, stdin, stdout, stderr, resize; the
 *     exit is reported on the error stream as a Kubernetes Status in JSON;
 *   - port forward (`portforward.k8s.io`): per connection an error and a data stream
 *     sharing a `requestID`, with the pod's `port`; the data stream is joined to a TCP
 *     connection made inside the pod's network namespace.
 * Tokens expire after a minute unused.
 *
 * A peer can make the daemon hold only so much (StreamingLimits): stdin waiting for the
 * process pauses the connection, and port forwards are counted and refused beyond the caps.
 */
import { spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import type { Duplex } from 'node:stream';
import { log } from '../common';
import type { Engine, StdinConnection, StdinSink } from '../engine';
import type { CriRuntime } from './runtime';
import { SpdySession, type SpdyStream } from './spdy';

export type StreamRequest =
  | { kind: 'exec' | 'attach'; containerId: string; cmd: string[]; tty: boolean; stdin: boolean; stdout: boolean; stderr: boolean }
  | { kind: 'portforward'; sandboxId: string; ports: number[] };

const TOKEN_TTL_MS = 60_000;
const STREAM_WAIT_MS = 30_000;
const RC_PROTOCOLS = ['v4.channel.k8s.io', 'v3.channel.k8s.io', 'v2.channel.k8s.io', 'channel.k8s.io'];
const PF_PROTOCOL = 'portforward.k8s.io';
/** Bytes queued for a forward's helper before the connection stops being read. */
const PF_QUEUE_MAX = 1 << 20;

export interface StreamingLimits {
  /** Stdin held for a process whose stdin is not ready yet; beyond it the connection is not read. */
  stdinBuffer: number;
  /** Port-forward request ids of one connection waiting for their second stream. */
  unpairedRequests: number;
  /** How long a request id waits for its second stream. */
  pairWaitMs: number;
  /** Port-forward helper processes of one connection, and of all connections. */
  forwardsPerConnection: number;
  forwards: number;
}

export const DEFAULT_STREAMING_LIMITS: StreamingLimits = {
  stdinBuffer: 4 << 20,
  unpairedRequests: 64,
  pairWaitMs: STREAM_WAIT_MS,
  forwardsPerConnection: 16,
  forwards: 64,
};

export interface StreamingOptions {
  limits?: Partial<StreamingLimits>;
  /** The command prefix that runs a port-forward helper in the network namespace of `pid` (nsenter). */
  enterNetwork?: (pid: number) => string[];
}

/** The script run inside a pod's network namespace to reach one of its ports: stdio ⇄ TCP. */
const DIAL_SCRIPT = `
const net = require('net');
const port = Number(process.argv[1]);
const s = net.connect({ host: '127.0.0.1', port });
s.on('connect', () => { process.stdout.write('\\0'); process.stdin.pipe(s); s.pipe(process.stdout); });
s.on('error', (e) => { process.stderr.write(e.message); process.exit(1); });
s.on('end', () => process.stdout.end());
process.stdin.on('end', () => s.end());
`;

export class StreamingServer {
  private readonly http = http.createServer((req, res) => {
    res.writeHead(400, { 'Content-Type': 'text/plain' });
    res.end('this endpoint must be reached with Upgrade: SPDY/3.1\n');
  });
  private readonly pending = new Map<string, { req: StreamRequest; expires: number }>();
  private readonly sessions = new Set<SpdySession>();
  private readonly limits: StreamingLimits;
  private readonly enterNetwork: (pid: number) => string[];
  /** Port-forward helpers running, of all connections. */
  private forwards = 0;
  baseUrl = '';

  constructor(
    private readonly engine: Engine,
    private readonly runtime: CriRuntime,
    opts: StreamingOptions = {},
  ) {
    this.limits = { ...DEFAULT_STREAMING_LIMITS, ...opts.limits };
    this.enterNetwork = opts.enterNetwork ?? ((pid) => ['nsenter', `--net=/proc/${pid}/ns/net`, '--']);
    this.http.on('upgrade', (req, socket, head) => this.upgrade(req, socket, head));
  }

  async listen(host: string, port: number): Promise<void> {
    await new Promise<void>((resolve, reject) => {
      this.http.once('error', reject);
      this.http.listen(port, host, () => {
        this.http.off('error', reject);
        resolve();
      });
    });
    // A listening server reports failed accepts (EMFILE …) as 'error', as often as they happen.
    this.http.on('error', (err) => log.warn('CRI streaming server: accepting a connection failed', { error: String(err) }));
    const a = this.http.address() as AddressInfo;
    this.baseUrl = `http://${host.includes(':') ? `[${host}]` : host}:${a.port}`;
  }

  async close(): Promise<void> {
    for (const s of this.sessions) s.close();
    await new Promise<void>((resolve) => this.http.close(() => resolve()));
  }

  register(req: StreamRequest): string {
    const now = Date.now();
    for (const [t, p] of this.pending) if (p.expires < now) this.pending.delete(t);
    const token = randomBytes(12).toString('base64url');
    this.pending.set(token, { req, expires: now + TOKEN_TTL_MS });
    return `${this.baseUrl}/${req.kind}/${token}`;
  }

  private upgrade(req: http.IncomingMessage, socket: Duplex, head: Buffer): void {
    // An upgraded socket has no error listener: a peer resetting it must not take the daemon down.
    socket.on('error', () => socket.destroy());
    const m = /^\/(exec|attach|portforward)\/([A-Za-z0-9_-]+)/.exec(req.url ?? '');
    const entry = m ? this.pending.get(m[2]!) : undefined;
    const refuse = (status: number, msg: string) => {
      socket.end(`HTTP/1.1 ${status} ${http.STATUS_CODES[status]}\r\nContent-Type: text/plain\r\nContent-Length: ${Buffer.byteLength(msg)}\r\nConnection: close\r\n\r\n${msg}`);
    };
    if (!m || !entry || entry.req.kind !== m[1]) return refuse(404, 'unknown or expired streaming token\n');
    if (!/spdy\/3\.1/i.test(String(req.headers.upgrade ?? ''))) return refuse(400, 'Upgrade: SPDY/3.1 is required\n');
    this.pending.delete(m[2]!);
    const offered = String(req.headers['x-stream-protocol-version'] ?? '').split(',').map((s) => s.trim()).filter(Boolean);
    const supported = entry.req.kind === 'portforward' ? [PF_PROTOCOL] : RC_PROTOCOLS;
    const protocol = offered.length ? supported.find((p) => offered.includes(p)) : supported[supported.length - 1];
    if (!protocol) return refuse(403, `none of the offered stream protocols ${offered.join(', ')} is supported; supported are ${supported.join(', ')}\n`);
    socket.write(`HTTP/1.1 101 Switching Protocols\r\nConnection: Upgrade\r\nUpgrade: SPDY/3.1\r\nX-Stream-Protocol-Version: ${protocol}\r\n\r\n`);
    const session = new SpdySession(socket, head);
    this.sessions.add(session);
    session.on('close', () => this.sessions.delete(session));
    session.on('error', (err) => log.debug('streaming session failed', { error: String(err) }));
    const r = entry.req;
    if (r.kind === 'portforward') this.portForward(session, r.sandboxId);
    else void this.remoteCommand(session, r, protocol).catch((err) => {
      log.warn('streaming command failed', { error: String(err) });
      session.close();
    });
  }

  // ---- exec and attach -------------------------------------------------------

  private async remoteCommand(session: SpdySession, r: Extract<StreamRequest, { kind: 'exec' | 'attach' }>, protocol: string): Promise<void> {
    const streams = new Map<string, SpdyStream>();
    const want = new Set(['error']);
    if (r.stdin) want.add('stdin');
    if (r.stdout) want.add('stdout');
    if (r.stderr && !r.tty) want.add('stderr');
    if (r.tty && protocol !== 'channel.k8s.io' && protocol !== 'v2.channel.k8s.io') want.add('resize');
    const stdinData: Buffer[] = [];
    let stdinHeld = 0;
    let stdinEnded = false;
    let stdinStream: SpdyStream | undefined;
    let stdinSink: StdinSink | undefined;
    const resizes: { w: number; h: number }[] = [];
    let onResize: ((h: number, w: number) => void) | undefined;
    await new Promise<void>((resolve) => {
      const timer = setTimeout(resolve, STREAM_WAIT_MS);
      const check = () => {
        if ([...want].every((t) => streams.has(t))) {
          clearTimeout(timer);
          resolve();
        }
      };
      session.on('stream', (s: SpdyStream) => {
        const type = s.header('streamtype');
        s.reply();
        streams.set(type, s);
        if (type === 'stdin') {
          stdinStream = s;
          s.on('data', (d: Buffer) => {
            if (stdinSink) {
              if (!stdinSink.write(d)) s.pause();
              return;
            }
            stdinData.push(d);
            stdinHeld += d.length;
            if (stdinHeld >= this.limits.stdinBuffer) s.pause();
          });
          s.on('end', () => {
            stdinEnded = true;
            stdinSink?.end();
          });
        } else if (type === 'resize') {
          let text = '';
          s.on('data', (d: Buffer) => {
            text += d.toString('utf8');
            if (text.length > 4096) text = ''; // no size message is this long: drop the garbage
            // A sequence of JSON objects {"Width":W,"Height":H}.
            for (;;) {
              const end = text.indexOf('}');
              if (end < 0) break;
              const obj = text.slice(0, end + 1);
              text = text.slice(end + 1);
              try {
                const sz = JSON.parse(obj) as { Width: number; Height: number };
                if (onResize) onResize(sz.Height, sz.Width);
                else resizes.push({ w: sz.Width, h: sz.Height });
              } catch {
                /* not a size */
              }
            }
          });
        }
        check();
      });
      session.on('close', () => {
        clearTimeout(timer);
        resolve();
      });
    });
    if (session.closed) return;
    const out = streams.get('stdout');
    const err = streams.get('stderr');
    const errStream = streams.get('error');
    const write = (e: { stream: string; data: Buffer }) => {
      const s = e.stream === 'stderr' && err ? err : out;
      s?.write(e.data);
    };
    const attachSink = (sink: StdinSink) => {
      stdinSink = sink;
      sink.onDrain = () => stdinStream?.resume();
      let more = true;
      for (const d of stdinData.splice(0)) more = sink.write(d) && more;
      stdinHeld = 0;
      if (stdinEnded) sink.end();
      else if (more) stdinStream?.resume();
    };
    let status: object;
    try {
      if (r.kind === 'exec') {
        const x = this.engine.execs.create(r.containerId, {
          cmd: r.cmd, tty: r.tty, attachStdin: r.stdin, attachStdout: r.stdout, attachStderr: r.stderr && !r.tty,
          ...(resizes.length ? { consoleSize: [resizes[resizes.length - 1]!.h, resizes[resizes.length - 1]!.w] as [number, number] } : {}),
        });
        const abort = new AbortController();
        session.on('close', () => abort.abort());
        onResize = (h, w) => {
          try {
            this.engine.execs.resize(x.id, h, w);
          } catch {
            /* not running (yet or any more) */
          }
        };
        await this.engine.execs.start(x.id, {}, { output: write, ...(r.stdin ? { stdin: (sink) => attachSink(sink) } : {}) }, abort.signal);
        const code = this.engine.execs.get(x.id).exitCode ?? 0;
        status = code === 0 ? success() : exitFailure(r.cmd, code);
      } else {
        const abort = new AbortController();
        session.on('close', () => abort.abort());
        onResize = (h, w) => {
          try {
            this.engine.containers.resize(r.containerId, h, w);
          } catch {
            /* gone */
          }
        };
        for (const s of resizes.splice(0)) onResize(s.h, s.w);
        let conn: StdinConnection | undefined;
        if (r.stdin) {
          conn = await this.engine.containers.openStdin(r.containerId, abort.signal);
          // A container without an open stdin drops what is typed, as dockerd does.
          attachSink(conn ?? { write: () => true, end: () => undefined });
        }
        try {
          await this.engine.containers.attach(r.containerId, write, abort.signal);
        } finally {
          conn?.close();
        }
        status = success();
      }
    } catch (e) {
      status = { metadata: {}, status: 'Failure', message: (e as Error).message, reason: 'InternalError', code: 500 };
    }
    out?.end();
    err?.end();
    errStream?.end(JSON.stringify(status));
    for (const [t, s] of streams) if (t !== 'stdout' && t !== 'stderr' && t !== 'error') s.end();
    setTimeout(() => session.close(), 100).unref();
  }

  // ---- port forward ----------------------------------------------------------

  private portForward(session: SpdySession, sandboxId: string): void {
    const unpaired = new Map<string, { error?: SpdyStream; data?: SpdyStream; port: number; timer: NodeJS.Timeout }>();
    const conn = { forwards: 0 };
    // A lone stream is answered on its error stream when it has one, else reset.
    const drop = (s: SpdyStream, msg: string) => {
      if (s.header('streamtype') === 'error') s.end(`error forwarding port ${s.header('port')} to pod ${sandboxId}: ${msg}`);
      else s.reset();
    };
    session.on('stream', (s: SpdyStream) => {
      s.reply();
      const type = s.header('streamtype');
      if (type !== 'error' && type !== 'data') return s.reset();
      const id = s.header('requestid') || String(type === 'error' ? s.id : s.id - 2);
      let p = unpaired.get(id);
      if (!p) {
        if (unpaired.size >= this.limits.unpairedRequests) {
          return drop(s, `too many requests on this connection are waiting for their other stream (at most ${this.limits.unpairedRequests})`);
        }
        const timer = setTimeout(() => {
          unpaired.delete(id);
          for (const lone of [p!.error, p!.data]) if (lone) drop(lone, `timed out waiting for the other stream of request ${id}`);
        }, this.limits.pairWaitMs);
        timer.unref();
        p = { port: Number(s.header('port')), timer };
        unpaired.set(id, p);
      }
      if (p[type]) return drop(s, `request ${id} already has a ${type} stream`);
      p[type] = s;
      if (p.error && p.data) {
        clearTimeout(p.timer);
        unpaired.delete(id);
        this.forward(sandboxId, p.port, p.data, p.error, conn);
      }
    });
    session.on('close', () => {
      for (const p of unpaired.values()) clearTimeout(p.timer);
      unpaired.clear();
    });
  }

  private forward(sandboxId: string, port: number, data: SpdyStream, error: SpdyStream, conn: { forwards: number }): void {
    const fail = (msg: string) => {
      error.end(`error forwarding port ${port} to pod ${sandboxId}: ${msg}`);
      data.end();
    };
    if (!Number.isInteger(port) || port <= 0 || port > 65535) return fail(`invalid port ${JSON.stringify(port)}`);
    if (conn.forwards >= this.limits.forwardsPerConnection) {
      return fail(`too many forwards are open on this connection (at most ${this.limits.forwardsPerConnection}); close one first`);
    }
    if (this.forwards >= this.limits.forwards) return fail(`too many forwards are open on this node (at most ${this.limits.forwards}); close one first`);
    let pid: number;
    try {
      pid = this.runtime.sandboxPid(sandboxId);
    } catch (e) {
      return fail((e as Error).message);
    }
    const [cmd, ...args] = [...this.enterNetwork(pid), process.execPath, '-e', DIAL_SCRIPT, String(port)];
    const child = spawn(cmd!, args, { stdio: ['pipe', 'pipe', 'pipe'] });
    conn.forwards++;
    this.forwards++;
    let done = false;
    const release = () => {
      if (done) return;
      done = true;
      conn.forwards--;
      this.forwards--;
      data.resume();
    };
    let connected = false;
    let stderr = '';
    child.stderr.on('data', (d: Buffer) => {
      if (stderr.length < 4096) stderr += d.toString();
    });
    child.stdout.on('data', (d: Buffer) => {
      if (!connected) {
        connected = true;
        d = d.subarray(1);
      }
      if (d.length) data.write(d);
    });
    child.stdout.on('end', () => data.end());
    child.on('error', (e) => {
      release();
      fail(e.message);
    });
    child.on('exit', (code) => {
      release();
      if (code !== 0 && !connected) fail(stderr.trim() || `exit status ${code}`);
      else error.end();
    });
    child.stdin.on('error', () => undefined);
    // What the pod does not read yet pauses the connection, as a Go peer's stream would.
    child.stdin.on('drain', () => data.resume());
    data.on('data', (d: Buffer) => {
      if (done) return;
      child.stdin.write(d);
      if (child.stdin.writableLength >= PF_QUEUE_MAX) data.pause();
    });
    data.on('end', () => child.stdin.end());
    data.on('close', () => child.kill());
  }
}

function success(): object {
  return { metadata: {}, status: 'Success' };
}

function exitFailure(cmd: string[], code: number): object {
  return {
    metadata: {},
    status: 'Failure',
    message: `command terminated with non-zero exit code: error executing command [${cmd.join(' ')}], exit code ${code}`,
    reason: 'NonZeroExitCode',
    details: { causes: [{ reason: 'ExitCode', message: String(code) }] },
  };
}
