#!/usr/bin/env node
// Dockerfile build times: Berth (berthd) and, with --peer, another Docker-compatible daemon (dockerd's
// legacy builder), on one machine in one run, through the same docker CLI with DOCKER_BUILDKIT=0.
//
//   node dist/bench/build.js [--files 1000] [--runs 3] [--peer unix:///path.sock] [--peer-name dockerd]
//                            [--berth-sock unix:///path.sock] [--docker /usr/local/bin/docker]
//
// The context: a Dockerfile with a few RUN steps around a COPY of --files small files. Per daemon,
// per run: a cold build (--no-cache), a fully cached rebuild, and a rebuild after one copied file
// changed (the COPY and the steps after it run again). Wall time of the CLI; medians printed.
// API CACHED: the cached build again through the API alone with a ready-made context tar
// (the daemon's own time: the CLI's walk and tar of the context, the same for every daemon,
// is left out).
// Without --berth-sock a berthd is started on temporary roots and stopped at the end.

import type { ChildProcess } from 'node:child_process';
import { spawnSync } from 'node:child_process';
import * as http from 'node:http';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { parseArgs } from 'node:util';
import { dockerCli, runBench, startBerthd as startBerthdIn, type Target } from './kit';

const BASE = 'berth-bench/build-base:1';
const IMAGE = 'berth-bench/build:latest';

const { values } = parseArgs({
  options: {
    files: { type: 'string', default: '1000' },
    runs: { type: 'string', default: '3' },
    peer: { type: 'string' },
    'peer-name': { type: 'string', default: 'peer' },
    'berth-sock': { type: 'string' },
    'no-berth': { type: 'boolean', default: false },
    docker: { type: 'string', default: '/usr/local/bin/docker' },
    help: { type: 'boolean', default: false },
  },
});
if (values.help) {
  process.stdout.write(fs.readFileSync(__filename, 'utf8').split('\n').filter((l) => l.startsWith('//')).map((l) => l.slice(3)).join('\n') + '\n');
  process.exit(0);
}
const files = Number(values.files);
const runs = Number(values.runs);
const work = fs.mkdtempSync('/tmp/berth-bench-build-');
let berthd: ChildProcess | undefined;
process.env.DOCKER_BUILDKIT = '0';
const { docker, must } = dockerCli(values.docker!);

function makeContext(): string {
  const ctx = path.join(work, 'ctx');
  fs.mkdirSync(path.join(ctx, 'files', 'sub'), { recursive: true });
  for (let i = 0; i < files; i++) {
    const dir = i % 2 ? path.join(ctx, 'files', 'sub') : path.join(ctx, 'files');
    fs.writeFileSync(path.join(dir, `f${i}.txt`), `file ${i}\n`.repeat(20));
  }
  fs.writeFileSync(path.join(ctx, 'Dockerfile'), [
    `FROM ${BASE}`,
    'ENV APP=/app',
    'RUN mkdir -p /app && echo one > /app/one',
    'RUN echo two > /app/two',
    'WORKDIR /app',
    'COPY files/ /app/files/',
    'RUN ls -R /app/files | wc -l > /app/count',
    'RUN echo done > /app/done',
    'CMD ["cat", "/app/count"]',
    '',
  ].join('\n'));
  return ctx;
}

async function startBerthd(): Promise<Target> {
  const b = await startBerthdIn(work, docker);
  berthd = b.proc;
  return b.target;
}

const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]!;

function importBase(t: Target): void {
  if (docker(t, ['image', 'inspect', BASE]).code === 0) return;
  const rootfs = spawnSync(path.resolve(__dirname, '..', '..', 'scripts', 'make-busybox-rootfs.sh'), { maxBuffer: 64 << 20 });
  if (rootfs.status !== 0) throw new Error(`make-busybox-rootfs.sh failed: ${rootfs.stderr}`);
  const tarFile = path.join(work, 'rootfs.tar');
  fs.writeFileSync(tarFile, rootfs.stdout);
  must(t, ['import', tarFile, BASE]);
}

/**
 * A fully cached build through the API alone (the context tar made once beforehand):
 * the daemon's own time, without the CLI walking and tarring the context.
 */
