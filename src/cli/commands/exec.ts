import { Command } from 'commander';
import { CliContext, ExitError } from '../context';
import { collect, FlagError, flagValue, parseEnv, parseEnvFile } from '../container-options';
import { readEnvFile } from '../container-flags';
import { newCommand, requireArgs, daemonErrorText, usageBlock } from '../command';
import { AttachSession } from '../attach-session';

interface ExecFlags {
  detach?: boolean;
  interactive?: boolean;
  tty?: boolean;
  env: string[];
  envFile?: string[];
  workdir?: string;
  user?: string;
  privileged?: boolean;
  detachKeys?: string;
}

/** Keeps the exec's TTY at our terminal's size (POST /exec/{id}/resize). */
function followExecSize(ctx: CliContext, id: string): () => void {
  const out = ctx.io.stdout;
  if (!out.isTTY) return () => undefined;
  const resize = () => {
    const h = out.rows ?? 0;
    const w = out.columns ?? 0;
    if (h > 0 && w > 0) ctx.client.transport.call('POST', `/exec/${encodeURIComponent(id)}/resize`, { query: { h, w } }).catch(() => undefined);
  };
  resize();
  out.on('resize', resize);
  return () => out.removeListener('resize', resize);
}

/**
 * docker exec: create the exec instance, start it (hijacked unless -d), stream
 * its output, then exit with its exit code from /exec/{id}/json.
 */
export async function execInContainer(ctx: CliContext, container: string, command: string[], f: ExecFlags): Promise<number> {
  if (!f.detach && f.tty && f.interactive && !ctx.io.stdin.isTTY) throw new ExitError(1, 'the input device is not a TTY');
  const t = ctx.client.transport;
  const out = ctx.io.stdout;
  const size = f.tty && out.isTTY && out.rows && out.columns ? [out.rows, out.columns] : undefined;
  let id: string;
  try {
    const created = await t.json<{ Id: string }>('POST', `/containers/${encodeURIComponent(container)}/exec`, {
      body: {
        User: f.user ?? '',
        Privileged: !!f.privileged,
        Tty: !!f.tty,
        AttachStdin: !f.detach && !!f.interactive,
        AttachStdout: !f.detach,
        AttachStderr: !f.detach,
        DetachKeys: f.detachKeys ?? '',
        Env: f.env,
        WorkingDir: f.workdir ?? '',
        Cmd: command,
        ...(size ? { ConsoleSize: size } : {}),
      },
    });
    id = created.Id;
  } catch (e) {
    throw new ExitError(1, daemonErrorText(e));
  }
  if (f.detach) {
    try {
      await t.call('POST', `/exec/${encodeURIComponent(id)}/start`, { body: { Detach: true, Tty: !!f.tty } });
    } catch (e) {
      throw new ExitError(1, daemonErrorText(e));
    }
    return 0;
  }
  let session: AttachSession;
  try {
    const hijacked = await t.hijack('POST', `/exec/${encodeURIComponent(id)}/start`, {
      body: { Detach: false, Tty: !!f.tty, ...(size ? { ConsoleSize: size } : {}) },
      headers: { 'Content-Type': 'application/json' },
    });
    session = new AttachSession(ctx, hijacked, { stdin: !!f.interactive, tty: !!f.tty });
  } catch (e) {
    throw new ExitError(1, daemonErrorText(e));
  }
  session.pumpStdin();
  const stopResize = f.tty ? followExecSize(ctx, id) : () => undefined;
  try {
    await session.done.catch((e: unknown) => ctx.err(`${daemonErrorText(e)}\n`));
  } finally {
    stopResize();
    session.close();
  }
  const info = await t.json<{ ExitCode: number | null; Running: boolean }>('GET', `/exec/${encodeURIComponent(id)}/json`);
  return info.ExitCode ?? 0;
}

/**
 * The exec's environment as the docker CLI makes it: env files first, then `-e` (a bare name
 * takes this process's value). A bad `-e` is a flag error (125); an env file that cannot be
 * read or parsed fails the command (1), in docker's words.
 */
function execEnv(cmd: Command, ctx: CliContext, f: ExecFlags): string[] {
  try {
    const fromFiles = (f.envFile ?? []).flatMap((path) => parseEnvFile(readEnvFile(path), ctx.io.env, path));
    return [...fromFiles, ...(f.env ?? []).map((e) => flagValue('-e, --env', e, (v) => parseEnv([v], ctx.io.env)[0]!))];
  } catch (e) {
    if (e instanceof FlagError) throw new ExitError(125, `${e.message}${usageBlock(cmd, 'Run')}`);
    throw new ExitError(1, (e as Error).message);
  }
}

export function execCommand(ctx: CliContext, name = 'exec'): Command {
  const cmd: Command = newCommand(name, 'Execute a command in a running container')
    .argument('[container]', 'CONTAINER')
    .argument('[command...]', 'COMMAND [ARG...]')
    .option('-d, --detach', 'Detached mode: run command in the background')
    .option('--detach-keys <string>', 'Override the key sequence for detaching a container')
    .option('-e, --env <list>', 'Set environment variables', collect, [])
    .option('--env-file <list>', 'Read in a file of environment variables', collect, [])
    .option('-i, --interactive', 'Keep STDIN open even if not attached')
    .option('--privileged', 'Give extended privileges to the command')
    .option('-t, --tty', 'Allocate a pseudo-TTY')
    .option('-u, --user <string>', 'Username or UID (format: "<name|uid>[:<group|gid>]")')
    .option('-w, --workdir <string>', 'Working directory inside the container')
    .passThroughOptions()
    .action(async (container: string | undefined, command: string[], f: ExecFlags) => {
      requireArgs(cmd, container ? [container, ...command] : [], 2);
      const code = await execInContainer(ctx, container!, command, { ...f, env: execEnv(cmd, ctx, f) });
      if (code !== 0) throw new ExitError(code);
    });
  return cmd;
}
