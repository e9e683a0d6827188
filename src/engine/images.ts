/**
 * Image use cases: import, load, save, list, inspect, tag, remove. Blobs and
 * image metadata live in image/; unpacked layers in storage/. This module keeps
 * the two consistent: an image is registered only after all its layers exist,
 * so a failed import or load leaves no half-made image behind.
 */
import type { Readable, Writable } from 'node:stream';
import { conflict, invalidArgument, notFound, shortId, type Digest } from '../common';
import {
  ContentStore,
  ImageStore,
  familiarString,
  parseReference,
  readArchive,
  writeArchive,
  withDefaultTag,
  type ContainerConfig,
  type ImageConfig,
  type ImageRecord,
} from '../image';
import { LayerStore, chainIDOf, type LayerInfo } from '../storage';

export interface ImportOptions {
  repo?: string;
  tag?: string;
  message?: string;
  changes?: string[];
}

export class ImageService {
  constructor(
    readonly content: ContentStore,
    readonly images: ImageStore,
    readonly layers: LayerStore,
    /** Which images containers use; removal of those needs force. */
    private readonly usedBy: (imageId: Digest) => { id: string; running: boolean }[],
  ) {}

  resolve(nameOrId: string): ImageRecord {
    return this.images.resolve(nameOrId);
  }

  /** chainIDs of an image's layers, bottom first. */
  chain(img: ImageRecord): Digest[] {
    const out: Digest[] = [];
    let parent: Digest | null = null;
    for (const diffID of img.layers) {
      parent = chainIDOf(parent, diffID);
      out.push(parent);
    }
    return out;
  }

  /** `docker import`: one layer from a rootfs tar (plain or gzip). Returns the image ID. */
  async importTar(body: Readable, opts: ImportOptions): Promise<Digest> {
    const ref = opts.repo ? withDefaultTag(parseReference(opts.tag ? `${opts.repo}:${opts.tag}` : opts.repo)) : undefined;
    const { digest: blob } = await this.content.writeStream(body);
    try {
      const layer = await this.layers.create(null, this.content.openRead(blob));
      const now = new Date().toISOString();
      const config: ImageConfig = {
        architecture: hostArch(),
        os: 'linux',
        created: now,
        config: applyChanges({}, opts.changes ?? []),
        rootfs: { type: 'layers', diff_ids: [layer.diffID] },
        history: [{ created: now, created_by: '', comment: opts.message || 'Imported from -' }],
      };
      const img = await this.images.create(config);
      await this.images.setSize(img.id, layer.size);
      if (ref) await this.images.tag(img.id, ref);
      return img.id;
    } finally {
      await this.content.delete(blob);
    }
  }

  /** `docker load`: a docker-archive (classic or OCI-in-docker layout). Returns the loaded names. */
  async load(body: Readable): Promise<{ loaded: string[] }> {
    const archive = await readArchive(body, this.content);
    const loaded: string[] = [];
    for (const img of archive.images) {
      const diffIDs = img.config.rootfs.diff_ids;
      let parent: Digest | null = null;
      let size = 0;
      for (let i = 0; i < img.layerBlobs.length; i++) {
        const expected = chainIDOf(parent, diffIDs[i]!);
        const existing: LayerInfo | undefined = (await this.layers.has(expected)) ? await this.layers.get(expected) : undefined;
        const layer: LayerInfo = existing ?? (await this.layers.create(parent, this.content.openRead(img.layerBlobs[i]!)));
        if (layer.diffID !== diffIDs[i]) {
          await this.layers.remove(layer.chainID).catch(() => undefined);
          throw invalidArgument(`invalid docker archive: layer ${i + 1} has diffID ${layer.diffID} but the image config says ${diffIDs[i]}`);
        }
        parent = layer.chainID;
        size += layer.size;
      }
      const rec = await this.images.createFromBlob(img.configDigest);
      await this.images.setSize(rec.id, size);
      for (const t of img.repoTags) {
        await this.images.tag(rec.id, parseReference(t));
        loaded.push(`Loaded image: ${t}`);
      }
      if (img.repoTags.length === 0) loaded.push(`Loaded image ID: ${rec.id}`);
    }
    return { loaded };
  }

  async save(names: string[], out: Writable): Promise<void> {
    const sources = names.map((n) => {
      const img = this.images.resolve(n);
      const isRef = !/^(sha256:)?[a-f0-9]+$/.test(n);
      return { configDigest: img.id, repoTags: isRef ? [familiarString(withDefaultTag(parseReference(n)))] : this.images.tagsOf(img.id), layerBlobs: [] as Digest[] };
    });
    // Layers are kept unpacked; save needs their tars (a later change writes them from the diff dirs).
    if (sources.some((s) => this.images.get(s.configDigest)!.layers.length > 0)) {
      throw invalidArgument('save is not supported yet for images with layers');
    }
    await writeArchive(out, sources, this.content);
  }

  async tag(source: string, repo: string, tag?: string): Promise<void> {
    const img = this.images.resolve(source);
    const ref = withDefaultTag(parseReference(tag ? `${repo}:${tag}` : repo));
    await this.images.tag(img.id, ref);
  }

