/**
 * Pod networks through CNI plugins, the way a kubelet's runtime drives them: the
 * first `.conflist` (in name order) of the configuration directory is the pod
 * network; each of its plugins is executed from the plugin directory with the CNI_*
 * environment and its configuration on stdin (ADD in list order, each given the
 * previous result; DEL in reverse order). A loopback plugin brings `lo` up meanwhile,
 * unless the namespace is one `prepareNetns` made (`lo` is up in it from the start).
 *
 * Contract:
 * - `add` attaches the network namespace `netns` (a /proc/<pid>/ns/net path) as
 *   `eth0` and returns the pod's addresses. The result is kept in `stateDir` so that
 *   `remove` can release the address and port mappings after a daemon restart, or
 *   when the namespace is gone (then CNI_NETNS is empty, as the spec allows).
 * - Port mappings are passed as the `portMappings` capability to plugins that declare
 *   it (portmap).
 * - A plugin failure is reported with the plugin's own message; a failed add is
 *   undone with a del before the error is thrown.
 */
import { mkdirSync, promises as fsp, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { internal, invalidArgument, isErrno, traceSpan, traceStart } from '../common';
import { runCollected, type CollectedRun } from '../sys';
import { createNetns, isNetns, removeNetns } from './netns';

export interface CniPortMapping {
  hostPort: number;
  containerPort: number;
  /** tcp, udp, sctp (lower case). */
  protocol: string;
  hostIP?: string;
}

export interface CniAttachment {
  /** The sandbox id (CNI_CONTAINERID). */
  id: string;
  /** /proc/<pid>/ns/net of the pod's infra process; '' once it is gone (del only). */
  netns: string;
  /** K8S_POD_* arguments. */
  podName?: string;
  podNamespace?: string;
  podUid?: string;
  portMappings?: CniPortMapping[];
}

export interface CniResult {
  /** Addresses without prefix length, IPv4 first. */
  ips: string[];
  /** The network's name (of the conflist). */
  network: string;
}

interface NetConfList {
  cniVersion: string;
  name: string;
  plugins: Record<string, unknown>[];
}

interface Kept {
  list: NetConfList;
  args: CniAttachment;
  results: unknown[];
}

export class CniNetwork {
  constructor(
    readonly confDir: string,
    readonly binDir: string,
    private readonly stateDir: string,
    /** Where `prepareNetns` makes sandboxes' namespaces (none without it). */
    private readonly netnsDir?: string,
  ) {}

  /**
   * A namespace of the sandbox's own, bind-mounted at `<netnsDir>/<id>`: the network is
   * attached to it while runc creates the infra container in it, and `remove` can
   * still reach its interfaces after the infra process is gone.
   */
  async prepareNetns(id: string): Promise<string> {
    if (!this.netnsDir) throw internal('no directory for pod network namespaces is configured');
    const path = this.netnsPath(id)!;
    // `lo` is brought up right there, in-process: the loopback plugin is not run for it.
    await createNetns(path, { loopbackUp: true });
    return path;
  }

  private netnsPath(id: string): string | undefined {
    return this.netnsDir && /^[A-Za-z0-9_.-]+$/.test(id) ? join(this.netnsDir, id) : undefined;
  }

  /** The pod network's configuration (the first .conflist in name order), or why there is none. */
  async config(): Promise<NetConfList> {
    // A directory of a few small files, read at every add: synchronously (microseconds, where
    // each trip through the thread pool waited behind a busy event loop).
    let names: string[];
    try {
      names = readdirSync(this.confDir).filter((n) => n.endsWith('.conflist')).sort();
    } catch {
      names = [];
    }
    if (!names.length) throw invalidArgument(`cni config uninitialized: no .conflist network configuration in ${this.confDir}`);
    const file = join(this.confDir, names[0]!);
    let list: NetConfList;
    try {
      list = JSON.parse(readFileSync(file, 'utf8')) as NetConfList;
    } catch (err) {
      throw invalidArgument(`cni config ${file} is not valid JSON: ${(err as Error).message}`);
    }
    if (!list || typeof list.name !== 'string' || !Array.isArray(list.plugins) || !list.plugins.length) {
      throw invalidArgument(`cni config ${file} needs a name and a non-empty plugins list`);
    }
    list.cniVersion ||= '0.4.0';
    return list;
  }

  /** Whether a pod network is configured (for the runtime's NetworkReady condition). */
  async ready(): Promise<boolean> {
    try {
      await this.config();
      return true;
    } catch {
      return false;
    }
  }

  async add(a: CniAttachment): Promise<CniResult> {
    const list = await this.config();
    const kept: Kept = { list, args: a, results: [] };
    mkdirSync(this.stateDir, { recursive: true });
    // Kept before the first plugin runs, so that what a crash interrupts is released too.
    writeFileSync(this.keptPath(a.id), JSON.stringify(kept));
    try {
      // Loopback is independent of the pod network's chain: both go at once. A namespace
      // prepareNetns made has `lo` up already.
      const own = !!a.netns && a.netns === this.netnsPath(a.id);
      const lo = own ? Promise.resolve(undefined) : this.invoke('ADD', { cniVersion: list.cniVersion, name: 'cni-loopback', type: 'loopback' }, a, 'lo');
      let prev: unknown;
      try {
        for (const plugin of list.plugins) {
          // A plugin that prints no result passes the previous one on.
          prev = (await this.invoke('ADD', this.pluginConf(list, plugin, a, prev), a, 'eth0')) ?? prev;
          kept.results.push(prev);
        }
      } finally {
        await lo.catch(() => undefined);
      }
      await lo;
      writeFileSync(this.keptPath(a.id), JSON.stringify(kept));
      return { ips: addressesOf(prev), network: list.name };
    } catch (err) {
      await this.del(kept).catch(() => undefined);
      throw err;
    }
  }

  /** Releases what `add` set up; a sandbox never attached (or already released) is no error. */
  async remove(id: string, netns: string): Promise<void> {
    const own = this.netnsPath(id);
    const ownMounted = !!own && (await isNetns(own));
    let kept: Kept | undefined;
    try {
      kept = JSON.parse(readFileSync(this.keptPath(id), 'utf8')) as Kept;
    } catch {
      kept = undefined;
    }
    if (kept) {
      await this.del({ ...kept, args: { ...kept.args, netns: ownMounted ? own! : netns } });
      rmSync(this.keptPath(id), { force: true });
    }
    // The namespace goes once nothing of the attachment is left in it.
    if (own) await removeNetns(own);
  }

  /** The sandboxes with an attachment or a namespace here (an interrupted `add`'s too). */
  async attached(): Promise<string[]> {
    const ids = new Set<string>();
    for (const f of await fsp.readdir(this.stateDir).catch(() => [] as string[])) if (f.endsWith('.json')) ids.add(f.slice(0, -'.json'.length));
    if (this.netnsDir) for (const f of await fsp.readdir(this.netnsDir).catch(() => [] as string[])) ids.add(f);
    return [...ids];
  }

  /** The addresses `add` returned for a sandbox, if it is attached. */
  async addresses(id: string): Promise<string[]> {
    try {
      const kept = JSON.parse(await fsp.readFile(this.keptPath(id), 'utf8')) as Kept;
      return addressesOf(kept.results[kept.results.length - 1]);
    } catch {
      return [];
    }
  }

  private async del(k: Kept): Promise<void> {
    const plugins = k.list.plugins;
    let firstErr: unknown;
    for (let i = plugins.length - 1; i >= 0; i--) {
      try {
        await this.invoke('DEL', this.pluginConf(k.list, plugins[i]!, k.args, k.results[k.results.length - 1]), k.args, 'eth0');
      } catch (err) {
        firstErr ??= err;
      }
    }
    if (firstErr) throw firstErr;
  }

  private keptPath(id: string): string {
    return join(this.stateDir, `${id}.json`);
  }

  private pluginConf(list: NetConfList, plugin: Record<string, unknown>, a: CniAttachment, prev: unknown): Record<string, unknown> {
    const conf: Record<string, unknown> = { ...plugin, cniVersion: list.cniVersion, name: list.name };
    if (prev !== undefined) conf.prevResult = prev;
    const caps = (plugin.capabilities ?? {}) as Record<string, boolean>;
    if (caps.portMappings && a.portMappings?.length) {
      conf.runtimeConfig = { ...((plugin.runtimeConfig as object) ?? {}), portMappings: a.portMappings };
    }
    return conf;
  }

  private invoke(command: 'ADD' | 'DEL', conf: Record<string, unknown>, a: CniAttachment, ifname: string): Promise<unknown> {
    const type = String(conf.type ?? '');
    if (!/^[A-Za-z0-9_.-]+$/.test(type)) return Promise.reject(invalidArgument(`cni plugin type ${JSON.stringify(type)} is not a plugin name`));
    const args = ['IgnoreUnknown=1'];
    if (a.podNamespace) args.push(`K8S_POD_NAMESPACE=${a.podNamespace}`);
    if (a.podName) args.push(`K8S_POD_NAME=${a.podName}`);
    args.push(`K8S_POD_INFRA_CONTAINER_ID=${a.id}`);
    if (a.podUid) args.push(`K8S_POD_UID=${a.podUid}`);
    const env = {
      PATH: process.env.PATH ?? '/usr/sbin:/usr/bin:/sbin:/bin',
      CNI_COMMAND: command,
      CNI_CONTAINERID: a.id,
      CNI_NETNS: a.netns,
      CNI_IFNAME: ifname,
      CNI_PATH: this.binDir,
      CNI_ARGS: args.join(';'),
    };
    const file = join(this.binDir, type);
    const t = traceStart();
    let run: Promise<CollectedRun>;
    try {
      // posix_spawn, not a fork of berthd (see sys/spawn.ts): a pod's create runs four plugins.
      run = runCollected(file, [], Buffer.from(JSON.stringify(conf)), { env, timeoutMs: 60_000 });
    } catch (err) {
      const msg = isErrno(err, 'ENOENT') ? `failed to find plugin "${type}" in path [${this.binDir}]` : (err as Error).message;
      return Promise.reject(internal(`plugin type="${type}" failed (${command.toLowerCase()}): ${msg}`));
    }
    return run.then(({ code, stdout, stderr }) => {
      traceSpan(a.id, `cni: ${command} ${type}`, t);
      if (code !== 0) {
        let msg = '';
        try {
          const e = JSON.parse(stdout) as { msg?: string; details?: string };
          if (e.msg) msg = e.details ? `${e.msg}: ${e.details}` : e.msg;
        } catch {
          /* not JSON */
        }
        throw internal(`plugin type="${type}" failed (${command.toLowerCase()}): ${msg || stderr.trim() || `exit status ${code}`}`);
      }
      if (command === 'DEL' || !stdout.trim()) return undefined;
      try {
        return JSON.parse(stdout) as unknown;
      } catch {
        throw internal(`plugin type="${type}" printed a result that is not JSON: ${stdout.slice(0, 200)}`);
      }
    });
  }
}

function addressesOf(result: unknown): string[] {
  const r = result as { ips?: { address?: string }[]; ip4?: { ip?: string }; ip6?: { ip?: string } } | undefined;
  const out: string[] = [];
  for (const ip of r?.ips ?? []) if (ip.address) out.push(ip.address.split('/')[0]!);
  if (r?.ip4?.ip) out.push(r.ip4.ip.split('/')[0]!);
  if (r?.ip6?.ip) out.push(r.ip6.ip.split('/')[0]!);
  return out.sort((x, y) => Number(x.includes(':')) - Number(y.includes(':')));
}
