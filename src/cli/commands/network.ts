import { BlockList, isIP } from 'node:net';
import { Command } from 'commander';
import { ClientError, encodeFilters } from '../../client';
import { CliContext, ExitError } from '../context';
import { forEachArg, newCommand, requireArgs, requireExactArgs, requireMaxArgs } from '../command';
import { collect, keyValues } from '../container-options';
import { renderRows } from '../format/list';
import { goTime, labelsText, withLabelMethod } from '../format/rows';
import { confirm, filterFlags, pruneNetworks } from '../prune';
import { configFormat } from '../docker-config';
import { inspectEach } from './inspect';

/** Docker's Network object as the API sends it (the fields the CLI shows). */
interface Network {
  Name: string;
  Id: string;
  Created: string;
  Scope: string;
  Driver: string;
  EnableIPv4?: boolean;
  EnableIPv6: boolean;
  Internal: boolean;
  Labels: Record<string, string> | null;
}

const NETWORK_HEADERS: Record<string, string> = {
  ID: 'NETWORK ID', Name: 'NAME', Driver: 'DRIVER', Scope: 'SCOPE', IPv4: 'IPV4', IPv6: 'IPV6', Internal: 'INTERNAL', Labels: 'LABELS', CreatedAt: 'CREATED AT',
};
const NETWORKS_TABLE = 'table {{.ID}}\t{{.Name}}\t{{.Driver}}\t{{.Scope}}';
const enc = encodeURIComponent;

function networkFields(n: Network, noTrunc: boolean): Record<string, string> {
  return withLabelMethod({
    ID: noTrunc ? n.Id : n.Id.slice(0, 12),
    Name: n.Name,
    Driver: n.Driver,
    Scope: n.Scope,
    IPv4: String(n.EnableIPv4 ?? false),
    IPv6: String(n.EnableIPv6),
    Internal: String(n.Internal),
    Labels: labelsText(n.Labels),
    CreatedAt: goTime(new Date(n.Created), /\.(\d+)/.exec(n.Created)?.[1]),
  }, n.Labels);
}

function createCommand(ctx: CliContext): Command {
  const cmd: Command = newCommand('create', 'Create a network')
    .argument('[name...]', 'NETWORK')
    .option('-d, --driver <string>', 'Driver to manage the Network', 'bridge')
    .option('--subnet <strings>', 'Subnet in CIDR format that represents a network segment', collect, [])
    .option('--gateway <strings>', 'IPv4 or IPv6 Gateway for the master subnet', collect, [])
    .option('--ip-range <strings>', 'Allocate container ip from a sub-range', collect, [])
    .option('--internal', 'Restrict external access to the network')
    .option('--attachable', 'Enable manual container attachment')
    .option('--ipv6', 'Enable or disable IPv6 networking')
    .option('--label <list>', 'Set metadata on a network', collect, [])
    .option('-o, --opt <map>', 'Set driver specific options', collect, [])
    .action(async (names: string[], f: { driver: string; subnet: string[]; gateway: string[]; ipRange: string[]; internal?: boolean; attachable?: boolean; ipv6?: boolean; label: string[]; opt: string[] }) => {
      requireExactArgs(cmd, names, 1);
      const config = ipamConfig(f.subnet, f.ipRange, f.gateway);
      const body = {
        Name: names[0],
        Driver: f.driver,
        IPAM: { Driver: 'default', Config: config, Options: {} },
        Internal: !!f.internal,
        Attachable: !!f.attachable,
        ...(f.ipv6 ? { EnableIPv6: true } : {}),
        Options: keyValues(f.opt),
        Labels: keyValues(f.label),
      };
      const r = await ctx.client.transport.json<{ Id: string; Warning?: string }>('POST', '/networks/create', { body });
      if (r.Warning) ctx.err(`${r.Warning}\n`);
      ctx.out(`${r.Id}\n`);
    });
  return cmd;
}

/**
 * The IPAM entries of `network create`, checked as the docker CLI checks them before asking
 * the daemon: each ip-range and gateway goes to the subnet that contains it, subnets may not
 * overlap, and the refusals read as docker's (exit 1).
 */
export function ipamConfig(subnets: string[], ranges: string[], gateways: string[]): { Subnet: string; IPRange?: string; Gateway?: string }[] {
  const fail = (msg: string): never => {
    throw new ExitError(1, msg);
  };
  if (subnets.length < ranges.length || subnets.length < gateways.length) fail('every ip-range or gateway must have a corresponding subnet');
  const config = new Map<string, { Subnet: string; IPRange?: string; Gateway?: string }>();
  for (const s of subnets) {
    for (const k of config.keys()) if (cidrContains(s, k) || cidrContains(k, s)) fail('multiple overlapping subnet configuration is not supported');
    config.set(s, { Subnet: s });
  }
  const place = (value: string, key: 'IPRange' | 'Gateway', what: string, plural: string) => {
    let found = false;
    for (const s of subnets) {
      if (!cidrContains(s, value)) continue;
      const c = config.get(s)!;
      if (c[key]) fail(`cannot configure multiple ${plural} (${value}, ${c[key]}) ${key === 'IPRange' ? 'on' : 'for'} the same subnet (${s})`);
      c[key] = value;
      found = true;
    }
    if (!found) fail(`no matching subnet for ${what} ${value}`);
  };
  for (const r of ranges) {
    parseCidr(r, (m) => fail(m));
    place(r, 'IPRange', 'range', 'ranges');
  }
  for (const g of gateways) place(g, 'Gateway', 'gateway', 'gateways');
  return [...config.values()];
}

