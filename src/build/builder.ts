/**
 * The builder: runs a parsed Dockerfile against a context through the StepRunner
 * port, the way dockerd's legacy builder does (every step ends in an image whose
 * parent is the previous step's; " ---> Using cache" when a step's key is known),
 * with the BuildKit features people use most (heredocs, RUN --mount, --network,
 * COPY --chmod/--exclude, stages built only when needed, independent ones at once).
 *
 * Output goes to `BuildOutput.stream` as the text dockerd streams; stages that run at
 * the same time are shown one after another (a later stage's lines are held until
 * the stages before it are done).
 */
import { promises as fsp } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, posix } from 'node:path';
import { BerthError, invalidArgument, normalizeSignal, notFound, shortId, type Digest } from '../common';
import type { ContainerConfig, HistoryEntry, ImageConfig } from '../image';
import { mkdirIn } from '../storage';
import { BuildCache } from './build-cache';
import type { BuildContext } from './context';
import { DiskTree, treeChecksum, type Source, type SourceTree } from './source-tree';
import { copyInto, resolveOwner, writeFileIn } from './copy';
import { download, isRemoteUrl, UNNAMED } from './remote';
import { IgnoreMatcher } from '../common';
import { exposedPorts, parseDuration, parseFlags, parseKeyValues, parseMount, PROXY_ARGS, words, type MountSpec } from './instructions';
import { jsonForm, parseDockerfile, parseError, splitFlags, type Node } from './parser';
import { expandHeredoc, LexError, processWord, type Lookup } from './shell-lex';
import { RunFailed, type BuildImage, type BuildSession, type OwnerMap, type RunMount, type RunSettings, type StepRunner } from './step-runner';

export interface BuildOptions {
  tags: string[];
  buildArgs: Record<string, string | null>;
  target?: string;
  labels: Record<string, string>;
  noCache: boolean;
  /** Images whose build steps may be reused (--cache-from). */
  cacheFrom: string[];
  quiet: boolean;
  /** Remove intermediate containers after a successful step (default true). */
  rm: boolean;
  /** Remove them after a failed one too. */
  forceRm: boolean;
  settings: RunSettings;
  platform?: string;
  /** Pull every FROM image even when the store has it (--pull). */
  pull?: boolean;
  /** Registry credentials by registry, as the client sent them (X-Registry-Config); passed to pulls. */
  registryAuth?: Readonly<Record<string, unknown>>;
}

export interface BuildOutput {
  stream(text: string): void;
  aux(value: unknown): void;
}

interface Stage {
  index: number;
  name?: string;
  from: Node;
  nodes: Node[];
  result?: Promise<BuildImage | null>;
}

/** What a stage has so far: its image and the builder-only state around it. */
interface StageState {
  image: BuildImage | null;
  config: ContainerConfig;
  history: HistoryEntry[];
  author?: string;
  /** ARGs declared in this stage with their values (undefined: declared, no value). */
  args: Map<string, string | undefined>;
  cmdSet: boolean;
  shell: string[];
}

const DEFAULT_SHELL = ['/bin/sh', '-c'];

export class Builder {
  constructor(
    private readonly runner: StepRunner,
    private readonly cache: BuildCache,
  ) {}

  async build(ctx: BuildContext, o: BuildOptions, out: BuildOutput): Promise<Digest> {
    const session = this.runner.session?.();
    try {
      return await this.buildIn(ctx, o, out, session);
    } finally {
      await session?.end();
    }
  }

