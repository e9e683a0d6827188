/**
 * The volume store: volumes with Docker's `local` driver semantics.
 *
 * Each volume is `<root>/<name>/` holding `volume.json` (metadata) and `_data` (the
 * content, or the mount point when driver options name a filesystem). Containers refer
 * to volumes by name in their records; a volume is "in use" while any container record
 * (running or not) refers to it, as in Docker.
 *
 * Driver options follow the local driver: `type`, `device` and `o` (mount(8)'s option
 * words) are mounted when the first container using the volume starts, and the
 * filesystem is unmounted when the last one stops (so a tmpfs volume's content lives
 * only that long).
 *
 * Lifecycle: `create` (idempotent per name; no name makes an anonymous volume) →
 * `acquire` at each container start → `releaseMount` at its stop → `remove` when
 * nothing refers to it. `init` must run once before use; it reloads metadata and
 * tolerates half-made volume directories.
 *
 * The store knows no containers and no events: who uses a volume comes from the
 * `VolumeUsers` the engine sets, and each create/destroy is reported to the
 * `onEvent` port it was given.
 */
import { randomBytes } from 'node:crypto';
import { promises as fsp, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { conflict, errnoMessage, invalidArgument, log, notFound } from '../common';
import { KeyedMutex, writeJSONAtomic } from '../state';
import { dirSize } from './dir-size';
import { isMountPoint, MNT_DETACH, mountWithOptions, umount2, type MountError } from '../sys';

const ANONYMOUS_LABEL = 'com.docker.volume.anonymous';
const LOCAL_DRIVER = 'local';

const VALID_NAME = /^[a-zA-Z0-9][a-zA-Z0-9_.-]+$/;
const DRIVER_OPTS = new Set(['type', 'device', 'o', 'size']);

export interface VolumeRecord {
  name: string;
  driver: string;
  /** RFC 3339, seconds precision (Docker's CreatedAt). */
  createdAt: string;
  /** null when the creator sent none (Docker shows `null`, not `{}`). */
  labels: Record<string, string> | null;
  options: Record<string, string> | null;
}

export interface CreateVolumeOptions {
  name?: string;
  driver?: string;
  labels?: Record<string, string> | null;
  options?: Record<string, string> | null;
}

export interface VolumeUsage {
  name: string;
  /** Bytes under _data (-1 when it could not be measured). */
  size: number;
  /** Containers that refer to the volume. */
  refCount: number;
}

/** Who refers to a volume: container ids, given by the container side. */
export type VolumeUsers = (name: string) => string[];

/** Where the store reports what it did: `create` and `destroy` of a volume. */
export type VolumeEventSink = (action: 'create' | 'destroy', name: string, attributes: Record<string, string>) => void;

export interface VolumeStoreOptions {
  onEvent?: VolumeEventSink;
  /** With --userns-remap: the host ids of containers' root, which own each new _data dir. */
  dataOwner?: { uid: number; gid: number };
}

export function isAnonymous(v: VolumeRecord): boolean {
  return !!v.labels && ANONYMOUS_LABEL in v.labels;
}

/** The volume-name rule of the local driver, with Docker's message. */
export function checkVolumeName(name: string): void {
  if (!VALID_NAME.test(name)) {
    throw invalidArgument(
      `"${name}" includes invalid characters for a local volume name, only "[a-zA-Z0-9][a-zA-Z0-9_.-]" are allowed. If you intended to pass a host directory, use absolute path`,
    );
  }
}

export class VolumeStore {
  private readonly volumes = new Map<string, VolumeRecord>();
  private readonly lock = new KeyedMutex();
  /** Running containers per mounted (driver-option) volume. */
  private readonly active = new Map<string, Set<string>>();
  private users: VolumeUsers = () => [];

  constructor(
    private readonly root: string,
    private readonly opts: VolumeStoreOptions = {},
  ) {}

  /** The container side tells who uses what; set once while wiring the engine. */
  setUsers(users: VolumeUsers): void {
    this.users = users;
  }

  async init(): Promise<void> {
    await fsp.mkdir(this.root, { recursive: true, mode: 0o701 });
    for (const name of await fsp.readdir(this.root)) {
      if (name.startsWith('.')) continue;
      try {
        const v = JSON.parse(readFileSync(join(this.root, name, 'volume.json'), 'utf8')) as VolumeRecord;
        this.volumes.set(v.name, v);
      } catch (err) {
        log.warn('skipping unreadable volume', { name, error: String(err) });
      }
    }
  }

  dataPath(name: string): string {
    return join(this.root, name, '_data');
  }

  list(): VolumeRecord[] {
    return [...this.volumes.values()].sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0));
  }

  get(name: string): VolumeRecord {
    const v = this.volumes.get(name);
    if (!v) throw notFound(`get ${name}: no such volume`);
    return v;
  }

  has(name: string): boolean {
    return this.volumes.has(name);
  }

  usedBy(name: string): string[] {
    return this.users(name);
  }

  /**
   * Creates the volume, or returns the existing one of that name (as Docker does).
   * Without a name it is anonymous: a random 64-hex name and the anonymous label,
   * which is what `prune` (without `all`) and `rm -v` look for.
   */
  async create(o: CreateVolumeOptions = {}): Promise<VolumeRecord> {
    const name = o.name || randomBytes(32).toString('hex');
    const labels = o.name ? o.labels ?? null : { ...(o.labels ?? {}), [ANONYMOUS_LABEL]: '' };
    const driver = o.driver || LOCAL_DRIVER;
    if (driver !== LOCAL_DRIVER) throw notFound(`create ${name}: error looking up volume plugin ${driver}: plugin "${driver}" not found`);
    try {
      checkVolumeName(name);
      checkDriverOptions(o.options ?? {});
    } catch (err) {
      throw invalidArgument(`create ${name}: ${(err as Error).message}`, err);
    }
    return this.lock.run(name, async () => {
      const existing = this.volumes.get(name);
      if (existing) return existing;
      const v: VolumeRecord = {
        name,
        driver,
        createdAt: new Date(Math.floor(Date.now() / 1000) * 1000).toISOString().replace('.000Z', 'Z'),
        labels,
        options: o.options ?? null,
      };
      const dir = join(this.root, name);
      try {
        await fsp.mkdir(join(dir, '_data'), { recursive: true, mode: 0o755 });
        if (this.opts.dataOwner) await fsp.chown(join(dir, '_data'), this.opts.dataOwner.uid, this.opts.dataOwner.gid);
        await writeJSONAtomic(join(dir, 'volume.json'), v);
      } catch (err) {
        await fsp.rm(dir, { recursive: true, force: true }).catch(() => undefined);
        throw err;
      }
      this.volumes.set(name, v);
      this.opts.onEvent?.('create', name, { driver });
      return v;
    });
  }

  /**
   * Removes a volume nothing refers to. `force` only makes a missing volume a no-op;
   * a volume in use is refused either way (Docker's rule). `except` is a container
   * being removed right now, whose own reference does not count.
   */
  async remove(name: string, opts: { force?: boolean; except?: string } = {}): Promise<void> {
    if (!this.volumes.has(name)) {
      if (opts.force) return;
      throw notFound(`get ${name}: no such volume`);
    }
    await this.lock.run(name, async () => {
      if (!this.volumes.has(name)) return;
      const users = this.users(name).filter((id) => id !== opts.except);
      if (users.length) throw conflict(`remove ${name}: volume is in use - [${users.join(', ')}]`);
      await this.unmountFs(name).catch((err) => log.warn('volume unmount failed', { name, error: String(err) }));
      const dir = join(this.root, name);
      // Drop the metadata first: a crash mid-delete then leaves no half volume behind.
      await fsp.rm(join(dir, 'volume.json'), { force: true });
      this.volumes.delete(name);
      await fsp.rm(dir, { recursive: true, force: true });
      this.opts.onEvent?.('destroy', name, { driver: LOCAL_DRIVER });
    });
  }

  /** Bytes under the volume's _data, hardlinks counted once (-1 when it cannot be measured). */
  size(name: string): Promise<number> {
    // Docker reports a size it cannot read as -1.
    return dirSize(this.dataPath(name)).catch(() => -1);
  }

  /** Sizes and reference counts for `system df`. */
  async usage(): Promise<VolumeUsage[]> {
    const out: VolumeUsage[] = [];
    for (const v of this.list()) out.push({ name: v.name, size: await this.size(v.name), refCount: this.users(v.name).length });
    return out;
  }

  /**
   * A container that uses the volume is starting: mounts the driver-option filesystem
   * if this is its first user, and returns the host path to bind into the container.
   */
  async acquire(name: string, containerId: string): Promise<string> {
    const v = this.get(name);
    const data = this.dataPath(name);
    if (!v.options?.type && !v.options?.device) return data;
    await this.lock.run(name, async () => {
      const set = this.active.get(name) ?? new Set<string>();
      if (!isMountPoint(data)) this.mountFs(v, data);
      set.add(containerId);
      this.active.set(name, set);
    });
    return data;
  }

  /**
   * The container stopped. When no other running container (per `stillRunning`)
   * uses the volume, its driver-option filesystem is unmounted.
   */
  async releaseMount(name: string, containerId: string, stillRunning: (name: string) => boolean): Promise<void> {
    const v = this.volumes.get(name);
    if (!v || (!v.options?.type && !v.options?.device)) return;
    await this.lock.run(name, async () => {
      const set = this.active.get(name);
      set?.delete(containerId);
      if (set && set.size > 0) return;
      if (stillRunning(name)) return;
      this.active.delete(name);
      await this.unmountFs(name);
    });
  }

  private mountFs(v: VolumeRecord, target: string): void {
    const o = v.options ?? {};
    let opts = o.o ?? '';
    if (o.size && o.type === 'tmpfs' && !/(^|,)size=/.test(opts)) opts = opts ? `${opts},size=${o.size}` : `size=${o.size}`;
    const device = o.device || o.type || 'none';
    try {
      mountWithOptions(device, target, o.type || 'none', opts);
    } catch (err) {
      throw invalidArgument(`error while mounting volume '${target}': failed to mount local volume: ${describeMountError(err as MountError, target)}`, err);
    }
  }

  private async unmountFs(name: string): Promise<void> {
    const data = this.dataPath(name);
    if (!isMountPoint(data)) return;
    try {
      umount2(data, 0);
    } catch {
      // Busy (a process still has files open there): detach it now, the kernel frees it later.
      umount2(data, MNT_DETACH);
    }
  }
}

/** dockerd's wording for a refused mount: `mount <device>:<target>, flags: 0x…, data: …: <errno text>`. */
function describeMountError(err: MountError, target: string): string {
  if (err.step === undefined) return err.message;
  let out = err.step === 'mount' ? `mount ${err.source}:${target}` : `${err.step} ${target}`;
  if (err.flags) out += `, flags: 0x${err.flags.toString(16)}`;
  if (err.data) out += `, data: ${err.data}`;
  return `${out}: ${errnoMessage(err.errno)}`;
}

function checkDriverOptions(opts: Record<string, string>): void {
  for (const k of Object.keys(opts)) if (!DRIVER_OPTS.has(k)) throw new Error(`invalid option: "${k}"`);
  if (opts.device && !opts.type) throw new Error('missing required option: "type"');
  if (opts.type && !opts.device && opts.type !== 'tmpfs') throw new Error('missing required option: "device"');
  if ((opts.o ?? '').split(',').includes('bind') && opts.device && !opts.device.startsWith('/')) throw new Error(`invalid bind device path: ${opts.device} must be absolute`);
}

