import { invalidArgument } from '../common';

/** Where the daemon listens. Only unix sockets and plain tcp are spoken. */
export type DaemonAddress =
  | { kind: 'unix'; socketPath: string; url: string }
  | { kind: 'tcp'; host: string; port: number; url: string };

export const DEFAULT_HOST = 'unix:///run/berth/berth.sock';

/**
 * The daemon address, by precedence: the `-H/--host` flag, then BERTH_HOST, then
 * DOCKER_HOST, then the default socket. Empty values count as unset.
 */
export function resolveHost(flag: string | undefined, env: Record<string, string | undefined>): DaemonAddress {
  const pick = [flag, env['BERTH_HOST'], env['DOCKER_HOST']].find((v) => v !== undefined && v.trim() !== '');
  return parseHost(pick ?? DEFAULT_HOST);
}

export function parseHost(raw: string): DaemonAddress {
  const s = raw.trim();
  if (s.startsWith('unix://')) {
    const p = s.slice('unix://'.length);
    if (!p.startsWith('/')) throw invalidArgument(`invalid host "${raw}": a unix socket needs an absolute path, as in unix:///run/berth/berth.sock`);
    return { kind: 'unix', socketPath: p, url: s };
  }
  if (s.startsWith('/')) return { kind: 'unix', socketPath: s, url: `unix://${s}` };
  const m = /^(?:tcp|http):\/\/(\[[^\]]+\]|[^:/]*)(?::(\d+))?\/?$/.exec(s);
  if (m) {
    const host = (m[1] || '127.0.0.1').replace(/^\[|\]$/g, '');
    const port = m[2] ? Number(m[2]) : 2375;
    if (port < 1 || port > 65535) throw invalidArgument(`invalid host "${raw}": port out of range`);
    return { kind: 'tcp', host, port, url: `tcp://${m[1] || '127.0.0.1'}:${port}` };
  }
  throw invalidArgument(`invalid host "${raw}": use unix:///path/to/socket or tcp://host:port`);
}