/** A CIDR as Go's net.ParseCIDR reads it, or `onError` with its words. */
function parseCidr(cidr: string, onError: (msg: string) => never): { ip: string; prefix: number; family: 'ipv4' | 'ipv6' } {
  const [ip = '', bits, extra] = cidr.split('/');
  const v = isIP(ip);
  const prefix = Number(bits);
  if (!v || extra !== undefined || !/^\d+$/.test(bits ?? '') || prefix > (v === 4 ? 32 : 128)) onError(`invalid CIDR address: ${cidr}`);
  return { ip, prefix, family: v === 4 ? 'ipv4' : 'ipv6' };
}

/** Whether `subnet` contains the address (or a CIDR's address) `data`, as the docker CLI's subnetMatches. */
function cidrContains(subnet: string, data: string): boolean {
  const s = parseCidr(subnet, (m) => {
    throw new ExitError(1, `invalid subnet: ${m}`);
  });
  const ip = data.includes('/')
    ? parseCidr(data, (m) => {
        throw new ExitError(1, m);
      }).ip
    : data;
  const family = isIP(ip) === 4 ? 'ipv4' : isIP(ip) === 6 ? 'ipv6' : undefined;
  if (!family || family !== s.family) return false;
  const list = new BlockList();
  list.addSubnet(s.ip, s.prefix, s.family);
  return list.check(ip, family);
}

function lsCommand(ctx: CliContext): Command {
  return newCommand('ls', 'List networks')
    .alias('list')
    .option('-f, --filter <filter>', "Provide filter values (e.g. 'driver=bridge')", collect, [])
    .option('--format <string>', "Format output using a custom template: 'table', 'table TEMPLATE', 'json', or a Go template")
    .option('--no-trunc', 'Do not truncate the output')
    .option('-q, --quiet', 'Only display network IDs')
    .action(async (f: { filter: string[]; format?: string; trunc?: boolean; quiet?: boolean }, cmd: Command) => {
      const list = await ctx.client.transport.json<Network[]>('GET', '/networks', { query: { filters: encodeFilters(filterFlags(f.filter, cmd, '-f, --filter')) } });
      const rows = list.slice().sort((a, b) => (a.Name < b.Name ? -1 : a.Name > b.Name ? 1 : 0)).map((n) => networkFields(n, f.trunc === false));
      let format = f.format ?? configFormat(ctx.io.env, 'networksFormat');
      if (f.quiet) format = '{{.ID}}';
      else if (!format || format === 'table') format = NETWORKS_TABLE;
      ctx.out(renderRows(rows, format, NETWORK_HEADERS, '*network.networkContext'));
    });
}

function inspectCommand(ctx: CliContext): Command {
  const cmd: Command = newCommand('inspect', 'Display detailed information on one or more networks')
    .argument('[networks...]', 'NETWORK')
    .option('-f, --format <string>', 'Format output using a custom template')
    .option('-v, --verbose', 'Verbose output for diagnostics')
    .action(async (names: string[], f: { format?: string }) => {
      requireArgs(cmd, names, 1);
      await inspectEach(ctx, names, (n) => `/networks/${enc(n)}`, f.format);
    });
  return cmd;
}

function rmCommand(ctx: CliContext): Command {
  const cmd: Command = newCommand('rm', 'Remove one or more networks')
    .alias('remove')
    .argument('[networks...]', 'NETWORK')
    .option('-f, --force', 'Do not error if the network does not exist')
    .action(async (names: string[], f: { force?: boolean }) => {
      requireArgs(cmd, names, 1);
      await forEachArg(names, async (n) => {
        try {
          await ctx.client.transport.call('DELETE', `/networks/${enc(n)}`);
        } catch (e) {
          if (f.force && e instanceof ClientError && e.status === 404) return;
          throw e;
        }
        ctx.out(`${n}\n`);
      }).catch((e: unknown) => {
        // The docker CLI ends this command's failures with its status as a line of its own.
        if (e instanceof ExitError) throw new ExitError(e.code, `${e.message}\nexit status ${e.code}`);
        throw e;
      });
    });
  return cmd;
}

function pruneCommand(ctx: CliContext): Command {
  const cmd: Command = newCommand('prune', 'Remove all unused networks')
    .option('--filter <filter>', "Provide filter values (e.g. 'until=<timestamp>')", collect, [])
    .option('-f, --force', 'Do not prompt for confirmation')
    .action(async (f: { filter: string[]; force?: boolean }) => {
      const filters = filterFlags(f.filter, cmd);
      if (!f.force && !(await confirm(ctx, 'WARNING! This will remove all custom networks not used by at least one container.\nAre you sure you want to continue?'))) return;
      const r = await pruneNetworks(ctx, filters);
      // docker prints the block with a line of its own after it.
      if (r.output) ctx.out(`${r.output}\n`);
    });
  return cmd;
}

