/**
 * Integration harness: a real berthd on a temp unix socket with temp data and exec roots,
 * driven through the real docker CLI, our berth CLI, or raw HTTP on the socket.
 *
 *   const d = useDaemon();            // at file top level: starts in before(), cleans up in after()
 *   test('x', async () => { const r = await d.docker(['run', '--rm', 'busybox', 'true']); ... });
 *
 * Cleanup runs in after() even when tests failed: docker rm -f every container of this
 * daemon, kill leftover conmon processes that belong to the temp exec root, runc delete -f
 * leftovers, lazily unmount everything under the temp dir, rmdir the containers' cgroups
 * and remove the temp dir. When a test failed, the temp dir and the daemon log are printed.
 */
import { after, afterEach, before } from 'node:test';
import { spawn, spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, promises as fsp, readdirSync, readFileSync, rmdirSync, rmSync, writeFileSync, mkdirSync, copyFileSync, symlinkSync, openSync, closeSync } from 'node:fs';
import http from 'node:http';
import net from 'node:net';
import { join, resolve } from 'node:path';

export const REPO = resolve(__dirname, '..', '..', '..');
export const BERTHD = join(REPO, 'bin', 'berthd');
export const BERTH = join(REPO, 'bin', 'berth');
export const DOCKER = process.env.BERTH_TEST_DOCKER ?? '/usr/local/bin/docker';
export const BUSYBOX = '/usr/bin/busybox';

export const APPLETS = [
  'sh', 'echo', 'cat', 'sleep', 'ls', 'ps', 'hostname', 'id', 'true', 'false', 'env', 'pwd', 'grep', 'head',
  'tail', 'wc', 'readlink', 'stat', 'mount', 'trap', 'kill', 'seq', 'date', 'printf', 'test', 'touch', 'rm',
  'mkdir', 'whoami', 'tr', 'cut', 'sed', 'uname', 'yes', 'dd', 'httpd', 'wget', 'ip', 'nslookup', 'nc', 'ifconfig',
];

/**
 * A private /16 for one test daemon's networks (10.X.0.0/16, X in 100–199), claimed
 * with a file under /tmp/berth-test-nets so concurrent test processes never share one,
 * and never one the host already routes. The default bridge is bt<X> on 10.X.0.1/24;
 * user networks come from the rest of the /16.
 */
export function claimTestNet(): { x: number; args: string[]; release(): void } {
  const dir = '/tmp/berth-test-nets';
  mkdirSync(dir, { recursive: true });
  let routes = '';
  try { routes = readFileSync('/proc/net/route', 'utf8'); } catch { /* none */ }
  const routed = (x: number) => routes.split('\n').slice(1).some((l) => {
    const f = l.trim().split(/\s+/);
    if (f.length < 8 || f[7] === '00000000') return false;
    const dest = Number.parseInt(f[1]!, 16);
    return (dest & 255) === 10 && ((dest >>> 8) & 255) === x;
  });
  const start = 100 + Math.floor(Math.random() * 100);
  for (let i = 0; i < 100; i++) {
    const x = 100 + ((start - 100 + i) % 100);
    if (routed(x)) continue;
    const file = join(dir, String(x));
    try {
      const old = Number(readFileSync(file, 'utf8'));
      try { process.kill(old, 0); continue; } catch { rmSync(file, { force: true }); }
    } catch { /* free */ }
    try {
      writeFileSync(file, String(process.pid), { flag: 'wx' });
    } catch {
      continue;
    }
    return { x, args: ['--bridge', `bt${x}`, '--bip', `10.${x}.0.1/24`, '--default-address-pool', `base=10.${x}.0.0/16,size=24`], release: () => rmSync(file, { force: true }) };
  }
  throw new Error('no free test network');
}

export interface RunResult {
  code: number | null;
  signal: NodeJS.Signals | null;
  stdout: string;
  stderr: string;
  timedOut: boolean;
}

export interface RunOptions {
  input?: string | Buffer;
  timeoutMs?: number;
  env?: NodeJS.ProcessEnv;
  /** Sees stdout as it comes, for commands that stream (logs -f, events, attach). */
  onStdout?: (chunk: string) => void;
  /** Kills the program (SIGKILL) when aborted; the result then has signal SIGKILL. */
  abort?: AbortSignal;
}

