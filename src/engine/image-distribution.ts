/**
 * Pull and push: images between the local stores and registries, through the
 * registry client (image/registry) and the ingest pipeline.
 *
 * Pull is two steps, so that the API can answer an error with its status before
 * any progress goes out (as dockerd does): `resolvePull` asks the registry for the
 * manifest (refusing unknown names, other platforms, schema 1), then `run` fetches
 * the config and the missing layers, a bounded number at once. Each layer is
 * verified against its digest while it streams into the content store and, in the
 * same pass, unpacked (IngestSession.receive); `complete` then registers the image,
 * its tag and its repo digest in one write. On failure nothing of the pull stays.
 * The manifest (and the index it came from) are kept in the content store, so a
 * push to a registry that has the layers sends the same manifest back.
 *
 * Push sends each layer the registry lacks (after a HEAD, or a cross-repository
 * mount from the repository it was pulled from) and then the manifest. An image
 * pulled from the target registry whose layer blobs it still has is pushed with its
 * original manifest, digests unchanged; otherwise layers go as they are stored
 * (uncompressed tars, their digest the diffID) in a new OCI manifest, which is the
 * same bytes every time the same image is pushed.
 *
 * Progress is Docker's: `Pulling fs layer`, `Downloading`, `Verifying Checksum`,
 * `Download complete`, `Extracting`, `Pull complete`, `Digest:`, `Status:` for pull;
 * `Preparing`, `Pushing`, `Pushed`, `Layer already exists`, `Mounted from …` and
 * `TAG: digest: D size: N` with an aux record for push.
 */
import { Readable } from 'node:stream';
import {
  byteProgress, checkFilterKeys, DigestMismatchError, familiarName, familiarString, filterBool, hexOf, invalidArgument, notFound, parseReference, withDefaultTag,
  tee, type Digest, type FilterArgs, type ProgressSink, type Reference,
} from '../common';
import {
  DEFAULT_PULL_CONCURRENCY, DEFAULT_PUSH_CONCURRENCY, MediaType, formatPlatform, hostPlatform, mapLimit, normalizePlatform, parseConfig, parsePlatform,
  type ContentStore, type Credentials, type Descriptor, type ImageConfig, type ImageRecord, type ImageStore, type Manifest, type Platform,
  type RegistryClient, type RemoteRepository, type ResolvedManifest, type SearchResult,
} from '../image';
import { chainsOf } from './image-gc';
import type { ImageIngest } from './image-ingest';

export interface PullOptions {
  /** `os/arch[/variant]`; the host's when absent. */
  platform?: string;
  credentials?: Credentials;
}

/** A pull whose manifest is known; `run` does the rest. */
export interface PullPlan {
  /** The name as the user will see it: `busybox:latest`, `localhost:5000/x@sha256:…`. */
  name: string;
  run(progress: ProgressSink): Promise<{ id: Digest; repoDigest: string }>;
}

export interface PushOptions {
  credentials?: Credentials;
}

/** The reference a pull or push names: `name` with `tag` (a tag or a digest), else the name's own, else `latest`. */
export function pullReference(name: string, tag?: string): Reference {
  const ref = parseReference(name);
  if (!tag) return ref.digest || ref.tag ? ref : withDefaultTag(ref);
  if (ref.tag || ref.digest) throw invalidArgument(`invalid reference format: ${name} already names a tag or digest; do not also give ${tag}`);
  return tag.startsWith('sha256:') ? parseReference(`${name}@${tag}`) : parseReference(`${name}:${tag}`);
}

/** Blobs whose repository is remembered for cross-repository mounts. */
const SEEN_BLOBS_MAX = 10_000;

/** Bytes a config may have (a manifest's bound is the client's). */
const MAX_CONFIG_BYTES = 8 << 20;

const short = (d: Digest) => hexOf(d).slice(0, 12);

export class ImageDistribution {
  /** Where each blob was last seen, by registry and digest: the repository a push can mount it from. */
  private readonly seen = new Map<string, string>();

