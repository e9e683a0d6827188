import { Command } from 'commander';
import { encodeFilters } from '../../client';
import { splitSearchTerm } from '../../common';
import { CliContext } from '../context';
import { intFlag, newCommand, requireExactArgs } from '../command';
import { collect } from '../container-options';
import { filterFlags } from '../prune';
import { DockerConfig, encodeAuthHeader, INDEX_SERVER } from '../docker-config';
import { JSON_FORM } from '../format/go-json';
import { renderRows } from '../format/list';
import { ellipsis } from '../format/table';

interface Result {
  name: string;
  description: string;
  star_count: number;
  is_official: boolean;
}

const HEADERS: Record<string, string> = { Name: 'NAME', Description: 'DESCRIPTION', StarCount: 'STARS', IsOfficial: 'OFFICIAL' };
const DEFAULT_TABLE = 'table {{.Name}}\t{{.Description}}\t{{.StarCount}}\t{{.IsOfficial}}';

/** `berth search TERM`: the index's results in docker's columns (a description cut at 45 characters). */
export function searchCommand(ctx: CliContext, name = 'search'): Command {
  const cmd: Command = newCommand(name, 'Search Docker Hub or a v1 index for images')
    .argument('[term]', 'TERM')
    .option('-f, --filter <filter>', 'Filter output based on conditions provided', collect, [])
    .option('--format <string>', 'Pretty-print search using a Go template')
    .option('--limit <int>', 'Max number of search results')
    .option('--no-trunc', "Don't truncate output")
    .action(async (_term: string | undefined, f: { filter?: string[]; format?: string; limit?: string; trunc: boolean }) => {
      requireExactArgs(cmd, cmd.args, 1);
      const term = cmd.args[0]!;
      const limit = intFlag(f.limit, '--limit', cmd);
      const filters = filterFlags(f.filter, cmd, '-f, --filter');
      const index = splitSearchTerm(term).index;
      const auth = encodeAuthHeader(new DockerConfig(ctx.io.env, (t) => ctx.err(t)).get(index ?? INDEX_SERVER));
      const results = await ctx.client.transport.json<Result[]>('GET', '/images/search', {
        query: { term, limit: limit || undefined, filters: encodeFilters(filters) },
        headers: { 'X-Registry-Auth': auth },
      });
      const trunc = f.trunc !== false;
      const rows = results.map((r) => {
        const description = r.description.replace(/[\r\n]/g, ' ');
        const shown = { Name: r.name, Description: trunc ? ellipsis(description, 45) : description, StarCount: String(r.star_count) };
        // As the docker CLI: IsOfficial reads `[OK]` or nothing, and `true`/`false` in JSON.
        const row = { ...shown, IsOfficial: r.is_official ? '[OK]' : '' };
        return Object.defineProperty(row, JSON_FORM, { value: { ...shown, IsOfficial: String(r.is_official) }, enumerable: false });
      });
      ctx.out(renderRows(rows, !f.format || f.format === 'table' ? DEFAULT_TABLE : f.format, HEADERS, '*registry.searchContext'));
    });
  return cmd;
}
