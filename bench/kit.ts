// What the image benches share: the docker CLI against a daemon, a berthd on temporary roots,
// and a generated docker-archive of layers of incompressible bytes.

import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { createHash } from 'node:crypto';
import * as fs from 'node:fs';
import * as path from 'node:path';
import * as tar from 'tar-stream';

const REPO_ROOT = path.resolve(__dirname, '..', '..');

export interface Target {
  name: string;
  host: string;
}

export interface DockerResult {
  code: number;
  out: string;
  err: string;
  ms: number;
}

/** Runs the docker CLI (`dockerPath`) against a target, timed; `must` throws on a non-zero exit. */
export function dockerCli(dockerPath: string) {
  const docker = (t: Target, args: string[]): DockerResult => {
    const t0 = process.hrtime.bigint();
    const r = spawnSync(dockerPath, ['-H', t.host, ...args], { encoding: 'utf8', timeout: 600_000, maxBuffer: 64 << 20 });
    const ms = Number(process.hrtime.bigint() - t0) / 1e6;
    return { code: r.status ?? -1, out: r.stdout ?? '', err: r.stderr ?? '', ms };
  };
  const must = (t: Target, args: string[]): DockerResult => {
    const r = docker(t, args);
    if (r.code !== 0) throw new Error(`${t.name}: docker ${args.join(' ')} exited ${r.code}: ${r.err.trim()}`);
    return r;
  };
  return { docker, must };
}

/** ./bin/berthd on roots under `work`; resolves once the docker CLI reaches it. */
export async function startBerthd(work: string, docker: (t: Target, args: string[]) => DockerResult): Promise<{ target: Target; proc: ChildProcess }> {
  const sock = path.join(work, 'berth.sock');
  const proc = spawn(path.join(REPO_ROOT, 'bin', 'berthd'), ['-H', `unix://${sock}`, '--data-root', path.join(work, 'data'), '--exec-root', path.join(work, 'exec'), '--pidfile', path.join(work, 'berthd.pid')], { stdio: ['ignore', 'ignore', fs.openSync(path.join(work, 'berthd.log'), 'a')] });
  const target: Target = { name: 'berthd', host: `unix://${sock}` };
  for (let i = 0; i < 200; i++) {
    if (fs.existsSync(sock) && docker(target, ['version']).code === 0) return { target, proc };
    await new Promise((r) => setTimeout(r, 100));
  }
  throw new Error(`berthd did not start; see ${path.join(work, 'berthd.log')}`);
}

/**
 * Writes a file the bench made to disk before a daemon reads it: otherwise the first daemon
 * that flushes the filesystem (syncfs, as berthd does per layer) also pays for writing the
 * bench's own dirty pages, and whichever daemon goes first is billed for them.
 */
export function flushFile(file: string): void {
  const fd = fs.openSync(file, 'r');
  try {
    fs.fsyncSync(fd);
  } finally {
    fs.closeSync(fd);
  }
}

export interface ArchiveOptions {
  /** Directory for the archive and its scratch files. */
  work: string;
  /** The name:tag the archive gives the image. */
  image: string;
  layers: number;
  /** Bytes of the one file in each layer. */
  bytesPerLayer: number;
  /** The bytes of layer `i`, `n` at a time. */
  source: (i: number) => (n: number) => Buffer;
  /** Timestamps in the archive and the config; fixed ones make the image the same every time. */
  created: Date;
  /** How many files layer `i` splits its bytes into (default 1): many small files cost per file. */
  files?: (i: number) => number;
}

/**
 * A docker-archive (classic layout) of `layers` layers of one file each, flushed to disk.
 * Returns its path and size, the layers' bytes and their diffIDs.
 */