  constructor(
    private readonly registry: RegistryClient,
    private readonly content: ContentStore,
    private readonly store: ImageStore,
    private readonly ingest: ImageIngest,
    /** Hears of each finished pull and push of a reference (dockerd's image events). */
    private readonly done: (action: 'pull' | 'push', ref: Reference) => void = () => undefined,
  ) {}

  /**
   * `docker manifest inspect`'s daemon side (`GET /distribution/{name}/json`): the
   * descriptor the name resolves to and the platforms it offers.
   */
  async describe(ref: Reference, credentials?: Credentials): Promise<{ descriptor: Descriptor; platforms: Platform[] }> {
    const repo = this.registry.repository(ref, credentials ? { credentials } : {});
    const m = await repo.getManifest(ref.digest ?? ref.tag ?? 'latest');
    const descriptor: Descriptor = { mediaType: m.mediaType, digest: m.digest, size: m.raw.length };
    if (m.kind === 'index') {
      return { descriptor, platforms: m.index.manifests.flatMap((d) => (d.platform ? [d.platform] : [])) };
    }
    const config = parseConfig(await repo.fetchBlobBytes(m.manifest.config, MAX_CONFIG_BYTES), 'image config');
    return { descriptor, platforms: [{ os: config.os || 'linux', architecture: config.architecture || 'amd64', ...(config.variant ? { variant: config.variant } : {}) }] };
  }

  /** `docker login`'s check (`POST /auth`): whether the registry takes these credentials. */
  login(domain: string, credentials: Credentials): Promise<{ status: string; identityToken?: string }> {
    return this.registry.checkLogin(domain, credentials);
  }

  /**
   * `docker search` (GET /images/search): the index's results, filtered as dockerd filters
   * them (is-official, stars as a minimum; is-automated=true matches nothing any more).
   */
  async search(term: string, limit: number, filters: FilterArgs, credentials?: Credentials): Promise<SearchResult[]> {
    checkFilterKeys(filters, ['is-automated', 'is-official', 'stars']);
    if (filterBool(filters, 'is-automated')) return [];
    const official = filterBool(filters, 'is-official');
    let stars = 0;
    for (const v of filters.get('stars') ?? []) {
      if (!/^[+-]?\d+$/.test(v)) throw invalidArgument(`invalid filter 'stars=${v}': strconv.Atoi: parsing ${JSON.stringify(v)}: invalid syntax`);
      stars = Math.max(stars, Number(v));
    }
    const results = await this.registry.search(term, limit, credentials);
    return results.filter((r) => (official === undefined || r.is_official === official) && (!filters.has('stars') || r.star_count >= stars));
  }

  /** Every tag of a repository (`docker pull --all-tags`). */
  async remoteTags(ref: Reference, credentials?: Credentials): Promise<string[]> {
    return this.registry.repository(ref, credentials ? { credentials } : {}).listTags();
  }

  async resolvePull(ref: Reference, opts: PullOptions = {}): Promise<PullPlan> {
    const platform = opts.platform ? parsePlatform(opts.platform) : hostPlatform();
    const resolved = await this.registry.resolveManifest(ref, { platform, ...(opts.credentials ? { credentials: opts.credentials } : {}) });
    const repo = this.registry.repository(ref, opts.credentials ? { credentials: opts.credentials } : {});
    return { name: familiarString(ref), run: (progress) => this.pull(ref, repo, resolved, platform, progress) };
  }

