import { Command, type CommanderError } from 'commander';
import { BerthError } from '../common';
import { ClientError, ConnectionError } from '../client';
import { CliContext, CliIO, ExitError } from './context';
import { commandPath, isCommanderError, usageBlock } from './command';
import { TemplateError } from './format/template';
import { versionCommand, CLIENT_VERSION } from './commands/version';
import { infoCommand } from './commands/info';
import { importCommand } from './commands/import';
import { loadCommand } from './commands/load';
import { buildCommand } from './commands/build';
import { saveCommand } from './commands/save';
import { historyCommand } from './commands/history';
import { searchCommand } from './commands/search';
import { imagePruneCommand } from './commands/image-prune';
import { systemDfCommand } from './commands/system-df';
import { imagesCommand } from './commands/images';
import { inspectCommand, imageInspectCommand, containerInspectCommand } from './commands/inspect';
import { tagCommand } from './commands/tag';
import { rmiCommand } from './commands/rmi';
import { runCommand } from './commands/run';
import { createCommand } from './commands/create';
import { startCommand } from './commands/start';
import { execCommand } from './commands/exec';
import { attachCommand } from './commands/attach';
import { psCommand } from './commands/ps';
import { logsCommand } from './commands/logs';
import { waitCommand } from './commands/wait';
import { stopCommand, restartCommand, killCommand } from './commands/stop';
import { rmCommand } from './commands/rm';
import { pauseCommand } from './commands/pause';
import { unpauseCommand } from './commands/unpause';
import { statsCommand } from './commands/stats';
import { topCommand } from './commands/top';
import { updateCommand } from './commands/update';
import { eventsCommand } from './commands/events';
import { volumeCommand } from './commands/volume';
import { networkCommand, portCommand } from './commands/network';
import { commitCommand } from './commands/commit';
import { diffCommand } from './commands/diff';
import { exportCommand } from './commands/export';
import { pullCommand } from './commands/pull';
import { pushCommand } from './commands/push';
import { loginCommand, logoutCommand } from './commands/login';
import { renameCommand } from './commands/rename';
import { cpCommand } from './commands/cp';
import { containerPruneCommand, systemPruneCommand } from './commands/prune';
import { requireRangeArgs } from './command';

function group(name: string, description: string): Command {
  return new Command(name)
    .description(description)
    .helpOption('--help', 'Print usage')
    .enablePositionalOptions()
    .exitOverride()
    .configureOutput({ outputError: () => undefined });
}

