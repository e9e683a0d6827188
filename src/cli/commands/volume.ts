import { Command } from 'commander';
import { encodeFilters } from '../../client';
import { CliContext, ExitError } from '../context';
import { newCommand, requireArgs, requireMaxArgs, forEachArg } from '../command';
import { collect, keyValues } from '../container-options';
import { renderRows } from '../format/list';
import { labelsText, withLabelMethod } from '../format/rows';
import { configFormat } from '../docker-config';
import { inspectEach } from './inspect';
import { confirm, filterFlags, pruneVolumes } from '../prune';
import { humanSize } from '../format/units';

/** Docker's Volume object as the API sends it. */
interface Volume {
  Name: string;
  Driver: string;
  Mountpoint: string;
  Scope: string;
  Labels: Record<string, string> | null;
  Options: Record<string, string> | null;
  CreatedAt?: string;
}

const VOLUME_HEADERS: Record<string, string> = {
  Driver: 'DRIVER', Name: 'VOLUME NAME', Mountpoint: 'MOUNTPOINT', Scope: 'SCOPE', Labels: 'LABELS', Links: 'LINKS', Size: 'SIZE',
};
const VOLUMES_TABLE = 'table {{.Driver}}\t{{.Name}}';

function volumeFields(v: Volume): Record<string, string> {
  return withLabelMethod({
    Availability: 'N/A',
    Driver: v.Driver,
    Group: 'N/A',
    Labels: labelsText(v.Labels),
    Links: 'N/A',
    Mountpoint: v.Mountpoint,
    Name: v.Name,
    Scope: v.Scope,
    Size: 'N/A',
    Status: 'N/A',
  }, v.Labels);
}


const enc = encodeURIComponent;

function createCommand(ctx: CliContext): Command {
  const cmd: Command = newCommand('create', 'Create a volume')
    .argument('[volume...]', '[VOLUME]')
    .option('-d, --driver <string>', 'Specify volume driver name', 'local')
    .option('--label <list>', 'Set metadata for a volume', collect, [])
    .option('-o, --opt <map>', 'Set driver specific options', collect, [])
    .option('--name <string>', 'Specify volume name')
    .action(async (volumes: string[], f: { driver: string; label: string[]; opt: string[]; name?: string }) => {
      requireMaxArgs(cmd, volumes, 1);
      const volume = volumes[0];
      if (volume && f.name && volume !== f.name) throw new ExitError(1, `conflicting options: cannot specify a volume-name through both --name and as a positional arg`);
      const body: Record<string, unknown> = { Driver: f.driver, Name: volume ?? f.name ?? '' };
      if (f.label.length) body.Labels = keyValues(f.label);
      if (f.opt.length) body.DriverOpts = keyValues(f.opt);
      const v = await ctx.client.transport.json<Volume>('POST', '/volumes/create', { body });
      ctx.out(`${v.Name}\n`);
    });
  return cmd;
}

function lsCommand(ctx: CliContext): Command {
  return newCommand('ls', 'List volumes')
    .alias('list')
    .option('-f, --filter <filter>', "Provide filter values (e.g. 'dangling=true')", collect, [])
    .option('--format <string>', "Format output using a custom template: 'table', 'table TEMPLATE', 'json', or a Go template")
    .option('-q, --quiet', 'Only display volume names')
    .action(async (f: { filter: string[]; format?: string; quiet?: boolean }, cmd: Command) => {
      const filters = encodeFilters(filterFlags(f.filter, cmd, '-f, --filter'));
      const r = await ctx.client.transport.json<{ Volumes: Volume[] | null; Warnings: string[] | null }>('GET', '/volumes', { query: { filters } });
      for (const w of r.Warnings ?? []) ctx.err(`${w}\n`);
      const rows = (r.Volumes ?? []).slice().sort((a, b) => (a.Name < b.Name ? -1 : a.Name > b.Name ? 1 : 0)).map(volumeFields);
      let format = f.format ?? configFormat(ctx.io.env, 'volumesFormat');
      if (f.quiet) format = '{{.Name}}';
      else if (!format || format === 'table') format = VOLUMES_TABLE;
      ctx.out(renderRows(rows, format, VOLUME_HEADERS, '*formatter.volumeContext'));
    });
}

function inspectCommand(ctx: CliContext): Command {
  const cmd: Command = newCommand('inspect', 'Display detailed information on one or more volumes')
    .argument('[volumes...]', 'VOLUME')
    .option('-f, --format <string>', 'Format output using a custom template')
    .action(async (names: string[], f: { format?: string }) => {
      requireArgs(cmd, names, 1);
      await inspectEach(ctx, names, (n) => `/volumes/${enc(n)}`, f.format, { struct: 'volume.Volume' });
    });
  return cmd;
}

function rmCommand(ctx: CliContext): Command {
  const cmd: Command = newCommand('rm', 'Remove one or more volumes')
    .alias('remove')
    .argument('[volumes...]', 'VOLUME')
    .option('-f, --force', 'Force the removal of one or more volumes')
    .action(async (names: string[], f: { force?: boolean }) => {
      requireArgs(cmd, names, 1);
      await forEachArg(names, async (n) => {
        await ctx.client.transport.call('DELETE', `/volumes/${enc(n)}`, { query: { force: f.force ? true : undefined } });
        ctx.out(`${n}\n`);
      });
    });
  return cmd;
}

function pruneCommand(ctx: CliContext): Command {
  return newCommand('prune', 'Remove unused local volumes')
    .option('-a, --all', 'Remove all unused volumes, not just anonymous ones')
    .option('--filter <filter>', "Provide filter values (e.g. 'label=<label>')", collect, [])
    .option('-f, --force', 'Do not prompt for confirmation')
    .action(async (f: { all?: boolean; filter: string[]; force?: boolean }, cmd: Command) => {
      const filters = filterFlags(f.filter, cmd);
      if (f.all && filters['all']) throw new ExitError(125, 'conflicting options: cannot specify both --all and --filter all=1');
      if (!f.force) {
        const what = f.all ? 'all local volumes' : 'anonymous local volumes';
        if (!(await confirm(ctx, `WARNING! This will remove ${what} not used by at least one container.\nAre you sure you want to continue?`))) return;
      }
      const r = await pruneVolumes(ctx, filters, f.all);
      ctx.out(`${r.output ? `${r.output}\n` : ''}Total reclaimed space: ${humanSize(r.space)}\n`);
    });
}

/** `berth volume …`: create, ls, inspect, rm, prune, as docker's. */
export function volumeCommand(ctx: CliContext): Command {
  const group = new Command('volume')
    .description('Manage volumes')
    .helpOption('--help', 'Print usage')
    .enablePositionalOptions()
    .exitOverride()
    .configureOutput({ outputError: () => undefined });
  for (const make of [createCommand, inspectCommand, lsCommand, pruneCommand, rmCommand]) group.addCommand(make(ctx));
  return group;
}
