import { Command } from 'commander';
import { CliContext } from '../context';
import { newCommand, requireExactArgs } from '../command';

const KIND = ['C', 'A', 'D'];

/** `berth diff CONTAINER`: one "K /path" line per change, in the daemon's order. */
export function diffCommand(ctx: CliContext, name = 'diff'): Command {
  const cmd: Command = newCommand(name, "Inspect changes to files or directories on a container's filesystem")
    .argument('[args...]', 'CONTAINER')
    .action(async (args: string[]) => {
      requireExactArgs(cmd, args, 1);
      const changes = await ctx.client.transport.json<{ Path: string; Kind: number }[] | null>('GET', `/containers/${encodeURIComponent(args[0]!)}/changes`);
      ctx.out((changes ?? []).map((c) => `${KIND[c.Kind] ?? '?'} ${c.Path}\n`).join(''));
    });
  return cmd;
}
