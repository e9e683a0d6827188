import { useEffect, useRef, useState } from 'preact/hooks';
import { Terminal } from '@xterm/xterm';
import { FitAddon } from '@xterm/addon-fit';
import { bytes, Config, Demux, getJSON, q, shortId, statsFeed, stream } from './api';
import { Chart } from './chart';
import { Actions, containerAction, PortLinks, Row, StateBadge } from './containers';

const TABS: [string, string][] = [
  ['stats', 'Stats'],
  ['config', 'Config'],
  ['logs', 'Logs'],
  ['terminal', 'Terminal'],
  ['top', 'Processes'],
];

export function ContainerView({ id, tab, config }: { id: string; tab: string; config: Config }) {
  const [c, setC] = useState<any>();
  const [err, setErr] = useState('');
  const load = () => getJSON(`/api/containers/${encodeURIComponent(id)}/json`).then(setC, (e) => setErr(e.message));
  useEffect(() => {
    load();
    // re-read on this container's events (state changes), no polling
    const ac = new AbortController();
    let last = 0;
    stream('GET', `/api/events${q({ filters: JSON.stringify({ container: [id], type: ['container'] }) })}`, () => {
      const now = Date.now();
      if (now - last > 200) {
        last = now;
        setTimeout(load, 50);
      }
    }, ac.signal).catch(() => undefined);
    return () => ac.abort();
  }, [id]);
  if (err) return <div class="error">{err}</div>;
  if (!c) return <div class="loading">Loading…</div>;
  const row: Row = {
    id: c.Id,
    name: c.Name.replace(/^\//, ''),
    image: c.Config.Image,
    state: c.State.Status,
    health: c.State.Health?.Status,
    created: Date.parse(c.Created) / 1000,
    ports: [],
  };
  return (
    <section>
      <h1>
        <a href="#/containers">Containers</a> / {row.name} <span class="id">{shortId(c.Id)}</span> <StateBadge state={row.state} health={row.health} />
      </h1>
      <div class="toolbar">
        <Actions row={row} config={config} onError={setErr} />
      </div>
      <div class="tabs">
        {TABS.filter(([k]) => k !== 'terminal' || !config.readOnly).map(([k, label]) => (
          <a href={`#/containers/${id}/${k}`} class={tab === k ? 'active' : ''} id={`tab-${k}`}>
            {label}
          </a>
        ))}
      </div>
      {tab === 'stats' && <StatsTab id={c.Id} running={c.State.Running} limited={(c.HostConfig?.Memory ?? 0) > 0} />}
      {tab === 'config' && <ConfigTab c={c} />}
      {tab === 'logs' && <LogsTab id={c.Id} tty={c.Config.Tty} />}
      {tab === 'terminal' && !config.readOnly && (c.State.Running ? <TerminalTab id={c.Id} /> : <p class="empty">The container is not running.</p>)}
      {tab === 'top' && (c.State.Running ? <TopTab id={c.Id} /> : <p class="empty">The container is not running.</p>)}
    </section>
  );
}

const WINDOW = 300;

/** Live charts: one stats subscription feeds all four (the server shares it with the table). */
/** The memory limit line is drawn when the container has one (without, the engine reports the host's memory). */
function StatsTab({ id, running, limited }: { id: string; running: boolean; limited: boolean }) {
  const [data, setData] = useState({ cpu: [[], []] as number[][], mem: [[], [], []] as number[][], net: [[], [], []] as number[][], blk: [[], [], []] as number[][] });
  useEffect(() => {
    const t: number[] = [], cpu: number[] = [], mem: number[] = [], lim: number[] = [], rx: number[] = [], tx: number[] = [], br: number[] = [], bw: number[] = [];
    let prev: { t: number; rx: number; tx: number; br: number; bw: number } | undefined;
    return statsFeed.watch(id, (s) => {
      if (s.ended) return;
      const sec = s.t / 1000;
      if (prev && sec <= prev.t) return;
      const dt = prev ? sec - prev.t : 1;
      const rate = (a: number, b: number | undefined) => (b === undefined ? 0 : Math.max(0, (a - b) / dt));
      t.push(sec);
      cpu.push(s.cpu);
      mem.push(s.mem);
      lim.push(limited && s.limit > 0 && s.limit < 2 ** 60 ? s.limit : NaN);
      rx.push(rate(s.rx, prev?.rx));
      tx.push(rate(s.tx, prev?.tx));
      br.push(rate(s.br, prev?.br));
      bw.push(rate(s.bw, prev?.bw));
      prev = { t: sec, rx: s.rx, tx: s.tx, br: s.br, bw: s.bw };
      for (const a of [t, cpu, mem, lim, rx, tx, br, bw]) if (a.length > WINDOW) a.shift();
      const limit = lim.map((v) => (Number.isNaN(v) ? (null as unknown as number) : v));
      setData({ cpu: [[...t], [...cpu]], mem: [[...t], [...mem], limit], net: [[...t], [...rx], [...tx]], blk: [[...t], [...br], [...bw]] });
    });
  }, [id, limited]);
  const rate = (v: number) => `${bytes(v)}/s`;
  return (
    <div class="charts">
      {!running && <p class="empty">The container is not running: no new readings.</p>}
      <Chart id="chart-cpu" title="CPU %" series={[{ label: 'CPU %', color: '#2f7ed8' }]} data={data.cpu} fmt={(v) => `${v.toFixed(1)}%`} />
      <Chart id="chart-mem" title="Memory" series={[{ label: 'used', color: '#8e44ad' }, { label: 'limit', color: '#c0392b', dash: [6, 4] }]} data={data.mem} fmt={bytes} />
      <Chart id="chart-net" title="Network" series={[{ label: 'rx', color: '#27ae60' }, { label: 'tx', color: '#e67e22' }]} data={data.net} fmt={rate} />
      <Chart id="chart-blk" title="Block I/O" series={[{ label: 'read', color: '#16a085' }, { label: 'write', color: '#d35400' }]} data={data.blk} fmt={rate} />
    </div>
  );
}

function KV({ rows }: { rows: [string, any][] }) {
  return (
    <table class="kv">
      <tbody>
        {rows.map(([k, v]) => (
          <tr>
            <th>{k}</th>
            <td>{v === undefined || v === null || v === '' ? <span class="dim">—</span> : v}</td>
          </tr>
        ))}
      </tbody>
    </table>
  );
}

function ConfigTab({ c }: { c: any }) {
  const ports: Row['ports'] = [];
  for (const [k, binds] of Object.entries<any>(c.NetworkSettings?.Ports ?? c.HostConfig?.PortBindings ?? {})) {
    const [p, type] = k.split('/');
    if (!binds?.length) ports.push({ containerPort: Number(p), type: type ?? 'tcp' });
    else for (const b of binds) ports.push({ host: b.HostIp, hostPort: b.HostPort, containerPort: Number(p), type: type ?? 'tcp' });
  }
  const rp = c.HostConfig?.RestartPolicy;
  return (
    <div class="config">
      <h2>General</h2>
      <KV
        rows={[
          ['Id', <code>{c.Id}</code>],
          ['Image', `${c.Config.Image} (${shortId(c.Image)})`],
          ['Command', <code>{[...(c.Config.Entrypoint ?? []), ...(c.Config.Cmd ?? [])].join(' ')}</code>],
          ['Created', new Date(c.Created).toLocaleString()],
          ['Started', c.State.StartedAt && !c.State.StartedAt.startsWith('0001') ? new Date(c.State.StartedAt).toLocaleString() : ''],
          ['Exit code', c.State.Running ? '' : String(c.State.ExitCode)],
          ['Restart policy', rp?.Name ? `${rp.Name}${rp.MaximumRetryCount ? ` (max ${rp.MaximumRetryCount})` : ''}` : 'no'],
          ['TTY', c.Config.Tty ? 'yes' : 'no'],
          ['Working dir', c.Config.WorkingDir],
          ['User', c.Config.User],
          ['Memory limit', c.HostConfig?.Memory ? bytes(c.HostConfig.Memory) : 'none'],
        ]}
      />
      <h2>Environment</h2>
      <table class="grid env">
        <tbody>
          {(c.Config.Env ?? []).map((e: string) => {
            const i = e.indexOf('=');
            return (
              <tr>
                <td><code>{i < 0 ? e : e.slice(0, i)}</code></td>
                <td><code>{i < 0 ? '' : e.slice(i + 1)}</code></td>
              </tr>
            );
          })}
        </tbody>
      </table>
      <h2>Ports</h2>
      {ports.length ? <PortLinks ports={ports} /> : <p class="dim">none</p>}
      <h2>Mounts</h2>
      <table class="grid">
        <thead><tr><th>Type</th><th>Source</th><th>Destination</th><th>Mode</th></tr></thead>
        <tbody>
          {(c.Mounts ?? []).map((m: any) => (
            <tr><td>{m.Type}</td><td><code>{m.Name ?? m.Source}</code></td><td><code>{m.Destination}</code></td><td>{m.RW ? 'rw' : 'ro'}</td></tr>
          ))}
        </tbody>
      </table>
      <h2>Networks</h2>
      <table class="grid">
        <thead><tr><th>Network</th><th>IP address</th><th>Gateway</th><th>MAC</th></tr></thead>
        <tbody>
          {Object.entries<any>(c.NetworkSettings?.Networks ?? {}).map(([n, v]) => (
            <tr><td>{n}</td><td>{v.IPAddress}{v.IPPrefixLen ? `/${v.IPPrefixLen}` : ''}</td><td>{v.Gateway}</td><td>{v.MacAddress}</td></tr>
          ))}
        </tbody>
      </table>
      <details>
        <summary>Raw inspect</summary>
        <pre>{JSON.stringify(c, null, 2)}</pre>
      </details>
    </div>
  );
}

interface LogLine {
  n: number;
  stream: 1 | 2;
  ts: string;
  text: string;
}

const MAX_LINES = 5000;

function LogsTab({ id, tty }: { id: string; tty: boolean }) {
  const [lines, setLines] = useState<LogLine[]>([]);
  const [follow, setFollow] = useState(true);
  const [timestamps, setTimestamps] = useState(false);
  const [search, setSearch] = useState('');
  const [err, setErr] = useState('');
  const box = useRef<HTMLDivElement>(null);
  useEffect(() => {
    const ac = new AbortController();
    const buf: LogLine[] = [];
    let n = 0;
    const partial: Record<number, string> = { 1: '', 2: '' };
    let scheduled = false;
    const add = (s: 1 | 2, text: string) => {
      const parts = (partial[s] + text).split('\n');
      partial[s] = parts.pop() ?? '';
      for (const p of parts) {
        const m = /^(\d{4}-\d\d-\d\dT\S+) (.*)$/s.exec(p);
        buf.push({ n: n++, stream: s, ts: m ? m[1]! : '', text: (m ? m[2]! : p).replace(/\r$/, '') });
      }
      if (buf.length > MAX_LINES) buf.splice(0, buf.length - MAX_LINES);
      if (!scheduled) {
        scheduled = true;
        setTimeout(() => {
          scheduled = false;
          setLines([...buf]);
        }, 50);
      }
    };
    const demux = new Demux();
    const dec = new TextDecoder();
    stream('GET', `/api/containers/${encodeURIComponent(id)}/logs${q({ follow: true, stdout: true, stderr: true, timestamps: true, tail: 1000 })}`, (b, ct) => {
      if (!tty && !ct.includes('raw-stream')) demux.push(b, add);
      else add(1, dec.decode(b, { stream: true }));
    }, ac.signal).catch((e) => { if (!ac.signal.aborted) setErr(e.message); });
    return () => ac.abort();
  }, [id]);
  useEffect(() => {
    if (follow && box.current) box.current.scrollTop = box.current.scrollHeight;
  }, [lines, follow]);
  const s = search.toLowerCase();
  const shown = s ? lines.filter((l) => l.text.toLowerCase().includes(s)) : lines;
  return (
    <div>
      <div class="toolbar">
        <input id="log-search" placeholder="Search logs" value={search} onInput={(e) => setSearch((e.target as HTMLInputElement).value)} />
        <label><input type="checkbox" id="log-follow" checked={follow} onChange={(e) => setFollow((e.target as HTMLInputElement).checked)} /> follow</label>
        <label><input type="checkbox" id="log-ts" checked={timestamps} onChange={(e) => setTimestamps((e.target as HTMLInputElement).checked)} /> timestamps</label>
        <span class="dim">{shown.length} lines</span>
      </div>
      {err && <div class="error">{err}</div>}
      <div class="logs" id="logs" ref={box}>
        {shown.map((l) => (
          <div key={l.n} class={l.stream === 2 ? 'stderr' : 'stdout'}>
            {timestamps && <span class="ts">{l.ts} </span>}
            {l.text}
          </div>
        ))}
      </div>
    </div>
  );
}

function TerminalTab({ id }: { id: string }) {
  const el = useRef<HTMLDivElement>(null);
  const [status, setStatus] = useState('connecting…');
  useEffect(() => {
    const term = new Terminal({ cursorBlink: true, fontSize: 13, convertEol: false, theme: { background: '#1e1e1e' } });
    const fit = new FitAddon();
    term.loadAddon(fit);
    term.open(el.current!);
    fit.fit();
    const ws = new WebSocket(`ws://${location.host}/ws/exec${q({ id })}`);
    ws.binaryType = 'arraybuffer';
    const enc = new TextEncoder();
    const sendSize = () => ws.readyState === WebSocket.OPEN && ws.send(JSON.stringify({ resize: [term.cols, term.rows] }));
    ws.onopen = () => {
      setStatus('connected');
      sendSize();
      term.focus();
    };
    ws.onmessage = (ev) => term.write(typeof ev.data === 'string' ? ev.data : new Uint8Array(ev.data as ArrayBuffer));
    ws.onclose = (ev) => setStatus(`closed${ev.reason ? `: ${ev.reason}` : ''}`);
    const d1 = term.onData((d) => ws.readyState === WebSocket.OPEN && ws.send(enc.encode(d)));
    const d2 = term.onResize(sendSize);
    const ro = new ResizeObserver(() => fit.fit());
    ro.observe(el.current!);
    (window as any).__berthTerm = term;
    return () => {
      ro.disconnect();
      d1.dispose();
      d2.dispose();
      ws.close();
      term.dispose();
    };
  }, [id]);
  return (
    <div>
      <div class="dim" id="term-status">sh — {status}</div>
      <div class="terminal" id="terminal" ref={el} />
    </div>
  );
}

function TopTab({ id }: { id: string }) {
  const [top, setTop] = useState<{ Titles: string[]; Processes: string[][] }>();
  const [err, setErr] = useState('');
  const load = () => getJSON(`/api/containers/${encodeURIComponent(id)}/top`).then(setTop, (e) => setErr(e.message));
  useEffect(() => {
    load();
  }, [id]);
  return (
    <div>
      <div class="toolbar"><button onClick={load}>Refresh</button></div>
      {err && <div class="error">{err}</div>}
      {top && (
        <table class="grid" id="top">
          <thead><tr>{top.Titles.map((t) => <th>{t}</th>)}</tr></thead>
          <tbody>{top.Processes.map((p) => <tr>{p.map((v) => <td><code>{v}</code></td>)}</tr>)}</tbody>
        </table>
      )}
    </div>
  );
}

export { containerAction };
