import { Command } from 'commander';
import { copyRawStream, readJSONMessages } from '../../client';
import { CliContext, ExitError } from '../context';
import { newCommand } from '../command';
import { ProgressRenderer } from '../progress';
import { uploadSource } from '../upload';

export function loadCommand(ctx: CliContext, name = 'load'): Command {
  return newCommand(name, 'Load an image from a tar archive or STDIN')
    .option('-i, --input <string>', 'Read from tar archive file, instead of STDIN')
    .option('-q, --quiet', 'Suppress the load output')
    .action(async (f: { input?: string; quiet?: boolean }) => {
      if (!f.input && ctx.io.stdin.isTTY) throw new ExitError(1, 'requested load from stdin, but stdin is empty');
      const renderer = new ProgressRenderer(ctx.io.stdout);
      const body = uploadSource(ctx, f.input, renderer, 'Sending');
      const quiet = !!f.quiet || !ctx.io.stdout.isTTY;
      const res = await ctx.client.imageLoad(body, { quiet });
      try {
        if ((res.headers['content-type'] ?? '').startsWith('application/json')) {
          await readJSONMessages(res, (m) => renderer.write(m));
        } else {
          await copyRawStream(res, ctx.io.stdout);
        }
      } finally {
        renderer.done();
      }
    });
}
