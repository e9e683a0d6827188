import { Command } from 'commander';
import { CliContext, ExitError } from '../context';
import { newCommand, intFlag } from '../command';
import { collect } from '../container-options';
import { configFormat } from '../docker-config';
import { filterFlags } from '../prune';
import { CONTAINER_HEADERS, PS_TABLE, PS_TABLE_SIZE, containerFields, withLabelMethod } from '../format/rows';
import { renderRows } from '../format/list';
import { compileTemplate, TemplateError } from '../format/template';

/** The docker CLI's Go type for a ps row, which template errors name. */
const PS_CONTEXT = '*formatter.ContainerContext';

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
    .action(async (f: PsFlags, cmd: Command) => {
      const filters = filterFlags(f.filter, cmd, '-f, --filter');
      const last = intFlag(f.last, '--last');
      const limit = f.latest ? 1 : last !== undefined && last > 0 ? last : undefined;
      // As the docker CLI: the config file's psFormat when no --format is given; a format is
      // always run once over an empty row first (its errors are the command's), and one that
      // reads .Size asks for sizes.
      let wantsSize = !!f.size;
      if (f.format && f.quiet) ctx.err('WARNING: Ignoring custom format, because both --format and --quiet are set.\n');
      else if (!f.format) f.format = configFormat(ctx.io.env, 'psFormat');
      if (f.format) {
        const used = probeFields(f.format, Object.keys(CONTAINER_HEADERS));
        if (!f.quiet && used.has('Size')) wantsSize = true;
      }
      const list = await ctx.client.containerList({ all: !!f.all || limit !== undefined, limit, size: wantsSize, filters });
      const trunc = f.trunc !== false;
      const rows = list.map((c) => containerFields(c, { trunc }));
      let format = f.format;
      if (!format || format === 'table') format = f.quiet ? '{{.ID}}' : f.size ? PS_TABLE_SIZE : PS_TABLE;
      else if (f.quiet) format = '{{.ID}}';
      ctx.out(renderRows(rows, format, CONTAINER_HEADERS, PS_CONTEXT));
    });
}

/** The fields a ps format reads, found by running it over an empty row; its errors as the docker CLI words them. */
function probeFields(format: string, fields: string[]): Set<string> {
  const used = new Set<string>();
  const row = withLabelMethod(Object.fromEntries(fields.map((k) => [k, ''])), {});
  const probe = new Proxy(row, {
    get(target, key) {
      if (typeof key === 'string' && key in target) used.add(key);
      return Reflect.get(target, key);
    },
  });
  let tmpl;
  try {
    tmpl = compileTemplate(format, { struct: PS_CONTEXT, row: true });
  } catch (err) {
    throw err instanceof TemplateError ? new ExitError(1, `failed to parse template: ${err.message}`) : err;
  }
  try {
    tmpl.execute(probe);
  } catch (err) {
    throw err instanceof TemplateError ? new ExitError(1, `failed to execute template: ${err.message}`) : err;
  }
  return used;
}
