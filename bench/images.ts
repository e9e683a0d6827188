#!/usr/bin/env node
// Image save/load throughput: Berth (berthd) and, with --peer, another Docker-compatible daemon,
// on one machine in one run, through the same docker CLI.
//
//   node dist/bench/images.js [--size-mb 200] [--layers 5] [--runs 3] [--peer unix:///path.sock]
//                             [--peer-name dockerd] [--berth-sock unix:///path.sock] [--docker /usr/local/bin/docker]
//
// A ~200 MB image of incompressible random data in several layers is generated locally as a
// docker-archive, loaded once into each daemon, then per run: `docker save -o FILE IMG` and
// (after `docker rmi`) `docker load -i FILE`. Throughput is the archive size over the wall time
// of the command; medians over the runs are printed. Without --berth-sock a berthd is started on
// temporary roots and stopped at the end; everything made here is removed, also on failure.

import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { createHash, randomBytes } from 'node:crypto';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { parseArgs } from 'node:util';
import * as tar from 'tar-stream';

const REPO_ROOT = path.resolve(__dirname, '..', '..');
const IMAGE = 'berth-bench/images:latest';

interface Target {
  name: string;
  host: string;
}

const { values } = parseArgs({
  options: {
    'size-mb': { type: 'string', default: '200' },
    layers: { type: 'string', default: '5' },
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
const sizeMB = Number(values['size-mb']);
const layers = Number(values.layers);
const runs = Number(values.runs);
const work = fs.mkdtempSync('/tmp/berth-bench-images-');
let berthd: ChildProcess | undefined;

function docker(t: Target, args: string[]): { code: number; out: string; err: string; ms: number } {
  const t0 = process.hrtime.bigint();
  const r = spawnSync(values.docker!, ['-H', t.host, ...args], { encoding: 'utf8', timeout: 600_000, maxBuffer: 16 << 20 });
  const ms = Number(process.hrtime.bigint() - t0) / 1e6;
  return { code: r.status ?? -1, out: r.stdout ?? '', err: r.stderr ?? '', ms };
}

function mustDocker(t: Target, args: string[]) {
  const r = docker(t, args);
  if (r.code !== 0) throw new Error(`${t.name}: docker ${args.join(' ')} exited ${r.code}: ${r.err.trim()}`);
  return r;
}

/** Writes a docker-archive (classic layout) of `layers` layers of random data; returns its path and size. */
async function makeFixture(): Promise<{ file: string; bytes: number }> {
  const per = Math.floor((sizeMB * 1e6) / layers);
  const layerTars: { path: string; digest: string }[] = [];
  for (let i = 0; i < layers; i++) {
    const p = path.join(work, `layer${i}.tar`);
    const pack = tar.pack();
    const hash = createHash('sha256');
    const out = fs.createWriteStream(p);
    pack.on('data', (c: unknown) => {
      hash.update(c as Buffer);
    });
    pack.pipe(out);
    const entry = pack.entry({ name: `data/layer${i}.bin`, size: per, mode: 0o644, mtime: new Date(0) });
    for (let done = 0; done < per; ) {
      const n = Math.min(1 << 20, per - done);
      if (!entry.write(randomBytes(n))) await new Promise<void>((r) => entry.once('drain', () => r()));
      done += n;
    }
    entry.end(() => undefined);
    pack.finalize();
    await new Promise<void>((r) => out.once('finish', () => r()));
    layerTars.push({ path: p, digest: `sha256:${hash.digest('hex')}` });
  }
  const config = Buffer.from(JSON.stringify({
    architecture: 'amd64', os: 'linux', created: new Date().toISOString(),
    config: { Cmd: ['/data'] },
    rootfs: { type: 'layers', diff_ids: layerTars.map((l) => l.digest) },
    history: layerTars.map((_, i) => ({ created: new Date().toISOString(), created_by: `bench layer ${i}` })),
  }));
  const cfgHex = createHash('sha256').update(config).digest('hex');
  const file = path.join(work, 'fixture.tar');
  const pack = tar.pack();
  const out = fs.createWriteStream(file);
  pack.pipe(out);
  const add = (name: string, buf: Buffer) => new Promise<void>((res, rej) => pack.entry({ name, mode: 0o644 }, buf, (e) => (e ? rej(e) : res())));
  for (const l of layerTars) {
    const size = fs.statSync(l.path).size;
    await new Promise<void>((res, rej) => {
      const sink = pack.entry({ name: `${l.digest.slice(7)}/layer.tar`, size, mode: 0o644 }, (e) => (e ? rej(e) : res()));
      fs.createReadStream(l.path).pipe(sink);
    });
    fs.rmSync(l.path);
  }
  await add(`${cfgHex}.json`, config);
  await add('manifest.json', Buffer.from(JSON.stringify([{ Config: `${cfgHex}.json`, RepoTags: [IMAGE], Layers: layerTars.map((l) => `${l.digest.slice(7)}/layer.tar`) }])));
  pack.finalize();
  await new Promise<void>((r) => out.once('close', () => r()));
  flushFile(file);
  return { file, bytes: fs.statSync(file).size };
}

/**
 * Writes a file the bench made to disk before a daemon reads it: otherwise the first daemon
 * that flushes the filesystem (syncfs, as berthd does per layer) also pays for writing the
 * bench's own dirty pages, and whichever daemon goes first is billed for them.
 */
function flushFile(file: string): void {
  const fd = fs.openSync(file, 'r');
  try {
    fs.fsyncSync(fd);
  } finally {
    fs.closeSync(fd);
  }
}

async function startBerthd(): Promise<Target> {
  const sock = path.join(work, 'berth.sock');
  berthd = spawn(path.join(REPO_ROOT, 'bin', 'berthd'), ['-H', `unix://${sock}`, '--data-root', path.join(work, 'data'), '--exec-root', path.join(work, 'exec'), '--pidfile', path.join(work, 'berthd.pid')], { stdio: ['ignore', 'ignore', fs.openSync(path.join(work, 'berthd.log'), 'a')] });
  const t: Target = { name: 'berthd', host: `unix://${sock}` };
  for (let i = 0; i < 200; i++) {
    if (fs.existsSync(sock) && docker(t, ['version']).code === 0) return t;
    await new Promise((r) => setTimeout(r, 100));
  }
  throw new Error(`berthd did not start; see ${path.join(work, 'berthd.log')}`);
}

const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]!;

async function main(): Promise<void> {
  const targets: Target[] = [];
  if (!values['no-berth']) targets.push(values['berth-sock'] ? { name: 'berthd', host: values['berth-sock'] } : await startBerthd());
  if (values.peer) targets.push({ name: values['peer-name']!, host: values.peer });
  process.stderr.write(`generating a ${sizeMB} MB image in ${layers} layers under ${work}\n`);
  const fixture = await makeFixture();
  const rows: string[][] = [['DAEMON', 'ARCHIVE MB', 'SAVE s', 'SAVE MB/s', 'LOAD s', 'LOAD MB/s', 'FIRST LOAD MB/s']];
  for (const t of targets) {
    docker(t, ['rmi', '-f', IMAGE]);
    const first = mustDocker(t, ['load', '-i', fixture.file]);
    const saves: number[] = [];
    const loads: number[] = [];
    let archiveBytes = 0;
    for (let i = 0; i < runs; i++) {
      const out = path.join(work, `saved-${t.name}.tar`);
      const s = mustDocker(t, ['save', '-o', out, IMAGE]);
      archiveBytes = fs.statSync(out).size;
      saves.push(s.ms);
      mustDocker(t, ['rmi', IMAGE]);
      flushFile(out);
      const l = mustDocker(t, ['load', '-i', out]);
      loads.push(l.ms);
      fs.rmSync(out);
    }
    mustDocker(t, ['rmi', IMAGE]);
    const mb = archiveBytes / 1e6;
    rows.push([t.name, mb.toFixed(0), (median(saves) / 1000).toFixed(2), (mb / (median(saves) / 1000)).toFixed(0), (median(loads) / 1000).toFixed(2), (mb / (median(loads) / 1000)).toFixed(0), (fixture.bytes / 1e6 / (first.ms / 1000)).toFixed(0)]);
  }
  const widths = rows[0]!.map((_, i) => Math.max(...rows.map((r) => r[i]!.length)));
  for (const r of rows) process.stdout.write(r.map((c, i) => c.padEnd(widths[i]! + 2)).join('').trimEnd() + '\n');
  process.stdout.write(`(median of ${runs} runs; ${os.cpus().length} CPUs; docker CLI ${values.docker})\n`);
}

function cleanup(): void {
  if (berthd && berthd.exitCode === null) {
    berthd.kill('SIGTERM');
  }
  fs.rmSync(work, { recursive: true, force: true });
}

process.on('SIGINT', () => {
  cleanup();
  process.exit(130);
});
main().then(
  () => {
    const p = berthd;
    if (p && p.exitCode === null) {
      p.once('exit', () => cleanup());
      p.kill('SIGTERM');
    } else cleanup();
  },
  (err: unknown) => {
    process.stderr.write(`bench failed: ${(err as Error).stack ?? String(err)}\n`);
    cleanup();
    process.exitCode = 1;
  },
);
