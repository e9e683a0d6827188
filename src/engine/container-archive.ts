/**
 * `docker cp`: stat, read and write paths of a container (HEAD, GET and PUT
 * /containers/{id}/archive), running or not.
 *
 * Contract
 * - Every operation runs under the container's lock. A container that is not running
 *   has its root filesystem mounted for the operation and unmounted after (unless it
 *   started meanwhile, which the lock prevents); a running one is used as mounted.
 * - Paths resolve inside the container, with its volumes, binds and network files
 *   (/etc/hostname, /etc/hosts, /etc/resolv.conf) laid over its root (storage
 *   ContainerFs): nothing outside the container's root or its mounts' sources is ever
 *   read or written, and a write into a volume lands in the volume.
 * - tmpfs mounts of a running container live only in its mount namespace: paths in
 *   them are refused rather than silently read from the root filesystem underneath.
 * - Errors keep dockerd's words: a missing path is not-found "Could not find the file
 *   <path> in container <ref>"; a PUT onto a non-directory is invalid-argument
 *   "extraction point is not a directory"; read-only mounts and roots are refused as
 *   dockerd refuses them.
 * - Events: `archive-path` after a GET is served, `extract-to-dir` after a PUT.
 * - Crash safety: a PUT makes each file under a temporary name and renames it into
 *   place; the directories that get such names go to `<container dir>/cp-journal`
 *   first (written by the extraction's worker thread), and what a crash left behind is
 *   removed by `recover` (berthd start) or before the next copy.
 */
import { existsSync, promises as fsp } from 'node:fs';
import { join, posix } from 'node:path';
import type { Readable } from 'node:stream';
import { invalidArgument, isErrno, log, notFound } from '../common';
import { idUnshifter, resolveUser, type IdMappings } from '../runtime';
import type { KeyedMutex } from '../state';
import { ContainerFs, isGoDir, mapTarOwners, type PathStat, type Snapshotter } from '../storage';
import { isLive, type ContainerEvents, type ContainerRecord } from './container-model';
import type { ContainerStore } from './container-store';

export type { PathStat } from '../storage';

/**
 * Gets the stat of the path (for the header) and its tar, which it must read to its end
 * (or destroy) before it resolves. `recycle`, when given, takes back each chunk of the tar
 * once the consumer is done with it (written to the socket), for the next chunks.
 */
export type ArchiveConsumer = (stat: PathStat, tar: Readable, recycle?: (chunk: Buffer) => void) => Promise<void>;

export interface ExtractRequest {
  /** Refuse to replace a directory with a non-directory or the reverse. */
  noOverwriteDirNonDir: boolean;
  /** Give every entry the container's user as owner (`docker cp -a`). */
  copyUIDGID: boolean;
}

export class ContainerArchive {
  constructor(
    private readonly store: ContainerStore,
    private readonly snapshots: Snapshotter,
    private readonly lock: KeyedMutex,
    private readonly events: ContainerEvents,
    /** berthd's --userns-remap: files on disk belong to shifted ids. */
    private readonly userns?: IdMappings,
  ) {}

  async stat(ref: string, path: string): Promise<PathStat> {
    const rec = this.store.get(ref);
    return this.withFs(rec, async (fs) => {
      this.refuseTmpfs(rec, await fs.resolve(path, false));
      const st = await fs.stat(path);
      if (!st) throw fileNotFound(path, ref);
      return st;
    });
  }

  /**
   * Streams the tar of `path` to `consume`, which gets its stat first (for the header)
   * and must read the stream to its end (or destroy it) before it resolves.
   */
  async get(ref: string, path: string, consume: ArchiveConsumer): Promise<void> {
    const rec = this.store.get(ref);
    await this.withFs(rec, async (fs) => {
      this.refuseTmpfs(rec, await fs.resolve(path, false));
      const got = await fs.tar(path);
      if (!got) throw fileNotFound(path, ref);
      const tar = this.ownersAsContainerSees(got.stream);
      try {
        await consume(got.stat, tar, tar === got.stream ? got.recycle : undefined);
      } finally {
        tar.destroy();
        got.stream.destroy();
      }
    });
    this.events.emit('container', 'archive-path', rec.id, { image: rec.image, name: rec.name });
  }

  /** Unpacks the tar `input` into the directory `path` of the container. */
  async put(ref: string, path: string, input: Readable, req: ExtractRequest): Promise<void> {
    const rec = this.store.get(ref);
    await this.withFs(rec, async (fs) => {
      const dest = await fs.resolve(path, true);
      this.refuseTmpfs(rec, dest);
      const st = await fs.stat(dest);
      if (!st) throw fileNotFound(path, ref);
      if (!isGoDir(st.mode)) throw invalidArgument('extraction point is not a directory');
      const refusal = fs.writeRefusal(dest);
      if (refusal) throw invalidArgument(refusal);
      let owner: { uid: number; gid: number } | undefined;
      if (req.copyUIDGID && rec.spec.process.user) {
        const u = resolveUser(fs.rootfs, rec.spec.process.user);
        owner = { uid: u.uid, gid: u.gid };
      }
      // The journal names each directory before a temporary file is made in it: after a crash (kill -9
      // mid-copy) the next look at this container removes what the copy left half-made.
      try {
        await fs.extract(input, dest, {
          noOverwriteDirNonDir: req.noOverwriteDirNonDir,
          ...(owner ? { owner } : {}),
          ...(this.userns ? { idMap: this.userns } : {}),
          journal: this.journalPath(rec),
        });
      } finally {
        await fsp.rm(this.journalPath(rec), { force: true });
      }
    });
    this.events.emit('container', 'extract-to-dir', rec.id, { image: rec.image, name: rec.name });
  }

