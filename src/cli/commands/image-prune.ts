import { Command } from 'commander';
import { encodeFilters } from '../../client';
import { CliContext, ExitError } from '../context';
import { newCommand } from '../command';
import { collect, parseFilters } from '../container-options';
import { humanSize } from '../format/units';

interface PruneReport {
  ImagesDeleted: { Untagged?: string; Deleted?: string }[] | null;
  SpaceReclaimed: number;
}

/** Asks docker's question on stdin; true for y/yes. */
export async function confirm(ctx: CliContext, warning: string): Promise<boolean> {
  ctx.out(`${warning}\nAre you sure you want to continue? [y/N] `);
  const answer = await new Promise<string>((resolve) => {
    let got = '';
    const onData = (c: Buffer) => {
      got += c.toString();
      if (got.includes('\n')) finish();
    };
    const finish = () => {
      ctx.io.stdin.off('data', onData);
      ctx.io.stdin.off('end', finish);
      ctx.io.stdin.pause();
      resolve(got.split('\n')[0]!.trim());
    };
    ctx.io.stdin.on('data', onData);
    ctx.io.stdin.once('end', finish);
    ctx.io.stdin.resume();
  });
  return /^y(es)?$/i.test(answer);
}

/** `berth image prune [-a] [-f] [--filter k=v]`. */
export function imagePruneCommand(ctx: CliContext, name = 'prune'): Command {
  return newCommand(name, 'Remove unused images')
    .option('-a, --all', 'Remove all unused images, not just dangling ones')
    .option('--filter <filter>', 'Provide filter values (e.g. "until=<timestamp>")', collect, [])
    .option('-f, --force', 'Do not prompt for confirmation')
    .action(async (f: { all?: boolean; filter?: string[]; force?: boolean }) => {
      let filters: Record<string, string[]>;
      try {
        filters = parseFilters(f.filter ?? []);
      } catch (e) {
        throw new ExitError(1, (e as Error).message);
      }
      if (f.all) filters['dangling'] = ['false'];
      else filters['dangling'] ??= ['true'];
      const warning = f.all
        ? 'WARNING! This will remove all images without at least one container associated to them.'
        : 'WARNING! This will remove all dangling images.';
      if (!f.force && !(await confirm(ctx, warning))) return;
      const r = await ctx.client.transport.json<PruneReport>('POST', '/images/prune', { query: { filters: encodeFilters(filters) } });
      if (r.ImagesDeleted?.length) {
        ctx.out('Deleted Images:\n');
        for (const d of r.ImagesDeleted) {
          if (d.Untagged) ctx.out(`untagged: ${d.Untagged}\n`);
          if (d.Deleted) ctx.out(`deleted: ${d.Deleted}\n`);
        }
        ctx.out('\n');
      }
      ctx.out(`Total reclaimed space: ${humanSize(r.SpaceReclaimed)}\n`);
    });
}
