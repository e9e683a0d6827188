import { randomBytes } from 'node:crypto';
import { createReadStream, existsSync, lstatSync, readdirSync, readFileSync, readlinkSync, statSync, writeFileSync } from 'node:fs';
import { basename, join, relative, resolve } from 'node:path';
import { PassThrough, type Readable } from 'node:stream';
import { Command } from 'commander';
import * as tar from 'tar-stream';
import { readJSONMessages } from '../../client';
import { IgnoreMatcher, parseReference } from '../../common';
import { CliContext, ExitError } from '../context';
import { newCommand, requireExactArgs } from '../command';
import { collect } from '../container-options';

interface BuildFlags {
  file?: string;
  tag: string[];
  buildArg: string[];
  target?: string;
  label: string[];
  cache?: boolean;
  cacheFrom: string[];
  quiet?: boolean;
  iidfile?: string;
  network?: string;
  addHost: string[];
  shmSize?: string;
  ulimit: string[];
  cpuShares?: string;
  cpuPeriod?: string;
  cpuQuota?: string;
  cpusetCpus?: string;
  cpusetMems?: string;
  memory?: string;
  memorySwap?: string;
  rm?: boolean;
  forceRm?: boolean;
  pull?: boolean;
  platform?: string;
}

/** `berth build`: the docker CLI's legacy build, with a live view of each step (running, cached, done, time taken). */
export function buildCommand(ctx: CliContext, name = 'build'): Command {
  const cmd: Command = newCommand(name, 'Build an image from a Dockerfile')
    .argument('[args...]', 'PATH | URL | -')
    .option('-f, --file <string>', "Name of the Dockerfile (Default is 'PATH/Dockerfile')")
    .option('-t, --tag <list>', "Name and optionally a tag in the 'name:tag' format", collect, [])
    .option('--build-arg <list>', 'Set build-time variables', collect, [])
    .option('--target <string>', 'Set the target build stage to build.')
    .option('--label <list>', 'Set metadata for an image', collect, [])
    .option('--no-cache', 'Do not use cache when building the image')
    .option('--cache-from <strings>', 'Images to consider as cache sources', collect, [])
    .option('-q, --quiet', 'Suppress the build output and print image ID on success')
    .option('--iidfile <string>', 'Write the image ID to the file')
    .option('--network <string>', 'Set the networking mode for the RUN instructions during build')
    .option('--add-host <list>', 'Add a custom host-to-IP mapping (host:ip)', collect, [])
    .option('--shm-size <bytes>', 'Size of /dev/shm')
    .option('--ulimit <ulimit>', 'Ulimit options', collect, [])
    .option('-c, --cpu-shares <int>', 'CPU shares (relative weight)')
    .option('--cpu-period <int>', 'Limit the CPU CFS (Completely Fair Scheduler) period')
    .option('--cpu-quota <int>', 'Limit the CPU CFS (Completely Fair Scheduler) quota')
    .option('--cpuset-cpus <string>', 'CPUs in which to allow execution (0-3, 0,1)')
    .option('--cpuset-mems <string>', 'MEMs in which to allow execution (0-3, 0,1)')
    .option('-m, --memory <bytes>', 'Memory limit')
    .option('--memory-swap <bytes>', "Swap limit equal to memory plus swap: -1 to enable unlimited swap")
    .option('--rm', 'Remove intermediate containers after a successful build', true)
    .option('--no-rm', 'Keep intermediate containers')
    .option('--force-rm', 'Always remove intermediate containers')
    .option('--pull', 'Always attempt to pull a newer version of the image')
    .option('--platform <string>', 'Set platform if server is multi-platform capable')
    .action(async (args: string[], f: BuildFlags) => {
      requireExactArgs(cmd, args, 1);
      const path = args[0]!;
      for (const t of f.tag) {
        try {
          parseReference(t);
        } catch {
          throw new ExitError(1, `invalid argument "${t}" for "-t, --tag" flag: invalid reference format`);
        }
      }
      const { body, dockerfile, size } = contextBody(ctx, path!, f.file);
      if (!f.quiet) ctx.io.stdout.write(`Sending build context to Docker daemon  ${humanSize(size)}\n`);
      const buildArgs: Record<string, string | null> = {};
      for (const a of f.buildArg) {
        const eq = a.indexOf('=');
        if (eq < 0) buildArgs[a] = ctx.io.env[a] ?? null;
        else buildArgs[a.slice(0, eq)] = a.slice(eq + 1);
      }
      const labels: Record<string, string> = {};
      for (const l of f.label) {
        const eq = l.indexOf('=');
        labels[eq < 0 ? l : l.slice(0, eq)] = eq < 0 ? '' : l.slice(eq + 1);
      }
      const ulimits = f.ulimit.map((u) => {
        const m = /^([a-z]+)=(-?\d+)(?::(-?\d+))?$/.exec(u);
        if (!m) throw new ExitError(125, `invalid argument "${u}" for "--ulimit" flag: expected name=soft[:hard]`);
        return { Name: m[1], Soft: Number(m[2]), Hard: Number(m[3] ?? m[2]) };
      });
      const res = await ctx.client.transport.request('POST', '/build', {
        query: {
          dockerfile,
          t: f.tag.length ? f.tag : undefined,
          buildargs: JSON.stringify(buildArgs),
          labels: JSON.stringify(labels),
          target: f.target,
          nocache: f.cache === false ? true : undefined,
          cachefrom: f.cacheFrom.length ? JSON.stringify(f.cacheFrom) : undefined,
          q: f.quiet ? true : undefined,
          networkmode: f.network,
          extrahosts: f.addHost.length ? f.addHost.join(',') : undefined,
          shmsize: f.shmSize ? bytes(f.shmSize) : undefined,
          ulimits: ulimits.length ? JSON.stringify(ulimits) : undefined,
          cpushares: f.cpuShares,
          cpuperiod: f.cpuPeriod,
          cpuquota: f.cpuQuota,
          cpusetcpus: f.cpusetCpus,
          cpusetmems: f.cpusetMems,
          memory: f.memory ? bytes(f.memory) : undefined,
          memswap: f.memorySwap ? (f.memorySwap === '-1' ? -1 : bytes(f.memorySwap)) : undefined,
          rm: f.rm !== false,
          forcerm: f.forceRm ? true : undefined,
          pull: f.pull ? true : undefined,
          platform: f.platform,
        },
        headers: { 'Content-Type': 'application/x-tar' },
        body,
      });
      const view = new StepView(ctx, !!f.quiet);
      let id = '';
      let quietOut = '';
      try {
        await readJSONMessages(res, (m) => {
          if (m.aux && typeof (m.aux as { ID?: string }).ID === 'string') id = (m.aux as { ID: string }).ID;
          if (m.stream !== undefined) {
            if (f.quiet) quietOut += m.stream;
            else view.text(m.stream);
          }
        });
      } catch (e) {
        view.end(false);
        const code = (e as { code?: number }).code;
        throw new ExitError(code && code > 0 ? code : 1, (e as Error).message);
      }
      view.end(true);
      if (f.quiet) ctx.io.stdout.write(quietOut);
      if (f.iidfile && id) writeFileSync(f.iidfile, id);
    });
  return cmd;
}

