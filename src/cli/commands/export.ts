import { Command } from 'commander';
import { CliContext, ExitError } from '../context';
import { checkOutput, writeOutput } from '../download';
import { newCommand, requireExactArgs } from '../command';

/** `berth export [-o FILE] CONTAINER`: the container's filesystem as a tar, to a file or stdout. */
export function exportCommand(ctx: CliContext, name = 'export'): Command {
  const cmd: Command = newCommand(name, "Export a container's filesystem as a tar archive")
    .argument('[args...]', 'CONTAINER')
    .option('-o, --output <string>', 'Write to a file, instead of STDOUT')
    .action(async (args: string[], f: { output?: string }) => {
      requireExactArgs(cmd, args, 1);
      if (!f.output && ctx.io.stdout.isTTY) throw new ExitError(1, 'cowardly refusing to save to a terminal. Use the -o flag or redirect');
      await checkOutput(f.output, 'failed to export container');
      const res = await ctx.client.transport.request('GET', `/containers/${encodeURIComponent(args[0]!)}/export`);
      await writeOutput(res, f.output, ctx.io.stdout, 'failed to export container');
    });
  return cmd;
}
