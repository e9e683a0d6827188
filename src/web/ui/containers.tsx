import { useEffect, useMemo, useRef, useState } from 'preact/hooks';
import { ago, bytes, call, Config, getJSON, jsonLines, q, shortId, StatsSample, statsFeed } from './api';

export interface Row {
  id: string;
  name: string;
  image: string;
  state: string;
  health?: string;
  startedAt?: string;
  created: number;
  ports: { host?: string; hostPort?: string; containerPort: number; type: string }[];
}

/** A row from `GET /containers/{id}/json` (events name one container; the list is read once). */
function rowOfInspect(c: any): Row {
  const ports: Row['ports'] = [];
  for (const [k, binds] of Object.entries<any>(c.NetworkSettings?.Ports ?? {})) {
    const [p, type] = k.split('/');
    if (!binds || !binds.length) ports.push({ containerPort: Number(p), type: type ?? 'tcp' });
    else for (const b of binds) ports.push({ host: b.HostIp, hostPort: b.HostPort, containerPort: Number(p), type: type ?? 'tcp' });
  }
  const st = c.State ?? {};
  const state = st.Status ?? (st.Running ? 'running' : 'exited');
  return {
    id: c.Id,
    name: String(c.Name ?? '').replace(/^\//, ''),
    image: c.Config?.Image ?? c.Image,
    state,
    health: st.Health?.Status,
    startedAt: st.Running ? st.StartedAt : undefined,
    created: Date.parse(c.Created) / 1000,
    ports,
  };
}

function rowOfSummary(c: any): Row {
  const h = /\((healthy|unhealthy|health: starting)\)/.exec(c.Status ?? '');
  return {
    id: c.Id,
    name: (c.Names?.[0] ?? '').replace(/^\//, ''),
    image: c.Image,
    state: c.State,
    health: h ? h[1]!.replace('health: ', '') : undefined,
    created: c.Created,
    ports: (c.Ports ?? []).map((p: any) => ({ host: p.IP, hostPort: p.PublicPort ? String(p.PublicPort) : undefined, containerPort: p.PrivatePort, type: p.Type })),
  };
}

const IGNORED = new Set(['top', 'attach', 'resize', 'copy', 'archive-path', 'extract-to-dir', 'export', 'commit']);

/**
 * The containers, kept live: the list is read once after the event stream is open, then each
 * container event re-reads that one container. Uptime of rows from the list comes from inspect.
 */
function useLiveContainers(): { rows: Map<string, Row>; error: string } {
  const [rows, setRows] = useState(new Map<string, Row>());
  const [error, setError] = useState('');
  useEffect(() => {
    const ac = new AbortController();
    let current = new Map<string, Row>();
    const commit = () => setRows(new Map(current));
    // A reply answers only if it is the newest read of its container and the container was not
    // destroyed meanwhile: an inspect sent on "kill" can come back after "destroy".
    const asked = new Map<string, number>();
    const gone = new Set<string>();
    let reads = 0;
    const refresh = (id: string) => {
      const n = ++reads;
      asked.set(id, n);
      const stale = () => gone.has(id) || asked.get(id) !== n;
      return getJSON(`/api/containers/${encodeURIComponent(id)}/json`).then(
        (c) => {
          if (stale()) return;
          current.set(c.Id, rowOfInspect(c));
          commit();
          if (c.State?.Running) statsFeed.refresh();
        },
        (e) => {
          if (e.status === 404 && current.delete(id)) commit();
        },
      );
    };
    let listed = false;
    const early: string[] = [];
    const events = jsonLines('GET', `/api/events${q({ filters: JSON.stringify({ type: ['container'] }) })}`, (ev) => {
      const id = ev.Actor?.ID ?? ev.id;
      if (!id) return;
      const action = String(ev.Action ?? ev.status ?? '');
      if (action.startsWith('exec_') || IGNORED.has(action)) return;
      if (action === 'destroy') {
        gone.add(id);
        if (current.delete(id)) commit();
        return;
      }
      if (!listed) early.push(id);
      else refresh(id);
    }, ac.signal);
    events.then(
      () => { if (!ac.signal.aborted) setError('the engine closed the event stream: reload the page to follow changes again'); },
      (e) => { if (!ac.signal.aborted) setError(`event stream: ${e.message}`); },
    );
    // the stream's headers are in once fetch resolves; reading the list after that misses nothing
    getJSON('/api/containers/json?all=1').then(
      (list: any[]) => {
        current = new Map(list.filter((c) => !gone.has(c.Id)).map((c) => [c.Id, rowOfSummary(c)]));
        commit();
        listed = true;
        for (const id of early.splice(0)) refresh(id);
        // uptime needs StartedAt (inspect); read it a few at a time so the browser's six
        // connections stay free for what the user clicks
        const queue = list.filter((c) => c.State === 'running').map((c) => c.Id as string);
        const next = (): Promise<void> | undefined => {
          const id = queue.shift();
          return id === undefined || ac.signal.aborted ? undefined : refresh(id).then(next);
        };
        for (let i = 0; i < 3; i++) next();
      },
      (e) => setError(e.message),
    );
    return () => ac.abort();
  }, []);
  return { rows, error };
}

export function StateBadge({ state, health }: { state: string; health?: string }) {
  return (
    <span class={`state ${state}`}>
      {state}
      {health && <span class={`health ${health}`}> ({health})</span>}
    </span>
  );
}

export function PortLinks({ ports }: { ports: Row['ports'] }) {
  return (
    <span class="ports">
      {ports.map((p) =>
        p.hostPort ? (
          <a href={`http://${!p.host || p.host === '0.0.0.0' || p.host === '::' ? location.hostname : p.host}:${p.hostPort}/`} target="_blank" rel="noopener noreferrer">
            {p.hostPort}→{p.containerPort}/{p.type}
          </a>
        ) : (
          <span>
            {p.containerPort}/{p.type}
          </span>
        ),
      )}
    </span>
  );
}

function useStats(ids: string[]): Map<string, StatsSample> {
  const [stats, setStats] = useState(new Map<string, StatsSample>());
  // kept across re-subscriptions, so a row does not blank when another container starts
  const kept = useRef(new Map<string, StatsSample>());
  const key = ids.join(',');
  useEffect(() => {
    const latest = kept.current;
    for (const id of [...latest.keys()]) if (!ids.includes(id)) latest.delete(id);
    let pending = false;
    const offs = ids.map((id) =>
      statsFeed.watch(id, (s) => {
        if (s.ended) latest.delete(id);
        else latest.set(id, s);
        if (!pending) {
          pending = true;
          // at most one render per 250 ms, however many containers report (timers, not animation frames: those stop in a background tab)
          setTimeout(() => {
            pending = false;
            setStats(new Map(latest));
          }, 250);
        }
      }),
    );
    return () => offs.forEach((f) => f());
  }, [key]);
  return stats;
}

export async function containerAction(id: string, name: string, action: string): Promise<void> {
  if (action === 'remove') {
    if (!confirm(`Remove container ${name}? It is stopped first if it runs.`)) return;
    await call('DELETE', `/api/containers/${encodeURIComponent(id)}${q({ force: true })}`);
    return;
  }
  if (action === 'kill' && !confirm(`Kill container ${name}?`)) return;
  await call('POST', `/api/containers/${encodeURIComponent(id)}/${action}`);
}

export function Actions({ row, config, onError }: { row: Row; config: Config; onError: (m: string) => void }) {
  if (config.readOnly) return null;
  const running = row.state === 'running';
  const paused = row.state === 'paused';
  const acts = [
    !running && !paused && 'start',
    running && 'stop',
    (running || paused) && 'restart',
    running && 'pause',
    paused && 'unpause',
    (running || paused) && 'kill',
    'remove',
  ].filter(Boolean) as string[];
  return (
    <span class="actions">
      {acts.map((a) => (
        <button class={`act act-${a}`} data-action={a} onClick={(e) => { e.stopPropagation(); containerAction(row.id, row.name, a).catch((err) => onError(`${a} ${row.name}: ${err.message}`)); }}>
          {a}
        </button>
      ))}
    </span>
  );
}

export function ContainersView({ config }: { config: Config }) {
  const { rows, error } = useLiveContainers();
  const [search, setSearch] = useState('');
  const [filter, setFilter] = useState('all');
  const [actionError, setActionError] = useState('');
  const [, tick] = useState(0);
  const timer = useRef<number | undefined>(undefined);
  useEffect(() => {
    timer.current = setInterval(() => tick((n) => n + 1), 1000) as unknown as number;
    return () => clearInterval(timer.current);
  }, []);
  const all = [...rows.values()].sort((a, b) => a.name.localeCompare(b.name));
  const running = all.filter((r) => r.state === 'running').map((r) => r.id);
  const stats = useStats(running);
  const shown = useMemo(() => {
    const s = search.toLowerCase();
    return all.filter(
      (r) => (filter === 'all' || (filter === 'running' ? r.state === 'running' : r.state !== 'running')) && (!s || r.name.toLowerCase().includes(s) || r.image.toLowerCase().includes(s) || r.id.startsWith(s)),
    );
  }, [rows, search, filter]);
  const now = Date.now() / 1000;
  return (
    <section>
      <h1>
        Containers <small>{running.length} running / {all.length}</small>
      </h1>
      <div class="toolbar">
        <input id="search" placeholder="Search name, image or id" value={search} onInput={(e) => setSearch((e.target as HTMLInputElement).value)} />
        <select id="state-filter" value={filter} onChange={(e) => setFilter((e.target as HTMLSelectElement).value)}>
          <option value="all">all</option>
          <option value="running">running</option>
          <option value="stopped">not running</option>
        </select>
      </div>
      {error && <div class="error">{error}</div>}
      {actionError && <div class="error" onClick={() => setActionError('')}>{actionError}</div>}
      <table class="grid" id="containers">
        <thead>
          <tr>
            <th>Name</th><th>Image</th><th>State</th><th>Ports</th><th>CPU %</th><th>Memory</th><th>Uptime</th><th></th>
          </tr>
        </thead>
        <tbody>
          {shown.map((r) => {
            const s = stats.get(r.id);
            return (
              <tr key={r.id} data-name={r.name} data-state={r.state} onClick={() => (location.hash = `#/containers/${r.id}`)}>
                <td><a href={`#/containers/${r.id}`}>{r.name}</a> <span class="id">{shortId(r.id)}</span></td>
                <td>{r.image}</td>
                <td><StateBadge state={r.state} health={r.health} /></td>
                <td><PortLinks ports={r.ports} /></td>
                <td class="num cpu">{r.state === 'running' && s ? s.cpu.toFixed(1) : ''}</td>
                <td class="num mem">{r.state === 'running' && s ? bytes(s.mem) : ''}</td>
                <td class="num">{r.startedAt ? ago(now - Date.parse(r.startedAt) / 1000) : ''}</td>
                <td><Actions row={r} config={config} onError={setActionError} /></td>
              </tr>
            );
          })}
        </tbody>
      </table>
      {shown.length === 0 && <p class="empty">No containers{search || filter !== 'all' ? ' match' : ''}.</p>}
    </section>
  );
}
