import { Command } from 'commander';
import { familiarName, fullString } from '../../common';
import { CliContext, ExitError } from '../context';
import { newCommand, requireExactArgs } from '../command';
import { JSONMessageDisplay } from '../json-display';
import { commandReference, registryAuthFor } from './pull';

export function pushCommand(ctx: CliContext, name = 'push'): Command {
  const cmd: Command = newCommand(name, 'Upload an image to a registry')
    .argument('[name]', 'NAME[:TAG]')
    .option('-a, --all-tags', 'Push all tags of an image to the repository')
    .option('-q, --quiet', 'Suppress verbose output')
    .action(async (remote: string | undefined, f: { allTags?: boolean; quiet?: boolean }) => {
      requireExactArgs(cmd, cmd.args, 1);
      const ref = commandReference(ctx, remote!, f);
      if (ref.digest !== undefined) throw new ExitError(1, 'cannot push a digest reference');
      const res = await ctx.client.imagePush(familiarName(ref), { tag: f.allTags ? '' : ref.tag, registryAuth: registryAuthFor(ctx, ref) });
      if (f.quiet) {
        await new JSONMessageDisplay({ write: () => true } as never).run(res);
        ctx.out(`${fullString(ref)}\n`);
        return;
      }
      await new JSONMessageDisplay(ctx.io.stdout).run(res);
    });
  return cmd;
}