export async function writeLayerArchive(o: ArchiveOptions): Promise<{ file: string; bytes: number; layerBytes: number; diffIDs: string[] }> {
  const layerTars: { path: string; digest: string }[] = [];
  let layerBytes = 0;
  for (let i = 0; i < o.layers; i++) {
    const p = path.join(o.work, `layer${i}.tar`);
    const pack = tar.pack();
    const hash = createHash('sha256');
    const out = fs.createWriteStream(p);
    pack.on('data', (c: unknown) => {
      hash.update(c as Buffer);
    });
    pack.pipe(out);
    const next = o.source(i);
    const files = Math.max(1, o.files?.(i) ?? 1);
    if (files > 1) await new Promise<void>((res, rej) => pack.entry({ name: `data/layer${i}/`, type: 'directory', mode: 0o755, mtime: o.created }, (e) => (e ? rej(e) : res())));
    for (let f = 0; f < files; f++) {
      const size = Math.floor(o.bytesPerLayer / files) + (f === 0 ? o.bytesPerLayer % files : 0);
      const entry = pack.entry({ name: files > 1 ? `data/layer${i}/f${f}.bin` : `data/layer${i}.bin`, size, mode: 0o644, mtime: o.created });
      for (let done = 0; done < size; ) {
        const n = Math.min(1 << 20, size - done);
        if (!entry.write(next(n))) await new Promise<void>((r) => entry.once('drain', () => r()));
        done += n;
      }
      await new Promise<void>((res, rej) => entry.end((e?: Error | null) => (e ? rej(e) : res())));
    }
    pack.finalize();
    await new Promise<void>((r) => out.once('finish', () => r()));
    layerTars.push({ path: p, digest: `sha256:${hash.digest('hex')}` });
    layerBytes += fs.statSync(p).size;
  }
  const created = o.created.toISOString();
  const config = Buffer.from(JSON.stringify({
    architecture: 'amd64', os: 'linux', created,
    config: { Cmd: ['/data'] },
    rootfs: { type: 'layers', diff_ids: layerTars.map((l) => l.digest) },
    history: layerTars.map((_, i) => ({ created, created_by: `bench layer ${i}` })),
  }));
  const cfgHex = createHash('sha256').update(config).digest('hex');
  const file = path.join(o.work, 'fixture.tar');
  const pack = tar.pack();
  const out = fs.createWriteStream(file);
  pack.pipe(out);
  const add = (name: string, buf: Buffer) => new Promise<void>((res, rej) => pack.entry({ name, mode: 0o644, mtime: o.created }, buf, (e) => (e ? rej(e) : res())));
  for (const l of layerTars) {
    const size = fs.statSync(l.path).size;
    await new Promise<void>((res, rej) => {
      const sink = pack.entry({ name: `${l.digest.slice(7)}/layer.tar`, size, mode: 0o644, mtime: o.created }, (e) => (e ? rej(e) : res()));
      fs.createReadStream(l.path).pipe(sink);
    });
    fs.rmSync(l.path);
  }
  await add(`${cfgHex}.json`, config);
  await add('manifest.json', Buffer.from(JSON.stringify([{ Config: `${cfgHex}.json`, RepoTags: [o.image], Layers: layerTars.map((l) => `${l.digest.slice(7)}/layer.tar`) }])));
  pack.finalize();
  await new Promise<void>((r) => out.once('close', () => r()));
  flushFile(file);
  return { file, bytes: fs.statSync(file).size, layerBytes, diffIDs: layerTars.map((l) => l.digest) };
}

/**
 * Runs a bench's main: on success the daemon gets SIGTERM and `cleanup` runs once it is gone; on
 * failure or Ctrl-C the daemon is stopped and `cleanup` runs at once (`cleanup` may stop it too).
 */
export function runBench(main: () => Promise<void>, daemon: () => ChildProcess | undefined, cleanup: () => void): void {
  const stop = () => {
    const p = daemon();
    if (p && p.exitCode === null) p.kill('SIGTERM');
  };
  for (const [sig, code] of [['SIGINT', 130], ['SIGTERM', 143]] as const) {
    process.on(sig, () => {
      stop();
      cleanup();
      process.exit(code);
    });
  }
  main().then(
    () => {
      const p = daemon();
      if (p && p.exitCode === null) {
        p.once('exit', () => cleanup());
        p.kill('SIGTERM');
      } else cleanup();
    },
    (err: unknown) => {
      process.stderr.write(`bench failed: ${(err as Error).stack ?? String(err)}\n`);
      stop();
      cleanup();
      process.exitCode = 1;
    },
  );
}
