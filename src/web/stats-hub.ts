/**
 * One stats stream per container, shared by every page that watches it.
 *
 * Contract: `subscribe(id, fn)` starts the engine's `GET /containers/{id}/stats?stream=1`
 * the first time anyone asks for `id` and hands each reading, reduced to a `StatsSample`,
 * to every subscriber; the returned function unsubscribes, and the last one out closes
 * the engine stream. When the engine ends the stream (the container stopped or went
 * away) subscribers get `{ id, ended: true }` and are dropped; they subscribe again on
 * the next start. `upstreams()` says how many engine streams are open.
 */
import type { EngineClient } from '../client';
import { JSONLineSplitter } from '../wire';

export interface StatsSample {
  id: string;
  /** Milliseconds since the epoch, as the engine read it. */
  t: number;
  /** Percent of one CPU × online CPUs, as `docker stats` shows it. */
  cpu: number;
  /** Memory in use, page cache (inactive_file) left out as docker does. */
  mem: number;
  limit: number;
  /** Cumulative bytes over all interfaces / block devices. */
  rx: number;
  tx: number;
  br: number;
  bw: number;
  pids: number;
}

export type StatsMessage = StatsSample | { id: string; ended: true };

/* The Engine API's stats document: only what the sample needs. */
interface RawStats {
  read?: string;
  cpu_stats?: { cpu_usage?: { total_usage?: number; percpu_usage?: number[] }; system_cpu_usage?: number; online_cpus?: number };
  precpu_stats?: { cpu_usage?: { total_usage?: number }; system_cpu_usage?: number };
  memory_stats?: { usage?: number; limit?: number; stats?: Record<string, number> };
  networks?: Record<string, { rx_bytes?: number; tx_bytes?: number }>;
  blkio_stats?: { io_service_bytes_recursive?: { op?: string; value?: number }[] | null };
  pids_stats?: { current?: number };
}

export function sampleOf(id: string, s: RawStats): StatsSample {
  const cpuDelta = (s.cpu_stats?.cpu_usage?.total_usage ?? 0) - (s.precpu_stats?.cpu_usage?.total_usage ?? 0);
  const sysDelta = (s.cpu_stats?.system_cpu_usage ?? 0) - (s.precpu_stats?.system_cpu_usage ?? 0);
  const cpus = s.cpu_stats?.online_cpus || s.cpu_stats?.cpu_usage?.percpu_usage?.length || 1;
  const cpu = cpuDelta > 0 && sysDelta > 0 ? (cpuDelta / sysDelta) * cpus * 100 : 0;
  const ms = s.memory_stats ?? {};
  const cache = ms.stats?.['inactive_file'] ?? ms.stats?.['total_inactive_file'] ?? 0;
  const mem = Math.max(0, (ms.usage ?? 0) - (cache < (ms.usage ?? 0) ? cache : 0));
  let rx = 0;
  let tx = 0;
  for (const n of Object.values(s.networks ?? {})) {
    rx += n.rx_bytes ?? 0;
    tx += n.tx_bytes ?? 0;
  }
  let br = 0;
  let bw = 0;
  for (const e of s.blkio_stats?.io_service_bytes_recursive ?? []) {
    const op = (e.op ?? '').toLowerCase();
    if (op === 'read') br += e.value ?? 0;
    else if (op === 'write') bw += e.value ?? 0;
  }
  const t = s.read ? Date.parse(s.read) : NaN;
  return { id, t: Number.isFinite(t) && t > 0 ? t : Date.now(), cpu, mem, limit: ms.limit ?? 0, rx, tx, br, bw, pids: s.pids_stats?.current ?? 0 };
}

interface Upstream {
  subscribers: Set<(m: StatsMessage) => void>;
  abort: AbortController;
  last?: StatsSample;
}

export class StatsHub {
  private readonly streams = new Map<string, Upstream>();

  constructor(private readonly client: EngineClient) {}

  upstreams(): number {
    return this.streams.size;
  }

  subscribe(id: string, fn: (m: StatsMessage) => void): () => void {
    let up = this.streams.get(id);
    if (!up) {
      up = { subscribers: new Set(), abort: new AbortController() };
      this.streams.set(id, up);
      this.open(id, up);
    } else if (up.last) {
      fn(up.last);
    }
    up.subscribers.add(fn);
    const u = up;
    return () => {
      u.subscribers.delete(fn);
      if (u.subscribers.size === 0 && this.streams.get(id) === u) {
        this.streams.delete(id);
        u.abort.abort();
      }
    };
  }

  close(): void {
    for (const up of this.streams.values()) up.abort.abort();
    this.streams.clear();
  }

  private open(id: string, up: Upstream): void {
    const end = () => {
      if (this.streams.get(id) !== up) return;
      this.streams.delete(id);
      for (const fn of up.subscribers) fn({ id, ended: true });
      up.subscribers.clear();
    };
    this.client.transport
      .request('GET', `/containers/${encodeURIComponent(id)}/stats`, { query: { stream: true }, signal: up.abort.signal })
      .then((res) => {
        const split = new JSONLineSplitter<RawStats>();
        res.on('data', (chunk: Buffer) => {
          let docs: RawStats[];
          try {
            docs = split.push(chunk);
          } catch {
            res.destroy();
            return;
          }
          for (const d of docs) {
            const s = sampleOf(id, d);
            up.last = s;
            for (const fn of up.subscribers) fn(s);
          }
        });
        res.on('close', end);
        res.on('error', end);
      })
      .catch(end);
  }
}