export interface HttpResult {
  status: number;
  headers: http.IncomingHttpHeaders;
  body: string;
  json: any;
}

/** Whether a process with this pid exists (signal 0). */
export function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}

export const sleep = (ms: number) => new Promise<void>((r) => setTimeout(r, ms));

/** Run a program, collect its output, kill it (SIGKILL) after the timeout. Never rejects. */
export function run(cmd: string, args: string[], opts: RunOptions = {}): Promise<RunResult> {
  return new Promise((res) => {
    const child = spawn(cmd, args, { env: opts.env ?? process.env, stdio: ['pipe', 'pipe', 'pipe'] });
    const out: Buffer[] = [];
    const err: Buffer[] = [];
    let timedOut = false;
    const timer = setTimeout(() => {
      timedOut = true;
      child.kill('SIGKILL');
    }, opts.timeoutMs ?? 30_000);
    child.stdout.on('data', (c: Buffer) => {
      out.push(c);
      opts.onStdout?.(c.toString());
    });
    opts.abort?.addEventListener('abort', () => child.kill('SIGKILL'), { once: true });
    child.stderr.on('data', (c: Buffer) => err.push(c));
    child.stdin.on('error', () => undefined);
    child.on('error', (e) => err.push(Buffer.from(`spawn error: ${e.message}\n`)));
    child.on('close', (code, signal) => {
      clearTimeout(timer);
      res({ code, signal, stdout: Buffer.concat(out).toString(), stderr: Buffer.concat(err).toString(), timedOut });
    });
    if (opts.input !== undefined) child.stdin.end(opts.input);
    else child.stdin.end();
  });
}

