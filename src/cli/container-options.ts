import type { ContainerCreateRequest, HostConfig } from '../wire';

/** Flags shared by `run` and `create`, as commander hands them over. */
export interface ContainerFlags {
  name?: string;
  env?: string[];
  envFile?: string[];
  workdir?: string;
  user?: string;
  entrypoint?: string;
  hostname?: string;
  tty?: boolean;
  interactive?: boolean;
  rm?: boolean;
  detach?: boolean;
  attach?: string[];
  label?: string[];
  publish?: string[];
  expose?: string[];
  volume?: string[];
  network?: string;
  restart?: string;
  privileged?: boolean;
  init?: boolean;
  readOnly?: boolean;
  capAdd?: string[];
  capDrop?: string[];
  stopSignal?: string;
  stopTimeout?: string;
  platform?: string;
  memory?: string;
  cpus?: string;
  detachKeys?: string;
}

/** Appends to a repeatable flag's list (commander's collector). */
export const collect = (value: string, previous: string[] | undefined): string[] => [...(previous ?? []), value];

/**
 * `-e` values as docker takes them: `K=V` kept; a bare `K` takes the CLI's own
 * value when it has one, else is passed bare (the daemon then unsets K).
 */
export function parseEnv(entries: string[], env: Record<string, string | undefined>): string[] {
  return entries.map((e) => {
    if (e.startsWith('=')) throw new Error(`invalid environment variable: ${e}`);
    if (e.includes('=')) return e;
    const v = env[e];
    return v === undefined ? e : `${e}=${v}`;
  });
}

/** An env file: one `K=V` or `K` per line; `#` comments and blank lines skipped. */
export function parseEnvFile(text: string, env: Record<string, string | undefined>): string[] {
  const lines = text
    .split(/\r?\n/)
    .map((l) => l.replace(/^\s+/, ''))
    .filter((l) => l !== '' && !l.startsWith('#'));
  return parseEnv(lines, env);
}

/** `--filter k=v` (repeatable) → docker's filter map. */
export function parseFilters(entries: string[]): Record<string, string[]> {
  const out: Record<string, string[]> = {};
  for (const e of entries) {
    const i = e.indexOf('=');
    if (i <= 0) throw new Error(`bad format of filter (expected name=value)`);
    const k = e.slice(0, i).trim().toLowerCase();
    (out[k] ??= []).push(e.slice(i + 1));
  }
  return out;
}

/** `512m`, `1g`, `1024` (bytes) → bytes, as docker's RAMInBytes. */
export function parseMemory(s: string): number {
  const m = /^(\d+(?:\.\d+)?)\s*([kmgtp]?)(?:i?b)?$/i.exec(s.trim());
  if (!m) throw new Error(`invalid size: '${s}'`);
  const mult: Record<string, number> = { '': 1, k: 1024, m: 1024 ** 2, g: 1024 ** 3, t: 1024 ** 4, p: 1024 ** 5 };
  return Math.round(Number(m[1]) * mult[m[2]!.toLowerCase()]!);
}

/** `-p [ip:][hostPort:]containerPort[/proto]` → the exposed key and its binding. */
export function parsePublish(spec: string): { port: string; binding: { HostIp: string; HostPort: string } } {
  let rest = spec;
  let proto = 'tcp';
  const slash = rest.lastIndexOf('/');
  if (slash >= 0) {
    proto = rest.slice(slash + 1).toLowerCase();
    rest = rest.slice(0, slash);
  }
  if (!['tcp', 'udp', 'sctp'].includes(proto)) throw new Error(`invalid proto: ${proto}`);
  let hostIp = '';
  const v6 = /^\[([^\]]*)\]:(.*)$/.exec(rest);
  if (v6) {
    hostIp = v6[1]!;
    rest = v6[2]!;
  }
  const parts = rest.split(':');
  let hostPort = '';
  let containerPort: string;
  if (parts.length === 1) containerPort = parts[0]!;
  else if (parts.length === 2) [hostPort, containerPort] = parts as [string, string];
  else if (parts.length === 3 && !v6) [hostIp, hostPort, containerPort] = parts as [string, string, string];
  else throw new Error(`invalid port format for --publish: ${spec}`);
  const valid = (p: string) => /^\d+(-\d+)?$/.test(p) && p.split('-').every((n) => Number(n) >= 1 && Number(n) <= 65535);
  if (!valid(containerPort)) throw new Error(`invalid containerPort: ${containerPort}`);
  if (hostPort !== '' && !valid(hostPort)) throw new Error(`invalid hostPort: ${hostPort}`);
  return { port: `${containerPort}/${proto}`, binding: { HostIp: hostIp, HostPort: hostPort } };
}

