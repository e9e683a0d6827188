#!/usr/bin/env node
// Density bench: N containers running under one berthd of its own (temporary roots).
//
//   node dist/bench/density.js [--containers 500] [--docker PATH] [--json]
//
// 1. `docker run -d IMG sleep` N times, one after the other, each timed: is the Nth as fast as
//    the 10th (median of runs 6–15 against the last 10)?
// 2. With N running: berthd RSS/PSS, conmon count and PSS, `docker ps` and `docker inspect`
//    (median of 10, taking turns with `docker version`, the CLI's own floor, and with `docker ps`
//    against a stand-in daemon that answers at once with the very bytes berthd gave for the list:
//    the CLI's floor for that list), berthd's open fds.
// 3. kill -9 of berthd, start again on the same roots: time until `docker ps` answers, and
//    whether it lists all N running (the exact ids), and until `inspect` of the last works.
// 4. `docker rm -f` of all (in batches of 50), timed; then what is left: mounts under the roots,
//    cgroups named after a container, conmon processes of the exec root, berthd fds above the
//    idle count, veth interfaces above the count before the run.
// Everything the bench starts is stopped and removed at the end, also on failure or a signal.

import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import * as fs from 'node:fs';
import * as http from 'node:http';
import * as os from 'node:os';
import * as path from 'node:path';
import { parseArgs } from 'node:util';
import { RuncBench } from './runc-baseline';
import { phaseTable, readTrace } from './trace-phases';
import { hasToken, listProcs, median, pssKb, rssKb, unmountUnder, writeBusyboxRootfsTar } from './bench';

const REPO_ROOT = path.resolve(__dirname, '..', '..');

const { values } = parseArgs({
  options: {
    containers: { type: 'string' },
    docker: { type: 'string' },
    busybox: { type: 'string' },
    json: { type: 'boolean' },
    help: { type: 'boolean', short: 'h' },
  },
});
if (values.help) {
  process.stdout.write('usage: node dist/bench/density.js [--containers N (default 500)] [--docker PATH] [--busybox PATH] [--json]\n');
  process.exit(0);
}
const N = Number(values.containers ?? 500);
if (!Number.isInteger(N) || N < 20 || N > 5000) {
  process.stderr.write('--containers must be an integer in [20, 5000]\n');
  process.exit(2);
}
const DOCKER = values.docker ?? (fs.existsSync('/usr/local/bin/docker') ? '/usr/local/bin/docker' : 'docker');
const BUSYBOX = values.busybox ?? '/usr/bin/busybox';

const log = (m: string) => process.stderr.write(`[density ${new Date().toISOString().slice(11, 19)}] ${m}\n`);
const sleep = (ms: number) => new Promise<void>((r) => setTimeout(r, ms));

const work = fs.mkdtempSync(path.join(os.tmpdir(), 'berth-density-'));
const dataRoot = path.join(work, 'data');
const execRoot = path.join(work, 'exec');
const sock = path.join(work, 'berth.sock');
const pidfile = path.join(work, 'berthd.pid');
const traceFile = path.join(work, 'trace.jsonl');
const host = `unix://${sock}`;
const env: NodeJS.ProcessEnv = { ...process.env, DOCKER_CONFIG: path.join(work, 'docker-config'), DOCKER_CLI_HINTS: 'false' };
for (const k of ['DOCKER_HOST', 'DOCKER_CONTEXT']) delete env[k];
fs.mkdirSync(env.DOCKER_CONFIG!);

interface R {
  code: number | null;
  out: string;
  err: string;
  ms: number;
}

