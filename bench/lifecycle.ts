// Container-lifecycle bench: `exec CTR true`, `logs` and `logs --tail 100` of a large log,
// and `docker cp` of a directory into and out of a running container, on berthd and on a
// peer daemon (dockerd) in one run, through the real docker CLI over local unix sockets.
// Runs alternate between the daemons, in reverse order every other run, so that both see the same load.
//
//   node dist/bench/lifecycle.js [--peer unix://PATH --peer-name dockerd] [--runs 20] [--tail-runs 200] [--cp-runs 5] [--log-mb 100] [--cp-mb 100]
//
// bench/lifecycle-with-dockerd.sh starts a private dockerd as the peer.

import { spawn, spawnSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { parseArgs } from 'node:util';
import { dockerCli, startBerthd, type Target } from './kit';

const REPO_ROOT = path.resolve(__dirname, '..', '..');

const { values: opt } = parseArgs({
  options: {
    peer: { type: 'string' },
    'peer-name': { type: 'string', default: 'peer' },
    'berth-sock': { type: 'string' },
    docker: { type: 'string', default: '/usr/local/bin/docker' },
    runs: { type: 'string', default: '20' },
    'tail-runs': { type: 'string', default: '200' },
    'cp-runs': { type: 'string', default: '5' },
    'log-mb': { type: 'string', default: '100' },
    'cp-mb': { type: 'string', default: '100' },
    json: { type: 'boolean', default: false },
  },
});

const runs = Number(opt.runs);
const tailRuns = Number(opt['tail-runs']);
const cpRuns = Number(opt['cp-runs']);
const logMb = Number(opt['log-mb']);
const cpMb = Number(opt['cp-mb']);
const { docker, must } = dockerCli(opt.docker!);
const say = (s: string) => process.stderr.write(`[lifecycle] ${s}\n`);
const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor((xs.length - 1) / 2)]!;

/** Runs the CLI with stdout counted, not kept (a 100 MB log would not fit a spawnSync buffer). */
function timedCount(t: Target, args: string[]): Promise<{ ms: number; bytes: number }> {
  return new Promise((resolve, reject) => {
    const t0 = process.hrtime.bigint();
    const p = spawn(opt.docker!, ['-H', t.host, ...args], { stdio: ['ignore', 'pipe', 'pipe'] });
    let bytes = 0;
    let err = '';
    p.stdout.on('data', (c: Buffer) => (bytes += c.length));
    p.stderr.on('data', (c: Buffer) => (err += c.toString()));
    p.on('close', (code) => {
      const ms = Number(process.hrtime.bigint() - t0) / 1e6;
      if (code !== 0) reject(new Error(`${t.name}: docker ${args.join(' ')} exited ${code}: ${err.trim()}`));
      else resolve({ ms, bytes });
    });
  });
}

function ensureImage(t: Target): void {
  if (docker(t, ['image', 'inspect', 'busybox:latest']).code === 0) return;
  const r = spawnSync('sh', ['-c', `${path.join(REPO_ROOT, 'scripts', 'make-busybox-rootfs.sh')} | ${opt.docker} -H ${t.host} import - busybox:latest`], { encoding: 'utf8' });
  if (r.status !== 0) throw new Error(`${t.name}: cannot import busybox: ${r.stderr}`);
}

/** `mb` MB of incompressible data in 100 directories of 10 files each. */
function makeTree(dir: string, mb: number): void {
  const per = Math.floor((mb * 1024 * 1024) / 1000);
  for (let d = 0; d < 100; d++) {
    fs.mkdirSync(path.join(dir, `d${d}`), { recursive: true });
    for (let f = 0; f < 10; f++) fs.writeFileSync(path.join(dir, `d${d}`, `f${f}`), randomBytes(per));
  }
}

interface Result {
  execMedianMs: number;
  logsMs: number;
  logsMBps: number;
  logBytes: number;
  tailMs: number;
  cpInMs: number;
  cpInMBps: number;
  cpOutMs: number;
  cpOutMBps: number;
}

