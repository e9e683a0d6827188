import { Command } from 'commander';
import { CliContext, ExitError } from '../context';
import { newCommand, requireArgs } from '../command';
import { collect } from '../container-options';
import { fullName, parseReference } from '../../common';


/** Docker's bool flag values (`--pause=false`); absent value means true. */
function boolValue(v: string | boolean | undefined, flag: string): boolean {
  if (v === undefined || v === true) return true;
  if (v === false) return false;
  const s = v.toLowerCase();
  if (['1', 't', 'true'].includes(s)) return true;
  if (['0', 'f', 'false'].includes(s)) return false;
  throw new ExitError(125, `invalid argument "${v}" for "${flag}" flag: strconv.ParseBool: parsing "${v}": invalid syntax`);
}

/** `berth commit [OPTIONS] CONTAINER [REPOSITORY[:TAG]]`: prints the new image's ID, like docker. */
export function commitCommand(ctx: CliContext, name = 'commit'): Command {
  const cmd: Command = newCommand(name, "Create a new image from a container's changes")
    .argument('[args...]', 'CONTAINER [REPOSITORY[:TAG]]')
    .option('-a, --author <string>', 'Author (e.g., "John Hannibal Smith <hannibal@a-team.com>")')
    .option('-c, --change <list>', 'Apply Dockerfile instruction to the created image', collect, [])
    .option('-m, --message <string>', 'Commit message')
    .option('-p, --pause [bool]', 'Pause container during commit (default true)')
    .action(async (args: string[], f: { author?: string; change: string[]; message?: string; pause?: string | boolean }) => {
      requireArgs(cmd, args, 1);
      if (args.length > 2) throw new ExitError(1, `"${cmd.name()}" requires at least 1 and at most 2 arguments.\nSee '${cmd.name()} --help'.`);
      const [container, ref] = args as [string, string | undefined];
      let repo: string | undefined;
      let tag: string | undefined;
      if (ref) {
        let parsed;
        try {
          parsed = parseReference(ref);
        } catch (e) {
          // The parser's message already starts with "invalid reference format".
          const msg = (e as Error).message;
          throw new ExitError(1, msg.startsWith('invalid reference format') ? msg : `invalid reference format: ${msg}`);
        }
        if (parsed.digest) throw new ExitError(1, 'refusing to create a tag with a digest reference');
        repo = fullName(parsed);
        tag = parsed.tag;
      }
      const res = await ctx.client.transport.json<{ Id: string }>('POST', '/commit', {
        query: {
          container,
          repo,
          tag,
          author: f.author,
          comment: f.message,
          pause: boolValue(f.pause, 'pause'),
          changes: f.change.length ? f.change : undefined,
        },
      });
      ctx.out(`${res.Id}\n`);
    });
  return cmd;
}
