/**
 * Checks request bodies field by field, so a wrong type becomes a 400 that
 * names the field instead of a crash deeper down.
 */
import { invalidArgument } from '../common';

type Kind = 'string' | 'number' | 'boolean' | 'object' | 'string[]' | 'number[]' | 'object[]' | 'string-map' | 'string|string[]' | 'any';

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
    case 'number[]': return Array.isArray(v) && v.every((x) => typeof x === 'number' && Number.isFinite(x));
    case 'object[]': return Array.isArray(v) && v.every((x) => typeof x === 'object' && x !== null && !Array.isArray(x));
    case 'string|string[]': return typeof v === 'string' || (Array.isArray(v) && v.every((x) => typeof x === 'string'));
    case 'string-map': return typeof v === 'object' && !Array.isArray(v) && Object.values(v as object).every((x) => typeof x === 'string');
    case 'any': return true;
  }
}

const EXPECT: Record<Kind, string> = {
  string: 'a string', number: 'a number', boolean: 'a boolean', object: 'an object', 'string[]': 'an array of strings', 'number[]': 'an array of numbers', 'object[]': 'an array of objects',
  'string|string[]': 'a string or an array of strings', 'string-map': 'an object of string values', any: 'anything',
};

/**
 * A field's expected shape: a Kind, an object with its own fields, an array of such objects,
 * or an object whose every value has one shape (PortBindings: port → list of bindings).
 */
export type Spec = Kind | { fields: Record<string, Spec> } | { each: Record<string, Spec> } | { values: Spec };

/** Throws invalid-argument naming the first field whose type is wrong; null and absent are fine. */
export function checkFields(where: string, obj: Record<string, unknown>, schema: Record<string, Spec>, prefix = ''): void {
  for (const [field, spec] of Object.entries(schema)) checkValue(where, `${prefix}${field}`, obj[field], spec);
}

function checkValue(where: string, path: string, v: unknown, spec: Spec): void {
  if (v === undefined || v === null) return;
  const fail = (expect: string) => invalidArgument(`invalid ${where}: field ${path} must be ${expect}, got ${typeName(v)}`);
  if (typeof spec === 'string') {
    if (!ok(spec, v)) throw fail(EXPECT[spec]);
    return;
  }
  if ('each' in spec) {
    if (!Array.isArray(v)) throw fail('an array of objects');
    v.forEach((item, i) => {
      if (typeof item !== 'object' || item === null || Array.isArray(item)) throw invalidArgument(`invalid ${where}: field ${path}[${i}] must be an object, got ${typeName(item)}`);
      checkFields(where, item as Record<string, unknown>, spec.each, `${path}[${i}].`);
    });
    return;
  }
  if (typeof v !== 'object' || Array.isArray(v)) throw fail('an object');
  if ('fields' in spec) checkFields(where, v as Record<string, unknown>, spec.fields, `${path}.`);
  else for (const [k, x] of Object.entries(v as object)) checkValue(where, `${path}[${JSON.stringify(k)}]`, x, spec.values);
}

const THROTTLE: Spec = { each: { Path: 'string', Rate: 'number' } };

const ENDPOINT: Record<string, Spec> = {
  IPAMConfig: { fields: { IPv4Address: 'string', IPv6Address: 'string', LinkLocalIPs: 'string[]' } }, Links: 'string[]', Aliases: 'string[]', MacAddress: 'string',
  NetworkID: 'string', EndpointID: 'string', Gateway: 'string', IPAddress: 'string', IPPrefixLen: 'number', IPv6Gateway: 'string', GlobalIPv6Address: 'string',
  GlobalIPv6PrefixLen: 'number', DriverOpts: 'string-map', DNSNames: 'string[]',
};

