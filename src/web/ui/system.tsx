import { useEffect, useState } from 'preact/hooks';
import { bytes, getJSON } from './api';

export function SystemView() {
  const [info, setInfo] = useState<any>();
  const [version, setVersion] = useState<any>();
  const [df, setDf] = useState<any>();
  const [err, setErr] = useState('');
  useEffect(() => {
    getJSON('/api/info').then(setInfo, (e) => setErr(e.message));
    getJSON('/api/version').then(setVersion, () => undefined);
    getJSON('/api/system/df').then(setDf, () => undefined);
  }, []);
  const parts: [string, number, string][] = df
    ? [
        ['Images', df.LayersSize ?? (df.Images ?? []).reduce((a: number, i: any) => a + (i.Size ?? 0), 0), '#2f7ed8'],
        ['Containers', (df.Containers ?? []).reduce((a: number, c: any) => a + (c.SizeRw ?? 0), 0), '#8e44ad'],
        ['Volumes', (df.Volumes ?? []).reduce((a: number, v: any) => a + Math.max(0, v.UsageData?.Size ?? 0), 0), '#27ae60'],
        ['Build cache', (df.BuildCache ?? []).reduce((a: number, b: any) => a + (b.Size ?? 0), 0), '#e67e22'],
      ]
    : [];
  const total = parts.reduce((a, p) => a + p[1], 0);
  return (
    <section>
      <h1>System</h1>
      {err && <div class="error">{err}</div>}
      <h2>Disk usage</h2>
      {df && (
        <div id="df">
          <div class="bar">
            {parts.map(([label, v, color]) => (total > 0 && v > 0 ? <div title={`${label}: ${bytes(v)}`} style={{ width: `${(v / total) * 100}%`, background: color }} /> : null))}
          </div>
          <ul class="legend">
            {parts.map(([label, v, color]) => (
              <li><span class="swatch" style={{ background: color }} /> {label}: {bytes(v)}</li>
            ))}
            <li>Total: {bytes(total)}</li>
          </ul>
        </div>
      )}
      {version && (
        <>
          <h2>Version</h2>
          <table class="kv" id="version">
            <tbody>
              <tr><th>Engine</th><td>{version.Components?.[0]?.Name ?? 'Engine'} {version.Version}</td></tr>
              <tr><th>API version</th><td id="api-version">{version.ApiVersion} (minimum {version.MinAPIVersion})</td></tr>
              <tr><th>OS/Arch</th><td>{version.Os}/{version.Arch}</td></tr>
              <tr><th>Kernel</th><td>{version.KernelVersion}</td></tr>
            </tbody>
          </table>
        </>
      )}
      {info && (
        <>
          <h2>Info</h2>
          <table class="kv" id="info">
            <tbody>
              {[
                ['Name', info.Name], ['Containers', `${info.Containers} (${info.ContainersRunning} running, ${info.ContainersPaused} paused, ${info.ContainersStopped} stopped)`],
                ['Images', info.Images], ['Server version', info.ServerVersion], ['Storage driver', info.Driver], ['Cgroup', `${info.CgroupDriver} v${info.CgroupVersion}`],
                ['Runtime', info.DefaultRuntime], ['Kernel', info.KernelVersion], ['OS', info.OperatingSystem], ['CPUs', info.NCPU], ['Memory', bytes(info.MemTotal)],
                ['Root dir', info.DockerRootDir],
              ].map(([k, v]) => <tr><th>{k}</th><td>{String(v ?? '—')}</td></tr>)}
            </tbody>
          </table>
        </>
      )}
    </section>
  );
}
