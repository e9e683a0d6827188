/**
 * The container records: `<dataRoot>/containers/<id>/container.json`, one per
 * container, held in memory while berthd runs, and the notifications the container
 * services wait on (created, exited, removed).
 *
 * Contract:
 * - `load` reads every record; one written by an older berthd is upgraded to
 *   `CONTAINER_RECORD_VERSION` (and rewritten on its next save). Version 1 (no
 *   `version` field) kept Docker's request JSON as `config`/`hostConfig`: it needs the
 *   `LegacySpecReader` the engine was given; without one such records are skipped
 *   with a warning, as unreadable ones are.
 * - `trash` takes a record's dir out of `containers/` at once (a removal's point of no
 *   return); `purge` deletes it later, and `trashed` lists what a crash left in the trash.
 * - `get` finds a record by full id, name (with or without '/') or unique id prefix;
 *   not-found and ambiguous prefixes throw (404 / 400 wording of dockerd).
 */
import { EventEmitter } from 'node:events';
import { mkdirSync, promises as fsp, readdirSync, readFileSync, renameSync } from 'node:fs';
import { join } from 'node:path';
import { invalidArgument, isErrno, log, notFound, type ContainerId } from '../common';
import { deleteInBackground, writeJSONAtomic } from '../state';
import { CONTAINER_RECORD_VERSION, type ContainerRecord, type ContainerSpec, type MountPointRecord } from './container-model';

/** Version 1 records' Docker Config and HostConfig → the spec (api/ provides it). */
export type LegacySpecReader = (config: Record<string, unknown>, hostConfig: Record<string, unknown>) => ContainerSpec;

export class ContainerStore {
  private readonly records = new Map<ContainerId, ContainerRecord>();
  /** 'created:<id>' once runc created it, 'exit:<id>' after each exit is recorded, 'removed:<id>' after removal. */
  private readonly signals = new EventEmitter();

  constructor(
    private readonly dataRoot: string,
    private readonly legacy?: LegacySpecReader,
  ) {
    this.signals.setMaxListeners(0);
  }

  dir(id: string): string {
    return join(this.dataRoot, 'containers', id);
  }

  private trashDir(id: string): string {
    return join(this.dataRoot, 'trash', id);
  }

  async load(): Promise<void> {
    await fsp.mkdir(join(this.dataRoot, 'containers'), { recursive: true });
    await fsp.mkdir(join(this.dataRoot, 'trash'), { recursive: true });
    for (const id of readdirSync(join(this.dataRoot, 'containers'))) {
      try {
        const rec = upgradeRecord(JSON.parse(readFileSync(join(this.dir(id), 'container.json'), 'utf8')) as Record<string, unknown>, this.legacy);
        this.records.set(rec.id, rec);
      } catch (err) {
        log.warn('skipping unreadable container record', { id, error: String(err) });
      }
    }
  }

  /**
   * Writes the record. Its state changes on every start and exit; what conmon and runc
   * keep lets the engine correct it after a crash, so only the first write (at
   * create) waits for the disk.
   */
  async save(rec: ContainerRecord, durable = false): Promise<void> {
    await writeJSONAtomic(join(this.dir(rec.id), 'container.json'), rec, { durable });
  }

