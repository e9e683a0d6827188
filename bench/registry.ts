#!/usr/bin/env node
// Registry push/pull throughput: Berth (berthd) and, with --peer, another Docker-compatible daemon,
// on one machine in one run, through the same docker CLI, each against its own local registry.
//
//   node dist/bench/registry.js [--size-mb 200] [--layers 5] [--runs 3] [--seed 1]
//                               [--peer unix:///path.sock] [--peer-name dockerd] [--no-berth]
//                               [--berth-sock unix:///path.sock] [--docker /usr/local/bin/docker]
//                               [--registry /usr/bin/docker-registry] [--json]
//
// A docker-archive of --layers layers of incompressible bytes (AES-256-CTR keystream from --seed, so
// every run and every daemon gets the same image) is written once and fsynced. Per daemon and per
// run: `docker rmi` of everything the bench made, `docker load` of the archive (untimed), a new
// docker-registry on 127.0.0.1 with empty storage (so nothing the daemon pushed before can be found
// or mounted), `docker tag` to 127.0.0.1:PORT/bench-<daemon>-<run>:latest, timed `docker push`,
// `docker rmi` of every tag (no layer remains locally: checked with `docker images` and, for the
// pull, by refusing an `Already exists` line), timed `docker pull`, then the registry is stopped and
// its storage removed. Throughput is the image's uncompressed layer bytes over the CLI's wall time;
// the bytes the registry stored (what went over the wire) are reported too. Medians over the runs.
// Without --berth-sock a berthd is started on temporary roots and stopped at the end. Loopback only.

import { spawn, type ChildProcess } from 'node:child_process';
import { createCipheriv, createHash } from 'node:crypto';
import * as fs from 'node:fs';
import * as net from 'node:net';
import * as os from 'node:os';
import * as path from 'node:path';
import { parseArgs } from 'node:util';
import { dockerCli, runBench, startBerthd as startBerthdIn, writeLayerArchive, type Target } from './kit';

const IMAGE = 'berth-bench/registry:latest';


const { values } = parseArgs({
  options: {
    'size-mb': { type: 'string', default: '200' },
    layers: { type: 'string', default: '5' },
    runs: { type: 'string', default: '3' },
    seed: { type: 'string', default: '1' },
    peer: { type: 'string' },
    'peer-name': { type: 'string', default: 'peer' },
    'berth-sock': { type: 'string' },
    'no-berth': { type: 'boolean', default: false },
    docker: { type: 'string', default: '/usr/local/bin/docker' },
    registry: { type: 'string', default: '/usr/bin/docker-registry' },
    json: { type: 'boolean', default: false },
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
if (!(sizeMB > 0) || !(layers >= 1) || !(runs >= 1)) {
  process.stderr.write('bad --size-mb, --layers or --runs\n');
  process.exit(2);
}
const work = fs.mkdtempSync('/tmp/berth-bench-registry-');
let berthd: ChildProcess | undefined;
const registries = new Set<ChildProcess>();
const log = (s: string) => process.stderr.write(`[registry-bench] ${s}\n`);

const { docker, must: mustDocker } = dockerCli(values.docker!);

/** Deterministic incompressible bytes: the AES-256-CTR keystream of a key derived from the seed. */
function keystream(seed: string, label: string) {
  const key = createHash('sha256').update(`berth-bench-registry ${seed} ${label}`).digest();
  const c = createCipheriv('aes-256-ctr', key, Buffer.alloc(16));
  const zeros = Buffer.alloc(1 << 20);
  return (n: number) => c.update(n === zeros.length ? zeros : zeros.subarray(0, n));
}

/** The image: `layers` layers of one file each, the same bytes and timestamps every run. */
function makeFixture() {
  return writeLayerArchive({
    work, image: IMAGE, layers, bytesPerLayer: Math.floor((sizeMB * 1e6) / layers),
    source: (i) => keystream(values.seed!, `layer ${i}`), created: new Date(0),
  });
}

function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const s = net.createServer();
    s.once('error', reject);
    s.listen(0, '127.0.0.1', () => {
      const port = (s.address() as net.AddressInfo).port;
      s.close(() => resolve(port));
    });
  });
}

interface Registry {
  domain: string;
  dir: string;
  stop(): Promise<void>;
}

