import { useEffect, useState } from 'preact/hooks';
import { bytes, call, Config, getJSON, jsonLines, q, shortId } from './api';

function ago(ts: number) {
  return new Date(ts * 1000).toLocaleString();
}

export function ImagesView({ config, detail }: { config: Config; detail?: string }) {
  const [images, setImages] = useState<any[]>([]);
  const [shared, setShared] = useState(new Map<string, number>());
  const [err, setErr] = useState('');
  const [msg, setMsg] = useState('');
  const [runFrom, setRunFrom] = useState<string | undefined>();
  const load = () => {
    getJSON('/api/images/json').then(setImages, (e) => setErr(e.message));
    getJSON('/api/system/df').then(
      (df) => setShared(new Map((df.Images ?? []).map((i: any) => [i.Id, i.SharedSize]))),
      () => undefined,
    );
  };
  useEffect(load, []);
  if (detail) return <ImageDetail name={detail} />;
  const remove = async (img: any) => {
    const name = img.RepoTags?.[0] && img.RepoTags[0] !== '<none>:<none>' ? img.RepoTags[0] : img.Id;
    if (!confirm(`Remove image ${name}?`)) return;
    try {
      await call('DELETE', `/api/images/${name.split('/').map(encodeURIComponent).join('/')}`);
      load();
    } catch (e: any) {
      setErr(e.message);
    }
  };
  const prune = async () => {
    if (!confirm('Remove all dangling images?')) return;
    try {
      const r = await call('POST', '/api/images/prune');
      setMsg(`Pruned ${(r?.ImagesDeleted ?? []).length} images, reclaimed ${bytes(r?.SpaceReclaimed ?? 0)}`);
      load();
    } catch (e: any) {
      setErr(e.message);
    }
  };
  return (
    <section>
      <h1>Images <small>{images.length}</small></h1>
      {!config.readOnly && (
        <div class="toolbar">
          <Pull onDone={load} />
          <button id="prune-images" onClick={prune}>Prune dangling</button>
        </div>
      )}
      {err && <div class="error" onClick={() => setErr('')}>{err}</div>}
      {msg && <div class="note">{msg}</div>}
      {runFrom && <RunForm image={runFrom} onClose={() => setRunFrom(undefined)} />}
      <table class="grid" id="images">
        <thead><tr><th>Repository:tag</th><th>Id</th><th>Created</th><th>Size</th><th>Shared</th><th>Containers</th><th></th></tr></thead>
        <tbody>
          {images.map((i) => {
            const tags: string[] = (i.RepoTags ?? []).filter((t: string) => t !== '<none>:<none>');
            const name = tags[0] ?? i.Id;
            const sh = shared.get(i.Id) ?? i.SharedSize;
            return (
              <tr data-image={name}>
                <td>{tags.length ? tags.map((t) => <div><a href={`#/images/${encodeURIComponent(t)}`}>{t}</a></div>) : <a href={`#/images/${encodeURIComponent(i.Id)}`}>&lt;none&gt;</a>}</td>
                <td class="id">{shortId(i.Id)}</td>
                <td>{ago(i.Created)}</td>
                <td class="num">{bytes(i.Size)}</td>
                <td class="num">{sh >= 0 ? bytes(sh) : '—'}</td>
                <td class="num">{i.Containers >= 0 ? i.Containers : '—'}</td>
                <td>
                  {!config.readOnly && (
                    <span class="actions">
                      <button class="act-run" onClick={() => setRunFrom(name)}>run</button>
                      <button class="act-remove" onClick={() => remove(i)}>remove</button>
                    </span>
                  )}
                </td>
              </tr>
            );
          })}
        </tbody>
      </table>
    </section>
  );
}