/** Shows the daemon's text, and per step whether it ran or came from the cache, and its time. */
class StepView {
  private step = '';
  private started = 0;
  private cached = false;
  private timer: NodeJS.Timeout | undefined;
  private readonly tty: boolean;

  constructor(private readonly ctx: CliContext, private readonly quiet: boolean) {
    this.tty = !!ctx.io.stdout.isTTY && !quiet;
  }

  private footer(text: string): void {
    if (!this.tty) return;
    this.ctx.io.stdout.write(`\r\x1b[2K${text}`);
  }

  private finishStep(ok: boolean): void {
    if (!this.step) return;
    const secs = ((Date.now() - this.started) / 1000).toFixed(2);
    const state = !ok ? 'FAILED' : this.cached ? 'CACHED' : 'DONE';
    this.footer('');
    this.ctx.io.stdout.write(` [${state} ${secs}s] ${this.step}\n`);
    this.step = '';
    if (this.timer) clearInterval(this.timer);
    this.timer = undefined;
  }

  text(t: string): void {
    for (const line of t.split(/(?<=\n)/)) {
      const m = /^Step (\d+\/\d+) : (.*)\n?$/.exec(line);
      if (m) {
        this.finishStep(true);
        this.step = `Step ${m[1]}: ${m[2]}`;
        this.started = Date.now();
        this.cached = false;
        if (this.tty) this.timer = setInterval(() => this.footer(` [RUNNING ${((Date.now() - this.started) / 1000).toFixed(1)}s] ${this.step}`), 100);
      }
      if (line.startsWith(' ---> Using cache')) this.cached = true;
      if (line.startsWith('Successfully built')) this.finishStep(true);
      this.footer('');
      this.ctx.io.stdout.write(line);
    }
  }

  end(ok: boolean): void {
    if (this.quiet) return;
    this.finishStep(ok);
  }
}