  private async pull(ref: Reference, repo: RemoteRepository, r: ResolvedManifest, platform: Platform, progress: ProgressSink): Promise<{ id: Digest; repoDigest: string }> {
    const say = (status: string, id?: string) => progress({ kind: 'status', status, ...(id !== undefined ? { id } : {}) });
    say(`Pulling from ${ref.path}`, ref.digest ?? ref.tag ?? 'latest');
    const session = this.ingest.begin(`image ${familiarString(ref)}`, progress, 'Extracting');
    try {
      const config = await this.fetchConfig(repo, r.config, session);
      checkPlatform(config, platform, ref);
      const diffIDs = config.rootfs?.diff_ids ?? [];
      if (diffIDs.length !== r.layers.length) {
        throw invalidArgument(`invalid image ${familiarString(ref)}: its manifest lists ${r.layers.length} layers but its config ${diffIDs.length}`);
      }
      // Kept so that a later push can send the same manifest.
      await session.hold({ blobs: [r.manifestDigest, ...(r.index ? [r.index.digest] : [])] });
      await this.content.writeBuffer(r.raw, r.manifestDigest);
      if (r.index) await this.content.writeBuffer(r.index.raw, r.index.digest);

      const chains = chainsOf(diffIDs);
      const todo: Descriptor[] = [];
      for (const [i, layer] of r.layers.entries()) {
        // The image needs the layer's tar too (save, push): a layer without it is fetched again.
        await session.hold({ blobs: [layer.digest, diffIDs[i]!], layers: [chains[i]!] });
        if ((await this.content.has(layer.digest)) || (await this.content.has(diffIDs[i]!))) {
          say('Already exists', short(layer.digest));
        } else if (!todo.some((d) => d.digest === layer.digest)) {
          say('Pulling fs layer', short(layer.digest));
          todo.push(layer);
        }
      }
      await mapLimit(todo, DEFAULT_PULL_CONCURRENCY, (layer) => this.download(repo, layer, session, progress));

      const wasTagged = ref.tag ? this.store.lookupRef(ref) : undefined;
      const repoDigest = r.index?.digest ?? r.manifestDigest;
      const digestRef = parseReference(`${familiarName(ref)}@${repoDigest}`);
      await session.complete([{
        configDigest: r.config.digest,
        config,
        layerBlobs: r.layers.map((l) => l.digest),
        repoTags: [...(ref.tag ? [familiarString(ref)] : []), familiarString(digestRef)],
        manifestDigest: r.manifestDigest,
      }]);
      for (const layer of todo) say('Pull complete', short(layer.digest));
      say(`Digest: ${repoDigest}`);
      const shown = familiarString(ref);
      say(wasTagged === r.config.digest ? `Status: Image is up to date for ${shown}` : `Status: Downloaded newer image for ${shown}`);
      this.done('pull', ref);
      return { id: r.config.digest, repoDigest: familiarString(digestRef) };
    } catch (err) {
      throw session.explain(err);
    } finally {
      await session.close();
    }
  }

  private async fetchConfig(repo: RemoteRepository, desc: Descriptor, session: ReturnType<ImageIngest['begin']>): Promise<ImageConfig> {
    await session.hold({ blobs: [desc.digest] });
    if (!(await this.content.has(desc.digest))) {
      await this.content.writeBuffer(await repo.fetchBlobBytes(desc, MAX_CONFIG_BYTES), desc.digest);
    }
    return parseConfig(await this.content.readBuffer(desc.digest), 'image config');
  }

  /** One layer: verified into the content store and unpacked in the same pass. */
  private async download(repo: RemoteRepository, layer: Descriptor, session: ReturnType<ImageIngest['begin']>, progress: ProgressSink): Promise<void> {
    const id = short(layer.digest);
    // The content store hashes the stream and rejects a mismatch: the client need not hash it too.
    const body = repo.fetchBlob(layer, { onBytes: byteProgress(progress, id, 'Downloading', layer.size), verify: false });
    const [toStore, toUnpack] = tee(body);
    session.receive.onBlob(layer.digest);
    this.saw(repo, layer.digest);
    const stored = this.content.writeStream(toStore, layer.digest);
    const digest = stored.then((s) => s.digest);
    digest.catch(() => undefined);
    // The unpack's own failure (a bad tar) is reported by `complete`, which unpacks again from the store.
    const unpacked = session.receive.run(toUnpack, digest, { named: layer.digest, size: layer.size, name: id }).catch(() => {
      toUnpack.resume();
    });
    try {
      await stored;
    } catch (err) {
      body.destroy();
      if (err instanceof DigestMismatchError) {
        throw new DigestMismatchError(err.expected, err.actual, `layer ${id}: digest mismatch: expected ${err.expected}, received ${err.actual}; the registry sent other content than its manifest names`);
      }
      throw err;
    }
    progress({ kind: 'status', id, status: 'Verifying Checksum' });
    progress({ kind: 'status', id, status: 'Download complete' });
    await unpacked;
  }

