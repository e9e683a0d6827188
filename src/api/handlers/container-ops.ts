/**
 * Live control and accounting: pause, unpause, update, stats, top, and the event
 * stream. Handlers translate Docker's fields and shapes; the engine does the work.
 */
import os from 'node:os';
import { checkFilterKeys, errorKind, invalidArgument } from '../../common';
import { EVENT_FILTER_KEYS, matchesEventFilters, type ContainerStatsSample, type Engine, type EngineEvent, type UpdateOptions } from '../../engine';
import { sendEmpty, sendJSON, startStream } from '../http';
import { qbool, qfilters, readJSONBody, type Context, type Router } from '../router';
import { UPDATE_CONFIG, asObject } from '../validate';

const ZERO_TIME = '0001-01-01T00:00:00Z';

export function containerOpsRoutes(router: Router, engine: Engine): void {
  const svc = engine.containers;

  router.add('POST', '/containers/{id}/pause', async (ctx) => {
    await svc.pause(ctx.params[0]!);
    sendEmpty(ctx, 204);
  });

  router.add('POST', '/containers/{id}/unpause', async (ctx) => {
    await svc.unpause(ctx.params[0]!);
    sendEmpty(ctx, 204);
  });

  router.add('POST', '/containers/{id}/update', async (ctx) => {
    const body = asObject(await readJSONBody(ctx, 'update config', UPDATE_CONFIG), 'update config');
    const warnings = await svc.update(ctx.params[0]!, updateOptions(body));
    sendJSON(ctx, 200, { Warnings: warnings });
  });

  router.add('GET', '/containers/{id}/top', async (ctx) => {
    const top = await svc.top(ctx.params[0]!, ctx.query.get('ps_args') || '-ef');
    sendJSON(ctx, 200, { Titles: top.titles, Processes: top.processes });
  });

  router.add('GET', '/containers/{id}/stats', async (ctx) => {
    const id = svc.get(ctx.params[0]!).id;
    const stream = qbool(ctx.query, 'stream', true);
    const oneShot = qbool(ctx.query, 'one-shot');
    if (oneShot && stream) throw invalidArgument('cannot have stream=true and one-shot=true');
    const hostMem = os.totalmem();
    let pre = svc.stats(id);
    if (!stream) {
      // Without one-shot Docker waits for a second sample so precpu_stats (and so CPU %) is filled in.
      if (!oneShot && pre.running && (await delay(1000, ctx.abort))) {
        const cur = svc.stats(id);
        return sendJSON(ctx, 200, statsJSON(cur, pre, hostMem));
      }
      return sendJSON(ctx, 200, statsJSON(pre, undefined, hostMem));
    }
    const res = ctx.res!;
    startStream(res, 'application/json');
    res.write(JSON.stringify(statsJSON(pre, undefined, hostMem)) + '\n');
    while (await delay(1000, ctx.abort)) {
      let cur: ContainerStatsSample;
      try {
        cur = svc.stats(id);
      } catch (err) {
        // The container was removed: the stream ends. Anything else is the request's failure.
        if (errorKind(err) === 'not-found') break;
        throw err;
      }
      res.write(JSON.stringify(statsJSON(cur, pre, hostMem)) + '\n');
      pre = cur;
    }
    res.end();
  });

  router.add('GET', '/events', async (ctx) => {
    const filters = qfilters(ctx.query);
    checkFilterKeys(filters, EVENT_FILTER_KEYS);
    const now = BigInt(Date.now()) * 1_000_000n;
    const since = qtimestamp(ctx, 'since');
    const until = qtimestamp(ctx, 'until');
    if (since !== undefined && until !== undefined && until < since) throw invalidArgument('`since` time must be before `until`');
    const res = ctx.res!;
    const pass = (e: EngineEvent) => matchesEventFilters(e, filters) && (since === undefined || e.timeNano >= since) && (until === undefined || e.timeNano <= until);
    startStream(res, 'application/json');
    // Subscribe before replaying so nothing falls between the history and the live stream.
    const pending: EngineEvent[] = [];
    let replayed = false;
    let lastSent = -1n;
    const send = (e: EngineEvent) => {
      if (e.timeNano <= lastSent || !pass(e)) return;
      lastSent = e.timeNano;
      res.write(eventJSON(e));
    };
    const unsubscribe = engine.events.subscribe((e) => (replayed ? send(e) : pending.push(e)));
    try {
      if (since !== undefined) for (const e of engine.events.since(since, until)) send(e);
      replayed = true;
      for (const e of pending) send(e);
      if (until !== undefined && until <= now) return;
      const waitMs = until === undefined ? undefined : Number((until - now) / 1_000_000n) + 1;
      await delay(waitMs, ctx.abort);
    } finally {
      unsubscribe();
      res.end();
    }
  });
}