/** Each measure alternates between the daemons run by run, so both see the same load on a shared machine. */
async function measureAll(targets: Target[], tree: string, work: string): Promise<Record<string, Result>> {
  // Run `i` goes through the daemons in reverse order when i is odd, so neither is always the
  // one that runs right after the other's call.
  const each = async <T>(f: (t: Target) => Promise<T> | T, i = 0): Promise<void> => {
    for (const t of i % 2 ? [...targets].reverse() : targets) await f(t);
  };
  const samples = new Map<string, Record<string, number[]>>(targets.map((t) => [t.name, {}]));
  const add = (t: Target, key: string, v: number) => ((samples.get(t.name)![key] ??= []).push(v));
  await each((t) => {
    ensureImage(t);
    for (const n of ['lb-exec', 'lb-log']) docker(t, ['rm', '-f', n]);
    must(t, ['run', '-d', '--name', 'lb-exec', 'busybox', 'sleep', '3600']);
    for (let i = 0; i < 3; i++) must(t, ['exec', 'lb-exec', 'true']);
  });
  for (let i = 0; i < runs; i++) await each((t) => add(t, 'exec', must(t, ['exec', 'lb-exec', 'true']).ms), i);

  // 100-byte lines (99 characters and a newline) until the log holds `logMb` MB of output.
  const lines = Math.floor((logMb * 1024 * 1024) / 100);
  const line = 'x'.repeat(91);
  await each((t) => {
    must(t, ['run', '-d', '--name', 'lb-log', 'busybox', 'sh', '-c', `yes ${line} | head -n ${lines} | sed 's/^/${'l'.repeat(8)}/'`]);
    must(t, ['wait', 'lb-log']);
  });
  await each((t) => timedCount(t, ['logs', 'lb-log']));
  const logBytes = new Map<string, number>();
  for (let i = 0; i < 3; i++) {
    await each(async (t) => {
      const r = await timedCount(t, ['logs', 'lb-log']);
      logBytes.set(t.name, r.bytes);
      add(t, 'logs', r.ms);
    }, i);
  }
  // A tail takes the CLI 15-30 ms here, and the daemons differ by a fraction of a millisecond
  // in it: the row takes more samples than the others to see that difference through the CLI's
  // own spread of a few milliseconds.
  for (let i = 0; i < tailRuns; i++) {
    await each(async (t) => {
      const r = await timedCount(t, ['logs', '--tail', '100', 'lb-log']);
      if (r.bytes !== 100 * 100) throw new Error(`${t.name}: logs --tail 100 gave ${r.bytes} bytes`);
      add(t, 'tail', r.ms);
    }, i);
  }
  // Each copy starts with the disk quiet: the removal of the previous copies (and this disk's
  // discards for it) would otherwise land in the next daemon's measure.
  for (let i = 0; i < cpRuns; i++) {
    await each((t) => {
      must(t, ['exec', 'lb-exec', 'rm', '-rf', '/tmp/tree']);
      spawnSync('sync');
      add(t, 'cpIn', must(t, ['cp', tree, 'lb-exec:/tmp/tree']).ms);
      const out = path.join(work, `out-${t.name}-${i}`);
      spawnSync('sync');
      add(t, 'cpOut', must(t, ['cp', 'lb-exec:/tmp/tree', out]).ms);
      const n = spawnSync('du', ['-sb', out], { encoding: 'utf8' }).stdout.split('\t')[0];
      if (Number(n) < cpMb * 1024 * 1024 * 0.99) throw new Error(`${t.name}: cp out copied only ${n} bytes`);
      fs.rmSync(out, { recursive: true, force: true });
    }, i);
  }
  await each((t) => void must(t, ['rm', '-f', 'lb-exec', 'lb-log']));
  const results: Record<string, Result> = {};
  for (const t of targets) {
    const s = samples.get(t.name)!;
    const m = (k: string) => median(s[k]!);
    const bytes = logBytes.get(t.name)!;
    const r: Result = {
      execMedianMs: m('exec'), logsMs: m('logs'), logsMBps: bytes / 1048576 / (m('logs') / 1000), logBytes: bytes, tailMs: m('tail'),
      cpInMs: m('cpIn'), cpInMBps: cpMb / (m('cpIn') / 1000), cpOutMs: m('cpOut'), cpOutMBps: cpMb / (m('cpOut') / 1000),
    };
    say(`${t.name}: exec ${r.execMedianMs.toFixed(1)} ms; logs ${(bytes / 1048576).toFixed(1)} MB in ${r.logsMs.toFixed(0)} ms; tail ${r.tailMs.toFixed(1)} ms; cp in ${r.cpInMs.toFixed(0)} ms, out ${r.cpOutMs.toFixed(0)} ms`);
    results[t.name] = r;
  }
  return results;
}

