/**
 * The CRI RuntimeService on the engine: pod sandboxes and their containers.
 *
 * A sandbox is a pause container (the pod infra image) that holds the pod's network,
 * IPC and UTS namespaces (and PID when the pod shares it). It runs with the engine's
 * network mode 'none' (a namespace of its own with no engine-managed interface); the
 * pod network is then attached to that namespace through the engine's pod-network
 * port (CNI). The pod's containers join the pause container's namespaces through the
 * engine's `container:<id>` modes, and get the pod's /etc/hostname, /etc/hosts and
 * /etc/resolv.conf bound from the sandbox's directory.
 *
 * Ids: a sandbox's id is its pause container's id, a CRI container's id is its engine
 * container's id; both show in `docker ps -a`, named as the kubelet's dockershim named
 * them (`k8s_POD_<pod>_<ns>_<uid>_<attempt>`, `k8s_<ctr>_<pod>_<ns>_<uid>_<attempt>`)
 * and labelled `io.kubernetes.*`.
 */
import { promises as fsp, readFileSync } from 'node:fs';
import { hostname as osHostname } from 'node:os';
import { isAbsolute, join } from 'node:path';
import { BerthError, invalidArgument, log, newContainerId, notFound, traceSpan, traceStart } from '../common';
import { defaultSpec, pullReference, type ContainerRecord, type ContainerSpec, type Engine, type MountRequest } from '../engine';
import { CriError, GRPC } from './errors';
import { CriStore, type ContainerEntry, type Msg, type SandboxEntry } from './store';

export const RUNTIME_NAME = 'berth';
export const RUNTIME_API_VERSION = 'v1';

/** CRI enums. */
const NS = { POD: 0, CONTAINER: 1, NODE: 2, TARGET: 3 } as const;
const SANDBOX_READY = 0;
const SANDBOX_NOTREADY = 1;
const CONTAINER_CREATED = 0;
const CONTAINER_RUNNING = 1;
const CONTAINER_EXITED = 2;
const CONTAINER_UNKNOWN = 3;
const PROPAGATION = ['rprivate', 'rslave', 'rshared'];
const PROTOCOLS = ['tcp', 'udp', 'sctp'];

export const LABEL_TYPE = 'io.kubernetes.cri.type';
export const LABEL_SANDBOX = 'io.kubernetes.sandbox.id';

export interface CriRuntimeOptions {
  podInfraImage: string;
  /** Pulls an image by reference (the image service's, which shares concurrent pulls). */
  pull?: (ref: string) => Promise<string>;
}

const nowNs = () => Date.now() * 1e6;
const isoToNs = (s: string) => {
  if (!s || s.startsWith('0001-')) return 0;
  const ms = Date.parse(s);
  if (Number.isNaN(ms)) return 0;
  const frac = /\.(\d+)/.exec(s)?.[1] ?? '';
  const sub = frac.length > 3 ? Number(frac.slice(3, 9).padEnd(6, '0')) : 0;
  return ms * 1e6 + sub;
};

function nameSafe(s: string): string {
  return s.replace(/[^a-zA-Z0-9_.-]/g, '_') || '_';
}

function matchesLabels(labels: Record<string, string>, selector: Record<string, string> | undefined): boolean {
  for (const [k, v] of Object.entries(selector ?? {})) if (labels[k] !== v) return false;
  return true;
}

export class CriRuntime {
  readonly store: CriStore;
  /** Sandboxes being torn down or set up, so that two calls on one pod do not interleave. */
  private readonly locks = new Map<string, Promise<unknown>>();

  constructor(
    readonly engine: Engine,
    readonly opts: CriRuntimeOptions,
  ) {
    this.store = new CriStore(join(engine.options.dataRoot, 'cri'));
  }

  async init(): Promise<void> {
    await this.store.load();
    // Entries whose engine containers are gone (removed through the Docker API): forget them.
    for (const id of [...this.store.containers.keys()]) if (!this.record(id)) await this.store.deleteContainer(id);
    for (const [id, s] of [...this.store.sandboxes]) {
      if (!this.record(id)) await this.store.deleteSandbox(id);
      else if (!s.stopped && !this.running(id)) await this.locked(id, () => this.teardownNetwork(s)).catch(() => undefined);
      // The entry with the addresses is written without fsync: after a power loss they come from the network's state.
      else if (!s.stopped && !s.ips.length) s.ips = await this.engine.podNetwork.addresses(id).catch(() => []);
    }
    // A network attached for a sandbox whose create a crash interrupted (it is attached while
    // the engine creates the pause container, before the entry exists).
    const pn = this.engine.podNetwork;
    for (const id of (await pn.attached?.().catch(() => [] as string[])) ?? []) {
      if (!this.store.sandboxes.has(id)) await pn.remove(id, '').catch((err) => log.warn('cannot release the pod network of an unknown sandbox', { id, error: String(err) }));
    }
  }

  private locked<T>(id: string, fn: () => Promise<T>): Promise<T> {
    const prev = this.locks.get(id) ?? Promise.resolve();
    const next = prev.then(fn, fn);
    const tail = next.catch(() => undefined);
    this.locks.set(id, tail);
    void tail.then(() => this.locks.get(id) === tail && this.locks.delete(id));
    return next;
  }

