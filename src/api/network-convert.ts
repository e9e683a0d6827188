/** Networks in Docker's shapes: network inspect and list, and a container's NetworkSettings and Ports. */
import { isLive, type ContainerRecord, type Engine, type NetworkRecord } from '../engine';

export function networkInspect(engine: Engine, n: NetworkRecord, verbose = false): Record<string, unknown> {
  const containers: Record<string, unknown> = {};
  for (const c of engine.networks?.containersOn(n.id) ?? []) {
    containers[c.id] = { Name: c.name, EndpointID: c.endpointId, MacAddress: c.mac, IPv4Address: c.ipv4, IPv6Address: c.ipv6 };
  }
  void verbose;
  return {
    Name: n.name,
    Id: n.id,
    Created: n.created,
    Scope: 'local',
    Driver: n.driver,
    // dockerd 28 shows it whatever the API version asked (no Berth network is IPv6-only).
    EnableIPv4: true,
    EnableIPv6: !!n.subnet6,
    IPAM: {
      Driver: 'default',
      Options: n.name === 'bridge' ? null : {},
      Config: [
        // A subnet the user gave is shown as given; one berthd picked, with the gateway it took.
        ...(n.subnet ? [{ Subnet: n.subnet, ...(n.ipRange ? { IPRange: n.ipRange } : {}), ...(n.gatewayNotGiven ? {} : { Gateway: n.gateway }) }] : []),
        ...(n.subnet6 ? [{ Subnet: n.subnet6, ...(n.gateway6NotGiven ? {} : { Gateway: n.gateway6 }) }] : []),
      ],
    },
    Internal: n.internal,
    Attachable: n.attachable,
    Ingress: false,
    ConfigFrom: { Network: '' },
    ConfigOnly: false,
    Containers: containers,
    Options: n.options,
    Labels: n.labels,
  };
}

/** Docker's `Ports` map of inspect: every exposed or published port, with its host bindings or null. */
function portsMap(r: ContainerRecord, engine: Engine): Record<string, { HostIp: string; HostPort: string }[] | null> {
  const out: Record<string, { HostIp: string; HostPort: string }[] | null> = {};
  if (!isLive(r)) return out;
  const mode = r.spec.network.mode ?? '';
  if (mode === 'none' || mode === 'host' || mode.startsWith('container:')) return out;
  for (const p of r.spec.network.exposedPorts ?? []) out[p.includes('/') ? p : `${p}/tcp`] = null;
  for (const m of engine.networks?.bridge.stateOf(r.id)?.ports ?? []) {
    const key = `${m.containerPort}/${m.protocol}`;
    const list = out[key] ?? [];
    // IPv4 only: the stack forwards no IPv6 (dockerd would add a "::" binding).
    list.push({ HostIp: m.hostIp || '0.0.0.0', HostPort: String(m.hostPort) });
    out[key] = list;
  }
  return out;
}

/** `ps`'s Ports list. */
export function summaryPorts(r: ContainerRecord, engine: Engine | undefined): { IP?: string; PrivatePort: number; PublicPort?: number; Type: string }[] {
  if (!engine) return [];
  const out: { IP?: string; PrivatePort: number; PublicPort?: number; Type: string }[] = [];
  for (const [key, binds] of Object.entries(portsMap(r, engine))) {
    const [port, type = 'tcp'] = key.split('/');
    if (!binds) out.push({ PrivatePort: Number(port), Type: type });
    else for (const b of binds) out.push({ IP: b.HostIp, PrivatePort: Number(port), PublicPort: Number(b.HostPort), Type: type });
  }
  return out;
}

function endpointSettings(engine: Engine, r: ContainerRecord) {
  const views = engine.networks?.configuredNetworks(r) ?? [];
  const networks: Record<string, Record<string, unknown>> = {};
  for (const v of views) {
    const e = v.endpoint;
    networks[v.name] = {
      IPAMConfig: v.config?.ipv4Address ? { IPv4Address: v.config.ipv4Address } : null,
      Links: v.config?.links ?? null,
      Aliases: v.config?.aliases ?? null,
      MacAddress: e?.mac ?? '',
      DriverOpts: null,
      NetworkID: v.network?.id ?? '',
      EndpointID: e?.endpointId ?? '',
      Gateway: e?.gateway ?? '',
      IPAddress: e?.ip ?? '',
      IPPrefixLen: e?.prefix ?? 0,
      IPv6Gateway: e?.gateway6 ?? '',
      GlobalIPv6Address: e?.ip6 ?? '',
      GlobalIPv6PrefixLen: e?.prefix6 ?? 0,
      DNSNames: e && v.network?.dns ? [r.name, ...(e.aliases ?? [])] : null,
    };
  }
  return networks;
}

/** NetworkSettings of container inspect, as dockerd fills them. */
export function networkSettings(engine: Engine, r: ContainerRecord): Record<string, unknown> {
  const networks = engine.networks ? endpointSettings(engine, r) : { none: { NetworkID: 'none', EndpointID: '', Gateway: '', IPAddress: '', IPPrefixLen: 0, MacAddress: '' } };
  const state = engine.networks?.bridge.stateOf(r.id);
  const onBridge = (networks.bridge ?? {}) as Record<string, unknown>;
  const live = isLive(r);
  return {
    Bridge: '',
    SandboxID: live && state ? state.containerId : '',
    SandboxKey: live && state ? state.netns : '',
    HairpinMode: false,
    LinkLocalIPv6Address: '',
    LinkLocalIPv6PrefixLen: 0,
    Ports: portsMap(r, engine),
    SecondaryIPAddresses: null,
    SecondaryIPv6Addresses: null,
    EndpointID: onBridge.EndpointID ?? '',
    Gateway: onBridge.Gateway ?? '',
    GlobalIPv6Address: onBridge.GlobalIPv6Address ?? '',
    GlobalIPv6PrefixLen: onBridge.GlobalIPv6PrefixLen ?? 0,
    IPAddress: onBridge.IPAddress ?? '',
    IPPrefixLen: onBridge.IPPrefixLen ?? 0,
    IPv6Gateway: onBridge.IPv6Gateway ?? '',
    MacAddress: onBridge.MacAddress ?? '',
    Networks: networks,
  };
}

/** `ps`'s NetworkSettings: the networks with their endpoints. */
export function summaryNetworks(engine: Engine | undefined, r: ContainerRecord): { Networks: Record<string, unknown> } {
  return { Networks: engine?.networks ? endpointSettings(engine, r) : {} };
}

/** HostConfig.NetworkMode as dockerd shows it. */
export function networkModeOf(engine: Engine | undefined, r: ContainerRecord): string {
  const m = r.spec.network.mode ?? '';
  if (!engine?.networks) return m || 'none';
  return m === '' || m === 'default' ? 'bridge' : m;
}