function apiBuild(t: Target, tarFile: string): Promise<number> {
  const body = fs.readFileSync(tarFile);
  const t0 = process.hrtime.bigint();
  return new Promise((resolve, reject) => {
    const req = http.request({ socketPath: t.host.replace(/^unix:\/\//, ''), method: 'POST', path: `/v1.41/build?t=${encodeURIComponent(IMAGE)}`, headers: { 'Content-Type': 'application/x-tar', 'Content-Length': body.length } }, (res) => {
      let text = '';
      res.on('data', (c: Buffer) => (text += c.toString()));
      res.on('end', () => {
        if (res.statusCode !== 200 || text.includes('errorDetail')) reject(new Error(`${t.name}: API build failed: ${res.statusCode} ${text}`));
        else resolve(Number(process.hrtime.bigint() - t0) / 1e6);
      });
    });
    req.on('error', reject);
    req.end(body);
  });
}

function stepsRun(out: string): number {
  return out.split(/(?=Step \d+\/\d+ : )/).filter((s) => s.startsWith('Step') && !s.startsWith('Step 1/') && !s.includes('Using cache')).length;
}

async function main(): Promise<void> {
  const targets: Target[] = [];
  if (!values['no-berth']) targets.push(values['berth-sock'] ? { name: 'berthd', host: values['berth-sock'] } : await startBerthd());
  if (values.peer) targets.push({ name: values['peer-name']!, host: values.peer });
  const ctx = makeContext();
  const changed = path.join(ctx, 'files', 'f0.txt');
  const rows: string[][] = [['DAEMON', 'COLD s', 'CACHED s', 'ONE FILE s', 'API CACHED s', 'STEPS RUN (cold/cached/one file)']];
  const tarFile = path.join(work, 'context.tar');
  for (const t of targets) {
    importBase(t);
    const cold: number[] = [];
    const cached: number[] = [];
    const one: number[] = [];
    let steps = '';
    for (let i = 0; i < runs; i++) {
      fs.writeFileSync(changed, 'file 0\n');
      const c = must(t, ['build', '--no-cache', '-t', IMAGE, ctx]);
      cold.push(c.ms);
      const h = must(t, ['build', '-t', IMAGE, ctx]);
      cached.push(h.ms);
      fs.writeFileSync(changed, `changed ${i} ${Date.now()}\n`);
      const o = must(t, ['build', '-t', IMAGE, ctx]);
      one.push(o.ms);
      steps = `${stepsRun(c.out)}/${stepsRun(h.out)}/${stepsRun(o.out)}`;
    }
    // the daemon alone: the same (cached) build through the API with a ready-made context tar
    const tr = spawnSync('tar', ['-C', ctx, '-cf', tarFile, '.']);
    if (tr.status !== 0) throw new Error(`tar failed: ${tr.stderr}`);
    await apiBuild(t, tarFile);
    const api: number[] = [];
    for (let i = 0; i < runs; i++) api.push(await apiBuild(t, tarFile));
    const count = must(t, ['run', '--rm', IMAGE]).out.trim();
    process.stderr.write(`${t.name}: the image lists ${count} lines of files\n`);
    docker(t, ['rmi', IMAGE]);
    docker(t, ['image', 'prune', '-f']);
    rows.push([t.name, (median(cold) / 1000).toFixed(2), (median(cached) / 1000).toFixed(2), (median(one) / 1000).toFixed(2), (median(api) / 1000).toFixed(3), steps]);
  }
  const widths = rows[0]!.map((_, i) => Math.max(...rows.map((r) => r[i]!.length)));
  for (const r of rows) process.stdout.write(r.map((c, i) => c.padEnd(widths[i]! + 2)).join('').trimEnd() + '\n');
  process.stdout.write(`(median of ${runs} runs; ${files} files copied; ${os.cpus().length} CPUs; docker CLI ${values.docker}, DOCKER_BUILDKIT=0)\n`);
}

function cleanup(): void {
  fs.rmSync(work, { recursive: true, force: true });
}

runBench(main, () => berthd, cleanup);
