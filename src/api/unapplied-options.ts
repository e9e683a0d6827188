/**
 * Create options Berth accepts but does not act on, and the ones dockerd refuses on
 * Linux, checked on the request as sent.
 *
 * Contract: `unappliedOptions(config, hostConfig)` throws invalid-argument, with
 * dockerd's words, for what dockerd refuses on a Linux host (another runtime, another
 * isolation, device requests with no driver for them, Windows IO limits); otherwise it
 * returns one warning per option that is set and not applied, for create's `Warnings`
 * (docker run prints each as "WARNING: ..."). An option left at its zero value says
 * nothing. When Berth starts applying one of these, its entry goes.
 */
import { invalidArgument } from '../common';

type Fields = Record<string, unknown>;

const set = (v: unknown): boolean =>
  v !== undefined && v !== null && v !== '' && v !== 0 && v !== false &&
  !(Array.isArray(v) && v.length === 0) && !(typeof v === 'object' && !Array.isArray(v) && Object.keys(v as object).length === 0);

/** HostConfig field → why it is not applied. */
const HOST_CONFIG_UNAPPLIED: Record<string, string> = {
  CgroupParent: "every container's cgroup is under /berth",
  KernelMemory: 'kernel memory limits are not set (runc ignores them)',
  KernelMemoryTCP: 'kernel TCP memory limits are not set',
  CpuCount: 'it is a Windows option',
};

const CONFIG_UNAPPLIED: Record<string, string> = {};

export function unappliedOptions(config: Fields, hostConfig: Fields): string[] {
  const runtime = hostConfig.Runtime;
  if (typeof runtime === 'string' && runtime !== '' && runtime !== 'runc') throw invalidArgument(`unknown or invalid runtime name: ${runtime}`);
  const isolation = hostConfig.Isolation;
  if (typeof isolation === 'string' && isolation !== '' && isolation !== 'default') throw invalidArgument(`invalid isolation '${isolation}' on linux`);
  if (set(hostConfig.IOMaximumBandwidth) || set(hostConfig.IOMaximumIOps)) {
    throw invalidArgument('Invalid QoS settings: linux does not support Maximum IO Bandwidth or Maximum IO IOps');
  }
  const requests = hostConfig.DeviceRequests;
  if (Array.isArray(requests) && requests.length > 0) {
    const r = (requests[0] ?? {}) as { Driver?: unknown; Capabilities?: unknown };
    const caps = Array.isArray(r.Capabilities) ? `[${r.Capabilities.map((c) => `[${Array.isArray(c) ? c.join(' ') : ''}]`).join(' ')}]` : '[]';
    throw invalidArgument(`could not select device driver ${JSON.stringify(typeof r.Driver === 'string' ? r.Driver : '')} with capabilities: ${caps}`);
  }

  const warnings: string[] = [];
  const note = (field: string, why: string) => warnings.push(`${field} is not applied: ${why}`);
  for (const [field, why] of Object.entries(HOST_CONFIG_UNAPPLIED)) if (set(hostConfig[field])) note(field, why);
  const driver = hostConfig.VolumeDriver;
  if (typeof driver === 'string' && driver !== '' && driver !== 'local') note('VolumeDriver', 'only the local volume driver exists');
  if ((typeof hostConfig.CpuPercent === 'number' ? hostConfig.CpuPercent : 0) > 0) warnings.push('linux does not support CPU percent. Percent discarded.');
  for (const opt of (hostConfig.SecurityOpt as string[] | null | undefined) ?? []) {
    if (/^(apparmor|label)[=:]/.test(opt)) note(`security option ${opt}`, 'Berth sets no AppArmor or SELinux profile');
    // Cgroups are writable exactly when the container is privileged.
    else if (/^writable-cgroups[=:](1|t|true)$/i.test(opt) && !hostConfig.Privileged) note(`security option ${opt}`, 'cgroups are writable only with --privileged');
  }
  for (const [field, why] of Object.entries(CONFIG_UNAPPLIED)) if (set(config[field])) note(field, why);
  return warnings;
}
