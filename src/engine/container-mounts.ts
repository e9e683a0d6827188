/**
 * A container's volumes, bind mounts and tmpfs mounts: the spec's `mounts`,
 * `volumesFrom` and `volumes`, and the image's VOLUME list.
 *
 * ContainerService calls `prepare` once at create (check, create volumes, fill the
 * record's `mountPoints`), `specMounts` at every start, `stopped` after every exit,
 * and `release` at removal.
 */
import { promises as fsp, statSync } from 'node:fs';
import { posix } from 'node:path';
import { BerthError, internal, invalidArgument, isErrno, log, SystemError } from '../common';
import { propagationRefusal, resolveInRoot, type MountOption } from '../runtime';
import { copyUp as copyTreeUp, type VolumeStore } from '../storage';
import type { ContainerRecord, MountRequest } from './container-model';

export interface ContainerMounts {
  prepare(rec: ContainerRecord, imageVolumes: readonly string[]): Promise<void>;
  specMounts(rec: ContainerRecord, rootfs: string): Promise<MountOption[]>;
  /** The container exited (or failed to start): volumes may unmount their filesystems. */
  stopped(rec: ContainerRecord): Promise<void>;
  release(rec: ContainerRecord, removeVolumes: boolean): Promise<void>;
}

/** No volumes: what a container gets until volumes are wired in. */
export const NO_MOUNTS: ContainerMounts = {
  prepare: async () => undefined,
  specMounts: async () => [],
  stopped: async () => undefined,
  release: async () => undefined,
};

/** Mount propagation modes Linux and Docker know. */
export const PROPAGATIONS: ReadonlySet<string> = new Set(['shared', 'rshared', 'slave', 'rslave', 'private', 'rprivate']);

/** Docker's words for a bad mount, and for a mount path that is not absolute. */
export const mountError = (type: string, why: string) => invalidArgument(`invalid mount config for type "${type}": ${why}`);
export const notAbsolute = (p: string) => `invalid mount path: '${p}' mount path must be absolute`;

/** A mount path normalized, without a trailing '/'. */
export function cleanPath(p: string): string {
  const n = posix.normalize(p);
  return n.length > 1 ? n.replace(/\/+$/, '') : n;
}

const TMPFS_FLAGS = new Set(['rw', 'ro', 'exec', 'noexec', 'suid', 'nosuid', 'dev', 'nodev', 'atime', 'noatime', 'diratime', 'nodiratime', 'relatime', 'norelatime', 'strictatime', 'nostrictatime', 'sync', 'async', 'dirsync', 'mand', 'nomand', ...PROPAGATIONS]);
const TMPFS_KEYS = new Set(['size', 'mode', 'uid', 'gid', 'nr_inodes', 'nr_blocks', 'mpol', 'huge', 'tmpcopyup']);

/** Docker's tmpfs defaults (noexec, nosuid, nodev) merged with the user's; later options win. */
export function tmpfsOptions(user: string[]): string[] {
  for (const o of user) {
    const k = o.split('=')[0]!;
    if (o.includes('=') ? !TMPFS_KEYS.has(k) : !TMPFS_FLAGS.has(o)) throw invalidArgument(`invalid tmpfs option ["${o}"]`);
  }
  const all = ['noexec', 'nosuid', 'nodev', ...user.filter((o) => o !== 'tmpcopyup')];
  const keyOf = (o: string) => {
    if (o.includes('=')) return o.split('=')[0]!;
    if (o === 'ro' || o === 'rw') return 'rw';
    if (PROPAGATIONS.has(o)) return 'propagation';
    return o.replace(/^no/, '');
  };
  const seen = new Set<string>();
  const out: string[] = [];
  for (let i = all.length - 1; i >= 0; i--) {
    const k = keyOf(all[i]!);
    if (seen.has(k)) continue;
    seen.add(k);
    out.unshift(all[i]!);
  }
  return out;
}

/**
 * Mounts backed by the volume service. Mount points live in the container record
 * (`mountPoints`), so inspect and `volume rm` know them without asking anyone.
 */
export class VolumeMounts implements ContainerMounts {
  constructor(
    private readonly volumes: VolumeStore,
    private readonly containers: () => ContainerRecord[],
  ) {
    volumes.setUsers((name) => this.containers().filter((r) => usesVolume(r, name)).map((r) => r.id));
  }

  async prepare(rec: ContainerRecord, imageVolumes: readonly string[]): Promise<void> {
    const parsed: MountRequest[] = [];
    const taken = new Set<string>();
    for (const m of rec.spec.mounts) {
      if (taken.has(m.destination)) throw invalidArgument(`Duplicate mount point: ${m.destination}`);
      if (m.type === 'bind' && !m.createSource && !(await exists(m.source))) throw mountError('bind', `bind source path does not exist: ${m.source}`);
      taken.add(m.destination);
      parsed.push({ ...m });
    }
    // --volumes-from: the other container's volumes and binds, where nothing above mounts.
    for (const m of this.volumesFrom(rec)) {
      if (taken.has(m.destination)) continue;
      taken.add(m.destination);
      parsed.push(m);
    }
    // Anonymous volumes for VOLUME paths of the image and the spec, unless mounted already.
    for (const v of [...imageVolumes, ...(rec.spec.volumes ?? [])]) {
      if (!v.startsWith('/')) throw invalidArgument(`invalid volume specification: '${v}': invalid mount config for type "volume": ${notAbsolute(v)}`);
      const destination = cleanPath(v);
      if (taken.has(destination)) continue;
      taken.add(destination);
      parsed.push({ type: 'volume', source: '', destination, mode: '', rw: true, propagation: '', copyData: true, anonymous: true });
    }

    const created: string[] = [];
    try {
      for (const m of parsed) {
        // A bind of an existing file binds that file; only a missing `-v` source becomes a directory.
        if (m.type === 'bind' && m.createSource && !(await exists(m.source))) await fsp.mkdir(m.source, { recursive: true, mode: 0o755 });
        if (m.type !== 'volume') continue;
        const name = m.name;
        const existed = !!name && this.volumes.has(name);
        const v = await this.volumes.create({
          name,
          // No name: the store makes it anonymous (labelled so).
          labels: m.volumeLabels ?? null,
          options: m.volumeOptions ?? null,
        });
        if (!existed) created.push(v.name);
        m.name = v.name;
        m.driver = v.driver;
        m.source = this.volumes.dataPath(v.name);
      }
    } catch (err) {
      for (const n of created) await this.volumes.remove(n, { force: true, except: rec.id }).catch(() => undefined);
      throw err;
    }
    rec.mountPoints = parsed.map(({ volumeLabels: _l, volumeOptions: _o, ...mp }) => mp);
  }

