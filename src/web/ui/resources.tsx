import { useEffect, useState } from 'preact/hooks';
import { ApiError, call, Config, getJSON } from './api';

const name = (c: any) => (c.Names?.[0] ?? c.Id.slice(0, 12)).replace(/^\//, '');

export function VolumesView({ config }: { config: Config }) {
  const [vols, setVols] = useState<any[] | undefined>();
  const [users, setUsers] = useState(new Map<string, string[]>());
  const [err, setErr] = useState('');
  const [newName, setNewName] = useState('');
  const load = () => {
    getJSON('/api/volumes').then((r) => setVols(r.Volumes ?? []), (e) => { setVols([]); setErr(e.message); });
    getJSON('/api/containers/json?all=1').then((cs: any[]) => {
      const m = new Map<string, string[]>();
      for (const c of cs) for (const mt of c.Mounts ?? []) if (mt.Type === 'volume' && mt.Name) m.set(mt.Name, [...(m.get(mt.Name) ?? []), name(c)]);
      setUsers(m);
    }, () => undefined);
  };
  useEffect(load, []);
  const create = async (e: Event) => {
    e.preventDefault();
    try {
      await call('POST', '/api/volumes/create', { Name: newName.trim() || undefined });
      setNewName('');
      load();
    } catch (x: any) {
      setErr(x.message);
    }
  };
  const remove = async (v: string) => {
    if (!confirm(`Remove volume ${v}? Its data is lost.`)) return;
    try {
      await call('DELETE', `/api/volumes/${encodeURIComponent(v)}`);
      load();
    } catch (x: any) {
      setErr(x.message);
    }
  };
  return (
    <section>
      <h1>Volumes <small>{vols?.length}</small></h1>
      {!config.readOnly && (
        <form class="toolbar" onSubmit={create}>
          <input id="volume-name" placeholder="new volume name (empty: random)" value={newName} onInput={(e) => setNewName((e.target as HTMLInputElement).value)} />
          <button>Create</button>
        </form>
      )}
      {err && <div class="error" onClick={() => setErr('')}>{err}</div>}
      <table class="grid" id="volumes" data-loaded={vols ? '1' : undefined}>
        <thead><tr><th>Name</th><th>Driver</th><th>Mountpoint</th><th>Used by</th><th></th></tr></thead>
        <tbody>
          {(vols ?? []).map((v) => (
            <tr data-volume={v.Name}>
              <td>{v.Name}</td><td>{v.Driver}</td><td><code>{v.Mountpoint}</code></td>
              <td>{(users.get(v.Name) ?? []).join(', ') || <span class="dim">none</span>}</td>
              <td>{!config.readOnly && <button class="act-remove" onClick={() => remove(v.Name)}>remove</button>}</td>
            </tr>
          ))}
        </tbody>
      </table>
    </section>
  );
}

interface Net {
  name: string;
  id?: string;
  driver?: string;
  subnet?: string;
  containers: { name: string; ip: string; id: string }[];
}

/** Networks from /networks when the engine has it; otherwise what the containers say they are attached to. */
export function NetworksView({ config }: { config: Config }) {
  const [nets, setNets] = useState<Net[]>([]);
  const [missing, setMissing] = useState(false);
  const [loaded, setLoaded] = useState(false);
  const [err, setErr] = useState('');
  const [newName, setNewName] = useState('');
  const [subnet, setSubnet] = useState('');
  const [gateway, setGateway] = useState('');
  const [internal, setInternal] = useState(false);
  const load = async () => {
    try {
      const cs: any[] = await getJSON('/api/containers/json?all=1');
      let list: any[] = [];
      try {
        list = await getJSON('/api/networks');
        setMissing(false);
      } catch (e) {
        if (!(e instanceof ApiError) || (e.status !== 404 && e.status !== 501)) throw e;
        setMissing(true);
      }
      const m = new Map<string, Net>();
      for (const n of list) m.set(n.Name, { name: n.Name, id: n.Id, driver: n.Driver, subnet: n.IPAM?.Config?.[0]?.Subnet, containers: [] });
      for (const c of cs)
        for (const [nn, v] of Object.entries<any>(c.NetworkSettings?.Networks ?? {})) {
          if (!m.has(nn)) m.set(nn, { name: nn, containers: [] });
          m.get(nn)!.containers.push({ name: name(c), ip: v.IPAddress ?? '', id: c.Id });
        }
      setNets([...m.values()].sort((a, b) => a.name.localeCompare(b.name)));
      setLoaded(true);
    } catch (e: any) {
      setErr(e.message);
    }
  };
  useEffect(() => {
    load();
  }, []);
  const create = async (e: Event) => {
    e.preventDefault();
    try {
      const ipam = subnet.trim() ? { Config: [{ Subnet: subnet.trim(), ...(gateway.trim() ? { Gateway: gateway.trim() } : {}) }] } : undefined;
      await call('POST', '/api/networks/create', { Name: newName.trim(), Driver: 'bridge', ...(ipam ? { IPAM: ipam } : {}), ...(internal ? { Internal: true } : {}) });
      setNewName('');
      setSubnet('');
      setGateway('');
      setInternal(false);
      load();
    } catch (x: any) {
      setErr(x.message);
    }
  };
  const remove = async (n: Net) => {
    if (!confirm(`Remove network ${n.name}?`)) return;
    try {
      await call('DELETE', `/api/networks/${encodeURIComponent(n.id ?? n.name)}`);
      load();
    } catch (x: any) {
      setErr(x.message);
    }
  };
  return (
    <section>
      <h1>Networks <small>{nets.length}</small></h1>
      {missing && <div class="note">This engine does not list networks (/networks answered 404); shown are the networks its containers report.</div>}
      {!config.readOnly && !missing && (
        <form class="toolbar" onSubmit={create}>
          <input id="network-name" placeholder="new network name" required value={newName} onInput={(e) => setNewName((e.target as HTMLInputElement).value)} />
          <input id="network-subnet" placeholder="subnet (optional), 10.1.2.0/24" value={subnet} onInput={(e) => setSubnet((e.target as HTMLInputElement).value)} />
          <input id="network-gateway" placeholder="gateway (optional)" value={gateway} onInput={(e) => setGateway((e.target as HTMLInputElement).value)} />
          <label><input id="network-internal" type="checkbox" checked={internal} onChange={(e) => setInternal((e.target as HTMLInputElement).checked)} /> internal</label>
          <button>Create</button>
        </form>
      )}
      {err && <div class="error" onClick={() => setErr('')}>{err}</div>}
      <table class="grid" id="networks" data-loaded={loaded ? '1' : undefined}>
        <thead><tr><th>Name</th><th>Driver</th><th>Subnet</th><th>Containers</th><th></th></tr></thead>
        <tbody>
          {nets.map((n) => (
            <tr data-network={n.name}>
              <td>{n.name}</td><td>{n.driver ?? '—'}</td><td>{n.subnet ?? '—'}</td>
              <td class="members">
                {n.containers.length ? n.containers.map((c, i) => <span data-container={c.name}>{i ? ', ' : ''}{c.name}{c.ip ? ` (${c.ip})` : ''}</span>) : <span class="dim">none</span>}
              </td>
              <td>{!config.readOnly && n.id && !['bridge', 'host', 'none'].includes(n.name) && <button class="act-remove" onClick={() => remove(n)}>remove</button>}</td>
            </tr>
          ))}
        </tbody>
      </table>
      <h2>Diagram</h2>
      <Diagram nets={nets} />
    </section>
  );
}

function Diagram({ nets }: { nets: Net[] }) {
  const containers = new Map<string, string>();
  for (const n of nets) for (const c of n.containers) containers.set(c.id, c.name);
  const cids = [...containers.keys()];
  const rowH = 34;
  const h = Math.max(nets.length, cids.length, 1) * rowH + 20;
  const ny = (i: number) => 20 + i * rowH + ((Math.max(cids.length, nets.length) - nets.length) * rowH) / 2;
  const cy = (i: number) => 20 + i * rowH + ((Math.max(cids.length, nets.length) - cids.length) * rowH) / 2;
  return (
    <svg class="diagram" id="net-diagram" width="640" height={h} viewBox={`0 0 640 ${h}`}>
      {nets.map((n, i) =>
        n.containers.map((c) => {
          const j = cids.indexOf(c.id);
          return <line x1="170" y1={ny(i) + 11} x2="440" y2={cy(j) + 11} class="link" data-link={`${n.name}|${c.name}`} />;
        }),
      )}
      {nets.map((n, i) => (
        <g data-network={n.name}>
          <rect x="10" y={ny(i)} width="160" height="22" rx="4" class="net" />
          <text x="18" y={ny(i) + 15}>{n.name}</text>
        </g>
      ))}
      {cids.map((id, j) => (
        <g data-container={containers.get(id)}>
          <rect x="440" y={cy(j)} width="190" height="22" rx="11" class="ctr" />
          <text x="452" y={cy(j) + 15}>{containers.get(id)}</text>
        </g>
      ))}
    </svg>
  );
}
