/** Dockerfile-style `--change` lines, as `docker commit` and `docker import` apply them. */
import { invalidArgument, parseGoDuration, replaceOrAppendEnv } from '../common';
import type { ContainerConfig } from '../image';

/** Applies Dockerfile-style `--change` lines (CMD, ENTRYPOINT, ENV, WORKDIR, USER, LABEL, EXPOSE, VOLUME, STOPSIGNAL, HEALTHCHECK). */
export function applyChanges(base: ContainerConfig, changes: string[]): ContainerConfig {
  const cfg: ContainerConfig = { ...base };
  for (const raw of changes) {
    const m = /^\s*(\w+)\s+([\s\S]*)$/.exec(raw);
    if (!m) throw invalidArgument(`invalid change "${raw}": expected an instruction and its arguments, e.g. CMD ["sh"]`);
    const instr = m[1]!.toUpperCase();
    const arg = m[2]!.trim();
    const list = (): string[] => {
      if (arg.startsWith('[')) {
        try {
          const v = JSON.parse(arg) as unknown;
          if (Array.isArray(v) && v.every((x) => typeof x === 'string')) return v as string[];
        } catch {
          // not JSON: shell form below
        }
      }
      return ['/bin/sh', '-c', arg];
    };
    switch (instr) {
      case 'CMD': cfg.Cmd = list(); break;
      case 'ENTRYPOINT': cfg.Entrypoint = list(); break;
      case 'WORKDIR': cfg.WorkingDir = arg; break;
      case 'USER': cfg.User = arg; break;
      case 'STOPSIGNAL': cfg.StopSignal = arg; break;
      case 'ENV': {
        const pairs = arg.includes('=') ? [...arg.matchAll(/(\S+?)=("(?:[^"\\]|\\.)*"|\S*)/g)].map((p) => [p[1]!, p[2]!.replace(/^"|"$/g, '')]) : [[arg.split(/\s+/)[0]!, arg.split(/\s+/).slice(1).join(' ')]];
        cfg.Env = replaceOrAppendEnv(cfg.Env ?? [], pairs.map(([k, v]) => `${k}=${v}`));
        break;
      }
      case 'LABEL': {
        const labels = { ...(cfg.Labels ?? {}) };
        for (const p of arg.matchAll(/(\S+?)=("(?:[^"\\]|\\.)*"|\S*)/g)) labels[p[1]!.replace(/^"|"$/g, '')] = p[2]!.replace(/^"|"$/g, '');
        cfg.Labels = labels;
        break;
      }
      case 'EXPOSE': {
        const ports = { ...(cfg.ExposedPorts ?? {}) };
        for (const p of arg.split(/\s+/)) ports[p.includes('/') ? p : `${p}/tcp`] = {};
        cfg.ExposedPorts = ports;
        break;
      }
      case 'VOLUME': {
        const vols = { ...(cfg.Volumes ?? {}) };
        for (const v of arg.startsWith('[') ? list() : arg.split(/\s+/)) vols[v] = {};
        cfg.Volumes = vols;
        break;
      }
      case 'HEALTHCHECK': cfg.Healthcheck = healthcheck(arg); break;
      default:
        // The instruction as dockerd's parser names it: lower case.
        throw invalidArgument(`${instr.toLowerCase()} is not a valid change command`);
    }
  }
  return cfg;
}

/** `HEALTHCHECK [--interval=D …] CMD …` or `HEALTHCHECK NONE`, as the Dockerfile instruction. */
function healthcheck(arg: string): NonNullable<ContainerConfig['Healthcheck']> {
  if (/^NONE$/i.test(arg)) return { Test: ['NONE'] };
  const out: NonNullable<ContainerConfig['Healthcheck']> = {};
  let rest = arg;
  for (let m = /^--([a-z-]+)=(\S+)\s+/.exec(rest); m; m = /^--([a-z-]+)=(\S+)\s+/.exec(rest)) {
    rest = rest.slice(m[0].length);
    const [, flag, value] = m as unknown as [string, string, string];
    if (flag === 'retries') {
      if (!/^\d+$/.test(value)) throw invalidArgument(`invalid value for --retries: ${value}`);
      out.Retries = Number(value);
      continue;
    }
    const key = ({ interval: 'Interval', timeout: 'Timeout', 'start-period': 'StartPeriod', 'start-interval': 'StartInterval' } as const)[flag as 'interval'];
    if (!key) throw invalidArgument(`unknown flag: --${flag}`);
    out[key] = parseGoDuration(value);
  }
  const m = /^CMD\s+([\s\S]+)$/i.exec(rest);
  if (!m) throw invalidArgument('Unknown type "" in HEALTHCHECK (try CMD)');
  const cmd = m[1]!.trim();
  let test: string[] = ['CMD-SHELL', cmd];
  if (cmd.startsWith('[')) {
    try {
      const v = JSON.parse(cmd) as unknown;
      if (Array.isArray(v) && v.every((x) => typeof x === 'string')) test = ['CMD', ...(v as string[])];
    } catch {
      // shell form
    }
  }
  return { Test: test, ...out };
}
