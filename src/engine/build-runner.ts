/**
 * The builder's StepRunner over the engine: RUN steps in real containers (created
 * from the typed ContainerSpec, output followed from their log, removed afterwards),
 * file steps (COPY, ADD, WORKDIR) in a snapshot of the parent image that no process
 * runs in, and every step's changes committed as a layer of a new image, as
 * `docker commit` does.
 */
import { randomBytes } from 'node:crypto';
import { promises as fsp } from 'node:fs';
import type { Readable } from 'node:stream';
import { BerthError, invalidArgument, log, parseReference, traceSpan, traceStart, type Digest, type ProgressSink } from '../common';
import { RunFailed, type BuildImage, type BuildSession, type LayerChange, type OwnerMap, type RunStep, type StepRunner } from '../build';
import type { Credentials, ImageConfig, ImageRecord } from '../image';
import type { Snapshotter } from '../storage';
import { BuildNetworks } from './build-network';
import { defaultSpec, type MountRequest } from './container-model';
import type { ContainerNetwork } from './container-network';
import type { ContainerService } from './containers';
import { pullReference } from './image-distribution';
import type { ImageService } from './images';

export const DEFAULT_PATH = '/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin';

export interface BuildRunnerDeps {
  images: ImageService;
  containers: ContainerService;
  snapshots: Snapshotter;
  ownersAsContainerSees(tar: Readable): Readable;
  /** With --userns-remap, container layers are unpacked again (owners shifted) instead of moved. */
  userns: boolean;
  /** With --userns-remap, a container's owner → the host owner on disk (COPY and ADD write these). */
  ownerOnDisk?: (o: { uid: number; gid: number }) => { uid: number; gid: number };
  /** The bridge networks, when the host has them: a build's RUN steps take turns in namespaces wired once (build-network.ts). */
  network?: ContainerNetwork;
  /** Where those namespaces' files go. */
  networkDir: string;
}

export class EngineStepRunner implements StepRunner {
  readonly defaultPath = DEFAULT_PATH;
  readonly ownerOnDisk?: OwnerMap;

  constructor(private readonly d: BuildRunnerDeps) {
    if (d.ownerOnDisk) this.ownerOnDisk = d.ownerOnDisk;
  }

  findImage(ref: string): BuildImage | undefined {
    try {
      const img = this.d.images.resolve(ref);
      return { id: img.id, config: img.config };
    } catch (err) {
      if (err instanceof BerthError && (err.kind === 'not-found' || err.kind === 'invalid-argument')) return undefined;
      throw err;
    }
  }

  async pullImage(ref: string, o: { platform?: string; auth?: Readonly<Record<string, unknown>> }, progress: ProgressSink): Promise<BuildImage> {
    let parsed;
    try {
      parsed = pullReference(ref);
    } catch {
      throw invalidArgument(`invalid reference format: ${ref}`);
    }
    const credentials = o.auth?.[parsed.domain] as Credentials | undefined;
    const plan = await this.d.images.distribution.resolvePull(parsed, { ...(o.platform ? { platform: o.platform } : {}), ...(credentials ? { credentials } : {}) });
    const { id } = await plan.run(progress);
    const img = this.d.images.get(id);
    if (!img) throw new BerthError('not-found', `No such image: ${ref} (removed while the build pulled it)`);
    return { id: img.id, config: img.config };
  }

  /** The namespaces' files a daemon that stopped mid-build left (its endpoints are undone at start). */
  private leftovers?: Promise<void>;

  session(): BuildSession {
    this.leftovers ??= fsp.rm(this.d.networkDir, { recursive: true, force: true }).catch(() => undefined);
    return new BuildNetworks(this.d.userns ? undefined : this.d.network, this.d.networkDir, this.leftovers);
  }

  getImage(id: Digest): BuildImage | undefined {
    const img = this.d.images.get(id);
    return img ? { id: img.id, config: img.config } : undefined;
  }