  get(ref: string): ContainerRecord {
    const byId = this.records.get(ref as ContainerId);
    if (byId) return byId;
    const name = ref.replace(/^\//, '');
    for (const r of this.records.values()) if (r.name === name) return r;
    if (/^[a-f0-9]+$/.test(ref)) {
      const matches = [...this.records.values()].filter((r) => r.id.startsWith(ref));
      if (matches.length === 1) return matches[0]!;
      if (matches.length > 1) throw invalidArgument(`multiple containers found with provided prefix: ${ref}`);
    }
    throw notFound(`No such container: ${ref}`);
  }

  /** By exact id, or undefined. */
  find(id: string): ContainerRecord | undefined {
    return this.records.get(id as ContainerId);
  }

  has(id: string): boolean {
    return this.records.has(id as ContainerId);
  }

  /** Newest first. */
  list(): ContainerRecord[] {
    return [...this.records.values()].sort((a, b) => (a.created < b.created ? 1 : a.created > b.created ? -1 : 0));
  }

  /** The id of the container using `name`, if any. */
  nameTaken(name: string): string | undefined {
    for (const r of this.records.values()) if (r.name === name) return r.id;
    return undefined;
  }

  add(rec: ContainerRecord): void {
    this.records.set(rec.id, rec);
  }

  delete(id: string): void {
    this.records.delete(id as ContainerId);
  }

  // ---- removal ----------------------------------------------------------------

  /**
   * Moves the record's dir to `<dataRoot>/trash/<id>` (one rename): from then on a
   * restarted berthd does not load the container, and finds it in `trashed()` to finish
   * its removal. A dir already gone is fine.
   */
  async trash(id: string): Promise<void> {
    for (let attempt = 0; ; attempt++) {
      try {
        // One rename of a directory: synchronous, not a trip through the thread pool.
        renameSync(this.dir(id), this.trashDir(id));
        return;
      } catch (err) {
        if (!isErrno(err, 'ENOENT')) throw err;
        // No dir, or no trash dir yet (load not called): make it once and look again.
        if (attempt > 0) return;
        mkdirSync(join(this.dataRoot, 'trash'), { recursive: true });
      }
    }
  }

  /** The containers in the trash, each with its record when that is still readable. */
  async trashed(): Promise<Array<{ id: string; rec: ContainerRecord | undefined }>> {
    const out: Array<{ id: string; rec: ContainerRecord | undefined }> = [];
    let names: string[];
    try {
      names = await fsp.readdir(join(this.dataRoot, 'trash'));
    } catch (err) {
      if (isErrno(err, 'ENOENT')) return out;
      throw err;
    }
    for (const id of names) {
      let rec: ContainerRecord | undefined;
      try {
        rec = upgradeRecord(JSON.parse(await fsp.readFile(join(this.trashDir(id), 'container.json'), 'utf8')) as Record<string, unknown>, this.legacy);
      } catch {
        rec = undefined;
      }
      out.push({ id, rec });
    }
    return out;
  }

  /** Deletes a trashed container's dir (its record, logs, hosts files). */
  async purge(id: string): Promise<void> {
    await deleteInBackground(this.trashDir(id));
  }

  // ---- notifications --------------------------------------------------------

  emit(what: 'created' | 'removed', id: string): void;
  emit(what: 'exit', id: string, code: number): void;
  emit(what: string, id: string, code?: number): void {
    this.signals.emit(`${what}:${id}`, code);
  }

  once(what: 'created' | 'exit' | 'removed', id: string, fn: () => void): () => void {
    this.signals.once(`${what}:${id}`, fn);
    return () => this.signals.off(`${what}:${id}`, fn);
  }

  /** True at the container's next exit (or removal); false after `timeoutMs`, never without one. */
  nextExit(id: string, timeoutMs?: number): Promise<boolean> {
    return new Promise((resolve) => {
      const done = (v: boolean) => {
        offExit();
        offRemoved();
        if (timer) clearTimeout(timer);
        resolve(v);
      };
      const offExit = this.once('exit', id, () => done(true));
      const offRemoved = this.once('removed', id, () => done(true));
      const timer = timeoutMs !== undefined ? setTimeout(() => done(false), timeoutMs) : undefined;
    });
  }
}

/** Version 1: the record as berthd wrote it before the model. */
interface RecordV1 {
  config: Record<string, unknown>;
  hostConfig: Record<string, unknown>;
  mountPoints?: MountPointRecord[];
}

/**
 * A record as read from disk → the current version. The v1 config was already the
 * effective one (the image's settings merged in), so it carries over as it is.
 */
export function upgradeRecord(raw: Record<string, unknown>, legacy: LegacySpecReader | undefined): ContainerRecord {
  if (raw.version === CONTAINER_RECORD_VERSION) return raw as unknown as ContainerRecord;
  if (raw.version !== undefined) throw invalidArgument(`container record version ${String(raw.version)} is newer than this berthd understands (${CONTAINER_RECORD_VERSION})`);
  if (!legacy) throw invalidArgument('container record of version 1 and no reader for it was given');
  const { config, hostConfig, mountPoints, ...rest } = raw as unknown as RecordV1 & Record<string, unknown>;
  const spec = legacy(config, hostConfig);
  return { ...(rest as unknown as Omit<ContainerRecord, 'version' | 'spec' | 'mountPoints'>), version: CONTAINER_RECORD_VERSION, spec, mountPoints: mountPoints ?? [] };
}