  private record(id: string): ContainerRecord | undefined {
    try {
      return this.engine.containers.get(id);
    } catch {
      return undefined;
    }
  }

  private running(id: string): boolean {
    return this.record(id)?.state.status === 'running';
  }

  /** A sandbox by full id or unique prefix. */
  sandbox(id: string): SandboxEntry {
    if (!id) throw invalidArgument('PodSandboxId must be given');
    const s = this.store.sandboxes.get(id) ?? this.byPrefix(this.store.sandboxes, id);
    if (!s) throw notFound(`an error occurred when try to find sandbox: not found: pod sandbox ${id}`);
    return s;
  }

  container(id: string): ContainerEntry {
    if (!id) throw invalidArgument('ContainerId must be given');
    const c = this.store.containers.get(id) ?? this.byPrefix(this.store.containers, id);
    if (!c) throw notFound(`an error occurred when try to find container ${JSON.stringify(id)}: not found`);
    return c;
  }

  private byPrefix<T>(map: Map<string, T>, prefix: string): T | undefined {
    const hits = [...map.keys()].filter((k) => k.startsWith(prefix));
    return hits.length === 1 ? map.get(hits[0]!) : undefined;
  }

  // ---- sandboxes -------------------------------------------------------------

  async runPodSandbox(config: Msg, runtimeHandler: string): Promise<string> {
    const md = config.metadata;
    if (!md || !md.name) throw invalidArgument('sandbox config must include metadata with a name');
    const linux: Msg = config.linux ?? {};
    const sc: Msg = linux.security_context ?? {};
    const nsOpts: Msg = sc.namespace_options ?? {};
    const hostNet = nsOpts.network === NS.NODE;
    const hostPid = nsOpts.pid === NS.NODE;
    const hostIpc = nsOpts.ipc === NS.NODE;

    const image = this.opts.podInfraImage;
    const tImage = traceStart();
    await this.ensureImage(image);
    traceSpan('cri', 'pod: infra image', tImage);
    const spec = defaultSpec(image);
    spec.labels = {
      ...(config.labels ?? {}),
      [LABEL_TYPE]: 'sandbox',
      'io.kubernetes.pod.name': md.name,
      'io.kubernetes.pod.namespace': md.namespace ?? '',
      'io.kubernetes.pod.uid': md.uid ?? '',
    };
    spec.network.mode = hostNet ? 'host' : 'none';
    spec.hostname = hostNet ? '' : config.hostname || md.name.slice(0, 63);
    spec.namespaces.pid = hostPid ? 'host' : '';
    spec.namespaces.ipc = hostIpc ? 'host' : 'shareable';
    if (hostNet) spec.namespaces.uts = 'host';
    spec.security.seccomp = 'unconfined';
    spec.security.privileged = !!sc.privileged;
    spec.security.readonlyRootfs = !!sc.readonly_rootfs;
    const sysctls = (linux.sysctls ?? {}) as Record<string, string>;
    if (Object.keys(sysctls).length) spec.security.sysctls = { ...sysctls };
    if (sc.run_as_user) spec.process.user = String(sc.run_as_user.value) + (sc.run_as_group ? `:${sc.run_as_group.value}` : '');
    spec.security.noNewPrivileges = true;
    spec.resources.shmSize = 64 << 20;
    if (linux.cgroup_parent) spec.cgroupParent = linux.cgroup_parent;

    const name = `k8s_POD_${nameSafe(md.name)}_${nameSafe(md.namespace ?? '')}_${nameSafe(md.uid ?? '')}_${md.attempt ?? 0}`;
    const id = newContainerId();
    const pn = this.engine.podNetwork;
    // The pod network is attached to a namespace of the sandbox's own, made first: the CNI
    // plugins run while the engine creates the pause container and runc creates it in that
    // namespace; the pause process runs once both are done.
    let netns: string | undefined;
    let attached: Promise<string[]> | undefined;
    if (!hostNet && pn.prepareNetns) {
      netns = await pn.prepareNetns(id);
      attached = this.attachNetwork(id, netns, config);
      attached.catch(() => undefined); // awaited below
    }
    const tCreate = traceStart();
    const createdAt = nowNs();
    let entry: SandboxEntry | undefined;
    // The sandbox's entry and dir are made alongside the engine's record (init() forgets an
    // entry whose container a crash did not leave, and releases a network no entry names).
    const alongside = async (rec: ContainerRecord) => {
      const dir = join(this.store.root, 'pods', rec.id);
      entry = { id: rec.id, config, runtimeHandler: runtimeHandler ?? '', createdAt, stopped: false, ips: [], dir };
      await fsp.mkdir(dir, { recursive: true });
      await this.store.saveSandbox(entry, false);
    };
    try {
      // Without fsyncs (see durable in CreateRequest): after a power loss the kubelet makes
      // its sandboxes and containers again; a kill of berthd loses nothing.
      await this.engine.containers.create({ id, name, spec, noInitLayer: true, alongside, durable: false });
    } catch (err) {
      if (entry) await this.store.deleteSandbox(entry.id).catch(() => undefined);
      if (attached) {
        await attached.catch(() => undefined);
        await pn.remove(id, '').catch(() => undefined);
      }
      throw err;
    }
    const made: SandboxEntry = entry!;
    traceSpan(id, 'pod: engine create', tCreate);
    return this.locked(id, async () => {
      // The pod's files (its /etc/hosts names the pod's address) and the entry with the
      // addresses are written as soon as the network is there, while runc still works.
      const tFiles = traceStart();
      // (A pod network attached only once the pause process runs writes them after that, below.)
      const files = netns || hostNet
        ? (attached ?? Promise.resolve(undefined)).then(async (ips) => {
          if (ips) made.ips = ips;
          await Promise.all([this.writePodFiles(made, hostNet), this.store.saveSandbox(made, false)]);
          traceSpan(id, 'pod: files + save', tFiles);
        })
        : Promise.resolve();
      files.catch(() => undefined); // awaited below
      try {
        const tStart = traceStart();
        if (netns) {
          const ready = attached!.then(() => undefined);
          try {
            await this.engine.containers.start(id, { netns, ready });
          } finally {
            await ready.catch(() => undefined);
          }
        } else if (hostNet) {
          await this.engine.containers.start(id);
        } else {
          // A pod network without namespaces of its own: attached once the pause process runs.
          await this.engine.containers.start(id);
          made.ips = await this.attachNetwork(id, `/proc/${this.engine.containers.get(id).state.pid}/ns/net`, config);
          await this.writePodFiles(made, hostNet);
          await this.store.saveSandbox(made, false);
        }
        await files;
        traceSpan(id, 'pod: pause start + network', tStart);
        return id;
      } catch (err) {
        await files.catch(() => undefined);
        await this.engine.podNetwork.remove(id, '').catch(() => undefined);
        await this.engine.containers.remove(id, true).catch(() => undefined);
        await this.store.deleteSandbox(id).catch(() => undefined);
        throw err;
      }
    });
  }

