import { Command } from 'commander';
import { copyRawStream, demuxStream } from '../../client';
import { CliContext, ExitError } from '../context';
import { newCommand, requireExactArgs } from '../command';
import { parseTimestamp } from '../format/units';

interface LogsFlags {
  follow?: boolean;
  tail?: string;
  timestamps?: boolean;
  since?: string;
  until?: string;
  details?: boolean;
}

export function logsCommand(ctx: CliContext, name = 'logs'): Command {
  const cmd: Command = newCommand(name, 'Fetch the logs of a container')
    .argument('[container...]', 'CONTAINER')
    .option('--details', 'Show extra details provided to logs')
    .option('-f, --follow', 'Follow log output')
    .option('--since <string>', 'Show logs since timestamp (e.g. "2013-01-02T13:23:37Z") or relative (e.g. "42m" for 42 minutes)')
    .option('-n, --tail <string>', 'Number of lines to show from the end of the logs', 'all')
    .option('-t, --timestamps', 'Show timestamps')
    .option('--until <string>', 'Show logs before a timestamp (e.g. "2013-01-02T13:23:37Z") or relative (e.g. "42m" for 42 minutes)')
    .action(async (args: string[], f: LogsFlags) => {
      requireExactArgs(cmd, args, 1);
      const id = args[0]!;
      let since: string | undefined;
      let until: string | undefined;
      const time = (name: string, v: string | undefined) => {
        try {
          return v ? parseTimestamp(v) : undefined;
        } catch (e) {
          throw new ExitError(1, `invalid value for ${JSON.stringify(name)}: ${(e as Error).message}`);
        }
      };
      since = time('since', f.since);
      until = time('until', f.until);
      const c = await ctx.client.containerInspect(id);
      const res = await ctx.client.containerLogs(id, {
        follow: f.follow,
        tail: f.tail ?? 'all',
        timestamps: f.timestamps,
        since,
        until,
        details: f.details,
      });
      if (c.Config?.Tty) await copyRawStream(res, ctx.io.stdout);
      else await demuxStream(res, { stdout: ctx.io.stdout, stderr: ctx.io.stderr });
    });
  return cmd;
}