  private record(img: BuildImage): ImageRecord {
    const r = this.d.images.get(img.id);
    if (!r) throw new BerthError('not-found', `No such image: ${img.id} (removed during the build)`);
    return r;
  }

  async commit(parent: BuildImage | null, change: LayerChange | null, config: (layerAdded: boolean) => Omit<ImageConfig, 'rootfs'>): Promise<BuildImage> {
    const images = this.d.images;
    const base = parent ? this.record(parent) : undefined;
    if (!change) return this.create(base, null, config(false));
    if (change.kind === 'run') return this.runAndCommit(base, change.step, config);
    const key = `build-${randomBytes(16).toString('hex')}`;
    const t0 = traceStart();
    const root = base ? await images.rootLayers(base) : { top: null, lowers: [] };
    await this.d.snapshots.prepare(key, root.top, root.lowers, { noInit: true });
    try {
      const rootfs = await this.d.snapshots.mount(key);
      const t1 = traceStart();
      traceSpan(key, 'build: file step snapshot', t0, t1);
      await change.apply(rootfs, this.d.ownerOnDisk ?? ((o) => o));
      traceSpan(key, 'build: file step apply', t1);
      return await this.commitSnapshot(key, base, config, true);
    } finally {
      await this.d.snapshots.remove(key).catch((e: unknown) => log.warn('cannot remove build snapshot', { key, error: String(e) }));
    }
  }

  private async commitSnapshot(key: string, base: ImageRecord | undefined, config: (layerAdded: boolean) => Omit<ImageConfig, 'rootfs'>, adopt: boolean): Promise<BuildImage> {
    if (!(await this.changed(key))) return this.create(base, null, config(false));
    const images = this.d.images;
    const snaps = this.d.snapshots;
    return images.withLease(async (lease) => {
      const t1 = traceStart();
      const parentChain = base ? images.chain(base).at(-1) ?? null : null;
      let layer;
      if (snaps.driver === 'overlay2' && adopt) {
        // The upper dir is the layer, in the layer store's form already: it is moved, not
        // unpacked again (the tar, read from the upper dir, goes to the content store).
        await snaps.unmount(key);
        layer = await images.addLayerFromDir(parentChain, this.d.ownersAsContainerSees(await snaps.diff(key)), snaps.upperDir(key), lease);
      } else layer = await images.addLayer(parentChain, this.d.ownersAsContainerSees(await snaps.diff(key)), lease);
      const t2 = traceStart();
      traceSpan(key, 'build: layer (tar to the content store, layer store)', t1, t2);
      const img = await this.create(base, layer, config(true));
      traceSpan(key, 'build: image record', t2);
      return img;
    });
  }

  /** Whether the snapshot has changes: with overlay, whether its upper dir has anything (no walk of the layers). */
  private async changed(key: string): Promise<boolean> {
    const snaps = this.d.snapshots;
    if (snaps.driver === 'overlay2') return (await fsp.readdir(snaps.upperDir(key))).length > 0;
    return (await snaps.changes(key)).length > 0;
  }

  private async create(base: ImageRecord | undefined, layer: { diffID: Digest; size: number } | null, cfg: Omit<ImageConfig, 'rootfs'>): Promise<BuildImage> {
    const full: ImageConfig = {
      ...cfg,
      rootfs: { type: 'layers', diff_ids: [...(base?.layers ?? []), ...(layer ? [layer.diffID] : [])] },
    } as ImageConfig;
    for (const k of Object.keys(full)) if (full[k] === undefined) delete full[k];
    const img = await this.d.images.create(full, { size: (base?.size ?? 0) + (layer?.size ?? 0), ...(base ? { parent: base.id } : {}), refs: [] });
    return { id: img.id, config: img.config };
  }

