// Network bench: `docker run --rm IMG true` on the default bridge against `--network none`,
// on berthd (started here on its own bridge and subnet) and optionally on a peer (dockerd).
//
//   node dist/bench/network.js [--runs N] [--peer unix:///tmp/bench-dockerd.sock] [--docker PATH]
//
// Runs alternate between the two modes so drift hits both alike. Local sockets and a private
// bridge only.
import { spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { parseArgs } from 'node:util';
import { dockerCli, type Target } from './kit';

const { values } = parseArgs({
  options: {
    runs: { type: 'string', default: '20' },
    warmups: { type: 'string', default: '3' },
    peer: { type: 'string' },
    'peer-name': { type: 'string' },
    docker: { type: 'string', default: '/usr/local/bin/docker' },
    bridge: { type: 'string', default: 'bbench0' },
    bip: { type: 'string', default: '10.250.0.1/24' },
  },
});
const runs = Number(values.runs);
const warmups = Number(values.warmups);
const { docker, must } = dockerCli(values.docker!);

const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]!;
const p90 = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.min(xs.length - 1, Math.ceil(xs.length * 0.9) - 1)]!;

function ensureImage(t: Target, work: string): void {
  if (docker(t, ['image', 'inspect', 'busybox:latest']).code === 0) return;
  const tar = path.join(work, 'busybox.tar');
  if (fs.existsSync(tar)) {
    must(t, ['import', tar, 'busybox:latest']);
    return;
  }
  const root = path.join(work, 'rootfs');
  fs.mkdirSync(path.join(root, 'bin'), { recursive: true });
  for (const d of ['etc', 'tmp', 'proc', 'sys', 'dev', 'root']) fs.mkdirSync(path.join(root, d), { recursive: true });
  fs.copyFileSync('/usr/bin/busybox', path.join(root, 'bin', 'busybox'));
  for (const a of ['sh', 'true', 'sleep', 'echo']) fs.symlinkSync('busybox', path.join(root, 'bin', a));
  fs.writeFileSync(path.join(root, 'etc', 'passwd'), 'root:x:0:0:root:/root:/bin/sh\n');
  spawnSync('tar', ['-C', root, '-cf', tar, '.']);
  must(t, ['import', tar, 'busybox:latest']);
}

/** Every round runs each target on the bridge and with --network none, so load changes hit all alike. */
function measure(targets: Target[]): Map<string, { bridge: number[]; none: number[] }> {
  const out = new Map(targets.map((t) => [t.name, { bridge: [] as number[], none: [] as number[] }]));
  for (let i = 0; i < warmups + runs; i++) {
    for (const t of targets) {
      for (const mode of ['bridge', 'none'] as const) {
        const r = must(t, ['run', '--rm', '--network', mode, 'busybox:latest', 'true']);
        if (i >= warmups) out.get(t.name)![mode].push(r.ms);
      }
    }
  }
  return out;
}

function report(name: string, m: { bridge: number[]; none: number[] }): void {
  const b = median(m.bridge);
  const n = median(m.none);
  process.stdout.write(
    `${name}: run --rm true  bridge median ${b.toFixed(1)} ms (p90 ${p90(m.bridge).toFixed(1)})  none median ${n.toFixed(1)} ms (p90 ${p90(m.none).toFixed(1)})  bridge - none ${(b - n).toFixed(1)} ms\n`,
  );
}

async function main(): Promise<void> {
  const work = fs.mkdtempSync(path.join(os.tmpdir(), 'berth-netbench-'));
  const sock = path.join(work, 'berth.sock');
  const { spawn } = await import('node:child_process');
  const berthd = spawn(path.resolve(__dirname, '..', '..', 'bin', 'berthd'), [
    '-H', `unix://${sock}`, '--data-root', path.join(work, 'data'), '--exec-root', path.join(work, 'exec'), '--pidfile', path.join(work, 'pid'),
    '--bridge', values.bridge!, '--bip', values.bip!,
  ], { stdio: ['ignore', 'ignore', fs.openSync(path.join(work, 'berthd.log'), 'a')] });
  const t: Target = { name: 'berthd', host: `unix://${sock}` };
  try {
    for (let i = 0; i < 200 && !(fs.existsSync(sock) && docker(t, ['version']).code === 0); i++) await new Promise((r) => setTimeout(r, 100));
    ensureImage(t, work);
    const targets = [t];
    if (values.peer) {
      const peer: Target = { name: values['peer-name'] ?? 'peer', host: values.peer };
      ensureImage(peer, work);
      targets.push(peer);
    }
    for (const [name, m] of measure(targets)) report(name, m);
  } finally {
    const exited = new Promise((r) => berthd.once('exit', r));
    berthd.kill('SIGTERM');
    await exited;
    spawnSync('sh', ['-c', `grep -o ' ${work}[^ ]*' /proc/self/mountinfo | xargs -r -n1 umount -l`]);
    fs.rmSync(work, { recursive: true, force: true });
  }
}

main().catch((err) => {
  process.stderr.write(`network bench failed: ${err instanceof Error ? err.message : String(err)}\n`);
  process.exit(1);
});
