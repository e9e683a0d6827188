import { Command } from 'commander';
import { ClientError } from '../../client';
import { CliContext, ExitError } from '../context';
import { newCommand, requireMaxArgs } from '../command';
import { convertToHostname, DockerConfig, INDEX_SERVER, type AuthConfig } from '../docker-config';

interface LoginFlags {
  username?: string;
  password?: string;
  passwordStdin?: boolean;
}

async function readAllStdin(ctx: CliContext): Promise<string> {
  let text = '';
  for await (const c of ctx.io.stdin) text += c.toString();
  return text;
}

/** One line typed at the terminal; `hidden` reads it with echo off (a password), as docker's prompt. */
async function prompt(ctx: CliContext, question: string, hidden: boolean): Promise<string> {
  ctx.out(question);
  const stdin = ctx.io.stdin;
  if (hidden) stdin.setRawMode?.(true);
  const line = await new Promise<string>((resolve) => {
    let text = '';
    const finish = () => {
      stdin.off('data', onData);
      stdin.off('end', finish);
      if (hidden) stdin.setRawMode?.(false);
      stdin.pause();
      resolve(text);
    };
    const onData = (chunk: Buffer | string) => {
      for (const ch of chunk.toString()) {
        if (ch === '\r' || ch === '\n' || ch === '\u0004' || ch === '\u0003') return finish();
        if (ch === '\u007f') text = text.slice(0, -1);
        else text += ch;
      }
    };
    stdin.on('data', onData);
    stdin.once('end', finish);
    stdin.resume();
  });
  if (hidden) ctx.out('\n');
  return line.trim();
}

/** Sends the credentials to the daemon (POST /auth) and stores what it vouched for. */
async function loginAndStore(ctx: CliContext, config: DockerConfig, auth: AuthConfig): Promise<string> {
  const res = await ctx.client.registryLogin({ username: auth.username, password: auth.password, serveraddress: auth.serveraddress });
  const stored: AuthConfig = { ...auth };
  if (res.IdentityToken) {
    stored.password = '';
    stored.identitytoken = res.IdentityToken;
  }
  config.store(auth.serveraddress!, stored);
  return res.Status;
}

export function loginCommand(ctx: CliContext): Command {
  const cmd: Command = newCommand('login', 'Authenticate to a registry')
    .argument('[server]', '[SERVER]')
    .option('-u, --username <string>', 'Username')
    .option('-p, --password <string>', 'Password or Personal Access Token (PAT)')
    .option('--password-stdin', 'Take the Password or Personal Access Token (PAT) from stdin')
    .action(async (server: string | undefined, f: LoginFlags) => {
      requireMaxArgs(cmd, cmd.args, 1);
      if (f.passwordStdin) {
        if (f.password !== undefined) throw new ExitError(1, 'conflicting options: cannot specify both --password and --password-stdin');
        if (f.username === undefined) throw new ExitError(1, 'the --password-stdin option requires --username to be set');
      }
      if (f.username !== undefined && f.username === '') throw new ExitError(1, 'username is empty');
      if (f.password !== undefined && f.password === '') throw new ExitError(1, 'password is empty');
      let user = f.username ?? '';
      let password = f.password ?? '';
      if (password) ctx.err('WARNING! Using --password via the CLI is insecure. Use --password-stdin.\n');
      if (f.passwordStdin) password = (await readAllStdin(ctx)).replace(/\n$/, '').replace(/\r$/, '');

      const address = server && server !== 'docker.io' ? convertToHostname(server) : INDEX_SERVER;
      const config = new DockerConfig(ctx.io.env, (t) => ctx.err(t));

      if (!user && !password) {
        const stored = config.get(address);
        if (stored.username && stored.password) {
          ctx.err(`Authenticating with existing credentials... [Username: ${stored.username}]\n`);
          ctx.err("\n Info -> To login with a different account, run 'berth logout' followed by 'berth login'\n\n\n");
          try {
            const status = await loginAndStore(ctx, config, { username: stored.username, password: stored.password, serveraddress: address });
            ctx.out(`${status}\n`);
            return;
          } catch (e) {
            if (e instanceof ClientError && e.status === 401) ctx.err('Stored credentials invalid or expired\n');
            else ctx.err(`Login did not succeed, error: ${e instanceof ClientError ? `Error response from daemon: ${e.message}` : (e as Error).message}\n`);
            user = stored.username;
          }
        }
      }
      if (!f.username || !password) {
        if (!ctx.io.stdin.isTTY) throw new ExitError(1, 'Error: Cannot perform an interactive login from a non TTY device');
        if (!f.username) {
          const typed = await prompt(ctx, user ? `Username (${user}): ` : 'Username: ', false);
          user = typed || user;
          if (!user) throw new ExitError(1, 'Error: Non-null Username Required');
        }
        if (!password) {
          password = await prompt(ctx, 'Password: ', true);
          if (!password) throw new ExitError(1, 'Error: Password Required');
        }
      }
      const status = await loginAndStore(ctx, config, { username: user.trim(), password, serveraddress: address });
      ctx.out(`${status}\n`);
    });
  return cmd;
}

export function logoutCommand(ctx: CliContext): Command {
  const cmd: Command = newCommand('logout', 'Log out from a registry')
    .argument('[server]', '[SERVER]')
    .action(async (server: string | undefined) => {
      requireMaxArgs(cmd, cmd.args, 1);
      const config = new DockerConfig(ctx.io.env, (t) => ctx.err(t));
      const address = server || INDEX_SERVER;
      const host = server ? convertToHostname(address) : address;
      // Older CLIs stored a registry under its URL as well as its host name: remove every form.
      const keys = server ? [address, host, `http://${host}`, `https://${host}`] : [address];
      ctx.out(`Removing login credentials for ${host}\n`);
      const errors: string[] = [];
      for (const k of [...new Set(keys)]) {
        try {
          config.erase(k);
        } catch (e) {
          errors.push(`${k}: ${(e as Error).message}`);
        }
      }
      if (errors.length === keys.length) ctx.err(`WARNING: could not erase credentials:\n${errors.join('\n')}\n`);
    });
  return cmd;
}
