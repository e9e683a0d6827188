import { Command, Option } from 'commander';
import { CliContext } from '../context';
import { newCommand, requireArgs, forEachArg, intFlag } from '../command';

export function stopCommand(ctx: CliContext, name = 'stop'): Command {
  const cmd: Command = newCommand(name, 'Stop one or more running containers')
    .argument('[containers...]', 'CONTAINER')
    .option('-s, --signal <string>', 'Signal to send to the container')
    .option('-t, --timeout <int>', 'Seconds to wait before killing the container')
    .addOption(new Option('--time <int>', 'Seconds to wait before killing the container (deprecated: use --timeout)').hideHelp())
    .action(async (containers: string[], opts: { signal?: string; time?: string; timeout?: string }) => {
      requireArgs(cmd, containers, 1);
      const timeout = intFlag(opts.timeout ?? opts.time, '-t, --timeout', cmd);
      await forEachArg(containers, async (c) => {
        await ctx.client.containerStop(c, { timeout, signal: opts.signal });
        ctx.out(`${c}\n`);
      });
    });
  return cmd;
}

export function restartCommand(ctx: CliContext, name = 'restart'): Command {
  const cmd: Command = newCommand(name, 'Restart one or more containers')
    .argument('[containers...]', 'CONTAINER')
    .option('-s, --signal <string>', 'Signal to send to the container')
    .option('-t, --timeout <int>', 'Seconds to wait before killing the container')
    .addOption(new Option('--time <int>', 'Seconds to wait before killing the container (deprecated: use --timeout)').hideHelp())
    .action(async (containers: string[], opts: { signal?: string; time?: string; timeout?: string }) => {
      requireArgs(cmd, containers, 1);
      const timeout = intFlag(opts.timeout ?? opts.time, '-t, --timeout', cmd);
      await forEachArg(containers, async (c) => {
        await ctx.client.containerRestart(c, { timeout, signal: opts.signal });
        ctx.out(`${c}\n`);
      });
    });
  return cmd;
}

export function killCommand(ctx: CliContext, name = 'kill'): Command {
  const cmd: Command = newCommand(name, 'Kill one or more running containers')
    .argument('[containers...]', 'CONTAINER')
    .option('-s, --signal <string>', 'Signal to send to the container')
    .action(async (containers: string[], opts: { signal?: string }) => {
      requireArgs(cmd, containers, 1);
      await forEachArg(containers, async (c) => {
        await ctx.client.containerKill(c, opts.signal);
        ctx.out(`${c}\n`);
      });
    });
  return cmd;
}
