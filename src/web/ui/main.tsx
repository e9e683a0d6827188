import { render } from 'preact';
import { useEffect, useState } from 'preact/hooks';
import { Config, getJSON } from './api';
import { ContainersView } from './containers';
import { ContainerView } from './container';
import { ImagesView } from './images';
import { VolumesView, NetworksView } from './resources';
import { EventsView } from './events';
import { SystemView } from './system';
import './style.css';
import 'uplot/dist/uPlot.min.css';
import '@xterm/xterm/css/xterm.css';

function useRoute(): string[] {
  const read = () => (location.hash.replace(/^#\/?/, '') || 'containers').split('/').map(decodeURIComponent);
  const [r, set] = useState(read);
  useEffect(() => {
    const on = () => set(read());
    addEventListener('hashchange', on);
    // the hash may have changed between the first render and this effect
    on();
    return () => removeEventListener('hashchange', on);
  }, []);
  return r;
}

const NAV: [string, string][] = [
  ['containers', 'Containers'],
  ['images', 'Images'],
  ['volumes', 'Volumes'],
  ['networks', 'Networks'],
  ['events', 'Events'],
  ['system', 'System'],
];

function App() {
  const [config, setConfig] = useState<Config | undefined>();
  const [err, setErr] = useState('');
  const route = useRoute();
  useEffect(() => {
    getJSON<Config>('/dashboard/config').then(setConfig, (e) => setErr(String(e.message)));
  }, []);
  if (err) return <div class="fatal">Cannot reach the dashboard: {err}</div>;
  if (!config) return <div class="loading">Loading…</div>;
  const [top, id, sub] = route;
  let view;
  if (top === 'containers' && id) view = <ContainerView key={id} id={id} tab={sub ?? 'stats'} config={config} />;
  else if (top === 'containers') view = <ContainersView config={config} />;
  else if (top === 'images') view = <ImagesView config={config} detail={id} />;
  else if (top === 'volumes') view = <VolumesView config={config} />;
  else if (top === 'networks') view = <NetworksView config={config} />;
  else if (top === 'events') view = <EventsView />;
  else if (top === 'system') view = <SystemView />;
  else view = <div>No such page.</div>;
  return (
    <div class="app">
      <nav>
        <div class="brand">⚓ Berth</div>
        {NAV.map(([k, label]) => (
          <a href={`#/${k}`} class={top === k ? 'active' : ''} id={`nav-${k}`}>
            {label}
          </a>
        ))}
        <div class="engine" title="engine address">
          {config.engine}
          {config.readOnly && <div class="badge ro">read-only</div>}
        </div>
      </nav>
      <main>{view}</main>
    </div>
  );
}

render(<App />, document.getElementById('app')!);