/** `no`, `always`, `unless-stopped`, `on-failure[:N]`. */
export function parseRestart(s: string): { Name: 'no' | 'always' | 'unless-stopped' | 'on-failure'; MaximumRetryCount: number } {
  const [name, count] = s.split(':') as [string, string | undefined];
  if (name === 'on-failure') {
    const n = count === undefined ? 0 : Number(count);
    if (!Number.isInteger(n) || n < 0) throw new Error(`invalid restart policy format: maximum retry count must be an integer`);
    return { Name: 'on-failure', MaximumRetryCount: n };
  }
  if (count !== undefined) throw new Error(`invalid restart policy format: maximum retry count can only be used with 'on-failure'`);
  if (name === 'no' || name === 'always' || name === 'unless-stopped' || name === '') return { Name: name === '' ? 'no' : name, MaximumRetryCount: 0 };
  throw new Error(`invalid restart policy format: unknown policy '${name}'; use one of 'no', 'always', 'on-failure', or 'unless-stopped'`);
}

/**
 * The `POST /containers/create` body docker builds from these flags.
 * `envFiles` are the env files' contents, read by the caller.
 */
export function buildCreateRequest(
  image: string,
  args: string[],
  f: ContainerFlags,
  env: Record<string, string | undefined>,
  envFiles: string[] = [],
): ContainerCreateRequest {
  if (f.rm && f.restart && parseRestart(f.restart).Name !== 'no') throw new Error('conflicting options: cannot specify both --restart and --rm');
  const attach = (f.attach ?? []).map((a) => a.toLowerCase());
  for (const a of attach) if (!['stdin', 'stdout', 'stderr'].includes(a)) throw new Error(`invalid argument "${a}" for "-a, --attach" flag: valid streams are STDIN, STDOUT and STDERR`);
  if (f.detach && attach.length) throw new Error('conflicting options: cannot specify both --attach and --detach');
  const attachStdin = attach.length ? attach.includes('stdin') : !!f.interactive && !f.detach;
  const attachStdout = attach.length ? attach.includes('stdout') : !f.detach;
  const attachStderr = attach.length ? attach.includes('stderr') : !f.detach;

  const envList = [...envFiles.flatMap((t) => parseEnvFile(t, env)), ...parseEnv(f.env ?? [], env)];
  const labels: Record<string, string> = {};
  for (const l of f.label ?? []) {
    const i = l.indexOf('=');
    labels[i < 0 ? l : l.slice(0, i)] = i < 0 ? '' : l.slice(i + 1);
  }

  const exposed: Record<string, object> = {};
  const bindings: Record<string, { HostIp: string; HostPort: string }[]> = {};
  for (const p of f.publish ?? []) {
    const { port, binding } = parsePublish(p);
    exposed[port] = {};
    (bindings[port] ??= []).push(binding);
  }
  for (const e of f.expose ?? []) {
    const [port, proto = 'tcp'] = e.split('/');
    exposed[`${port}/${proto}`] = {};
  }

  const binds: string[] = [];
  const volumes: Record<string, object> = {};
  for (const v of f.volume ?? []) {
    if (v.includes(':')) binds.push(v);
    else volumes[v] = {};
  }

  const host: HostConfig = {
    Binds: binds.length ? binds : null,
    NetworkMode: f.network || 'default',
    AutoRemove: !!f.rm,
    RestartPolicy: f.restart ? parseRestart(f.restart) : { Name: 'no', MaximumRetryCount: 0 },
    Privileged: !!f.privileged,
    ReadonlyRootfs: !!f.readOnly,
    CapAdd: f.capAdd?.length ? f.capAdd : null,
    CapDrop: f.capDrop?.length ? f.capDrop : null,
    Init: f.init ? true : null,
    PortBindings: Object.keys(bindings).length ? bindings : {},
  };
  if (f.memory) host['Memory'] = parseMemory(f.memory);
  if (f.cpus) {
    const n = Number(f.cpus);
    if (!(n > 0)) throw new Error(`invalid argument "${f.cpus}" for "--cpus" flag`);
    host['NanoCpus'] = Math.round(n * 1e9);
  }

  let stopTimeout: number | undefined;
  if (f.stopTimeout !== undefined) {
    stopTimeout = Number(f.stopTimeout);
    if (!Number.isInteger(stopTimeout)) throw new Error(`invalid argument "${f.stopTimeout}" for "--stop-timeout" flag`);
  }

  return {
    Hostname: f.hostname ?? '',
    Domainname: '',
    User: f.user ?? '',
    AttachStdin: attachStdin,
    AttachStdout: attachStdout,
    AttachStderr: attachStderr,
    ExposedPorts: Object.keys(exposed).length ? exposed : undefined,
    Tty: !!f.tty,
    OpenStdin: !!f.interactive,
    StdinOnce: !!f.interactive && attachStdin && !f.detach,
    Env: envList,
    Cmd: args.length ? args : null,
    Image: image,
    Volumes: Object.keys(volumes).length ? volumes : null,
    WorkingDir: f.workdir ?? '',
    Entrypoint: f.entrypoint !== undefined ? [f.entrypoint] : null,
    Labels: labels,
    StopSignal: f.stopSignal,
    StopTimeout: stopTimeout,
    HostConfig: host,
    NetworkingConfig: { EndpointsConfig: {} },
  };
}
