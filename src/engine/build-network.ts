/**
 * A build's network namespaces. Wiring a namespace into a bridge network (netavark's
 * setup, then its teardown) costs more than a RUN step's own process, so a build's RUN
 * steps take turns in namespaces wired once for the build, as BuildKit's steps take
 * turns in its pool of namespaces: a step borrows one for its run and gives it back when
 * its container has exited; steps that run at the same time (stages built side by side)
 * each get their own. The namespaces are torn down when the build ends.
 *
 * Each step is still a container of its own on the same network: its own hostname, UTS,
 * PID and mount namespaces, and an /etc/hosts naming the namespace's addresses under its
 * hostname (BridgeAttachment.share). Nothing of a step outlives it in the namespace: its
 * processes and their sockets end with it, and without CAP_NET_ADMIN it cannot change the
 * interfaces, addresses or routes.
 *
 * Shared: the default network, `bridge` and user-defined networks. Not shared: none and
 * host (nothing is wired for them), and every step under --userns-remap (the container
 * makes its namespace itself there).
 */
import { randomBytes } from 'node:crypto';
import { promises as fsp } from 'node:fs';
import { join } from 'node:path';
import { log } from '../common';
import type { BuildSession, RunSettings } from '../build';
import { defaultSpec } from './container-model';
import type { ContainerNetwork } from './container-network';

/** A namespace lent to one RUN step: ContainerService.start's `network`. */
export interface LentNetwork {
  netns: string;
  ready: Promise<void>;
  /** The attachment the namespace belongs to (BridgeAttachment.share). */
  share: string;
}

interface Namespace {
  id: string;
  netns: string;
  ready: Promise<void>;
}

interface Slot {
  mode: string;
  busy: boolean;
  /** Undefined when the namespace could not be made (the step then gets its own, as without a session). */
  made: Promise<Namespace | undefined>;
}

export class BuildNetworks implements BuildSession {
  private readonly slots: Slot[] = [];
  /** Namespaces being torn down (a failed wiring's), which `end` waits for too. */
  private readonly dropping = new Set<Promise<void>>();
  private ended = false;

  /** `network` absent: nothing is shared (no bridge networks on this host). */
  constructor(
    private readonly network: ContainerNetwork | undefined,
    /** Where each namespace's hostname, hosts and resolv.conf files go (one dir per namespace). */
    private readonly dir: string,
    /** Settles once `dir` may be written (what an earlier daemon left there is gone). */
    private readonly dirReady: Promise<void> = Promise.resolve(),
  ) {}

  /** Whether steps on this network (RunSettings.network) take turns in a namespace. */
  static shares(mode: string): boolean {
    return mode !== 'none' && mode !== 'host' && !mode.startsWith('container:');
  }

  expectRun(settings: RunSettings): void {
    if (!this.network || this.ended || !BuildNetworks.shares(settings.network)) return;
    if (!this.slots.some((s) => s.mode === settings.network && !s.busy)) this.add(settings.network);
  }

  /**
   * A namespace for one RUN step on network `mode`, or undefined when it gets its own.
   * `give` hands it back once the step's container has exited.
   */
  async lend(mode: string): Promise<{ network: LentNetwork; give(): void } | undefined> {
    if (!this.network || this.ended || !BuildNetworks.shares(mode)) return undefined;
    const slot = this.slots.find((s) => s.mode === mode && !s.busy) ?? this.add(mode);
    slot.busy = true;
    const ns = await slot.made;
    if (!ns) {
      this.slots.splice(this.slots.indexOf(slot), 1);
      return undefined;
    }
    let broken = false;
    ns.ready.catch(() => (broken = true));
    return {
      network: { netns: ns.netns, ready: ns.ready, share: ns.id },
      give: () => {
        // A namespace whose wiring failed is not lent again: the next step tries a new one.
        if (!broken) {
          slot.busy = false;
          return;
        }
        const done = this.drop(slot);
        this.dropping.add(done);
        void done.finally(() => this.dropping.delete(done));
      },
    };
  }

  async end(): Promise<void> {
    this.ended = true;
    await Promise.all([...[...this.slots].map((s) => this.drop(s)), ...this.dropping]);
  }

  private add(mode: string): Slot {
    const slot: Slot = { mode, busy: false, made: this.make(mode) };
    this.slots.push(slot);
    return slot;
  }

  private async make(mode: string): Promise<Namespace | undefined> {
    const id = randomBytes(32).toString('hex');
    const dir = join(this.dir, id);
    try {
      await this.dirReady;
      await fsp.mkdir(dir, { recursive: true });
      const set = await this.network!.setUp({
        containerId: id,
        hostname: id.slice(0, 12),
        files: { hostname: join(dir, 'hostname'), hosts: join(dir, 'hosts'), resolvConf: join(dir, 'resolv.conf') },
        name: `berth-build-${id.slice(0, 12)}`,
        network: { ...defaultSpec('').network, ...(mode ? { mode } : {}) },
      });
      if (set?.netns && set.ready) {
        set.ready.catch(() => undefined); // the step that borrows it reports the failure
        return { id, netns: set.netns, ready: set.ready };
      }
      await this.release(id, dir);
      return undefined;
    } catch (err) {
      // An unknown network, say: the step's own container reports it as it would without a session.
      log.debug('build network namespace not made', { mode, error: String(err) });
      await this.release(id, dir);
      return undefined;
    }
  }

  private async drop(slot: Slot): Promise<void> {
    const i = this.slots.indexOf(slot);
    if (i >= 0) this.slots.splice(i, 1);
    const ns = await slot.made;
    if (!ns) return;
    // Not torn down while netavark still wires it.
    await ns.ready.catch(() => undefined);
    await this.release(ns.id, join(this.dir, ns.id));
  }

  private async release(id: string, dir: string): Promise<void> {
    await this.network!.tearDown(id).catch((err: unknown) => log.warn('cannot release a build network namespace', { id, error: String(err) }));
    await fsp.rm(dir, { recursive: true, force: true }).catch(() => undefined);
  }
}
