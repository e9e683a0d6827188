// The physical floor of a container start on this machine: bare runc (no daemon, no CLI, no
// monitor) running the same rootfs with the same config.json a berthd wrote, timed from spawn
// to exit. Used by bench.ts as the baseline of its ratios.

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
 * A bundle under `dir` with the rootfs unpacked from `rootfsTar` and `config` (a berthd
 * container's config.json, or undefined for `runc spec`'s) made standalone: the rootfs is
 * the bundle's, bind mounts of the daemon's files, hooks and namespace paths are dropped,
 * and the cgroup is the bench's own.
 */
export function makeBundle(dir: string, rootfsTar: string, config: Record<string, any> | undefined, runc: string): string {
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
  spec.process.args = ['true'];
  spec.linux = spec.linux ?? {};
  spec.linux.cgroupsPath = `/berth-bench-runc/${path.basename(dir)}`;
  fs.writeFileSync(path.join(dir, 'config.json'), JSON.stringify(spec));
  return dir;
}

function setArgs(bundle: string, args: string[]): void {
  const f = path.join(bundle, 'config.json');
  const spec = JSON.parse(fs.readFileSync(f, 'utf8'));
  spec.process.args = args;
  fs.writeFileSync(f, JSON.stringify(spec));
}

/** Times bare runc on a bundle made by makeBundle; leaves no container, state or cgroup behind. */
export async function measureRunc(work: string, rootfsTar: string, config: Record<string, any> | undefined, runs: number, log: (m: string) => void): Promise<RuncBaseline> {
  const runc = which('runc');
  const dir = path.join(work, 'runc-bundle');
  const root = path.join(work, 'runc-root');
  fs.mkdirSync(root, { recursive: true });
  makeBundle(dir, rootfsTar, config, runc);
  const errFile = path.join(work, 'runc-stderr.log');
  const errFd = fs.openSync(errFile, 'a');
  const rc = (args: string[], timeoutMs = 30_000) => timed(runc, [`--root=${root}`, ...args], errFd, timeoutMs);
  const res: RuncBaseline = { runc, configFrom: config ? 'berthd container config.json' : 'runc spec default (no seccomp)', runMs: [], createStartMs: [], execMs: [] };
  const fail = (what: string) => new Error(`bare ${what} failed; see ${errFile}: ${fs.readFileSync(errFile, 'utf8').trim().split('\n').slice(-2).join(' | ')}`);
  const ids: string[] = [];
  try {
    setArgs(dir, ['true']);
    for (let i = 0; i < runs + 2; i++) {
      const id = `bench-run-${process.pid}-${i}`;
      const r = await rc(['run', '-b', dir, id]);
      if (r.code !== 0) throw fail('runc run');
      if (i >= 2) res.runMs.push(r.ms);
    }
    setArgs(dir, ['sleep', '600']);
    for (let i = 0; i < Math.min(runs, 10) + 1; i++) {
      const id = `bench-cs-${process.pid}-${i}`;
      ids.push(id);
      const c = await rc(['create', '-b', dir, id]);
      if (c.code !== 0) throw fail('runc create');
      const s = await rc(['start', id]);
      if (s.code !== 0) throw fail('runc start');
      if (i >= 1) res.createStartMs.push(c.ms + s.ms);
      await rc(['delete', '--force', id]);
      ids.pop();
    }
    const id = `bench-exec-${process.pid}`;
    ids.push(id);
    const d = await rc(['run', '-d', '-b', dir, id]);
    if (d.code !== 0) throw fail('runc run -d');
    for (let i = 0; i < runs + 2; i++) {
      const e = await rc(['exec', id, 'true']);
      if (e.code !== 0) throw fail('runc exec');
      if (i >= 2) res.execMs.push(e.ms);
    }
  } finally {
    for (const id of ids) await rc(['delete', '--force', id]);
    fs.closeSync(errFd);
    // runc delete removes each container's cgroup, not the parent the bench named.
    const cg = '/sys/fs/cgroup';
    for (const d of [cg, ...fs.readdirSync(cg).map((c) => path.join(cg, c))]) {
      try {
        fs.rmdirSync(path.join(d, 'berth-bench-runc'));
      } catch {
        /* not there, or not a cgroup hierarchy */
      }
    }
    log(`bare runc: ${res.runMs.length} runs, ${res.createStartMs.length} create+start, ${res.execMs.length} execs (config: ${res.configFrom})`);
  }
  return res;
}
