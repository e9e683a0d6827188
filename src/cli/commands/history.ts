import { Command } from 'commander';
import type { ImageHistoryItem } from '../../wire';
import { CliContext } from '../context';
import { newCommand, requireExactArgs } from '../command';
import { renderRows } from '../format/list';
import { shortenId, goTime } from '../format/rows';
import { ellipsis } from '../format/table';
import { humanSize, timeAgo } from '../format/units';

const HEADERS: Record<string, string> = {
  ID: 'IMAGE',
  CreatedSince: 'CREATED',
  CreatedAt: 'CREATED AT',
  CreatedBy: 'CREATED BY',
  Size: 'SIZE',
  Comment: 'COMMENT',
};

const DEFAULT_TABLE = 'table {{.ID}}\t{{.CreatedSince}}\t{{.CreatedBy}}\t{{.Size}}\t{{.Comment}}';

/** `berth history IMAGE`: docker's columns, truncation and human sizes. */
export function historyCommand(ctx: CliContext, name = 'history'): Command {
  const cmd: Command = newCommand(name, 'Show the history of an image')
    .argument('[image...]', 'IMAGE')
    .option('--format <string>', "Format output using a custom template: 'table', 'table TEMPLATE', 'json', or a Go template")
    .option('-H, --human', 'Print sizes and dates in human readable format', true)
    .option('--no-human', 'Print sizes and dates as numbers and RFC 3339 times')
    .option('--no-trunc', "Don't truncate output")
    .option('-q, --quiet', 'Only show image IDs')
    .action(async (args: string[], f: { format?: string; human: boolean; trunc: boolean; quiet?: boolean }) => {
      requireExactArgs(cmd, args, 1);
      const image = args[0]!;
      const items = await ctx.client.transport.json<ImageHistoryItem[]>('GET', `/images/${image.split('/').map(encodeURIComponent).join('/')}/history`);
      const trunc = f.trunc !== false;
      const human = f.human !== false;
      const rows = items.map((h) => {
        const createdBy = h.CreatedBy.replace(/\t/g, ' ');
        return {
          ID: h.Id === '<missing>' ? h.Id : trunc ? shortenId(h.Id) : h.Id,
          CreatedSince: human ? timeAgo(h.Created) : new Date(h.Created * 1000).toISOString().replace(/\.\d{3}Z$/, 'Z'),
          CreatedAt: human ? goTime(new Date(h.Created * 1000)) : new Date(h.Created * 1000).toISOString().replace(/\.\d{3}Z$/, 'Z'),
          CreatedBy: trunc ? ellipsis(createdBy, 45) : createdBy,
          Size: human ? humanSize(h.Size, 3) : String(h.Size),
          Comment: h.Comment,
        };
      });
      let format = f.format;
      if (f.quiet) format = '{{.ID}}';
      else if (!format || format === 'table') format = DEFAULT_TABLE;
      ctx.out(renderRows(rows, format, HEADERS, '*image.historyContext'));
    });
  return cmd;
}
