/**
 * The only Engine API calls the dashboard's page may make, as method + path pattern.
 *
 * Contract: `matchRoute(method, path)` takes the path the page asked for under /api
 * (already split from its query) and returns the route and the API path to send, or
 * undefined when no route allows it. Each `{id}` segment is one percent-decoded path
 * segment of a safe alphabet (no '/', no '..'); `{name*}` (image references) may hold
 * '/' between such segments. The API path is rebuilt from the decoded parts, so what
 * reaches the engine is always one of the patterns below, never a path the page chose.
 * Only the listed query parameters are passed on; the rest are dropped.
 */

export interface Route {
  method: 'GET' | 'POST' | 'DELETE';
  /** '/containers/{id}/start' style; `{id}` is one segment, `{name*}` one or more. */
  pattern: string;
  /** Query parameters passed on to the engine. */
  query: readonly string[];
  /** Changes engine state: refused (403) in read-only mode. */
  mutating: boolean;
  /** The request carries a JSON body (bounded in size) to pass on. */
  body?: boolean;
  /**
   * The only fields the body may have ('HostConfig.X' for one level down): the page's forms
   * need no more, so a page cannot ask for a privileged container or host namespaces.
   */
  fields?: readonly string[];
  /** A further check of the body's values (after `fields`): why it is refused, or undefined. */
  check?: (body: Record<string, unknown>) => string | undefined;
}

const CREATE_FIELDS = [
  'Image', 'Cmd', 'Env', 'ExposedPorts', 'Labels', 'Tty', 'OpenStdin', 'WorkingDir', 'HostConfig',
  'HostConfig.PortBindings', 'HostConfig.Binds', 'HostConfig.RestartPolicy',
] as const;

const isPlainObject = (v: unknown): v is Record<string, unknown> => typeof v === 'object' && v !== null && !Array.isArray(v);

/**
 * A network the page may create: a bridge (the driver may be left out), optionally internal,
 * with string labels and at most one IPAM config of Subnet and Gateway (strings); nothing
 * else (no driver options, no IPv6, no attachable or ingress flags).
 */
function networkCreateProblem(b: Record<string, unknown>): string | undefined {
  if (typeof b.Name !== 'string' || b.Name === '') return 'Name must be a non-empty string';
  if (b.Driver !== undefined && b.Driver !== 'bridge') return 'the dashboard creates bridge networks only (Driver "bridge")';
  if (b.Internal !== undefined && typeof b.Internal !== 'boolean') return 'Internal must be true or false';
  if (b.Labels !== undefined && (!isPlainObject(b.Labels) || Object.values(b.Labels).some((v) => typeof v !== 'string'))) return 'Labels must map names to strings';
  if (b.IPAM !== undefined) {
    const ipam = b.IPAM as Record<string, unknown>;
    const cfg = ipam.Config;
    if (cfg === undefined) return undefined;
    if (!Array.isArray(cfg) || cfg.length > 1) return 'IPAM.Config must be a list of at most one subnet';
    for (const c of cfg) {
      if (!isPlainObject(c)) return 'IPAM.Config entries must be objects';
      for (const [k, v] of Object.entries(c)) {
        if (k !== 'Subnet' && k !== 'Gateway') return `the dashboard does not pass IPAM.Config.${k} on to the engine`;
        if (typeof v !== 'string') return `IPAM.Config.${k} must be a string`;
      }
    }
  }
  return undefined;
}

const CONTAINER_ACTIONS = ['start', 'stop', 'restart', 'pause', 'unpause', 'kill'] as const;

export const ROUTES: readonly Route[] = [
  { method: 'GET', pattern: '/_ping', query: [], mutating: false },
  { method: 'GET', pattern: '/version', query: [], mutating: false },
  { method: 'GET', pattern: '/info', query: [], mutating: false },
  { method: 'GET', pattern: '/system/df', query: ['type'], mutating: false },
  { method: 'GET', pattern: '/events', query: ['since', 'until', 'filters'], mutating: false },
  { method: 'GET', pattern: '/containers/json', query: ['all', 'filters', 'size', 'limit'], mutating: false },
  { method: 'GET', pattern: '/containers/{id}/json', query: ['size'], mutating: false },
  { method: 'GET', pattern: '/containers/{id}/top', query: ['ps_args'], mutating: false },
  { method: 'GET', pattern: '/containers/{id}/logs', query: ['follow', 'stdout', 'stderr', 'timestamps', 'tail', 'since', 'until'], mutating: false },
  { method: 'POST', pattern: '/containers/create', query: ['name'], mutating: true, body: true, fields: CREATE_FIELDS },
  ...CONTAINER_ACTIONS.map((a): Route => ({ method: 'POST', pattern: `/containers/{id}/${a}`, query: a === 'kill' ? ['signal'] : a === 'stop' || a === 'restart' ? ['t'] : [], mutating: true })),
  { method: 'DELETE', pattern: '/containers/{id}', query: ['force', 'v'], mutating: true },
  { method: 'GET', pattern: '/images/json', query: ['all', 'filters'], mutating: false },
  { method: 'GET', pattern: '/images/{name*}/json', query: [], mutating: false },
  { method: 'GET', pattern: '/images/{name*}/history', query: [], mutating: false },
  { method: 'POST', pattern: '/images/create', query: ['fromImage', 'tag', 'platform'], mutating: true },
  { method: 'DELETE', pattern: '/images/{name*}', query: ['force', 'noprune'], mutating: true },
  { method: 'POST', pattern: '/images/prune', query: ['filters'], mutating: true },
  { method: 'GET', pattern: '/volumes', query: ['filters'], mutating: false },
  { method: 'POST', pattern: '/volumes/create', query: [], mutating: true, body: true, fields: ['Name', 'Labels'] },
  { method: 'DELETE', pattern: '/volumes/{id}', query: ['force'], mutating: true },
  { method: 'GET', pattern: '/networks', query: ['filters'], mutating: false },
  { method: 'GET', pattern: '/networks/{id}', query: [], mutating: false },
  { method: 'POST', pattern: '/networks/create', query: [], mutating: true, body: true, fields: ['Name', 'Driver', 'Labels', 'Internal', 'IPAM', 'IPAM.Config'], check: networkCreateProblem },
  { method: 'DELETE', pattern: '/networks/{id}', query: [], mutating: true },
];

