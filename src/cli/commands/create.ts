import { Command } from 'commander';
import { CliContext } from '../context';
import { ContainerFlags } from '../container-options';
import { requireArgs } from '../command';
import { addContainerFlags, createFromFlags } from '../container-flags';
import { newCommand } from '../command';

export function createCommand(ctx: CliContext, name = 'create'): Command {
  const cmd: Command = addContainerFlags(newCommand(name, 'Create a new container'))
    .argument('[image]', 'IMAGE')
    .argument('[command...]', '[COMMAND] [ARG...]')
    .passThroughOptions()
    .action(async (image: string | undefined, args: string[], f: ContainerFlags) => {
      requireArgs(cmd, image ? [image] : [], 1);
      const id = await createFromFlags(ctx, cmd, image!, args, f);
      ctx.out(`${id}\n`);
    });
  return cmd;
}
