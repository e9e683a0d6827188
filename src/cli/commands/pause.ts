import { Command } from 'commander';
import { CliContext } from '../context';
import { newCommand, requireArgs, forEachArg } from '../command';

const enc = encodeURIComponent;

export function pauseCommand(ctx: CliContext, name = 'pause'): Command {
  const cmd: Command = newCommand(name, 'Pause all processes within one or more containers')
    .argument('[containers...]', 'CONTAINER')
    .action(async (containers: string[]) => {
      requireArgs(cmd, containers, 1);
      await forEachArg(containers, async (c) => {
        await ctx.client.transport.call('POST', `/containers/${enc(c)}/pause`);
        ctx.out(`${c}\n`);
      });
    });
  return cmd;
}

export function unpauseCommand(ctx: CliContext, name = 'unpause'): Command {
  const cmd: Command = newCommand(name, 'Unpause all processes within one or more containers')
    .argument('[containers...]', 'CONTAINER')
    .action(async (containers: string[]) => {
      requireArgs(cmd, containers, 1);
      await forEachArg(containers, async (c) => {
        await ctx.client.transport.call('POST', `/containers/${enc(c)}/unpause`);
        ctx.out(`${c}\n`);
      });
    });
  return cmd;
}
