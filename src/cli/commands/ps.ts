import { Command } from 'commander';
import { CliContext, ExitError } from '../context';
import { newCommand, intFlag } from '../command';
import { collect, parseFilters } from '../container-options';
import { CONTAINER_HEADERS, PS_TABLE, PS_TABLE_SIZE, containerFields } from '../format/rows';
import { renderRows } from '../format/list';

interface PsFlags {
  all?: boolean;
  quiet?: boolean;
  filter?: string[];
  trunc: boolean;
  last?: string;
  latest?: boolean;
  size?: boolean;
  format?: string;
}

export function psCommand(ctx: CliContext, name = 'ps'): Command {
  return newCommand(name, 'List containers')
    .option('-a, --all', 'Show all containers (default shows just running)')
    .option('-f, --filter <filter>', 'Filter output based on conditions provided', collect, [])
    .option('--format <string>', "Format output using a custom template: 'table', 'table TEMPLATE', 'json', or a Go template")
    .option('-n, --last <int>', 'Show n last created containers (includes all states)')
    .option('-l, --latest', 'Show the latest created container (includes all states)')
    .option('--no-trunc', "Don't truncate output")
    .option('-q, --quiet', 'Only display container IDs')
    .option('-s, --size', 'Display total file sizes')
    .action(async (f: PsFlags) => {
      let filters: Record<string, string[]>;
      try {
        filters = parseFilters(f.filter ?? []);
      } catch (e) {
        throw new ExitError(1, (e as Error).message);
      }
      const last = intFlag(f.last, '--last');
      const limit = f.latest ? 1 : last !== undefined && last > 0 ? last : undefined;
      const wantsSize = !!f.size || (f.format ?? '').includes('.Size');
      const list = await ctx.client.containerList({ all: !!f.all || limit !== undefined, limit, size: wantsSize, filters });
      const trunc = f.trunc !== false;
      const rows = list.map((c) => containerFields(c, { trunc }));
      let format = f.format;
      if (!format || format === 'table') format = f.quiet ? '{{.ID}}' : f.size ? PS_TABLE_SIZE : PS_TABLE;
      else if (f.quiet) format = '{{.ID}}';
      ctx.out(renderRows(rows, format, CONTAINER_HEADERS));
    });
}
