/**
 * Network use cases (`docker network …`) over network/bridge.ts: containers are
 * resolved here, and a container that does not run has its network configuration
 * changed in its record (it takes effect at its next start), as dockerd does.
 */
import { BerthError, checkFilterKeys, invalidArgument, matchLabelArgs, type FilterArgs } from '../common';
import type { BridgeNetworking, EndpointState, NetworkRecord } from '../network';
import { isLive, type ContainerRecord, type EndpointConfig } from './container-model';
import type { ContainerService } from './containers';

export interface NetworkCreateOptions {
  name: string;
  driver?: string;
  subnet?: string;
  gateway?: string;
  ipRange?: string;
  /** --ipv6 with its IPv6 subnet and gateway. */
  ipv6?: { subnet?: string; gateway?: string };
  internal?: boolean;
  attachable?: boolean;
  labels?: Record<string, string>;
  options?: Record<string, string>;
}

/** One container's view of one network, for inspect and ps. */
export interface NetworkAttachmentView {
  network: NetworkRecord | undefined;
  /** The name the container's config uses. */
  name: string;
  config: EndpointConfig | undefined;
  endpoint: EndpointState['endpoints'][number] | undefined;
}

export const NETWORK_FILTER_KEYS = ['dangling', 'driver', 'id', 'label', 'name', 'scope', 'type'];

export class NetworkService {
  constructor(
    readonly bridge: BridgeNetworking,
    private readonly containers: ContainerService,
  ) {}

  get(ref: string): NetworkRecord {
    return this.bridge.get(ref);
  }

  list(filters: FilterArgs = new Map()): NetworkRecord[] {
    checkFilterKeys(filters, NETWORK_FILTER_KEYS);
    const any = (key: string, pred: (v: string) => boolean) => {
      const vs = filters.get(key);
      return !vs || vs.some(pred);
    };
    const builtin = (n: NetworkRecord) => ['bridge', 'host', 'none'].includes(n.name);
    return this.bridge.list().filter(
      (n) =>
        any('driver', (v) => v === n.driver) &&
        any('id', (v) => n.id.startsWith(v)) &&
        any('name', (v) => n.name.includes(v)) &&
        any('scope', (v) => v === 'local') &&
        any('type', (v) => (v === 'builtin' ? builtin(n) : v === 'custom' ? !builtin(n) : false)) &&
        any('dangling', (v) => {
          const dangling = !builtin(n) && this.bridge.containersOn(n.id).length === 0;
          if (v === 'true' || v === '1') return dangling;
          if (v === 'false' || v === '0') return !dangling;
          throw invalidArgument(`invalid filter 'dangling=${v}'`);
        }) &&
        matchLabelArgs(filters, n.labels),
    );
  }

  create(o: NetworkCreateOptions): Promise<{ id: string; warning: string }> {
    return this.bridge.create(o);
  }

  /** Containers on the network: live endpoints. */
  containersOn(networkId: string): { id: string; name: string; endpointId: string; mac: string; ipv4: string; ipv6: string }[] {
    return this.bridge.containersOn(networkId).map(({ state, endpoint }) => ({
      id: state.containerId,
      name: this.containers.find(state.containerId)?.name ?? state.containerName,
      endpointId: endpoint.endpointId,
      mac: endpoint.mac,
      ipv4: `${endpoint.ip}/${endpoint.prefix}`,
      ipv6: endpoint.ip6 ? `${endpoint.ip6}/${endpoint.prefix6}` : '',
    }));
  }

  remove(ref: string): Promise<void> {
    return this.bridge.remove(ref);
  }

  prune(filters: FilterArgs): Promise<string[]> {
    const configured = new Set<string>();
    for (const r of this.containers.list()) for (const n of this.configuredNetworks(r)) configured.add(n.network?.id ?? '');
    return this.bridge.prune(filters, (id) => configured.has(id));
  }

  /** The networks a container is configured for, with its live endpoints. */
  configuredNetworks(r: ContainerRecord): NetworkAttachmentView[] {
    const net = r.spec.network;
    const mode = net.mode ?? '';
    const state = this.bridge.stateOf(r.id);
    const out: NetworkAttachmentView[] = [];
    const add = (raw: string) => {
      const name = raw === 'default' ? 'bridge' : raw;
      const n = this.bridge.find(name) ?? undefined;
      if (out.some((x) => (n && x.network?.id === n.id) || x.name === name)) return;
      out.push({ network: n, name: n?.name ?? name, config: net.endpoints[raw] ?? net.endpoints[name], endpoint: n ? state?.endpoints.find((e) => e.networkId === n.id) : undefined });
    };
    if (mode.startsWith('container:')) return out;
    if (!net.primaryDetached) add(mode === '' || mode === 'default' ? 'bridge' : mode);
    for (const name of Object.keys(net.endpoints)) add(name);
    // Networks connected while running (connect keeps them in the record too).
    for (const e of state?.endpoints ?? []) {
      const n = this.bridge.byId(e.networkId);
      if (n) add(n.name);
    }
    return out;
  }

  async connect(netRef: string, containerRef: string, cfg: { aliases?: string[] | null; ipv4Address?: string; macAddress?: string }): Promise<void> {
    const net = this.bridge.get(netRef);
    const rec = this.containers.get(containerRef);
    const mode = rec.spec.network.mode ?? '';
    if (net.driver === 'host' || mode === 'host') throw new BerthError('forbidden', 'container cannot be disconnected from host network or connected to host network');
    if (net.driver === 'null' || mode === 'none') throw new BerthError('forbidden', 'container cannot be connected to multiple networks with one of the networks in private (none) mode');
    if (mode.startsWith('container:')) throw new BerthError('forbidden', 'container sharing network namespace with another container or host cannot be connected to any other network');
    if (this.configuredNetworks(rec).some((v) => v.network?.id === net.id)) {
      throw new BerthError('forbidden', `endpoint with name ${rec.name} already exists in network ${net.name}`);
    }
    // Checked whether the container runs or not: a stopped one saves them for its next start.
    const checked = this.bridge.checkEndpoint(net, cfg);
    if (isLive(rec)) await this.bridge.connect(rec.id, net.id, { ...cfg, ...checked });
    await this.containers.setNetworkEndpoint(rec.id, net.name, { aliases: cfg.aliases ?? null, links: null, ...checked });
  }

  async disconnect(netRef: string, containerRef: string, force = false): Promise<void> {
    const net = this.bridge.get(netRef);
    let rec: ContainerRecord;
    try {
      rec = this.containers.get(containerRef);
    } catch (err) {
      if (force) return;
      throw err;
    }
    if (net.driver === 'host') throw new BerthError('forbidden', 'container cannot be disconnected from host network or connected to host network');
    const views = this.configuredNetworks(rec);
    if (!views.some((v) => v.network?.id === net.id)) throw new BerthError('forbidden', `container ${rec.id} is not connected to network ${net.name}`);
    if (isLive(rec) && this.bridge.stateOf(rec.id)?.endpoints.some((e) => e.networkId === net.id)) await this.bridge.disconnect(rec.id, net.id);
    await this.containers.setNetworkEndpoint(rec.id, net.name, null);
  }
}

