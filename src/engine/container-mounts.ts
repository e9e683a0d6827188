/**
 * A container's volumes, bind mounts and tmpfs mounts (Docker's HostConfig.Binds,
 * HostConfig.Mounts, HostConfig.Tmpfs and the image's VOLUME list).
 *
 * ContainerService calls `prepare` once at create (validate, create volumes, fill the
 * record's mount points), `specMounts` at every start, `stopped` after every exit, and
 * `release` at removal.
 */
import { promises as fsp } from 'node:fs';
import { posix } from 'node:path';
import { BerthError, internal, invalidArgument, isErrno, log, notFound } from '../common';
import { resolveInRoot, type MountOption } from '../runtime';
import { checkVolumeName, copyUp as copyTreeUp, type VolumeStore } from '../storage';
import type { ContainerRecord } from './containers';

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

/** One mount of a container, as kept in its record (Docker's MountPoint, our words). */
export interface MountPointRecord {
  type: 'volume' | 'bind' | 'tmpfs';
  destination: string;
  /** Host path for binds; the volume's data dir for volumes; '' for tmpfs. */
  source: string;
  /** Volume name. */
  name?: string;
  driver?: string;
  /** Docker's Mode text (`z`, `ro`, `ro,Z` …) shown by inspect. */
  mode: string;
  rw: boolean;
  /** As shown by inspect; binds default to rprivate, volumes show ''. */
  propagation: string;
  /** Fill an empty volume with the image's content at the destination. */
  copyData?: boolean;
  /** Created for this container: `rm -v` removes it. */
  anonymous?: boolean;
  /** `-v` binds create a missing host directory; `--mount` binds refuse it. */
  createSource?: boolean;
  tmpfsOptions?: string[];
  /** HostConfig.Tmpfs mounts are not listed by inspect's Mounts. */
  hidden?: boolean;
}

type WithMounts = ContainerRecord & { mountPoints?: MountPointRecord[] };

/** The container's mount points (empty for containers made before volumes existed). */
export function mountPointsOf(rec: ContainerRecord): MountPointRecord[] {
  return (rec as WithMounts).mountPoints ?? [];
}

/** Docker's inspect/summary `Mounts` entries, in our words. */
export function visibleMountPoints(rec: ContainerRecord): MountPointRecord[] {
  return mountPointsOf(rec).filter((m) => !m.hidden);
}

const PROPAGATIONS = new Set(['shared', 'rshared', 'slave', 'rslave', 'private', 'rprivate']);

const spec = (raw: string, why?: string) => invalidArgument(`invalid volume specification: '${raw}'${why ? `: ${why}` : ''}`);
const mountError = (type: string, why: string) => invalidArgument(`invalid mount config for type "${type}": ${why}`);
const notAbsolute = (p: string) => `invalid mount path: '${p}' mount path must be absolute`;

function cleanPath(p: string): string {
  const n = posix.normalize(p);
  return n.length > 1 ? n.replace(/\/+$/, '') : n;
}

/** `rw|ro`, `z|Z`, `nocopy`, one propagation: each at most once (Docker's linux mode rules). */
function parseMode(raw: string, mode: string, type: 'bind' | 'volume'): { rw: boolean; propagation: string; nocopy: boolean } {
  let rw: boolean | undefined;
  let label = false;
  let propagation = '';
  let nocopy = false;
  const bad = () => spec(raw, `invalid mode: ${mode}`);
  for (const m of mode.split(',')) {
    if (m === 'rw' || m === 'ro') {
      if (rw !== undefined) throw bad();
      rw = m === 'rw';
    } else if (m === 'z' || m === 'Z') {
      if (label) throw bad();
      label = true;
    } else if (m === 'nocopy') {
      if (nocopy || type === 'bind') throw bad();
      nocopy = true;
    } else if (PROPAGATIONS.has(m)) {
      if (propagation || type === 'volume') throw bad();
      propagation = m;
    } else throw bad();
  }
  return { rw: rw ?? true, propagation, nocopy };
}

/** One `HostConfig.Binds` entry: `/host:/ctr[:mode]`, `name:/ctr[:mode]` or `/ctr`. */
export function parseBind(raw: string): MountPointRecord {
  const parts = raw.split(':');
  if (parts.length > 3 || parts.some((p) => p === '')) throw spec(raw);
  let source = '';
  let dest: string;
  let mode = '';
  if (parts.length === 1) dest = parts[0]!;
  else {
    source = parts[0]!;
    dest = parts[1]!;
    mode = parts[2] ?? '';
  }
  const type = source.startsWith('/') ? 'bind' : 'volume';
  if (!dest.startsWith('/')) throw spec(raw, `invalid mount config for type "${type}": ${notAbsolute(dest)}`);
  const destination = cleanPath(dest);
  if (destination === '/') throw spec(raw, `invalid mount config for type "${type}": invalid specification: destination can't be '/'`);
  const m = mode ? parseMode(raw, mode, type) : { rw: true, propagation: '', nocopy: false };
  if (type === 'bind') {
    return { type, source: cleanPath(source), destination, mode, rw: m.rw, propagation: m.propagation || 'rprivate', createSource: true };
  }
  if (source) {
    try {
      checkVolumeName(source);
    } catch (err) {
      throw invalidArgument(`create ${source}: ${(err as Error).message}`, err);
    }
  }
  return {
    type,
    source: '',
    ...(source ? { name: source } : {}),
    destination,
    // Docker shows `z` for a local-driver volume given without a mode.
    mode: mode || (source ? 'z' : ''),
    rw: m.rw,
    propagation: '',
    copyData: !m.nocopy,
    ...(source ? {} : { anonymous: true }),
  };
}