  /** Runs the pod network's plugins for sandbox `id` in `netns`: the pod's addresses. */
  private async attachNetwork(id: string, netns: string, config: Msg): Promise<string[]> {
    const md = config.metadata;
    const mappings = (config.port_mappings ?? [])
      .filter((p: Msg) => p.host_port > 0)
      .map((p: Msg) => ({ hostPort: p.host_port, containerPort: p.container_port, protocol: PROTOCOLS[p.protocol] ?? 'tcp', ...(p.host_ip ? { hostIP: p.host_ip } : {}) }));
    const tNet = traceStart();
    const res = await this.engine.podNetwork.add({ id, netns, podName: md.name, podNamespace: md.namespace ?? '', podUid: md.uid ?? '', portMappings: mappings });
    traceSpan(id, 'pod: CNI add', tNet);
    return res.ips;
  }

  private async writePodFiles(s: SandboxEntry, hostNet: boolean): Promise<void> {
    const config = s.config;
    const host = hostNet ? osHostname() : config.hostname || config.metadata.name.slice(0, 63);
    const dns: Msg | undefined = config.dns_config;
    let resolv: string;
    if (dns && ((dns.servers ?? []).length || (dns.searches ?? []).length || (dns.options ?? []).length)) {
      resolv = '';
      if (dns.searches?.length) resolv += `search ${dns.searches.join(' ')}\n`;
      for (const sv of dns.servers ?? []) resolv += `nameserver ${sv}\n`;
      if (dns.options?.length) resolv += `options ${dns.options.join(' ')}\n`;
    } else {
      let text = '';
      try {
        text = readFileSync('/etc/resolv.conf', 'utf8');
      } catch {
        /* no host resolver config */
      }
      resolv = hostNet ? text : text.split('\n').filter((l) => !/^\s*nameserver\s+(127\.|::1\s*$)/.test(l)).join('\n');
    }
    let hosts = '127.0.0.1\tlocalhost\n::1\tlocalhost ip6-localhost ip6-loopback\nfe00::0\tip6-localnet\nff00::0\tip6-mcastprefix\nff02::1\tip6-allnodes\nff02::2\tip6-allrouters\n';
    if (hostNet) {
      try {
        hosts = readFileSync('/etc/hosts', 'utf8');
      } catch {
        /* keep the loopback names */
      }
    } else if (s.ips[0]) hosts += `${s.ips[0]}\t${host}\n`;
    await Promise.all([
      fsp.writeFile(join(s.dir, 'hostname'), `${host}\n`),
      fsp.writeFile(join(s.dir, 'hosts'), hosts),
      fsp.writeFile(join(s.dir, 'resolv.conf'), resolv),
    ]);
  }

  private async teardownNetwork(s: SandboxEntry): Promise<void> {
    const rec = this.record(s.id);
    const pid = rec && rec.state.status === 'running' ? rec.state.pid : 0;
    const t = traceStart();
    await this.engine.podNetwork.remove(s.id, pid ? `/proc/${pid}/ns/net` : '');
    traceSpan(s.id, 'pod: CNI remove', t);
  }

