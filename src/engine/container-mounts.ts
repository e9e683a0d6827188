/**
 * A container's volumes, bind mounts and tmpfs mounts (Docker's HostConfig.Binds,
 * HostConfig.Mounts, HostConfig.Tmpfs and the image's VOLUME list).
 *
 * ContainerService calls `prepare` once at create (validate, create volumes, fill the
 * record's mount points), `specMounts` at every start, and `release` at removal.
 */
import type { MountOption } from '../runtime';
import type { ContainerRecord } from './containers';

export interface ContainerMounts {
  prepare(rec: ContainerRecord, imageVolumes: readonly string[]): Promise<void>;
  specMounts(rec: ContainerRecord, rootfs: string): Promise<MountOption[]>;
  release(rec: ContainerRecord, removeVolumes: boolean): Promise<void>;
}

/** No volumes: what a container gets until volumes are wired in. */
export const NO_MOUNTS: ContainerMounts = {
  prepare: async () => undefined,
  specMounts: async () => [],
  release: async () => undefined,
};
