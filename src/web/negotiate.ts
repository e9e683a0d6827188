/**
 * The API version to speak to an engine, as the docker CLI negotiates it: the engine's
 * `API-Version` from an unversioned `GET /_ping`, capped at ours. An engine older than
 * 1.45 (dockerd 20.10 speaks 1.41) refuses `/v1.45/…` paths, so the dashboard asks first.
 */
import http from 'node:http';
import type { DaemonAddress } from '../client';
import { API_VERSION } from '../wire';

function compare(a: string, b: string): number {
  const [am, an] = a.split('.').map(Number);
  const [bm, bn] = b.split('.').map(Number);
  return am! - bm! || an! - bn!;
}

export function pickVersion(engine: string | undefined, ours = API_VERSION): string {
  if (!engine || !/^\d+\.\d+$/.test(engine)) return ours;
  return compare(engine, ours) < 0 ? engine : ours;
}

export function negotiateVersion(address: DaemonAddress, timeoutMs = 5000): Promise<string> {
  return new Promise((resolve) => {
    const target = address.kind === 'unix' ? { socketPath: address.socketPath } : { host: address.host, port: address.port };
    const req = http.request({ ...target, method: 'GET', path: '/_ping', agent: false, timeout: timeoutMs }, (res) => {
      res.resume();
      resolve(pickVersion(String(res.headers['api-version'] ?? '')));
    });
    // unreachable now: speak our version; the page shows the engine's error when it answers
    req.on('error', () => resolve(API_VERSION));
    req.on('timeout', () => req.destroy());
    req.end();
  });
}
