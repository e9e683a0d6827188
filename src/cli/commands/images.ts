import { Command } from 'commander';
import { CliContext } from '../context';
import { newCommand, requireMaxArgs } from '../command';
import { collect } from '../container-options';
import { configFormat } from '../docker-config';
import { filterFlags } from '../prune';
import { IMAGE_HEADERS, IMAGES_TABLE, IMAGES_TABLE_DIGESTS, imageFields } from '../format/rows';
import { renderRows } from '../format/list';

interface ImagesFlags {
  all?: boolean;
  quiet?: boolean;
  filter?: string[];
  trunc: boolean;
  digests?: boolean;
  format?: string;
}

export function imagesCommand(ctx: CliContext, name = 'images'): Command {
  const cmd: Command = newCommand(name, 'List images')
    .argument('[repository]', '[REPOSITORY[:TAG]]')
    .option('-a, --all', 'Show all images (default hides intermediate images)')
    .option('--digests', 'Show digests')
    .option('-f, --filter <filter>', 'Filter output based on conditions provided', collect, [])
    .option('--format <string>', "Format output using a custom template: 'table', 'table TEMPLATE', 'json', or a Go template")
    .option('--no-trunc', "Don't truncate output")
    .option('-q, --quiet', 'Only show image IDs')
    .action(async (repository: string | undefined, f: ImagesFlags) => {
      requireMaxArgs(cmd, cmd.args, 1);
      const filters = filterFlags(f.filter, cmd, '-f, --filter');
      if (repository) (filters['reference'] ??= []).push(repository);
      const list = await ctx.client.imageList({ all: !!f.all, filters });
      const trunc = f.trunc !== false;
      let format = f.format ?? (f.quiet ? undefined : configFormat(ctx.io.env, 'imagesFormat'));
      const rows = list.flatMap((img) => imageFields(img, { trunc, digests: !!f.digests || (format ?? '').includes('.Digest') }));
      if (!format || format === 'table') format = f.quiet ? '{{.ID}}' : f.digests ? IMAGES_TABLE_DIGESTS : IMAGES_TABLE;
      else if (f.quiet) format = '{{.ID}}';
      ctx.out(renderRows(rows, format, IMAGE_HEADERS, '*formatter.imageContext'));
    });
  return cmd;
}
