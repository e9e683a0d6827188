/**
 * Use cases on a container's filesystem: `docker diff` (changes), `docker export`
 * (the whole tree as a tar) and `docker commit` (a new image: the container's image
 * plus one layer holding its changes).
 *
 * Everything streams: the layer tar goes from the snapshotter straight into the
 * content and layer stores (ImageService.addLayer), the export tar straight to the
 * caller. A failed commit leaves no image, blob or layer behind (the lease is
 * collected); an export releases its temporary mount however the stream ends.
 */
import { Readable } from 'node:stream';
import { conflict, invalidArgument, mergeImageEnv, notFound, type Digest } from '../common';
import { familiarString, parseReference, withDefaultTag, type ContainerConfig, type ImageConfig } from '../image';
import { treeTar, type Change } from '../storage';
import type { Snapshotter } from '../storage';
import type { ContainerEvents, ContainerRecord, ContainerSpec } from './container-model';
import type { ContainerRuntime } from './container-runtime';
import type { ContainerStore } from './container-store';
import type { ImageService } from './images';
import { applyChanges } from './image-changes';

export interface CommitOptions {
  container: string;
  repo?: string;
  tag?: string;
  comment?: string;
  author?: string;
  /** Freeze a running container while its changes are read (Docker's default). */
  pause?: boolean;
  /** Dockerfile instructions (CMD, ENV …) applied to the new image's config. */
  changes?: string[];
  /** A config from the request body; its set fields win over the container's. */
  config?: Record<string, unknown> | null;
}

/**
 * A container's settings in the image config's shape (Docker's container.Config):
 * what a committed image keeps, and what inspect shows as Config.
 */
export function containerConfigOf(spec: ContainerSpec): ContainerConfig {
  const p = spec.process;
  const h = spec.healthCheck;
  const is = spec.imageSettings;
  const n = spec.network;
  const nonzero = (k: string, v: number) => (v ? { [k]: v } : {});
  return {
    Hostname: spec.hostname,
    Domainname: spec.domainname,
    User: p.user,
    AttachStdin: p.attachStdin,
    AttachStdout: p.attachStdout,
    AttachStderr: p.attachStderr,
    ...(n.exposedPorts ? { ExposedPorts: Object.fromEntries(n.exposedPorts.map((k) => [k, {}])) } : {}),
    Tty: p.tty,
    OpenStdin: p.openStdin,
    StdinOnce: p.stdinOnce,
    Env: p.env,
    Cmd: p.cmd,
    ...(h
      ? { Healthcheck: { Test: h.test, ...nonzero('Interval', h.interval), ...nonzero('Timeout', h.timeout), ...nonzero('StartPeriod', h.startPeriod), ...nonzero('StartInterval', h.startInterval), ...nonzero('Retries', h.retries) } }
      : {}),
    ...(is.argsEscaped !== undefined ? { ArgsEscaped: is.argsEscaped } : {}),
    Image: spec.image,
    Volumes: spec.volumes?.length ? Object.fromEntries(spec.volumes.map((k) => [k, {}])) : null,
    WorkingDir: p.workingDir,
    Entrypoint: p.entrypoint,
    ...(n.disabled !== undefined ? { NetworkDisabled: n.disabled } : {}),
    ...(n.macAddress ? { MacAddress: n.macAddress } : {}),
    OnBuild: is.onBuild ?? null,
    Labels: spec.labels,
    ...(p.stopSignal ? { StopSignal: p.stopSignal } : {}),
    ...(p.stopTimeout !== undefined ? { StopTimeout: p.stopTimeout } : {}),
    ...(is.shell ? { Shell: is.shell } : {}),
  };
}

/** The container config fields a commit's request body may set (Docker's container.Config). */
const IMAGE_CONFIG_FIELDS = [
  'Hostname', 'Domainname', 'User', 'AttachStdin', 'AttachStdout', 'AttachStderr', 'ExposedPorts', 'Tty', 'OpenStdin',
  'StdinOnce', 'Env', 'Cmd', 'Healthcheck', 'ArgsEscaped', 'Image', 'Volumes', 'WorkingDir', 'Entrypoint', 'OnBuild',
  'Labels', 'StopSignal', 'StopTimeout', 'Shell',
] as const;

export interface CommitDeps {
  containers: Pick<ContainerStore, 'get'>;
  images: ImageService;
  snapshots: Snapshotter;
  runtime: ContainerRuntime;
  events: ContainerEvents;
  /** A tar of the container's files with the owners the container sees (see Engine). */
  ownersAsContainerSees(tar: Readable): Readable;
}

export class CommitService {
  constructor(private readonly engine: CommitDeps) {}

  private container(ref: string): ContainerRecord {
    const rec = this.engine.containers.get(ref);
    if (rec.state.status === 'removing') throw conflict(`container ${rec.id} is being removed`);
    return rec;
  }

  /** `docker diff`: what the container changed, parents before children. */
  async changes(ref: string): Promise<Change[]> {
    const rec = this.container(ref);
    return this.engine.snapshots.changes(rec.id);
  }

  /** `docker export`: the container's whole filesystem as a tar stream. */
  async export(ref: string): Promise<Readable> {
    const rec = this.container(ref);
    const view = await this.engine.snapshots.view(rec.id);
    const tar = this.engine.ownersAsContainerSees(treeTar(view.path));
    return Readable.from(
      (async function* () {
        try {
          for await (const chunk of tar) yield chunk as Buffer;
        } finally {
          tar.destroy();
          await view.release();
        }
      })(),
      { objectMode: false },
    );
  }