function connectCommand(ctx: CliContext): Command {
  const cmd: Command = newCommand('connect', 'Connect a container to a network')
    .argument('[args...]', 'NETWORK CONTAINER')
    .option('--alias <strings>', 'Add network-scoped alias for the container', collect, [])
    .option('--ip <string>', 'IPv4 address (e.g., "172.30.100.104")')
    .option('--link <list>', 'Add link to another container', collect, [])
    .action(async (args: string[], f: { alias: string[]; ip?: string; link: string[] }) => {
      requireExactArgs(cmd, args, 2);
      const body = {
        Container: args[1],
        EndpointConfig: { Aliases: f.alias.length ? f.alias : null, Links: f.link.length ? f.link : null, ...(f.ip ? { IPAMConfig: { IPv4Address: f.ip } } : {}) },
      };
      await ctx.client.transport.call('POST', `/networks/${enc(args[0]!)}/connect`, { body });
    });
  return cmd;
}

function disconnectCommand(ctx: CliContext): Command {
  const cmd: Command = newCommand('disconnect', 'Disconnect a container from a network')
    .argument('[args...]', 'NETWORK CONTAINER')
    .option('-f, --force', 'Force the container to disconnect from a network')
    .action(async (args: string[], f: { force?: boolean }) => {
      requireExactArgs(cmd, args, 2);
      await ctx.client.transport.call('POST', `/networks/${enc(args[0]!)}/disconnect`, { body: { Container: args[1], Force: !!f.force } });
    });
  return cmd;
}

/** `berth network …`: create, connect, disconnect, inspect, ls, prune, rm, as docker's. */
export function networkCommand(ctx: CliContext): Command {
  const group = new Command('network')
    .description('Manage networks')
    .helpOption('--help', 'Print usage')
    .enablePositionalOptions()
    .exitOverride()
    .configureOutput({ outputError: () => undefined });
  for (const make of [connectCommand, createCommand, disconnectCommand, inspectCommand, lsCommand, pruneCommand, rmCommand]) group.addCommand(make(ctx));
  return group;
}

/** `berth port CONTAINER [PRIVATE_PORT[/PROTO]]`: the published ports, as docker port prints them. */
export function portCommand(ctx: CliContext): Command {
  const cmd: Command = newCommand('port', 'List port mappings or a specific mapping for the container')
    .argument('[args...]', 'CONTAINER [PRIVATE_PORT[/PROTO]]')
    .action(async (args: string[]) => {
      requireArgs(cmd, args, 1);
      requireMaxArgs(cmd, args, 2);
      const c = await ctx.client.transport.json<{ NetworkSettings: { Ports: Record<string, { HostIp: string; HostPort: string }[] | null> | null } }>('GET', `/containers/${enc(args[0]!)}/json`);
      const ports = c.NetworkSettings.Ports ?? {};
      const show = (b: { HostIp: string; HostPort: string }) => `${b.HostIp.includes(':') ? `[${b.HostIp}]` : b.HostIp}:${b.HostPort}`;
      // docker port sorts its lines in natural order (digit runs by value).
      const print = (lines: string[]) => ctx.out(lines.sort(naturalCompare).map((l) => `${l}\n`).join(''));
      if (args[1]) {
        const [p = '', proto = 'tcp'] = args[1].split('/');
        // Go's strconv.ParseUint(port, 10, 16) words, as docker port gives them.
        if (!/^\d+$/.test(p)) throw new ExitError(1, `Error: invalid port (${p}): strconv.ParseUint: parsing ${JSON.stringify(p)}: invalid syntax`);
        if (Number(p) > 65535) throw new ExitError(1, `Error: invalid port (${p}): strconv.ParseUint: parsing ${JSON.stringify(p)}: value out of range`);
        const binds = ports[`${p}/${proto}`];
        if (!binds?.length) throw new ExitError(1, `Error: No public port '${args[1]}' published for ${args[0]}`);
        print(binds.map(show));
        return;
      }
      print(Object.entries(ports).flatMap(([k, binds]) => (binds ?? []).map((b) => `${k} -> ${show(b)}`)));
    });
  return cmd;
}

/** Natural order, as Go's sortorder.NaturalLess: runs of digits compare by value, other characters by code. */
export function naturalCompare(a: string, b: string): number {
  const chunks = (s: string) => s.match(/\d+|\D+/g) ?? [];
  const x = chunks(a);
  const y = chunks(b);
  for (let i = 0; i < Math.min(x.length, y.length); i++) {
    const p = x[i]!;
    const q = y[i]!;
    if (p === q) continue;
    const pd = /^\d/.test(p);
    const qd = /^\d/.test(q);
    if (pd && qd) {
      const d = Number(p) - Number(q);
      if (d !== 0) return d;
      return p.length - q.length;
    }
    return p < q ? -1 : 1;
  }
  return x.length - y.length;
}
