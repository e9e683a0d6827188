import { Command } from 'commander';
import { CliContext } from '../context';
import { newCommand, requireArgs, forEachArg } from '../command';

export function rmiCommand(ctx: CliContext, name = 'rmi'): Command {
  const cmd: Command = newCommand(name, 'Remove one or more images')
    .argument('[images...]', 'IMAGE')
    .option('-f, --force', 'Force removal of the image')
    .option('--no-prune', 'Do not delete untagged parents')
    .action(async (images: string[], opts: { force?: boolean; prune: boolean }) => {
      requireArgs(cmd, images, 1);
      await forEachArg(images, async (img) => {
        const items = await ctx.client.imageRemove(img, { force: opts.force, noPrune: opts.prune === false });
        for (const it of items ?? []) {
          if (it.Untagged) ctx.out(`Untagged: ${it.Untagged}\n`);
          if (it.Deleted) ctx.out(`Deleted: ${it.Deleted}\n`);
        }
      });
    });
  return cmd;
}