  /** `docker commit`: returns the new image's ID. */
  async commit(o: CommitOptions): Promise<Digest> {
    const rec = this.container(o.container);
    const ref = o.repo ? referenceOf(o.repo, o.tag) : undefined;
    if (!o.repo && o.tag) throw invalidArgument('invalid reference: a tag was given without a repository');
    const images = this.engine.images;
    const base = images.get(rec.imageId);
    if (!base) throw notFound(`No such image: ${rec.imageId} (the image of container ${rec.name} is gone)`);
    const config = this.imageConfig(rec, base.config.config ?? {}, o);

    const runtime = this.engine.runtime;
    const pause = o.pause !== false && rec.state.status === 'running' && (await this.pause(rec.id));
    let resumed = !pause;
    const resume = async () => {
      if (!resumed) {
        resumed = true;
        await runtime.resume(rec.id);
      }
    };
    try {
      const id = await images.withLease(async (lease) => {
        const parent = images.chain(base).at(-1) ?? null;
        const layer = await images.addLayer(parent, this.engine.ownersAsContainerSees(await this.engine.snapshots.diff(rec.id)), lease);
        await resume();
        const now = new Date().toISOString();
        const history = [
          ...(base.config.history ?? []),
          {
            created: now,
            ...(o.author ? { author: o.author } : {}),
            created_by: (rec.spec.process.cmd ?? []).join(' '),
            ...(o.comment ? { comment: o.comment } : {}),
          },
        ];
        const cfg: ImageConfig = {
          ...(o.author ? { author: o.author } : {}),
          architecture: base.config.architecture,
          os: base.config.os,
          ...(base.config.variant ? { variant: base.config.variant } : {}),
          created: now,
          config,
          container: rec.id,
          rootfs: { type: 'layers', diff_ids: [...base.layers, layer.diffID] },
          history,
        };
        const img = await images.create(cfg, { size: base.size + layer.size, parent: base.id, refs: ref ? [ref] : [] });
        return img.id;
      });
      this.engine.events.emit('container', 'commit', rec.id, {
        comment: o.comment ?? '',
        imageID: id,
        imageRef: ref ? familiarString(ref) : '',
        image: rec.image,
        name: rec.name,
      });
      return id;
    } finally {
      await resume();
    }
  }

  /**
   * Freezes a running container for the commit; false when it has exited
   * meanwhile (there is nothing left to freeze, as dockerd sees it too).
   */
  private async pause(id: string): Promise<boolean> {
    try {
      await this.engine.runtime.pause(id);
      return true;
    } catch (err) {
      const st = await this.engine.runtime.state(id).catch(() => undefined);
      if (st?.status === 'running') throw err;
      return false;
    }
  }

  /** The image's config, then the container's, then the request body's, then `changes`. */
  private imageConfig(rec: ContainerRecord, imageCfg: ContainerConfig, o: CommitOptions): ContainerConfig {
    const fromContainer = structuredClone(containerConfigOf(rec.spec));
    let cfg: ContainerConfig = { ...structuredClone(imageCfg), ...fromContainer };
    cfg.ExposedPorts = { ...(imageCfg.ExposedPorts ?? {}), ...(fromContainer.ExposedPorts ?? {}) };
    cfg.Volumes = { ...(imageCfg.Volumes ?? {}), ...(fromContainer.Volumes ?? {}) };
    if (Object.keys(cfg.ExposedPorts).length === 0) delete cfg.ExposedPorts;
    if (Object.keys(cfg.Volumes).length === 0) cfg.Volumes = null;
    if (o.config) cfg = mergeUserConfig(o.config, cfg);
    const out = applyChanges(cfg, o.changes ?? []);
    // No environment is no Env (dockerd's nil slice: image inspect shows null).
    if (out.Env?.length === 0) delete out.Env;
    return out;
  }
}

function referenceOf(repo: string, tag?: string) {
  let r;
  try {
    r = parseReference(tag ? `${repo}:${tag}` : repo);
  } catch (e) {
    throw invalidArgument(`invalid reference format: repository name (${repo}) must be lowercase and valid`, e);
  }
  if (r.digest) throw invalidArgument(`refusing to create a tag with a digest reference`);
  return withDefaultTag(r);
}

const isEmpty = (v: unknown) =>
  v === undefined || v === null || v === '' || (Array.isArray(v) && v.length === 0) || (typeof v === 'object' && !Array.isArray(v) && Object.keys(v as object).length === 0);

/** Docker's merge: the user's set fields win; lists and maps are unions; an empty Cmd and Entrypoint take the container's pair. */
function mergeUserConfig(user: Record<string, unknown>, container: ContainerConfig): ContainerConfig {
  const out: ContainerConfig = { ...container };
  for (const f of IMAGE_CONFIG_FIELDS) {
    if (f === 'Cmd' || f === 'Entrypoint' || isEmpty(user[f])) continue;
    const v = user[f];
    if (f === 'Env') {
      out.Env = mergeImageEnv(v as string[], container.Env ?? []);
    } else if (f === 'Labels' || f === 'ExposedPorts' || f === 'Volumes') {
      (out as Record<string, unknown>)[f] = { ...((container[f] as object | null | undefined) ?? {}), ...(v as object) };
    } else (out as Record<string, unknown>)[f] = v;
  }
  if (isEmpty(user.Entrypoint) && isEmpty(user.Cmd)) return out;
  out.Entrypoint = isEmpty(user.Entrypoint) ? null : (user.Entrypoint as string[]);
  out.Cmd = isEmpty(user.Cmd) ? null : (user.Cmd as string[]);
  return out;
}
