import { Command } from 'commander';
import type { SystemInfo } from '../../wire';
import { CliContext, ExitError } from '../context';
import { newCommand, daemonErrorText, parseOwnTemplate, runOwnTemplate } from '../command';
import { bytesSize } from '../format/units';
import { CLIENT_VERSION } from './version';

/** The server half of `docker info`'s text, for the fields Berth reports. */
export function renderInfo(i: SystemInfo): string {
  const lines: string[] = ['Server:'];
  const add = (indent: number, k: string, v: unknown) => {
    if (v === undefined || v === null) return;
    lines.push(`${' '.repeat(indent)}${k}: ${v}`);
  };
  add(1, 'Containers', i.Containers ?? 0);
  add(2, 'Running', i.ContainersRunning ?? 0);
  add(2, 'Paused', i.ContainersPaused ?? 0);
  add(2, 'Stopped', i.ContainersStopped ?? 0);
  add(1, 'Images', i.Images ?? 0);
  add(1, 'Server Version', i.ServerVersion ?? '');
  add(1, 'Storage Driver', i.Driver ?? '');
  for (const [k, v] of i.DriverStatus ?? []) add(2, k, v);
  add(1, 'Logging Driver', i.LoggingDriver);
  add(1, 'Cgroup Driver', i.CgroupDriver);
  add(1, 'Cgroup Version', i.CgroupVersion);
  if (i.Plugins) {
    lines.push(' Plugins:');
    add(2, 'Volume', (i.Plugins.Volume ?? []).join(' '));
    add(2, 'Network', (i.Plugins.Network ?? []).join(' '));
    add(2, 'Log', (i.Plugins.Log ?? []).join(' '));
  }
  if (i.Runtimes) add(1, 'Runtimes', Object.keys(i.Runtimes).sort().join(' '));
  add(1, 'Default Runtime', i.DefaultRuntime);
  add(1, 'Init Binary', i.InitBinary);
  if (i.SecurityOptions?.length) {
    lines.push(' Security Options:');
    for (const o of i.SecurityOptions) lines.push(`  ${o.replace(/^name=/, '').split(',')[0]}`);
  }
  add(1, 'Kernel Version', i.KernelVersion);
  add(1, 'Operating System', i.OperatingSystem);
  add(1, 'OSType', i.OSType);
  add(1, 'Architecture', i.Architecture);
  add(1, 'CPUs', i.NCPU);
  if (i.MemTotal !== undefined) add(1, 'Total Memory', bytesSize(i.MemTotal));
  add(1, 'Name', i.Name);
  add(1, 'ID', i.ID);
  add(1, 'Docker Root Dir', i.DockerRootDir);
  add(1, 'Debug Mode', i.Debug ?? false);
  add(1, 'Experimental', i.ExperimentalBuild ?? false);
  if (i.Labels?.length) {
    lines.push(' Labels:');
    for (const l of i.Labels) lines.push(`  ${l}`);
  }
  add(1, 'Live Restore Enabled', i.LiveRestoreEnabled ?? false);
  return lines.join('\n') + '\n';
}

export function infoCommand(ctx: CliContext, name = 'info'): Command {
  return newCommand(name, 'Display system-wide information')
    .option('-f, --format <string>', 'Format output using a custom template')
    .action(async (opts: { format?: string }) => {
      const tmpl = opts.format ? parseOwnTemplate(opts.format, { struct: 'system.dockerInfo' }) : undefined;
      let info: SystemInfo | undefined;
      let error: unknown;
      try {
        info = await ctx.client.info();
      } catch (e) {
        error = e;
      }
      if (tmpl) {
        if (error) throw new ExitError(1, daemonErrorText(error));
        runOwnTemplate(ctx, tmpl, info);
        return;
      }
      ctx.out(`Client:\n Version:    ${CLIENT_VERSION}\n Context:    default\n Debug Mode: false\n\n`);
      if (error) throw new ExitError(1, daemonErrorText(error));
      ctx.out(renderInfo(info!));
      for (const w of info!.Warnings ?? []) ctx.err(`${w.startsWith('WARNING') ? '' : 'WARNING: '}${w}\n`);
    });
}
