import { Command } from 'commander';
import { readJSONMessages } from '../../client';
import { CliContext, ExitError } from '../context';
import { newCommand, requireArgs } from '../command';
import { collect } from '../container-options';
import { ProgressRenderer } from '../progress';
import { uploadSource } from '../upload';
import { parseReference } from '../../common';

export function importCommand(ctx: CliContext, name = 'import'): Command {
  const cmd: Command = newCommand(name, 'Import the contents from a tarball to create a filesystem image')
    .argument('[args...]', 'file|- [REPOSITORY[:TAG]]')
    .option('-c, --change <list>', 'Apply Dockerfile instruction to the created image', collect, [])
    .option('-m, --message <string>', 'Set commit message for imported image')
    .option('--platform <string>', 'Set platform if server is multi-platform capable')
    .action(async (args: string[], f: { change?: string[]; message?: string; platform?: string }) => {
      requireArgs(cmd, args, 1);
      if (args.length > 2) throw new ExitError(1, `"${cmd.name()}" requires at least 1 and at most 2 arguments.`);
      const [source, ref] = args as [string, string | undefined];
      if (ref) {
        try {
          parseReference(ref);
        } catch (e) {
          throw new ExitError(1, (e as Error).message);
        }
      }
      const renderer = new ProgressRenderer(ctx.io.stdout);
      // A URL is the daemon's to download, as with docker.
      const body = /^https?:\/\//.test(source) ? source : uploadSource(ctx, source, renderer, 'Importing');
      const res = await ctx.client.imageImport(body, { repo: ref, message: f.message, changes: f.change, platform: f.platform });
      try {
        await readJSONMessages(res, (m) => renderer.write(m));
      } finally {
        renderer.done();
      }
    });
  return cmd;
}
