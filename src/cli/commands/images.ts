import { Command } from 'commander';
import { CliContext, ExitError } from '../context';
import { newCommand } from '../command';
import { collect, parseFilters } from '../container-options';
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
  return newCommand(name, 'List images')
    .argument('[repository]', 'REPOSITORY[:TAG]')
    .option('-a, --all', 'Show all images (default hides intermediate images)')
    .option('--digests', 'Show digests')
    .option('-f, --filter <filter>', 'Filter output based on conditions provided', collect, [])
    .option('--format <string>', "Format output using a custom template: 'table', 'table TEMPLATE', 'json', or a Go template")
    .option('--no-trunc', "Don't truncate output")
    .option('-q, --quiet', 'Only show image IDs')
    .action(async (repository: string | undefined, f: ImagesFlags) => {
      let filters: Record<string, string[]>;
      try {
        filters = parseFilters(f.filter ?? []);
      } catch (e) {
        throw new ExitError(1, (e as Error).message);
      }
      if (repository) (filters['reference'] ??= []).push(repository);
      const list = await ctx.client.imageList({ all: !!f.all, filters });
      const trunc = f.trunc !== false;
      const rows = list.flatMap((img) => imageFields(img, { trunc, digests: !!f.digests || (f.format ?? '').includes('.Digest') }));
      let format = f.format;
      if (!format || format === 'table') format = f.quiet ? '{{.ID}}' : f.digests ? IMAGES_TABLE_DIGESTS : IMAGES_TABLE;
      else if (f.quiet) format = '{{.ID}}';
      ctx.out(renderRows(rows, format, IMAGE_HEADERS, '*formatter.imageContext'));
    });
}
