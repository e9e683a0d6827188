#!/usr/bin/env node
// Image save/load throughput: Berth (berthd) and, with --peer, another Docker-compatible daemon,
// on one machine in one run, through the same docker CLI.
//
//   node dist/bench/images.js [--size-mb 200] [--layers 5] [--small-files N] [--runs 3] [--peer unix:///path.sock]
//                             [--peer-name dockerd] [--berth-sock unix:///path.sock] [--docker /usr/local/bin/docker]
//
// A ~200 MB image of incompressible random data in several layers is generated locally as a
// docker-archive, loaded once into each daemon, then per run: `docker save -o FILE IMG` and
// (after `docker rmi`) `docker load -i FILE`. Throughput is the archive size over the wall time
// of the command; medians over the runs are printed. With --small-files N the first layer holds N
// files of its bytes instead of one (issue 14's load case: --size-mb 50 --layers 6 --small-files 1000). Without --berth-sock a berthd is started on
// temporary roots and stopped at the end; everything made here is removed, also on failure.

import type { ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { parseArgs } from 'node:util';
import { dockerCli, flushFile, runBench, startBerthd as startBerthdIn, writeLayerArchive, type Target } from './kit';

const IMAGE = 'berth-bench/images:latest';

const { values } = parseArgs({
  options: {
    'size-mb': { type: 'string', default: '200' },
    layers: { type: 'string', default: '5' },
    'small-files': { type: 'string', default: '0' },
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
const smallFiles = Number(values['small-files']);
const work = fs.mkdtempSync('/tmp/berth-bench-images-');
let berthd: ChildProcess | undefined;

const { docker, must: mustDocker } = dockerCli(values.docker!);

/** The image: `layers` layers of random data, one file each. */
function makeFixture() {
  return writeLayerArchive({
    work, image: IMAGE, layers, bytesPerLayer: Math.floor((sizeMB * 1e6) / layers),
    source: () => (n) => randomBytes(n), created: new Date(),
    ...(smallFiles > 0 ? { files: (i: number) => (i === 0 ? smallFiles : 1) } : {}),
  });
}

async function startBerthd(): Promise<Target> {
  const b = await startBerthdIn(work, docker);
  berthd = b.proc;
  return b.target;
}

const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]!;

async function main(): Promise<void> {
  const targets: Target[] = [];
  if (!values['no-berth']) targets.push(values['berth-sock'] ? { name: 'berthd', host: values['berth-sock'] } : await startBerthd());
  if (values.peer) targets.push({ name: values['peer-name']!, host: values.peer });
  process.stderr.write(`generating a ${sizeMB} MB image in ${layers} layers${smallFiles ? ` (the first in ${smallFiles} files)` : ''} under ${work}\n`);
  const fixture = await makeFixture();
  const samples = new Map<string, number[]>();
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
      samples.set(t.name, loads);
      fs.rmSync(out);
    }
    mustDocker(t, ['rmi', IMAGE]);
    const mb = archiveBytes / 1e6;
    rows.push([t.name, mb.toFixed(0), (median(saves) / 1000).toFixed(2), (mb / (median(saves) / 1000)).toFixed(0), (median(loads) / 1000).toFixed(2), (mb / (median(loads) / 1000)).toFixed(0), (fixture.bytes / 1e6 / (first.ms / 1000)).toFixed(0)]);
  }
  const widths = rows[0]!.map((_, i) => Math.max(...rows.map((r) => r[i]!.length)));
  for (const r of rows) process.stdout.write(r.map((c, i) => c.padEnd(widths[i]! + 2)).join('').trimEnd() + '\n');
  process.stdout.write(`(median of ${runs} runs; ${os.cpus().length} CPUs; docker CLI ${values.docker})\n`);
  for (const [name, xs] of samples) process.stdout.write(`${name} load samples (s): ${xs.map((x) => (x / 1000).toFixed(2)).join(' ')}\n`);
}

function cleanup(): void {
  if (berthd && berthd.exitCode === null) {
    berthd.kill('SIGTERM');
  }
  fs.rmSync(work, { recursive: true, force: true });
}

runBench(main, () => berthd, cleanup);
