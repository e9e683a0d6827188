import { Command } from 'commander';
import { ClientError } from '../../client';
import { CliContext, ExitError } from '../context';
import { newCommand, requireArgs, daemonErrorText, parseOwnTemplate } from '../command';
import { TemplateError, type Template, type TemplateOptions } from '../format/template';

/**
 * An inspect --format parsed before anything is looked up, as docker does: undefined for the
 * indented JSON array (no format), `json` for the compact one; a template that does not parse exits 64.
 */
function parseFormat(format: string | undefined, o: TemplateOptions = {}): Template | 'json' | undefined {
  if (!format) return undefined;
  return format === 'json' ? 'json' : parseOwnTemplate(format, o);
}

/** One name's lookup: what was found, or the error docker prints for it. */
type Looked = { found: unknown } | { error: string };

/**
 * Prints what docker prints for the names looked up: the JSON array, or a template line for
 * each object it could render (one empty line when none); then every error, in the names'
 * order (a lookup's or the template's), and exit 1 if there was one.
 */
function printInspected(ctx: CliContext, looked: Looked[], format: Template | 'json' | undefined): void {
  const found = looked.flatMap((l) => ('found' in l ? [l.found] : []));
  const errors: string[] = [];
  if (!format) ctx.out(JSON.stringify(found, null, 4) + '\n');
  else if (format === 'json') ctx.out(`[${found.map((o) => JSON.stringify(o)).join(',')}]\n`);
  else {
    const lines: string[] = [];
    for (const l of looked) {
      if (!('found' in l)) {
        errors.push(l.error);
        continue;
      }
      try {
        lines.push(format.execute(l.found) + '\n');
      } catch (err) {
        if (!(err instanceof TemplateError)) throw err;
        errors.push(`template parsing error: ${err.message}`);
      }
    }
    ctx.out(lines.length ? lines.join('') : '\n');
  }
  if (!format || format === 'json') for (const l of looked) if ('error' in l) errors.push(l.error);
  if (errors.length) throw new ExitError(1, errors.join('\n'));
}

/**
 * `docker volume inspect`, `docker network inspect`: each name fetched from `pathOf(name)`,
 * what was found printed, a 404 reported in the daemon's words (exit 1 at the end).
 */
export async function inspectEach(ctx: CliContext, names: string[], pathOf: (name: string) => string, format?: string, o: TemplateOptions = {}): Promise<void> {
  const tmpl = parseFormat(format, o);
  const looked: Looked[] = [];
  for (const n of names) {
    try {
      looked.push({ found: await ctx.client.transport.json('GET', pathOf(n)) });
    } catch (e) {
      if (!(e instanceof ClientError && e.status === 404)) throw e;
      looked.push({ error: daemonErrorText(e) });
    }
  }
  printInspected(ctx, looked, tmpl);
}

/** Every kind of object docker's `inspect --type` names, in docker's order. */
const KINDS = ['config', 'container', 'image', 'network', 'node', 'plugin', 'secret', 'service', 'task', 'volume'] as const;
export type Kind = (typeof KINDS)[number];

const enc = encodeURIComponent;

/** Where each kind is read, and which kinds only a swarm manager has. */
const LOOKUP: Record<Kind, { path: (name: string, size?: boolean) => string; swarm?: boolean }> = {
  container: { path: (n, size) => `/containers/${enc(n)}/json${size ? '?size=1' : ''}` },
  image: { path: (n) => `/images/${enc(n)}/json` },
  network: { path: (n) => `/networks/${enc(n)}` },
  volume: { path: (n) => `/volumes/${enc(n)}` },
  service: { path: (n) => `/services/${enc(n)}?insertDefaults=1`, swarm: true },
  task: { path: (n) => `/tasks/${enc(n)}`, swarm: true },
  node: { path: (n) => `/nodes/${enc(n)}`, swarm: true },
  plugin: { path: (n) => `/plugins/${enc(n)}/json` },
  secret: { path: (n) => `/secrets/${enc(n)}`, swarm: true },
  config: { path: (n) => `/configs/${enc(n)}`, swarm: true },
};