function bytes(s: string): number {
  const m = /^(\d+(?:\.\d+)?)\s*([kmgt]?)i?b?$/i.exec(s.trim());
  if (!m) throw new ExitError(125, `invalid size: '${s}'`);
  return Math.round(Number(m[1]) * ({ '': 1, k: 1024, m: 1024 ** 2, g: 1024 ** 3, t: 1024 ** 4 } as Record<string, number>)[m[2]!.toLowerCase()]!);
}

function humanSize(n: number): string {
  const units = ['B', 'kB', 'MB', 'GB'];
  let i = 0;
  let v = n;
  while (v >= 1000 && i < units.length - 1) {
    v /= 1000;
    i++;
  }
  return `${Number(v.toPrecision(4))}${units[i]}`;
}

/** The context as a tar stream: a directory (with .dockerignore applied) or stdin. */
function contextBody(ctx: CliContext, path: string, file: string | undefined): { body: Readable; dockerfile: string; size: number } {
  if (path === '-') {
    if (file) throw new ExitError(1, 'a Dockerfile cannot be given with -f when the context comes from stdin');
    return { body: ctx.io.stdin, dockerfile: 'Dockerfile', size: 0 };
  }
  const dir = resolve(path);
  let st;
  try {
    st = statSync(dir);
  } catch {
    throw new ExitError(1, `unable to prepare context: path "${path}" not found`);
  }
  if (!st.isDirectory()) throw new ExitError(1, `unable to prepare context: context must be a directory: ${dir}`);
  const dfPath = file ? (file === '-' ? '-' : resolve(file)) : join(dir, 'Dockerfile');
  if (dfPath !== '-' && !existsSync(dfPath)) throw new ExitError(1, `unable to prepare context: unable to evaluate symlinks in Dockerfile path: lstat ${dfPath}: no such file or directory`);
  const inside = dfPath !== '-' && !relative(dir, dfPath).startsWith('..');
  let dockerfile = inside ? relative(dir, dfPath) : `.dockerfile.${randomBytes(10).toString('hex')}`;
  const ignoreText = [join(dir, `${inside ? dockerfile : basename(dfPath)}.dockerignore`), join(dir, '.dockerignore')].map((p) => (existsSync(p) ? readFileSync(p, 'utf8') : undefined)).find((t) => t !== undefined);
  const ignore = IgnoreMatcher.parse(ignoreText ?? '');
  const pack = tar.pack();
  const files: { rel: string; abs: string }[] = [];
  let size = 0;
  const walk = (rel: string) => {
    for (const name of readdirSync(rel ? join(dir, rel) : dir).sort()) {
      const r = rel ? `${rel}/${name}` : name;
      const ignored = ignore.ignores(r) && r !== dockerfile;
      const s = lstatSync(join(dir, r));
      if (s.isDirectory()) {
        if (ignored && !ignore.hasExclusions) continue;
        if (!ignored) files.push({ rel: r, abs: join(dir, r) });
        walk(r);
      } else if (!ignored) {
        files.push({ rel: r, abs: join(dir, r) });
        if (s.isFile()) size += s.size;
      }
    }
  };
  walk('');
  const out = new PassThrough();
  (async () => {
    const add = (h: Partial<tar.Header> & { name: string }, data?: Buffer | Readable) =>
      new Promise<void>((res, rej) => {
        const cb = (e?: Error | null) => (e ? rej(e) : res());
        if (data && !Buffer.isBuffer(data)) {
          const e = pack.entry(h as tar.Header, cb);
          data.pipe(e);
        } else if (data) pack.entry(h as tar.Header, data, cb);
        else pack.entry(h as tar.Header, cb);
      });
    for (const f of files) {
      const s = lstatSync(f.abs);
      const base = { name: f.rel, mode: s.mode & 0o7777, mtime: s.mtime, uid: 0, gid: 0 };
      if (s.isDirectory()) await add({ ...base, type: 'directory' });
      else if (s.isSymbolicLink()) await add({ ...base, type: 'symlink', linkname: readlinkSync(f.abs) });
      else if (s.isFile()) await add({ ...base, type: 'file', size: s.size }, s.size > 1 << 20 ? createReadStream(f.abs) : readFileSync(f.abs));
    }
    if (!inside) {
      const text = dfPath === '-' ? '' : readFileSync(dfPath);
      await add({ name: dockerfile, mode: 0o600, type: 'file' }, Buffer.from(text));
    }
    pack.finalize();
  })().catch((e: unknown) => pack.destroy(e as Error));
  pack.pipe(out);
  if (dockerfile.startsWith('./')) dockerfile = dockerfile.slice(2);
  return { body: out, dockerfile, size };
}
