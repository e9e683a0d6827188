import { Command } from 'commander';
import { API_VERSION, VersionResponse } from '../../wire';
import { CliContext, ExitError } from '../context';
import { newCommand, daemonErrorText, parseOwnTemplate, runOwnTemplate } from '../command';
import { renderTable } from '../format/table';

export const CLIENT_VERSION = '0.1.0';

function clientInfo() {
  return {
    Version: CLIENT_VERSION,
    ApiVersion: API_VERSION,
    DefaultAPIVersion: API_VERSION,
    GoVersion: `node ${process.version}`,
    GitCommit: 'unknown',
    BuildTime: '',
    Os: process.platform,
    Arch: process.arch === 'x64' ? 'amd64' : process.arch,
    Context: 'default',
  };
}

/** The `Client:`/`Server:` blocks docker prints, values aligned at column 20. */
export function renderVersion(client: ReturnType<typeof clientInfo>, server: VersionResponse | undefined): string {
  const kv = (rows: [string, string][]) => renderTable(rows.map(([k, v]) => [k, v]), { minWidth: 20, padding: 1 });
  let out = 'Client:\n';
  out += kv([
    [' Version:', client.Version],
    [' API version:', client.ApiVersion],
    [' Node version:', process.version],
    [' Git commit:', client.GitCommit],
    [' OS/Arch:', `${client.Os}/${client.Arch}`],
    [' Context:', client.Context],
  ]);
  if (!server) return out;
  out += `\nServer:${server.Platform?.Name ? ` ${server.Platform.Name}` : ''}\n`;
  const components = server.Components?.length ? server.Components : [{ Name: 'Engine', Version: server.Version, Details: {} as Record<string, string> }];
  for (const c of components) {
    out += ` ${c.Name}:\n`;
    if (c.Name === 'Engine') {
      const d = (c.Details ?? {}) as Record<string, string>;
      out += kv([
        ['  Version:', c.Version ?? server.Version],
        ['  API version:', `${d['ApiVersion'] ?? server.ApiVersion} (minimum version ${d['MinAPIVersion'] ?? server.MinAPIVersion})`],
        ['  Go version:', d['GoVersion'] ?? server.GoVersion ?? ''],
        ['  Git commit:', d['GitCommit'] ?? server.GitCommit ?? ''],
        ['  Built:', d['BuildTime'] ?? server.BuildTime ?? ''],
        ['  OS/Arch:', `${d['Os'] ?? server.Os}/${d['Arch'] ?? server.Arch}`],
        ['  Experimental:', d['Experimental'] ?? 'false'],
      ]);
    } else {
      const rows: [string, string][] = [['  Version:', c.Version]];
      for (const [k, v] of Object.entries(c.Details ?? {})) rows.push([`  ${k}:`, String(v)]);
      out += kv(rows);
    }
  }
  return out;
}

/**
 * docker's templates name fields as its Go structs do (`.Server.APIVersion`) while `json`
 * prints the wire names (`ApiVersion`): the Go name is added as a hidden property.
 */
function withGoNames<T extends { ApiVersion?: string }>(v: T): T {
  const o = { ...v };
  Object.defineProperty(o, 'APIVersion', { value: v.ApiVersion, enumerable: false });
  return o;
}

export function versionCommand(ctx: CliContext, name = 'version'): Command {
  return newCommand(name, 'Show the Berth version information')
    .option('-f, --format <string>', 'Format output using a custom template')
    .action(async (opts: { format?: string }) => {
      const tmpl = opts.format ? parseOwnTemplate(opts.format, { name: 'version', struct: 'system.versionInfo' }) : undefined;
      const client = clientInfo();
      let server: VersionResponse | undefined;
      let error: unknown;
      try {
        server = await ctx.client.version();
      } catch (e) {
        error = e;
      }
      if (tmpl) {
        runOwnTemplate(ctx, tmpl, { Client: withGoNames(client), Server: server ? withGoNames(server) : null });
      } else {
        ctx.out(renderVersion(client, server));
      }
      if (error) throw new ExitError(1, daemonErrorText(error));
    });
}