function docker(args: string[], timeoutMs = 120_000, at = host): Promise<R> {
  return new Promise((resolve) => {
    const t0 = process.hrtime.bigint();
    let tExit: bigint | undefined;
    let out = '';
    let err = '';
    const ch = spawn(DOCKER, ['-H', at, ...args], { env, stdio: ['ignore', 'pipe', 'pipe'] });
    const timer = setTimeout(() => ch.kill('SIGKILL'), timeoutMs);
    ch.stdout.setEncoding('utf8').on('data', (d: string) => (out += d));
    ch.stderr.setEncoding('utf8').on('data', (d: string) => (err += d));
    ch.on('exit', () => (tExit = process.hrtime.bigint()));
    ch.on('error', (e) => (err += e.message));
    ch.on('close', (code) => {
      clearTimeout(timer);
      resolve({ code, out, err, ms: Number((tExit ?? process.hrtime.bigint()) - t0) / 1e6 });
    });
  });
}

async function must(args: string[], timeoutMs?: number, at?: string): Promise<R> {
  const r = await docker(args, timeoutMs, at);
  if (r.code !== 0) throw new Error(`docker ${args.slice(0, 3).join(' ')}…: exit ${r.code}: ${r.err.trim().split('\n').slice(-2).join(' | ')}`);
  return r;
}

let berthd: ChildProcess | undefined;
let berthdPid = 0;

async function startBerthd(): Promise<number> {
  const logFd = fs.openSync(path.join(work, 'berthd.log'), 'a');
  const t0 = Date.now();
  berthd = spawn(path.join(REPO_ROOT, 'bin', 'berthd'), ['-H', host, '--data-root', dataRoot, '--exec-root', execRoot, '--pidfile', pidfile], { stdio: ['ignore', logFd, logFd], detached: true, env: { ...process.env, BERTH_TRACE: traceFile } });
  fs.closeSync(logFd);
  berthd.on('error', () => undefined);
  berthdPid = berthd.pid ?? 0;
  for (let i = 0; i < 600; i++) {
    const r = await docker(['version', '--format', '{{.Server.Version}}'], 10_000);
    if (r.code === 0) return Date.now() - t0;
    if (berthd.exitCode !== null) break;
    await sleep(50);
  }
  throw new Error(`berthd did not come up; see ${path.join(work, 'berthd.log')}`);
}

function fdCount(pid: number): number {
  try {
    return fs.readdirSync(`/proc/${pid}/fd`).length;
  } catch {
    return -1;
  }
}

function conmons(): number[] {
  return [...listProcs().values()].filter((p) => p.comm === 'conmon' && p.state !== 'Z' && hasToken(p.cmdline, [execRoot])).map((p) => p.pid);
}

function vethCount(): number {
  try {
    return fs.readdirSync('/sys/class/net').filter((n) => n.startsWith('veth')).length;
  } catch {
    return 0;
  }
}

/**
 * Mounts below `dir`, but for the two dirs berthd binds onto themselves while it runs (the
 * containers' roots and network namespaces: src/runtime/monitor-ns.ts).
 */
function mountsUnder(dir: string): number {
  const own = new Set([path.join(dataRoot, 'rootfs'), path.join(execRoot, 'netns')]);
  return fs.readFileSync('/proc/self/mountinfo', 'utf8').split('\n').map((l) => l.split(' ')[4] ?? '').filter((mp) => mp.startsWith(dir + '/') && !own.has(mp)).length;
}

/** cgroup directories named after one of the ids, in any hierarchy (depth ≤ 3). */
function cgroupsOf(ids: Set<string>): string[] {
  const found: string[] = [];
  const walk = (d: string, depth: number) => {
    let ents: fs.Dirent[];
    try {
      ents = fs.readdirSync(d, { withFileTypes: true });
    } catch {
      return;
    }
    for (const e of ents) {
      if (!e.isDirectory()) continue;
      const p = path.join(d, e.name);
      if (ids.has(e.name) || ids.has(e.name.replace(/^.*-|\.scope$/g, ''))) found.push(p);
      else if (depth < 3) walk(p, depth + 1);
    }
  };
  walk('/sys/fs/cgroup', 0);
  return found;
}

type Timed = { median: number; min: number; max: number };

/**
 * Each command `n` times (after one untimed warm-up), taking turns, so that all of them see
 * the same load: on a shared machine the CLI's own floor (`docker version`) moves with it.
 */
