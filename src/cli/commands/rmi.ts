import { Command } from 'commander';
import { ClientError } from '../../client';
import { CliContext, ExitError } from '../context';
import { newCommand, requireArgs, forEachArg } from '../command';

export function rmiCommand(ctx: CliContext, name = 'rmi'): Command {
  const cmd: Command = newCommand(name, 'Remove one or more images')
    .argument('[images...]', 'IMAGE')
    .option('-f, --force', 'Force removal of the image')
    .option('--no-prune', 'Do not delete untagged parents')
    .action(async (images: string[], opts: { force?: boolean; prune: boolean }) => {
      requireArgs(cmd, images, 1);
      // With --force the docker CLI still prints "No such image" but exits 0, unless some other error came too.
      let fatal = false;
      await forEachArg(images, async (img) => {
        try {
          const items = await ctx.client.imageRemove(img, { force: opts.force, noPrune: opts.prune === false });
          for (const it of items ?? []) {
            if (it.Untagged) ctx.out(`Untagged: ${it.Untagged}\n`);
            if (it.Deleted) ctx.out(`Deleted: ${it.Deleted}\n`);
          }
        } catch (e) {
          if (!(e instanceof ClientError && e.status === 404)) fatal = true;
          throw e;
        }
      }).catch((e: unknown) => {
        if (!(e instanceof ExitError) || !opts.force || fatal) throw e;
        ctx.err(`${e.message}\n`);
      });
    });
  return cmd;
}