/** A HostConfig.Mounts entry; the engine's mount parser checks the values, with its own messages. */
const MOUNT: Record<string, Spec> = {
  Type: 'any', Source: 'any', Target: 'any', ReadOnly: 'any', Consistency: 'any',
  BindOptions: { fields: { Propagation: 'any', NonRecursive: 'any', CreateMountpoint: 'any', ReadOnlyNonRecursive: 'any', ReadOnlyForceRecursive: 'any' } },
  VolumeOptions: { fields: { NoCopy: 'any', Labels: 'any', Subpath: 'any', DriverConfig: { fields: { Name: 'any', Options: 'any' } } } },
  TmpfsOptions: { fields: { SizeBytes: 'any', Mode: 'any', Options: 'any' } },
  ImageOptions: { fields: { Subpath: 'any' } },
};

export const CONTAINER_CONFIG: Record<string, Spec> = {
  Hostname: 'string', Domainname: 'string', User: 'string', AttachStdin: 'boolean', AttachStdout: 'boolean', AttachStderr: 'boolean',
  Tty: 'boolean', OpenStdin: 'boolean', StdinOnce: 'boolean', Env: 'string[]', Cmd: 'string|string[]', Entrypoint: 'string|string[]',
  Image: 'string', Labels: 'string-map', WorkingDir: 'string', StopSignal: 'string', StopTimeout: 'number', Volumes: 'object',
  ExposedPorts: 'object', NetworkDisabled: 'boolean', MacAddress: 'string', OnBuild: 'string[]', Shell: 'string[]',
  Healthcheck: { fields: { Test: 'string[]', Interval: 'number', Timeout: 'number', StartPeriod: 'number', StartInterval: 'number', Retries: 'number' } },
  ArgsEscaped: 'boolean', NetworkingConfig: { fields: { EndpointsConfig: { values: { fields: ENDPOINT } } } },
};

export const HOST_CONFIG: Record<string, Spec> = {
  Binds: 'string[]', NetworkMode: 'string', AutoRemove: 'boolean', RestartPolicy: { fields: { Name: 'string', MaximumRetryCount: 'number' } }, Privileged: 'boolean', CapAdd: 'string[]',
  CapDrop: 'string[]', ReadonlyRootfs: 'boolean', Init: 'boolean', LogConfig: { fields: { Type: 'string', Config: 'string-map' } }, PortBindings: { values: { each: { HostIp: 'string', HostPort: 'string' } } }, Dns: 'string[]',
  DnsOptions: 'string[]', DnsSearch: 'string[]', ExtraHosts: 'string[]', GroupAdd: 'string[]', IpcMode: 'string', PidMode: 'string',
  UTSMode: 'string', UsernsMode: 'string', CgroupnsMode: 'string', ShmSize: 'number', Memory: 'number', MemorySwap: 'number',
  NanoCpus: 'number', CpuShares: 'number', CpuQuota: 'number', CpuPeriod: 'number', CpusetCpus: 'string', CpusetMems: 'string',
  PidsLimit: 'number', SecurityOpt: 'string[]', Tmpfs: 'object', Sysctls: 'string-map', Mounts: { each: MOUNT }, Ulimits: { each: { Name: 'string', Soft: 'number', Hard: 'number' } }, Devices: { each: { PathOnHost: 'string', PathInContainer: 'string', CgroupPermissions: 'string' } },
  ConsoleSize: 'number[]', MemoryReservation: 'number', MemorySwappiness: 'number', OomKillDisable: 'boolean', OomScoreAdj: 'number',
  BlkioWeight: 'number', BlkioWeightDevice: { each: { Path: 'string', Weight: 'number' } }, BlkioDeviceReadBps: THROTTLE, BlkioDeviceWriteBps: THROTTLE,
  BlkioDeviceReadIOps: THROTTLE, BlkioDeviceWriteIOps: THROTTLE, DeviceCgroupRules: 'string[]', MaskedPaths: 'string[]',
  ReadonlyPaths: 'string[]', CgroupParent: 'string', CpuRealtimePeriod: 'number', CpuRealtimeRuntime: 'number', Runtime: 'string',
  Isolation: 'string', VolumeDriver: 'string', VolumesFrom: 'string[]', Links: 'string[]', KernelMemoryTCP: 'number',
  DeviceRequests: { each: { Driver: 'string', Count: 'number', DeviceIDs: 'string[]', Capabilities: 'any', Options: 'string-map' } },
  KernelMemory: 'number', CpuCount: 'number', CpuPercent: 'number', IOMaximumIOps: 'number', IOMaximumBandwidth: 'number', ContainerIDFile: 'string',
  Annotations: 'string-map', Cgroup: 'string', PublishAllPorts: 'boolean', StorageOpt: 'string-map',
};