/** The order docker tries kinds in when no `--type` is given. */
const AUTODETECT: Kind[] = ['container', 'image', 'network', 'volume', 'service', 'task', 'node', 'plugin', 'secret', 'config'];

/** An answer that means "not this kind, try the next" when docker guesses the kind. */
function skippable(e: unknown): boolean {
  if (!(e instanceof ClientError)) return false;
  return e.status === 404 || e.message.includes('not supported') || e.message.includes('invalid reference format');
}

/** The `--type` value checked as docker checks it (exit 1 with its words). */
export function parseKind(value: string | undefined): Kind | undefined {
  if (value === undefined) return undefined;
  const all = `"${KINDS.join('", "')}"`;
  if (value === '') throw new ExitError(1, `type is empty: must be one of ${all}`);
  if (!(KINDS as readonly string[]).includes(value)) throw new ExitError(1, `unknown type: ${JSON.stringify(value)}: must be one of ${all}`);
  return value as Kind;
}

/**
 * Looks one name up: as `kind` only, or (no kind) as each kind in docker's order, skipping
 * swarm kinds when this daemon is no swarm manager. Throws the error docker would print.
 */
async function lookup(ctx: CliContext, name: string, kind: Kind | undefined, size: boolean | undefined): Promise<unknown> {
  let manager: boolean | undefined;
  for (const k of kind ? [kind] : AUTODETECT) {
    const how = LOOKUP[k];
    if (!kind && how.swarm) {
      manager ??= await swarmManager(ctx);
      if (!manager) continue;
    }
    try {
      const found = await ctx.client.transport.json('GET', how.path(name, size && k === 'container'));
      if (size && k !== 'container') ctx.err(`WARNING: --size ignored for ${k}\n`);
      return found;
    } catch (e) {
      if (!kind && skippable(e)) continue;
      throw e;
    }
  }
  throw new Error(`Error: No such object: ${name}`);
}

/** Whether the daemon manages a swarm; when it cannot say, docker prints why and assumes not. */
async function swarmManager(ctx: CliContext): Promise<boolean> {
  try {
    const info = await ctx.client.info();
    return !!(info as { Swarm?: { ControlAvailable?: boolean } }).Swarm?.ControlAvailable;
  } catch (e) {
    ctx.err(`${daemonErrorText(e)}\n`);
    return false;
  }
}

/**
 * Inspects each name (as `kind`, or whatever kind it turns out to be), prints what was
 * found and then every failure; exit 1 if anything failed.
 */
export async function inspectObjects(ctx: CliContext, names: string[], kind: Kind | undefined, opts: { format?: string; size?: boolean }): Promise<void> {
  const tmpl = parseFormat(opts.format);
  const looked: Looked[] = [];
  for (const n of names) {
    try {
      looked.push({ found: await lookup(ctx, n, kind, opts.size) });
    } catch (e) {
      looked.push({ error: daemonErrorText(e) });
    }
  }
  printInspected(ctx, looked, tmpl);
}

export function inspectCommand(ctx: CliContext, name = 'inspect'): Command {
  const cmd: Command = newCommand(name, 'Return low-level information on Berth objects')
    .argument('[names...]', 'NAME|ID')
    .option('-f, --format <string>', 'Format output using a custom template')
    .option('-s, --size', 'Display total file sizes if the type is container')
    .option('--type <string>', 'Only inspect objects of the given type')
    .action(async (names: string[], opts: { format?: string; size?: boolean; type?: string }) => {
      requireArgs(cmd, names, 1);
      await inspectObjects(ctx, names, parseKind(opts.type), opts);
    });
  return cmd;
}

export function imageInspectCommand(ctx: CliContext, name = 'inspect'): Command {
  const cmd: Command = newCommand(name, 'Display detailed information on one or more images')
    .argument('[images...]', 'IMAGE')
    .option('-f, --format <string>', 'Format output using a custom template')
    .action(async (names: string[], opts: { format?: string }) => {
      requireArgs(cmd, names, 1);
      await inspectObjects(ctx, names, 'image', opts);
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
      await inspectObjects(ctx, names, 'container', opts);
    });
  return cmd;
}
