/** `/networks`: create, list, inspect, remove, prune, connect, disconnect. */
import { invalidArgument, notImplemented } from '../../common';
import type { Engine, NetworkService } from '../../engine';
import { sendEmpty, sendJSON } from '../http';
import { networkInspect } from '../network-convert';
import { qbool, qfilters, readJSONBody, type Router } from '../router';
import { asObject, checkFields, type Spec } from '../validate';

const IPAM_CONFIG: Record<string, Spec> = { Subnet: 'string', IPRange: 'string', Gateway: 'string', AuxiliaryAddresses: 'string-map' };
const NETWORK_CREATE: Record<string, Spec> = {
  Name: 'string',
  CheckDuplicate: 'boolean',
  Driver: 'string',
  Scope: 'string',
  Internal: 'boolean',
  Attachable: 'boolean',
  Ingress: 'boolean',
  ConfigOnly: 'boolean',
  ConfigFrom: 'object',
  IPAM: { fields: { Driver: 'string', Config: { each: IPAM_CONFIG }, Options: 'string-map' } },
  EnableIPv6: 'boolean',
  Options: 'string-map',
  Labels: 'string-map',
};
const ENDPOINT_CONFIG: Record<string, Spec> = {
  IPAMConfig: { fields: { IPv4Address: 'string', IPv6Address: 'string', LinkLocalIPs: 'string[]' } },
  Links: 'string[]',
  Aliases: 'string[]',
  MacAddress: 'string',
  DriverOpts: 'string-map',
  NetworkID: 'string',
  EndpointID: 'string',
  Gateway: 'string',
  IPAddress: 'string',
  IPPrefixLen: 'number',
  IPv6Gateway: 'string',
  GlobalIPv6Address: 'string',
  GlobalIPv6PrefixLen: 'number',
  DNSNames: 'string[]',
};
const CONNECT: Record<string, Spec> = { Container: 'string', EndpointConfig: { fields: ENDPOINT_CONFIG } };
const DISCONNECT: Record<string, Spec> = { Container: 'string', Force: 'boolean' };

interface IpamConfig { Subnet?: string; Gateway?: string; IPRange?: string }

const isV6 = (addr: string) => addr.includes(':');

/**
 * dockerd's first checks of an IPAM config entry (400): it needs its subnet, and its
 * gateway and ip-range are of the subnet's family. Addresses are parsed by the engine.
 */
function checkIpamFamilies(c: IpamConfig): void {
  if (!c.Subnet) {
    const given = [c.Gateway && `gateway ${c.Gateway}`, c.IPRange && `ip-range ${c.IPRange}`].filter(Boolean).join(' and ') || 'an IPAM config entry';
    throw invalidArgument(`invalid network config: ${given} given without a subnet: give the subnet it belongs to (--subnet)`);
  }
  const family = isV6(c.Subnet) ? 'IPv6' : 'IPv4';
  if (c.Gateway && isV6(c.Gateway) !== isV6(c.Subnet)) throw invalidArgument(`invalid network config: invalid gateway ${c.Gateway}: parent subnet is an ${family} block`);
  if (c.IPRange && isV6(c.IPRange) !== isV6(c.Subnet)) throw invalidArgument(`invalid network config: invalid ip-range ${c.IPRange}: parent subnet is an ${family} block`);
}

export function networkRoutes(router: Router, engine: Engine): void {
  const svc = (): NetworkService => {
    if (!engine.networks) throw notImplemented('networks need netavark on the daemon\'s host (apt-get install netavark aardvark-dns)');
    return engine.networks;
  };

  router.add('GET', '/networks', (ctx) => {
    sendJSON(ctx, 200, svc().list(qfilters(ctx.query)).map((n) => networkInspect(engine, n)));
  });

  router.add('POST', '/networks/create', async (ctx) => {
    const body = asObject(await readJSONBody(ctx, 'network config', NETWORK_CREATE), 'network config');
    checkFields('network config', body, NETWORK_CREATE);
    const ipam = (body.IPAM ?? {}) as { Config?: IpamConfig[] };
    for (const c of ipam.Config ?? []) checkIpamFamilies(c);
    // Each entry's family is its subnet's (checked above: every entry has one).
    const v4 = (ipam.Config ?? []).filter((c) => !isV6(c.Subnet!));
    if (v4.length > 1) throw notImplemented('only one IPv4 subnet per network is supported');
    const v6 = (ipam.Config ?? []).filter((c) => isV6(c.Subnet!));
    if (v6.length > 1) throw notImplemented('only one IPv6 subnet per network is supported');
    if (v6.length && !body.EnableIPv6) throw invalidArgument(`IPv6 subnet ${v6[0]!.Subnet} given but IPv6 is not enabled on the network: add --ipv6`);
    if (v6[0]?.IPRange) throw notImplemented('an IPv6 ip-range is not supported');
    const c = v4[0] ?? {};
    const r = await svc().create({
      name: (body.Name as string | undefined) ?? '',
      ...(body.Driver ? { driver: body.Driver as string } : {}),
      ...(c.Subnet ? { subnet: c.Subnet } : {}),
      ...(c.Gateway ? { gateway: c.Gateway } : {}),
      ...(c.IPRange ? { ipRange: c.IPRange } : {}),
      ...(body.EnableIPv6 ? { ipv6: { ...(v6[0]?.Subnet ? { subnet: v6[0].Subnet } : {}), ...(v6[0]?.Gateway ? { gateway: v6[0].Gateway } : {}) } } : {}),
      internal: !!body.Internal,
      attachable: !!body.Attachable,
      labels: (body.Labels as Record<string, string> | undefined) ?? {},
      options: (body.Options as Record<string, string> | undefined) ?? {},
    });
    sendJSON(ctx, 201, { Id: r.id, Warning: r.warning });
  });

  router.add('POST', '/networks/prune', async (ctx) => {
    const removed = await svc().prune(qfilters(ctx.query));
    sendJSON(ctx, 200, { NetworksDeleted: removed.length ? removed : null });
  });

  router.add('GET', '/networks/{id}', (ctx) => {
    sendJSON(ctx, 200, networkInspect(engine, svc().get(ctx.params[0]!), qbool(ctx.query, 'verbose')));
  });

  router.add('DELETE', '/networks/{id}', async (ctx) => {
    await svc().remove(ctx.params[0]!);
    sendEmpty(ctx, 204);
  });

  router.add('POST', '/networks/{id}/connect', async (ctx) => {
    const body = asObject(await readJSONBody(ctx, 'connect config', CONNECT), 'connect config');
    checkFields('connect config', body, CONNECT);
    const ep = (body.EndpointConfig ?? {}) as { Aliases?: string[]; IPAMConfig?: { IPv4Address?: string }; MacAddress?: string };
    await svc().connect(ctx.params[0]!, (body.Container as string | undefined) ?? '', {
      aliases: ep.Aliases ?? null,
      ...(ep.IPAMConfig?.IPv4Address ? { ipv4Address: ep.IPAMConfig.IPv4Address } : {}),
      ...(ep.MacAddress ? { macAddress: ep.MacAddress } : {}),
    });
    sendEmpty(ctx, 200);
  });

  router.add('POST', '/networks/{id}/disconnect', async (ctx) => {
    const body = asObject(await readJSONBody(ctx, 'disconnect config', DISCONNECT), 'disconnect config');
    checkFields('disconnect config', body, DISCONNECT);
    await svc().disconnect(ctx.params[0]!, (body.Container as string | undefined) ?? '', !!body.Force);
    sendEmpty(ctx, 200);
  });
}
