import { Command, CommanderError } from 'commander';
import { ClientError } from '../client';
import { CliContext, ExitError } from './context';
import { compileTemplate, TemplateError, type Template, type TemplateOptions } from './format/template';

/**
 * A subcommand with docker's conventions: `--help` only (`-h` is free for
 * `--hostname`), errors thrown rather than exiting, and output through our streams.
 */
export function newCommand(name: string, description: string): Command {
  return new Command(name)
    .description(description)
    .helpOption('--help', 'Print usage')
    .exitOverride()
    .configureOutput({ outputError: () => undefined });
}

/** Docker's wording when a command is given too few arguments (exit 1). */
export function requireArgs(cmd: Command, args: unknown[], min: number): void {
  if (args.length >= min) return;
  const path = commandPath(cmd);
  throw new ExitError(1, `berth: '${path}' requires at least ${min} argument${min === 1 ? '' : 's'}${usageBlock(cmd, 'See', false)}`);
}

export function requireExactArgs(cmd: Command, args: unknown[], n: number): void {
  if (args.length === n) return;
  const path = commandPath(cmd);
  throw new ExitError(1, `berth: '${path}' requires ${n} argument${n === 1 ? '' : 's'}${usageBlock(cmd, 'Run', true)}`);
}

export function requireMaxArgs(cmd: Command, args: unknown[], max: number): void {
  if (args.length <= max) return;
  const path = commandPath(cmd);
  throw new ExitError(1, `berth: '${path}' requires at most ${max} argument${max === 1 ? '' : 's'}${usageBlock(cmd, 'Run', true)}`);
}

/** Docker's wording for a command that takes between `min` and `max` arguments (exit 1). */
export function requireRangeArgs(cmd: Command, args: unknown[], min: number, max: number): void {
  if (args.length >= min && args.length <= max) return;
  const path = commandPath(cmd);
  throw new ExitError(1, `berth: '${path}' requires at least ${min} and at most ${max} argument${max === 1 ? '' : 's'}${usageBlock(cmd, 'Run', true)}`);
}

/**
 * Docker's wording for arguments given to a command that takes none (`prune`). Such a
 * command declares a catch-all argument only to reach this check, so its usage line
 * leaves it out.
 */
export function requireNoArgs(cmd: Command, args: unknown[]): void {
  if (args.length === 0) return;
  const path = commandPath(cmd);
  throw new ExitError(1, `berth: '${path}' accepts no arguments${optionsOnlyUsage(cmd)}`);
}

/** The usage lines of a command that takes options and no arguments (`berth container prune [OPTIONS]`). */
export function optionsOnlyUsage(cmd: Command): string {
  const path = commandPath(cmd);
  return `\n\nUsage:  ${cmd.options.length > 0 ? `${path} [OPTIONS]` : path}\n\nRun '${path} --help' for more information`;
}

/**
 * The lines docker prints after a usage error: `Usage:  berth logs [OPTIONS] CONTAINER` and
 * where to get help. Arguments are described by their docker names (`CONTAINER`); a repeatable
 * one reads `CONTAINER [CONTAINER...]` unless the command takes an exact count.
 */
export function usageBlock(cmd: Command, lead: 'Run' | 'See', exact = false): string {
  const path = commandPath(cmd);
  const parts: string[] = [];
  // A command group reads `berth image`; the root `berth [OPTIONS] COMMAND`.
  if (cmd.commands.length > 0) return `\n\nUsage:  ${path}${cmd.parent ? '' : ' [OPTIONS] COMMAND [ARG...]'}\n\n${lead} '${path} --help' for more information`;
  if (cmd.options.length > 0) parts.push('[OPTIONS]');
  for (const a of cmd.registeredArguments) {
    const desc = a.description || a.name().toUpperCase();
    parts.push(a.variadic && !exact && /^[A-Z_|]+$/.test(desc) ? `${desc} [${desc}...]` : desc);
  }
  return `\n\nUsage:  ${[path, ...parts].join(' ')}\n\n${lead} '${path} --help' for more information`;
}

export function commandPath(cmd: Command): string {
  const names: string[] = [];
  for (let c: Command | null = cmd; c; c = c.parent) names.unshift(c.name());
  return names.join(' ');
}

/** The line docker prints for a failed API call. */
export function daemonErrorText(err: unknown): string {
  if (err instanceof ClientError) return `Error response from daemon: ${err.message}`;
  return err instanceof Error ? err.message : String(err);
}

export function isCommanderError(err: unknown): err is CommanderError {
  return err instanceof CommanderError;
}

/** A whole-number flag value, or a docker-worded error. */
export function intFlag(value: string | undefined, flag: string, cmd?: Command): number | undefined {
  if (value === undefined) return undefined;
  if (!/^-?\d+$/.test(value.trim())) throw new ExitError(125, `invalid argument "${value}" for "${flag}" flag: strconv.ParseInt: parsing "${value}": invalid syntax${cmd ? usageBlock(cmd, 'Run') : ''}`);
  return Number(value);
}

/**
 * Runs `fn` for every argument, printing each failure as docker does and
 * continuing; ends with exit 1 if any failed.
 */
export async function forEachArg(args: string[], fn: (arg: string) => Promise<void>): Promise<void> {
  const errors: string[] = [];
  for (const a of args) {
    try {
      await fn(a);
    } catch (e) {
      errors.push(daemonErrorText(e));
    }
  }
  if (errors.length) throw new ExitError(1, errors.join('\n'));
}

/** A --format of inspect, version or info, parsed first: one that does not parse exits 64, in docker's words. */
export function parseOwnTemplate(format: string, o: TemplateOptions): Template {
  try {
    return compileTemplate(format, o);
  } catch (err) {
    if (err instanceof TemplateError) throw new ExitError(64, `template parsing error: ${err.message}`);
    throw err;
  }
}

/** Runs it as docker does: the output and a newline whatever happens, then the error as it is (exit 1). */
export function runOwnTemplate(ctx: CliContext, tmpl: Template, data: unknown): void {
  let out = '';
  let failure: TemplateError | undefined;
  try {
    out = tmpl.execute(data);
  } catch (err) {
    if (!(err instanceof TemplateError)) throw err;
    failure = err;
  }
  ctx.out(`${out}\n`);
  if (failure) throw new ExitError(1, failure.message);
}
