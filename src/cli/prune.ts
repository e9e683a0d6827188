import type { Command } from 'commander';
import { encodeFilters, type Filters } from '../client';
import { optionsOnlyUsage, usageBlock } from './command';
import { CliContext, ExitError } from './context';
import { parseFilters } from './container-options';

/**
 * The pieces every `… prune` command shares: docker's confirmation question, the
 * `--filter` values, and one function per kind of object that asks the daemon to
 * prune it and returns the lines docker prints (so `system prune` can chain them).
 */

/** What one prune call freed and the block of text docker prints for it ('' when nothing went). */
export interface PruneResult {
  space: number;
  output: string;
}

/**
 * Prints `question [y/N] ` on stdout and reads one line from stdin, as docker does
 * whether or not stdin is a terminal; only `y` or `Y` agrees, end of input declines.
 */
export async function confirm(ctx: CliContext, question: string): Promise<boolean> {
  ctx.out(`${question} [y/N] `);
  const line = await new Promise<string>((resolve) => {
    let got = '';
    const stdin = ctx.io.stdin;
    const onData = (c: Buffer | string) => {
      got += c.toString();
      if (got.includes('\n')) finish();
    };
    const finish = () => {
      stdin.off('data', onData);
      stdin.off('end', finish);
      stdin.pause();
      resolve(got.split('\n')[0]!.trim());
    };
    stdin.on('data', onData);
    stdin.once('end', finish);
    stdin.resume();
  });
  return line.toLowerCase() === 'y';
}

/**
 * `--filter k=v` flag values as the daemon's filter map. A malformed one is a flag error
 * as docker reports it (exit 125, the usage of `cmd`); `flag` is how the flag is shown.
 */
export function filterFlags(entries: string[] | undefined, cmd: Command, flag = '--filter'): Filters {
  for (const e of entries ?? []) {
    try {
      parseFilters([e]);
    } catch (err) {
      throw new ExitError(125, `invalid argument ${JSON.stringify(e)} for ${JSON.stringify(flag)} flag: ${(err as Error).message}${cmd.registeredArguments.some((a) => a.description) ? usageBlock(cmd, 'Run') : optionsOnlyUsage(cmd)}`);
    }
  }
  return parseFilters(entries ?? []);
}

/** A copy of `filters`, so one prune never sees keys another added (`dangling`, `all`). */
function copyFilters(filters: Filters): Filters {
  return Object.fromEntries(Object.entries(filters).map(([k, v]) => [k, [...v]]));
}

function post<T>(ctx: CliContext, path: string, filters: Filters, extra: Record<string, boolean | undefined> = {}): Promise<T> {
  return ctx.client.transport.json<T>('POST', path, { query: { ...extra, filters: encodeFilters(filters) } });
}

/** `Deleted Containers:` and the ids; docker counts the space only when something went. */
export async function pruneContainers(ctx: CliContext, filters: Filters): Promise<PruneResult> {
  const r = await post<{ ContainersDeleted: string[] | null; SpaceReclaimed: number }>(ctx, '/containers/prune', filters);
  if (!r.ContainersDeleted?.length) return { space: 0, output: '' };
  return { space: r.SpaceReclaimed ?? 0, output: `Deleted Containers:\n${r.ContainersDeleted.join('\n')}\n` };
}

export async function pruneNetworks(ctx: CliContext, filters: Filters): Promise<PruneResult> {
  const r = await post<{ NetworksDeleted: string[] | null }>(ctx, '/networks/prune', filters);
  return { space: 0, output: r.NetworksDeleted?.length ? `Deleted Networks:\n${r.NetworksDeleted.join('\n')}\n` : '' };
}

/** Anonymous volumes only, unless `all` (named ones too). */
export async function pruneVolumes(ctx: CliContext, filters: Filters, all = false): Promise<PruneResult> {
  const f = copyFilters(filters);
  if (all) {
    if (f['all']) throw new ExitError(125, 'conflicting options: cannot specify both --all and --filter all=1');
    f['all'] = ['true'];
  }
  const r = await post<{ VolumesDeleted: string[] | null; SpaceReclaimed: number }>(ctx, '/volumes/prune', f);
  return { space: r.SpaceReclaimed ?? 0, output: r.VolumesDeleted?.length ? `Deleted Volumes:\n${r.VolumesDeleted.join('\n')}\n` : '' };
}

/** Dangling images, or with `all` every image no container uses. */
export async function pruneImages(ctx: CliContext, filters: Filters, all = false): Promise<PruneResult> {
  const f = copyFilters(filters);
  if (all) f['dangling'] = ['false'];
  else f['dangling'] ??= ['true'];
  const r = await post<{ ImagesDeleted: { Untagged?: string; Deleted?: string }[] | null; SpaceReclaimed: number }>(ctx, '/images/prune', f);
  let output = '';
  if (r.ImagesDeleted?.length) {
    output = 'Deleted Images:\n';
    for (const d of r.ImagesDeleted) {
      if (d.Untagged) output += `untagged: ${d.Untagged}\n`;
      if (d.Deleted) output += `deleted: ${d.Deleted}\n`;
    }
  }
  return { space: r.SpaceReclaimed ?? 0, output };
}

export async function pruneBuildCache(ctx: CliContext, filters: Filters, all = false): Promise<PruneResult> {
  const r = await post<{ CachesDeleted: string[] | null; SpaceReclaimed: number }>(ctx, '/build/prune', filters, { all: all || undefined });
  return { space: r.SpaceReclaimed ?? 0, output: r.CachesDeleted?.length ? `Deleted build cache objects:\n${r.CachesDeleted.join('\n')}\n` : '' };
}