  // ---- push ----------------------------------------------------------------------------

  /**
   * Checks a push of `name` (a tag: the given one, the name's own, or every local
   * tag of the repository when neither is given). `run` sends it to the name's registry;
   * like dockerd, it first names the repository, then fails (not-found) when the
   * repository has no local tag or the one given is not there.
   */
  preparePush(name: string, tag: string | undefined, opts: PushOptions = {}): { run(progress: ProgressSink): Promise<void> } {
    const base = parseReference(name);
    if (base.digest) throw invalidArgument(`cannot push a digest reference: ${name}`);
    return {
      run: async (progress) => {
        progress({ kind: 'status', status: `The push refers to repository [${repoName(base)}]` });
        const local = this.localTags(base);
        if (local.length === 0) throw notFound(`An image does not exist locally with the tag: ${familiarName(base)}`);
        const images = (tag || base.tag ? [pullReference(name, tag)] : local).map((t) => {
          const id = this.store.lookupRef(t);
          if (!id) throw notFound(`tag does not exist: ${familiarString(t)}`);
          return { ref: t, img: this.store.get(id)! };
        });
        const repo = this.registry.repository(base, { push: true, ...(opts.credentials ? { credentials: opts.credentials } : {}) });
        for (const { ref, img } of images) await this.pushOne(repo, ref, img, progress);
      },
    };
  }

  private localTags(base: Reference): Reference[] {
    const want = familiarName(base);
    return this.store.references().filter((r) => r.ref.tag && !r.ref.digest && familiarName(r.ref) === want).map((r) => r.ref);
  }

  private async pushOne(repo: RemoteRepository, ref: Reference, img: ImageRecord, progress: ProgressSink): Promise<void> {
    const say = (status: string, id?: string) => progress({ kind: 'status', status, ...(id !== undefined ? { id } : {}) });
    let m = await this.originalManifest(img);
    // A pulled layer whose compressed blob is gone can be reused only where the registry has it.
    for (const l of m?.manifest.layers ?? []) {
      if (!(await this.content.has(l.digest)) && !(await repo.blobExists(l.digest, l.size))) {
        m = undefined;
        break;
      }
    }
    m ??= await this.plainManifest(img);
    const layers = m.manifest.layers;
    for (const l of layers) say('Preparing', short(l.digest));
    await mapLimit(layers, DEFAULT_PUSH_CONCURRENCY, async (l, i) => {
      const id = short(l.digest);
      if (await repo.blobExists(l.digest, l.size)) {
        say('Layer already exists', id);
        this.saw(repo, l.digest);
        return;
      }
      const from = this.seen.get(`${repo.name.domain} ${l.digest}`);
      if (from && from !== repo.name.path && (await repo.mountBlob(l.digest, from))) {
        say(`Mounted from ${from}`, id);
        this.saw(repo, l.digest);
        return;
      }
      await repo.uploadBlob(l.digest, l.size, await this.layerSource(img, l, i), { onBytes: byteProgress(progress, id, 'Pushing', l.size) });
      say('Pushed', id);
      this.saw(repo, l.digest);
    });
    if (!(await repo.blobExists(img.id))) {
      const cfg = await this.content.readBuffer(img.id);
      await repo.uploadBlob(img.id, cfg.length, Readable.from([cfg]));
    }
    const tag = ref.tag ?? 'latest';
    const digest = await repo.putManifest(tag, m.mediaType, m.raw);
    // As dockerd: the image now has this repository digest (RepoDigests, images --digests).
    await this.store.tag(img.id, parseReference(`${familiarName(ref)}@${digest}`));
    say(`${tag}: digest: ${digest} size: ${m.raw.length}`);
    progress({ kind: 'aux', aux: { Tag: tag, Digest: digest, Size: m.raw.length } });
    this.done('push', ref);
  }