async function timedMedians(cmds: { args: string[]; at?: string }[], n: number): Promise<Timed[]> {
  const xs: number[][] = cmds.map(() => []);
  for (let i = 0; i < n + 1; i++) {
    for (let c = 0; c < cmds.length; c++) {
      const r = await must(cmds[c]!.args, undefined, cmds[c]!.at);
      if (i > 0) xs[c]!.push(r.ms);
    }
  }
  return xs.map((v) => ({ median: median(v), min: Math.min(...v), max: Math.max(...v) }));
}

const ids: string[] = [];

/** berthd's answer to GET `path`, as bytes. */
function fetchBody(path: string): Promise<Buffer> {
  return new Promise((resolve, reject) => {
    http
      .get({ socketPath: sock, path }, (res) => {
        const chunks: Buffer[] = [];
        res.on('data', (c: Buffer) => chunks.push(c));
        res.on('end', () => (res.statusCode === 200 ? resolve(Buffer.concat(chunks)) : reject(new Error(`GET ${path}: ${res.statusCode}`))));
      })
      .on('error', reject);
  });
}

/**
 * A stand-in daemon on `socketPath`: it answers the CLI's ping and then any request at once
 * with `body`. `docker ps` against it costs what the CLI spends on that list by itself.
 */
async function replayDaemon(socketPath: string, body: Buffer): Promise<http.Server> {
  const headers = { 'Api-Version': '1.45', Ostype: 'linux', 'Docker-Experimental': 'false' };
  const server = http.createServer((req, res) => {
    if (req.url?.endsWith('/_ping')) {
      res.writeHead(200, { ...headers, 'Content-Type': 'text/plain; charset=utf-8', 'Content-Length': 2 });
      res.end(req.method === 'HEAD' ? undefined : 'OK');
      return;
    }
    res.writeHead(200, { ...headers, 'Content-Type': 'application/json', 'Content-Length': body.length });
    res.end(body);
  });
  await new Promise<void>((resolve, reject) => server.once('error', reject).listen(socketPath, resolve));
  return server;
}

async function cleanup(): Promise<void> {
  try {
    if (berthd && berthd.exitCode === null && berthdPid) {
      const live = (await docker(['ps', '-aq', '--no-trunc'], 30_000)).out.split(/\s+/).filter(Boolean);
      for (let i = 0; i < live.length; i += 50) await docker(['rm', '-f', ...live.slice(i, i + 50)], 300_000);
      process.kill(berthdPid, 'SIGTERM');
      for (let i = 0; i < 100 && fs.existsSync(`/proc/${berthdPid}`) && !/ Z /.test(fs.readFileSync(`/proc/${berthdPid}/stat`, 'utf8')); i++) await sleep(100);
    }
  } catch {
    /* best effort */
  }
  for (const p of conmons()) {
    try {
      process.kill(p, 'SIGKILL');
    } catch {
      /* gone */
    }
  }
  if (berthdPid) {
    try {
      process.kill(berthdPid, 'SIGKILL');
    } catch {
      /* gone */
    }
  }
  const runcRoot = path.join(execRoot, 'runc');
  if (fs.existsSync(runcRoot)) for (const id of fs.readdirSync(runcRoot)) spawnSync('runc', [`--root=${runcRoot}`, 'delete', '--force', id], { stdio: 'ignore' });
  if (unmountUnder(work)) fs.rmSync(work, { recursive: true, force: true });
  else log(`mounts remain under ${work}; left in place`);
}

