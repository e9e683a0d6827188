/**
 * Volume use cases over the volume store (storage/volumes.ts): what `docker volume`
 * and the /volumes API ask for, with dockerd's filters and prune rules. Records,
 * mounts and who-uses-what stay in the store; this adds only the query semantics.
 *
 * Filters are Docker's (common/filters.ts): list takes `dangling`, `name`, `label`,
 * `driver`; prune takes `label`, `label!`, `all`. Prune removes unused anonymous
 * volumes only, unless `all` is true or the caller asks for the old default
 * (`allByDefault`, API < 1.42), and never a volume mounted from driver options
 * (nothing would be reclaimed), as dockerd.
 */
import { checkFilterKeys, filterBool, invalidArgument, log, matchLabelArgs, matchLabelFilters, type FilterArgs } from '../common';
import { isAnonymous, type CreateVolumeOptions, type VolumeRecord, type VolumeStore, type VolumeUsage } from '../storage';

const LIST_FILTERS = ['dangling', 'name', 'label', 'driver'];
const PRUNE_FILTERS = ['label', 'label!', 'all'];

export interface VolumePruneReport {
  /** Names removed, in name order; empty (never null) when nothing was. */
  deleted: string[];
  spaceReclaimed: number;
}

export class VolumeService {
  constructor(private readonly store: VolumeStore) {}

  /** Volumes in name order, filtered. Unknown keys and bad booleans are invalid-argument. */
  list(filters: FilterArgs = new Map()): VolumeRecord[] {
    checkFilterKeys(filters, LIST_FILTERS);
    const dangling = filterBool(filters, 'dangling');
    const names = filters.get('name') ?? [];
    const drivers = filters.get('driver') ?? [];
    return this.store.list().filter((v) => {
      if (drivers.length && !drivers.includes(v.driver)) return false;
      if (names.length && !names.some((n) => nameMatches(n, v.name))) return false;
      if (!matchLabelFilters(filters.get('label'), v.labels)) return false;
      if (dangling !== undefined && (this.store.usedBy(v.name).length === 0) !== dangling) return false;
      return true;
    });
  }

  get(name: string): VolumeRecord {
    return this.store.get(name);
  }

  /** Where the volume's content is on the host (Docker's Mountpoint). */
  dataPath(name: string): string {
    return this.store.dataPath(name);
  }

  create(o: CreateVolumeOptions): Promise<VolumeRecord> {
    return this.store.create(o);
  }

  remove(name: string, opts: { force?: boolean } = {}): Promise<void> {
    return this.store.remove(name, { force: opts.force });
  }

  usage(): Promise<VolumeUsage[]> {
    return this.store.usage();
  }

  async prune(filters: FilterArgs = new Map(), opts: { allByDefault?: boolean } = {}): Promise<VolumePruneReport> {
    checkFilterKeys(filters, PRUNE_FILTERS);
    const all = pruneAll(filters, opts.allByDefault ?? false);
    const deleted: string[] = [];
    let space = 0;
    for (const v of this.store.list()) {
      if (v.options && Object.keys(v.options).length > 0) continue;
      if (!all && !isAnonymous(v)) continue;
      if (!matchLabelArgs(filters, v.labels)) continue;
      if (this.store.usedBy(v.name).length) continue;
      const size = await this.store.size(v.name);
      try {
        await this.store.remove(v.name);
      } catch (err) {
        log.warn('prune: volume not removed', { name: v.name, error: String(err) });
        continue;
      }
      deleted.push(v.name);
      space += Math.max(0, size);
    }
    return { deleted, spaceReclaimed: space };
  }
}

/**
 * The `all` prune filter: at most one boolean word (Go's strconv.ParseBool forms), read
 * as dockerd reads it; `allByDefault` adds `all=true` first, as dockerd does for API < 1.42.
 */
function pruneAll(filters: FilterArgs, allByDefault: boolean): boolean {
  const values = new Set(filters.get('all') ?? []);
  if (allByDefault) values.add('true');
  if (values.size === 0) return false;
  if (values.size > 1) throw invalidArgument(`invalid filter 'all=[${[...values].join(' ')}]': only one value is expected`);
  const v = [...values][0]!;
  if (['1', 't', 'T', 'true', 'TRUE', 'True'].includes(v)) return true;
  if (['0', 'f', 'F', 'false', 'FALSE', 'False'].includes(v)) return false;
  throw invalidArgument(`invalid filter 'all': strconv.ParseBool: parsing ${JSON.stringify(v)}: invalid syntax`);
}

/** Docker's `name` filter: the exact name, or a regular expression found in it. */
function nameMatches(pattern: string, name: string): boolean {
  if (pattern === name) return true;
  try {
    return new RegExp(pattern).test(name);
  } catch {
    return false;
  }
}
