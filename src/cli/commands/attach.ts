import { Command } from 'commander';
import { CliContext, ExitError } from '../context';
import { newCommand, requireExactArgs, daemonErrorText } from '../command';
import { AttachSession, attachUntilExit } from '../attach-session';

interface AttachFlags {
  stdin: boolean;
  sigProxy: boolean;
  detachKeys?: string;
}

/** docker attach: stream a running container's stdio until it exits; exit with its code. */
export async function attachToContainer(ctx: CliContext, name: string, f: AttachFlags): Promise<number> {
  let c;
  try {
    c = await ctx.client.containerInspect(name);
  } catch (e) {
    throw new ExitError(1, daemonErrorText(e));
  }
  if (!c.State?.Running) throw new ExitError(1, 'You cannot attach to a stopped container, start it first');
  if (c.State?.Paused) throw new ExitError(1, 'You cannot attach to a paused container, unpause it first');
  const tty = !!c.Config?.Tty;
  const stdin = f.stdin !== false && !!c.Config?.OpenStdin;
  if (tty && stdin && !ctx.io.stdin.isTTY) throw new ExitError(1, 'the input device is not a TTY');
  const wait = await ctx.client.containerWait(c.Id, 'not-running');
  let session: AttachSession;
  try {
    const hijacked = await ctx.client.containerAttach(c.Id, { stdin, stdout: true, stderr: true, detachKeys: f.detachKeys });
    session = new AttachSession(ctx, hijacked, { stdin, tty });
  } catch (e) {
    wait.abort();
    throw new ExitError(1, daemonErrorText(e));
  }
  return attachUntilExit(ctx, c.Id, session, wait, { tty, sigProxy: f.sigProxy !== false });
}

export function attachCommand(ctx: CliContext, name = 'attach'): Command {
  const cmd: Command = newCommand(name, "Attach local standard input, output, and error streams to a running container")
    .argument('[container]', 'CONTAINER')
    .option('--detach-keys <string>', 'Override the key sequence for detaching a container')
    .option('--no-stdin', 'Do not attach STDIN')
    .option('--no-sig-proxy', 'Do not proxy received signals to the process')
    .action(async (container: string | undefined, f: AttachFlags) => {
      requireExactArgs(cmd, container ? [container] : [], 1);
      const code = await attachToContainer(ctx, container!, f);
      if (code !== 0) throw new ExitError(code);
    });
  return cmd;
}