/** The whole `berth` command tree, docker's top-level names plus `container`/`image`/`system` groups. */
export function buildProgram(ctx: CliContext): Command {
  const program = new Command('berth')
    .description('A self-sufficient runtime for containers (Berth, Docker-compatible)')
    .usage('[OPTIONS] COMMAND')
    .helpOption('--help', 'Print usage')
    .option('-H, --host <string>', 'Daemon socket to connect to (default: $BERTH_HOST, $DOCKER_HOST, unix:///run/berth/berth.sock)')
    .option('-D, --debug', 'Enable debug mode')
    .option('-l, --log-level <string>', 'Set the logging level', 'info')
    .option('-v, --version', 'Print version information and quit')
    .enablePositionalOptions()
    .exitOverride()
    .configureOutput({
      writeOut: (s) => ctx.out(s),
      writeErr: (s) => ctx.err(s),
      outputError: () => undefined,
    });

  const top = [
    runCommand, createCommand, startCommand, psCommand, logsCommand, waitCommand, stopCommand, restartCommand, killCommand,
    rmCommand, inspectCommand, imagesCommand, importCommand, loadCommand, saveCommand, historyCommand, tagCommand, rmiCommand, versionCommand, infoCommand,
  ];
  for (const make of top) program.addCommand(make(ctx));
  program.addCommand(buildCommand(ctx));
  for (const make of [commitCommand, diffCommand, exportCommand]) program.addCommand(make(ctx));
  for (const make of [pullCommand, pushCommand, loginCommand, logoutCommand, searchCommand]) program.addCommand(make(ctx));

  const container = group('container', 'Manage containers');
  container.addCommand(psCommand(ctx, 'ls').alias('ps').alias('list'));
  for (const make of [runCommand, createCommand, startCommand, logsCommand, waitCommand, stopCommand, restartCommand, killCommand, rmCommand]) {
    container.addCommand(make(ctx));
  }
  container.addCommand(containerInspectCommand(ctx));
  container.addCommand(containerPruneCommand(ctx));
  for (const make of [commitCommand, diffCommand, exportCommand]) container.addCommand(make(ctx));
  for (const make of [statsCommand, topCommand, pauseCommand, unpauseCommand, updateCommand]) {
    program.addCommand(make(ctx));
    container.addCommand(make(ctx));
  }
  for (const make of [execCommand, attachCommand, renameCommand, cpCommand, portCommand]) {
    program.addCommand(make(ctx));
    container.addCommand(make(ctx));
  }
  program.addCommand(eventsCommand(ctx));
  program.addCommand(container);

  const image = group('image', 'Manage images');
  image.addCommand(imagesCommand(ctx, 'ls').alias('list'));
  image.addCommand(imageInspectCommand(ctx));
  image.addCommand(buildCommand(ctx));
  image.addCommand(importCommand(ctx));
  image.addCommand(loadCommand(ctx));
  image.addCommand(saveCommand(ctx));
  image.addCommand(historyCommand(ctx));
  image.addCommand(imagePruneCommand(ctx));
  image.addCommand(pullCommand(ctx));
  image.addCommand(pushCommand(ctx));
  image.addCommand(tagCommand(ctx));
  image.addCommand(rmiCommand(ctx, 'rm').alias('remove'));
  program.addCommand(image);

  const system = group('system', 'Manage Berth');
  system.addCommand(infoCommand(ctx));
  system.addCommand(eventsCommand(ctx));
  system.addCommand(systemDfCommand(ctx));
  system.addCommand(systemPruneCommand(ctx));
  program.addCommand(system);
  program.addCommand(volumeCommand(ctx));
  program.addCommand(networkCommand(ctx));
  // docker words a wrong argument count for `port` as a range (1 to 2), before the command runs.
  for (const port of [program, container].map((c) => c.commands.find((s) => s.name() === 'port')!)) {
    port.hook('preAction', (_cmd, action) => requireRangeArgs(action, action.args, 1, 2));
  }

  // help and version output must go through our streams in every subcommand too
  const wire = (c: Command) => {
    c.configureOutput({ writeOut: (s) => ctx.out(s), writeErr: (s) => ctx.err(s), outputError: () => undefined });
    c.exitOverride((err) => {
      throw Object.assign(err, { command: c });
    });
    c.commands.forEach(wire);
  };
  program.commands.forEach(wire);
  program.exitOverride((err) => {
    throw Object.assign(err, { command: program });
  });
  return program;
}

/** The text and exit code for whatever a command threw, as docker reports it. */
export function describeFailure(err: unknown): { text: string; code: number } {
  if (err instanceof ExitError) return { text: err.message, code: err.code };
  if (isCommanderError(err)) {
    if (err.code === 'commander.helpDisplayed' || err.code === 'commander.help' || err.code === 'commander.version') return { text: '', code: 0 };
    const msg = err.message.replace(/^error: /, '');
    // wire() below tags each error with the command that raised it, for docker's usage lines.
    const cmd = (err as CommanderError & { command?: Command }).command;
    if (err.code === 'commander.unknownCommand') {
      const name = /unknown command '([^']*)'/.exec(msg)?.[1] ?? '';
      const path = cmd ? commandPath(cmd) : 'berth';
      return { text: `berth: unknown command: ${path} ${name}${cmd?.parent ? usageBlock(cmd, 'Run') : `\n\nRun '${path} --help' for more information`}`, code: 1 };
    }
    if (err.code === 'commander.unknownOption' || err.code === 'commander.optionMissingArgument' || err.code === 'commander.invalidArgument') {
      let text = msg.split('\n')[0]!;
      const unknown = /^unknown option '(--?)([^']*)'/.exec(text);
      if (unknown) text = unknown[1] === '--' ? `unknown flag: --${unknown[2]}` : `unknown shorthand flag: '${unknown[2]![0]}' in -${unknown[2]}`;
      const missing = /^option '(?:-\w, )?(--[\w-]+)[^']*' argument missing/.exec(text);
      if (missing) text = `flag needs an argument: ${missing[1]}`;
      return { text: cmd ? `${text}${usageBlock(cmd, 'Run')}` : `${text}\nSee 'berth --help'.`, code: 125 };
    }
    return { text: msg, code: 1 };
  }
  if (err instanceof ClientError) return { text: `Error response from daemon: ${err.message}`, code: 1 };
  if (err instanceof ConnectionError) return { text: err.message, code: 1 };
  if (err instanceof TemplateError) return { text: `template parsing error: ${err.message}`, code: 1 };
  if (err instanceof BerthError || err instanceof Error) return { text: err.message, code: 1 };
  return { text: String(err), code: 1 };
}

