/**
 * The CRI ImageService on the engine's image store (the same store the Docker API
 * uses): names are shown fully qualified (`docker.io/library/busybox:1.36`), ids are
 * the image config's digest, pulls go through the registry client (mirrors included).
 */
import { errorKind, fullString, parseReference } from '../common';
import { pullReference, type Engine, type ImageRecord } from '../engine';
import type { Msg } from './store';

type Credentials = { username: string; password: string } | { identityToken: string; username?: string } | { registryToken: string };

function qualified(names: string[]): string[] {
  const out: string[] = [];
  for (const n of names) {
    try {
      out.push(fullString(parseReference(n)));
    } catch {
      out.push(n);
    }
  }
  return out;
}

/** uid / username of an image's configured user ("1000", "nobody", "1000:1000"). */
function imageUser(img: ImageRecord): { uid: Msg | null; username: string } {
  const user = img.config.config?.User ?? '';
  const name = user.split(':')[0] ?? '';
  if (/^\d+$/.test(name)) return { uid: { value: Number(name) }, username: '' };
  return { uid: null, username: name };
}

export class CriImages {
  constructor(private readonly engine: Engine) {}

  /** An image by name or id; one without any name (removed while a container used it) is gone for the CRI. */
  private find(ref: string): ImageRecord | undefined {
    if (!ref) return undefined;
    try {
      const img = this.engine.images.resolve(ref);
      return this.named(img) ? img : undefined;
    } catch {
      return undefined;
    }
  }

  private named(img: ImageRecord): boolean {
    const n = this.engine.images.namesOf(img.id);
    return n.tags.length > 0 || n.digests.length > 0;
  }

  private describe(img: ImageRecord): Msg {
    const names = this.engine.images.namesOf(img.id);
    return {
      id: img.id,
      repo_tags: qualified(names.tags),
      repo_digests: qualified(names.digests),
      size: img.size,
      ...imageUser(img),
      spec: { image: img.id, annotations: {} },
      pinned: false,
    };
  }

  list(filter: Msg | undefined): Msg[] {
    const want = filter?.image?.image ? this.find(filter.image.image) : undefined;
    if (filter?.image?.image && !want) return [];
    return this.engine.images
      .list(new Map(), false)
      .filter((e) => (!want || e.image.id === want.id) && this.named(e.image))
      .map((e) => this.describe(e.image));
  }

  status(ref: string, verbose: boolean): Msg {
    const img = this.find(ref);
    if (!img) return { image: null, info: {} };
    const info: Record<string, string> = {};
    if (verbose) info.info = JSON.stringify({ imageSpec: img.config });
    return { image: this.describe(img), info };
  }

  /** Pulls of one reference at the same time share one transfer (concurrent pulls of one image race in the store). */
  private readonly pulling = new Map<string, Promise<string>>();
  /**
   * Pulls and removals run one at a time: a removal collects blobs that a pull running
   * beside it has found present and is about to use.
   */
  private queue: Promise<unknown> = Promise.resolve();

  private serial<T>(fn: () => Promise<T>): Promise<T> {
    const run = this.queue.then(fn, fn);
    this.queue = run.catch(() => undefined);
    return run;
  }

  pull(ref: string, auth: Msg | undefined): Promise<string> {
    const key = `${ref}\0${JSON.stringify(auth ?? null)}`;
    let p = this.pulling.get(key);
    if (!p) {
      p = this.serial(() => this.pullOnce(ref, auth)).finally(() => this.pulling.delete(key));
      this.pulling.set(key, p);
    }
    return p;
  }

  private async pullOnce(ref: string, auth: Msg | undefined): Promise<string> {
    const credentials = credentialsOf(auth);
    const plan = await this.engine.images.distribution.resolvePull(pullReference(ref), credentials ? { credentials } : {});
    const { id } = await plan.run(() => undefined);
    return id;
  }

  /** Removes the image; one that a running container still uses loses its names and stays for it. */
  remove(ref: string): Promise<void> {
    return this.serial(() => this.removeNow(ref));
  }

  private async removeNow(ref: string): Promise<void> {
    const img = this.find(ref);
    if (!img) return;
    try {
      if (this.engine.containers.usersOfImage(img.id).some((u) => u.running)) await this.engine.images.untagAll(img.id);
      else await this.engine.images.remove(img.id, true);
    } catch (err) {
      // Removed meanwhile by another call: RemoveImage is idempotent.
      if (errorKind(err) !== 'not-found') throw err;
    }
  }

  async fsInfo(): Promise<Msg[]> {
    const used = await this.engine.images.layersSize();
    return [{ timestamp: Date.now() * 1e6, fs_id: { mountpoint: this.engine.options.dataRoot }, used_bytes: { value: used }, inodes_used: { value: 0 } }];
  }
}

function credentialsOf(auth: Msg | undefined): Credentials | undefined {
  if (!auth) return undefined;
  if (auth.registry_token) return { registryToken: auth.registry_token };
  if (auth.identity_token) return { identityToken: auth.identity_token, ...(auth.username ? { username: auth.username } : {}) };
  if (auth.username || auth.password) return { username: auth.username ?? '', password: auth.password ?? '' };
  if (auth.auth) {
    const text = Buffer.from(auth.auth, 'base64').toString('utf8');
    const colon = text.indexOf(':');
    if (colon > 0) return { username: text.slice(0, colon), password: text.slice(colon + 1) };
  }
  return undefined;
}