  /**
   * Removes what a copy interrupted by a crash left half-made in the container (see
   * put). berthd runs it for every container at start; every copy runs it first too.
   */
  async recover(rec: ContainerRecord): Promise<void> {
    if (!existsSync(this.journalPath(rec))) return;
    await this.withFs(rec, async () => undefined);
  }

  /** With --userns-remap, the tar's owners shifted back to the ids the container sees. */
  private ownersAsContainerSees(tar: Readable): Readable {
    if (!this.userns) return tar;
    const back = idUnshifter(this.userns);
    const out = mapTarOwners({ uid: (id) => back({ uid: id, gid: 0 }).uid, gid: (id) => back({ uid: 0, gid: id }).gid });
    tar.on('error', (e) => out.destroy(e));
    return tar.pipe(out);
  }

  private journalPath(rec: ContainerRecord): string {
    return join(this.store.dir(rec.id), 'cp-journal');
  }

  private withFs<T>(rec: ContainerRecord, fn: (fs: ContainerFs) => Promise<T>): Promise<T> {
    return this.lock.run(rec.id, async () => {
      if (!this.store.has(rec.id) || rec.state.status === 'removing') throw notFound(`No such container: ${rec.id}`);
      const live = isLive(rec);
      const rootfs = live ? this.snapshots.mergedDir(rec.id) : await this.snapshots.mount(rec.id);
      try {
        const fs = new ContainerFs(rootfs, this.mountsOf(rec), rec.spec.security.readonlyRootfs);
        await this.removeLeftovers(rec, fs);
        return await fn(fs);
      } finally {
        if (!live && !isLive(rec)) await this.snapshots.unmount(rec.id).catch((err) => log.warn('unmount after cp failed', { id: rec.id, error: String(err) }));
      }
    });
  }

  /**
   * What is laid over the container's root for a copy: its volumes and binds, and the
   * network files berthd binds at /etc/hostname, /etc/hosts and /etc/resolv.conf (those of
   * the container whose network it joins with --network container:X), unless a volume or
   * bind of the user's covers them. Network files not written yet (a container never
   * started) leave the root's own files visible, as the running container would see them.
   */
  private mountsOf(rec: ContainerRecord): { destination: string; source: string; rw: boolean }[] {
    const mounts = rec.mountPoints
      .filter((m) => m.type === 'volume' || m.type === 'bind')
      .map((m) => ({ destination: posix.normalize(m.destination), source: m.source, rw: m.rw }));
    const net = rec.spec.network.mode ?? '';
    const files = (net.startsWith('container:') ? this.findRef(net.slice('container:'.length)) : undefined) ?? rec;
    for (const [destination, source] of [['/etc/hostname', files.hostnamePath], ['/etc/hosts', files.hostsPath], ['/etc/resolv.conf', files.resolvConfPath]] as const) {
      if (mounts.some((m) => m.destination === destination)) continue;
      if (existsSync(source)) mounts.push({ destination, source, rw: true });
    }
    return mounts;
  }

  private findRef(ref: string): ContainerRecord | undefined {
    try {
      return this.store.get(ref);
    } catch {
      return undefined;
    }
  }

  private async removeLeftovers(rec: ContainerRecord, fs: ContainerFs): Promise<void> {
    let text: string;
    try {
      text = await fsp.readFile(this.journalPath(rec), 'utf8');
    } catch (err) {
      if (isErrno(err, 'ENOENT')) return;
      throw err;
    }
    const paths = text.split('\n').filter(Boolean);
    await fs.removeLeftovers(paths);
    await fsp.rm(this.journalPath(rec), { force: true });
    log.info('removed what an interrupted cp left in the container', { id: rec.id, files: paths.length });
  }

  private refuseTmpfs(rec: ContainerRecord, cpath: string): void {
    if (!isLive(rec)) return;
    for (const m of rec.mountPoints) {
      if (m.type !== 'tmpfs') continue;
      if (cpath === m.destination || cpath.startsWith(`${posix.normalize(m.destination)}/`)) {
        throw invalidArgument(`cannot copy to or from ${cpath}: it is in a tmpfs mount of the running container, which berth cannot reach from outside it`);
      }
    }
  }
}

function fileNotFound(path: string, ref: string) {
  return notFound(`Could not find the file ${path} in container ${ref}`);
}
