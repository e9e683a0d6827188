import { closeSync, openSync, readFileSync } from 'node:fs';
import { Command, Option } from 'commander';
import { ClientError } from '../client';
import { CliContext, ExitError } from './context';
import { ContainerFlags, FlagError, buildCreateRequest, collect } from './container-options';
import { commandPath, usageBlock } from './command';
import { familiarString, parseReference, withDefaultTag, type Reference } from '../common';
import { pullReference } from './commands/pull';
import { goFsError } from './cp-archive';

/** The flags `run` and `create` share, with docker's names. */
export function addContainerFlags(cmd: Command): Command {
  cmd
    .option('-a, --attach <stream>', 'Attach to STDIN, STDOUT or STDERR', collect, [])
    .option('--cap-add <cap>', 'Add Linux capabilities', collect, [])
    .option('--cap-drop <cap>', 'Drop Linux capabilities', collect, [])
    .option('--cpus <decimal>', 'Number of CPUs')
    .option('--entrypoint <string>', 'Overwrite the default ENTRYPOINT of the image')
    .option('-e, --env <list>', 'Set environment variables', collect, [])
    .option('--env-file <list>', 'Read in a file of environment variables', collect, [])
    .option('--expose <list>', 'Expose a port or a range of ports', collect, [])
    .option('-h, --hostname <string>', 'Container host name')
    .option('--init', 'Run an init inside the container that forwards signals and reaps processes')
    .option('-i, --interactive', 'Keep STDIN open even if not attached')
    .option('-l, --label <list>', 'Set meta data on a container', collect, [])
    .option('-m, --memory <bytes>', 'Memory limit')
    .option('--name <string>', 'Assign a name to the container')
    .option('--network <network>', 'Connect a container to a network')
    .addOption(new Option('--net <network>').hideHelp())
    .option('--network-alias <list>', 'Add network-scoped alias for the container', collect, [])
    .addOption(new Option('--net-alias <list>').hideHelp().argParser(collect).default([]))
    .option('--ip <string>', 'IPv4 address (e.g., 172.30.100.104)')
    .option('--ip6 <string>', 'IPv6 address (e.g., 2001:db8::33)')
    .option('--link-local-ip <list>', 'Container IPv4/IPv6 link-local addresses', collect, [])
    .option('--mac-address <string>', 'Container MAC address (e.g., 92:d0:c6:0a:29:33)')
    .option('--link <list>', 'Add link to another container', collect, [])
    .option('--dns <list>', 'Set custom DNS servers', collect, [])
    .option('--dns-option <list>', 'Set DNS options', collect, [])
    .option('--dns-search <list>', 'Set custom DNS search domains', collect, [])
    .option('--domainname <string>', 'Container NIS domain name')
    .option('--add-host <list>', 'Add a custom host-to-IP mapping (host:ip)', collect, [])
    .option('-P, --publish-all', 'Publish all exposed ports to random ports')
    .option('--log-driver <string>', 'Logging driver for the container')
    .option('--log-opt <list>', 'Log driver options', collect, [])
    .option('--volumes-from <list>', 'Mount volumes from the specified container(s)', collect, [])
    .option('--volume-driver <string>', 'Optional volume driver for the container')
    .option('--runtime <string>', 'Runtime to use for this container')
    .option('--cgroup-parent <string>', 'Optional parent cgroup for the container')
    .option('--storage-opt <list>', 'Storage driver options for the container', collect, [])
    .option('--annotation <map>', 'Add an annotation to the container (passed through to the OCI runtime)', collect, [])
    .option('--platform <string>', 'Set platform if server is multi-platform capable')
    .option('--pull <string>', 'Pull image before creating ("always", "missing", "never")', 'missing')
    .option('-q, --quiet', 'Suppress the pull output')
    .option('--privileged', 'Give extended privileges to this container')
    .option('-p, --publish <list>', "Publish a container's port(s) to the host", collect, [])
    .option('--read-only', "Mount the container's root filesystem as read only")
    .option('--restart <string>', 'Restart policy to apply when a container exits')
    .option('--rm', 'Automatically remove the container and its associated anonymous volumes when it exits')
    .option('--stop-signal <string>', 'Signal to stop the container')
    .option('--stop-timeout <int>', 'Timeout (in seconds) to stop a container')
    .option('--health-cmd <string>', 'Command to run to check health')
    .option('--health-interval <duration>', 'Time between running the check (ms|s|m|h) (default 0s)')
    .option('--health-timeout <duration>', 'Maximum time to allow one check to run (ms|s|m|h) (default 0s)')
    .option('--health-retries <int>', 'Consecutive failures needed to report unhealthy')
    .option('--health-start-period <duration>', 'Start period for the container to initialize before starting health-retries countdown (ms|s|m|h) (default 0s)')
    .option('--health-start-interval <duration>', 'Time between running the check during the start period (ms|s|m|h) (default 0s)')
    .option('--no-healthcheck', 'Disable any container-specified HEALTHCHECK')
    .option('-t, --tty', 'Allocate a pseudo-TTY')
    .option('-u, --user <string>', 'Username or UID (format: <name|uid>[:<group|gid>])')
    .option('-v, --volume <list>', 'Bind mount a volume', collect, [])
    .option('--mount <mount>', 'Attach a filesystem mount to the container', collect, [])
    .option('--tmpfs <list>', 'Mount a tmpfs directory', collect, [])
    .option('-w, --workdir <string>', 'Working directory inside the container');
  return addIsolationFlags(cmd);
}