interface ApiMount {
  Type?: unknown;
  Source?: unknown;
  Target?: unknown;
  ReadOnly?: unknown;
  BindOptions?: { Propagation?: unknown; CreateMountpoint?: unknown } | null;
  VolumeOptions?: { NoCopy?: unknown; Labels?: unknown; DriverConfig?: { Name?: unknown; Options?: unknown } | null } | null;
  TmpfsOptions?: { SizeBytes?: unknown; Mode?: unknown } | null;
}

export interface ParsedMount extends MountPointRecord {
  volumeLabels?: Record<string, string>;
  volumeOptions?: Record<string, string>;
}

/** One `HostConfig.Mounts` entry (`--mount`). Bind sources are checked by the caller. */
export function parseApiMount(m: ApiMount): ParsedMount {
  const type = typeof m.Type === 'string' ? m.Type : '';
  if (!['bind', 'volume', 'tmpfs'].includes(type)) throw mountError(type, 'mount type unknown');
  const t = type as 'bind' | 'volume' | 'tmpfs';
  const target = typeof m.Target === 'string' ? m.Target : '';
  const source = typeof m.Source === 'string' ? m.Source : '';
  if (!target) throw mountError(t, 'field Target must not be empty');
  if (!target.startsWith('/')) throw mountError(t, notAbsolute(target));
  const destination = cleanPath(target);
  if (destination === '/') throw mountError(t, "invalid specification: destination can't be '/'");
  const rw = m.ReadOnly !== true;
  const notAllowed = (f: string) => mountError(t, `field ${f} must not be specified`);
  if (t === 'bind') {
    if (m.VolumeOptions) throw notAllowed('VolumeOptions');
    if (m.TmpfsOptions) throw notAllowed('TmpfsOptions');
    if (!source) throw mountError(t, 'field Source must not be empty');
    if (!source.startsWith('/')) throw mountError(t, notAbsolute(source));
    const prop = typeof m.BindOptions?.Propagation === 'string' ? m.BindOptions.Propagation : '';
    if (prop && !PROPAGATIONS.has(prop)) throw mountError(t, `invalid propagation mode: ${prop}`);
    return { type: t, source: cleanPath(source), destination, mode: '', rw, propagation: prop || 'rprivate', createSource: m.BindOptions?.CreateMountpoint === true };
  }
  if (t === 'volume') {
    if (m.BindOptions) throw notAllowed('BindOptions');
    if (m.TmpfsOptions) throw notAllowed('TmpfsOptions');
    if (source) {
      try {
        checkVolumeName(source);
      } catch (err) {
        throw invalidArgument(`create ${source}: ${(err as Error).message}`, err);
      }
    }
    const vo = m.VolumeOptions ?? {};
    const driver = typeof vo.DriverConfig?.Name === 'string' ? vo.DriverConfig.Name : '';
    if (driver && driver !== 'local') throw notFound(`${source ? `create ${source}: ` : ''}error looking up volume plugin ${driver}: plugin "${driver}" not found`);
    return {
      type: t,
      source: '',
      ...(source ? { name: source } : { anonymous: true }),
      destination,
      mode: 'z',
      rw,
      propagation: '',
      copyData: vo.NoCopy !== true,
      ...(vo.Labels && typeof vo.Labels === 'object' ? { volumeLabels: vo.Labels as Record<string, string> } : {}),
      ...(vo.DriverConfig?.Options && typeof vo.DriverConfig.Options === 'object' ? { volumeOptions: vo.DriverConfig.Options as Record<string, string> } : {}),
    };
  }
  if (source) throw notAllowed('Source');
  if (m.BindOptions) throw notAllowed('BindOptions');
  if (m.VolumeOptions) throw notAllowed('VolumeOptions');
  const data: string[] = [];
  const size = m.TmpfsOptions?.SizeBytes;
  if (size !== undefined && size !== null) {
    if (typeof size !== 'number' || !Number.isInteger(size) || size < 0) throw mountError(t, 'invalid tmpfs size: SizeBytes must be a whole number of bytes');
    if (size > 0) data.push(size % 1024 === 0 ? `size=${size / 1024}k` : `size=${size}`);
  }
  const mode = m.TmpfsOptions?.Mode;
  if (mode !== undefined && mode !== null && mode !== 0) {
    if (typeof mode !== 'number' || !Number.isInteger(mode) || mode < 0 || mode > 0o7777) throw mountError(t, 'invalid tmpfs mode: Mode must be a file mode such as 1777 (octal)');
    data.push(`mode=${mode.toString(8)}`);
  }
  return { type: t, source: '', destination, mode: '', rw, propagation: '', tmpfsOptions: tmpfsOptions([...data, ...(rw ? [] : ['ro'])]) };
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
    const hc = rec.hostConfig;
    const parsed: ParsedMount[] = [];
    const taken = new Set<string>();
    const add = (m: ParsedMount) => {
      if (taken.has(m.destination)) throw invalidArgument(`Duplicate mount point: ${m.destination}`);
      taken.add(m.destination);
      parsed.push(m);
    };
    for (const b of (hc.Binds as string[] | null | undefined) ?? []) add(parseBind(b));
    const apiMounts = hc.Mounts;
    if (apiMounts !== undefined && apiMounts !== null && !Array.isArray(apiMounts)) throw invalidArgument('invalid HostConfig: field Mounts must be an array of mount objects');
    for (const m of (apiMounts as ApiMount[] | undefined) ?? []) {
      if (typeof m !== 'object' || m === null) throw invalidArgument('invalid HostConfig: each entry of Mounts must be an object');
      const p = parseApiMount(m);
      if (p.type === 'bind' && !p.createSource && !(await exists(p.source))) throw mountError('bind', `bind source path does not exist: ${p.source}`);
      add(p);
    }
    const tmpfs = hc.Tmpfs as Record<string, unknown> | null | undefined;
    for (const [dest, opts] of Object.entries(tmpfs ?? {})) {
      if (typeof opts !== 'string') throw invalidArgument(`invalid HostConfig: the options of tmpfs mount ${dest} must be a string`);
      if (!dest.startsWith('/')) throw invalidArgument(`invalid tmpfs mount: ${notAbsolute(dest)}`);
      const destination = cleanPath(dest);
      add({ type: 'tmpfs', source: '', destination, mode: '', rw: true, propagation: '', hidden: true, tmpfsOptions: tmpfsOptions(opts ? opts.split(',') : []) });
    }
    // --volumes-from: the other container's volumes and binds, where nothing above mounts.
    for (const m of this.volumesFrom(rec, hc.VolumesFrom)) {
      if (taken.has(m.destination)) continue;
      taken.add(m.destination);
      parsed.push(m);
    }
    // Anonymous volumes for VOLUME paths of the image and Config.Volumes, unless mounted already.
    const requested = Object.keys((rec.config.Volumes as Record<string, unknown> | null | undefined) ?? {});
    for (const v of [...imageVolumes, ...requested]) {
      if (!v.startsWith('/')) throw spec(v, `invalid mount config for type "volume": ${notAbsolute(v)}`);
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
    (rec as WithMounts).mountPoints = parsed.map(({ volumeLabels: _l, volumeOptions: _o, ...mp }) => mp);
  }

  /**
   * `HostConfig.VolumesFrom` entries (`CONTAINER[:ro|rw]`): that container's volume and
   * bind mounts at the same places; `ro`/`rw` overrides each mount's own mode. They are
   * shared, not owned: `rm -v` of this container leaves them.
   */
  private volumesFrom(rec: ContainerRecord, raw: unknown): ParsedMount[] {
    if (raw === undefined || raw === null) return [];
    if (!Array.isArray(raw) || raw.some((v) => typeof v !== 'string')) throw invalidArgument('invalid HostConfig: field VolumesFrom must be an array of strings');
    const out: ParsedMount[] = [];
    for (const entry of raw as string[]) {
      const [ref = '', mode, ...extra] = entry.split(':');
      if (ref === '' || extra.length > 0 || (mode !== undefined && mode !== 'ro' && mode !== 'rw')) {
        throw invalidArgument(`invalid volumes-from specification: ${entry}: use CONTAINER[:ro|rw]`);
      }
      const all = this.containers().filter((r) => r.id !== rec.id);
      const src = all.find((r) => r.id === ref || r.name === ref.replace(/^\//, '')) ?? onlyOne(all.filter((r) => /^[0-9a-f]+$/.test(ref) && r.id.startsWith(ref)));
      if (!src) throw notFound(`No such container: ${ref}`);
      for (const m of mountPointsOf(src)) {
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
      for (const m of mountPointsOf(rec)) {
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
    for (const m of mountPointsOf(rec)) {
      if (m.type !== 'volume' || !m.name) continue;
      await this.volumes.releaseMount(m.name, rec.id, (name) => this.otherRunning(rec, name)).catch((err) => log.warn('volume unmount failed', { name: m.name, error: String(err) }));
    }
  }

  async release(rec: ContainerRecord, removeVolumes: boolean): Promise<void> {
    await this.stopped(rec);
    if (!removeVolumes) return;
    for (const m of mountPointsOf(rec)) {
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
  return mountPointsOf(r).some((m) => m.type === 'volume' && m.name === name);
}

async function exists(p: string): Promise<boolean> {
  try {
    await fsp.stat(p);
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