function numField(body: Record<string, unknown>, name: string): number | undefined {
  const v = body[name];
  if (v === undefined || v === null) return undefined;
  if (typeof v !== 'number' || !Number.isFinite(v)) throw invalidArgument(`invalid update config: ${name} must be a number`);
  return v;
}

function strField(body: Record<string, unknown>, name: string): string | undefined {
  const v = body[name];
  if (v === undefined || v === null) return undefined;
  if (typeof v !== 'string') throw invalidArgument(`invalid update config: ${name} must be a string`);
  return v;
}

/** Docker's UpdateConfig (Resources + RestartPolicy) → engine options. */
export function updateOptions(body: Record<string, unknown>): UpdateOptions {
  const rp = body.RestartPolicy;
  let restartPolicy: UpdateOptions['restartPolicy'];
  if (rp !== undefined && rp !== null) {
    const o = asObject(rp, 'RestartPolicy');
    const name = strField(o, 'Name') ?? '';
    const count = numField(o, 'MaximumRetryCount') ?? 0;
    // The CLI always sends a RestartPolicy; an empty one means "unchanged".
    if (name !== '' || count !== 0) restartPolicy = { name, maximumRetryCount: count };
  }
  return {
    memory: numField(body, 'Memory'),
    memorySwap: numField(body, 'MemorySwap'),
    memoryReservation: numField(body, 'MemoryReservation'),
    nanoCpus: numField(body, 'NanoCpus'),
    cpuShares: numField(body, 'CpuShares'),
    cpuPeriod: numField(body, 'CpuPeriod'),
    cpuQuota: numField(body, 'CpuQuota'),
    cpusetCpus: strField(body, 'CpusetCpus') || undefined,
    cpusetMems: strField(body, 'CpusetMems') || undefined,
    pidsLimit: numField(body, 'PidsLimit'),
    blkioWeight: numField(body, 'BlkioWeight'),
    restartPolicy,
  };
}

/** Resolves true after `ms` (never, when undefined), false as soon as the client goes away. */
function delay(ms: number | undefined, abort: AbortSignal): Promise<boolean> {
  return new Promise((resolve) => {
    if (abort.aborted) return resolve(false);
    const onAbort = () => {
      if (timer) clearTimeout(timer);
      resolve(false);
    };
    const timer =
      ms === undefined
        ? undefined
        : setTimeout(() => {
            abort.removeEventListener('abort', onAbort);
            resolve(true);
          }, ms);
    abort.addEventListener('abort', onAbort, { once: true });
  });
}

/** Docker's `since`/`until`: unix seconds with an optional fraction ("1700000000.123456789"). */
function qtimestamp(ctx: Context, name: string): bigint | undefined {
  const v = ctx.query.get(name);
  if (v === null || v === '') return undefined;
  const m = /^(-?\d+)(?:\.(\d{1,9}))?$/.exec(v.trim());
  if (m) return BigInt(m[1]!) * 1_000_000_000n + BigInt((m[2] ?? '').padEnd(9, '0') || '0');
  const t = Date.parse(v);
  if (Number.isNaN(t)) throw invalidArgument(`invalid value for ${name}: ${JSON.stringify(v)} is not a unix timestamp or an RFC 3339 time`);
  return BigInt(t) * 1_000_000n;
}

