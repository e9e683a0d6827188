import { Command } from 'commander';
import type { Filters } from '../../client';
import { CliContext, ExitError } from '../context';
import { newCommand, requireNoArgs } from '../command';
import { collect } from '../container-options';
import { humanSize } from '../format/units';
import { confirm, filterFlags, pruneBuildCache, pruneContainers, pruneImages, pruneNetworks, pruneVolumes, type PruneResult } from '../prune';
import { naturalCompare } from './network';

/** `berth container prune [-f] [--filter until=…|label=…]`: removes every stopped container. */
export function containerPruneCommand(ctx: CliContext): Command {
  const cmd: Command = newCommand('prune', 'Remove all stopped containers')
    .argument('[args...]')
    .option('-f, --force', 'Do not prompt for confirmation')
    .option('--filter <filter>', 'Provide filter values (e.g. "until=<timestamp>")', collect, [])
    .action(async (args: string[], f: { force?: boolean; filter: string[] }) => {
      requireNoArgs(cmd, args);
      const filters = filterFlags(f.filter, cmd);
      if (!f.force && !(await confirm(ctx, 'WARNING! This will remove all stopped containers.\nAre you sure you want to continue?'))) return;
      const r = await pruneContainers(ctx, filters);
      ctx.out(`${r.output ? `${r.output}\n` : ''}Total reclaimed space: ${humanSize(r.space)}\n`);
    });
  return cmd;
}

/**
 * docker's question for `system prune`: what will go, then the label and until filters
 * given (in natural order) so the user sees what limits the removal.
 */
export function systemPruneWarning(opts: { all?: boolean; volumes?: boolean }, filters: Filters): string {
  const what = ['all stopped containers', 'all networks not used by at least one container'];
  if (opts.volumes) what.push('all anonymous volumes not used by at least one container');
  what.push(opts.all ? 'all images without at least one container associated to them' : 'all dangling images');
  what.push(opts.all ? 'all build cache' : 'unused build cache');
  let text = `WARNING! This will remove:\n${what.map((w) => `  - ${w}\n`).join('')}`;
  const shown = ['label', 'label!', 'until'].flatMap((k) => (filters[k] ?? []).map((v) => `${k}=${v}`)).sort(naturalCompare);
  if (shown.length) text += `\n  Items to be pruned will be filtered with:\n${shown.map((s) => `  - ${s}\n`).join('')}`;
  return `${text}\nAre you sure you want to continue?`;
}

/**
 * `berth system prune [-a] [-f] [--volumes] [--filter …]`: containers, networks, volumes
 * (when asked), images and build cache in docker's order, each block as its own prune prints it.
 */
export function systemPruneCommand(ctx: CliContext): Command {
  const cmd: Command = newCommand('prune', 'Remove unused data')
    .argument('[args...]')
    .option('-f, --force', 'Do not prompt for confirmation')
    .option('-a, --all', 'Remove all unused images not just dangling ones')
    .option('--volumes', 'Prune anonymous volumes')
    .option('--filter <filter>', 'Provide filter values (e.g. "label=<key>=<value>")', collect, [])
    .action(async (args: string[], f: { force?: boolean; all?: boolean; volumes?: boolean; filter: string[] }) => {
      requireNoArgs(cmd, args);
      const filters = filterFlags(f.filter, cmd);
      // The daemon cannot date a volume, so docker refuses rather than prune volumes regardless of age.
      if (f.volumes && filters['until']) throw new ExitError(1, 'ERROR: The "until" filter is not supported with "--volumes"');
      if (!f.force && !(await confirm(ctx, systemPruneWarning(f, filters)))) return;
      const steps: (() => Promise<PruneResult>)[] = [() => pruneContainers(ctx, filters), () => pruneNetworks(ctx, filters)];
      if (f.volumes) steps.push(() => pruneVolumes(ctx, filters));
      steps.push(() => pruneImages(ctx, filters, f.all), () => pruneBuildCache(ctx, filters, f.all));
      let space = 0;
      for (const step of steps) {
        const r = await step();
        space += r.space;
        if (r.output) ctx.out(`${r.output}\n`);
      }
      ctx.out(`Total reclaimed space: ${humanSize(space)}\n`);
    });
  return cmd;
}