/**
 * Go's spelling of a boolean flag's value (`--rm=false`, `--sig-proxy=false`, `-d=true`),
 * which the docker CLI takes and commander does not: rewritten to the flag alone, its `--no-`
 * form, or nothing (a false flag whose default is false). Only the options of the command
 * itself are looked at: the rewriting stops at its first argument (an image, a container),
 * so a container's own command line is never touched.
 */
export function goBoolFlags(program: Command, argv: string[]): string[] {
  const out: string[] = [];
  let cmd = program;
  let i = 0;
  for (; i < argv.length; i++) {
    const a = argv[i]!;
    if (a === '--') break;
    if (!a.startsWith('-')) {
      const sub = cmd.commands.find((c) => c.name() === a || c.aliases().includes(a));
      if (!sub) break;
      cmd = sub;
      out.push(a);
      continue;
    }
    const m = /^(--?[A-Za-z0-9][\w-]*)=(true|false|1|0|t|f|TRUE|FALSE|True|False|T|F)$/.exec(a);
    const opt = m ? cmd.options.find((o) => o.long === m[1] || o.short === m[1]) : undefined;
    const negated = m ? cmd.options.find((o) => o.long === `--no-${m[1]!.replace(/^--/, '')}`) : undefined;
    if (!m || (opt && (opt.required || opt.optional)) || (!opt && !negated)) {
      out.push(a);
      // An option that takes a value consumes the next argument as it.
      const takesValue = cmd.options.find((o) => (o.long === a || o.short === a) && (o.required || o.optional));
      if (takesValue && i + 1 < argv.length) out.push(argv[++i]!);
      continue;
    }
    const on = /^(true|1|t)$/i.test(m[2]!);
    if (opt) {
      // `--no-healthcheck=true` is that flag; `--rm=false` is no flag at all.
      if (on) out.push(opt.long ?? opt.short!);
      else if (!opt.negate && negated) out.push(negated.long!);
    } else if (!on) {
      out.push(negated!.long!);
    }
  }
  return [...out, ...argv.slice(i)];
}

/** Runs one CLI invocation; resolves with the exit code (output already written). */
export async function runCli(argv: string[], io: CliIO): Promise<number> {
  let program: Command | undefined;
  const ctx = new CliContext(io, () => program?.opts<{ host?: string }>().host);
  program = buildProgram(ctx);
  if (argv.length === 0) {
    ctx.out(program.helpInformation());
    return 0;
  }
  if (argv[0] === '-v' || argv[0] === '--version') {
    ctx.out(`Berth version ${CLIENT_VERSION}, build node ${process.version}\n`);
    return 0;
  }
  try {
    await program.parseAsync(goBoolFlags(program, argv), { from: 'user' });
    return 0;
  } catch (e) {
    const { text, code } = describeFailure(e);
    if (text) ctx.err(text.endsWith('\n') ? text : `${text}\n`);
    return code;
  }
}
