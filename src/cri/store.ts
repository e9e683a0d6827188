/**
 * What the CRI server remembers beside the engine's container records: each pod
 * sandbox's and each CRI container's configuration as the kubelet gave it, and the
 * sandbox's state, in `<data-root>/cri/{sandboxes,containers}/<id>.json` (atomic
 * writes). The engine's records stay the truth for processes; these files carry
 * the CRI-only facts (metadata, labels, annotations, the pod IP) across restarts.
 */
import { promises as fsp } from 'node:fs';
import { join } from 'node:path';
import { writeFileAtomic } from '../engine';

/** Proto messages as @grpc/proto-loader hands them over (keepCase, defaults). */
// eslint-disable-next-line @typescript-eslint/no-explicit-any -- decoded protobuf messages are checked field by field where read
export type Msg = Record<string, any>;

export interface SandboxEntry {
  id: string;
  /** PodSandboxConfig as given. */
  config: Msg;
  runtimeHandler: string;
  /** Nanoseconds since the epoch. */
  createdAt: number;
  /** Stopped by StopPodSandbox (the pause container may still be there). */
  stopped: boolean;
  ips: string[];
  /** Host-side files bound into every container of the pod. */
  dir: string;
}

export interface ContainerEntry {
  id: string;
  sandboxId: string;
  /** ContainerConfig as given. */
  config: Msg;
  createdAt: number;
  /** The image as the kubelet named it, and its id. */
  image: string;
  imageRef: string;
  logPath: string;
}

export class CriStore {
  readonly sandboxes = new Map<string, SandboxEntry>();
  readonly containers = new Map<string, ContainerEntry>();

  constructor(readonly root: string) {}

  async load(): Promise<void> {
    for (const [kind, map] of [['sandboxes', this.sandboxes], ['containers', this.containers]] as const) {
      const dir = join(this.root, kind);
      await fsp.mkdir(dir, { recursive: true });
      for (const name of await fsp.readdir(dir)) {
        if (!name.endsWith('.json')) continue;
        try {
          const e = JSON.parse(await fsp.readFile(join(dir, name), 'utf8'));
          (map as Map<string, unknown>).set(e.id, e);
        } catch {
          /* a torn file from before atomic writes: skip it */
        }
      }
    }
  }

  /**
   * The entry is in the map at once; the promise settles once it is written (`durable`:
   * and fsynced, for what cannot be worked out again after a power loss).
   */
  async saveSandbox(e: SandboxEntry, durable = true): Promise<void> {
    this.sandboxes.set(e.id, e);
    await writeFileAtomic(join(this.root, 'sandboxes', `${e.id}.json`), JSON.stringify(e), { durable, mode: 0o600 });
  }

  async saveContainer(e: ContainerEntry, durable = true): Promise<void> {
    this.containers.set(e.id, e);
    await writeFileAtomic(join(this.root, 'containers', `${e.id}.json`), JSON.stringify(e), { durable, mode: 0o600 });
  }

  async deleteSandbox(id: string): Promise<void> {
    const e = this.sandboxes.get(id);
    this.sandboxes.delete(id);
    await fsp.rm(join(this.root, 'sandboxes', `${id}.json`), { force: true });
    if (e?.dir) await fsp.rm(e.dir, { recursive: true, force: true });
  }

  async deleteContainer(id: string): Promise<void> {
    this.containers.delete(id);
    await fsp.rm(join(this.root, 'containers', `${id}.json`), { force: true });
  }
}
