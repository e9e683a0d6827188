/**
 * From a container's record (Docker's Config and HostConfig) to the OCI runtime spec
 * that runc gets. `checkHostConfig` runs at create time so a bad option is refused
 * before anything exists; `buildSpec` runs at every start.
 */
import { cgroupsPath, generateSpec, type HostFacts, type MountOption, type OciSpec } from '../runtime';
import type { ContainerRecord } from './containers';

export interface SpecContext {
  host: HostFacts;
  /** Host path of the mounted root filesystem. */
  rootfs: string;
  user: { uid: number; gid: number; additionalGids?: readonly number[]; home?: string };
  /** Volumes, binds and tmpfs mounts of the container (container-mounts.ts). */
  mounts: readonly MountOption[];
  /** Another container, for `container:NAME` namespace modes. */
  lookup(ref: string): ContainerRecord;
}

/** Refuses HostConfig options this host cannot honour; invalid-argument naming the option. */
export function checkHostConfig(_hostConfig: ContainerRecord['hostConfig'], _host: HostFacts): void {
  // Filled in as options are supported.
}

export function buildSpec(rec: ContainerRecord, ctx: SpecContext): OciSpec {
  return generateSpec({
    args: [rec.path, ...rec.args],
    env: rec.config.Env,
    cwd: rec.config.WorkingDir || '/',
    user: ctx.user,
    hostname: rec.config.Hostname,
    rootfsPath: ctx.rootfs,
    terminal: rec.config.Tty,
    cgroupsPath: cgroupsPath('/berth', rec.id),
    host: ctx.host,
    mounts: [
      { type: 'bind', source: rec.hostnamePath, destination: '/etc/hostname' },
      { type: 'bind', source: rec.hostsPath, destination: '/etc/hosts' },
      { type: 'bind', source: rec.resolvConfPath, destination: '/etc/resolv.conf' },
      ...ctx.mounts,
    ],
  });
}
