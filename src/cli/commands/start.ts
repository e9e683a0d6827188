import { Command } from 'commander';
import { CliContext, ExitError } from '../context';
import { newCommand, requireArgs, daemonErrorText } from '../command';
import { AttachSession, attachUntilExit } from '../attach-session';

interface StartFlags {
  attach?: boolean;
  interactive?: boolean;
  detachKeys?: string;
}

async function startAttached(ctx: CliContext, name: string, f: StartFlags): Promise<number> {
  const c = await ctx.client.containerInspect(name);
  const tty = !!c.Config?.Tty;
  const stdin = !!f.interactive && !!c.Config?.OpenStdin;
  const hijacked = await ctx.client.containerAttach(c.Id, { stdin, stdout: true, stderr: true, detachKeys: f.detachKeys });
  const session = new AttachSession(ctx, hijacked, { stdin, tty });
  const wait = await ctx.client.containerWait(c.Id, c.HostConfig?.AutoRemove ? 'removed' : 'next-exit').catch((e: unknown) => {
    session.close();
    throw e;
  });
  try {
    await ctx.client.containerStart(c.Id, { detachKeys: f.detachKeys });
  } catch (e) {
    session.close();
    wait.abort();
    // A plain error for the docker CLI here (exit 1), unlike `run`'s 126/127.
    throw new ExitError(1, daemonErrorText(e));
  }
  return attachUntilExit(ctx, c.Id, session, wait, { tty, sigProxy: true });
}

export function startCommand(ctx: CliContext, name = 'start'): Command {
  const cmd: Command = newCommand(name, 'Start one or more stopped containers')
    .argument('[containers...]', 'CONTAINER')
    .option('-a, --attach', "Attach STDOUT/STDERR and forward signals")
    .option('--detach-keys <string>', 'Override the key sequence for detaching a container')
    .option('-i, --interactive', "Attach container's STDIN")
    .action(async (containers: string[], f: StartFlags) => {
      requireArgs(cmd, containers, 1);
      if (f.attach || f.interactive) {
        if (containers.length > 1) throw new ExitError(1, 'you cannot start and attach multiple containers at once');
        const code = await startAttached(ctx, containers[0]!, f);
        if (code !== 0) throw new ExitError(code);
        return;
      }
      const failed: string[] = [];
      for (const c of containers) {
        try {
          await ctx.client.containerStart(c, { detachKeys: f.detachKeys });
          ctx.out(`${c}\n`);
        } catch (e) {
          ctx.err(`${daemonErrorText(e)}\n`);
          failed.push(c);
        }
      }
      if (failed.length) throw new ExitError(1, `Error: failed to start containers: ${failed.join(', ')}`);
    });
  return cmd;
}