async function main(): Promise<void> {
  const work = fs.mkdtempSync(path.join(os.tmpdir(), 'bench-life-'));
  const tree = path.join(work, 'tree');
  makeTree(tree, cpMb);
  spawnSync('sync');
  let results: Record<string, Result> = {};
  let proc: import('node:child_process').ChildProcess | undefined;
  try {
    let berth: Target;
    if (opt['berth-sock']) berth = { name: 'berthd', host: opt['berth-sock'] };
    else {
      const s = await startBerthd(work, docker);
      berth = s.target;
      proc = s.proc;
    }
    const targets = [berth, ...(opt.peer ? [{ name: opt['peer-name']!, host: opt.peer }] : [])];
    results = await measureAll(targets, tree, work);
  } finally {
    if (proc) {
      proc.kill('SIGTERM');
      await new Promise((r) => proc!.once('exit', r));
    }
    // The berthd bench containers were removed; its roots go with the work dir.
    spawnSync('sh', ['-c', `grep -o ' ${work}[^ ]*' /proc/self/mountinfo | sort -r | xargs -r -n1 umount -l`]);
    fs.rmSync(work, { recursive: true, force: true });
  }
  if (opt.json) process.stdout.write(JSON.stringify(results, null, 2) + '\n');
  const b = results.berthd!;
  const p = opt.peer ? results[opt['peer-name']!] : undefined;
  const rows: [string, (r: Result) => string, string][] = [
    ['exec CTR true, median ms', (r) => r.execMedianMs.toFixed(1), p ? `${((b.execMedianMs / p.execMedianMs) * 100).toFixed(0)}% of peer (target ≤ 60%)` : ''],
    [`logs (${(b.logBytes / 1048576).toFixed(0)} MB), MB/s`, (r) => r.logsMBps.toFixed(1), p ? `${(b.logsMBps / p.logsMBps).toFixed(2)}× peer (target ≥ 2×)` : ''],
    ['logs --tail 100, median ms', (r) => r.tailMs.toFixed(1), p ? `${(b.tailMs / p.tailMs).toFixed(2)}× peer's latency (target ≤ 1×)` : ''],
    [`cp ${cpMb} MB dir into container, MB/s`, (r) => r.cpInMBps.toFixed(1), p ? `${(b.cpInMBps / p.cpInMBps).toFixed(2)}× peer (target ≥ 1×)` : ''],
    [`cp ${cpMb} MB dir out of container, MB/s`, (r) => r.cpOutMBps.toFixed(1), p ? `${(b.cpOutMBps / p.cpOutMBps).toFixed(2)}× peer (target ≥ 1×)` : ''],
  ];
  const names = Object.keys(results);
  process.stdout.write(`| measure | ${names.join(' | ')} | berthd vs peer |\n| --- | ${names.map(() => '---').join(' | ')} | --- |\n`);
  for (const [label, f, cmp] of rows) process.stdout.write(`| ${label} | ${names.map((n) => f(results[n]!)).join(' | ')} | ${cmp} |\n`);
}

main().catch((err) => {
  process.stderr.write(`[lifecycle] ${err instanceof Error ? err.stack : String(err)}\n`);
  process.exit(1);
});
