/**
 * Berth's networks: the default `bridge`, `host` and `none`, and user-defined bridge
 * networks; the container-network port over them. Berth owns the model (networks,
 * endpoints, addresses, published ports) on disk; netavark wires it (netavark.ts).
 *
 * Contract:
 * - Networks live in `<data-root>/networks/<id>.json`; each container with a network
 *   has `<data-root>/networks/endpoints/<container id>.json`, written before netavark
 *   is asked for anything and removed only after netavark tore it down: after a crash
 *   the file says what to undo (`recover`).
 * - A container's namespace is a file under `<exec-root>/netns/` (netns.ts). `setUp`
 *   makes it, chooses addresses and host ports, writes the files and returns at once
 *   with the path and a `ready` promise for netavark's work, so runc creates the
 *   container while netavark wires the namespace.
 * - Each bridge network in use keeps an anchor: a namespace of its own attached to the
 *   bridge at the highest address of the subnet, so the bridge and its firewall chains
 *   stay up between containers (as docker0 does) and a container's setup and teardown
 *   only add or remove its own veth and rules. The anchor goes with the network, or at
 *   shutdown when no container uses the network.
 * - Addresses and host ports are released once netavark's teardown is done; the engine
 *   does not wait for it (a removal returns at once). netavark calls for different
 *   containers run side by side; a network's anchor calls run alone.
 */