  private async buildIn(ctx: BuildContext, o: BuildOptions, out: BuildOutput, session: BuildSession | undefined): Promise<Digest> {
    const df = parseDockerfile(ctx.dockerfile);
    const escape = df.escape;
    // Global ARGs (before the first FROM) and the stages.
    const metaArgs = new Map<string, string | undefined>();
    const stages: Stage[] = [];
    const consumed = new Set<string>();
    for (const n of df.nodes) {
      if (n.keyword === 'FROM') {
        const fw = words(n.rest, (k) => metaValue(metaArgs, o, k), escape);
        if (fw.length !== 1 && !(fw.length === 3 && fw[1]!.toLowerCase() === 'as')) {
          throw parseError(n.line, 'FROM requires either one or three arguments');
        }
        const name = fw.length === 3 ? fw[2]!.toLowerCase() : undefined;
        if (name && !/^[a-z][a-z0-9-_.]*$/.test(name)) throw parseError(n.line, `invalid name for build stage: "${fw[2]}", name can't start with a number or contain symbols`);
        if (name && stages.some((s) => s.name === name)) throw parseError(n.line, `duplicate name ${name}`);
        stages.push({ index: stages.length, ...(name ? { name } : {}), from: n, nodes: [] });
      } else if (stages.length === 0) {
        if (n.keyword !== 'ARG') throw parseError(n.line, `no build stage in current context: ${n.keyword} comes before the first FROM`);
        for (const [k, v] of argDecls(n, (x) => metaValue(metaArgs, o, x), escape)) {
          consumed.add(k);
          metaArgs.set(k, v);
        }
      } else stages.at(-1)!.nodes.push(n);
    }
    if (stages.length === 0) throw invalidArgument('the Dockerfile has no FROM instruction: a build needs at least one stage (file with no instructions)');
    let target = stages.at(-1)!;
    if (o.target) {
      const t = stages.find((s) => s.name === o.target!.toLowerCase());
      if (!t) throw invalidArgument(`target stage "${o.target}" could not be found`);
      target = t;
    }
    const metaLookup: Lookup = (k) => metaValue(metaArgs, o, k);
    const stageRef = (ref: string): Stage | undefined => {
      const r = ref.toLowerCase();
      return stages.find((s) => s.name === r) ?? (/^\d+$/.test(r) ? stages[Number(r)] : undefined);
    };
    // The stages the target needs, through FROM, COPY --from and RUN --mount from=.
    const needed = new Set<Stage>();
    const need = (s: Stage) => {
      if (needed.has(s)) return;
      needed.add(s);
      const base = words(s.from.rest, metaLookup, escape)[0]!;
      const bs = stageRef(base);
      if (bs && bs.index < s.index) need(bs);
      for (const n of s.nodes) {
        for (const f of n.flags) {
          const m = /^--from=(.*)$/.exec(f) ?? /[,=]from=([^,]+)/.exec(f);
          if (!m) continue;
          const dep = stageRef(m[1]!);
          if (dep && dep.index < s.index) need(dep);
        }
      }
    };
    need(target);
    const order = stages.filter((s) => needed.has(s));
    const total = order.reduce((n, s) => n + 1 + s.nodes.length, 0);
    let stepBase = 0;
    const firstStep = new Map<Stage, number>();
    for (const s of order) {
      firstStep.set(s, stepBase);
      stepBase += 1 + s.nodes.length;
    }

    // Output in stage order, whatever order stages run in. Quiet: held back, and shown only if
    // the build fails, before its error (as dockerd does).
    const held: string[] = [];
    const printer = new StagePrinter(order.length, (t) => {
      if (!o.quiet) out.stream(t);
      else held.push(t);
    });
    // Stages run at once, but the build fails as one run in order would: at the earliest stage
    // that fails, with its error; the stages before it finish, the ones after it stop and
    // print nothing more.
    let failedAt = Infinity;
    const run = (s: Stage): Promise<BuildImage | null> => {
      s.result ??= (async () => {
        const idx = order.indexOf(s);
        try {
          return await this.buildStage(s, {
            ctx, o, escape, metaLookup, metaArgs, consumed, stageRef, run, total, session,
            step: firstStep.get(s)!,
            say: (t) => printer.print(idx, t),
            failed: () => failedAt < idx,
          });
        } catch (err) {
          if (!(err instanceof StageStopped)) {
            failedAt = Math.min(failedAt, idx);
            printer.stopAfter(idx);
          }
          throw err;
        } finally {
          printer.done(idx);
        }
      })();
      return s.result;
    };
    const results = await Promise.allSettled(order.map((s) => run(s)));
    const bad = (results[failedAt] ?? results.find((r) => r.status === 'rejected')) as PromiseRejectedResult | undefined;
    await this.cache.save();
    if (bad) {
      if (held.length) out.stream(held.join(''));
      throw bad.reason;
    }
    let final = (results[order.indexOf(target)] as PromiseFulfilledResult<BuildImage | null>).value;
    if (!final) {
      // FROM scratch with nothing else: an image with no layers.
      final = await this.runner.commit(null, null, () => ({ architecture: arch(), os: 'linux', created: new Date().toISOString(), config: { Env: [`PATH=${this.runner.defaultPath}`] }, history: [] }));
    }
    if (Object.keys(o.labels).length > 0) {
      // --label: one more (cached) step on the target's image.
      const base = final;
      const key = BuildCache.key(base.id, `--label ${JSON.stringify(o.labels)}`);
      const hit = o.noCache ? undefined : await this.cache.get(key, (i) => !!this.runner.getImage(i));
      if (hit) final = this.runner.getImage(hit)!;
      else {
        final = await this.runner.commit(base, null, () => ({
          ...withoutRootfs(base.config),
          created: new Date().toISOString(),
          config: { ...base.config.config, Labels: { ...(base.config.config?.Labels ?? {}), ...o.labels } },
        }));
        await this.cache.put(key, final.id, `--label ${JSON.stringify(o.labels)}`);
        await this.cache.save();
      }
    }
    const unused = Object.keys(o.buildArgs).filter((k) => !consumed.has(k) && !PROXY_ARGS.includes(k)).sort();
    if (unused.length && !o.quiet) out.stream(`[Warning] One or more build-args [${unused.join(' ')}] were not consumed\n`);
    out.aux({ ID: final.id });
    if (o.quiet) out.stream(`${final.id}\n`);
    else out.stream(`Successfully built ${shortId(final.id)}\n`);
    if (o.tags.length) {
      await this.runner.tag(final.id, o.tags);
      if (!o.quiet) for (const t of o.tags) out.stream(`Successfully tagged ${t}\n`);
    }
    return final.id;
  }

  private async buildStage(s: Stage, stageBuild: StageBuild): Promise<BuildImage | null> {
    // From the stage's first step that is not cached on, every RUN step after it runs: the
    // session may get ready for them while that step works (once per stage).
    let expecting = false;
    /** The index of the step being built. */
    let at = 0;
    const b: StageBuild = {
      ...stageBuild,
      missed: () => {
        if (expecting || !stageBuild.session || !s.nodes.slice(at).some((n) => n.keyword === 'RUN')) return;
        expecting = true;
        stageBuild.session.expectRun(stageBuild.o.settings);
      },
    };
    const { escape } = b;
    let step = b.step;
    const stepLine = (n: Node) => b.say(`Step ${++step}/${b.total} : ${n.original}\n`);
    // FROM
    stepLine(s.from);
    const fromFlags = parseFlags('FROM', s.from.flags, ['platform'], b.metaLookup, escape);
    const baseRef = words(s.from.rest, b.metaLookup, escape)[0]!;
    const st: StageState = { image: null, config: {}, history: [], args: new Map(), cmdSet: false, shell: DEFAULT_SHELL };
    const dep = b.stageRef(baseRef);
    if (dep && dep.index < s.index) {
      st.image = await b.run(dep);
    } else if (baseRef.toLowerCase() !== 'scratch') {
      st.image = await this.imageNamed(baseRef, b, !!b.o.pull, fromFlags.get('platform') || b.o.platform);
    }
    if (st.image) {
      st.config = structuredClone(st.image.config.config ?? {});
      st.history = [...(st.image.config.history ?? [])];
      if (st.config.Shell?.length) st.shell = st.config.Shell;
      b.say(` ---> ${shortId(st.image.id)}\n`);
    } else {
      st.config = { Env: [`PATH=${this.runner.defaultPath}`] };
      b.say(' ---> \n');
    }
    // ONBUILD triggers of the base run first.
    const triggers = st.config.OnBuild ?? [];
    if (triggers.length) {
      b.say(`# Executing ${triggers.length} build trigger${triggers.length > 1 ? 's' : ''}\n`);
      st.config.OnBuild = null;
      for (const t of triggers) {
        const parsed = parseDockerfile(t).nodes[0];
        if (parsed) await this.dispatch(parsed, st, b, true);
      }
    }
    for (const [i, n] of s.nodes.entries()) {
      if (b.failed()) throw new StageStopped();
      stepLine(n);
      at = i;
      await this.dispatch(n, st, b, false);
    }
    return st.image;
  }

