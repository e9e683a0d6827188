import { Command } from 'commander';
import { CliContext } from '../context';
import { newCommand, requireNoArgs } from '../command';
import { collect } from '../container-options';
import { humanSize } from '../format/units';
import { confirm, filterFlags, pruneImages } from '../prune';

/** `berth image prune [-a] [-f] [--filter k=v]`. */
export function imagePruneCommand(ctx: CliContext, name = 'prune'): Command {
  const cmd: Command = newCommand(name, 'Remove unused images')
    .argument('[args...]')
    .option('-a, --all', 'Remove all unused images, not just dangling ones')
    .option('--filter <filter>', 'Provide filter values (e.g. "until=<timestamp>")', collect, [])
    .option('-f, --force', 'Do not prompt for confirmation')
    .action(async (args: string[], f: { all?: boolean; filter?: string[]; force?: boolean }) => {
      requireNoArgs(cmd, args);
      const filters = filterFlags(f.filter, cmd);
      const warning = f.all
        ? 'WARNING! This will remove all images without at least one container associated to them.'
        : 'WARNING! This will remove all dangling images.';
      if (!f.force && !(await confirm(ctx, `${warning}\nAre you sure you want to continue?`))) return;
      const r = await pruneImages(ctx, filters, f.all);
      ctx.out(`${r.output ? `${r.output}\n` : ''}Total reclaimed space: ${humanSize(r.space)}\n`);
    });
  return cmd;
}
