import { createWriteStream, promises as fsp } from 'node:fs';
import { basename, dirname, join } from 'node:path';
import { pipeline } from 'node:stream/promises';
import { Command } from 'commander';
import { CliContext, ExitError } from '../context';
import { newCommand, requireExactArgs } from '../command';

/** `berth export [-o FILE] CONTAINER`: the container's filesystem as a tar, to a file or stdout. */
export function exportCommand(ctx: CliContext, name = 'export'): Command {
  const cmd: Command = newCommand(name, "Export a container's filesystem as a tar archive")
    .argument('[args...]', 'CONTAINER')
    .option('-o, --output <string>', 'Write to a file, instead of STDOUT')
    .action(async (args: string[], f: { output?: string }) => {
      requireExactArgs(cmd, args, 1);
      if (!f.output && ctx.io.stdout.isTTY) throw new ExitError(1, 'cowardly refusing to save to a terminal. Use the -o flag or redirect');
      const res = await ctx.client.transport.request('GET', `/containers/${encodeURIComponent(args[0]!)}/export`);
      if (!f.output) {
        await pipeline(res, ctx.io.stdout, { end: false });
        return;
      }
      // Beside the target, then renamed: a failed export never leaves half a tar under the name.
      const tmp = join(dirname(f.output), `.${basename(f.output)}.${process.pid}.tmp`);
      try {
        await pipeline(res, createWriteStream(tmp));
        await fsp.rename(tmp, f.output);
      } catch (e) {
        await fsp.rm(tmp, { force: true });
        throw new ExitError(1, `failed to export container: ${(e as Error).message}`);
      }
    });
  return cmd;
}
