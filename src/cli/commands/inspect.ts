import { Command } from 'commander';
import { ClientError } from '../../client';
import { CliContext, ExitError } from '../context';
import { newCommand, requireArgs, daemonErrorText } from '../command';
import { compileTemplate } from '../format/template';

/** docker's inspect output: a JSON array indented by 4 spaces, or one template line per object. */
export function renderInspect(objects: unknown[], format?: string): string {
  if (format) {
    const tmpl = compileTemplate(format);
    return objects.map((o) => tmpl.execute(o) + '\n').join('');
  }
  return JSON.stringify(objects, null, 4) + '\n';
}

/**
 * `docker volume inspect`, `docker network inspect`: each name fetched from `pathOf(name)`,
 * what was found printed, a 404 reported in the daemon's words (exit 1 at the end).
 */
export async function inspectEach(ctx: CliContext, names: string[], pathOf: (name: string) => string, format?: string): Promise<void> {
  const found: unknown[] = [];
  const errors: string[] = [];
  for (const n of names) {
    try {
      found.push(await ctx.client.transport.json('GET', pathOf(n)));
    } catch (e) {
      if (!(e instanceof ClientError && e.status === 404)) throw e;
      errors.push(daemonErrorText(e));
    }
  }
  if (found.length || !format) ctx.out(renderInspect(found, format));
  if (errors.length) throw new ExitError(1, errors.join('\n'));
}

type Kind = 'container' | 'image';

/**
 * Looks each name up as a container, then an image (or only the `--type` asked for),
 * prints what was found and reports the rest; exit 1 if anything was missing.
 */
export async function inspectObjects(ctx: CliContext, names: string[], kinds: Kind[], opts: { format?: string; size?: boolean }): Promise<void> {
  const found: unknown[] = [];
  const errors: string[] = [];
  for (const n of names) {
    let done = false;
    let lastError: unknown;
    for (const k of kinds) {
      try {
        found.push(k === 'container' ? await ctx.client.containerInspect(n, { size: opts.size }) : await ctx.client.imageInspect(n));
        done = true;
        break;
      } catch (e) {
        if (!(e instanceof ClientError && e.status === 404)) throw e;
        lastError = e;
      }
    }
    if (!done) errors.push(kinds.length > 1 ? `Error: No such object: ${n}` : daemonErrorText(lastError));
  }
  if (found.length || !opts.format) ctx.out(renderInspect(found, opts.format));
  if (errors.length) throw new ExitError(1, errors.join('\n'));
}

export function inspectCommand(ctx: CliContext, name = 'inspect'): Command {
  const cmd: Command = newCommand(name, 'Return low-level information on Berth objects')
    .argument('[names...]', 'NAME|ID')
    .option('-f, --format <string>', 'Format output using a custom template')
    .option('-s, --size', 'Display total file sizes if the type is container')
    .option('--type <string>', 'Return JSON for specified type (container, image)')
    .action(async (names: string[], opts: { format?: string; size?: boolean; type?: string }) => {
      requireArgs(cmd, names, 1);
      let kinds: Kind[] = ['container', 'image'];
      if (opts.type === 'container' || opts.type === 'image') kinds = [opts.type];
      else if (opts.type) throw new ExitError(1, `"${opts.type}" is not a valid value for --type`);
      await inspectObjects(ctx, names, kinds, opts);
    });
  return cmd;
}

export function imageInspectCommand(ctx: CliContext, name = 'inspect'): Command {
  const cmd: Command = newCommand(name, 'Display detailed information on one or more images')
    .argument('[images...]', 'IMAGE')
    .option('-f, --format <string>', 'Format output using a custom template')
    .action(async (names: string[], opts: { format?: string }) => {
      requireArgs(cmd, names, 1);
      await inspectObjects(ctx, names, ['image'], opts);
    });
  return cmd;
}

export function containerInspectCommand(ctx: CliContext, name = 'inspect'): Command {
  const cmd: Command = newCommand(name, 'Display detailed information on one or more containers')
    .argument('[containers...]', 'CONTAINER')
    .option('-f, --format <string>', 'Format output using a custom template')
    .option('-s, --size', 'Display total file sizes')
    .action(async (names: string[], opts: { format?: string; size?: boolean }) => {
      requireArgs(cmd, names, 1);
      await inspectObjects(ctx, names, ['container'], opts);
    });
  return cmd;
}