function ImageDetail({ name }: { name: string }) {
  const [img, setImg] = useState<any>();
  const [hist, setHist] = useState<any[]>([]);
  const [err, setErr] = useState('');
  const path = name.split('/').map(encodeURIComponent).join('/');
  useEffect(() => {
    getJSON(`/api/images/${path}/json`).then(setImg, (e) => setErr(e.message));
    getJSON(`/api/images/${path}/history`).then(setHist, () => undefined);
  }, [name]);
  if (err) return <div class="error">{err}</div>;
  if (!img) return <div class="loading">Loading…</div>;
  return (
    <section>
      <h1><a href="#/images">Images</a> / {name}</h1>
      <table class="kv">
        <tbody>
          <tr><th>Id</th><td><code>{img.Id}</code></td></tr>
          <tr><th>Tags</th><td>{(img.RepoTags ?? []).join(', ')}</td></tr>
          <tr><th>Digests</th><td>{(img.RepoDigests ?? []).join(', ')}</td></tr>
          <tr><th>Platform</th><td>{img.Os}/{img.Architecture}{img.Variant ? `/${img.Variant}` : ''}</td></tr>
          <tr><th>Size</th><td>{bytes(img.Size)}</td></tr>
          <tr><th>Command</th><td><code>{[...(img.Config?.Entrypoint ?? []), ...(img.Config?.Cmd ?? [])].join(' ')}</code></td></tr>
          <tr><th>Env</th><td>{(img.Config?.Env ?? []).map((e: string) => <div><code>{e}</code></div>)}</td></tr>
          <tr><th>Exposed ports</th><td>{Object.keys(img.Config?.ExposedPorts ?? {}).join(', ')}</td></tr>
        </tbody>
      </table>
      <h2>Layers</h2>
      <ol class="layers">{(img.RootFS?.Layers ?? []).map((l: string) => <li><code>{l}</code></li>)}</ol>
      <h2>History</h2>
      <table class="grid" id="history">
        <thead><tr><th>Created</th><th>Created by</th><th>Size</th></tr></thead>
        <tbody>
          {hist.map((h) => (
            <tr><td>{h.Created ? ago(h.Created) : ''}</td><td><code class="wrap">{h.CreatedBy}</code></td><td class="num">{bytes(h.Size)}</td></tr>
          ))}
        </tbody>
      </table>
    </section>
  );
}

interface LayerProgress {
  status: string;
  current?: number;
  total?: number;
}

/** Pull with one progress bar per layer, from the engine's JSON progress stream. */
function Pull({ onDone }: { onDone: () => void }) {
  const [ref, setRef] = useState('');
  const [layers, setLayers] = useState(new Map<string, LayerProgress>());
  const [status, setStatus] = useState('');
  const [busy, setBusy] = useState(false);
  const start = async (e: Event) => {
    e.preventDefault();
    if (!ref.trim()) return;
    setBusy(true);
    const m = new Map<string, LayerProgress>();
    setLayers(m);
    setStatus('');
    const at = ref.lastIndexOf('@');
    const colon = ref.lastIndexOf(':');
    const slash = ref.lastIndexOf('/');
    const [image, tag] = at > 0 ? [ref.slice(0, at), ref.slice(at + 1)] : colon > slash ? [ref.slice(0, colon), ref.slice(colon + 1)] : [ref, 'latest'];
    try {
      await jsonLines('POST', `/api/images/create${q({ fromImage: image, tag })}`, (msg) => {
        if (msg.error) throw new Error(msg.errorDetail?.message ?? msg.error);
        if (msg.id && msg.progressDetail !== undefined && /^[0-9a-f]{12}$/.test(msg.id)) {
          m.set(msg.id, { status: msg.status, current: msg.progressDetail?.current, total: msg.progressDetail?.total });
          setLayers(new Map(m));
        } else if (msg.status) setStatus(msg.status);
      }, new AbortController().signal);
      onDone();
    } catch (err: any) {
      setStatus(`error: ${err.message}`);
    } finally {
      setBusy(false);
    }
  };
  return (
    <form class="pull" onSubmit={start}>
      <input id="pull-ref" placeholder="image to pull, e.g. alpine:3.20" value={ref} onInput={(e) => setRef((e.target as HTMLInputElement).value)} />
      <button disabled={busy}>Pull</button>
      <span class="dim">{status}</span>
      {layers.size > 0 && (
        <div class="layers-progress">
          {[...layers].map(([id, p]) => (
            <div class="layer">
              <code>{id}</code> <progress max={p.total || 1} value={p.total ? p.current ?? 0 : /complete|exists/i.test(p.status) ? 1 : 0} /> <span class="dim">{p.status}</span>
            </div>
          ))}
        </div>
      )}
    </form>
  );
}