  private saw(repo: RemoteRepository, digest: Digest): void {
    const key = `${repo.name.domain} ${digest}`;
    // Newest last; the oldest go past a bound, so a long-running daemon does not grow the map forever.
    this.seen.delete(key);
    this.seen.set(key, repo.name.path);
    if (this.seen.size > SEEN_BLOBS_MAX) this.seen.delete(this.seen.keys().next().value!);
  }

  /** The manifest the image was pulled with, when it is kept and describes this image. */
  private async originalManifest(img: ImageRecord): Promise<{ mediaType: string; raw: Buffer; manifest: Manifest } | undefined> {
    if (!img.manifestDigest || !(await this.content.has(img.manifestDigest))) return undefined;
    try {
      const raw = await this.content.readBuffer(img.manifestDigest);
      const manifest = JSON.parse(raw.toString('utf8')) as Manifest & { mediaType?: string };
      if (manifest.config?.digest !== img.id || manifest.layers?.length !== img.layers.length) return undefined;
      const mediaType = manifest.mediaType ?? MediaType.ociManifest;
      return { mediaType, raw, manifest };
    } catch {
      return undefined;
    }
  }

  /** The image's layers as stored: uncompressed tars, each named by its diffID. */
  private async plainLayers(img: ImageRecord): Promise<Descriptor[]> {
    const out: Descriptor[] = [];
    for (const d of img.layers) out.push({ mediaType: MediaType.ociLayer, digest: d, size: await this.content.size(d) });
    return out;
  }

  private async plainManifest(img: ImageRecord): Promise<{ mediaType: string; raw: Buffer; manifest: Manifest }> {
    const manifest: Manifest = {
      schemaVersion: 2,
      mediaType: MediaType.ociManifest,
      config: { mediaType: MediaType.ociConfig, digest: img.id, size: await this.content.size(img.id) },
      layers: await this.plainLayers(img),
    };
    return { mediaType: MediaType.ociManifest, raw: Buffer.from(JSON.stringify(manifest)), manifest };
  }

  /** A layer's bytes to upload: its blob as kept (compressed, as pulled) or its uncompressed tar. */
  private async layerSource(img: ImageRecord, l: Descriptor, i: number): Promise<Readable> {
    if (await this.content.has(l.digest)) return this.content.openRead(l.digest, { highWaterMark: 1 << 20 });
    const diffID = img.layers[i];
    if (diffID && (await this.content.has(diffID))) return this.content.openRead(diffID, { highWaterMark: 1 << 20 });
    throw notFound(`layer ${l.digest} of image ${img.id} is not in the content store`);
  }
}

/** `localhost:5000/x`, `docker.io/library/busybox` as dockerd prints the target repository. */
function repoName(ref: Reference): string {
  return `${ref.domain}/${ref.path}`;
}

/** A single-platform manifest is checked against the platform asked for, through its config. */
function checkPlatform(config: ImageConfig, want: Platform, ref: Reference): void {
  const have = normalizePlatform({ os: config.os || 'linux', architecture: config.architecture || 'amd64', ...(config.variant ? { variant: config.variant } : {}) });
  const w = normalizePlatform(want);
  if (have.os !== w.os || have.architecture !== w.architecture || (w.variant && have.variant && w.variant !== have.variant)) {
    throw notFound(`image with reference ${familiarString(ref)} was found but does not match the specified platform: wanted ${formatPlatform(want)}, actual: ${formatPlatform(have)}`);
  }
}