/** One event as Docker writes it on /events (time fields are integers wider than a double). */
export function eventJSON(e: EngineEvent): string {
  const legacy =
    e.type === 'container'
      ? { status: e.action, id: e.id, from: e.attributes.image ?? '' }
      : e.type === 'image'
        ? { status: e.action, id: e.id }
        : {};
  const head = JSON.stringify({ ...legacy, Type: e.type, Action: e.action, Actor: { ID: e.id, Attributes: e.attributes }, scope: 'local' });
  return `${head.slice(0, -1)},"time":${e.timeNano / 1_000_000_000n},"timeNano":${e.timeNano}}\n`;
}

const NULL_BLKIO = {
  io_service_bytes_recursive: null,
  io_serviced_recursive: null,
  io_queue_recursive: null,
  io_service_time_recursive: null,
  io_wait_time_recursive: null,
  io_merged_recursive: null,
  io_time_recursive: null,
  sectors_recursive: null,
};

function cpuJSON(s: ContainerStatsSample | undefined): Record<string, unknown> {
  const c = s?.cgroup?.cpu;
  if (!s || !c) {
    return { cpu_usage: { total_usage: 0, usage_in_kernelmode: 0, usage_in_usermode: 0 }, throttling_data: { periods: 0, throttled_periods: 0, throttled_time: 0 } };
  }
  return {
    cpu_usage: {
      total_usage: c.total,
      ...(c.perCpu ? { percpu_usage: c.perCpu } : {}),
      usage_in_kernelmode: c.systemNs,
      usage_in_usermode: c.userNs,
    },
    system_cpu_usage: s.systemCpuNs,
    online_cpus: s.onlineCpus,
    throttling_data: { periods: c.throttling.periods, throttled_periods: c.throttling.throttledPeriods, throttled_time: c.throttling.throttledTimeNs },
  };
}

/** A sample (and the previous one, for precpu) in Docker's stats shape; zeros for a stopped container. */
export function statsJSON(cur: ContainerStatsSample, pre: ContainerStatsSample | undefined, hostMemory: number): Record<string, unknown> {
  const base = { name: `/${cur.name}`, id: cur.id };
  const g = cur.cgroup;
  if (!cur.running || !g) {
    return { read: ZERO_TIME, preread: ZERO_TIME, pids_stats: {}, blkio_stats: NULL_BLKIO, num_procs: 0, storage_stats: {}, cpu_stats: cpuJSON(undefined), precpu_stats: cpuJSON(undefined), memory_stats: {}, ...base };
  }
  const m = g.memory;
  // Like dockerd: an unlimited (or larger than the machine) cgroup reports the machine's memory.
  const limit = m.limit !== undefined && m.limit < hostMemory ? m.limit : hostMemory;
  const entries = (list: { major: number; minor: number; op: string; value: number }[]) => (list.length ? list : null);
  return {
    read: cur.read.toISOString(),
    preread: pre?.running ? pre.read.toISOString() : ZERO_TIME,
    pids_stats: { current: g.pids.current, ...(g.pids.limit !== undefined ? { limit: g.pids.limit } : {}) },
    blkio_stats: { ...NULL_BLKIO, io_service_bytes_recursive: entries(g.blkio.serviceBytes), io_serviced_recursive: entries(g.blkio.serviced) },
    num_procs: 0,
    storage_stats: {},
    cpu_stats: cpuJSON(cur),
    precpu_stats: cpuJSON(pre?.running ? pre : undefined),
    memory_stats: {
      usage: m.usage,
      ...(m.maxUsage !== undefined ? { max_usage: m.maxUsage } : {}),
      stats: m.stats,
      ...(m.failcnt !== undefined ? { failcnt: m.failcnt } : {}),
      limit,
    },
    ...base,
    ...(cur.networks && Object.keys(cur.networks).length ? { networks: cur.networks } : {}),
  };
}
