/**
 * `docker ps` selection: which containers a list request returns, with dockerd's
 * filters (id, name, status, exited, label, ancestor, before, since, volume,
 * network, health, is-task, isolation, publish, expose). The API parses the
 * query into FilterArgs; everything else happens here.
 */
import { checkFilterKeys, filterBool, invalidArgument, matchLabelFilters, type FilterArgs } from '../common';
import type { ContainerRecord } from './container-model';
import type { ContainerService } from './containers';

export interface ContainerQuery {
  /** Stopped containers too (implied by a limit, a status or an exited filter). */
  all?: boolean;
  /** At most this many, newest first; 0 or absent is no limit. */
  limit?: number;
  filters?: FilterArgs;
}

const KEYS = ['ancestor', 'before', 'exited', 'id', 'isolation', 'label', 'name', 'status', 'health', 'since', 'volume', 'network', 'is-task', 'publish', 'expose'];
const STATES = ['created', 'running', 'paused', 'restarting', 'removing', 'exited', 'dead'];
const HEALTH = ['none', 'starting', 'healthy', 'unhealthy'];

/**
 * The containers a list request selects, in the service's order. Unknown keys
 * and malformed values are invalid-argument in dockerd's words; a before/since
 * container that does not exist is the service's not-found.
 */
export function queryContainers(svc: ContainerService, q: ContainerQuery): ContainerRecord[] {
  const filters = q.filters ?? new Map<string, string[]>();
  checkFilterKeys(filters, KEYS);
  for (const v of filters.get('exited') ?? []) if (!/^-?\d+$/.test(v)) throw invalidArgument(`invalid filter 'exited=${v}'`);
  for (const v of filters.get('status') ?? []) if (!STATES.includes(v)) throw invalidArgument(`invalid filter 'status=${v}'`);
  for (const v of filters.get('health') ?? []) if (!HEALTH.includes(v)) throw invalidArgument(`invalid filter 'health=${v}': invalid value for health (${v}): must be one of ${HEALTH.join(', ')}`);
  const isTask = filterBool(filters, 'is-task');
  const limit = q.limit !== undefined && q.limit > 0 ? q.limit : undefined;
  const all = q.all || limit !== undefined || filters.has('status') || filters.has('exited');
  let list = svc.list().filter((r) => all || r.state.status === 'running' || r.state.status === 'paused' || r.state.status === 'restarting');
  // before/since name a container; resolve it once (an unknown one is a 404, as in Docker).
  const createdOf = (key: string) => filters.get(key)?.filter(Boolean).map((v) => svc.get(v).created);
  const before = createdOf('before');
  const since = createdOf('since');
  if (before?.length) list = list.filter((r) => before.every((t) => r.created < t));
  if (since?.length) list = list.filter((r) => since.every((t) => r.created > t));
  list = list.filter((r) => matches(r, filters) && (isTask === undefined || !isTask));
  return limit !== undefined ? list.slice(0, limit) : list;
}

function matches(r: ContainerRecord, filters: FilterArgs): boolean {
  if (!matchLabelFilters(filters.get('label'), r.spec.labels)) return false;
  for (const [key, values] of filters) {
    if (values.length === 0) continue;
    const ok = values.some((v) => {
      switch (key) {
        case 'id': return r.id.startsWith(v);
        case 'name': return userRegExp(v).test(`/${r.name}`);
        case 'status': return r.state.status === v;
        case 'exited': return r.state.status === 'exited' && r.state.exitCode === Number(v);
        case 'ancestor': return r.image === v || r.imageId === v || r.imageId.startsWith(`sha256:${v}`) || r.image === `${v}:latest`;
        case 'volume': return r.mountPoints.some((m) => m.destination === v || m.name === v || m.source === v);
        case 'network': return networkMode(r) === v || Object.keys(r.spec.network.endpoints).includes(v);
        case 'health': return (r.state.health?.status ?? 'none') === v;
        case 'isolation': return v === 'default';
        case 'publish': return portMatches(Object.keys(r.spec.network.portBindings ?? {}), v);
        case 'expose': return portMatches(r.spec.network.exposedPorts ?? [], v);
        // Matched above (label: all values at once) or in queryContainers.
        default: return true;
      }
    });
    if (!ok) return false;
  }
  return true;
}

/** `80`, `80/udp`, `8000-8080/tcp` against port keys such as `80/tcp`. */
function portMatches(keys: readonly string[], filter: string): boolean {
  const [range = '', proto] = filter.split('/');
  const [lo, hi = lo] = range.split('-').map(Number);
  return keys.some((k) => {
    const [p, kp = 'tcp'] = k.split('/');
    const n = Number(p);
    return n >= lo! && n <= hi! && (!proto || proto === kp);
  });
}

function networkMode(r: ContainerRecord): string {
  const mode = r.spec.network.mode;
  return mode !== undefined && mode !== '' && mode !== 'default' ? mode : 'bridge';
}

function userRegExp(pattern: string): RegExp {
  try {
    return new RegExp(pattern);
  } catch (err) {
    throw invalidArgument(`invalid name filter ${JSON.stringify(pattern)}: ${(err as Error).message}`);
  }
}
