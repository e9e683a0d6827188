import { Command } from 'commander';
import { ClientError } from '../../client';
import { CliContext } from '../context';
import { newCommand, requireArgs, forEachArg, daemonErrorText } from '../command';

export function rmCommand(ctx: CliContext, name = 'rm'): Command {
  const cmd: Command = newCommand(name, 'Remove one or more containers')
    .argument('[containers...]', 'CONTAINER')
    .option('-f, --force', 'Force the removal of a running container (uses SIGKILL)')
    .option('-l, --link', 'Remove the specified link')
    .option('-v, --volumes', 'Remove anonymous volumes associated with the container')
    .action(async (containers: string[], opts: { force?: boolean; link?: boolean; volumes?: boolean }) => {
      requireArgs(cmd, containers, 1);
      await forEachArg(containers, async (c) => {
        const id = c.replace(/^\/+/, '');
        try {
          await ctx.client.containerRemove(id, { force: opts.force, volumes: opts.volumes, link: opts.link });
        } catch (e) {
          // docker rm -f reports containers that are already gone but still exits 0
          if (opts.force && e instanceof ClientError && e.status === 404) {
            ctx.err(`${daemonErrorText(e)}\n`);
            return;
          }
          throw e;
        }
        ctx.out(`${c}\n`);
      });
    });
  return cmd;
}