  /**
   * The spec's `volumesFrom`: that container's volume and bind mounts at the same
   * places; `ro`/`rw` overrides each mount's own mode. They are shared, not owned:
   * `rm -v` of this container leaves them.
   */
  private volumesFrom(rec: ContainerRecord): MountRequest[] {
    const out: MountRequest[] = [];
    for (const { container: ref, mode } of rec.spec.volumesFrom) {
      const all = this.containers().filter((r) => r.id !== rec.id);
      const src = all.find((r) => r.id === ref || r.name === ref.replace(/^\//, '')) ?? onlyOne(all.filter((r) => /^[0-9a-f]+$/.test(ref) && r.id.startsWith(ref)));
      // dockerd's words, as a bad argument: a 404 from create reads to the docker CLI as a missing image.
      if (!src) throw invalidArgument(`No such container: ${ref}`);
      for (const m of src.mountPoints) {
        if (m.type === 'tmpfs') continue;
        const rw = mode === undefined ? m.rw : mode === 'rw';
        out.push({ ...m, rw, mode: mode ?? m.mode, anonymous: false, copyData: false, createSource: m.type === 'bind' });
      }
    }
    return out;
  }

  async specMounts(rec: ContainerRecord, rootfs: string): Promise<MountOption[]> {
    const out: MountOption[] = [];
    const acquired: string[] = [];
    try {
      for (const m of rec.mountPoints) {
        if (m.type === 'tmpfs') {
          out.push({ type: 'tmpfs', destination: m.destination, options: m.tmpfsOptions ?? tmpfsOptions([]) });
          continue;
        }
        let source = m.source;
        if (m.type === 'bind') {
          if (!(await exists(source))) {
            if (!m.createSource) throw mountError('bind', `bind source path does not exist: ${source}`);
            await fsp.mkdir(source, { recursive: true, mode: 0o755 });
          }
          // dockerd refuses the start with a server error in these words, before any task exists.
          const refusal = propagationRefusal(source, m.propagation);
          if (refusal) throw new SystemError(refusal);
        } else {
          source = await this.volumes.acquire(m.name!, rec.id);
          acquired.push(m.name!);
          if (m.copyData) await copyUp(rootfs, m.destination, source);
        }
        out.push({ type: 'bind', source, destination: m.destination, readonly: !m.rw, propagation: m.propagation || 'rprivate' });
      }
    } catch (err) {
      for (const n of acquired) await this.volumes.releaseMount(n, rec.id, (name) => this.otherRunning(rec, name)).catch(() => undefined);
      throw err;
    }
    return out;
  }

  async stopped(rec: ContainerRecord): Promise<void> {
    for (const m of rec.mountPoints) {
      if (m.type !== 'volume' || !m.name) continue;
      await this.volumes.releaseMount(m.name, rec.id, (name) => this.otherRunning(rec, name)).catch((err) => log.warn('volume unmount failed', { name: m.name, error: String(err) }));
    }
  }

  async release(rec: ContainerRecord, removeVolumes: boolean): Promise<void> {
    await this.stopped(rec);
    if (!removeVolumes) return;
    for (const m of rec.mountPoints) {
      if (m.type !== 'volume' || !m.anonymous || !m.name) continue;
      try {
        await this.volumes.remove(m.name, { force: true, except: rec.id });
      } catch (err) {
        // Still used by another container: it stays, as in Docker.
        if (!(err instanceof BerthError && err.kind === 'conflict')) log.warn('anonymous volume not removed', { name: m.name, error: String(err) });
      }
    }
  }

  private otherRunning(rec: ContainerRecord, name: string): boolean {
    return this.containers().some((r) => r.id !== rec.id && (r.state.status === 'running' || r.state.status === 'paused') && usesVolume(r, name));
  }
}

function onlyOne<T>(list: T[]): T | undefined {
  return list.length === 1 ? list[0] : undefined;
}

function usesVolume(r: ContainerRecord, name: string): boolean {
  return r.mountPoints.some((m) => m.type === 'volume' && m.name === name);
}

/** A bind source's stat(2): synchronous (a cached inode as a rule), one per mount at every start. */
async function exists(p: string): Promise<boolean> {
  try {
    statSync(p);
    return true;
  } catch (err) {
    if (isErrno(err, 'ENOENT') || isErrno(err, 'ENOTDIR')) return false;
    throw err;
  }
}

/** Docker's copy-up: an empty volume gets the image's files at the mount point, owners and modes kept. */
async function copyUp(rootfs: string, destination: string, volumeDir: string): Promise<void> {
  const src = await resolveInRoot(rootfs, destination);
  try {
    await copyTreeUp(src, volumeDir);
  } catch (err) {
    throw internal(`cannot copy the image's content at ${destination} into volume ${volumeDir}: ${(err as Error).message}`, err);
  }
}