  /** One instruction: updates `st` (its image, config and builder state). */
  private async dispatch(n: Node, st: StageState, b: StageBuild, trigger: boolean): Promise<void> {
    try {
      await this.dispatchInner(n, st, b);
    } catch (err) {
      if (err instanceof LexError) throw parseError(n.line, err.message, err);
      if (err instanceof BerthError && err.kind === 'invalid-argument' && !err.message.startsWith('dockerfile parse error') && !trigger && isSyntaxy(err.message)) {
        throw parseError(n.line, err.message, err);
      }
      throw err;
    }
  }

  private async dispatchInner(n: Node, st: StageState, b: StageBuild): Promise<void> {
    const { escape, o } = b;
    const envMap = () => new Map((st.config.Env ?? []).map((e) => [e.slice(0, e.indexOf('=') < 0 ? e.length : e.indexOf('=')), e.slice(e.indexOf('=') + 1)] as [string, string]));
    const env = envMap();
    const lookup: Lookup = (k) => {
      if (env.has(k)) return env.get(k);
      if (st.args.has(k)) return st.args.get(k);
      if (PROXY_ARGS.includes(k) && o.buildArgs[k] != null) return o.buildArgs[k]!;
      return undefined;
    };
    const nop = (text: string) => `/bin/sh -c #(nop) ${text}`;
    const meta = async (text: string, created: string) => this.metaStep(st, b, text, created);
    const jsonOrShell = (rest: string) => jsonForm(rest) ?? [...st.shell, rest];
    switch (n.keyword) {
      case 'ENV': {
        parseFlags('ENV', n.flags, [], lookup, escape);
        const pairs = parseKeyValues('ENV', n.rest, lookup, escape, true);
        let list = [...(st.config.Env ?? [])];
        for (const [k, v] of pairs) {
          list = list.filter((e) => e !== k && !e.startsWith(`${k}=`));
          list.push(`${k}=${v}`);
        }
        st.config.Env = list;
        return meta(`ENV ${pairs.map(([k, v]) => `${k}=${v}`).join(' ')}`, nop(` ENV ${pairs.map(([k, v]) => `${k}=${v}`).join(' ')}`));
      }
      case 'LABEL': {
        parseFlags('LABEL', n.flags, [], lookup, escape);
        const pairs = parseKeyValues('LABEL', n.rest, lookup, escape, false);
        st.config.Labels = { ...(st.config.Labels ?? {}) };
        for (const [k, v] of pairs) st.config.Labels[k] = v;
        const text = pairs.map(([k, v]) => `${k}=${v}`).join(' ');
        return meta(`LABEL ${text}`, nop(` LABEL ${text}`));
      }
      case 'MAINTAINER': {
        const who = n.rest.trim();
        if (!who) throw invalidArgument('MAINTAINER requires exactly one argument');
        st.author = who;
        return meta(`MAINTAINER ${who}`, nop(` MAINTAINER ${who}`));
      }
      case 'ARG': {
        for (const [k, v] of argDecls(n, lookup, escape)) {
          b.consumed.add(k);
          let value = v;
          if (Object.prototype.hasOwnProperty.call(o.buildArgs, k) && o.buildArgs[k] != null) value = o.buildArgs[k]!;
          else if (value === undefined && b.metaArgs.has(k)) value = b.metaLookup(k);
          st.args.set(k, value);
        }
        return meta(`ARG ${n.rest.trim()}`, nop(` ARG ${n.rest.trim()}`));
      }
      case 'CMD': {
        const cmd = jsonOrShell(n.rest);
        st.config.Cmd = cmd;
        st.cmdSet = true;
        return meta(`CMD ${JSON.stringify(cmd)}`, nop(` CMD ${JSON.stringify(cmd)}`));
      }
      case 'ENTRYPOINT': {
        const ep = n.rest.trim() === '' ? null : jsonOrShell(n.rest);
        st.config.Entrypoint = ep;
        if (!st.cmdSet) st.config.Cmd = null;
        return meta(`ENTRYPOINT ${JSON.stringify(ep ?? [])}`, nop(` ENTRYPOINT ${JSON.stringify(ep ?? [])}`));
      }
      case 'SHELL': {
        const sh = jsonForm(n.rest);
        if (!sh || sh.length === 0) throw invalidArgument('SHELL requires the arguments to be in JSON form');
        st.shell = sh;
        st.config.Shell = sh;
        return meta(`SHELL ${JSON.stringify(sh)}`, nop(` SHELL ${JSON.stringify(sh)}`));
      }
      case 'EXPOSE': {
        const ports = exposedPorts(words(n.rest, lookup, escape));
        if (ports.length === 0) throw invalidArgument('EXPOSE requires at least one argument');
        st.config.ExposedPorts = { ...(st.config.ExposedPorts ?? {}) };
        for (const p of ports) st.config.ExposedPorts[p] = {};
        return meta(`EXPOSE ${ports.join(' ')}`, nop(` EXPOSE ${ports.sort().join(' ')}`));
      }
      case 'VOLUME': {
        const vols = (jsonForm(n.rest) ?? words(n.rest, lookup, escape)).map((v) => processWord(v, lookup, escape).trim());
        if (vols.length === 0 || vols.some((v) => v === '')) throw invalidArgument('VOLUME specified can not be an empty string');
        st.config.Volumes = { ...(st.config.Volumes ?? {}) };
        for (const v of vols) st.config.Volumes[v] = {};
        return meta(`VOLUME ${JSON.stringify(vols)}`, nop(` VOLUME [${vols.join(' ')}]`));
      }
      case 'USER': {
        const u = processWord(n.rest.trim(), lookup, escape);
        if (!u) throw invalidArgument('USER requires exactly one argument');
        st.config.User = u;
        return meta(`USER ${u}`, nop(` USER ${u}`));
      }
      case 'STOPSIGNAL': {
        const sig = processWord(n.rest.trim(), lookup, escape);
        // Refused here as a container's create would refuse it (`Invalid signal: BOGUS`).
        normalizeSignal(sig);
        st.config.StopSignal = sig;
        return meta(`STOPSIGNAL ${sig}`, nop(` STOPSIGNAL ${sig}`));
      }
      case 'ONBUILD': {
        const inner = /^\s*(\S+)/.exec(n.rest)?.[1]?.toUpperCase();
        if (!inner) throw invalidArgument('ONBUILD requires at least one argument');
        if (inner === 'ONBUILD') throw invalidArgument("Chaining ONBUILD via `ONBUILD ONBUILD` isn't allowed");
        if (inner === 'FROM' || inner === 'MAINTAINER') throw invalidArgument(`${inner} isn't allowed as an ONBUILD trigger`);
        parseDockerfile(n.rest.trim());
        const text = n.rest.trim().replace(/^\S+/, inner);
        st.config.OnBuild = [...(st.config.OnBuild ?? []), text];
        return meta(`ONBUILD ${text}`, nop(` ONBUILD ${text}`));
      }
      case 'HEALTHCHECK': {
        const f = parseFlags('HEALTHCHECK', n.flags, ['interval', 'timeout', 'start-period', 'start-interval', 'retries'], lookup, escape);
        const rest = n.rest.trim();
        const kind = /^\S+/.exec(rest)?.[0]?.toUpperCase();
        if (kind === 'NONE') {
          if (rest.split(/\s+/).length > 1) throw invalidArgument('HEALTHCHECK NONE takes no arguments');
          st.config.Healthcheck = { Test: ['NONE'] };
        } else if (kind === 'CMD') {
          const cmdText = rest.slice(3).trim();
          if (!cmdText) throw invalidArgument('Missing command after HEALTHCHECK CMD');
          const j = jsonForm(cmdText);
          const hc: NonNullable<ContainerConfig['Healthcheck']> & Record<string, unknown> = { Test: j ? ['CMD', ...j] : ['CMD-SHELL', cmdText] };
          const dur = (k: string, field: string) => {
            const v = f.get(k);
            if (v === undefined) return;
            const ns = parseDuration(k, v);
            if (ns !== 0 && ns < 1e6) throw invalidArgument(`Interval "${k}" cannot be less than 1ms`);
            hc[field] = ns;
          };
          dur('interval', 'Interval');
          dur('timeout', 'Timeout');
          dur('start-period', 'StartPeriod');
          dur('start-interval', 'StartInterval');
          const r = f.get('retries');
          if (r !== undefined) {
            if (!/^\d+$/.test(r) || Number(r) < 1) throw invalidArgument(`--retries cannot be 0 or negative`);
            hc.Retries = Number(r);
          }
          st.config.Healthcheck = hc;
        } else throw invalidArgument(`Unknown type "${kind ?? ''}" in HEALTHCHECK (try CMD)`);
        return meta(`HEALTHCHECK ${JSON.stringify(st.config.Healthcheck)}`, nop(` HEALTHCHECK &{${JSON.stringify(st.config.Healthcheck.Test)}}`));
      }
      case 'WORKDIR': {
        const w = processWord(n.rest.trim(), lookup, escape);
        if (!w) throw invalidArgument('WORKDIR requires exactly one argument');
        const dir = posix.resolve(st.config.WorkingDir || '/', w);
        st.config.WorkingDir = dir;
        return this.fileStep(st, b, `WORKDIR ${dir}`, `/bin/sh -c #(nop) WORKDIR ${dir}`, async (root, onDisk) => {
          await mkdirIn(root, dir, onDisk({ uid: 0, gid: 0 })).catch((err: unknown) => {
            // dockerd's words (it makes the directory as it does for a container's -w).
            if (err instanceof BerthError && err.kind === 'invalid-argument') throw invalidArgument(`Cannot mkdir: ${dir} is not a directory`, err);
            throw err;
          });
        });
      }
      case 'RUN':
        return this.runStep(n, st, b, lookup);
      case 'COPY':
      case 'ADD':
        return this.copyStep(n, st, b, lookup);
      case 'FROM':
        throw invalidArgument('FROM inside a stage');
    }
  }