export interface RouteMatch {
  route: Route;
  /** The path to send to the engine, rebuilt from decoded, checked segments. */
  apiPath: string;
}

/** Container ids and names, volume and network names. */
const SEGMENT = /^[A-Za-z0-9][A-Za-z0-9_.-]*$/;
/** One segment of an image reference: registry host[:port], repository parts, tag or digest. */
const REF_SEGMENT = /^[A-Za-z0-9][A-Za-z0-9_.:@+-]*$/;

function decode(seg: string): string | undefined {
  try {
    return decodeURIComponent(seg);
  } catch {
    return undefined;
  }
}

export function matchRoute(method: string, path: string): RouteMatch | undefined {
  const parts = path.split('/').slice(1).map(decode);
  if (parts.some((p) => p === undefined || p === '' || p === '.' || p === '..' || p.includes('/'))) return undefined;
  const segs = parts as string[];
  for (const route of ROUTES) {
    if (route.method !== method) continue;
    const pat = route.pattern.split('/').slice(1);
    const star = pat.indexOf('{name*}');
    let out: string[] | undefined;
    if (star < 0) {
      if (pat.length !== segs.length) continue;
      out = [];
      for (let i = 0; i < pat.length; i++) {
        const p = pat[i]!;
        const s = segs[i]!;
        if (p === '{id}') {
          if (!SEGMENT.test(s)) { out = undefined; break; }
          out.push(encodeURIComponent(s));
        } else if (p === s) out.push(s);
        else { out = undefined; break; }
      }
    } else {
      const before = pat.slice(0, star);
      const after = pat.slice(star + 1);
      const nameLen = segs.length - before.length - after.length;
      if (nameLen < 1) continue;
      if (before.some((p, i) => p !== segs[i]) || after.some((p, i) => p !== segs[before.length + nameLen + i])) continue;
      const name = segs.slice(before.length, before.length + nameLen);
      if (!name.every((s) => REF_SEGMENT.test(s))) continue;
      out = [...before, ...name.map(encodeURIComponent), ...after];
    }
    if (out) return { route, apiPath: '/' + out.join('/') };
  }
  return undefined;
}

/** The query to send: only the route's parameters, each value as the page gave it. */
export function filterQuery(route: Route, params: URLSearchParams): Record<string, string | string[]> {
  const out: Record<string, string | string[]> = {};
  for (const k of route.query) {
    const vs = params.getAll(k);
    if (vs.length === 1) out[k] = vs[0]!;
    else if (vs.length > 1) out[k] = vs;
  }
  return out;
}

/** Why the body is refused (a field the route does not allow, or not an object), or undefined. */
export function bodyProblem(route: Route, body: unknown): string | undefined {
  if (!route.fields) return undefined;
  if (typeof body !== 'object' || body === null || Array.isArray(body)) return 'the request body must be a JSON object';
  const allowed = new Set(route.fields);
  const check = (obj: Record<string, unknown>, prefix: string): string | undefined => {
    for (const [k, v] of Object.entries(obj)) {
      const key = prefix + k;
      if (!allowed.has(key)) return `the dashboard does not pass ${key} on to the engine`;
      if (!prefix && [...allowed].some((a) => a.startsWith(`${key}.`)) && v !== null && v !== undefined) {
        if (typeof v !== 'object' || Array.isArray(v)) return `${key} must be an object`;
        const inner = check(v as Record<string, unknown>, `${key}.`);
        if (inner) return inner;
      }
    }
    return undefined;
  };
  return check(body as Record<string, unknown>, '') ?? route.check?.(body as Record<string, unknown>);
}