  async stopPodSandbox(id: string): Promise<void> {
    const s = orNone(() => this.sandbox(id));
    if (!s) return;
    await this.locked(s.id, async () => {
      const members = [...this.store.containers.values()].filter((c) => c.sandboxId === s.id);
      await Promise.all(members.map((c) => this.stopQuietly(c.id, 0)));
      // The network is released while the pause container is killed: a plugin that finds the
      // namespace gone has nothing left to undo in it (its interfaces went with it).
      await Promise.all([this.teardownNetwork(s), this.stopQuietly(s.id, 0)]);
      s.stopped = true;
      await this.store.saveSandbox(s, false);
    });
  }

  /** Stops a container if it runs; with no grace period, one SIGKILL (as the kubelet's timeout 0 means). */
  private async stopQuietly(id: string, timeout: number): Promise<void> {
    const rec = this.record(id);
    if (!rec || (rec.state.status !== 'running' && rec.state.status !== 'paused')) return;
    try {
      if (timeout > 0) await this.engine.containers.stop(id, timeout);
      else {
        await this.engine.containers.kill(id, 'SIGKILL');
        // The exit normally follows at once; if it is not seen, the engine's stop looks for it.
        const ac = new AbortController();
        const timer = setTimeout(() => ac.abort(), 5000);
        try {
          await this.engine.containers.wait(id, 'not-running', ac.signal);
        } catch {
          if (this.record(id)?.state.status === 'running') await this.engine.containers.stop(id, 0);
        } finally {
          clearTimeout(timer);
        }
      }
    } catch (err) {
      if (this.record(id)?.state.status === 'running') throw err;
    }
  }

  async removePodSandbox(id: string): Promise<void> {
    const s = orNone(() => this.sandbox(id));
    if (!s) return;
    await this.locked(s.id, async () => {
      const members = [...this.store.containers.values()].filter((c) => c.sandboxId === s.id);
      for (const c of members) await this.removeContainer(c.id);
      await this.teardownNetwork(s).catch((err) => log.warn('pod network teardown failed', { id: s.id, error: String(err) }));
      if (this.record(s.id)) await this.engine.containers.remove(s.id, true);
      await this.store.deleteSandbox(s.id);
    });
  }

  private sandboxState(s: SandboxEntry): number {
    return !s.stopped && this.running(s.id) ? SANDBOX_READY : SANDBOX_NOTREADY;
  }

  podSandboxStatus(id: string, verbose: boolean): Msg {
    const s = this.sandbox(id);
    const nsOpts: Msg = s.config.linux?.security_context?.namespace_options ?? {};
    const hostNet = nsOpts.network === NS.NODE;
    const status: Msg = {
      id: s.id,
      metadata: s.config.metadata,
      state: this.sandboxState(s),
      created_at: s.createdAt,
      network: hostNet || !s.ips.length ? { ip: '', additional_ips: [] } : { ip: s.ips[0], additional_ips: s.ips.slice(1).map((ip) => ({ ip })) },
      linux: { namespaces: { options: { network: nsOpts.network ?? NS.POD, pid: nsOpts.pid ?? NS.POD, ipc: nsOpts.ipc ?? NS.POD, target_id: '' } } },
      labels: s.config.labels ?? {},
      annotations: s.config.annotations ?? {},
      runtime_handler: s.runtimeHandler,
    };
    const info: Record<string, string> = {};
    if (verbose) {
      const rec = this.record(s.id);
      info.info = JSON.stringify({ pid: rec?.state.pid ?? 0, image: this.opts.podInfraImage, config: s.config, runtimeHandler: s.runtimeHandler });
    }
    return { status, info, containers_statuses: [], timestamp: nowNs() };
  }

  listPodSandbox(filter: Msg | undefined): Msg[] {
    const out: Msg[] = [];
    for (const s of this.store.sandboxes.values()) {
      if (filter?.id && !s.id.startsWith(filter.id)) continue;
      const state = this.sandboxState(s);
      if (filter?.state && filter.state.state !== state) continue;
      if (!matchesLabels(s.config.labels ?? {}, filter?.label_selector)) continue;
      out.push({
        id: s.id,
        metadata: s.config.metadata,
        state,
        created_at: s.createdAt,
        labels: s.config.labels ?? {},
        annotations: s.config.annotations ?? {},
        runtime_handler: s.runtimeHandler,
      });
    }
    return out;
  }

  // ---- containers ------------------------------------------------------------

  private async pullImage(ref: string): Promise<void> {
    if (this.opts.pull) {
      await this.opts.pull(ref);
      return;
    }
    const plan = await this.engine.images.distribution.resolvePull(pullReference(ref));
    await plan.run(() => undefined);
  }

  private async ensureImage(ref: string): Promise<void> {
    try {
      this.engine.images.resolve(ref);
      return;
    } catch {
      /* pull it */
    }
    await this.pullImage(ref);
  }