/** Wait until pred() is truthy (polling), or throw with the description after timeoutMs. */
export async function waitFor<T>(what: string, pred: () => Promise<T> | T, timeoutMs = 10_000, everyMs = 50): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  let last: unknown;
  for (;;) {
    try {
      const v = await pred();
      if (v) return v;
    } catch (e) {
      last = e;
    }
    if (Date.now() > deadline) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}${last ? `: ${String(last)}` : ''}`);
    await sleep(everyMs);
  }
}

/** One HTTP request on a unix socket. Never throws for HTTP status; rejects on socket errors. */
export function httpRequest(socketPath: string, method: string, path: string, body?: string | Buffer | object, headers: Record<string, string> = {}, timeoutMs = 15_000): Promise<HttpResult> {
  return new Promise((res, rej) => {
    let payload: Buffer | undefined;
    const h: Record<string, string> = { ...headers };
    if (body !== undefined) {
      payload = Buffer.isBuffer(body) ? body : Buffer.from(typeof body === 'string' ? body : JSON.stringify(body));
      if (!h['Content-Type']) h['Content-Type'] = 'application/json';
      h['Content-Length'] = String(payload.length);
    }
    const req = http.request({ socketPath, method, path, headers: h, timeout: timeoutMs }, (r) => collect(r).then(res, rej));
    req.on('timeout', () => req.destroy(new Error(`${method} ${path}: timed out after ${timeoutMs} ms`)));
    req.on('error', rej);
    req.end(payload);
  });
}

/** A response read to its end; `onChunk` sees the body as it streams. */
function collect(r: http.IncomingMessage, onChunk?: (c: string) => void): Promise<HttpResult> {
  return new Promise((res, rej) => {
    const chunks: Buffer[] = [];
    r.on('data', (c: Buffer) => {
      chunks.push(c);
      onChunk?.(c.toString());
    });
    r.on('end', () => {
      const text = Buffer.concat(chunks).toString();
      let json: unknown;
      try { json = text ? JSON.parse(text) : undefined; } catch { json = undefined; }
      res({ status: r.statusCode ?? 0, headers: r.headers, body: text, json });
    });
    r.on('error', rej);
  });
}

/**
 * A request whose response is watched while it streams (wait, logs?follow, events).
 * `status` resolves when the response headers arrive: for /wait the daemon sends them
 * only once the wait is registered, which is what a test waits for before it stops the
 * container. `output()` is the body so far, `done` the whole response (rejects if the
 * connection fails or is dropped), `stop()` drops the connection.
 */
export interface HttpStream {
  status: Promise<number>;
  output(): string;
  done: Promise<HttpResult>;
  stop(): void;
}

export function httpStream(socketPath: string, method: string, path: string): HttpStream {
  let body = '';
  let onStatus!: (s: number) => void;
  const status = new Promise<number>((r) => { onStatus = r; });
  const req = http.request({ socketPath, method, path });
  const done = new Promise<HttpResult>((res, rej) => {
    req.on('response', (r) => {
      onStatus(r.statusCode ?? 0);
      collect(r, (c) => { body += c; }).then(res, rej);
    });
    req.on('error', rej);
  });
  // A failed request fails `done`; `status` then never resolves, so nothing waits on it alone.
  done.catch(() => undefined);
  req.end();
  return { status, output: () => body, done, stop: () => req.destroy() };
}

/**
 * A shell line that holds a container until the test calls `openGate` on it: for what must
 * happen at a moment the test chooses (e.g. while berthd is down), not after a guessed sleep.
 */
export const GATE_FILE = '/tmp/gate';
export const GATE = `until [ -e ${GATE_FILE} ]; do sleep 0.1; done`;

/** Let a container past `GATE`. Works while berthd is down: it writes through /proc/<pid>/root. */
export function openGate(pid: number): void {
  writeFileSync(`/proc/${pid}/root${GATE_FILE}`, '');
}

/**
 * Write raw bytes to the socket, then read until the daemon closes, the reply matches
 * `until`, or `waitMs` has passed (default 20 ms: for sending only); close. Resolves with
 * what came back.
 */
export function rawSocket(socketPath: string, data: Buffer | string, opts: { waitMs?: number; half?: boolean; until?: RegExp } = {}): Promise<string> {
  return new Promise((res) => {
    const s = net.createConnection(socketPath);
    const got: Buffer[] = [];
    let done = false;
    const finish = () => {
      if (done) return;
      done = true;
      s.destroy();
      res(Buffer.concat(got).toString('latin1'));
    };
    s.on('data', (c: Buffer) => {
      got.push(c);
      if (opts.until?.test(Buffer.concat(got).toString('latin1'))) finish();
    });
    s.on('error', finish);
    s.on('close', finish);
    s.on('connect', () => {
      s.write(data);
      if (opts.half) s.end();
      setTimeout(finish, opts.waitMs ?? 20);
    });
  });
}

function unescapeMount(s: string): string {
  return s.replace(/\\([0-7]{3})/g, (_m, o: string) => String.fromCharCode(parseInt(o, 8)));
}

/** Mount points under a directory, deepest first, from /proc/self/mountinfo. */
export function mountsUnder(dir: string): string[] {
  const lines = readFileSync('/proc/self/mountinfo', 'utf8').split('\n');
  const out: string[] = [];
  for (const l of lines) {
    const f = l.split(' ');
    if (f.length < 5) continue;
    const mp = unescapeMount(f[4]!);
    if (mp === dir || mp.startsWith(dir + '/')) out.push(mp);
  }
  return out.sort((a, b) => b.length - a.length);
}

/** Host processes whose cmdline mentions `needle` and whose comm is `comm` (if given). */
export function processesMentioning(needle: string, comm?: string): number[] {
  const pids: number[] = [];
  for (const e of readdirSync('/proc')) {
    if (!/^\d+$/.test(e)) continue;
    const pid = Number(e);
    if (pid === process.pid) continue;
    try {
      if (comm && readFileSync(`/proc/${e}/comm`, 'utf8').trim() !== comm) continue;
      const cmd = readFileSync(`/proc/${e}/cmdline`, 'utf8').split('\0').join(' ');
      if (cmd.includes(needle)) pids.push(pid);
    } catch {
      /* gone */
    }
  }
  return pids;
}

export function nsOf(pid: number | 'self', ns: string): string {
  return readFileSync(`/proc/${pid}/ns/${ns}`, 'utf8');
}

export class Daemon {
  readonly dir: string;
  readonly sock: string;
  readonly host: string;
  readonly dataRoot: string;
  readonly execRoot: string;
  readonly pidfile: string;
  readonly logFile: string;
  readonly dockerConfig: string;
  proc: import('node:child_process').ChildProcess | undefined;
  private exited: Promise<void> = Promise.resolve();
  private imagePromise: Promise<void> | undefined;
  /** Every container id this daemon ever showed us, for cleanup. */
  readonly seenIds = new Set<string>();
  failed = false;

  /** This daemon's private networks (see claimTestNet); the flags are in extraArgs unless the test gave its own. */
  readonly net: { x: number; args: string[]; release(): void } | undefined;

  /** `extraArgs`: more berthd flags, e.g. `--storage-driver vfs`; `env`: more variables for berthd's environment. */
  constructor(readonly extraArgs: string[] = [], readonly daemonEnv: Record<string, string> = {}) {
    if (!extraArgs.some((a) => a === '-b' || a.startsWith('--bridge') || a.startsWith('--bip'))) {
      this.net = claimTestNet();
      this.extraArgs = [...extraArgs, ...this.net.args];
    }
    // /tmp/bi-XXXXXX/s.sock: well under the 108-byte sun_path limit.
    this.dir = mkdtempSync('/tmp/bi-');
    this.sock = join(this.dir, 's.sock');
    this.host = `unix://${this.sock}`;
    this.dataRoot = join(this.dir, 'data');
    this.execRoot = join(this.dir, 'exec');
    this.pidfile = join(this.dir, 'berthd.pid');
    this.logFile = join(this.dir, 'berthd.log');
    this.dockerConfig = join(this.dir, 'docker-config');
    mkdirSync(this.dockerConfig);
  }

  /** Start berthd (again) on the same roots and wait until /_ping answers OK. */
  async start(timeoutMs = 20_000): Promise<void> {
    if (this.proc && this.proc.exitCode === null && this.proc.signalCode === null) throw new Error('berthd already running');
    const fd = openSync(this.logFile, 'a');
    writeFileSync(fd, `\n===== berthd start ${new Date().toISOString()} ${this.extraArgs.join(' ')} =====\n`);
    const p = spawn(BERTHD, ['-H', this.host, '--data-root', this.dataRoot, '--exec-root', this.execRoot, '--pidfile', this.pidfile, ...this.extraArgs], {
      stdio: ['ignore', fd, fd],
      detached: false,
      env: { ...process.env, ...this.daemonEnv },
    });
    closeSync(fd);
    this.proc = p;
    this.exited = new Promise((r) => p.once('exit', () => r()));
    let exitedEarly = false;
    p.once('exit', () => { exitedEarly = true; });
    await waitFor('berthd to answer /_ping', async () => {
      if (exitedEarly) throw new Error(`berthd exited early (code ${p.exitCode}, signal ${p.signalCode}); log:\n${this.log()}`);
      const r = await this.ping();
      return r;
    }, timeoutMs, 50).catch((e) => {
      if (exitedEarly) throw new Error(`berthd exited early (code ${p.exitCode}, signal ${p.signalCode}); log:\n${this.log()}`);
      throw e;
    });
  }

  get pid(): number | undefined {
    return this.proc?.pid;
  }

  running(): boolean {
    return !!this.proc && this.proc.exitCode === null && this.proc.signalCode === null;
  }

  async ping(): Promise<boolean> {
    try {
      const r = await httpRequest(this.sock, 'GET', '/_ping', undefined, {}, 2000);
      return r.status === 200 && r.body === 'OK';
    } catch {
      return false;
    }
  }

  /** Send a signal to berthd and wait (up to timeoutMs) for it to exit. */
  async signal(sig: NodeJS.Signals, timeoutMs = 10_000): Promise<boolean> {
    if (!this.running()) return true;
    this.proc!.kill(sig);
    return Promise.race([this.exited.then(() => true), sleep(timeoutMs).then(() => false)]);
  }

  /** SIGKILL berthd (containers keep running under conmon). */
  async kill(): Promise<void> {
    await this.signal('SIGKILL');
  }

  /** SIGTERM berthd; SIGKILL if it does not exit within 5 s. */
  async stop(): Promise<void> {
    if (!(await this.signal('SIGTERM', 5000))) await this.signal('SIGKILL');
  }

  log(): string {
    try {
      return readFileSync(this.logFile, 'utf8');
    } catch {
      return '(no log)';
    }
  }

  private note(r: RunResult): RunResult {
    for (const m of r.stdout.matchAll(/\b[0-9a-f]{64}\b/g)) this.seenIds.add(m[0]);
    return r;
  }

  env(): NodeJS.ProcessEnv {
    const e: NodeJS.ProcessEnv = { ...process.env, DOCKER_HOST: this.host, DOCKER_CONFIG: this.dockerConfig, BERTH_HOST: this.host };
    delete e.DOCKER_CONTEXT;
    delete e.DOCKER_TLS_VERIFY;
    delete e.DOCKER_CERT_PATH;
    delete e.DOCKER_API_VERSION;
    return e;
  }

  /** The real docker CLI against this daemon. */
  async docker(args: string[], opts: RunOptions = {}): Promise<RunResult> {
    return this.note(await run(DOCKER, ['-H', this.host, ...args], { ...opts, env: { ...this.env(), ...opts.env } }));
  }

  /**
   * Wait until the container's logs show `marker`: how a test learns that a container is
   * ready (its trap is set, its server listens) instead of sleeping and hoping.
   */
  async waitForLog(id: string, marker: string, timeoutMs = 10_000): Promise<void> {
    await waitFor(`'${marker}' in the logs of ${id}`, async () => (await this.docker(['logs', id])).stdout.includes(marker), timeoutMs, 100);
  }

  /** Start a docker command that streams (logs -f, events, attach) and watch its output. */
  dockerStream(args: string[]): { output: () => string; done: Promise<RunResult>; stop: () => Promise<RunResult> } {
    const ac = new AbortController();
    let out = '';
    const done = this.docker(args, { abort: ac.signal, onStdout: (c) => { out += c; }, timeoutMs: 60_000 });
    return { output: () => out, done, stop: () => { ac.abort(); return done; } };
  }

  /** Our berth CLI against this daemon. */
  async berth(args: string[], opts: RunOptions = {}): Promise<RunResult> {
    return this.note(await run(process.execPath, ['--', BERTH, '-H', this.host, ...args], { ...opts, env: { ...this.env(), ...opts.env } }));
  }

  /** docker ... and assert exit code 0; returns trimmed stdout. */
  async dockerOk(args: string[], opts: RunOptions = {}): Promise<string> {
    const r = await this.docker(args, opts);
    if (r.code !== 0) throw new Error(`docker ${args.join(' ')} exited ${r.code}${r.timedOut ? ' (timed out)' : ''}\nstdout: ${r.stdout}\nstderr: ${r.stderr}`);
    return r.stdout.trim();
  }

  async api(method: string, path: string, body?: string | Buffer | object, headers: Record<string, string> = {}, timeoutMs?: number): Promise<HttpResult> {
    const r = await httpRequest(this.sock, method, path, body, headers, timeoutMs);
    if (typeof r.json?.Id === 'string' && /^[0-9a-f]{64}$/.test(r.json.Id)) this.seenIds.add(r.json.Id);
    return r;
  }

  async inspect(idOrName: string): Promise<any> {
    const out = await this.dockerOk(['inspect', '--type', 'container', idOrName]);
    const arr = JSON.parse(out) as any[];
    this.seenIds.add(arr[0].Id);
    return arr[0];
  }

  /** Import a busybox image (busybox:latest) built from /usr/bin/busybox. Once per daemon. */
  makeBusyboxImage(tag = 'busybox:latest'): Promise<void> {
    if (!this.imagePromise) this.imagePromise = this.importBusybox(tag);
    return this.imagePromise;
  }

  /** Write the busybox rootfs tarball (if not yet) and return its path. */
  busyboxTar(): string {
    const tarPath = join(this.dir, 'busybox.tar');
    if (existsSync(tarPath)) return tarPath;
    const root = join(this.dir, 'rootfs');
    mkdirSync(join(root, 'bin'), { recursive: true });
    for (const d of ['etc', 'tmp', 'proc', 'sys', 'dev', 'root', 'home']) mkdirSync(join(root, d), { recursive: true });
    copyFileSync(BUSYBOX, join(root, 'bin', 'busybox'));
    for (const a of APPLETS) symlinkSync('busybox', join(root, 'bin', a));
    writeFileSync(join(root, 'etc', 'passwd'), 'root:x:0:0:root:/root:/bin/sh\nnobody:x:65534:65534:nobody:/:/bin/false\n');
    writeFileSync(join(root, 'etc', 'group'), 'root:x:0:\nnogroup:x:65534:\n');
    const r = spawnSync('tar', ['-C', root, '-cf', tarPath, '.']);
    if (r.status !== 0) throw new Error(`tar failed: ${r.stderr}`);
    return tarPath;
  }

  private async importBusybox(tag: string): Promise<void> {
    const tarPath = this.busyboxTar();
    await this.dockerOk(['import', tarPath, tag], { timeoutMs: 60_000 });
  }

  /** All container ids the daemon lists now, plus every id we saw. */
  async allContainerIds(): Promise<string[]> {
    if (this.running() && (await this.ping())) {
      const r = await this.docker(['ps', '-aq', '--no-trunc'], { timeoutMs: 10_000 });
      for (const id of r.stdout.split(/\s+/)) if (/^[0-9a-f]{64}$/.test(id)) this.seenIds.add(id);
    }
    for (const d of [join(this.dataRoot, 'containers'), join(this.execRoot, 'runc'), join(this.execRoot, 'containers')]) {
      try {
        for (const e of readdirSync(d)) if (/^[0-9a-f]{64}$/.test(e)) this.seenIds.add(e);
      } catch {
        /* none */
      }
    }
    return [...this.seenIds];
  }

  /** Tear everything down. Safe to call more than once and after failures. */
  async cleanup(): Promise<void> {
    const problems: string[] = [];
    const ids = await this.allContainerIds().catch(() => [...this.seenIds]);
    // 1. docker rm -f through the daemon, if it is up.
    if (this.running() && (await this.ping()) && ids.length > 0) {
      const listed = (await this.docker(['ps', '-aq', '--no-trunc'], { timeoutMs: 10_000 })).stdout.split(/\s+/).filter(Boolean);
      if (listed.length > 0) {
        const r = await this.docker(['rm', '-f', ...listed], { timeoutMs: 30_000 });
        if (r.code !== 0) problems.push(`docker rm -f: ${r.stderr.trim()}`);
      }
    }
    // 2. Stop the daemon.
    await this.stop();
    // 3. Kill leftover conmon processes of this exec root.
    for (const pid of processesMentioning(this.execRoot, 'conmon')) {
      problems.push(`leftover conmon ${pid}`);
      try { process.kill(pid, 'SIGKILL'); } catch { /* gone */ }
    }
    // 3b. Kill leftover userland proxies: they relay to addresses on this daemon's private networks.
    if (this.net) {
      for (const pid of processesMentioning(`,10.${this.net.x}.`, 'berth-proxy')) {
        problems.push(`leftover berth-proxy ${pid}`);
        try { process.kill(pid, 'SIGKILL'); } catch { /* gone */ }
      }
    }
    // 4. runc delete -f leftovers.
    const runcRoot = join(this.execRoot, 'runc');
    let runcIds: string[] = [];
    try { runcIds = readdirSync(runcRoot); } catch { /* none */ }
    for (const id of runcIds) {
      problems.push(`leftover runc container ${id}`);
      await run('runc', ['--root', runcRoot, 'delete', '-f', id], { timeoutMs: 10_000 });
    }
    // 5. Unmount everything under the temp dir (deepest first), lazily.
    for (let round = 0; round < 3; round++) {
      const mps = mountsUnder(this.dir);
      if (mps.length === 0) break;
      for (const mp of mps) {
        if (round === 0) problems.push(`leftover mount ${mp}`);
        await run('umount', ['-l', mp], { timeoutMs: 10_000 });
      }
    }
    // 6. Remove the containers' cgroups if left.
    for (const id of ids) {
      for (const dir of cgroupDirs(id)) {
        let ok = false;
        for (let i = 0; i < 20 && !ok; i++) {
          try {
            rmdirSync(dir);
            ok = true;
          } catch (e) {
            if ((e as NodeJS.ErrnoException).code === 'ENOENT') ok = true;
            else await sleep(50);
          }
        }
        if (!ok) problems.push(`cannot remove cgroup ${dir}`);
      }
    }
    // 7. Remove the temp dir.
    if (this.failed || process.env.BERTH_TEST_VERBOSE) {
      process.stderr.write(`\n[harness] temp dir: ${this.dir}\n[harness] cleanup notes: ${problems.join('; ') || 'none'}\n[harness] berthd log:\n${this.log()}\n`);
    }
    if (!process.env.BERTH_TEST_KEEP) await fsp.rm(this.dir, { recursive: true, force: true }).catch((e) => process.stderr.write(`[harness] rm ${this.dir}: ${e}\n`));
    this.net?.release();
  }
}