  private cacheable(b: StageBuild): boolean {
    return !b.o.noCache;
  }

  /** Looks the step up in the cache; on a hit the stage moves to the cached image. */
  private async fromCache(st: StageState, b: StageBuild, keyText: string, createdBy: string): Promise<{ key: string; hit: boolean }> {
    const key = BuildCache.key(st.image?.id ?? null, keyText);
    if (!this.cacheable(b)) {
      b.missed?.();
      return { key, hit: false };
    }
    let id = await this.cache.get(key, (i) => !!this.runner.getImage(i));
    if (!id && b.o.cacheFrom.length) id = this.fromCacheSources(st, b, keyText);
    if (!id && b.o.cacheFrom.length) {
      id = (await this.fromCacheHistory(st, b, keyText, createdBy))?.id;
      if (id) await this.cache.put(key, id, keyText.split('\n')[0]!);
    }
    if (!id) {
      b.missed?.();
      return { key, hit: false };
    }
    const img = this.runner.getImage(id)!;
    this.adopt(st, img);
    b.say(' ---> Using cache\n');
    b.say(` ---> ${shortId(img.id)}\n`);
    return { key, hit: true };
  }

  /** --cache-from: a step of those images made from the same parent with the same key. */
  private fromCacheSources(st: StageState, b: StageBuild, keyText: string): Digest | undefined {
    const want = BuildCache.key(null, keyText);
    for (const ref of b.o.cacheFrom) {
      let img = this.runner.findImage(ref);
      while (img) {
        const parentId = (img.config as Record<string, unknown>)['berth.parent'] as Digest | undefined;
        const stepKey = (img.config as Record<string, unknown>)['berth.step'] as string | undefined;
        if (stepKey === want && (parentId ?? null) === (st.image?.id ?? null)) return img.id;
        img = parentId ? this.runner.getImage(parentId) : undefined;
      }
    }
    return undefined;
  }