/** Debian's docker-registry on 127.0.0.1 with a fresh storage directory. */
async function startRegistry(label: string): Promise<Registry> {
  const dir = fs.mkdtempSync(path.join(work, `registry-${label}-`));
  const port = await freePort();
  fs.writeFileSync(path.join(dir, 'config.yml'), [
    'version: 0.1',
    'log:',
    '  level: error',
    '  accesslog:',
    '    disabled: true',
    'storage:',
    '  filesystem:',
    `    rootdirectory: ${path.join(dir, 'data')}`,
    'http:',
    `  addr: 127.0.0.1:${port}`,
    '  secret: berth-bench-secret',
    '',
  ].join('\n'));
  const child = spawn(values.registry!, ['serve', path.join(dir, 'config.yml')], { stdio: ['ignore', 'ignore', fs.openSync(path.join(dir, 'registry.log'), 'a')] });
  registries.add(child);
  const stop = async () => {
    if (child.exitCode === null && child.signalCode === null) {
      const gone = new Promise<void>((r) => child.once('exit', () => r()));
      child.kill('SIGTERM');
      const t = setTimeout(() => child.kill('SIGKILL'), 5000);
      await gone;
      clearTimeout(t);
    }
    registries.delete(child);
    fs.rmSync(dir, { recursive: true, force: true });
  };
  for (let i = 0; i < 100; i++) {
    if (child.exitCode !== null) break;
    const ok = await new Promise<boolean>((r) => {
      const s = net.connect(port, '127.0.0.1', () => {
        s.end();
        r(true);
      });
      s.once('error', () => r(false));
    });
    if (ok) return { domain: `127.0.0.1:${port}`, dir, stop };
    await new Promise((r) => setTimeout(r, 100));
  }
  const tail = fs.existsSync(path.join(dir, 'registry.log')) ? fs.readFileSync(path.join(dir, 'registry.log'), 'utf8').slice(-500) : '';
  await stop();
  throw new Error(`docker-registry did not start: ${tail}`);
}

function duBytes(dir: string): number {
  let n = 0;
  const walk = (d: string) => {
    for (const e of fs.readdirSync(d, { withFileTypes: true })) {
      const p = path.join(d, e.name);
      if (e.isDirectory()) walk(p);
      else if (e.isFile()) n += fs.statSync(p).size;
    }
  };
  if (fs.existsSync(dir)) walk(dir);
  return n;
}

async function startBerthd(): Promise<Target> {
  const b = await startBerthdIn(work, docker);
  berthd = b.proc;
  return b.target;
}

/** Removes every tag of every image the bench made (name berth-bench/registry or 127.0.0.1:*\/bench-*), by id. */
function removeBenchImages(t: Target): void {
  const r = mustDocker(t, ['images', '--no-trunc', '--format', '{{.Repository}}:{{.Tag}} {{.ID}}']);
  const ids = new Set<string>();
  for (const line of r.out.split('\n')) {
    const [ref, id] = line.trim().split(' ');
    if (!ref || !id) continue;
    if (ref.startsWith('berth-bench/registry:') || /^127\.0\.0\.1:\d+\/bench-/.test(ref)) ids.add(id);
  }
  // Dangling pulls (tag <none>) of our repositories show as 127.0.0.1:PORT/bench-x:<none>.
  if (ids.size) mustDocker(t, ['rmi', '-f', ...ids]);
  const left = mustDocker(t, ['images', '-a', '--format', '{{.Repository}}:{{.Tag}}']).out.split('\n').filter((l) => l.startsWith('berth-bench/registry') || /^127\.0\.0\.1:\d+\/bench-/.test(l));
  if (left.length) throw new Error(`${t.name}: images remain after rmi: ${left.join(', ')}`);
}

const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]!;

interface Result {
  name: string;
  pushMs: number[];
  pullMs: number[];
  storedBytes: number[];
  error?: string;
}

async function measure(t: Target, fixture: { file: string; layerBytes: number }): Promise<Result> {
  const res: Result = { name: t.name, pushMs: [], pullMs: [], storedBytes: [] };
  const slug = t.name.toLowerCase().replace(/[^a-z0-9]+/g, '');
  for (let i = 0; i < runs; i++) {
    removeBenchImages(t);
    mustDocker(t, ['load', '-i', fixture.file]);
    const reg = await startRegistry(`${slug}-${i}`);
    try {
      const ref = `${reg.domain}/bench-${slug}-${process.pid}-${i}:latest`;
      mustDocker(t, ['tag', IMAGE, ref]);
      const push = mustDocker(t, ['push', ref]);
      const pushed = (push.out.match(/: Pushed$/gm) ?? []).length;
      if (pushed < layers) throw new Error(`${t.name}: push reported ${pushed} layers pushed, not ${layers}:\n${push.out}`);
      res.pushMs.push(push.ms);
      res.storedBytes.push(duBytes(path.join(reg.dir, 'data', 'docker', 'registry', 'v2', 'blobs')));
      removeBenchImages(t);
      const pull = mustDocker(t, ['pull', ref]);
      if (/Already exists/.test(pull.out)) throw new Error(`${t.name}: pull found layers locally:\n${pull.out}`);
      res.pullMs.push(pull.ms);
      log(`${t.name} run ${i + 1}/${runs}: push ${(push.ms / 1000).toFixed(2)} s, pull ${(pull.ms / 1000).toFixed(2)} s, registry stored ${(res.storedBytes.at(-1)! / 1e6).toFixed(1)} MB`);
    } finally {
      await reg.stop();
    }
  }
  removeBenchImages(t);
  return res;
}