function lines(s: string): string[] {
  return s.split('\n').map((l) => l.trim()).filter(Boolean);
}

/** The run-from-image form: create with name, ports, env, volumes, command; then start. */
export function RunForm({ image, onClose }: { image: string; onClose: () => void }) {
  const [f, setF] = useState({ name: '', ports: '', env: '', volumes: '', cmd: '' });
  const [err, setErr] = useState('');
  const [busy, setBusy] = useState(false);
  const field = (k: keyof typeof f) => ({ value: f[k], onInput: (e: Event) => setF({ ...f, [k]: (e.target as HTMLInputElement).value }) });
  const submit = async (e: Event) => {
    e.preventDefault();
    setErr('');
    const exposed: Record<string, {}> = {};
    const bindings: Record<string, { HostIp: string; HostPort: string }[]> = {};
    try {
      for (const p of lines(f.ports.replace(/,/g, '\n'))) {
        const m = /^(?:([\d.]+):)?(\d+)?:?(\d+)(?:\/(tcp|udp))?$/.exec(p);
        if (!m) throw new Error(`port "${p}": use HOSTPORT:PORT or PORT`);
        const key = `${m[3]}/${m[4] ?? 'tcp'}`;
        exposed[key] = {};
        (bindings[key] ??= []).push({ HostIp: m[1] ?? '', HostPort: m[2] ?? '' });
      }
      const binds = lines(f.volumes.replace(/,/g, '\n'));
      for (const b of binds) if (!/^[^:]+:\/[^:]*(:(ro|rw))?$/.test(b)) throw new Error(`volume "${b}": use NAME:/path or /host/path:/path[:ro]`);
      const cmd = f.cmd.trim() ? ['sh', '-c', f.cmd.trim()] : undefined;
      setBusy(true);
      const created = await call('POST', `/api/containers/create${q({ name: f.name.trim() || undefined })}`, {
        Image: image,
        Cmd: cmd,
        Env: lines(f.env),
        ExposedPorts: exposed,
        HostConfig: { PortBindings: bindings, Binds: binds },
      });
      await call('POST', `/api/containers/${created.Id}/start`);
      location.hash = `#/containers/${created.Id}`;
    } catch (e: any) {
      setErr(e.message);
    } finally {
      setBusy(false);
    }
  };
  return (
    <form class="run-form" id="run-form" onSubmit={submit}>
      <h2>Run a container from {image}</h2>
      <label>Name <input name="name" {...field('name')} placeholder="optional" /></label>
      <label>Ports <input name="ports" {...field('ports')} placeholder="8080:80, 53/udp" /></label>
      <label>Environment <textarea name="env" {...field('env')} placeholder="KEY=value, one a line" /></label>
      <label>Volumes <input name="volumes" {...field('volumes')} placeholder="data:/data, /host/dir:/dir:ro" /></label>
      <label>Command <input name="cmd" {...field('cmd')} placeholder="run by sh -c; empty: the image's" /></label>
      {err && <div class="error">{err}</div>}
      <div>
        <button type="submit" id="run-submit" disabled={busy}>Create and start</button> <button type="button" onClick={onClose}>Cancel</button>
      </div>
    </form>
  );
}
