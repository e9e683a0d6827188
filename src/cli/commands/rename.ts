import { Command } from 'commander';
import { CliContext, ExitError } from '../context';
import { daemonErrorText, newCommand, requireExactArgs } from '../command';

/**
 * `berth rename CONTAINER NEW_NAME`. Like docker, a refusal prints the daemon's reason
 * and then which container could not be renamed.
 */
export function renameCommand(ctx: CliContext): Command {
  const cmd: Command = newCommand('rename', 'Rename a container')
    .argument('[args...]', 'CONTAINER NEW_NAME')
    .action(async (args: string[]) => {
      requireExactArgs(cmd, args, 2);
      const oldName = args[0]!.trim();
      const newName = args[1]!.trim();
      if (!oldName || !newName) throw new ExitError(1, 'Error: Neither old nor new names may be empty');
      try {
        await ctx.client.transport.call('POST', `/containers/${encodeURIComponent(oldName)}/rename`, { query: { name: newName } });
      } catch (e) {
        ctx.err(`${daemonErrorText(e)}\n`);
        throw new ExitError(1, `Error: failed to rename container named ${oldName}`);
      }
    });
  return cmd;
}