/** Namespaces, cgroup limits and security: docker's names and help texts. */
function addIsolationFlags(cmd: Command): Command {
  return cmd
    .option('--pid <string>', 'PID namespace to use')
    .option('--ipc <string>', 'IPC mode to use')
    .option('--uts <string>', 'UTS namespace to use')
    .option('--userns <string>', 'User namespace to use')
    .option('--cgroupns <string>', 'Cgroup namespace to use (host|private)')
    .option('--memory-reservation <bytes>', 'Memory soft limit')
    .option('--memory-swap <bytes>', "Swap limit equal to memory plus swap: '-1' to enable unlimited swap")
    .option('--memory-swappiness <int>', 'Tune container memory swappiness (0 to 100)')
    .option('--oom-kill-disable', 'Disable OOM Killer')
    .option('--oom-score-adj <int>', "Tune host's OOM preferences (-1000 to 1000)")
    .option('-c, --cpu-shares <int>', 'CPU shares (relative weight)')
    .option('--cpu-period <int>', 'Limit CPU CFS (Completely Fair Scheduler) period')
    .option('--cpu-quota <int>', 'Limit CPU CFS (Completely Fair Scheduler) quota')
    .option('--cpuset-cpus <string>', 'CPUs in which to allow execution (0-3, 0,1)')
    .option('--cpuset-mems <string>', 'MEMs in which to allow execution (0-3, 0,1)')
    .option('--blkio-weight <uint16>', 'Block IO (relative weight), between 10 and 1000, or 0 to disable')
    .option('--blkio-weight-device <list>', 'Block IO weight (relative device weight)', collect, [])
    .option('--device-read-bps <list>', 'Limit read rate (bytes per second) from a device', collect, [])
    .option('--device-write-bps <list>', 'Limit write rate (bytes per second) to a device', collect, [])
    .option('--device-read-iops <list>', 'Limit read rate (IO per second) from a device', collect, [])
    .option('--device-write-iops <list>', 'Limit write rate (IO per second) to a device', collect, [])
    .option('--pids-limit <int>', 'Tune container pids limit (set -1 for unlimited)')
    .option('--device <list>', 'Add a host device to the container', collect, [])
    .option('--device-cgroup-rule <list>', 'Add a rule to the cgroup allowed devices list', collect, [])
    .option('--security-opt <list>', 'Security Options', collect, [])
    .option('--sysctl <map>', 'Sysctl options', collect, [])
    .option('--ulimit <ulimit>', 'Ulimit options', collect, [])
    .option('--group-add <list>', 'Add additional groups to join', collect, [])
    .option('--shm-size <bytes>', 'Size of /dev/shm');
}

