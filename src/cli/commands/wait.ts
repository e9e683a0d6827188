import { Command } from 'commander';
import { CliContext } from '../context';
import { newCommand, requireArgs, forEachArg } from '../command';

export function waitCommand(ctx: CliContext, name = 'wait'): Command {
  const cmd: Command = newCommand(name, 'Block until one or more containers stop, then print their exit codes')
    .argument('[containers...]', 'CONTAINER')
    .action(async (containers: string[]) => {
      requireArgs(cmd, containers, 1);
      await forEachArg(containers, async (c) => {
        const w = await ctx.client.containerWait(c, 'not-running');
        const r = await w.result;
        if (r.Error?.Message) throw new Error(r.Error.Message);
        ctx.out(`${r.StatusCode}\n`);
      });
    });
  return cmd;
}