  async createContainer(sandboxId: string, config: Msg, sandboxConfig: Msg | undefined): Promise<string> {
    const s = this.sandbox(sandboxId);
    const md = config.metadata;
    if (!md || !md.name) throw invalidArgument('container config must include metadata with a name');
    const imageName: string = config.image?.image ?? '';
    if (!imageName) throw invalidArgument('container config must name an image');
    let img;
    try {
      img = this.engine.images.resolve(imageName);
    } catch {
      throw notFound(`failed to resolve image ${JSON.stringify(imageName)}: not found`);
    }
    const pmd = s.config.metadata;
    const spec = defaultSpec(imageName);
    const linux: Msg = config.linux ?? {};
    const sc: Msg = linux.security_context ?? {};
    const podNs: Msg = s.config.linux?.security_context?.namespace_options ?? {};
    const nsOpts: Msg = sc.namespace_options ?? podNs;

    spec.labels = {
      ...(config.labels ?? {}),
      [LABEL_TYPE]: 'container',
      [LABEL_SANDBOX]: s.id,
      'io.kubernetes.container.name': md.name,
      'io.kubernetes.pod.name': pmd.name,
      'io.kubernetes.pod.namespace': pmd.namespace ?? '',
      'io.kubernetes.pod.uid': pmd.uid ?? '',
    };
    const p = spec.process;
    if (config.command?.length) p.entrypoint = [...config.command];
    if (config.args?.length) p.cmd = [...config.args];
    if (config.command?.length && !config.args?.length) p.cmd = null;
    p.env = (config.envs ?? []).map((kv: Msg) => `${kv.key}=${kv.value}`);
    p.workingDir = config.working_dir ?? '';
    p.tty = !!config.tty;
    p.openStdin = !!config.stdin;
    p.attachStdin = !!config.stdin;
    p.stdinOnce = !!config.stdin_once;

    // Namespaces: the pod's, through its pause container.
    if (podNs.network === NS.NODE) {
      spec.network.mode = 'host';
      spec.namespaces.uts = 'host';
    } else spec.network.mode = `container:${s.id}`;
    spec.namespaces.ipc = podNs.ipc === NS.NODE ? 'host' : `container:${s.id}`;
    const pid = nsOpts.pid ?? NS.CONTAINER;
    if (pid === NS.NODE || podNs.pid === NS.NODE) spec.namespaces.pid = 'host';
    else if (pid === NS.POD) spec.namespaces.pid = `container:${s.id}`;
    else if (pid === NS.TARGET) {
      if (!nsOpts.target_id) throw invalidArgument('target PID namespace needs a target_id');
      spec.namespaces.pid = `container:${this.container(nsOpts.target_id).id}`;
    }

    // User and groups.
    if (sc.run_as_group && !sc.run_as_user && !sc.run_as_username) throw invalidArgument('user group is specified without user');
    const user = sc.run_as_user ? String(sc.run_as_user.value) : sc.run_as_username || '';
    if (user) p.user = sc.run_as_group ? `${user}:${sc.run_as_group.value}` : user;
    else if (sc.run_as_group) p.user = `:${sc.run_as_group.value}`;
    const groups = (sc.supplemental_groups ?? []).map((g: number) => String(g));
    if (groups.length) spec.security.groupAdd = groups;

    const sec = spec.security;
    sec.privileged = !!sc.privileged;
    sec.readonlyRootfs = !!sc.readonly_rootfs;
    sec.noNewPrivileges = !!sc.no_new_privs;
    const caps: Msg = sc.capabilities ?? {};
    if (caps.add_capabilities?.length) sec.capAdd = caps.add_capabilities.map(capName);
    if (caps.drop_capabilities?.length) sec.capDrop = caps.drop_capabilities.map(capName);
    sec.seccomp = sec.privileged ? 'unconfined' : await seccompOf(sc);
    if (sc.masked_paths?.length) sec.maskedPaths = [...sc.masked_paths];
    if (sc.readonly_paths?.length) sec.readonlyPaths = [...sc.readonly_paths];

    // Resources, under the pod's cgroup.
    applyResources(spec, linux.resources);
    const parent = s.config.linux?.cgroup_parent || sandboxConfig?.linux?.cgroup_parent;
    if (parent) spec.cgroupParent = parent;

    // Devices and mounts.
    for (const d of config.devices ?? []) {
      spec.resources.devices.push({ pathOnHost: d.host_path, pathInContainer: d.container_path, cgroupPermissions: d.permissions || 'rwm' });
    }
    const mounted = new Set<string>();
    for (const m of config.mounts ?? []) {
      if (!m.container_path) throw invalidArgument('a mount needs a container_path');
      if (!isAbsolute(m.host_path ?? '')) throw invalidArgument(`mount host path ${JSON.stringify(m.host_path)} must be absolute`);
      let source = m.host_path as string;
      try {
        source = await fsp.realpath(source);
      } catch {
        throw invalidArgument(`failed to mount ${m.host_path}: the host path does not exist`);
      }
      const propagation = PROPAGATION[m.propagation ?? 0] ?? 'rprivate';
      const mount: MountRequest = {
        type: 'bind', destination: m.container_path, source, mode: m.readonly ? 'ro' : '', rw: !m.readonly, propagation,
      };
      spec.mounts.push(mount);
      mounted.add(m.container_path);
    }
    for (const f of ['hostname', 'hosts', 'resolv.conf']) {
      const dest = `/etc/${f}`;
      if (mounted.has(dest)) continue;
      spec.mounts.push({ type: 'bind', destination: dest, source: join(s.dir, f), mode: '', rw: true, propagation: 'rprivate' });
    }

    const logDir: string = sandboxConfig?.log_directory || s.config.log_directory || '';
    const logPath = config.log_path ? join(logDir, config.log_path) : undefined;
    const name = `k8s_${nameSafe(md.name)}_${nameSafe(pmd.name)}_${nameSafe(pmd.namespace ?? '')}_${nameSafe(pmd.uid ?? '')}_${md.attempt ?? 0}`;
    const tCreate = traceStart();
    const createdAt = nowNs();
    // The CRI entry is written alongside the engine's record (init() forgets an entry
    // whose container a crash did not leave).
    let saved: string | undefined;
    const alongside = (rec: ContainerRecord) => {
      saved = rec.id;
      return this.store.saveContainer({ id: rec.id, sandboxId: s.id, config, createdAt, image: imageName, imageRef: img.id, logPath: logPath ?? '' }, false);
    };
    let record: ContainerRecord;
    try {
      ({ record } = await this.engine.containers.create({ name, spec, noInitLayer: true, alongside, durable: false, ...(logPath ? { logPath } : {}) }));
    } catch (err) {
      if (saved) await this.store.deleteContainer(saved).catch(() => undefined);
      throw err;
    }
    traceSpan(record.id, 'ctr: engine create', tCreate);
    return record.id;
  }

