import { useEffect, useState } from 'preact/hooks';
import { jsonLines, q } from './api';

const TYPES = ['container', 'image', 'volume', 'network', 'daemon'];

/** The engine's events: the last hour, then live. */
export function EventsView() {
  const [events, setEvents] = useState<any[]>([]);
  const [type, setType] = useState('');
  const [text, setText] = useState('');
  const [err, setErr] = useState('');
  useEffect(() => {
    const ac = new AbortController();
    const buf: any[] = [];
    let scheduled = false;
    const since = Math.floor(Date.now() / 1000) - 3600;
    jsonLines('GET', `/api/events${q({ since, filters: type ? JSON.stringify({ type: [type] }) : undefined })}`, (ev) => {
      buf.unshift(ev);
      if (buf.length > 2000) buf.pop();
      if (!scheduled) {
        scheduled = true;
        setTimeout(() => {
          scheduled = false;
          setEvents([...buf]);
        }, 50);
      }
    }, ac.signal).catch((e) => { if (!ac.signal.aborted) setErr(e.message); });
    return () => ac.abort();
  }, [type]);
  const s = text.toLowerCase();
  const shown = s ? events.filter((e) => JSON.stringify(e).toLowerCase().includes(s)) : events;
  return (
    <section>
      <h1>Events</h1>
      <div class="toolbar">
        <select id="event-type" value={type} onChange={(e) => setType((e.target as HTMLSelectElement).value)}>
          <option value="">all types</option>
          {TYPES.map((t) => <option value={t}>{t}</option>)}
        </select>
        <input id="event-search" placeholder="Filter (name, action, id…)" value={text} onInput={(e) => setText((e.target as HTMLInputElement).value)} />
      </div>
      {err && <div class="error">{err}</div>}
      <ol class="timeline" id="events">
        {shown.map((e) => {
          const t = e.timeNano ? Number(BigInt(e.timeNano) / 1000000n) : e.time * 1000;
          const attrs = e.Actor?.Attributes ?? {};
          return (
            <li class={`ev ${e.Type}`}>
              <span class="ts">{new Date(t).toLocaleTimeString()}</span> <span class="type">{e.Type}</span> <b>{e.Action}</b>{' '}
              <span>{attrs.name ?? e.Actor?.ID?.slice(0, 12)}</span> {attrs.image && <span class="dim">{attrs.image}</span>}
            </li>
          );
        })}
      </ol>
    </section>
  );
}
