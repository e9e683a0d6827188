// The page's side of the dashboard server: /api (allow-listed Engine API), /ws/stats, /ws/exec.
// The token travels in the HttpOnly cookie set when the printed URL was opened.

export class ApiError extends Error {
  constructor(readonly status: number, message: string) {
    super(message);
  }
}

export interface Config {
  readOnly: boolean;
  engine: string;
}

async function check(res: Response): Promise<Response> {
  if (res.ok) return res;
  let msg = `${res.status} ${res.statusText}`;
  try {
    const j = await res.json();
    if (j && typeof j.message === 'string') msg = j.message;
  } catch {
    // keep the status line
  }
  throw new ApiError(res.status, msg);
}

export async function getJSON<T = any>(path: string): Promise<T> {
  const res = await check(await fetch(path, { credentials: 'same-origin' }));
  return (await res.json()) as T;
}

export async function call(method: string, path: string, body?: unknown): Promise<any> {
  const res = await check(
    await fetch(path, {
      method,
      credentials: 'same-origin',
      headers: body !== undefined ? { 'Content-Type': 'application/json' } : {},
      body: body !== undefined ? JSON.stringify(body) : undefined,
    }),
  );
  const text = await res.text();
  return text ? JSON.parse(text) : undefined;
}

export const q = (params: Record<string, string | number | boolean | undefined>) => {
  const p = new URLSearchParams();
  for (const [k, v] of Object.entries(params)) if (v !== undefined && v !== '') p.set(k, typeof v === 'boolean' ? (v ? '1' : '0') : String(v));
  const s = p.toString();
  return s ? `?${s}` : '';
};

/** Reads a streaming response chunk by chunk until it ends or `signal` aborts. */
export async function stream(method: string, path: string, onChunk: (b: Uint8Array, contentType: string) => void, signal: AbortSignal): Promise<void> {
  const res = await check(await fetch(path, { method, credentials: 'same-origin', signal }));
  const ct = res.headers.get('content-type') ?? '';
  const reader = res.body!.getReader();
  for (;;) {
    const { done, value } = await reader.read();
    if (done) return;
    onChunk(value, ct);
  }
}

/** A JSON-lines stream (events, pull progress). */
export function jsonLines(method: string, path: string, onMessage: (m: any) => void, signal: AbortSignal): Promise<void> {
  const dec = new TextDecoder();
  let rest = '';
  return stream(method, path, (b) => {
    rest += dec.decode(b, { stream: true });
    const lines = rest.split('\n');
    rest = lines.pop() ?? '';
    for (const l of lines) if (l.trim()) onMessage(JSON.parse(l));
  }, signal);
}

/** Splits the engine's multiplexed log stream (8-byte frame headers) into stdout/stderr text. */
export class Demux {
  private buf = new Uint8Array(0);
  private dec = [new TextDecoder(), new TextDecoder(), new TextDecoder()];
  push(chunk: Uint8Array, out: (stream: 1 | 2, text: string) => void): void {
    const b = new Uint8Array(this.buf.length + chunk.length);
    b.set(this.buf);
    b.set(chunk, this.buf.length);
    let i = 0;
    while (b.length - i >= 8) {
      const type = b[i]!;
      const len = ((b[i + 4]! << 24) >>> 0) + (b[i + 5]! << 16) + (b[i + 6]! << 8) + b[i + 7]!;
      if (b.length - i - 8 < len) break;
      const payload = b.subarray(i + 8, i + 8 + len);
      const s = type === 2 ? 2 : 1;
      out(s, this.dec[s]!.decode(payload, { stream: true }));
      i += 8 + len;
    }
    this.buf = b.slice(i);
  }
}

export interface StatsSample {
  id: string;
  t: number;
  cpu: number;
  mem: number;
  limit: number;
  rx: number;
  tx: number;
  br: number;
  bw: number;
  pids: number;
  ended?: boolean;
}

type StatsListener = (s: StatsSample) => void;

/** One /ws/stats socket for the whole page; each container id is asked for once, however many views watch it. */
class StatsFeed {
  private ws: WebSocket | undefined;
  private listeners = new Map<string, Set<StatsListener>>();
  private timer: number | undefined;

  watch(id: string, fn: StatsListener): () => void {
    let set = this.listeners.get(id);
    if (!set) this.listeners.set(id, (set = new Set()));
    set.add(fn);
    this.sync();
    return () => {
      set!.delete(fn);
      if (set!.size === 0) this.listeners.delete(id);
      this.sync();
    };
  }

  /** Asks again for every watched id (after a container starts, its old stream has ended). */
  refresh(): void {
    this.sync(true);
  }

  private sync(force = false): void {
    if (this.timer !== undefined && !force) return;
    clearTimeout(this.timer);
    this.timer = setTimeout(() => {
      this.timer = undefined;
      const ws = this.socket();
      const msg = JSON.stringify({ subscribe: [...this.listeners.keys()] });
      if (ws.readyState === WebSocket.OPEN) ws.send(msg);
    }, 20) as unknown as number;
  }

  private socket(): WebSocket {
    if (this.ws && this.ws.readyState <= WebSocket.OPEN) return this.ws;
    const ws = new WebSocket(`ws://${location.host}/ws/stats`);
    ws.onopen = () => ws.send(JSON.stringify({ subscribe: [...this.listeners.keys()] }));
    ws.onmessage = (ev) => {
      const m = JSON.parse(String(ev.data)) as StatsSample;
      for (const fn of this.listeners.get(m.id) ?? []) fn(m);
    };
    ws.onclose = () => {
      if (this.ws === ws) this.ws = undefined;
      if (this.listeners.size) setTimeout(() => this.sync(true), 1000);
    };
    this.ws = ws;
    return ws;
  }
}

export const statsFeed = new StatsFeed();

// ---- formatting

export function bytes(n: number | undefined): string {
  if (n === undefined || n < 0 || !Number.isFinite(n)) return '—';
  const u = ['B', 'kB', 'MB', 'GB', 'TB'];
  let i = 0;
  while (n >= 1000 && i < u.length - 1) {
    n /= 1000;
    i++;
  }
  return `${n < 10 && (i > 0 || n % 1 !== 0) ? n.toFixed(1) : Math.round(n)} ${u[i]}`;
}

export function ago(seconds: number): string {
  const s = Math.max(0, Math.floor(seconds));
  if (s < 60) return `${s}s`;
  if (s < 3600) return `${Math.floor(s / 60)}m`;
  if (s < 86400) return `${Math.floor(s / 3600)}h ${Math.floor((s % 3600) / 60)}m`;
  return `${Math.floor(s / 86400)}d ${Math.floor((s % 86400) / 3600)}h`;
}

export const shortId = (id: string) => id.replace(/^sha256:/, '').slice(0, 12);
