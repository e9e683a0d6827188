import { Command } from 'commander';
import { CliContext, ExitError } from '../context';
import { ContainerFlags } from '../container-options';
import { addContainerFlags, createFromFlags, reportText } from '../container-flags';
import { newCommand, requireArgs, daemonErrorText } from '../command';
import { AttachSession, attachUntilExit, startFailureCode } from '../attach-session';

interface RunFlags extends ContainerFlags {
  sigProxy: boolean;
}

/**
 * docker run: create → attach → wait (next-exit, or removed with --rm) → start;
 * output demultiplexed to our stdout/stderr; exit with the container's code.
 */
export async function runContainer(ctx: CliContext, cmd: Command, image: string, args: string[], f: RunFlags): Promise<number> {
  // A plain error in the docker CLI (exit 1, no "docker:" prefix), unlike the flag errors.
  if (f.detach && f.attach?.length) throw new ExitError(1, 'conflicting options: cannot specify both --attach and --detach');
  if (!f.detach && f.tty && f.interactive && !ctx.io.stdin.isTTY) throw new ExitError(1, 'the input device is not a TTY');

  let id: string;
  try {
    id = await createFromFlags(ctx, cmd, image, args, f);
  } catch (e) {
    if (e instanceof ExitError) throw e;
    // The docker CLI maps a failed create by its words too ("no such file or directory": 127).
    const text = daemonErrorText(e);
    throw new ExitError(startFailureCode(text), reportText(cmd, text));
  }

  if (f.detach) {
    // The docker CLI prints the id before the start, so it is there even when the start fails.
    ctx.out(`${id}\n`);
    try {
      await ctx.client.containerStart(id);
    } catch (e) {
      throw new ExitError(startFailureCode(daemonErrorText(e)), reportText(cmd, daemonErrorText(e)));
    }
    return 0;
  }

  const attachList = (f.attach ?? []).map((a) => a.toLowerCase());
  const wantStdin = attachList.length ? attachList.includes('stdin') : !!f.interactive;
  const wantStdout = attachList.length ? attachList.includes('stdout') : true;
  const wantStderr = attachList.length ? attachList.includes('stderr') : true;

  let session: AttachSession | undefined;
  try {
    const hijacked = await ctx.client.containerAttach(id, { stdin: wantStdin, stdout: wantStdout, stderr: wantStderr, detachKeys: f.detachKeys });
    session = new AttachSession(ctx, hijacked, { stdin: wantStdin, tty: !!f.tty });
  } catch (e) {
    throw new ExitError(125, reportText(cmd, daemonErrorText(e)));
  }

  let wait;
  try {
    wait = await ctx.client.containerWait(id, f.rm ? 'removed' : 'next-exit');
  } catch (e) {
    session.close();
    throw new ExitError(125, reportText(cmd, daemonErrorText(e)));
  }

  try {
    await ctx.client.containerStart(id, { detachKeys: f.detachKeys });
  } catch (e) {
    session.close();
    const text = daemonErrorText(e);
    if (f.rm) await wait.result.catch(() => undefined);
    else wait.abort();
    throw new ExitError(startFailureCode(text), reportText(cmd, text));
  }

  return attachUntilExit(ctx, id, session, wait, { tty: !!f.tty, sigProxy: f.sigProxy !== false, report: (t) => reportText(cmd, t, false) });
}

export function runCommand(ctx: CliContext, name = 'run'): Command {
  const cmd: Command = addContainerFlags(newCommand(name, 'Create and run a new container from an image'))
    .argument('[image]', 'IMAGE')
    .argument('[command...]', '[COMMAND] [ARG...]')
    .option('-d, --detach', 'Run container in background and print container ID')
    .option('--detach-keys <string>', 'Override the key sequence for detaching a container')
    .option('--no-sig-proxy', 'Do not proxy received signals to the process')
    .passThroughOptions()
    .action(async (image: string | undefined, args: string[], f: RunFlags) => {
      requireArgs(cmd, image ? [image] : [], 1);
      const code = await runContainer(ctx, cmd, image!, args, f);
      if (code !== 0) throw new ExitError(code);
    });
  return cmd;
}
