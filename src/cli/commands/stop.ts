import { Command, Option } from 'commander';
import { CliContext } from '../context';
import { newCommand, requireArgs, forEachArg, intFlag } from '../command';

/** stop and restart: the same flags, one API call apart. */
function stopLike(ctx: CliContext, name: string, what: string, call: (id: string, o: { timeout?: number; signal?: string }) => Promise<unknown>): Command {
  const cmd: Command = newCommand(name, what)
    .argument('[containers...]', 'CONTAINER')
    .option('-s, --signal <string>', 'Signal to send to the container')
    .option('-t, --timeout <int>', 'Seconds to wait before killing the container')
    .addOption(new Option('--time <int>', 'Seconds to wait before killing the container (deprecated: use --timeout)').hideHelp())
    .action(async (containers: string[], opts: { signal?: string; time?: string; timeout?: string }) => {
      requireArgs(cmd, containers, 1);
      const timeout = intFlag(opts.timeout ?? opts.time, '-t, --timeout', cmd);
      await forEachArg(containers, async (c) => {
        await call(c, { timeout, signal: opts.signal });
        ctx.out(`${c}\n`);
      });
    });
  return cmd;
}

export function stopCommand(ctx: CliContext, name = 'stop'): Command {
  return stopLike(ctx, name, 'Stop one or more running containers', (c, o) => ctx.client.containerStop(c, o));
}

export function restartCommand(ctx: CliContext, name = 'restart'): Command {
  return stopLike(ctx, name, 'Restart one or more containers', (c, o) => ctx.client.containerRestart(c, o));
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
