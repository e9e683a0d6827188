/**
 * Builders for unit tests of the engine: a spec or record from the defaults with the
 * sections a test cares about replaced field by field.
 */
import { notFound, type ContainerId, type Digest } from '../common';
import type { ImageRecord } from '../image';
import { ALL_CAPABILITIES, type HostFacts } from '../runtime';
import type { ContainerNetwork } from './container-network';
import type { ContainerImages } from './containers';
import { CONTAINER_RECORD_VERSION, defaultSpec, type ContainerRecord, type ContainerSpec } from './container-model';

type Sections = 'process' | 'resources' | 'security' | 'namespaces' | 'network';
export type SpecOverrides = { [K in Sections]?: Partial<ContainerSpec[K]> } & Partial<Omit<ContainerSpec, Sections>>;

export function specWith(over: SpecOverrides = {}, image = 'busybox'): ContainerSpec {
  const base = defaultSpec(image);
  const { process, resources, security, namespaces, network, ...rest } = over;
  return {
    ...base,
    ...rest,
    process: { ...base.process, ...process },
    resources: { ...base.resources, ...resources },
    security: { ...base.security, ...security },
    namespaces: { ...base.namespaces, ...namespaces },
    network: { ...base.network, ...network },
  };
}

/** A running container's record with `over` applied to its spec. */
export function recordWith(over: SpecOverrides = {}, rec: Partial<ContainerRecord> = {}): ContainerRecord {
  const id = (rec.id ?? 'a'.repeat(64)) as ContainerId;
  return {
    version: CONTAINER_RECORD_VERSION,
    id, name: 'c', created: '', image: 'busybox', imageId: 'sha256:x' as ContainerRecord['imageId'], path: 'sh', args: ['-c', 'true'],
    spec: specWith({ hostname: id.slice(0, 12), ...over }),
    mountPoints: [],
    state: { status: 'running', pid: 4242, exitCode: 0, error: '', oomKilled: false, startedAt: '', finishedAt: '' },
    restartCount: 0, logPath: '/l', hostnamePath: '/h', hostsPath: '/hs', resolvConfPath: '/r',
    ...rec,
  };
}

/** An image record with no layers and the given config (`Env`, `Cmd` …), named `busybox` in tests. */
export function testImage(config: Record<string, unknown>): ImageRecord {
  return {
    id: ('sha256:' + '1'.repeat(64)) as Digest,
    config: { architecture: 'amd64', os: 'linux', rootfs: { type: 'layers', diff_ids: [] }, config },
    created: '2026-01-01T00:00:00Z',
    size: 0,
    layers: [],
  } as unknown as ImageRecord;
}

/** The image port of a container service that knows one image, `busybox`, with no layers. */
export function oneImage(img: ImageRecord): ContainerImages {
  return {
    resolve: (ref) => {
      if (ref !== 'busybox') throw notFound(`no image ${ref}`);
      return img;
    },
    rootLayers: async () => ({ top: null, lowers: [] }),
    has: () => true,
    collectUnused: async () => undefined,
  };
}

/** Host facts for unit tests: cgroup v2, every capability, no rlimits. */
export const TEST_HOST: HostFacts = { cgroupMode: 'v2', capabilities: ALL_CAPABILITIES, rlimits: {} };

/** A network port that wires nothing (the container service's unit tests). */
export const NO_NETWORK: ContainerNetwork = { setUp: async () => undefined, tearDown: async () => undefined };