  private async runAndCommit(base: ImageRecord | undefined, step: RunStep, config: (layerAdded: boolean) => Omit<ImageConfig, 'rootfs'>): Promise<BuildImage> {
    if (!base) throw new BerthError('invalid-argument', 'a RUN step needs an image to run in: this stage is FROM scratch with no files yet');
    const c = this.d.containers;
    const spec = defaultSpec(base.id);
    spec.process.cmd = step.argv;
    spec.process.entrypoint = [];
    spec.process.env = step.env;
    spec.process.user = step.user;
    spec.process.workingDir = step.workingDir;
    const s = step.settings;
    if (s.network) spec.network.mode = s.network;
    if (s.extraHosts.length) spec.network.extraHosts = s.extraHosts;
    Object.assign(spec.resources, {
      memory: s.memory, memorySwap: s.memorySwap, cpuShares: s.cpuShares, cpuPeriod: s.cpuPeriod, cpuQuota: s.cpuQuota,
      cpusetCpus: s.cpusetCpus, cpusetMems: s.cpusetMems, shmSize: s.shmSize, ulimits: s.ulimits,
    });
    spec.mounts = step.mounts.map((m): MountRequest => m.type === 'bind'
      ? { type: 'bind', destination: m.target, source: m.source, mode: m.readonly ? 'ro' : '', rw: !m.readonly, propagation: 'rprivate', createSource: false }
      : { type: 'tmpfs', destination: m.target, source: '', mode: '', rw: true, propagation: '', tmpfsOptions: m.size ? [`size=${m.size}`] : [], hidden: true });
    const { record } = await c.create({ spec });
    const id = record.id;
    let ok = false;
    let lent: Awaited<ReturnType<BuildNetworks['lend']>>;
    try {
      step.started?.(id);
      const ac = new AbortController();
      let following!: () => void;
      const ready = new Promise<void>((r) => (following = r));
      const attached = c.attach(id, (e) => step.output(e.data, e.stream), ac.signal, following).catch(() => undefined);
      await Promise.race([ready, attached]);
      if (step.session instanceof BuildNetworks) lent = await step.session.lend(s.network);
      await c.start(id, lent?.network);
      const code = await c.wait(id);
      lent?.give();
      lent = undefined;
      await attached;
      if (code !== 0) throw new RunFailed(code, id);
      const img = await this.commitSnapshot(id, base, config, !this.d.userns && !step.keepOnSuccess);
      ok = true;
      return img;
    } finally {
      lent?.give();
      const keep = ok ? step.keepOnSuccess : step.keepOnFailure;
      if (!keep) await c.remove(id, true, true).catch((e: unknown) => log.warn('cannot remove build container', { id, error: String(e) }));
    }
  }

  async reuse(parent: BuildImage | null, source: BuildImage, layer: number | null, config: Omit<ImageConfig, 'rootfs'>): Promise<BuildImage> {
    const base = parent ? this.record(parent) : undefined;
    if (layer === null) return this.create(base, null, config);
    const src = this.record(source);
    const diffID = src.layers[layer];
    if (!diffID) throw new BerthError('not-found', `image ${src.id} has no layer ${layer}`);
    const sizes = this.d.images.history(src.id).reverse().filter((h, i) => !src.config.history?.[i]?.empty_layer).map((h) => h.size);
    return this.create(base, { diffID, size: sizes[layer] ?? 0 }, config);
  }

  async view(image: BuildImage): Promise<{ path: string; release(): Promise<void> }> {
    const rec = this.record(image);
    const key = `build-view-${randomBytes(16).toString('hex')}`;
    const root = await this.d.images.rootLayers(rec);
    await this.d.snapshots.prepare(key, root.top, root.lowers, { noInit: true });
    const path = await this.d.snapshots.mount(key).catch(async (e: unknown) => {
      await this.d.snapshots.remove(key).catch(() => undefined);
      throw e;
    });
    return { path, release: () => this.d.snapshots.remove(key) };
  }

  async tag(id: Digest, refs: string[]): Promise<void> {
    const has = new Set(this.d.images.namesOf(id).tags);
    for (const r of refs) {
      parseReference(r);
      // Already this image's name (a rebuild that changed nothing): no store write.
      if (!has.has(r)) await this.d.images.tag(id, r);
    }
  }
}