  /**
   * --cache-from with images that lack Berth's step records (loaded from elsewhere): as
   * the legacy builder does, an image whose history and layers begin with the current
   * parent's and whose next history entry is this step's gives the step; a new image is
   * made from the parent and that layer.
   */
  private async fromCacheHistory(st: StageState, b: StageBuild, keyText: string, createdBy: string): Promise<BuildImage | undefined> {
    const parentHist = st.image?.config.history ?? [];
    const parentLayers = st.image?.config.rootfs?.diff_ids ?? [];
    for (const ref of b.o.cacheFrom) {
      const cand = this.runner.findImage(ref);
      if (!cand) continue;
      const hist = cand.config.history ?? [];
      const layers = cand.config.rootfs?.diff_ids ?? [];
      if (hist.length <= parentHist.length || layers.length < parentLayers.length) continue;
      if (!parentHist.every((h, i) => hist[i]!.created_by === h.created_by && !!hist[i]!.empty_layer === !!h.empty_layer)) continue;
      if (!parentLayers.every((l, i) => layers[i] === l)) continue;
      const next = hist[parentHist.length]!;
      if (next.created_by !== createdBy) continue;
      const empty = !!next.empty_layer;
      if (!empty && layers.length <= parentLayers.length) continue;
      const cfg = this.configFor(st, createdBy, empty, keyText);
      // The step's original times: the image made again is the one that was built.
      if (next.created) {
        cfg.created = next.created;
        (cfg.history as HistoryEntry[]).at(-1)!.created = next.created;
      }
      return this.runner.reuse(st.image, cand, empty ? null : parentLayers.length, cfg);
    }
    return undefined;
  }

  private adopt(st: StageState, img: BuildImage): void {
    st.image = img;
    st.config = structuredClone(img.config.config ?? {});
    st.history = [...(img.config.history ?? [])];
  }

  /** The next image's config, given the stage's state and a new history entry. */
  private configFor(st: StageState, createdBy: string, emptyLayer: boolean, keyText: string): Omit<ImageConfig, 'rootfs'> {
    const created = new Date().toISOString();
    const base = st.image?.config;
    return {
      ...(base ? withoutRootfs(base) : {}),
      ...(st.author ? { author: st.author } : {}),
      architecture: base?.architecture ?? arch(),
      os: base?.os ?? 'linux',
      created,
      config: structuredClone(st.config),
      history: [...st.history, { created, ...(st.author ? { author: st.author } : {}), created_by: createdBy, ...(emptyLayer ? { empty_layer: true } : {}) }],
      'berth.parent': st.image?.id,
      'berth.step': BuildCache.key(null, keyText),
    };
  }

  private async metaStep(st: StageState, b: StageBuild, keyText: string, createdBy: string): Promise<void> {
    const wanted = structuredClone(st.config);
    const { key, hit } = await this.fromCache(st, b, `${keyText}\n${JSON.stringify(wanted)}`, createdBy);
    if (hit) return;
    st.config = wanted;
    const img = await this.runner.commit(st.image, null, () => this.configFor(st, createdBy, true, `${keyText}\n${JSON.stringify(wanted)}`));
    await this.finish(st, b, img, key, keyText);
  }

  private async finish(st: StageState, b: StageBuild, img: BuildImage, key: string, description: string): Promise<void> {
    this.adopt(st, img);
    await this.cache.put(key, img.id, description);
    b.say(` ---> ${shortId(img.id)}\n`);
  }

  private async fileStep(st: StageState, b: StageBuild, keyText: string, createdBy: string, apply: (root: string, onDisk: OwnerMap) => Promise<void>): Promise<void> {
    const wanted = structuredClone(st.config);
    const fullKey = `${keyText}\n${JSON.stringify(wanted)}`;
    const { key, hit } = await this.fromCache(st, b, fullKey, createdBy);
    if (hit) return;
    st.config = wanted;
    const img = await this.runner.commit(st.image, { kind: 'files', apply }, (added) => this.configFor(st, createdBy, !added, fullKey));
    await this.finish(st, b, img, key, keyText);
  }