import { randomBytes } from 'node:crypto';
import { existsSync, promises as fsp, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { BerthError, conflict, SystemError, invalidArgument, log, notFound, traceSpan, traceStart, type FilterArgs, checkFilterKeys, matchLabelArgs } from '../common';
import { readJSON, writeJSONAtomic } from '../state';
import { hostResolvConf, hostsFile, hostsLine, LOOPBACK_HOSTS, parseLink, resolvConf, writeFiles, type HostsEntry } from './files';
import { contains, DEFAULT_POOLS, formatCIDR, formatIPv4, hostRoutes, lastAddress, overlaps, parseCIDR, parseIPv4, pickSubnet, type Subnet } from './ipnet';
import { contains6, formatCIDR6, formatIPv6, overlaps6, parseCIDR6, parseIPv6 } from './ipnet6';
import { Netavark, type NetavarkNetwork, type NetavarkRequest } from './netavark';
import { createNetns, isNetns, removeNetns } from './netns';
import { mount, MS_BIND } from '../sys';
import { CLAIMS_DIR, otherClaims, removeClaim, writeClaim } from './claims';
import { hostIpsOverlap, ipv6Listenable, portFree, portMappings, type PortMapping, type Protocol } from './ports';
import { proxied, proxyAlive, ProxyBindError, startProxy, stopProxy, type ProxyHandle } from './proxy';
import { deleteLinkAsync, disableIPv6In, wireVeth } from './rtnetlink';

export interface NetworkRecord {
  id: string;
  name: string;
  created: string;
  driver: 'bridge' | 'host' | 'null';
  /** Bridge device ('' for host and null). */
  bridge: string;
  subnet: string;
  gateway: string;
  ipRange?: string;
  internal: boolean;
  attachable: boolean;
  labels: Record<string, string>;
  options: Record<string, string>;
  /** Embedded DNS (aardvark-dns): user-defined networks only. */
  dns: boolean;
  /** The user gave the IPAM config (subnet…): --ip is allowed. */
  ipamConfigured: boolean;
  /**
   * The user gave the subnet but not the gateway (IPv4, IPv6): inspect then shows the config
   * as given, without the gateway the network took, as dockerd does.
   */
  gatewayNotGiven?: true;
  gateway6NotGiven?: true;
  /** IPv6 (--ipv6): the network's IPv6 subnet and gateway, besides the IPv4 ones. */
  subnet6?: string;
  gateway6?: string;
}

export interface Endpoint {
  networkId: string;
  endpointId: string;
  ip: string;
  prefix: number;
  gateway: string;
  mac: string;
  ifname: string;
  aliases: string[];
  /** Given with --ip: kept across restarts. */
  staticIp?: string;
  /**
   * Set when berthd wires the endpoint itself (rtnetlink.ts) instead of netavark: the host
   * end of its veth, which teardown deletes.
   */
  hostVeth?: string;
  /** On IPv6 networks. */
  ip6?: string;
  prefix6?: number;
  gateway6?: string;
}

export interface EndpointState {
  containerId: string;
  containerName: string;
  netns: string;
  ports: PortMapping[];
  /** The network whose netavark call carries the port mappings. */
  portsNetwork?: string;
  /** The userland proxy holding and relaying the published ports (proxy.ts). */
  proxy?: ProxyHandle;
  endpoints: Endpoint[];
  /** The container's hosts file and the names its addresses carry there: connect and disconnect edit it. */
  hosts?: { path: string; names: string[] };
  /** The container's own --sysctl settings name net.ipv6.conf: IPv6 is left to them on its interfaces. */
  keepIPv6?: boolean;
}

/** What the engine tells about a container's network (ContainerSpec.network, in the network layer's words). */
export interface NetworkRequest {
  mode?: string;
  endpoints: Record<string, { aliases: string[] | null; links?: string[] | null; ipv4Address?: string; ipv6Address?: string; macAddress?: string }>;
  exposedPorts: string[] | null;
  portBindings: Record<string, { hostIp: string; hostPort: string }[] | null> | null;
  publishAllPorts: boolean;
  dns: string[] | null;
  dnsOptions: string[] | null;
  dnsSearch: string[] | null;
  extraHosts: string[] | null;
  links: string[] | null;
  macAddress?: string;
  disabled?: boolean;
  primaryDetached?: boolean;
}

export interface BridgeAttachment {
  containerId: string;
  hostname: string;
  files: { hostname: string; hosts: string; resolvConf: string };
  owner?: { uid: number; gid: number };
  name?: string;
  domainname?: string;
  network?: NetworkRequest;
  /**
   * The id of an attachment set up before (and not torn down) whose namespace this
   * container joins instead of getting its own: its files name that namespace's
   * addresses, and nothing is wired or undone for it. A builder's RUN steps take turns
   * in one namespace this way, as BuildKit's do; one at a time, never side by side.
   */
  share?: string;
  /**
   * The container's --sysctl settings name net.ipv6.conf: its interfaces keep IPv6 as the
   * kernel and those settings make it. Else an interface that has only an IPv4 address gets
   * IPv6 disabled, as Docker does since 26.0.2.
   */
  keepIPv6?: boolean;
}

export interface NetworkSetUp {
  /** The namespace runc joins. */
  netns?: string;
  /** Settles when netavark has wired the namespace; start the process only after. */
  ready?: Promise<void>;
  /** For user-namespaced containers: wires the namespace runc made for the container's init. */
  attach?: (pid: number) => Promise<void>;
}

export interface BridgeOptions {
  dataRoot: string;
  execRoot: string;
  netavark: string;
  aardvark?: string;
  /** Bridge device of the default network (dockerd's -b); 'none' turns it off. */
  bridgeName?: string;
  /** Gateway address and prefix of the default bridge (dockerd's --bip). */
  bip?: string;
  /** Where networks without a subnet get theirs (dockerd's --default-address-pool). */
  pools?: { base: string; size: number }[];
  /** Network events: create, destroy, connect, disconnect. */
  onEvent?: (action: string, id: string, attrs: Record<string, string>) => void;
  hostResolvConf?: string;
  /** Where daemons record their bridges and subnets (claims.ts). */
  claimsDir?: string;
  /**
   * berth-proxy's path (proxy.ts): published ports are held by it and also offered on the
   * host's IPv6 addresses, as dockerd's userland proxy does. Without it (dockerd's
   * --userland-proxy=false) only NAT forwards them, on the container's address families.
   */
  proxy?: string;
}

export const DEFAULT_BRIDGE = 'berth0';
const BUILTIN = ['bridge', 'host', 'none'];
const newId = () => randomBytes(32).toString('hex');

/**
 * The name netavark knows a network by. netavark names its iptables chains and aardvark-dns
 * files after it, so it must be unique on the host: every daemon has a network called
 * "bridge", and two of them must not share chains.
 */
export const netavarkName = (net: Pick<NetworkRecord, 'id'>) => `berth-${net.id.slice(0, 12)}`;

/** dockerd's MAC from an IPv4 address: 02:42 and the address's four bytes. */
export function macFor(ip: string): string {
  const n = parseIPv4(ip) ?? 0;
  return ['02', '42', ...[n >>> 24, (n >>> 16) & 255, (n >>> 8) & 255, n & 255].map((b) => b.toString(16).padStart(2, '0'))].join(':');
}

/**
 * A MAC address an Ethernet interface can take (48 bits, unicast), in any form Go's
 * net.ParseMAC reads for 48 bits (`02:42:ac:11:00:02`, `02-42-…`, `0242.ac11.0002`), as
 * lowercase `xx:xx:…`; undefined for anything else.
 */
export function parseMAC(s: string): string | undefined {
  const hex = /^[0-9a-f]{2}([:-])[0-9a-f]{2}(\1[0-9a-f]{2}){4}$/i.test(s)
    ? s.replace(/[:-]/g, '')
    : /^[0-9a-f]{4}\.[0-9a-f]{4}\.[0-9a-f]{4}$/i.test(s) ? s.replace(/\./g, '') : undefined;
  // The kernel refuses a multicast address (low bit of the first octet) for an interface.
  if (!hex || parseInt(hex.slice(0, 2), 16) & 1) return undefined;
  return hex.toLowerCase().match(/../g)!.join(':');
}

/** parseMAC, or a 400 saying what an interface can take. */
function checkedMAC(s: string): string {
  const mac = parseMAC(s);
  if (!mac) throw invalidArgument(`invalid MAC address ${s}: give a unicast Ethernet address such as 02:42:ac:11:00:02`);
  return mac;
}

/**
 * dockerd's words for a host port it could not bind: the binding as host:port:container and
 * the cause ("failed to bind host port for 0.0.0.0:8080:172.17.0.2:80/tcp: address already in use").
 */
function bindFailure(p: PortMapping, hostPort: number, containerIp: string, cause: string): string {
  const host = p.hostIp.includes(':') ? `[${p.hostIp}]` : p.hostIp || '0.0.0.0';
  return `failed to bind host port for ${host}:${hostPort}:${containerIp}:${p.containerPort}/${p.protocol}: ${cause}`;
}

/** The kernel's ephemeral port range, where dockerd picks host ports (49153-65535 when it cannot be read). Read once, at init. */
function readDynamicPortRange(): [number, number] {
  try {
    const [lo, hi] = readFileSync('/proc/sys/net/ipv4/ip_local_port_range', 'utf8').trim().split(/\s+/).map(Number);
    if (lo && hi && lo <= hi) return [lo, hi];
  } catch {
    // the fallback below
  }
  return [49153, 65535];
}

export class BridgeNetworking {
  private readonly dir: string;
  private readonly netnsDir: string;
  private readonly netavark: Netavark;
  private networks = new Map<string, NetworkRecord>();
  /** Live endpoints of containers, by container id. */
  private readonly states = new Map<string, EndpointState>();
  /** Teardowns queued, by container id: a new setup of the container waits for its own. */
  private readonly pending = new Map<string, Promise<void>>();
  /** Endpoints being torn down: their addresses and host ports stay taken until netavark is done. */
  private readonly draining = new Map<string, EndpointState>();
  /** Each container's last address per network: a restart gets it back when it is free. */
  private readonly lastIps = new Map<string, string>();
  /** Networks whose anchor is up (or being set up). */
  private readonly anchors = new Map<string, Promise<void>>();
  /** The host can listen on IPv6 (set at init): ports published on every address get a "::" twin. */
  private ipv6 = false;
  /** The last host port chosen per protocol: the next is searched from the one after it, as dockerd does. */
  private readonly lastDynamic = new Map<Protocol, number>();
  private dynamicRange: [number, number] = [49153, 65535];
  private lock: Promise<unknown> = Promise.resolve();

  constructor(private readonly o: BridgeOptions) {
    this.dir = join(o.dataRoot, 'networks');
    this.netnsDir = join(o.execRoot, 'netns');
    this.netavark = new Netavark(o.netavark, join(o.execRoot, 'netavark'), o.aardvark);
  }

  /** Serializes changes to the model (addresses, ports, networks). */
  private serial<T>(fn: () => Promise<T> | T): Promise<T> {
    const next = this.lock.then(fn, fn);
    this.lock = next.catch(() => undefined);
    return next;
  }

  // ---- start ------------------------------------------------------------------

  /** Loads networks and endpoints, and sets up the builtin networks. */
  async init(): Promise<void> {
    this.ipv6 = await ipv6Listenable();
    this.dynamicRange = readDynamicPortRange();
    await fsp.mkdir(join(this.dir, 'endpoints'), { recursive: true });
    await fsp.mkdir(this.netnsDir, { recursive: true });
    await fsp.mkdir(this.netavark.configDir, { recursive: true });
    for (const f of await fsp.readdir(this.dir)) {
      if (!f.endsWith('.json')) continue;
      const r = await readJSON<NetworkRecord>(join(this.dir, f)).catch(() => undefined);
      if (r) this.networks.set(r.id, r);
    }
    for (const f of await fsp.readdir(join(this.dir, 'endpoints'))) {
      if (!f.endsWith('.json')) continue;
      const s = await readJSON<EndpointState>(join(this.dir, 'endpoints', f)).catch(() => undefined);
      if (s) this.states.set(s.containerId, s);
    }
    for (const name of ['host', 'none']) {
      if (!this.byName(name)) await this.save({ ...this.blank(name), driver: name === 'host' ? 'host' : 'null' });
    }
    await this.initDefaultBridge();
  }

  private blank(name: string): NetworkRecord {
    return { id: newId(), name, created: new Date().toISOString(), driver: 'bridge', bridge: '', subnet: '', gateway: '', internal: false, attachable: false, labels: {}, options: {}, dns: false, ipamConfigured: false };
  }

  private claimsDir(): string {
    return this.o.claimsDir ?? CLAIMS_DIR;
  }

  /** What other live daemons hold: their bridge devices and subnets. */
  private othersHold(): { devices: Map<string, number>; subnets: Subnet[] } {
    const devices = new Map<string, number>();
    const subnets: Subnet[] = [];
    for (const c of otherClaims(this.o.dataRoot, this.claimsDir())) {
      for (const d of c.devices) devices.set(d, c.pid);
      for (const sn of c.subnets) {
        const p = parseCIDR(sn);
        if (p) subnets.push(p);
      }
    }
    return { devices, subnets };
  }

  /** Records this daemon's bridges and subnets for the other daemons of the host. */
  private async claim(): Promise<void> {
    const bridges = [...this.networks.values()].filter((n) => n.driver === 'bridge');
    await writeClaim({ pid: process.pid, dataRoot: this.o.dataRoot, devices: bridges.map((n) => n.bridge), subnets: bridges.map((n) => n.subnet) }, this.claimsDir())
      .catch((err) => log.warn('cannot record the bridges of this daemon', { error: String(err) }));
  }

  private async initDefaultBridge(): Promise<void> {
    await this.pickDefaultBridge();
    await this.claim();
  }

  private async pickDefaultBridge(): Promise<void> {
    const old = this.byName('bridge');
    const others = this.othersHold();
    let device = this.o.bridgeName ?? DEFAULT_BRIDGE;
    if (device === 'none') {
      if (old && !this.inUse(old.id)) await this.deleteRecord(old);
      return;
    }
    if (old && this.inUse(old.id)) return; // containers run on it: keep it as it is
    if (others.devices.has(device)) {
      if (this.o.bridgeName) throw invalidArgument(`bridge ${device} is in use by another berthd (pid ${others.devices.get(device)}); give this daemon its own with -b/--bridge and --bip`);
      // Another daemon has berth0: this one takes berth1, berth2…
      let n = 1;
      while (others.devices.has(`berth${n}`)) n++;
      device = `berth${n}`;
      log.warn('the default bridge device is in use by another berthd: using another', { bridge: device });
    }
    let subnet: Subnet;
    let gateway: string;
    if (this.o.bip) {
      const c = parseCIDR(this.o.bip, true);
      if (!c || c.address === c.base) throw invalidArgument(`invalid --bip ${JSON.stringify(this.o.bip)}: use the bridge's address and prefix, such as 172.17.0.1/16`);
      if (others.subnets.some((t) => overlaps(t, c))) throw invalidArgument(`--bip ${this.o.bip} overlaps a network of another berthd on this host`);
      subnet = c;
      gateway = formatIPv4(c.address);
    } else {
      const reuse = old && old.bridge === device ? parseCIDR(old.subnet) : undefined;
      const taken = [...this.userSubnets(), ...others.subnets, ...hostRoutes([device]).map((r) => r.subnet)];
      const s = reuse && !taken.some((t) => overlaps(t, reuse)) ? reuse : pickSubnet(this.o.pools?.length ? this.o.pools : DEFAULT_POOLS, taken);
      if (!s) throw invalidArgument('could not find an available, non-overlapping IPv4 address pool among the defaults to assign to the network');
      subnet = s;
      gateway = formatIPv4(s.base + 1);
    }
    const rec: NetworkRecord = {
      ...(old ?? this.blank('bridge')),
      bridge: device,
      subnet: formatCIDR(subnet),
      gateway,
      options: {
        'com.docker.network.bridge.default_bridge': 'true',
        'com.docker.network.bridge.enable_icc': 'true',
        'com.docker.network.bridge.enable_ip_masquerade': 'true',
        'com.docker.network.bridge.host_binding_ipv4': '0.0.0.0',
        'com.docker.network.bridge.name': device,
        'com.docker.network.driver.mtu': '1500',
      },
    };
    await this.save(rec);
  }

  private userSubnets(): Subnet[] {
    return [...this.networks.values()].filter((n) => n.driver === 'bridge' && n.name !== 'bridge' && n.subnet).map((n) => parseCIDR(n.subnet)!).filter(Boolean);
  }

  /**
   * After the engine knows which containers still run: tears down what belongs to
   * containers that do not (crashes, exits while berthd was away), and anchors of
   * networks nobody uses.
   */
  async recover(live: ReadonlySet<string>): Promise<void> {
    for (const s of [...this.states.values()]) {
      if (live.has(s.containerId)) {
        // A proxy that did not outlive the daemon (killed meanwhile): the ports get theirs back.
        if (s.proxy && !proxyAlive(s.proxy)) await this.startProxyFor(s).catch((err) => log.warn('cannot restart the userland proxy', { id: s.containerId, error: String(err) }));
        continue;
      }
      await this.tearDown(s.containerId).catch((err) => log.warn('network cleanup failed', { id: s.containerId, error: String(err) }));
    }
    await Promise.all([...this.pending.values()]);
    for (const f of await fsp.readdir(this.netnsDir).catch(() => [] as string[])) {
      const path = join(this.netnsDir, f);
      if (f.startsWith('anchor-')) {
        const net = this.networks.get(f.slice('anchor-'.length));
        if (net && this.inUse(net.id)) {
          this.anchors.set(net.id, Promise.resolve());
          continue;
        }
        if (net) await this.netavark.teardown(path, this.anchorRequest(net), true).catch(() => undefined);
        await removeNetns(path);
      } else if (![...this.states.values()].some((st) => st.netns === path)) {
        await removeNetns(path);
      }
    }
  }

  /**
   * A namespace made ahead of need: making one (a process spawn) is off the start's path.
   * The spare's file names no container; `recover` removes a spare a crash left.
   */
  private spare: Promise<string> | undefined;

  private takeNetns(): Promise<string> {
    const ns = this.spare ?? this.makeNetns();
    this.spare = ns.then(() => this.makeNetns());
    this.spare.catch(() => (this.spare = undefined));
    return ns;
  }

  private async makeNetns(): Promise<string> {
    const path = join(this.netnsDir, `ns-${randomBytes(8).toString('hex')}`);
    await createNetns(path);
    return path;
  }

  /** Waits for queued teardowns; removes anchors of networks no container uses. */
  async close(): Promise<void> {
    // Containers that keep running keep their networks: the record stays (with a dead pid it
    // no longer holds anything for the others, as a crashed daemon's).
    if (this.states.size === 0) await removeClaim(this.o.dataRoot, this.claimsDir()).catch(() => undefined);
    const spare = await this.spare?.catch(() => undefined);
    this.spare = undefined;
    if (spare) await removeNetns(spare);
    await Promise.all([...this.pending.values()]);
    await this.serial(async () => {
      for (const id of [...this.anchors.keys()]) if (!this.inUse(id)) await this.dropAnchor(id);
      // Anchors whose setup failed half-way.
      for (const f of await fsp.readdir(this.netnsDir).catch(() => [] as string[])) {
        if (!f.startsWith('anchor-')) continue;
        const id = f.slice('anchor-'.length);
        if (this.inUse(id)) continue;
        const net = this.networks.get(id);
        const path = join(this.netnsDir, f);
        if (net) await this.netavark.teardown(path, this.anchorRequest(net), true).catch(() => undefined);
        await removeNetns(path);
      }
    });
  }

  // ---- lookups --------------------------------------------------------------

  /** By full id, or undefined. */
  byId(id: string): NetworkRecord | undefined {
    return this.networks.get(id);
  }

  private byName(name: string): NetworkRecord | undefined {
    for (const n of this.networks.values()) if (n.name === name) return n;
    return undefined;
  }

  /** By name, full id or unique id prefix (dockerd's order). */
  find(ref: string): NetworkRecord | undefined {
    const byName = this.byName(ref);
    if (byName) return byName;
    const full = this.networks.get(ref);
    if (full) return full;
    if (ref.length === 0) return undefined;
    const hits = [...this.networks.values()].filter((n) => n.id.startsWith(ref));
    if (hits.length > 1) throw invalidArgument(`network ${ref} is ambiguous (${hits.length} matches found based on ID prefix)`);
    return hits[0];
  }

  get(ref: string): NetworkRecord {
    const n = this.find(ref);
    if (!n) throw notFound(`network ${ref} not found`);
    return n;
  }

  list(): NetworkRecord[] {
    return [...this.networks.values()].sort((a, b) => a.created.localeCompare(b.created));
  }

  private inUse(networkId: string): boolean {
    for (const s of this.states.values()) if (s.endpoints.some((e) => e.networkId === networkId)) return true;
    return false;
  }

  /** Containers with an endpoint on the network. */
  containersOn(networkId: string): { state: EndpointState; endpoint: Endpoint }[] {
    const out: { state: EndpointState; endpoint: Endpoint }[] = [];
    for (const s of this.states.values()) for (const e of s.endpoints) if (e.networkId === networkId) out.push({ state: s, endpoint: e });
    return out;
  }

  /** A running container's endpoints and ports. */
  stateOf(containerId: string): EndpointState | undefined {
    return this.states.get(containerId);
  }

  /** With the default bridge turned off (`-b none`), a container on the default network gets none, as with dockerd. */
  private defaultOff(mode: string | undefined): boolean {
    return this.o.bridgeName === 'none' && (!mode || mode === 'default');
  }

  /** The network a container's mode names (undefined for none, host, container:X). */
  primaryNetwork(mode: string | undefined): NetworkRecord | undefined {
    const m = mode ?? '';
    if (m === 'none' || m === 'host' || m.startsWith('container:') || this.defaultOff(m)) return undefined;
    if (m === '' || m === 'default' || m === 'bridge') return this.byName('bridge');
    return this.find(m);
  }

  // ---- create-time checks ------------------------------------------------------

  /**
   * An endpoint's --ip and --mac-address as dockerd checks them when they are given
   * (create, and connect whether the container runs or not): an address only on a network
   * with a user-configured subnet (400), an IPv4 address (400) in that subnet (400) that no
   * container can ever hold there (the subnet's own and broadcast addresses, the gateway,
   * the anchor: 403, dockerd's "Address already in use"); a MAC that an Ethernet interface
   * can take (400). An address another container holds is found when the endpoint is set
   * up, as dockerd finds it at start. Returns the values normalized.
   */
  checkEndpoint(net: NetworkRecord, cfg: { ipv4Address?: string; macAddress?: string }): { ipv4Address?: string; macAddress?: string } {
    const out: { ipv4Address?: string; macAddress?: string } = {};
    if (cfg.ipv4Address) {
      if (!net.ipamConfigured) {
        throw invalidArgument(net.name === 'bridge'
          ? 'user specified IP address is supported on user defined networks only'
          : `user specified IP address is supported only when connecting to networks with user configured subnets (network ${net.name} has none: create it with --subnet)`);
      }
      const ip = parseIPv4(cfg.ipv4Address);
      if (ip === undefined || ip === 0) throw invalidArgument(`invalid IPv4 address: ${cfg.ipv4Address}`);
      const subnet = parseCIDR(net.subnet)!;
      if (!contains(subnet, ip)) throw invalidArgument(`no configured subnet or ip-range contain the IP address ${cfg.ipv4Address}`);
      if (this.reserved(net, ip)) {
        throw new BerthError('forbidden', `${cfg.ipv4Address} is the network, broadcast or gateway address of network ${net.name}, which no container can have: Address already in use`);
      }
      out.ipv4Address = formatIPv4(ip);
    }
    if (cfg.macAddress) {
      out.macAddress = checkedMAC(cfg.macAddress);
    }
    return out;
  }

  /** Addresses of a subnet no container gets: its own and broadcast addresses, the gateway, the anchor. */
  private reserved(net: NetworkRecord, ip: number): boolean {
    const subnet = parseCIDR(net.subnet)!;
    return ip === subnet.base || ip === lastAddress(subnet) || ip === parseIPv4(net.gateway) || ip === this.anchorIp(net);
  }

  /** What dockerd refuses at create: an unknown network, bad ports, --ip where it cannot be. */
  check(req: NetworkRequest): void {
    portMappings(req);
    const mode = req.mode ?? '';
    const names = new Set(Object.keys(req.endpoints).map((n) => (n === 'default' ? 'bridge' : n)));
    if (mode !== '' && mode !== 'default' && mode !== 'none' && mode !== 'host' && !mode.startsWith('container:')) names.add(mode);
    if (this.defaultOff(mode) && !req.endpoints.bridge) names.delete('bridge');
    for (const name of names) {
      if (BUILTIN.includes(name) && name !== 'bridge') continue;
      // 400, not 404: the docker CLI takes a 404 from create for a missing image and tries a pull.
      const net = this.find(name);
      if (!net) throw invalidArgument(`network ${name} not found`);
      const e = req.endpoints[name] ?? (name === 'bridge' ? req.endpoints.default : undefined);
      if (name === 'bridge' && e?.aliases?.length) throw invalidArgument('network-scoped alias is supported only for containers in user defined networks');
      if (e) this.checkEndpoint(net, e);
      if (e?.ipv6Address) {
        if (!net.ipamConfigured && !net.subnet6) throw invalidArgument('user specified IP address is supported on user defined networks only');
        const ip6 = parseIPv6(e.ipv6Address);
        if (ip6 === undefined) throw invalidArgument(`invalid IPv6 address: ${e.ipv6Address}`);
        if (!net.subnet6 || !contains6(parseCIDR6(net.subnet6)!, ip6)) throw invalidArgument(`no configured subnet or ip-range contain the IP address ${e.ipv6Address}`);
      }
    }
    if (req.macAddress) checkedMAC(req.macAddress);
    if ((mode === 'none' || mode === 'host' || mode.startsWith('container:')) && (req.portBindings && Object.keys(req.portBindings).length)) {
      if (mode !== 'none') throw invalidArgument('conflicting options: port publishing and the container type network mode');
    }
  }

  // ---- the container-network port ------------------------------------------------

  async setUp(a: BridgeAttachment): Promise<NetworkSetUp> {
    await this.pending.get(a.containerId);
    const req = a.network;
    const mode = this.defaultOff(req?.mode) ? 'none' : req?.mode ?? '';
    const resolv = await hostResolvConf(this.o.hostResolvConf);
    const hostnameText = `${a.hostname}\n`;
    const extra = this.extraHosts(req);
    if (!req || req.disabled || mode === 'none' || mode.startsWith('container:') || false) {
      await writeFiles(a.files, { hostname: hostnameText, hosts: hostsFile(extra), resolvConf: resolvConf(resolv, { nameservers: req?.dns, search: req?.dnsSearch, options: req?.dnsOptions }) }, a.owner);
      return {};
    }
    if (mode === 'host') {
      let hosts = LOOPBACK_HOSTS;
      try {
        hosts = readFileSync('/etc/hosts', 'utf8');
      } catch {
        // keep the loopback names
      }
      await writeFiles(a.files, { hostname: hostnameText, hosts: hosts + extra.map((e) => `${e.ip}\t${e.names.join(' ')}\n`).join(''), resolvConf: resolvConf(resolv, { nameservers: req.dns, search: req.dnsSearch, options: req.dnsOptions }) }, a.owner);
      return {};
    }
    // A second setUp of a container already set up (idempotent): its files again, nothing new wired.
    const had = this.states.get(a.containerId);
    const shared = !had && !a.owner && a.share ? this.states.get(a.share) : undefined;
    const state = had ?? shared ?? (await this.serial(() => this.allocate(a, req)));
    if (!state) {
      // Disconnected from every network: loopback only.
      await writeFiles(a.files, { hostname: hostnameText, hosts: hostsFile(extra), resolvConf: resolvConf(resolv, { nameservers: req.dns, search: req.dnsSearch, options: req.dnsOptions }) }, a.owner);
      return {};
    }
    const first = state.endpoints[0]!;
    const firstNet = this.networks.get(first.networkId)!;
    const names = a.domainname ? [`${a.hostname}.${a.domainname}`, a.hostname] : [a.hostname];
    const links = this.linkHosts(req);
    const resolvText = firstNet.dns
      ? resolvConf(resolv, { nameservers: [first.gateway], search: req.dnsSearch, options: req.dnsOptions })
      : resolvConf(resolv, { nameservers: req.dns, search: req.dnsSearch, options: req.dnsOptions });
    try {
      await Promise.all([
        writeFiles(a.files, { hostname: hostnameText, hosts: hostsFile([...extra, ...links], state.endpoints.flatMap((e) => selfHosts(e, names))), resolvConf: resolvText }, a.owner),
      ]);
    } catch (err) {
      await this.tearDown(a.containerId).catch(() => undefined);
      throw err;
    }
    if (had || shared) return { netns: state.netns, ready: Promise.resolve() };
    if (a.owner) {
      // Remapped root: the container makes its own network namespace (its /sys mount needs
      // one its user namespace owns); ours is then a bind mount of it, for netavark and teardown.
      await removeNetns(state.netns);
      await fsp.writeFile(state.netns, '');
      return {
        attach: async (pid: number) => {
          mount(`/proc/${pid}/ns/net`, state.netns, null, MS_BIND, null);
          await this.wire(state, req.dns ?? []);
        },
      };
    }
    const ready = this.wire(state, req.dns ?? []);
    return { netns: state.netns, ready };
  }

  /** Anchors, then the container's own setup: one netavark call per network. */
  private async wire(state: EndpointState, dns: string[]): Promise<void> {
    const proxy = this.startProxyFor(state);
    try {
      // The anchor first: it makes the bridge and its chains, which a container's setup must not race.
      await Promise.all(state.endpoints.map((e) => this.ensureAnchor(this.networks.get(e.networkId)!)));
      // berthd's own wiring (synchronous, 1-4 ms) waits for the next turn of the event loop:
      // by then the start has spawned conmon, so it overlaps runc's create instead of coming
      // before it. The container's process runs only once this is done either way (issue 14).
      if (state.endpoints.some((e) => e.hostVeth)) await new Promise<void>((r) => setImmediate(r));
      await Promise.all(state.endpoints.map(async (e) => (e.hostVeth ? this.wireDirectly(state, e) : this.netavarkSetup(state, e, dns))));
    } catch (err) {
      await proxy.catch(() => undefined);
      const msg = err instanceof Error ? err.message : String(err);
      throw new SystemError(`failed to set up container networking: ${msg}`, { cause: err });
    }
    await proxy.catch((err: unknown) => {
      throw new SystemError(`failed to set up container networking: ${err instanceof Error ? err.message : String(err)}`, { cause: err });
    });
    for (const e of state.endpoints) {
      const net = this.networks.get(e.networkId)!;
      this.o.onEvent?.('connect', net.id, { container: state.containerId, name: net.name, type: 'bridge' });
    }
  }

  /**
   * Whether a container alone on `net` is wired by berthd itself (rtnetlink.ts): an IPv4
   * bridge without embedded DNS, not internal, whose anchor keeps the bridge and its
   * firewall chains up; netavark would add nothing of its own but the veth.
   */
  private wiresDirectly(net: NetworkRecord): boolean {
    return net.driver === 'bridge' && !net.dns && !net.subnet6 && !net.internal && this.anchorIp(net) !== undefined;
  }

  private wireDirectly(state: EndpointState, e: Endpoint): void {
    const net = this.networks.get(e.networkId)!;
    const t = traceStart();
    wireVeth({ bridge: net.bridge, hostName: e.hostVeth!, netns: state.netns, ifname: e.ifname, mac: e.mac, ip: e.ip, prefix: e.prefix, gateway: e.gateway, ...(state.keepIPv6 ? { keepIPv6: true } : {}) });
    traceSpan(state.containerId, 'veth wiring (rtnetlink)', t);
  }

  /**
   * netavark's setup of one endpoint; then, on a network without IPv6, IPv6 off on the
   * interface it made (netavark leaves it on), unless the container's settings keep it.
   */
  private async netavarkSetup(state: EndpointState, e: Endpoint, dns: string[] = []): Promise<void> {
    await this.netavark.setup(state.netns, this.request(state, [e], dns));
    if (!state.keepIPv6 && !this.networks.get(e.networkId)?.subnet6) disableIPv6In(state.netns, e.ifname);
  }

  /** Undoes what wireDirectly made: the veth pair goes with its host end. */
  private async unwireDirectly(containerId: string, e: Endpoint): Promise<void> {
    await deleteLinkAsync(e.hostVeth!).catch((err) => log.warn('network teardown failed', { id: containerId, veth: e.hostVeth, error: String(err) }));
  }

  private request(state: EndpointState, endpoints: Endpoint[], dns: string[] = []): NetavarkRequest {
    const networks: NetavarkRequest['networks'] = {};
    const info: NetavarkRequest['network_info'] = {};
    let withPorts = false;
    for (const e of endpoints) {
      const net = this.networks.get(e.networkId);
      if (!net) continue;
      networks[netavarkName(net)] = { static_ips: e.ip6 ? [e.ip, e.ip6] : [e.ip], aliases: e.aliases, interface_name: e.ifname, static_mac: e.mac };
      info[netavarkName(net)] = this.netavarkNetwork(net);
      if (state.portsNetwork === net.id) withPorts = true;
    }
    return {
      container_id: state.containerId,
      container_name: state.containerName,
      port_mappings: withPorts ? this.natPorts(state).map((p) => ({ host_ip: p.hostIp, container_port: p.containerPort, host_port: p.hostPort, range: 1, protocol: p.protocol })) : [],
      networks,
      network_info: info,
      ...(dns.length ? { dns_servers: dns } : {}),
    };
  }

  private netavarkNetwork(net: NetworkRecord): NetavarkNetwork {
    return {
      name: netavarkName(net),
      id: net.id,
      driver: 'bridge',
      network_interface: net.bridge,
      subnets: [{ subnet: net.subnet, gateway: net.gateway }, ...(net.subnet6 ? [{ subnet: net.subnet6, gateway: net.gateway6! }] : [])],
      ipv6_enabled: !!net.subnet6,
      internal: net.internal,
      dns_enabled: net.dns,
      // Docker keeps bridge networks from reaching each other.
      options: { isolate: 'true' },
      ipam_options: { driver: 'host-local' },
    };
  }

  // ---- anchors -------------------------------------------------------------

  private anchorPath(net: NetworkRecord): string {
    return join(this.netnsDir, `anchor-${net.id}`);
  }

  /** The anchor's address: the highest host address of the subnet (none for subnets under /29). */
  private anchorIp(net: NetworkRecord): number | undefined {
    const s = parseCIDR(net.subnet);
    if (!s || s.prefix > 29) return undefined;
    return lastAddress(s) - 1;
  }

  /** The anchor's IPv6 address: the second highest of the IPv6 subnet. */
  private anchorIp6(net: NetworkRecord): string {
    const s = parseCIDR6(net.subnet6!)!;
    return formatIPv6(s.base + (1n << BigInt(128 - s.prefix)) - 2n);
  }

  private anchorRequest(net: NetworkRecord): NetavarkRequest {
    const ip = this.anchorIp(net)!;
    return {
      container_id: `anchor-${net.id}`,
      container_name: `berth-anchor-${net.id.slice(0, 12)}`,
      port_mappings: [],
      // netavark wants an address per subnet.
      networks: { [netavarkName(net)]: { static_ips: [formatIPv4(ip), ...(net.subnet6 ? [this.anchorIp6(net)] : [])], aliases: [], interface_name: 'eth0' } },
      network_info: { [netavarkName(net)]: this.netavarkNetwork(net) },
    };
  }

  private ensureAnchor(net: NetworkRecord): Promise<void> {
    const have = this.anchors.get(net.id);
    if (have) return have;
    if (this.anchorIp(net) === undefined) return Promise.resolve();
    const path = this.anchorPath(net);
    const p = (async () => {
      if (await isNetns(path)) return;
      await createNetns(path);
      await this.netavark.setup(path, this.anchorRequest(net), true);
    })();
    this.anchors.set(net.id, p);
    p.catch(() => this.anchors.delete(net.id));
    return p;
  }

  private async dropAnchor(networkId: string): Promise<void> {
    const p = this.anchors.get(networkId);
    this.anchors.delete(networkId);
    const net = this.networks.get(networkId);
    await p?.catch(() => undefined);
    if (!net) return;
    const path = this.anchorPath(net);
    if (!(await isNetns(path))) return;
    await this.netavark.teardown(path, this.anchorRequest(net), true).catch((err) => log.warn('anchor teardown failed', { network: net.name, error: String(err) }));
    await removeNetns(path);
  }

  // ---- addresses and ports -----------------------------------------------------

  private usedIps(networkId: string): Set<number> {
    const used = new Set<number>();
    for (const s of [...this.states.values(), ...this.draining.values()]) for (const e of s.endpoints) if (e.networkId === networkId) used.add(parseIPv4(e.ip)!);
    return used;
  }

  private allocateIp(net: NetworkRecord, wanted?: string, containerId?: string): string {
    const subnet = parseCIDR(net.subnet)!;
    const used = this.usedIps(net.id);
    const gw = parseIPv4(net.gateway);
    const anchor = this.anchorIp(net);
    if (wanted) {
      const ip = parseIPv4(wanted);
      if (ip === undefined || !contains(subnet, ip)) throw invalidArgument(`no configured subnet or ip-range contain the IP address ${wanted}`);
      // dockerd's IPAM answers 403 (ErrIPAlreadyAllocated).
      if (used.has(ip) || this.reserved(net, ip)) throw new BerthError('forbidden', `failed to set up container networking: ${wanted} on network ${net.name}: Address already in use`);
      return wanted;
    }
    const range = net.ipRange ? parseCIDR(net.ipRange)! : subnet;
    const last = containerId ? parseIPv4(this.lastIps.get(`${containerId}/${net.id}`) ?? '') : undefined;
    if (last !== undefined && contains(range, last) && !used.has(last) && last !== gw && last !== anchor && last !== subnet.base && last !== lastAddress(subnet)) return formatIPv4(last);
    for (let ip = range.base; ip <= lastAddress(range); ip++) {
      if (ip === subnet.base || ip === lastAddress(subnet) || ip === gw || ip === anchor || used.has(ip)) continue;
      return formatIPv4(ip);
    }
    throw new BerthError('unavailable', `no available IPv4 addresses on this network's address pools: ${net.name} (${net.id})`);
  }

  /** The first free IPv6 address of an IPv6 network (after the gateway); nothing on IPv4-only networks. */
  private allocateIp6(net: NetworkRecord, alsoUsed: readonly Endpoint[] = [], wanted?: string): Pick<Endpoint, 'ip6' | 'prefix6' | 'gateway6'> {
    if (!net.subnet6) return {};
    const subnet = parseCIDR6(net.subnet6)!;
    const used = new Set<string>([net.gateway6!, this.anchorIp6(net)]);
    for (const st of [...this.states.values(), ...this.draining.values()]) for (const e of st.endpoints) if (e.ip6) used.add(e.ip6);
    for (const e of alsoUsed) if (e.ip6) used.add(e.ip6);
    if (wanted) {
      const w = parseIPv6(wanted);
      if (w === undefined || !contains6(subnet, w)) throw invalidArgument(`no configured subnet or ip-range contain the IP address ${wanted}`);
      const ip = formatIPv6(w);
      if (used.has(ip) || w === subnet.base) throw new BerthError('forbidden', `failed to set up container networking: ${ip} on network ${net.name}: Address already in use`);
      return { ip6: ip, prefix6: subnet.prefix, gateway6: net.gateway6! };
    }
    const size = 1n << BigInt(128 - subnet.prefix);
    for (let i = 2n; i < size - 1n && i < 1n << 20n; i++) {
      const ip = formatIPv6(subnet.base + i);
      if (!used.has(ip)) return { ip6: ip, prefix6: subnet.prefix, gateway6: net.gateway6! };
    }
    throw new BerthError('unavailable', `no available IPv6 addresses on this network's address pools: ${net.name} (${net.id})`);
  }

  private portsInUse(): PortMapping[] {
    const out: PortMapping[] = [];
    for (const s of [...this.states.values(), ...this.draining.values()]) out.push(...s.ports);
    return out;
  }

  /**
   * Host ports for the mappings asked for: a fixed port is checked, a range searched, and
   * otherwise the next free port after the last one chosen within the kernel's ephemeral
   * range, as dockerd chooses them (32768, 32769… here). A mapping on every address gets a
   * "::" twin on the same port when IPv6 can carry it (the proxy, or the container's own
   * IPv6 address); one on an IPv6 host address that nothing can carry is dropped, as
   * dockerd drops it without its proxy.
   */
  private async allocatePorts(wanted: PortMapping[], containerName: string, target: Endpoint): Promise<PortMapping[]> {
    const hasIp6 = !!target.ip6;
    const used = this.portsInUse();
    const out: PortMapping[] = [];
    const v6Carried = (p: PortMapping) => hasIp6 || (!!this.o.proxy && p.protocol !== 'sctp');
    const fail = (why: string) => new BerthError('internal', `driver failed programming external connectivity on endpoint ${containerName} (${target.endpointId}): ${why}`);
    const shown = (ip: string) => (ip.includes(':') ? `[${ip}]` : ip || '0.0.0.0');
    for (const p of wanted) {
      if (p.hostIp.includes(':') && !v6Carried(p)) continue;
      // The addresses this mapping takes: itself, and its "::" twin.
      const ips = p.hostIp === '' && this.ipv6 && v6Carried(p) ? ['', '::'] : [p.hostIp];
      const clash = (port: number) => [...used, ...out].some((u) => u.protocol === p.protocol && u.hostPort === port && ips.some((ip) => hostIpsOverlap(u.hostIp, ip)));
      /** The first address whose port a host process holds, if any. */
      const heldOn = async (port: number) => {
        for (const ip of ips) if (!(await portFree(p.protocol, ip === '' ? '0.0.0.0' : ip, port))) return ip;
        return undefined;
      };
      let port = 0;
      if (p.hostPort) {
        if (clash(p.hostPort)) throw fail(`Bind for ${shown(p.hostIp)}:${p.hostPort} failed: port is already allocated`);
        const held = await heldOn(p.hostPort);
        if (held !== undefined) throw fail(bindFailure({ ...p, hostIp: held }, p.hostPort, target.ip, 'address already in use'));
        port = p.hostPort;
      } else {
        const [lo, hi] = p.hostRange ?? this.dynamicRange;
        // A range asked for is searched from its start; the ephemeral range from after the last port chosen.
        const first = p.hostRange ? lo : (this.lastDynamic.get(p.protocol) ?? hi) + 1;
        for (let i = 0; i <= hi - lo && !port; i++) {
          const c = lo + ((first - lo + i) % (hi - lo + 1));
          if (!clash(c) && (await heldOn(c)) === undefined) port = c;
        }
        if (!port) throw fail(p.hostRange ? `Bind for ${shown(p.hostIp)}:${lo}-${hi} failed: port is already allocated` : 'no free host port in the ephemeral range');
        if (!p.hostRange) this.lastDynamic.set(p.protocol, port);
      }
      out.push({ containerPort: p.containerPort, protocol: p.protocol, hostIp: p.hostIp, hostPort: port });
      if (ips.length === 2) out.push({ containerPort: p.containerPort, protocol: p.protocol, hostIp: '::', hostPort: port, twin: true });
    }
    return out;
  }

  /**
   * The mappings NAT forwards (netavark's port_mappings). netavark reads host address ''
   * as every address of each family the container has, and takes "0.0.0.0" literally (a
   * rule for destination 0.0.0.0/32, which nothing matches), so every-IPv4-address goes as ''.
   * With the proxy, IPv6 host addresses are the proxy's alone; without it, NAT takes those
   * the container's own IPv6 address can carry, as dockerd's does.
   */
  private natPorts(state: EndpointState): PortMapping[] {
    const kept = this.o.proxy ? state.ports.filter((p) => !p.hostIp.includes(':')) : state.ports.filter((p) => !p.twin);
    return kept.map((p) => (p.hostIp === '0.0.0.0' ? { ...p, hostIp: '' } : p));
  }

  /** Starts the container's userland proxy, when there is one and something for it to hold; records it on disk. */
  private async startProxyFor(state: EndpointState): Promise<void> {
    const e = state.endpoints.find((x) => x.networkId === state.portsNetwork);
    const ports = proxied(state.ports);
    if (!this.o.proxy || !e || !ports.length) return;
    try {
      state.proxy = await startProxy(this.o.proxy, ports, e.ip);
    } catch (err) {
      const why = err instanceof ProxyBindError ? bindFailure(err.mapping, err.mapping.hostPort, e.ip, err.cause_) : `failed to start the userland proxy: ${String(err)}`;
      throw new BerthError('internal', `driver failed programming external connectivity on endpoint ${state.containerName} (${e.endpointId}): ${why}`);
    }
    await writeJSONAtomic(this.endpointFile(state.containerId), state, { durable: false });
  }

  private async allocate(a: BridgeAttachment, req: NetworkRequest): Promise<EndpointState | undefined> {
    const primary = this.primaryNetwork(req.mode);
    if (!primary) throw notFound(`network ${req.mode} not found`);
    const nets: NetworkRecord[] = req.primaryDetached ? [] : [primary];
    for (const name of Object.keys(req.endpoints)) {
      const n = this.get(name === 'default' ? 'bridge' : name);
      if (n.driver !== 'bridge') continue;
      if (req.primaryDetached && n.id === primary.id) continue;
      if (!nets.some((x) => x.id === n.id)) nets.push(n);
    }
    if (nets.length === 0) return undefined;
    const short = a.containerId.slice(0, 12);
    const endpoints: Endpoint[] = [];
    nets.forEach((net, i) => {
      const cfg = req.endpoints[net.name] ?? req.endpoints[net.id] ?? (i === 0 ? req.endpoints[req.mode ?? ''] ?? req.endpoints.default : undefined);
      const ip = this.allocateIp(net, cfg?.ipv4Address, a.containerId);
      const e: Endpoint = {
        networkId: net.id,
        endpointId: newId(),
        ip,
        prefix: parseCIDR(net.subnet)!.prefix,
        gateway: net.gateway,
        mac: (i === 0 ? req.macAddress : undefined) || cfg?.macAddress || macFor(ip),
        ifname: `eth${i}`,
        aliases: net.dns ? [...new Set([...(cfg?.aliases ?? []), short])] : [],
        ...(cfg?.ipv4Address ? { staticIp: cfg.ipv4Address } : {}),
        ...this.allocateIp6(net, endpoints, cfg?.ipv6Address),
      };
      endpoints.push(e);
    });
    const state: EndpointState = {
      containerId: a.containerId,
      containerName: a.name ?? short,
      netns: await this.takeNetns(),
      ports: [],
      endpoints,
      hosts: { path: a.files.hosts, names: a.domainname ? [`${a.hostname}.${a.domainname}`, a.hostname] : [a.hostname] },
      ...(a.keepIPv6 ? { keepIPv6: true } : {}),
    };
    try {
      const wanted = portMappings(req);
      // A fixed port that a removed container's teardown still holds is free once that is done (dockerd frees it at once).
      const holders = [...this.draining.values()].filter((d) => d.ports.some((u) => wanted.some((p) => p.hostPort === u.hostPort && p.protocol === u.protocol)));
      await Promise.all(holders.map((d) => this.pending.get(d.containerId)?.catch(() => undefined)));
      state.ports = await this.allocatePorts(wanted, state.containerName, endpoints[0]!);
    } catch (err) {
      await removeNetns(state.netns);
      throw err instanceof BerthError && err.kind === 'internal' ? new SystemError(`failed to set up container networking: ${err.message}`, { cause: err }) : err;
    }
    if (state.ports.length) state.portsNetwork = nets[0]!.id;
    // The common case needs no netavark: one network that berthd wires itself, no published ports.
    if (endpoints.length === 1 && !state.ports.length && this.wiresDirectly(nets[0]!)) endpoints[0]!.hostVeth = `veth${endpoints[0]!.endpointId.slice(0, 7)}`;
    this.states.set(a.containerId, state);
    // The record goes to disk before netavark does anything: a crash leaves something to undo.
    await writeJSONAtomic(this.endpointFile(a.containerId), state, { durable: false });
    return state;
  }

  private endpointFile(containerId: string): string {
    return join(this.dir, 'endpoints', `${containerId}.json`);
  }

  /** --add-host lines; host-gateway is the default bridge's gateway. */
  private extraHosts(req: NetworkRequest | undefined): HostsEntry[] {
    const out: HostsEntry[] = [];
    for (const line of req?.extraHosts ?? []) {
      const i = line.indexOf(':');
      if (i <= 0) continue;
      let ip = line.slice(i + 1);
      if (ip === 'host-gateway') ip = this.byName('bridge')?.gateway ?? '127.0.0.1';
      out.push({ ip, names: [line.slice(0, i)] });
    }
    return out;
  }

  /** --link name:alias on the default bridge: hosts lines for running containers. */
  private linkHosts(req: NetworkRequest): HostsEntry[] {
    const out: HostsEntry[] = [];
    for (const link of req.links ?? []) {
      const { name, alias } = parseLink(link);
      const s = [...this.states.values()].find((x) => x.containerName === name || x.containerId.startsWith(name));
      const e = s?.endpoints[0];
      if (!s || !e) continue;
      out.push({ ip: e.ip, names: [...new Set([alias, s.containerId.slice(0, 12), s.containerName])] });
    }
    return out;
  }

  async tearDown(containerId: string): Promise<void> {
    const state = this.states.get(containerId);
    // Already queued (exit, then removal): the removal does not wait for netavark.
    if (!state) return;
    this.states.delete(containerId);
    // Told at once, as dockerd does before the container's `die`: the unwiring below finishes in the background.
    for (const e of state.endpoints) {
      const net = this.networks.get(e.networkId);
      if (net) this.o.onEvent?.('disconnect', net.id, { container: containerId, name: net.name, type: 'bridge' });
    }
    const drainKey = `${containerId}/${state.netns}`;
    this.draining.set(drainKey, state);
    const job = (async () => {
      if (state.proxy) await stopProxy(state.proxy);
      for (const e of state.endpoints) if (e.hostVeth) await this.unwireDirectly(containerId, e);
      const viaNetavark = state.endpoints.filter((e) => !e.hostVeth);
      if (viaNetavark.length) {
        await this.netavark.teardown(state.netns, this.request(state, viaNetavark)).catch((err) => {
          // A setup that never ran leaves nothing to undo; anything else is worth a line.
          if (!/No such file|does not exist|not found|No such device/i.test(String(err))) log.warn('network teardown failed', { id: containerId, error: String(err) });
        });
      }
      await removeNetns(state.netns);
      await fsp.rm(this.endpointFile(containerId), { force: true });
    })();
    const done = job.finally(() => {
      this.draining.delete(drainKey);
      for (const e of state.endpoints) this.lastIps.set(`${containerId}/${e.networkId}`, e.ip);
      // Bounded: the oldest memories go first.
      while (this.lastIps.size > 4096) this.lastIps.delete(this.lastIps.keys().next().value!);
      if (this.pending.get(containerId) === done) this.pending.delete(containerId);
    });
    this.pending.set(containerId, done);
  }

  // ---- network management --------------------------------------------------------

  private async save(n: NetworkRecord): Promise<void> {
    await writeJSONAtomic(join(this.dir, `${n.id}.json`), n);
    this.networks.set(n.id, n);
  }

  private async deleteRecord(n: NetworkRecord): Promise<void> {
    await fsp.rm(join(this.dir, `${n.id}.json`), { force: true });
    this.networks.delete(n.id);
  }

  create(o: {
    name: string;
    driver?: string;
    subnet?: string;
    gateway?: string;
    ipRange?: string;
    internal?: boolean;
    attachable?: boolean;
    labels?: Record<string, string>;
    options?: Record<string, string>;
    checkDuplicate?: boolean;
    /** --ipv6 with its IPv6 subnet (and gateway). */
    ipv6?: { subnet?: string; gateway?: string };
  }): Promise<{ id: string; warning: string }> {
    return this.serial(async () => {
      if (!o.name) throw invalidArgument('network name is required');
      if (!/^[a-zA-Z0-9][a-zA-Z0-9_.-]*$/.test(o.name)) throw invalidArgument(`invalid network name "${o.name}": only [a-zA-Z0-9][a-zA-Z0-9_.-] are allowed`);
      const driver = o.driver || 'bridge';
      if (BUILTIN.includes(o.name)) throw new BerthError('forbidden', `${o.name} is a pre-defined network and cannot be created`);
      if (this.byName(o.name)) throw conflict(`network with name ${o.name} already exists`);
      if (driver !== 'bridge') {
        if (driver === 'host' || driver === 'null') throw new BerthError('forbidden', `only one instance of "${driver}" network is allowed`);
        // dockerd's answer on a node that is not a swarm manager (Berth never is one).
        if (driver === 'overlay') throw new BerthError('forbidden', 'This node is not a swarm manager. Use "docker swarm init" or "docker swarm join" to connect this node to swarm and try again.');
        throw notFound(`plugin "${driver}" not found`);
      }
      const others = this.othersHold();
      const taken = [...this.networks.values()].filter((n) => n.driver === 'bridge' && n.subnet).map((n) => parseCIDR(n.subnet)!);
      let subnet: Subnet;
      if (o.subnet) {
        const s = parseCIDR(o.subnet, true);
        if (!s) throw invalidArgument(`Invalid subnet ${o.subnet} : invalid CIDR address: ${o.subnet}`);
        if (s.address !== s.base) throw invalidArgument(`invalid subnet ${o.subnet}: it should be ${formatCIDR(s)}`);
        if (taken.some((t) => overlaps(t, s))) throw new BerthError('forbidden', 'invalid pool request: Pool overlaps with other one on this address space');
        if (others.subnets.some((t) => overlaps(t, s))) throw new BerthError('forbidden', 'invalid pool request: Pool overlaps with a network of another berthd on this host');
        subnet = s;
      } else {
        if (o.gateway || o.ipRange) throw invalidArgument('ip-range and gateway need a subnet (--subnet)');
        const ours = [...this.networks.values()].map((n) => n.bridge).filter(Boolean);
        const s = pickSubnet(this.o.pools?.length ? this.o.pools : DEFAULT_POOLS, [...taken, ...others.subnets, ...hostRoutes(ours).map((r) => r.subnet)]);
        if (!s) throw new BerthError('forbidden', 'all predefined address pools have been fully subnetted');
        subnet = s;
      }
      if (subnet.prefix > 30) throw invalidArgument(`invalid subnet ${formatCIDR(subnet)}: it leaves no address for containers`);
      let gateway = formatIPv4(subnet.base + 1);
      if (o.gateway) {
        const g = parseIPv4(o.gateway);
        if (g === undefined) throw invalidArgument(`invalid gateway address ${o.gateway}`);
        // dockerd 25+ checks this before its IPAM sees it: 400, in its words.
        if (!contains(subnet, g)) throw invalidArgument(`invalid network config: invalid gateway ${o.gateway}: parent subnet ${formatCIDR(subnet)} doesn't contain this address`);
        gateway = o.gateway;
      }
      let ipRange: string | undefined;
      if (o.ipRange) {
        const r = parseCIDR(o.ipRange, true);
        if (!r) throw invalidArgument(`invalid CIDR address: ${o.ipRange}`);
        if (!contains(subnet, r.base) || r.prefix < subnet.prefix) throw new BerthError('forbidden', `no matching subnet for range ${o.ipRange}`);
        ipRange = formatCIDR(r);
      }
      let v6: { subnet6: string; gateway6: string } | undefined;
      if (o.ipv6) {
        // No IPv6 pool of our own (dockerd has none by default either): the subnet is the user's.
        if (!o.ipv6.subnet) throw invalidArgument('an IPv6 network needs its IPv6 subnet: give one with --subnet (such as fd00:db8:1::/64)');
        const s6 = parseCIDR6(o.ipv6.subnet);
        if (!s6) throw invalidArgument(`Invalid subnet ${o.ipv6.subnet} : invalid CIDR address: ${o.ipv6.subnet}`);
        if (s6.address !== s6.base) throw invalidArgument(`invalid subnet ${o.ipv6.subnet}: it should be ${formatCIDR6(s6)}`);
        if (s6.prefix > 120) throw invalidArgument(`invalid subnet ${formatCIDR6(s6)}: it leaves no address for containers`);
        const taken6 = [...this.networks.values()].filter((n) => n.subnet6).map((n) => parseCIDR6(n.subnet6!)!);
        if (taken6.some((t) => overlaps6(t, s6))) throw new BerthError('forbidden', 'invalid pool request: Pool overlaps with other one on this address space');
        let gw6 = formatIPv6(s6.base + 1n);
        if (o.ipv6.gateway) {
          const g = parseIPv6(o.ipv6.gateway);
          if (g === undefined) throw invalidArgument(`invalid gateway address ${o.ipv6.gateway}`);
          if (!contains6(s6, g)) throw invalidArgument(`invalid network config: invalid gateway ${o.ipv6.gateway}: parent subnet ${formatCIDR6(s6)} doesn't contain this address`);
          gw6 = formatIPv6(g);
        }
        v6 = { subnet6: formatCIDR6(s6), gateway6: gw6 };
      }
      const id = newId();
      const options = { ...(o.options ?? {}) };
      const bridge = options['com.docker.network.bridge.name'] || `br-${id.slice(0, 12)}`;
      if (bridge.length > 15) throw invalidArgument(`bridge name ${bridge} is longer than 15 characters`);
      if (!/^[A-Za-z0-9][A-Za-z0-9_.-]*$/.test(bridge)) throw invalidArgument(`invalid bridge name ${JSON.stringify(bridge)}: use letters, digits, '_', '.' and '-', starting with a letter or digit`);
      if (options['com.docker.network.bridge.name'] && existsSync(`/sys/class/net/${bridge}`)) throw conflict(`bridge name ${bridge} is a device the host already has`);
      if ([...this.networks.values()].some((n) => n.bridge === bridge) || others.devices.has(bridge)) throw conflict(`bridge name ${bridge} is already used by another network`);
      const rec: NetworkRecord = {
        id,
        name: o.name,
        created: new Date().toISOString(),
        driver: 'bridge',
        bridge,
        subnet: formatCIDR(subnet),
        gateway,
        ...(ipRange ? { ipRange } : {}),
        internal: !!o.internal,
        attachable: !!o.attachable,
        labels: o.labels ?? {},
        options,
        dns: true,
        ipamConfigured: !!o.subnet,
        ...(o.subnet && !o.gateway ? { gatewayNotGiven: true as const } : {}),
        ...(v6 ?? {}),
        ...(v6 && !o.ipv6?.gateway ? { gateway6NotGiven: true as const } : {}),
      };
      await this.save(rec);
      await this.claim();
      this.o.onEvent?.('create', id, { name: rec.name, type: 'bridge' });
      return { id, warning: '' };
    });
  }

  remove(ref: string): Promise<void> {
    return this.serial(async () => {
      const n = this.get(ref);
      if (BUILTIN.includes(n.name)) throw new BerthError('forbidden', `${n.name} is a pre-defined network and cannot be removed`);
      if (this.inUse(n.id)) throw new BerthError('forbidden', `error while removing network: network ${n.name} id ${n.id} has active endpoints`);
      await Promise.all([...this.pending.values()]);
      await this.dropAnchor(n.id);
      await this.deleteRecord(n);
      await this.claim();
      this.o.onEvent?.('destroy', n.id, { name: n.name, type: 'bridge' });
    });
  }

  /** Removes unused user-defined networks; `until` and `label` filters as dockerd. */
  async prune(filters: FilterArgs, used: (networkId: string) => boolean): Promise<string[]> {
    checkFilterKeys(filters, ['until', 'label', 'label!']);
    const until = filters.get('until')?.[0];
    const limit = until ? parseUntil(until) : undefined;
    const removed: string[] = [];
    for (const n of this.list()) {
      if (BUILTIN.includes(n.name) || this.inUse(n.id) || used(n.id)) continue;
      if (limit !== undefined && !(Date.parse(n.created) < limit)) continue;
      if (!matchLabelArgs(filters, n.labels)) continue;
      try {
        await this.remove(n.id);
        removed.push(n.name);
      } catch (err) {
        log.warn('network prune: not removed', { network: n.name, error: String(err) });
      }
    }
    return removed;
  }

  /** Attaches a running container to another network (docker network connect). */
  connect(containerId: string, ref: string, cfg: { aliases?: string[] | null; ipv4Address?: string; macAddress?: string }): Promise<void> {
    return this.serial(async () => {
      const state = this.states.get(containerId);
      const net = this.get(ref);
      if (!state) throw conflict(`container ${containerId} is not connected to a bridge network it can join ${net.name} from`);
      if (state.endpoints.some((e) => e.networkId === net.id)) throw new BerthError('forbidden', `endpoint with name ${state.containerName} already exists in network ${net.name}`);
      if (net.driver !== 'bridge') throw new BerthError('forbidden', `container cannot be disconnected from host network or connected to host network`);
      cfg = { ...cfg, ...this.checkEndpoint(net, cfg) };
      const ip = this.allocateIp(net, cfg.ipv4Address);
      const used = new Set(state.endpoints.map((e) => e.ifname));
      let i = 0;
      while (used.has(`eth${i}`)) i++;
      const e: Endpoint = {
        networkId: net.id,
        endpointId: newId(),
        ip,
        prefix: parseCIDR(net.subnet)!.prefix,
        gateway: net.gateway,
        mac: cfg.macAddress || macFor(ip),
        ifname: `eth${i}`,
        aliases: net.dns ? [...new Set([...(cfg.aliases ?? []), containerId.slice(0, 12)])] : [],
        ...(cfg.ipv4Address ? { staticIp: cfg.ipv4Address } : {}),
        ...this.allocateIp6(net),
      };
      state.endpoints.push(e);
      await writeJSONAtomic(this.endpointFile(containerId), state, { durable: false });
      try {
        await this.ensureAnchor(net);
        await this.netavarkSetup(state, e);
      } catch (err) {
        state.endpoints = state.endpoints.filter((x) => x !== e);
        await this.netavark.teardown(state.netns, this.request(state, [e])).catch(() => undefined);
        await writeJSONAtomic(this.endpointFile(containerId), state, { durable: false });
        throw err;
      }
      await this.editHosts(state, (lines) => [...lines, ...selfHosts(e, state.hosts!.names).map((h) => hostsLine(h.ip, h.names))]);
      this.o.onEvent?.('connect', net.id, { container: containerId, name: net.name, type: 'bridge' });
    });
  }

  /** Rewrites a running container's hosts file in place (it is bind-mounted: same inode). */
  private async editHosts(state: EndpointState, edit: (lines: string[]) => string[]): Promise<void> {
    if (!state.hosts) return;
    try {
      const text = await fsp.readFile(state.hosts.path, 'utf8');
      const lines = text.split('\n');
      if (lines[lines.length - 1] === '') lines.pop();
      await fsp.writeFile(state.hosts.path, edit(lines).join('\n') + '\n');
    } catch (err) {
      log.warn('cannot update the hosts file of a container', { id: state.containerId, error: String(err) });
    }
  }

  /** Detaches a running container from a network. */
  disconnect(containerId: string, ref: string): Promise<void> {
    return this.serial(async () => {
      const net = this.get(ref);
      const state = this.states.get(containerId);
      const e = state?.endpoints.find((x) => x.networkId === net.id);
      if (!state || !e) throw new BerthError('forbidden', `container ${containerId} is not connected to network ${net.name}`);
      const carriesPorts = state.portsNetwork === net.id;
      if (e.hostVeth) await this.unwireDirectly(containerId, e);
      else await this.netavark.teardown(state.netns, this.request(state, [e])).catch((err) => log.warn('disconnect teardown failed', { error: String(err) }));
      state.endpoints = state.endpoints.filter((x) => x !== e);
      if (carriesPorts) {
        if (state.proxy) await stopProxy(state.proxy);
        delete state.proxy;
        state.ports = [];
        delete state.portsNetwork;
      }
      if (state.endpoints.length === 0) {
        // Nothing left: the namespace keeps loopback only, as with --network none.
        state.endpoints = [];
      }
      await writeJSONAtomic(this.endpointFile(containerId), state, { durable: false });
      if (state.hosts) {
        const drop = new Set(selfHosts(e, state.hosts.names).map((h) => hostsLine(h.ip, h.names)));
        await this.editHosts(state, (lines) => lines.filter((l) => !drop.has(l)));
      }
      this.o.onEvent?.('disconnect', net.id, { container: containerId, name: net.name, type: 'bridge' });
    });
  }
}

/** A container's own lines in /etc/hosts for one endpoint: its IPv4 and, on IPv6 networks, its IPv6 address. */
function selfHosts(e: Endpoint, names: string[]): HostsEntry[] {
  return [{ ip: e.ip, names }, ...(e.ip6 ? [{ ip: e.ip6, names }] : [])];
}

function parseUntil(v: string): number {
  if (/^\d+(\.\d+)?$/.test(v)) return Number(v) * 1000;
  const m = /^(\d+)(h|m|s)$/.exec(v);
  if (m) return Date.now() - Number(m[1]) * { h: 3600_000, m: 60_000, s: 1000 }[m[2] as 'h' | 'm' | 's'];
  const t = Date.parse(v);
  if (Number.isNaN(t)) throw invalidArgument(`invalid until filter: ${v}`);
  return t;
}