async function main(): Promise<Record<string, unknown>> {
  const vethBefore = vethCount();
  const firstUp = await startBerthd();
  log(`berthd up in ${firstUp} ms (pid ${berthdPid}); importing the image`);
  const tar = path.join(work, 'rootfs.tar');
  writeBusyboxRootfsTar(BUSYBOX, tar);
  await must(['import', tar, 'busybox:latest']);
  await sleep(1000);
  const idleRss = rssKb(berthdPid);
  const idleFds = fdCount(berthdPid);
  // The physical cost at 0 and at N running: bare runc run of the same rootfs (runc spec's config).
  const bare = new RuncBench(path.join(work, 'bare'), tar, undefined);
  const bareAt = async (): Promise<number> => {
    const from = bare.result.runMs.length;
    await bare.run(true);
    for (let i = 0; i < 7; i++) await bare.run();
    return median(bare.result.runMs.slice(from));
  };
  const bare0 = await bareAt();

  // 1. N × run -d, one after the other
  const runMs: number[] = [];
  const t0 = Date.now();
  for (let i = 0; i < N; i++) {
    const r = await docker(['run', '-d', '--name', `density-${i}`, 'busybox:latest', 'sleep', '100000']);
    if (r.code !== 0) {
      log(`run -d #${i + 1} failed: ${r.err.trim()}; stopping at ${ids.length}`);
      break;
    }
    ids.push(r.out.trim());
    runMs.push(r.ms);
    if ((i + 1) % 100 === 0) log(`${i + 1} running; last run -d ${r.ms.toFixed(0)} ms; berthd RSS ${(rssKb(berthdPid) / 1024).toFixed(1)} MiB`);
  }
  const n = ids.length;
  const startAllS = (Date.now() - t0) / 1000;
  const bareN = await bareAt();
  await bare.close();
  log(`bare runc run: ${bare0.toFixed(1)} ms with none running, ${bareN.toFixed(1)} ms with ${n}`);
  const early = median(runMs.slice(5, 15));
  const late = median(runMs.slice(-10));
  log(`${n} started in ${startAllS.toFixed(1)} s; run -d 6th–15th median ${early.toFixed(1)} ms, last 10 ${late.toFixed(1)} ms`);
  // Where the difference goes: berthd's phases for the early and the late containers.
  const trace = readTrace(traceFile, 0);
  const phasesOf = (set: string[]) => {
    const keys = new Set(set);
    return phaseTable(trace.filter((l) => keys.has(l.key)));
  };
  const earlyPh = phasesOf(ids.slice(5, 15));
  const latePh = phasesOf(ids.slice(-10));
  const phaseCmp = earlyPh.map((e) => ({ phase: e.phase, early: e.median, late: latePh.find((l) => l.phase === e.phase)?.median }));
  for (const p of phaseCmp) log(`  phase ${p.phase}: ${p.early.toFixed(2)} -> ${p.late?.toFixed(2)} ms`);

  // 2. with N running
  await sleep(2000);
  const rss = rssKb(berthdPid);
  const pss = pssKb(berthdPid);
  const cms = conmons();
  const conmonPss = cms.reduce((s, p) => s + pssKb(p), 0);
  const conmonRss = cms.reduce((s, p) => s + rssKb(p), 0);
  const traceAt = fs.statSync(traceFile).size;
  const psBody = await fetchBody('/v1.45/containers/json');
  const replaySock = path.join(work, 'replay.sock');
  const replay = await replayDaemon(replaySock, psBody);
  const [ps, inspect, cliFloor, psReplay] = await timedMedians(
    [{ args: ['ps'] }, { args: ['inspect', ids[Math.floor(n / 2)]!] }, { args: ['version'] }, { args: ['ps'], at: `unix://${replaySock}` }],
    10,
  );
  await new Promise<void>((resolve) => replay.close(() => resolve()));
  const psCount = (await must(['ps', '-q'])).out.split(/\s+/).filter(Boolean).length;
  const fdsLoaded = fdCount(berthdPid);
  // berthd's own share of those (the HTTP handler's time), apart from the CLI's.
  const http = readTrace(traceFile, traceAt).filter((l) => l.key === 'http');
  const serverMs = (re: RegExp) => median(http.filter((l) => re.test(l.phase)).map((l) => l.ms));
  const psServerMs = serverMs(/^GET \/v[\d.]+\/containers\/json$/);
  const inspectServerMs = serverMs(/^GET \/v[\d.]+\/containers\/[0-9a-f]+\/json$/);
  log(`with ${n}: berthd RSS ${(rss / 1024).toFixed(1)} MiB PSS ${(pss / 1024).toFixed(1)} MiB, ${cms.length} conmons PSS ${(conmonPss / 1024).toFixed(1)} MiB, ps ${ps!.median.toFixed(1)} ms (${psCount} listed), inspect ${inspect!.median.toFixed(1)} ms, version ${cliFloor!.median.toFixed(1)} ms, fds ${fdsLoaded}`);

  // 3. kill -9 and restart
  process.kill(berthdPid, 'SIGKILL');
  await new Promise<void>((r) => (berthd!.exitCode !== null || berthd!.signalCode !== null ? r() : berthd!.once('exit', () => r())));
  const tKill = Date.now();
  const restartUp = await startBerthd();
  const psAfter = await must(['ps', '-q', '--no-trunc']);
  const psAnswerMs = Date.now() - tKill;
  const listed = new Set(psAfter.out.split(/\s+/).filter(Boolean));
  const adopted = ids.filter((id) => listed.has(id)).length;
  const running = (await must(['inspect', '--format', '{{.State.Running}}', ...ids.slice(-20)])).out.split('\n').filter((l) => l === 'true').length;
  const restartRss = rssKb(berthdPid);
  const initSpans = readTrace(traceFile, 0).filter((l) => l.key === 'init').slice(-4).map((l) => `${l.phase} ${l.ms.toFixed(0)} ms`);
  log(`restart after kill -9: docker ps answered ${psAnswerMs} ms after the kill (berthd up in ${restartUp} ms), ${adopted}/${n} listed running, last 20 inspect running: ${running}`);

  // 4. remove all
  const tRm = Date.now();
  for (let i = 0; i < ids.length; i += 50) await must(['rm', '-f', ...ids.slice(i, i + 50)], 600_000);
  const rmS = (Date.now() - tRm) / 1000;
  await sleep(1500);
  const left = {
    containers: (await must(['ps', '-aq'])).out.split(/\s+/).filter(Boolean).length,
    mounts: mountsUnder(work),
    cgroups: cgroupsOf(new Set(ids)).length,
    conmons: conmons().length,
    berthdFds: fdCount(berthdPid),
    berthdFdsIdleBeforeRun: idleFds,
    veths: vethCount() - vethBefore,
    runcStates: fs.existsSync(path.join(execRoot, 'runc')) ? fs.readdirSync(path.join(execRoot, 'runc')).length : 0,
  };
  log(`rm -f of ${n}: ${rmS.toFixed(1)} s; left: ${JSON.stringify(left)}`);
  const kib = (k: number) => Math.round(k / 102.4) / 10;
  return {
    date: new Date().toISOString(),
    requested: N,
    started: n,
    startAllSeconds: startAllS,
    phases: phaseCmp,
    runDms: { early6to15Median: early, last10Median: late, ratio: late / early, all: runMs.map((x) => Math.round(x)) },
    berthd: { idleRssMiB: kib(idleRss), rssMiB: kib(rss), pssMiB: kib(pss), fds: fdsLoaded },
    conmons: { count: cms.length, pssMiBTotal: kib(conmonPss), rssMiBTotal: kib(conmonRss), perContainerPssKiB: Math.round(conmonPss / Math.max(1, cms.length)), perContainerRssKiB: Math.round(conmonRss / Math.max(1, cms.length)) },
    ps: { ...ps!, listed: psCount, serverMedianMs: psServerMs, bodyBytes: psBody.length, cliAloneAgainstReplay: psReplay! },
    inspect: { ...inspect!, serverMedianMs: inspectServerMs },
    cliFloor: cliFloor!,
    restart: { psAnsweredMsAfterKill: psAnswerMs, berthdUpMs: restartUp, adopted, lastRunning: running, rssMiB: kib(restartRss), initSpans },
    bareRuncRunMs: { atZero: bare0, atN: bareN },
    rmAllSeconds: rmS,
    left,
  };
}

