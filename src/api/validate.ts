/**
 * Checks request bodies field by field, so a wrong type becomes a 400 that
 * names the field instead of a crash deeper down.
 */
import { invalidArgument } from '../common';

type Kind = 'string' | 'number' | 'boolean' | 'object' | 'string[]' | 'object[]' | 'string-map' | 'string|string[]' | 'any';

function typeName(v: unknown): string {
  if (v === null) return 'null';
  if (Array.isArray(v)) return 'array';
  return typeof v;
}

function ok(kind: Kind, v: unknown): boolean {
  switch (kind) {
    case 'string': return typeof v === 'string';
    case 'number': return typeof v === 'number' && Number.isFinite(v);
    case 'boolean': return typeof v === 'boolean';
    case 'object': return typeof v === 'object' && !Array.isArray(v);
    case 'string[]': return Array.isArray(v) && v.every((x) => typeof x === 'string');
    case 'object[]': return Array.isArray(v) && v.every((x) => typeof x === 'object' && x !== null && !Array.isArray(x));
    case 'string|string[]': return typeof v === 'string' || (Array.isArray(v) && v.every((x) => typeof x === 'string'));
    case 'string-map': return typeof v === 'object' && !Array.isArray(v) && Object.values(v as object).every((x) => typeof x === 'string');
    case 'any': return true;
  }
}

const EXPECT: Record<Kind, string> = {
  string: 'a string', number: 'a number', boolean: 'a boolean', object: 'an object', 'string[]': 'an array of strings', 'object[]': 'an array of objects',
  'string|string[]': 'a string or an array of strings', 'string-map': 'an object of string values', any: 'anything',
};

/** Throws invalid-argument naming the first field whose type is wrong; null and absent are fine. */
export function checkFields(where: string, obj: Record<string, unknown>, schema: Record<string, Kind>): void {
  for (const [field, kind] of Object.entries(schema)) {
    const v = obj[field];
    if (v === undefined || v === null) continue;
    if (!ok(kind, v)) throw invalidArgument(`invalid ${where}: field ${field} must be ${EXPECT[kind]}, got ${typeName(v)}`);
  }
}

export const CONTAINER_CONFIG: Record<string, Kind> = {
  Hostname: 'string', Domainname: 'string', User: 'string', AttachStdin: 'boolean', AttachStdout: 'boolean', AttachStderr: 'boolean',
  Tty: 'boolean', OpenStdin: 'boolean', StdinOnce: 'boolean', Env: 'string[]', Cmd: 'string|string[]', Entrypoint: 'string|string[]',
  Image: 'string', Labels: 'string-map', WorkingDir: 'string', StopSignal: 'string', StopTimeout: 'number', Volumes: 'object',
  ExposedPorts: 'object', NetworkDisabled: 'boolean', MacAddress: 'string', OnBuild: 'string[]', Shell: 'string[]', Healthcheck: 'object',
  ArgsEscaped: 'boolean',
};

export const HOST_CONFIG: Record<string, Kind> = {
  Binds: 'string[]', NetworkMode: 'string', AutoRemove: 'boolean', RestartPolicy: 'object', Privileged: 'boolean', CapAdd: 'string[]',
  CapDrop: 'string[]', ReadonlyRootfs: 'boolean', Init: 'boolean', LogConfig: 'object', PortBindings: 'object', Dns: 'string[]',
  DnsOptions: 'string[]', DnsSearch: 'string[]', ExtraHosts: 'string[]', GroupAdd: 'string[]', IpcMode: 'string', PidMode: 'string',
  UTSMode: 'string', UsernsMode: 'string', CgroupnsMode: 'string', ShmSize: 'number', Memory: 'number', MemorySwap: 'number',
  NanoCpus: 'number', CpuShares: 'number', CpuQuota: 'number', CpuPeriod: 'number', CpusetCpus: 'string', CpusetMems: 'string',
  PidsLimit: 'number', SecurityOpt: 'string[]', Tmpfs: 'object', Sysctls: 'string-map', Mounts: 'any', Ulimits: 'object[]', Devices: 'object[]',
  ConsoleSize: 'any', MemoryReservation: 'number', MemorySwappiness: 'number', OomKillDisable: 'boolean', OomScoreAdj: 'number',
  BlkioWeight: 'number', BlkioWeightDevice: 'object[]', BlkioDeviceReadBps: 'object[]', BlkioDeviceWriteBps: 'object[]',
  BlkioDeviceReadIOps: 'object[]', BlkioDeviceWriteIOps: 'object[]', DeviceCgroupRules: 'string[]', MaskedPaths: 'string[]',
  ReadonlyPaths: 'string[]', CgroupParent: 'string', CpuRealtimePeriod: 'number', CpuRealtimeRuntime: 'number', Runtime: 'string',
  Isolation: 'string', VolumeDriver: 'string', VolumesFrom: 'string[]', Links: 'string[]', KernelMemoryTCP: 'number',
};

/** Parses a JSON body; malformed JSON is a 400 that says where it broke. */
export function parseJSON(buf: Buffer, what: string): unknown {
  if (buf.length === 0) return undefined;
  try {
    return JSON.parse(buf.toString('utf8'));
  } catch (err) {
    throw invalidArgument(`invalid JSON in ${what}: ${(err as Error).message}`);
  }
}

export function asObject(v: unknown, what: string): Record<string, unknown> {
  if (v === undefined) return {};
  if (typeof v !== 'object' || v === null || Array.isArray(v)) throw invalidArgument(`invalid ${what}: expected a JSON object, got ${typeName(v)}`);
  return v as Record<string, unknown>;
}