  async startContainer(id: string): Promise<void> {
    const c = this.container(id);
    const rec = this.record(c.id);
    if (!rec) throw notFound(`container ${id} not found`);
    if (rec.state.status !== 'created') throw new CriError(GRPC.UNKNOWN, `container ${c.id} is in ${rec.state.status} state, not created`);
    await this.engine.containers.start(c.id);
  }

  async stopContainer(id: string, timeout: number): Promise<void> {
    const c = this.container(id);
    await this.stopQuietly(c.id, Math.max(0, timeout));
  }

  async removeContainer(id: string): Promise<void> {
    const c = orNone(() => this.container(id));
    if (!c) return;
    const tRemove = traceStart();
    // Its bundle, snapshot and network are released after the answer (a crash leaves that to
    // the engine's trash sweep at start).
    if (this.record(c.id)) await this.engine.containers.remove(c.id, true, false, true);
    const tDelete = traceStart();
    traceSpan(c.id, 'ctr: engine remove', tRemove, tDelete);
    // Out of the map at once; the file may go after the answer: an entry whose container is
    // gone is forgotten by init() after a crash.
    const deleted = this.store.deleteContainer(c.id);
    void deleted.catch((err) => log.warn('cannot delete the CRI entry of a removed container', { id: c.id, error: String(err) }));
    traceSpan(c.id, 'ctr: cri delete', tDelete);
  }

  private containerState(rec: ContainerRecord | undefined): number {
    if (!rec) return CONTAINER_UNKNOWN;
    switch (rec.state.status) {
      case 'created':
        return CONTAINER_CREATED;
      case 'running':
      case 'paused':
      case 'restarting':
        return CONTAINER_RUNNING;
      case 'exited':
      case 'dead':
        return CONTAINER_EXITED;
      default:
        return CONTAINER_UNKNOWN;
    }
  }

  listContainers(filter: Msg | undefined): Msg[] {
    const out: Msg[] = [];
    for (const c of this.store.containers.values()) {
      if (filter?.id && !c.id.startsWith(filter.id)) continue;
      if (filter?.pod_sandbox_id && !c.sandboxId.startsWith(filter.pod_sandbox_id)) continue;
      const state = this.containerState(this.record(c.id));
      if (filter?.state && filter.state.state !== state) continue;
      if (!matchesLabels(c.config.labels ?? {}, filter?.label_selector)) continue;
      out.push({
        id: c.id,
        pod_sandbox_id: c.sandboxId,
        metadata: c.config.metadata,
        image: { image: c.image, annotations: {} },
        image_ref: c.imageRef,
        state,
        created_at: c.createdAt,
        labels: c.config.labels ?? {},
        annotations: c.config.annotations ?? {},
      });
    }
    return out;
  }

  containerStatus(id: string, verbose: boolean): Msg {
    const c = this.container(id);
    const rec = this.record(c.id);
    const state = this.containerState(rec);
    let reason = '';
    if (rec && state === CONTAINER_EXITED) reason = rec.state.oomKilled ? 'OOMKilled' : rec.state.exitCode === 0 ? 'Completed' : 'Error';
    const status: Msg = {
      id: c.id,
      metadata: c.config.metadata,
      state,
      created_at: c.createdAt,
      started_at: rec ? isoToNs(rec.state.startedAt) : 0,
      finished_at: rec && state === CONTAINER_EXITED ? isoToNs(rec.state.finishedAt) : 0,
      exit_code: rec?.state.exitCode ?? 0,
      image: { image: c.image, annotations: {} },
      image_ref: c.imageRef,
      reason,
      message: rec?.state.error ?? '',
      labels: c.config.labels ?? {},
      annotations: c.config.annotations ?? {},
      mounts: (c.config.mounts ?? []).map((m: Msg) => ({ ...m })),
      log_path: c.logPath,
    };
    const info: Record<string, string> = {};
    if (verbose) info.info = JSON.stringify({ pid: rec?.state.pid ?? 0, sandboxID: c.sandboxId, config: c.config });
    return { status, info };
  }

