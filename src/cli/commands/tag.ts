import { Command } from 'commander';
import { CliContext, ExitError } from '../context';
import { newCommand, requireExactArgs } from '../command';
import { fullName, parseReference } from '../../common';

export function tagCommand(ctx: CliContext, name = 'tag'): Command {
  const cmd: Command = newCommand(name, 'Create a tag TARGET_IMAGE that refers to SOURCE_IMAGE')
    .argument('[args...]', 'SOURCE_IMAGE[:TAG] TARGET_IMAGE[:TAG]')
    .action(async (args: string[]) => {
      requireExactArgs(cmd, args, 2);
      const [source, target] = args as [string, string];
      let ref;
      try {
        ref = parseReference(target);
      } catch (e) {
        throw new ExitError(1, `Error parsing reference: "${target}" is not a valid repository/tag: ${(e as Error).message}`);
      }
      if (ref.digest) throw new ExitError(1, 'refusing to create a tag with a digest reference');
      await ctx.client.imageTag(source, fullName(ref), ref.tag ?? 'latest');
    });
  return cmd;
}
