import { readFileSync } from 'node:fs';
import { Command } from 'commander';
import { ClientError } from '../client';
import { CliContext, ExitError } from './context';
import { ContainerFlags, buildCreateRequest, collect } from './container-options';
import { commandPath } from './command';
import { familiarWithDefaultTag } from './reference';

/** The flags `run` and `create` share, with docker's names. */
export function addContainerFlags(cmd: Command): Command {
  return cmd
    .option('-a, --attach <stream>', 'Attach to STDIN, STDOUT or STDERR', collect, [])
    .option('--cap-add <cap>', 'Add Linux capabilities', collect, [])
    .option('--cap-drop <cap>', 'Drop Linux capabilities', collect, [])
    .option('--cpus <decimal>', 'Number of CPUs')
    .option('--entrypoint <string>', 'Overwrite the default ENTRYPOINT of the image')
    .option('-e, --env <list>', 'Set environment variables', collect, [])
    .option('--env-file <list>', 'Read in a file of environment variables', collect, [])
    .option('--expose <list>', 'Expose a port or a range of ports', collect, [])
    .option('-h, --hostname <string>', 'Container host name')
    .option('--init', 'Run an init inside the container that forwards signals and reaps processes')
    .option('-i, --interactive', 'Keep STDIN open even if not attached')
    .option('-l, --label <list>', 'Set meta data on a container', collect, [])
    .option('-m, --memory <bytes>', 'Memory limit')
    .option('--name <string>', 'Assign a name to the container')
    .option('--network, --net <network>', 'Connect a container to a network')
    .option('--platform <string>', 'Set platform if server is multi-platform capable')
    .option('--privileged', 'Give extended privileges to this container')
    .option('-p, --publish <list>', "Publish a container's port(s) to the host", collect, [])
    .option('--read-only', "Mount the container's root filesystem as read only")
    .option('--restart <string>', 'Restart policy to apply when a container exits')
    .option('--rm', 'Automatically remove the container and its associated anonymous volumes when it exits')
    .option('--stop-signal <string>', 'Signal to stop the container')
    .option('--stop-timeout <int>', 'Timeout (in seconds) to stop a container')
    .option('-t, --tty', 'Allocate a pseudo-TTY')
    .option('-u, --user <string>', 'Username or UID (format: <name|uid>[:<group|gid>])')
    .option('-v, --volume <list>', 'Bind mount a volume', collect, [])
    .option('-w, --workdir <string>', 'Working directory inside the container');
}

/** docker's `reportError`: `berth: <msg>` plus a pointer to the help. */
export function reportText(cmd: Command, message: string, withHelp = true): string {
  const path = commandPath(cmd);
  let text = `${path.split(' ')[0]}: ${message}`;
  if (withHelp) text += `\n\nRun '${path} --help' for more information`;
  return text;
}

/**
 * Builds the create body and creates the container, as docker's createContainer:
 * a 404 prints `Unable to find image 'X' locally` (Berth pulls nothing yet) and fails.
 * Flag errors end with 125. Daemon errors are thrown as they are.
 */
export async function createFromFlags(ctx: CliContext, cmd: Command, image: string, args: string[], f: ContainerFlags): Promise<string> {
  let body;
  try {
    const envFiles = (f.envFile ?? []).map((p) => readFileSync(p, 'utf8'));
    body = buildCreateRequest(image, args, f, ctx.io.env, envFiles);
  } catch (e) {
    throw new ExitError(125, reportText(cmd, (e as Error).message));
  }
  let res;
  try {
    res = await ctx.client.containerCreate(body, { name: f.name, platform: f.platform });
  } catch (e) {
    if (e instanceof ClientError && e.status === 404 && /image/i.test(e.message)) {
      ctx.err(`Unable to find image '${familiarWithDefaultTag(image)}' locally\n`);
    }
    throw e;
  }
  for (const w of res.Warnings ?? []) ctx.err(`WARNING: ${w}\n`);
  return res.Id;
}
