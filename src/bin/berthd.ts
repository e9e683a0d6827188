/**
 * berthd: parse dockerd-compatible flags, open the engine, serve the API.
 *   berthd -H unix:///run/berth/berth.sock --data-root /var/lib/berth --exec-root /run/berth --pidfile /run/berth.pid
 */
import { promises as fsp, readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { setFlagsFromString } from 'node:v8';
import { ApiServer, parseDetachKeys, specFromDocker } from '../api';
import type { CriServer } from '../cri';
import { log, setLogLevel, traceSpan, traceStart } from '../common';
import { checkLogConfig, DEFAULT_LOG_DRIVER, Engine } from '../engine';
import { setupRemap } from '../runtime';
import type { RegistryServer } from '../registry';
import { releaseMemoryWhenIdle } from './idle-memory';
import { parseHostPort } from './registry-command';

interface Flags {
  hosts: string[];
  dataRoot: string;
  execRoot: string;
  pidfile: string;
  storageDriver?: string;
  runtime?: string;
  logLevel?: string;
  configFile: string;
  usernsRemap?: string;
  insecureRegistries: string[];
  logDriver?: string;
  logOpts: Record<string, string>;
  detachKeys?: string;
  registry?: { host: string; port: number; root?: string; htpasswd?: string };
  bridge?: string;
  bip?: string;
  pools: { base: string; size: number }[];
  userlandProxy?: boolean;
  criSocket?: string;
  podInfraImage: string;
  cniConfDir: string;
  cniBinDir: string;
  registryConfig?: string;
}

const USAGE = `Usage: berthd [OPTIONS]

A Docker-compatible container engine.

Options:
  -H, --host list            Daemon socket(s) to listen on (default unix:///run/berth/berth.sock)
      --data-root string     Root directory of persistent state (default "/var/lib/berth")
      --exec-root string     Root directory for execution state files (default "/run/berth")
  -p, --pidfile string       Path to use for daemon PID file (default "/run/berth.pid")
  -s, --storage-driver string  Storage driver to use: overlay2 (default) or vfs
      --runtime string       OCI runtime binary (default "runc")
  -l, --log-level string     Set the logging level (debug, info, warn, error, fatal) (default "info")
      --config-file string   Daemon configuration file (default "/etc/berth/daemon.json")
      --userns-remap string  User/Group setting for user namespaces: default or USER[:GROUP]
      --insecure-registry list  Registries (host[:port] or CIDR) to reach over plain HTTP; loopback ones always are
      --log-driver string    Default driver for container logs (default "json-file")
      --log-opt map          Default log driver options (KEY=VALUE)
  -b, --bridge string        Bridge device of the default network (default "berth0"); "none" turns it off
      --bip string           The default bridge's address and prefix, such as 172.17.0.1/16
      --userland-proxy       Hold published ports with a proxy that also serves them on IPv6 (default true)
      --default-address-pool pool-options  Default address pools for networks (base=CIDR,size=N)
      --cri-socket string    Also serve the Kubernetes CRI (v1) on this unix socket
      --pod-infra-image string  Image of pod sandboxes' infra container (default "registry.k8s.io/pause:3.6")
      --cni-conf-dir string  CNI network configurations of pods (default "/etc/cni/net.d")
      --cni-bin-dir string   CNI plugin binaries (default "/usr/lib/cni")
      --registry-config string  Registry mirrors in containerd's hosts.toml layout (DIR/<registry>/hosts.toml)
  -v, --version              Print version information and quit
`;

function parseFlags(argv: string[]): Flags {
  const f: Flags = { hosts: [], dataRoot: '/var/lib/berth', execRoot: '/run/berth', pidfile: '/run/berth.pid', configFile: '/etc/berth/daemon.json', insecureRegistries: [], logOpts: {}, pools: [], podInfraImage: 'registry.k8s.io/pause:3.6', cniConfDir: '/etc/cni/net.d', cniBinDir: '/usr/lib/cni' };
  for (let i = 0; i < argv.length; i++) {
    let a = argv[i]!;
    let val: string | undefined;
    const eq = a.indexOf('=');
    if (a.startsWith('--') && eq > 0) {
      val = a.slice(eq + 1);
      a = a.slice(0, eq);
    }
    const next = () => {
      if (val !== undefined) return val;
      const v = argv[++i];
      if (v === undefined) fail(`flag needs an argument: ${a}`);
      return v!;
    };
    switch (a) {
      case '-H': case '--host': f.hosts.push(next()); break;
      case '--data-root': case '-g': case '--graph': f.dataRoot = next(); break;
      case '--exec-root': f.execRoot = next(); break;
      case '-p': case '--pidfile': f.pidfile = next(); break;
      case '-s': case '--storage-driver': f.storageDriver = next(); break;
      case '--runtime': case '--default-runtime': f.runtime = next(); break;
      case '-l': case '--log-level': f.logLevel = next(); break;
      case '--config-file': f.configFile = next(); break;
      case '--userns-remap': f.usernsRemap = next(); break;
      case '--insecure-registry': f.insecureRegistries.push(next()); break;
      case '--log-driver': f.logDriver = next(); break;
      case '--cri-socket': f.criSocket = next().replace(/^unix:\/\//, ''); break;
      case '--pod-infra-image': f.podInfraImage = next(); break;
      case '--cni-conf-dir': f.cniConfDir = next(); break;
      case '--cni-bin-dir': f.cniBinDir = next(); break;
      case '--registry-config': f.registryConfig = next(); break;
      case '--log-opt': {
        const kv = next();
        const eq = kv.indexOf('=');
        if (eq <= 0) fail(`invalid --log-opt ${JSON.stringify(kv)}: use KEY=VALUE`);
        f.logOpts[kv.slice(0, eq)] = kv.slice(eq + 1);
        break;
      }
      case '-b': case '--bridge': f.bridge = next(); break;
      case '--bip': f.bip = next(); break;
      case '--default-address-pool': f.pools.push(parsePool(next())); break;
      case '--userland-proxy': f.userlandProxy = parseBool(a, val); break;
      case '-D': case '--debug': f.logLevel = 'debug'; break;
      case '-v': case '--version': process.stdout.write('Berth version 0.1.0\n'); process.exit(0); break;
      case '-h': case '--help': process.stdout.write(USAGE); process.exit(0); break;
      default: fail(`unknown flag: ${a}\nSee 'berthd --help'.`);
    }
  }
  return f;
}

/** A boolean flag's value as Go's flag package reads it: none (true), or =true/false/1/0. */
function parseBool(flag: string, val: string | undefined): boolean {
  if (val === undefined) return true;
  const v = val.toLowerCase();
  if (['1', 't', 'true'].includes(v)) return true;
  if (['0', 'f', 'false'].includes(v)) return false;
  fail(`invalid argument ${JSON.stringify(val)} for "${flag}" flag: use true or false`);
}

/** `base=10.10.0.0/16,size=24` (dockerd's --default-address-pool). */
function parsePool(v: string): { base: string; size: number } {
  const kv = Object.fromEntries(v.split(',').map((p) => p.split('=') as [string, string]));
  const size = Number(kv.size);
  if (!kv.base || !/^\d+\.\d+\.\d+\.\d+\/\d+$/.test(kv.base) || !Number.isInteger(size) || size < 1 || size > 30) {
    fail(`invalid --default-address-pool ${JSON.stringify(v)}: use base=CIDR,size=PREFIX such as base=10.10.0.0/16,size=24`);
  }
  return { base: kv.base, size };
}

function fail(msg: string): never {
  process.stderr.write(`berthd: ${msg}\n`);
  process.exit(125);
}

/** daemon.json keys with dockerd's names; flags win. */
function applyConfigFile(f: Flags, explicit: Set<string>): void {
  let cfg: Record<string, unknown>;
  try {
    cfg = JSON.parse(readFileSync(f.configFile, 'utf8')) as Record<string, unknown>;
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return;
    fail(`cannot read ${f.configFile}: ${(err as Error).message}`);
  }
  if (!explicit.has('hosts') && Array.isArray(cfg.hosts)) f.hosts = cfg.hosts.map(String);
  if (!explicit.has('data-root') && typeof cfg['data-root'] === 'string') f.dataRoot = cfg['data-root'];
  if (!explicit.has('exec-root') && typeof cfg['exec-root'] === 'string') f.execRoot = cfg['exec-root'];
  if (!explicit.has('pidfile') && typeof cfg.pidfile === 'string') f.pidfile = cfg.pidfile;
  if (!f.storageDriver && typeof cfg['storage-driver'] === 'string') f.storageDriver = cfg['storage-driver'];
  if (!f.logLevel && typeof cfg['log-level'] === 'string') f.logLevel = cfg['log-level'];
  const insecure = cfg['insecure-registries'];
  if (insecure !== undefined) {
    if (!Array.isArray(insecure) || !insecure.every((x) => typeof x === 'string')) fail(`${f.configFile}: "insecure-registries" must be a list of host[:port] or CIDR strings`);
    f.insecureRegistries.push(...insecure);
  }
  if (!f.logDriver && cfg['log-driver'] !== undefined) {
    if (typeof cfg['log-driver'] !== 'string') fail(`${f.configFile}: "log-driver" must be a string such as "json-file"`);
    f.logDriver = cfg['log-driver'];
  }
  const logOpts = cfg['log-opts'];
  if (logOpts !== undefined) {
    if (typeof logOpts !== 'object' || logOpts === null || Array.isArray(logOpts) || !Object.values(logOpts).every((v) => typeof v === 'string')) {
      fail(`${f.configFile}: "log-opts" must be an object of strings such as {"max-size": "10m"}`);
    }
    f.logOpts = { ...(logOpts as Record<string, string>), ...f.logOpts };
  }
  const reg = cfg['berth-registry'];
  if (reg !== undefined) {
    // {"berth-registry": {"addr": "127.0.0.1:5000", "root": DIR, "htpasswd": FILE}}: an embedded registry beside the API.
    const bad = (why: string) => fail(`${f.configFile}: "berth-registry" ${why}`);
    if (typeof reg !== 'object' || reg === null || Array.isArray(reg)) bad('must be an object such as {"addr": "127.0.0.1:5000"}');
    const r = reg as Record<string, unknown>;
    for (const k of Object.keys(r)) if (!['addr', 'root', 'htpasswd'].includes(k)) bad(`has an unknown key "${k}"; known are addr, root, htpasswd`);
    for (const k of ['addr', 'root', 'htpasswd']) if (r[k] !== undefined && typeof r[k] !== 'string') bad(`.${k} must be a string`);
    const addr = parseHostPort((r.addr as string | undefined) ?? '127.0.0.1:5000');
    if (!addr) bad('.addr must be HOST:PORT');
    f.registry = { ...addr!, root: r.root as string | undefined, htpasswd: r.htpasswd as string | undefined };
  }
  if (!f.bridge && typeof cfg.bridge === 'string') f.bridge = cfg.bridge;
  if (!f.bip && typeof cfg.bip === 'string') f.bip = cfg.bip;
  if (f.userlandProxy === undefined && cfg['userland-proxy'] !== undefined) {
    if (typeof cfg['userland-proxy'] !== 'boolean') fail(`${f.configFile}: "userland-proxy" must be true or false`);
    f.userlandProxy = cfg['userland-proxy'] as boolean;
  }
  const pools = cfg['default-address-pools'];
  if (f.pools.length === 0 && pools !== undefined) {
    if (!Array.isArray(pools)) fail(`${f.configFile}: "default-address-pools" must be a list such as [{"base": "10.10.0.0/16", "size": 24}]`);
    f.pools = (pools as { base?: unknown; size?: unknown }[]).map((p) => parsePool(`base=${String(p.base)},size=${String(p.size)}`));
  }
  const keys = cfg['detach-keys'];
  if (keys !== undefined) {
    if (typeof keys !== 'string') fail(`${f.configFile}: "detach-keys" must be a string such as "ctrl-p,ctrl-q"`);
    try {
      parseDetachKeys(keys as string);
    } catch (err) {
      fail(`${f.configFile}: "detach-keys": ${(err as Error).message}`);
    }
    f.detachKeys = keys as string;
  }
  if (f.usernsRemap === undefined && cfg['userns-remap'] !== undefined) {
    if (typeof cfg['userns-remap'] !== 'string') fail(`${f.configFile}: "userns-remap" must be a string such as "default" or "USER:GROUP"`);
    f.usernsRemap = cfg['userns-remap'];
  }
}

async function writePidfile(path: string): Promise<void> {
  try {
    const old = Number.parseInt(await fsp.readFile(path, 'utf8'), 10);
    if (old && old !== process.pid) {
      try {
        process.kill(old, 0);
        // A killed daemon nobody has reaped yet is a zombie: gone for our purposes.
        if (!/^\d+ \(.*\) Z /.test(readFileSync(`/proc/${old}/stat`, 'utf8'))) fail(`pid file found, ensure berthd is not running or delete ${path}`);
      } catch (err) {
        if ((err as NodeJS.ErrnoException).code !== 'ESRCH') throw err;
      }
    }
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== 'ENOENT') throw err;
  }
  await fsp.mkdir(dirname(path), { recursive: true });
  await fsp.writeFile(path, `${process.pid}`);
}

async function main(): Promise<void> {
  const argv = process.argv.slice(2);
  const f = parseFlags(argv);
  const explicit = new Set(argv.filter((a) => a.startsWith('-')).map((a) => ({ '-H': 'hosts', '--host': 'hosts', '-p': 'pidfile' } as Record<string, string>)[a.split('=')[0]!] ?? a.replace(/^-+/, '').split('=')[0]!));
  applyConfigFile(f, explicit);
  if (f.logLevel) setLogLevel(f.logLevel);
  if (f.hosts.length === 0) f.hosts.push('unix:///run/berth/berth.sock');
  if (process.getuid?.() !== 0) fail('berthd needs to run as root (it mounts filesystems and creates namespaces)');
  let userns;
  if (f.usernsRemap) {
    try {
      userns = (await setupRemap(f.usernsRemap)).mappings;
    } catch (err) {
      fail((err as Error).message);
    }
    log.info('user namespace remapping on', { uidMap: userns.uids, gidMap: userns.gids });
  }
  let logDefaults;
  try {
    logDefaults = checkLogConfig({ type: f.logDriver ?? DEFAULT_LOG_DRIVER, config: f.logOpts }).logConfig;
  } catch (err) {
    fail(`invalid default log configuration: ${(err as Error).message}`);
  }
  await writePidfile(f.pidfile);
  const tOpen = traceStart();
  const engine = await Engine.open({ dataRoot: f.dataRoot, execRoot: f.execRoot, storageDriver: f.storageDriver, runc: f.runtime, legacyContainerSpec: specFromDocker, insecureRegistries: f.insecureRegistries, logDefaults, ...(f.detachKeys ? { detachKeys: f.detachKeys } : {}), ...(userns ? { userns } : {}),
    network: { ...(f.bridge ? { bridgeName: f.bridge } : {}), ...(f.bip ? { bip: f.bip } : {}), ...(f.pools.length ? { pools: f.pools } : {}), ...(f.userlandProxy === false ? { userlandProxy: false } : {}) },
    ...(f.registryConfig ? { registryConfigDir: f.registryConfig } : {}), cni: { confDir: f.cniConfDir, binDir: f.cniBinDir } });
  // The registry starts before the API listens, so a daemon that answers /_ping serves it too.
  let registry: RegistryServer | undefined;
  if (f.registry) {
    const root = f.registry.root ?? join(f.dataRoot, 'registry');
    const { RegistryServer } = await import('../registry');
    registry = new RegistryServer({ root, htpasswd: f.registry.htpasswd });
    const a = await registry.start(f.registry);
    log.info('registry listening', { address: `${a.host}:${a.port}`, root });
  }
  const servers: ApiServer[] = [];
  for (const h of f.hosts) {
    const s = new ApiServer(engine);
    await s.listen(h);
    servers.push(s);
    log.info('API listening', { address: h });
  }
  let cri: CriServer | undefined;
  if (f.criSocket) {
    // The CRI layer (gRPC, protobuf) weighs about 10 MB once loaded: only a daemon that serves it loads it.
    const { CriServer } = await import('../cri');
    cri = new CriServer(engine, { socket: f.criSocket, podInfraImage: f.podInfraImage });
    await cri.start();
  }
  traceSpan('init', 'engine open + listen', tOpen);
  traceSpan('init', 'since process start', 0);
  log.info('Daemon has completed initialization', { version: '0.1.0', dataRoot: f.dataRoot, execRoot: f.execRoot });
  // bin/berthd starts node with TurboFan off for the loading and the opening (see there).
  setFlagsFromString('--opt');
  releaseMemoryWhenIdle();
  let stopping = false;
  const shutdown = async (sig: string) => {
    if (stopping) return;
    stopping = true;
    // Containers keep running under conmon; only the API goes away.
    log.info('shutting down; containers keep running', { signal: sig });
    await Promise.race([engine.shutdown(), new Promise((r) => setTimeout(r, 5000))]).catch((err) => log.warn('engine shutdown failed', { error: String(err) }));
    await Promise.race([Promise.all([...servers.map((s) => s.close()), registry?.close(), cri?.close()]), new Promise((r) => setTimeout(r, 2000))]);
    await fsp.rm(f.pidfile, { force: true });
    for (const h of f.hosts) if (h.startsWith('unix://')) await fsp.rm(h.slice(7), { force: true });
    process.exit(0);
  };
  process.on('SIGTERM', () => void shutdown('SIGTERM'));
  process.on('SIGINT', () => void shutdown('SIGINT'));
  process.on('uncaughtException', (err) => log.error('uncaught exception', { error: String(err), stack: err.stack }));
  process.on('unhandledRejection', (err) => log.error('unhandled rejection', { error: String(err) }));
}

main().catch((err) => {
  process.stderr.write(`berthd: failed to start: ${err instanceof Error ? err.message : String(err)}\n`);
  process.exit(1);
});
