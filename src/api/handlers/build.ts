/**
 * `POST /build` as the docker CLI's legacy builder (and docker-py) call it: the
 * context tar is the body; options are query parameters; the answer is a stream of
 * JSON lines (`stream` text, an `aux` with the image ID, `errorDetail` on failure).
 * `POST /build/prune` and the build cache part of `system df` sit here too.
 */
import { errorKind, familiarString, invalidArgument, log, parseReference, withDefaultTag } from '../../common';
import type { BuildRequest, CacheUsageRecord, Engine } from '../../engine';
import { sendJSON, startStream, writeJSONLine } from '../http';
import { registryConfigCredentials } from '../registry-auth';
import { qbool, qint, type Context, type Router } from '../router';

export function buildRoutes(router: Router, engine: Engine): void {
  router.add('POST', '/build', async (ctx) => {
    const req = buildRequest(ctx);
    const res = ctx.res!;
    // The reply starts with the build's first output: an error before it (a Dockerfile that
    // does not parse, say) is the reply's status, as from dockerd.
    let started = false;
    const write = (line: unknown) => {
      if (!started) {
        started = true;
        startStream(res, 'application/json');
      }
      if (res.writable) writeJSONLine(res, line);
    };
    const out = { stream: (t: string) => write({ stream: t }), aux: (v: unknown) => write({ aux: v }) };
    try {
      await (await engine.builds()).build(ctx.req, req, out);
      if (!started) startStream(res, 'application/json');
    } catch (err) {
      if (!started) {
        // The client may still be sending its context: drain it so the reply can finish.
        ctx.req.resume();
        throw err;
      }
      const message = err instanceof Error ? err.message : String(err);
      const code = (err as { exitCode?: number }).exitCode;
      if (errorKind(err) === 'internal') log.error('build failed', { requestId: ctx.requestId, error: message, stack: err instanceof Error ? err.stack : undefined });
      if (res.writable) writeJSONLine(res, { errorDetail: { ...(code ? { code } : {}), message }, error: message });
      // The client may still be sending its context: drain it so the reply can finish.
      ctx.req.resume();
    }
    res.end();
  });

  router.add('POST', '/build/prune', async (ctx) => {
    const r = await (await engine.builds()).prune();
    sendJSON(ctx, 200, { CachesDeleted: r.ids.length ? r.ids : null, SpaceReclaimed: r.bytes });
  });

  router.add('POST', '/build/cancel', (ctx) => {
    sendJSON(ctx, 200, {});
  });
}

/** The build cache records of `GET /system/df`, in Docker's shape. */
export async function buildCacheUsage(engine: Engine): Promise<unknown[]> {
  return (await (await engine.builds()).usage()).map((r: CacheUsageRecord) => ({
    ID: r.id,
    Parent: '',
    Parents: null,
    Type: r.type,
    Description: r.description,
    InUse: false,
    Shared: r.type === 'regular',
    Size: r.size,
    CreatedAt: r.created,
    LastUsedAt: r.lastUsed,
    UsageCount: r.usage,
  }));
}

function jsonParam<T>(ctx: Context, name: string, def: T): T {
  const v = ctx.query.get(name);
  if (v === null || v === '') return def;
  try {
    return JSON.parse(v) as T;
  } catch {
    throw invalidArgument(`invalid ${name} parameter: not JSON: ${v}`);
  }
}

function buildRequest(ctx: Context): BuildRequest {
  const q = ctx.query;
  const version = q.get('version');
  if (version === '2') throw invalidArgument('BuildKit builds (version=2) are not supported by this daemon: use the classic builder (DOCKER_BUILDKIT=0)');
  const tags: string[] = [];
  for (const t of q.getAll('t').filter(Boolean)) {
    let ref;
    try {
      ref = parseReference(t);
    } catch {
      throw invalidArgument(`invalid reference format: ${t}`);
    }
    if (ref.digest) throw invalidArgument(`invalid tag ${t}: a build cannot be tagged with a digest`);
    tags.push(familiarString(withDefaultTag(ref)));
  }
  const buildArgs = shaped(jsonParam<unknown>(ctx, 'buildargs', {}) ?? {}, 'buildargs', 'an object of strings (or null)', (v) => isMap(v, (x) => x === null || typeof x === 'string')) as Record<string, string | null>;
  const labels = shaped(jsonParam<unknown>(ctx, 'labels', {}) ?? {}, 'labels', 'an object of strings', (v) => isMap(v, (x) => typeof x === 'string')) as Record<string, string>;
  const cacheFrom = shaped(jsonParam<unknown>(ctx, 'cachefrom', []) ?? [], 'cachefrom', 'a list of image names', (v) => Array.isArray(v) && v.every((x) => typeof x === 'string')) as string[];
  const ulimits = shaped(jsonParam<unknown>(ctx, 'ulimits', []) ?? [], 'ulimits', 'a list of {"Name", "Soft", "Hard"}', (v) =>
    Array.isArray(v) && v.every((u) => !!u && typeof u === 'object' && typeof u.Name === 'string' && Number.isInteger(u.Soft) && Number.isInteger(u.Hard)),
  ) as { Name: string; Soft: number; Hard: number }[];
  const extraHosts = (q.get('extrahosts') ?? '').split(/[,\s]+/).filter(Boolean);
  const network = q.get('networkmode') ?? '';
  const registryAuth = registryConfigCredentials(ctx.req.headers['x-registry-config']);
  return {
    dockerfile: q.get('dockerfile') ?? 'Dockerfile',
    ...(q.get('remote') ? { remote: q.get('remote')! } : {}),
    tags,
    buildArgs,
    ...(q.get('target') ? { target: q.get('target')! } : {}),
    labels,
    noCache: qbool(q, 'nocache'),
    cacheFrom,
    quiet: qbool(q, 'q'),
    rm: qbool(q, 'rm', true),
    forceRm: qbool(q, 'forcerm'),
    ...(q.get('platform') ? { platform: q.get('platform')! } : {}),
    pull: qbool(q, 'pull'),
    ...(registryAuth ? { registryAuth } : {}),
    settings: {
      network: network === 'default' ? '' : network,
      extraHosts,
      shmSize: qint(q, 'shmsize') ?? 0,
      ulimits: ulimits.map((u) => ({ name: u.Name, soft: u.Soft, hard: u.Hard })),
      memory: qint(q, 'memory') ?? 0,
      memorySwap: qint(q, 'memswap') ?? 0,
      cpuShares: qint(q, 'cpushares') ?? 0,
      cpuPeriod: qint(q, 'cpuperiod') ?? 0,
      cpuQuota: qint(q, 'cpuquota') ?? 0,
      cpusetCpus: q.get('cpusetcpus') ?? '',
      cpusetMems: q.get('cpusetmems') ?? '',
    },
  };
}

/** A JSON query parameter of the wrong shape is the client's mistake: 400 saying what was expected. */
function shaped(v: unknown, name: string, expected: string, ok: (v: any) => boolean): unknown {
  if (!ok(v)) throw invalidArgument(`invalid ${name} parameter: expected ${expected}`);
  return v;
}

function isMap(v: unknown, value: (x: unknown) => boolean): boolean {
  return !!v && typeof v === 'object' && !Array.isArray(v) && Object.values(v).every(value);
}