async function main(): Promise<void> {
  if (!fs.existsSync(values.registry!)) throw new Error(`${values.registry} not found: apt-get install docker-registry`);
  const targets: Target[] = [];
  if (!values['no-berth']) targets.push(values['berth-sock'] ? { name: 'berthd', host: values['berth-sock'] } : await startBerthd());
  if (values.peer) targets.push({ name: values['peer-name']!, host: values.peer });
  log(`generating a ${sizeMB} MB image in ${layers} layers (seed ${values.seed}) under ${work}`);
  const fixture = await makeFixture();
  const results: Result[] = [];
  for (const t of targets) {
    try {
      results.push(await measure(t, fixture));
    } catch (err) {
      log(`${t.name} failed: ${(err as Error).message}`);
      results.push({ name: t.name, pushMs: [], pullMs: [], storedBytes: [], error: (err as Error).message });
      process.exitCode = 1;
    }
    if (t === targets[0] && berthd && t.name === 'berthd') {
      // a berthd started here is stopped before the peer is measured
      const p = berthd;
      await new Promise<void>((r) => {
        if (p.exitCode !== null) return r();
        p.once('exit', () => r());
        p.kill('SIGTERM');
      });
    }
  }
  const mb = fixture.layerBytes / 1e6;
  if (values.json) {
    process.stdout.write(JSON.stringify({ date: new Date().toISOString(), sizeMB, layers, runs, seed: values.seed, layerBytes: fixture.layerBytes, cpus: os.cpus().length, results }, null, 2) + '\n');
    return;
  }
  const rows: string[][] = [['DAEMON', 'IMAGE MB', 'STORED MB', 'PUSH s', 'PUSH MB/s', 'PULL s', 'PULL MB/s']];
  const rate = (ms: number[]) => (ms.length ? mb / (median(ms) / 1000) : NaN);
  for (const r of results) {
    if (r.error) {
      rows.push([r.name, mb.toFixed(0), 'error', '', '', '', '']);
      continue;
    }
    rows.push([r.name, mb.toFixed(0), (median(r.storedBytes) / 1e6).toFixed(0), (median(r.pushMs) / 1000).toFixed(2), rate(r.pushMs).toFixed(0), (median(r.pullMs) / 1000).toFixed(2), rate(r.pullMs).toFixed(0)]);
  }
  const widths = rows[0]!.map((_, i) => Math.max(...rows.map((r) => r[i]!.length)));
  for (const r of rows) process.stdout.write(r.map((c, i) => c.padEnd(widths[i]! + 2)).join('').trimEnd() + '\n');
  const b = results.find((r) => r.name === 'berthd' && !r.error);
  const p = results.find((r) => r.name !== 'berthd' && !r.error);
  if (b && p) {
    process.stdout.write(`berthd/${p.name} throughput: push ${(rate(b.pushMs) / rate(p.pushMs)).toFixed(2)}x, pull ${(rate(b.pullMs) / rate(p.pullMs)).toFixed(2)}x\n`);
  }
  for (const r of results) {
    if (!r.error) process.stdout.write(`${r.name} samples (s): push ${r.pushMs.map((x) => (x / 1000).toFixed(2)).join(' ')}; pull ${r.pullMs.map((x) => (x / 1000).toFixed(2)).join(' ')}\n`);
  }
  process.stdout.write(`(median of ${runs} runs; MB/s = ${mb.toFixed(0)} MB of uncompressed layers / CLI wall time; STORED = blob bytes in the registry; ${os.cpus().length} CPUs; docker CLI ${values.docker})\n`);
}

function cleanup(): void {
  for (const r of registries) if (r.exitCode === null) r.kill('SIGKILL');
  if (berthd && berthd.exitCode === null) berthd.kill('SIGTERM');
  fs.rmSync(work, { recursive: true, force: true });
}

runBench(main, () => berthd, cleanup);