  private async runStep(n: Node, st: StageState, b: StageBuild, lookup: Lookup): Promise<void> {
    const { o, escape } = b;
    const f = parseFlags('RUN', n.flags, ['mount', 'network', 'security', 'device'], lookup, escape);
    if (f.has('security') && f.get('security') !== 'sandbox') throw invalidArgument('RUN --security=insecure needs the security.insecure entitlement, which this builder does not grant');
    if (f.has('device')) throw invalidArgument('RUN --device is not supported by this builder');
    const network = f.get('network');
    if (network !== undefined && !['default', 'none', 'host'].includes(network)) throw invalidArgument(`unsupported network mode "${network}": use default, none or host`);
    const mounts = f.all('mount').map(parseMount);
    let argv: string[];
    let shownCmd: string;
    let shebang: { name: string; content: string } | undefined;
    const j = n.heredocs.length ? undefined : jsonForm(n.rest);
    if (j) {
      argv = j;
      shownCmd = j.join(' ');
    } else {
      let script = n.rest;
      const only = /^<<-?["']?([A-Za-z0-9_.-]+)["']?$/.exec(n.rest.trim());
      if (only && n.heredocs.length === 1) script = n.heredocs[0]!.content;
      else if (n.heredocs.length) script = `${n.rest}\n${n.heredocs.map((h) => `${h.content}${h.name}\n`).join('')}`;
      if (only && n.heredocs.length === 1 && script.startsWith('#!')) {
        // As BuildKit does: a script with its own interpreter line is written to a file
        // and executed, so the kernel runs that interpreter (with its flags).
        shebang = { name: n.heredocs[0]!.name, content: script };
        argv = [`/dev/pipes/${shebang.name}`];
        shownCmd = script;
      } else {
        argv = [...st.shell, script];
        shownCmd = argv.join(' ');
      }
    }
    // Declared ARGs with values reach RUN's environment and its history and cache key.
    const env = new Map((st.config.Env ?? []).map((e) => [e.split('=')[0]!, e] as [string, string]));
    const argPairs: string[] = [];
    for (const [k, v] of [...st.args].sort(([a], [c]) => (a < c ? -1 : a > c ? 1 : 0))) {
      if (v === undefined) continue;
      argPairs.push(`${k}=${v}`);
    }
    const runEnv = [...(st.config.Env ?? [])];
    for (const p of argPairs) if (!env.has(p.split('=')[0]!)) runEnv.push(p);
    for (const k of PROXY_ARGS) if (o.buildArgs[k] != null && !env.has(k) && !st.args.has(k)) runEnv.push(`${k}=${o.buildArgs[k]}`);
    if (!runEnv.some((e) => e.startsWith('PATH='))) runEnv.unshift(`PATH=${this.runner.defaultPath}`);
    const createdBy = argPairs.length ? `|${argPairs.length} ${argPairs.join(' ')} ${shownCmd}` : shownCmd;
    const keyText = `RUN ${JSON.stringify(argv)}${shebang ? `\n${JSON.stringify(shebang.content)}` : ''}\n${argPairs.join('\n')}\n${JSON.stringify(mounts)}\n${network ?? ''}\n${JSON.stringify(st.config)}`;
    const { key, hit } = await this.fromCache(st, b, keyText, createdBy);
    if (hit) return;
    const releases: Array<() => Promise<void>> = [];
    const exclusive: string[] = [];
    try {
      const runMounts: RunMount[] = [];
      for (const m of mounts) runMounts.push(await this.runMount(m, st, b, releases, exclusive));
      if (shebang) {
        const dir = await fsp.mkdtemp(join(tmpdir(), 'berth-heredoc-'));
        releases.push(() => fsp.rm(dir, { recursive: true, force: true }));
        await fsp.chmod(dir, 0o755);
        const file = join(dir, 'script');
        await fsp.writeFile(file, shebang.content, { mode: 0o755 });
        await fsp.chmod(file, 0o755);
        runMounts.push({ type: 'bind', source: file, target: argv[0]!, readonly: true });
      }
      const settings = { ...o.settings, ...(network === 'none' ? { network: 'none' } : network === 'host' ? { network: 'host' } : {}) };
      const withLocks = async (ids: string[], fn: () => Promise<BuildImage>): Promise<BuildImage> =>
        ids.length ? this.cache.exclusive(ids[0]!, () => withLocks(ids.slice(1), fn)) : fn();
      let cid = '';
      const img = await withLocks(exclusive, () => this.runner.commit(st.image, {
        kind: 'run',
        step: {
          argv,
          env: runEnv,
          user: st.config.User ?? '',
          workingDir: st.config.WorkingDir ?? '',
          settings,
          mounts: runMounts,
          output: (chunk) => b.say(chunk.toString('utf8')),
          started: (id) => {
            cid = id;
            b.say(` ---> Running in ${shortId(id)}\n`);
          },
          keepOnFailure: !o.forceRm && !o.rm,
          keepOnSuccess: !o.rm,
          ...(b.session ? { session: b.session } : {}),
        },
      }, (added) => this.configFor(st, createdBy, !added, keyText)));
      if (o.rm && cid) b.say(` ---> Removed intermediate container ${shortId(cid)}\n`);
      await this.finish(st, b, img, key, `RUN ${shownCmd}`);
    } catch (err) {
      if (err instanceof RunFailed) {
        const shown = j ? JSON.stringify(j) : argv.join(' ');
        const e = new BerthError('failed-precondition', `The command '${shown}' returned a non-zero code: ${err.exitCode}`, { cause: err });
        (e as BerthError & { exitCode?: number }).exitCode = err.exitCode;
        throw e;
      }
      throw err;
    } finally {
      for (const r of releases.reverse()) await r().catch(() => undefined);
    }
  }

  private async runMount(m: MountSpec, st: StageState, b: StageBuild, releases: Array<() => Promise<void>>, exclusive: string[]): Promise<RunMount> {
    const target = posix.resolve(st.config.WorkingDir || '/', m.target);
    if (m.type === 'tmpfs') return { type: 'tmpfs', target, ...(m.size ? { size: m.size } : {}) };
    if (m.type === 'cache') {
      const id = m.id ?? target;
      if (m.from) throw invalidArgument('RUN --mount=type=cache,from=… is not supported by this builder');
      // RUN steps write it as the container's uid, which under --userns-remap is another one on the host.
      const meant = { uid: m.uid ?? 0, gid: m.gid ?? 0 };
      const owner = this.runner.ownerOnDisk ? this.runner.ownerOnDisk(meant) : meant;
      if (m.sharing === 'private') {
        // Its own directory when another step holds the cache now (BuildKit's private).
        const p = await this.cache.privateMountDir(id, owner, m.mode ?? 0o755);
        releases.push(p.release);
        return { type: 'bind', source: p.dir, target, readonly: m.readonly };
      }
      const dir = await this.cache.mountDir(id, owner, m.mode ?? 0o755);
      releases.push(this.cache.use(id));
      if (m.sharing !== 'shared') exclusive.push(id);
      return { type: 'bind', source: dir, target, readonly: m.readonly };
    }
    // bind: from the context, a stage or an image
    let root: string;
    if (m.from) {
      const img = await this.sourceImage(m.from, b);
      const v = await this.runner.view(img);
      releases.push(() => v.release());
      root = v.path;
    } else root = await b.ctx.dir();
    const src = (await new DiskTree(root).sources(m.source ?? '/'))[0]!;
    return { type: 'bind', source: src.key, target, readonly: true };
  }

  /** The image `--from=` names: an earlier stage (by name or index) or an image. */
  private async sourceImage(from: string, b: StageBuild): Promise<BuildImage> {
    const s = b.stageRef(from);
    if (s) {
      const img = await b.run(s);
      if (!img) throw invalidArgument(`stage ${from} has no files (it is FROM scratch with nothing added)`);
      return img;
    }
    return this.imageNamed(from, b, false, b.o.platform);
  }

  /**
   * The image a FROM or --from names: the store's, else (and always with `pull`) pulled from
   * its registry, the pull's progress shown as the step's output.
   */
  private async imageNamed(ref: string, b: StageBuild, pull: boolean, platform?: string): Promise<BuildImage> {
    const local = pull ? undefined : this.runner.findImage(ref);
    if (local && (!platform || platformMatches(local, platform))) return local;
    if (!this.runner.pullImage) throw notFound(`pull access denied for ${ref.replace(/:.*$/, '')}, repository does not exist or may require 'docker login': the image is not in this engine's store; pull or load it first`);
    return this.runner.pullImage(ref, { ...(platform ? { platform } : {}), ...(b.o.registryAuth ? { auth: b.o.registryAuth } : {}) }, (e) => {
      // Text, as the CLI shows progress when it is not on a terminal: each item's states, no byte counts.
      if (e.kind === 'status' && e.current === undefined) b.say(`${e.id ? `${e.id}: ` : ''}${e.status}\n`);
      else if (e.kind === 'message') b.say(`${e.text}\n`);
    });
  }

  private async copyStep(n: Node, st: StageState, b: StageBuild, lookup: Lookup): Promise<void> {
    const { escape } = b;
    const isAdd = n.keyword === 'ADD';
    const allowed = isAdd ? ['chown', 'chmod', 'link', 'checksum', 'keep-git-dir', 'exclude', 'from'] : ['from', 'chown', 'chmod', 'link', 'exclude', 'parents'];
    const f = parseFlags(n.keyword, n.flags, allowed, lookup, escape);
    if (isAdd && f.has('from')) throw invalidArgument('ADD --from is not supported; use COPY --from');
    const args = jsonForm(n.rest)?.map((a) => processWord(a, lookup, escape)) ?? words(n.rest, lookup, escape);
    if (args.length < 2) throw invalidArgument(`${n.keyword} requires at least two arguments, but only ${args.length} provided`);
    const rawDest = args.at(-1)!;
    let srcs = args.slice(0, -1);
    const heredocFiles: { name: string; content: string }[] = [];
    const markers = new Map(n.heredocs.map((h) => [h.name, h]));
    srcs = srcs.filter((s) => {
      const m = /^<<-?["']?([A-Za-z0-9_.-]+)["']?$/.exec(s);
      const h = m ? markers.get(m[1]!) : undefined;
      if (!h) return true;
      heredocFiles.push({ name: h.name, content: h.expand ? expandHeredoc(h.content, lookup, escape) : h.content });
      return false;
    });
    const urls = srcs.filter(isRemoteUrl);
    for (const s of srcs) {
      if (isRemoteUrl(s) && !isAdd) throw invalidArgument(`source can't be a URL for COPY`);
      if (/^git@/.test(s) || (isRemoteUrl(s) && /\.git(#.*)?$/.test(s))) throw invalidArgument(`ADD ${s}: git sources are not supported by this builder`);
    }
    srcs = srcs.filter((s) => !isRemoteUrl(s));
    if (f.has('checksum') && (srcs.length || urls.length !== 1)) throw invalidArgument('checksum can\'t be specified for non-HTTP(S) sources');
    const chmod = f.get('chmod');
    if (chmod !== undefined && !/^[0-7]{3,4}$/.test(chmod)) throw invalidArgument(`invalid chmod parameter: ${chmod}; give an octal mode such as 0755`);
    let dest = rawDest;
    const dirLike = rawDest.endsWith('/') || rawDest === '.' || rawDest.endsWith('/.');
    if (!posix.isAbsolute(dest)) dest = posix.join(st.config.WorkingDir || '/', dest) + (dirLike ? '/' : '');
    const excludes = f.all('exclude').map((p) => new IgnoreMatcher([p]));
    const exclude = excludes.length ? (rel: string) => excludes.some((m) => m.ignores(rel)) : undefined;
    // Resolve sources now (for the key), copy them in the step.
    let tree: SourceTree = b.ctx.tree;
    let release: (() => Promise<void>) | undefined;
    let fromImage: BuildImage | undefined;
    if (f.has('from')) {
      fromImage = await this.sourceImage(f.get('from')!, b);
      const v = await this.runner.view(fromImage);
      tree = new DiskTree(v.path);
      release = () => v.release();
    }
    try {
      const sources: Source[] = [];
      for (const s of srcs) {
        const found = tree instanceof DiskTree ? await tree.sources(s) : b.ctx.tree.sources(s);
        if (found.length === 0) throw notFound(`${n.keyword} failed: no source files were specified`);
        sources.push(...found);
      }
      // Remote files are fetched at every build, as by dockerd; their content decides the cache.
      const remote: { tree: DiskTree; source: Source }[] = [];
      for (const url of urls) {
        const dir = await b.ctx.scratch();
        const got = await download(url, dir).catch((err: unknown) => {
          throw err instanceof BerthError ? new BerthError(err.kind, `ADD failed: ${err.message}`, { cause: err }) : err;
        });
        if (!got.filename && dest.endsWith('/')) throw invalidArgument(`ADD failed: cannot determine filename for source ${url}`);
        const want = f.get('checksum');
        if (want !== undefined) {
          if (!/^sha256:[0-9a-f]{64}$/.test(want)) throw invalidArgument(`invalid checksum digest format: ${want}: give sha256:<64 hex digits>`);
          if (want !== got.digest) throw invalidArgument(`ADD failed: digest mismatch ${want}: ${got.digest}`);
        }
        remote.push({ tree: new DiskTree(dir), source: { key: got.path, rel: got.filename || UNNAMED } });
      }
      if (sources.length + remote.length + heredocFiles.length > 1 && !dest.endsWith('/')) {
        throw invalidArgument(`When using ${n.keyword} with more than one source file, the destination must be a directory and end with a /`);
      }
      let sum = fromImage ? `image ${fromImage.id} ${sources.map((s) => s.rel).join(' ')}` : await treeChecksum(tree, sources);
      for (const r of remote) sum += ` url ${await treeChecksum(r.tree, [r.source])}`;
      const flagsText = [f.get('chown') ?? '', chmod ?? '', f.all('exclude').join(',')].join(' ');
      const hsum = heredocFiles.map((h) => `${h.name}:${h.content}`).join('\0');
      const kind = sources.length + heredocFiles.length > 1 ? 'multi' : sources[0] && !fromImage ? 'file' : 'file';
      const keyText = `${n.keyword} ${flagsText} ${sum} ${hsum} ${dest}`;
      const createdBy = `/bin/sh -c #(nop) ${n.keyword} ${kind}:${BuildCache.key(null, sum + hsum).slice(0, 64)} in ${dest} `;
      const chown = f.get('chown');
      await this.fileStep(st, b, keyText, createdBy, async (rootfs, onDisk) => {
        const owner = chown ? await resolveOwner(rootfs, chown) : undefined;
        const opts = { ...(owner ? { owner } : {}), ...(chmod ? { chmod: parseInt(chmod, 8) } : {}), onDisk };
        if (sources.length) await copyInto(rootfs, tree, sources, dest, { ...opts, extractArchives: isAdd, ...(exclude ? { exclude } : {}) });
        // A downloaded archive stays an archive.
        for (const r of remote) await copyInto(rootfs, r.tree, [r.source], dest, opts);
        for (const h of heredocFiles) {
          const path = dest.endsWith('/') ? posix.join(dest, h.name) : dest;
          await writeFileIn(rootfs, path, h.content, onDisk(owner ?? { uid: 0, gid: 0 }), chmod ? parseInt(chmod, 8) : 0o644);
        }
      });
    } finally {
      await release?.();
    }
  }
}

interface StageBuild {
  ctx: BuildContext;
  o: BuildOptions;
  escape: string;
  metaLookup: Lookup;
  metaArgs: Map<string, string | undefined>;
  consumed: Set<string>;
  stageRef(ref: string): Stage | undefined;
  run(s: Stage): Promise<BuildImage | null>;
  total: number;
  step: number;
  say(text: string): void;
  failed(): boolean;
  session: BuildSession | undefined;
  /** A step of the stage is not cached (it will run). */
  missed?(): void;
}

/** Whether an image is for `os/arch[/variant]` (`linux/amd64`); a part left out matches anything. */
function platformMatches(img: BuildImage, platform: string): boolean {
  const [os, architecture, variant] = platform.toLowerCase().split('/');
  const c = img.config as { os?: string; architecture?: string; variant?: string };
  const arch = (a?: string) => (a === 'x86_64' ? 'amd64' : a === 'aarch64' ? 'arm64' : a);
  return (!os || os === (c.os ?? 'linux')) && (!architecture || arch(architecture) === arch(c.architecture ?? 'amd64')) && (!variant || variant === (c.variant ?? ''));
}

function metaValue(meta: Map<string, string | undefined>, o: BuildOptions, k: string): string | undefined {
  if (!meta.has(k)) return undefined;
  if (Object.prototype.hasOwnProperty.call(o.buildArgs, k) && o.buildArgs[k] != null) return o.buildArgs[k]!;
  return meta.get(k);
}

/** `ARG a b=1 c="x y"`: names and defaults (substituted). */
function argDecls(n: Node, lookup: Lookup, escape: string): [string, string | undefined][] {
  const { rest } = splitFlags(n.rest, escape);
  const raw = rest.trim();
  if (!raw) throw parseError(n.line, 'ARG requires at least one argument');
  const out: [string, string | undefined][] = [];
  for (const w of raw.match(/(?:[^\s"']+|"(?:\\.|[^"\\])*"|'[^']*')+/g) ?? []) {
    const eq = w.indexOf('=');
    const name = eq < 0 ? w : w.slice(0, eq);
    if (!/^[A-Za-z_][A-Za-z0-9_]*$/.test(name)) throw parseError(n.line, `invalid ARG name ${JSON.stringify(name)}`);
    out.push([name, eq < 0 ? undefined : processWord(w.slice(eq + 1), lookup, escape)]);
  }
  return out;
}

function withoutRootfs(c: ImageConfig): Omit<ImageConfig, 'rootfs'> {
  const { rootfs: _r, ...rest } = c;
  void _r;
  return rest;
}

function arch(): string {
  return process.arch === 'x64' ? 'amd64' : process.arch;
}

/** Errors about the Dockerfile's text (not about the context or a container). */
function isSyntaxy(msg: string): boolean {
  return /requires|Unknown flag|invalid|must|can not|cannot|isn't allowed|unsupported|Unknown type|Missing/.test(msg) && !/COPY failed|ADD failed|No such image|pull access/.test(msg);
}

/** A stage given up because an earlier one failed (never the error a build reports). */
class StageStopped extends BerthError {
  constructor() {
    super('internal', 'the build stopped: an earlier stage failed');
  }
}

/**
 * Shows each stage's lines in stage order: the earliest unfinished stage live, the rest when
 * their turn comes; after stopAfter(i), nothing of the stages after i.
 */
class StagePrinter {
  private readonly held: string[][];
  private readonly finished: boolean[];
  private current = 0;
  private last = Infinity;

  constructor(n: number, private readonly write: (t: string) => void) {
    this.held = Array.from({ length: n }, () => []);
    this.finished = new Array<boolean>(n).fill(false);
  }

  print(i: number, t: string): void {
    if (i > this.last) return;
    if (i === this.current) this.write(t);
    else this.held[i]!.push(t);
  }

  stopAfter(i: number): void {
    this.last = Math.min(this.last, i);
    for (let j = i + 1; j < this.held.length; j++) this.held[j] = [];
  }

  writeHeld(): void {
    while (this.current < this.held.length && this.current <= this.last) {
      for (const t of this.held[this.current]!) this.write(t);
      this.held[this.current] = [];
      if (!this.finished[this.current]) return;
      this.current++;
    }
  }

  done(i: number): void {
    this.finished[i] = true;
    if (i === this.current) {
      this.current++;
      this.writeHeld();
    }
  }
}
