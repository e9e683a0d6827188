import { Command } from 'commander';
import { familiarName, fullString, parseReference, withDefaultTag } from '../../common';
import { CliContext, ExitError } from '../context';
import { newCommand, requireExactArgs } from '../command';
import { JSONMessageDisplay } from '../json-display';
import { registryAuthFor } from './pull';

export function pushCommand(ctx: CliContext, name = 'push'): Command {
  const cmd: Command = newCommand(name, 'Upload an image to a registry')
    .argument('[name]', 'NAME[:TAG]')
    .option('-a, --all-tags', 'Push all tags of an image to the repository')
    .option('-q, --quiet', 'Suppress verbose output')
    .action(async (remote: string | undefined, f: { allTags?: boolean; quiet?: boolean }) => {
      requireExactArgs(cmd, cmd.args, 1);
      let ref = parseReference(remote!);
      const nameOnly = ref.tag === undefined && ref.digest === undefined;
      if (f.allTags && !nameOnly) throw new ExitError(1, "tag can't be used with --all-tags/-a");
      if (!f.allTags && nameOnly) {
        ref = withDefaultTag(ref);
        if (!f.quiet) ctx.out(`Using default tag: ${ref.tag}\n`);
      }
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