  /** `docker rmi`: untag by name, delete when no tag is left; Docker's Untagged/Deleted lines. */
  async remove(name: string, force: boolean): Promise<{ Untagged?: string; Deleted?: string }[]> {
    const img = this.images.resolve(name);
    const out: { Untagged?: string; Deleted?: string }[] = [];
    const byRef = !isIdLike(name, img.id);
    const tags = this.images.tagsOf(img.id);
    const users = this.usedBy(img.id);
    if (byRef && tags.length > 1) {
      const ref = withDefaultTag(parseReference(name));
      await this.images.untag(ref);
      return [{ Untagged: familiarString(ref) }];
    }
    if (users.length > 0) {
      const running = users.find((u) => u.running);
      if (running) throw conflict(`conflict: unable to delete ${shortId(img.id)} (cannot be forced) - image is being used by running container ${shortId(running.id)}`);
      if (!force) {
        if (byRef) throw conflict(`conflict: unable to remove repository reference "${name}" (must force) - container ${shortId(users[0]!.id)} is using its referenced image ${shortId(img.id)}`);
        throw conflict(`conflict: unable to delete ${shortId(img.id)} (must be forced) - image is being used by stopped container ${shortId(users[0]!.id)}`);
      }
    }
    if (!byRef && tags.length > 1 && !force) {
      throw conflict(`conflict: unable to delete ${shortId(img.id)} (must be forced) - image is referenced in multiple repositories`);
    }
    for (const ref of this.images.refsOf(img.id)) {
      await this.images.untag(ref);
      out.push({ Untagged: familiarString(ref) });
    }
    if (users.length > 0) return out; // forced while a stopped container uses it: keep the image, untagged
    await this.images.delete(img.id);
    await this.content.delete(img.id);
    out.push({ Deleted: img.id });
    for (const chainID of await this.unusedLayers(img)) out.push({ Deleted: chainID });
    return out;
  }

  /** Removes the image's layers no other image shares, top-most first. */
  private async unusedLayers(img: ImageRecord): Promise<Digest[]> {
    const inUse = new Set<Digest>();
    for (const other of this.images.list()) for (const c of this.chain(other)) inUse.add(c);
    const removed: Digest[] = [];
    for (const chainID of this.chain(img).reverse()) {
      if (inUse.has(chainID)) break;
      await this.layers.remove(chainID);
      removed.push(chainID);
    }
    return removed;
  }
}

function isIdLike(name: string, id: Digest): boolean {
  const hex = name.replace(/^sha256:/, '');
  return /^[a-f0-9]+$/.test(hex) && id.slice(7).startsWith(hex);
}

export function hostArch(): string {
  const a = process.arch;
  return a === 'x64' ? 'amd64' : a === 'ia32' ? '386' : a;
}

/** Applies Dockerfile-style `--change` lines (CMD, ENTRYPOINT, ENV, WORKDIR, USER, LABEL, EXPOSE, VOLUME, STOPSIGNAL). */
export function applyChanges(base: ContainerConfig, changes: string[]): ContainerConfig {
  const cfg: ContainerConfig = { ...base };
  for (const raw of changes) {
    const m = /^\s*(\w+)\s+([\s\S]*)$/.exec(raw);
    if (!m) throw invalidArgument(`invalid change "${raw}": expected an instruction and its arguments, e.g. CMD ["sh"]`);
    const instr = m[1]!.toUpperCase();
    const arg = m[2]!.trim();
    const list = (): string[] => {
      if (arg.startsWith('[')) {
        try {
          const v = JSON.parse(arg) as unknown;
          if (Array.isArray(v) && v.every((x) => typeof x === 'string')) return v as string[];
        } catch {
          // not JSON: shell form below
        }
      }
      return ['/bin/sh', '-c', arg];
    };
    switch (instr) {
      case 'CMD': cfg.Cmd = list(); break;
      case 'ENTRYPOINT': cfg.Entrypoint = list(); break;
      case 'WORKDIR': cfg.WorkingDir = arg; break;
      case 'USER': cfg.User = arg; break;
      case 'STOPSIGNAL': cfg.StopSignal = arg; break;
      case 'ENV': {
        const pairs = arg.includes('=') ? [...arg.matchAll(/(\S+?)=("(?:[^"\\]|\\.)*"|\S*)/g)].map((p) => [p[1]!, p[2]!.replace(/^"|"$/g, '')]) : [[arg.split(/\s+/)[0]!, arg.split(/\s+/).slice(1).join(' ')]];
        const env = [...(cfg.Env ?? [])];
        for (const [k, v] of pairs) {
          const i = env.findIndex((e) => e.split('=')[0] === k);
          if (i >= 0) env[i] = `${k}=${v}`;
          else env.push(`${k}=${v}`);
        }
        cfg.Env = env;
        break;
      }
      case 'LABEL': {
        const labels = { ...(cfg.Labels ?? {}) };
        for (const p of arg.matchAll(/(\S+?)=("(?:[^"\\]|\\.)*"|\S*)/g)) labels[p[1]!.replace(/^"|"$/g, '')] = p[2]!.replace(/^"|"$/g, '');
        cfg.Labels = labels;
        break;
      }
      case 'EXPOSE': {
        const ports = { ...(cfg.ExposedPorts ?? {}) };
        for (const p of arg.split(/\s+/)) ports[p.includes('/') ? p : `${p}/tcp`] = {};
        cfg.ExposedPorts = ports;
        break;
      }
      case 'VOLUME': {
        const vols = { ...(cfg.Volumes ?? {}) };
        for (const v of arg.startsWith('[') ? list() : arg.split(/\s+/)) vols[v] = {};
        cfg.Volumes = vols;
        break;
      }
      default:
        throw invalidArgument(`${instr} is not a valid change command`);
    }
  }
  return cfg;
}

export function notFoundImage(name: string): Error {
  return notFound(`No such image: ${name}`);
}
