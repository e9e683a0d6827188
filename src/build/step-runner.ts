/**
 * The builder's port to the engine: what it needs of images and containers without
 * importing them. engine/build-runner.ts implements it with real containers and the
 * image and layer stores.
 *
 * Every step ends in an image (as dockerd's legacy builder does): `commit` records a
 * new image whose parent is the previous step's, with at most one new layer made by
 * running a command in a container (`run`) or by changing files in a writable root
 * (`files`). A change that leaves the filesystem as it was adds no layer: the history
 * entry then says `empty_layer`.
 */
import type { Digest, ProgressSink } from '../common';
import type { ContainerConfig, ImageConfig } from '../image';

export interface BuildImage {
  id: Digest;
  config: ImageConfig;
}

/** A mount for a RUN step's container. */
export type RunMount =
  | { type: 'bind'; source: string; target: string; readonly: boolean }
  | { type: 'tmpfs'; target: string; size?: number };

/** Limits and settings of a RUN step's container (the build request's). */
export interface RunSettings {
  /** '' = the engine's default; none, host, or a network name. */
  network: string;
  extraHosts: string[];
  shmSize: number;
  ulimits: { name: string; soft: number; hard: number }[];
  memory: number;
  memorySwap: number;
  cpuShares: number;
  cpuPeriod: number;
  cpuQuota: number;
  cpusetCpus: string;
  cpusetMems: string;
}

export interface RunStep {
  /** The whole argv (shell words included). */
  argv: string[];
  env: string[];
  user: string;
  workingDir: string;
  settings: RunSettings;
  mounts: RunMount[];
  /** The container's output as it comes. */
  output(chunk: Buffer, stream: 'stdout' | 'stderr'): void;
  /** Called with the container's id once it exists (for " ---> Running in …"). */
  started?(containerId: string): void;
  /** Keep the container after a failure (dockerd's --rm=false / --force-rm=false). */
  keepOnFailure?: boolean;
  /** Keep the container after success (--rm=false). */
  keepOnSuccess?: boolean;
  /** The build's session (StepRunner.session), when the runner keeps one. */
  session?: BuildSession;
}

/**
 * What a runner keeps for one build and lends to its RUN steps (a network namespace they
 * take turns in, instead of one wired and undone per step); the builder ends it with the build.
 */
export interface BuildSession {
  /** RUN steps with these settings will follow: the runner may get ready for them now, in the background. */
  expectRun(settings: RunSettings): void;
  /** Releases what the session kept; the builder calls it once, after the last step. */
  end(): Promise<void>;
}

export type LayerChange =
  | { kind: 'run'; step: RunStep }
  /**
   * Changes a writable root (the parent's files) in place; `root` is its path on the
   * host. Files get the owners `onDisk` gives for the owners the container should see
   * (with --userns-remap, shifted into the remapped range; else unchanged).
   */
  | { kind: 'files'; apply(root: string, onDisk: OwnerMap): Promise<void> };

/** An owner as a container sees it → the owner written on disk. */
export type OwnerMap = (o: { uid: number; gid: number }) => { uid: number; gid: number };

/** A RUN whose command exited non-zero. */
export class RunFailed extends Error {
  constructor(readonly exitCode: number, readonly containerId: string) {
    super(`exit code ${exitCode}`);
  }
}

export interface StepRunner {
  /** The local image a FROM or --from names; undefined when there is none. */
  findImage(ref: string): BuildImage | undefined;
  /** The image with this ID, or undefined when it was removed. */
  getImage(id: Digest): BuildImage | undefined;
  /**
   * Pulls `ref` from its registry (FROM or --from of an image the store lacks, or any with
   * --pull); `auth` is the client's credentials by registry, opaque to the builder.
   */
  pullImage?(ref: string, o: { platform?: string; auth?: Readonly<Record<string, unknown>> }, progress: ProgressSink): Promise<BuildImage>;
  /**
   * A new image above `parent` (null: from scratch): `change` makes its layer, then
   * `config(layerAdded)` gives its config (history included, diff_ids not: they are
   * the parent's plus the new layer's, filled in here).
   */
  commit(parent: BuildImage | null, change: LayerChange | null, config: (layerAdded: boolean) => Omit<ImageConfig, 'rootfs'>): Promise<BuildImage>;
  /**
   * A new image above `parent` whose layer, if any, the store holds already: `source`'s
   * layer number `layer` (--cache-from with an image loaded from elsewhere); null: none.
   */
  reuse(parent: BuildImage | null, source: BuildImage, layer: number | null, config: Omit<ImageConfig, 'rootfs'>): Promise<BuildImage>;
  /** A read-only view of an image's files (COPY --from, RUN --mount from=…). */
  view(image: BuildImage): Promise<{ path: string; release(): Promise<void> }>;
  /** A session for one build (see BuildSession); without it every RUN step stands alone. */
  session?(): BuildSession;
  /** Gives the image these names (`repo:tag`), moving them from other images. */
  tag(id: Digest, refs: string[]): Promise<void>;
  /** The engine's default PATH for images from scratch and for RUN. */
  readonly defaultPath: string;
  /** A container's owner → the owner on the host's disk (shifted under --userns-remap); identity when absent. */
  readonly ownerOnDisk?: OwnerMap;
}

export type { ContainerConfig, ImageConfig };
