// The physical floor of a container start on this machine: bare runc (no daemon, no CLI, no
// monitor) running the same rootfs with the same config.json a berthd wrote, timed from spawn
// to exit. bench.ts takes one bare sample right after each daemon sample (run, create+start,
// exec), so both see the same machine load: the ratios stay fair on a busy machine.

import { spawn, spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as path from 'node:path';

export interface RuncBaseline {
  runc: string;
  /** Where config.json came from: a berthd container's, or `runc spec`'s default. */
  configFrom: string;
  /** `runc run ID` of `true`, spawn to exit. */
  runMs: number[];
  /** `runc create` + `runc start` of `sleep`, until start returns (the process runs). */
  createStartMs: number[];
  /** `runc exec ID true` in a running container. */
  execMs: number[];
}

function which(bin: string): string {
  for (const d of (process.env.PATH ?? '/usr/sbin:/usr/bin:/sbin:/bin').split(':').concat(['/usr/sbin', '/sbin'])) {
    const p = path.join(d || '.', bin);
    try {
      fs.accessSync(p, fs.constants.X_OK);
      return p;
    } catch {
      /* next */
    }
  }
  throw new Error(`${bin} not found in PATH`);
}

/** Spawns with no pipes (runc's container would inherit them), timed spawn to exit. */
function timed(file: string, args: string[], errFd: number, timeoutMs: number): Promise<{ code: number | null; ms: number }> {
  return new Promise((resolve) => {
    const t0 = process.hrtime.bigint();
    const ch = spawn(file, args, { stdio: ['ignore', 'ignore', errFd] });
    const timer = setTimeout(() => ch.kill('SIGKILL'), timeoutMs);
    ch.on('error', () => undefined);
    ch.on('exit', (code) => {
      clearTimeout(timer);
      resolve({ code, ms: Number(process.hrtime.bigint() - t0) / 1e6 });
    });
  });
}

/**
 * A bundle in `dir` with the rootfs unpacked from `rootfsTar` and `config` (a berthd
 * container's config.json, or undefined for `runc spec`'s) made standalone: the rootfs is
 * the bundle's, bind mounts of the daemon's files, hooks and namespace paths are dropped,
 * and the cgroup is the bench's own.
 */
function makeBundle(dir: string, rootfsTar: string, config: Record<string, any> | undefined, runc: string, args: string[]): void {
  const rootfs = path.join(dir, 'rootfs');
  fs.mkdirSync(rootfs, { recursive: true });
  const x = spawnSync('tar', ['-xf', rootfsTar, '-C', rootfs], { encoding: 'utf8' });
  if (x.status !== 0) throw new Error(`tar -xf ${rootfsTar}: ${x.stderr}`);
  let spec: Record<string, any>;
  if (config) {
    spec = JSON.parse(JSON.stringify(config));
    spec.mounts = (spec.mounts ?? []).filter((m: { type?: string; options?: string[] }) => !(m.options ?? []).includes('bind') && m.type !== 'bind');
    delete spec.hooks;
    for (const ns of spec.linux?.namespaces ?? []) delete ns.path;
  } else {
    const r = spawnSync(runc, ['spec', '--bundle', dir], { encoding: 'utf8' });
    if (r.status !== 0) throw new Error(`runc spec: ${r.stderr}`);
    spec = JSON.parse(fs.readFileSync(path.join(dir, 'config.json'), 'utf8'));
  }
  spec.root = { path: rootfs, readonly: false };
  spec.process.terminal = false;
  spec.process.args = args;
  spec.linux = spec.linux ?? {};
  spec.linux.cgroupsPath = `/berth-bench-runc/${path.basename(dir)}`;
  fs.writeFileSync(path.join(dir, 'config.json'), JSON.stringify(spec));
}

/** Bare runc on bundles of the bench's rootfs; one sample per call. close() leaves no container, state or cgroup. */
export class RuncBench {
  readonly result: RuncBaseline;
  private readonly root: string;
  private readonly errFile: string;
  private readonly errFd: number;
  private readonly oneShot: string;
  private readonly sleeper: string;
  private execId?: string;
  private n = 0;

  constructor(work: string, rootfsTar: string, config: Record<string, any> | undefined) {
    const runc = which('runc');
    this.root = path.join(work, 'runc-root');
    fs.mkdirSync(this.root, { recursive: true });
    this.oneShot = path.join(work, 'runc-true');
    this.sleeper = path.join(work, 'runc-sleep');
    makeBundle(this.oneShot, rootfsTar, config, runc, ['true']);
    makeBundle(this.sleeper, rootfsTar, config, runc, ['sleep', '600']);
    this.errFile = path.join(work, 'runc-stderr.log');
    this.errFd = fs.openSync(this.errFile, 'a');
    this.result = { runc, configFrom: config ? 'berthd container config.json' : 'runc spec default (no seccomp)', runMs: [], createStartMs: [], execMs: [] };
  }

  private rc(args: string[]) {
    return timed(this.result.runc, [`--root=${this.root}`, ...args], this.errFd, 60_000);
  }

  private fail(what: string): Error {
    return new Error(`bare ${what} failed; see ${this.errFile}: ${fs.readFileSync(this.errFile, 'utf8').trim().split('\n').slice(-2).join(' | ')}`);
  }

  /** One `runc run` of `true`; recorded unless `warm`. */
  async run(warm = false): Promise<void> {
    const r = await this.rc(['run', '-b', this.oneShot, `bench-run-${process.pid}-${this.n++}`]);
    if (r.code !== 0) throw this.fail('runc run');
    if (!warm) this.result.runMs.push(r.ms);
  }

  /** One `runc create` + `runc start` of `sleep` (then deleted, untimed). */
  async createStart(warm = false): Promise<void> {
    const id = `bench-cs-${process.pid}-${this.n++}`;
    try {
      const c = await this.rc(['create', '-b', this.sleeper, id]);
      if (c.code !== 0) throw this.fail('runc create');
      const s = await this.rc(['start', id]);
      if (s.code !== 0) throw this.fail('runc start');
      if (!warm) this.result.createStartMs.push(c.ms + s.ms);
    } finally {
      await this.rc(['delete', '--force', id]);
    }
  }

  /** One `runc exec ID true` in a container of its own (started at the first call). */
  async exec(warm = false): Promise<void> {
    if (!this.execId) {
      const id = `bench-exec-${process.pid}`;
      const d = await this.rc(['run', '-d', '-b', this.sleeper, id]);
      if (d.code !== 0) throw this.fail('runc run -d');
      this.execId = id;
    }
    const e = await this.rc(['exec', this.execId, 'true']);
    if (e.code !== 0) throw this.fail('runc exec');
    if (!warm) this.result.execMs.push(e.ms);
  }

  async close(): Promise<void> {
    if (this.execId) await this.rc(['delete', '--force', this.execId]);
    this.execId = undefined;
    try {
      fs.closeSync(this.errFd);
    } catch {
      /* closed */
    }
    // runc delete removes each container's cgroup, not the parent the bench named.
    const cg = '/sys/fs/cgroup';
    for (const d of [cg, ...fs.readdirSync(cg).map((c) => path.join(cg, c))]) {
      try {
        fs.rmdirSync(path.join(d, 'berth-bench-runc'));
      } catch {
        /* not there, or not a cgroup hierarchy */
      }
    }
  }
}
