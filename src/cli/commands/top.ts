import { Command } from 'commander';
import { CliContext } from '../context';
import { newCommand, requireArgs } from '../command';
import { renderTable } from '../format/table';

export function topCommand(ctx: CliContext, name = 'top'): Command {
  const cmd: Command = newCommand(name, 'Display the running processes of a container')
    .usage('[OPTIONS] CONTAINER [ps OPTIONS]')
    .argument('[args...]', 'CONTAINER [ps OPTIONS]')
    .allowUnknownOption()
    .passThroughOptions()
    .action(async (args: string[]) => {
      requireArgs(cmd, args, 1);
      const [container, ...psArgs] = args;
      const top = await ctx.client.transport.json<{ Titles: string[]; Processes: string[][] | null }>('GET', `/containers/${encodeURIComponent(container!)}/top`, {
        query: { ps_args: psArgs.length ? psArgs.join(' ') : undefined },
      });
      // docker's tabwriter for top: minimum width 20, padding 3.
      ctx.out(renderTable([top.Titles, ...(top.Processes ?? [])], { minWidth: 20, padding: 3 }));
    });
  return cmd;
}