/**
 * `--security-opt seccomp=FILE`: docker sends the profile's content, compacted, not the
 * path (`unconfined` stays as it is).
 */
export function readSecurityOpts(opts: string[]): string[] {
  return opts.map((o) => {
    const m = /^seccomp[=:](.*)$/s.exec(o);
    if (!m || m[1] === 'unconfined') return o;
    let text: string;
    try {
      text = readFileSync(m[1] as string, 'utf8');
    } catch (e) {
      throw new Error(`opening seccomp profile (${m[1]}) failed: ${(e as Error).message}`);
    }
    try {
      return `seccomp=${JSON.stringify(JSON.parse(text))}`;
    } catch (e) {
      throw new Error(`compacting json for seccomp profile (${m[1]}) failed: ${(e as Error).message}`);
    }
  });
}

/** An env file's text; failures in Go's words as the docker CLI shows them (opening: bare; reading: "invalid env file"). */
export function readEnvFile(path: string): string {
  let fd: number;
  try {
    fd = openSync(path, 'r');
  } catch (e) {
    throw goFsError(e);
  }
  try {
    return readFileSync(fd, 'utf8');
  } catch (e) {
    // A read through a descriptor names no path: give it the file's, as Go's error has it.
    throw new Error(`invalid env file (${path}): ${goFsError(Object.assign(e as object, { path })).message}`);
  } finally {
    closeSync(fd);
  }
}

/** docker's `reportError`: `berth: <msg>` plus a pointer to the help. */
export function reportText(cmd: Command, message: string, withHelp = true): string {
  const path = commandPath(cmd);
  let text = `${path.split(' ')[0]}: ${message}`;
  if (withHelp) text += `\n\nRun '${path} --help' for more information`;
  return text;
}

/**
 * Builds the create body and creates the container, as docker's createContainer:
 * `--pull always` pulls first; with `missing` (the default) a 404 for the image prints
 * `Unable to find image 'X' locally`, pulls with progress on stderr and creates again;
 * with `never` the 404 is the error. Flag errors end with 125. Daemon errors are thrown as they are.
 */
export async function createFromFlags(ctx: CliContext, cmd: Command, image: string, args: string[], f: ContainerFlags): Promise<string> {
  const pull = f.pull ?? 'missing';
  if (!['always', 'missing', 'never', ''].includes(pull)) {
    throw new ExitError(125, reportText(cmd, `invalid pull option: '${pull}': must be one of "always", "missing" or "never"`));
  }
  let body;
  try {
    const envFiles = (f.envFile ?? []).map((path) => ({ path, text: readEnvFile(path) }));
    const securityOpt = readSecurityOpts(f.securityOpt ?? []);
    body = buildCreateRequest(image, args, { ...f, securityOpt }, ctx.io.env, envFiles);
  } catch (e) {
    if (e instanceof FlagError) throw new ExitError(125, `${e.message}${usageBlock(cmd, 'Run')}`);
    throw new ExitError(125, reportText(cmd, (e as Error).message));
  }
  // Only a name can be pulled; an image ID (or a prefix of one) never is.
  let ref: Reference | undefined;
  try {
    ref = withDefaultTag(parseReference(image));
  } catch {
    ref = undefined;
  }
  const pullIt = (r: Reference) => pullReference(ctx, r, { platform: f.platform, out: f.quiet ? undefined : ctx.io.stderr });
  if (pull === 'always' && ref) await pullIt(ref);
  const create = () => ctx.client.containerCreate(body, { name: f.name, platform: f.platform });
  let res;
  try {
    res = await create();
  } catch (e) {
    if (!(e instanceof ClientError && e.status === 404 && /image/i.test(e.message))) throw e;
    if (!ref || pull !== 'missing') throw e;
    if (!f.quiet) ctx.err(`Unable to find image '${familiarString(ref)}' locally\n`);
    await pullIt(ref);
    res = await create();
  }
  for (const w of res.Warnings ?? []) ctx.err(`WARNING: ${w}\n`);
  return res.Id;
}