  async updateContainerResources(id: string, resources: Msg | undefined): Promise<void> {
    const c = this.container(id);
    if (!resources) return;
    await this.engine.containers.update(c.id, {
      ...(resources.memory_limit_in_bytes ? { memory: resources.memory_limit_in_bytes } : {}),
      ...(resources.cpu_shares ? { cpuShares: resources.cpu_shares } : {}),
      ...(resources.cpu_period ? { cpuPeriod: resources.cpu_period } : {}),
      ...(resources.cpu_quota ? { cpuQuota: resources.cpu_quota } : {}),
      ...(resources.cpuset_cpus ? { cpusetCpus: resources.cpuset_cpus } : {}),
      ...(resources.cpuset_mems ? { cpusetMems: resources.cpuset_mems } : {}),
      ...(resources.memory_swap_limit_in_bytes ? { memorySwap: resources.memory_swap_limit_in_bytes } : {}),
    });
    c.config.linux = { ...(c.config.linux ?? {}), resources };
    await this.store.saveContainer(c);
  }

  /** Has the monitor reopen the log, and answers once the file is there again (the monitor does it asynchronously). */
  async reopenContainerLog(id: string): Promise<void> {
    const c = this.container(id);
    if (!this.running(c.id)) throw new CriError(GRPC.FAILED_PRECONDITION, `container ${c.id} is not running`);
    this.engine.containers.reopenLog(c.id);
    const path = this.record(c.id)?.logPath;
    if (!path) return;
    for (let i = 0; i < 200; i++) {
      try {
        await fsp.access(path);
        return;
      } catch {
        await new Promise((r) => setTimeout(r, 10));
      }
    }
    throw new CriError(GRPC.UNKNOWN, `the monitor of container ${c.id} did not reopen its log ${path}`);
  }

  /** Runs a command in the container and collects its output; on timeout the process is killed. */
  async execSync(id: string, cmd: string[], timeoutSec: number): Promise<{ stdout: Buffer; stderr: Buffer; exitCode: number }> {
    const c = this.container(id);
    if (!this.running(c.id)) throw new CriError(GRPC.FAILED_PRECONDITION, `container ${c.id} is not running`);
    const x = this.engine.execs.create(c.id, { cmd, attachStdout: true, attachStderr: true });
    const out: Buffer[] = [];
    const err: Buffer[] = [];
    const abort = new AbortController();
    let timedOut = false;
    const timer = timeoutSec > 0
      ? setTimeout(() => {
        timedOut = true;
        if (x.pid > 0) {
          try {
            process.kill(x.pid, 'SIGKILL');
          } catch {
            /* gone already */
          }
        }
        abort.abort();
      }, timeoutSec * 1000)
      : undefined;
    try {
      await this.engine.execs.start(x.id, {}, { output: (e) => (e.stream === 'stderr' ? err : out).push(e.data) }, abort.signal);
    } finally {
      if (timer) clearTimeout(timer);
    }
    if (timedOut) throw new CriError(GRPC.DEADLINE_EXCEEDED, `command ${JSON.stringify(cmd.join(' '))} timed out after ${timeoutSec}s`);
    return { stdout: Buffer.concat(out), stderr: Buffer.concat(err), exitCode: this.engine.execs.get(x.id).exitCode ?? 0 };
  }

  // ---- stats -----------------------------------------------------------------

  async containerStats(id: string): Promise<Msg> {
    const c = this.container(id);
    const ts = nowNs();
    const attributes = { id: c.id, metadata: c.config.metadata, labels: c.config.labels ?? {}, annotations: c.config.annotations ?? {} };
    let cpu: Msg = { timestamp: ts, usage_core_nano_seconds: { value: 0 }, usage_nano_cores: { value: 0 } };
    let memory: Msg = { timestamp: ts, working_set_bytes: { value: 0 }, available_bytes: { value: 0 }, usage_bytes: { value: 0 }, rss_bytes: { value: 0 }, page_faults: { value: 0 }, major_page_faults: { value: 0 } };
    const rec = this.record(c.id);
    if (rec && rec.state.status === 'running') {
      try {
        const sample = this.engine.containers.stats(c.id);
        const g = sample.cgroup;
        if (g) {
          cpu = { timestamp: ts, usage_core_nano_seconds: { value: g.cpu.total }, usage_nano_cores: { value: 0 } };
          const st = g.memory.stats;
          const inactive = st.inactive_file ?? st.total_inactive_file ?? 0;
          memory = {
            timestamp: ts,
            working_set_bytes: { value: Math.max(0, g.memory.usage - inactive) },
            available_bytes: { value: g.memory.limit ? Math.max(0, g.memory.limit - g.memory.usage) : 0 },
            usage_bytes: { value: g.memory.usage },
            rss_bytes: { value: st.anon ?? st.rss ?? st.total_rss ?? 0 },
            page_faults: { value: st.pgfault ?? 0 },
            major_page_faults: { value: st.pgmajfault ?? 0 },
          };
        }
      } catch (err) {
        log.debug('container stats unavailable', { id: c.id, error: String(err) });
      }
    }
    let used = 0;
    try {
      if (rec) used = (await this.engine.containerSize(rec)).rw;
    } catch {
      /* not mounted */
    }
    const writable = { timestamp: ts, fs_id: { mountpoint: this.engine.options.dataRoot }, used_bytes: { value: used }, inodes_used: { value: 0 } };
    return { attributes, cpu, memory, writable_layer: writable };
  }