/** The body of POST /containers/create: a Config with HostConfig and NetworkingConfig beside it. */
export const CONTAINER_CREATE: Record<string, Spec> = { ...CONTAINER_CONFIG, HostConfig: { fields: HOST_CONFIG } };

const RESOURCE_FIELDS = [
  'CpuShares', 'Memory', 'NanoCpus', 'CgroupParent', 'BlkioWeight', 'BlkioWeightDevice', 'BlkioDeviceReadBps', 'BlkioDeviceWriteBps', 'BlkioDeviceReadIOps',
  'BlkioDeviceWriteIOps', 'CpuPeriod', 'CpuQuota', 'CpuRealtimePeriod', 'CpuRealtimeRuntime', 'CpusetCpus', 'CpusetMems', 'Devices', 'DeviceCgroupRules',
  'DeviceRequests', 'KernelMemory', 'KernelMemoryTCP', 'MemoryReservation', 'MemorySwap', 'MemorySwappiness', 'OomKillDisable', 'PidsLimit', 'Ulimits',
  'CpuCount', 'CpuPercent', 'IOMaximumIOps', 'IOMaximumBandwidth',
];

/** The body of POST /containers/{id}/update: HostConfig's resources and RestartPolicy. */
export const UPDATE_CONFIG: Record<string, Spec> = Object.fromEntries([...RESOURCE_FIELDS, 'RestartPolicy'].map((f) => [f, HOST_CONFIG[f]!]));

/**
 * Gives every field of `value` that names a field of `schema` regardless of case
 * (as Go's encoding/json, so dockerd, decodes: `CPURealtimePeriod` is CpuRealtimePeriod)
 * the schema's spelling, through nested objects, arrays of objects and map values.
 * Map keys (Labels, Sysctls, DriverOpts…) and unknown fields stay as sent. When one
 * field comes in two spellings the later wins, as in Go. Non-objects are returned as is.
 */
export function foldFieldNames(value: unknown, schema: Record<string, Spec>): unknown {
  if (!isPlainObject(value)) return value;
  const names = foldIndex(schema);
  const out = new Map<string, unknown>();
  for (const [k, v] of Object.entries(value)) {
    const name = Object.hasOwn(schema, k) ? k : names.get(k.toLowerCase()) ?? k;
    out.delete(name);
    out.set(name, Object.hasOwn(schema, name) ? foldValue(v, schema[name]!) : v);
  }
  // fromEntries defines own properties: a "__proto__" field stays a field.
  return Object.fromEntries(out);
}

function foldValue(v: unknown, spec: Spec): unknown {
  if (typeof spec === 'string') return v;
  if ('fields' in spec) return foldFieldNames(v, spec.fields);
  if ('each' in spec) return Array.isArray(v) ? v.map((x) => foldFieldNames(x, spec.each)) : v;
  return isPlainObject(v) ? Object.fromEntries(Object.entries(v).map(([k, x]) => [k, foldValue(x, spec.values)])) : v;
}

const foldIndexes = new WeakMap<Record<string, Spec>, Map<string, string>>();

function foldIndex(schema: Record<string, Spec>): Map<string, string> {
  let m = foldIndexes.get(schema);
  if (!m) {
    m = new Map(Object.keys(schema).map((k) => [k.toLowerCase(), k]));
    foldIndexes.set(schema, m);
  }
  return m;
}

function isPlainObject(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

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