/** Existing cgroup directories of a container: /sys/fs/cgroup/<controller>/berth/<id> and v2 /sys/fs/cgroup/berth/<id>. */
export function cgroupDirs(id: string): string[] {
  const out: string[] = [];
  let ctrls: string[] = [];
  try { ctrls = readdirSync('/sys/fs/cgroup'); } catch { return out; }
  for (const c of ctrls) {
    const p = join('/sys/fs/cgroup', c, 'berth', id);
    if (existsSync(p)) out.push(p);
  }
  const v2 = join('/sys/fs/cgroup', 'berth', id);
  if (existsSync(v2) && !out.includes(v2)) out.push(v2);
  return out;
}

/**
 * Register before/after hooks for one daemon per test file. The returned object is usable
 * inside tests (after before() ran). Pass `{ image: false }` to skip importing busybox.
 */
export function useDaemon(opts: { image?: boolean; args?: string[]; env?: Record<string, string> } = {}): Daemon {
  const d = new Daemon(opts.args, opts.env);
  before(async () => {
    try {
      await d.start();
      if (opts.image !== false) await d.makeBusyboxImage();
    } catch (e) {
      d.failed = true;
      throw e;
    }
  }, { timeout: 90_000 });
  afterEach((t) => {
    if (!(t as unknown as { passed?: boolean }).passed) d.failed = true;
  });
  after(async () => {
    await d.cleanup();
  }, { timeout: 120_000 });
  return d;
}

