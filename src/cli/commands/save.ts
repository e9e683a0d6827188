import { Command } from 'commander';
import { CliContext, ExitError } from '../context';
import { checkOutput, writeOutput } from '../download';
import { newCommand, requireArgs } from '../command';

const enc = encodeURIComponent;

/** `berth save [-o FILE] IMAGE...`: the daemon's archive (docker 25+ layout) to a file or stdout. */
export function saveCommand(ctx: CliContext, name = 'save'): Command {
  const cmd: Command = newCommand(name, 'Save one or more images to a tar archive (streamed to STDOUT by default)')
    .argument('[images...]', 'IMAGE')
    .option('-o, --output <string>', 'Write to a file, instead of STDOUT')
    .action(async (images: string[], f: { output?: string }) => {
      requireArgs(cmd, images, 1);
      if (!f.output && ctx.io.stdout.isTTY) {
        throw new ExitError(1, 'cowardly refusing to save to a terminal. Use the -o flag or redirect');
      }
      await checkOutput(f.output, 'failed to save image');
      const query = images.map((i) => `names=${enc(i)}`).join('&');
      const res = await ctx.client.transport.request('GET', `/images/get?${query}`);
      await writeOutput(res, f.output, ctx.io.stdout, 'failed to save image');
    });
  return cmd;
}