let done = false;
for (const sig of ['SIGINT', 'SIGTERM'] as const) process.once(sig, () => void cleanup().finally(() => process.exit(130)));
main()
  .then(async (res) => {
    done = true;
    await cleanup();
    const r = res as any;
    if (values.json) process.stdout.write(JSON.stringify(res, null, 2) + '\n');
    else {
      const lines = [
        `density: ${r.started}/${r.requested} containers (sleep) under one berthd, ${os.cpus().length} CPUs, load ${os.loadavg().map((x) => x.toFixed(1)).join(' ')}`,
        `  ${r.started} x run -d, one at a time: ${r.startAllSeconds.toFixed(1)} s; 6th-15th median ${r.runDms.early6to15Median.toFixed(1)} ms, last 10 median ${r.runDms.last10Median.toFixed(1)} ms (${r.runDms.ratio.toFixed(2)}x; target <= 1.2x)`,
        `  berthd RSS idle ${r.berthd.idleRssMiB} MiB, with all running ${r.berthd.rssMiB} MiB (PSS ${r.berthd.pssMiB}; target RSS <= 150), fds ${r.berthd.fds}`,
        `  conmon: ${r.conmons.count}, per container RSS ${r.conmons.perContainerRssKiB} KiB, PSS ${r.conmons.perContainerPssKiB} KiB`,
        `  docker version (the CLI's floor, taking turns with ps and inspect): median ${r.cliFloor.median.toFixed(1)} ms [${r.cliFloor.min.toFixed(1)}-${r.cliFloor.max.toFixed(1)}]`,
        `  docker ps: median ${r.ps.median.toFixed(1)} ms [${r.ps.min.toFixed(1)}-${r.ps.max.toFixed(1)}] (target <= 50), ${r.ps.listed} listed; berthd's handler ${r.ps.serverMedianMs.toFixed(1)} ms`,
        `  docker ps against a stand-in that replays berthd's ${(r.ps.bodyBytes / 1024).toFixed(0)} KiB answer at once (the CLI alone): median ${r.ps.cliAloneAgainstReplay.median.toFixed(1)} ms [${r.ps.cliAloneAgainstReplay.min.toFixed(1)}-${r.ps.cliAloneAgainstReplay.max.toFixed(1)}]`,
        `  docker inspect: median ${r.inspect.median.toFixed(1)} ms [${r.inspect.min.toFixed(1)}-${r.inspect.max.toFixed(1)}] (target <= 20); berthd's handler ${r.inspect.serverMedianMs.toFixed(2)} ms`,
        `  bare runc run (same rootfs, runc spec config): ${r.bareRuncRunMs.atZero.toFixed(1)} ms with none running, ${r.bareRuncRunMs.atN.toFixed(1)} ms with ${r.started}`,
        `  berthd's phases, 6th-15th -> last 10 (ms): ${r.phases.map((p: any) => `${p.phase} ${p.early.toFixed(1)}->${p.late?.toFixed(1)}`).join('; ')}`,
        `  restart spans: ${r.restart.initSpans.join('; ')}`,
        `  kill -9 + restart: docker ps answered ${r.restart.psAnsweredMsAfterKill} ms after the kill (target <= 2000), ${r.restart.adopted}/${r.started} adopted, berthd RSS ${r.restart.rssMiB} MiB`,
        `  rm -f of all (batches of 50): ${r.rmAllSeconds.toFixed(1)} s`,
        `  left after removal: ${JSON.stringify(r.left)}`,
      ];
      process.stdout.write(lines.join('\n') + '\n');
    }
    process.exit(0);
  })
  .catch(async (e) => {
    log(`FAILED: ${e instanceof Error ? e.stack : String(e)}`);
    if (!done) await cleanup();
    process.exit(1);
  });