export const ID64 = /^[0-9a-f]{64}$/;

/** useDaemon() for a daemon started with extra berthd flags (e.g. `--storage-driver vfs`). */
export function useDaemonWithArgs(extraArgs: string[], opts: { image?: boolean } = {}): Daemon {
  return useDaemon({ ...opts, args: extraArgs });
}

/**
 * `berth registry serve` on 127.0.0.1 with a free port, Basic auth for `user:password`
 * from an htpasswd file under `root`; resolves once it says where it listens.
 */
export async function startBerthRegistry(root: string, user: string, password: string): Promise<{ addr: string; stop(): void }> {
  const htpasswd = join(root, 'htpasswd');
  // bcryptjs is a dependency of the registry itself.
  const bcrypt = (await import('bcryptjs')).default;
  writeFileSync(htpasswd, `${user}:${bcrypt.hashSync(password, 6)}\n`);
  const serve = spawn(BERTH, ['registry', 'serve', '--addr', '127.0.0.1:0', '--root', join(root, 'data'), '--htpasswd', htpasswd], { stdio: ['ignore', 'pipe', 'inherit'] });
  const addr = await new Promise<string>((resolve, reject) => {
    let out = '';
    serve.stdout.on('data', (c: Buffer) => {
      out += c.toString();
      const m = /listening on (\S+)\n/.exec(out);
      if (m) resolve(m[1]!);
    });
    serve.once('exit', (code) => reject(new Error(`berth registry serve exited with ${code}`)));
  });
  return { addr, stop: () => void serve.kill('SIGTERM') };
}