  async listContainerStats(filter: Msg | undefined): Promise<Msg[]> {
    const out: Msg[] = [];
    for (const c of this.store.containers.values()) {
      if (filter?.id && !c.id.startsWith(filter.id)) continue;
      if (filter?.pod_sandbox_id && !c.sandboxId.startsWith(filter.pod_sandbox_id)) continue;
      if (!matchesLabels(c.config.labels ?? {}, filter?.label_selector)) continue;
      out.push(await this.containerStats(c.id));
    }
    return out;
  }

  async podSandboxStats(id: string): Promise<Msg> {
    const s = this.sandbox(id);
    const containers = await this.listContainerStats({ pod_sandbox_id: s.id });
    const ts = nowNs();
    const sum = (f: (m: Msg) => number) => containers.reduce((a, m) => a + f(m), 0);
    return {
      attributes: { id: s.id, metadata: s.config.metadata, labels: s.config.labels ?? {}, annotations: s.config.annotations ?? {} },
      linux: {
        cpu: { timestamp: ts, usage_core_nano_seconds: { value: sum((m) => m.cpu.usage_core_nano_seconds.value) }, usage_nano_cores: { value: 0 } },
        memory: { timestamp: ts, working_set_bytes: { value: sum((m) => m.memory.working_set_bytes.value) }, usage_bytes: { value: sum((m) => m.memory.usage_bytes.value) } },
        network: { timestamp: ts, default_interface: null, interfaces: [] },
        process: { timestamp: ts, process_count: { value: 0 } },
        containers,
      },
    };
  }

  async listPodSandboxStats(filter: Msg | undefined): Promise<Msg[]> {
    const out: Msg[] = [];
    for (const s of this.store.sandboxes.values()) {
      if (filter?.id && !s.id.startsWith(filter.id)) continue;
      if (!matchesLabels(s.config.labels ?? {}, filter?.label_selector)) continue;
      out.push(await this.podSandboxStats(s.id));
    }
    return out;
  }

  /** The pause container's pid (for port forwarding into the pod's namespace). */
  sandboxPid(id: string): number {
    const s = this.sandbox(id);
    const rec = this.record(s.id);
    if (!rec || rec.state.status !== 'running') throw new CriError(GRPC.FAILED_PRECONDITION, `pod sandbox ${s.id} is not running`);
    return rec.state.pid;
  }
}

function capName(c: string): string {
  const u = c.toUpperCase();
  return u === 'ALL' || u.startsWith('CAP_') ? u : `CAP_${u}`;
}

async function seccompOf(sc: Msg): Promise<ContainerSpec['security']['seccomp']> {
  const profile: Msg | undefined = sc.seccomp;
  if (profile && (profile.profile_type !== 0 || profile.localhost_ref)) {
    // SecurityProfile: 0 RuntimeDefault, 1 Unconfined, 2 Localhost.
    if (profile.profile_type === 1) return 'unconfined';
    if (profile.profile_type === 2) return localProfile(profile.localhost_ref);
    return 'default';
  }
  const path: string = sc.seccomp_profile_path ?? '';
  if (path === '' || path === 'unconfined') return 'unconfined';
  if (path === 'runtime/default' || path === 'docker/default') return 'default';
  if (path.startsWith('localhost/')) return localProfile(path.slice('localhost/'.length));
  throw invalidArgument(`failed to generate seccomp spec opts: unknown seccomp profile option: ${JSON.stringify(path)}`);
}

async function localProfile(path: string): Promise<{ profile: string }> {
  try {
    return { profile: await fsp.readFile(path, 'utf8') };
  } catch (err) {
    throw invalidArgument(`failed to load seccomp profile ${JSON.stringify(path)}: ${(err as Error).message}`);
  }
}

function applyResources(spec: ContainerSpec, r: Msg | undefined): void {
  if (!r) return;
  const res = spec.resources;
  if (r.cpu_period) res.cpuPeriod = r.cpu_period;
  if (r.cpu_quota > 0) res.cpuQuota = r.cpu_quota;
  if (r.cpu_shares) res.cpuShares = r.cpu_shares;
  if (r.memory_limit_in_bytes) res.memory = r.memory_limit_in_bytes;
  if (r.memory_swap_limit_in_bytes) res.memorySwap = r.memory_swap_limit_in_bytes;
  if (r.cpuset_cpus) res.cpusetCpus = r.cpuset_cpus;
  if (r.cpuset_mems) res.cpusetMems = r.cpuset_mems;
  if (r.oom_score_adj > 0) spec.security.oomScoreAdj = r.oom_score_adj;
}

/** What `get` finds, or undefined when it is not found (stop and remove of what is gone succeed). */
function orNone<T>(get: () => T): T | undefined {
  try {
    return get();
  } catch (err) {
    if (err instanceof BerthError && err.kind === 'not-found') return undefined;
    throw err;
  }
}
