/**
 * The CRI gRPC server: runtime.v1 RuntimeService and ImageService (api.proto, kept
 * beside this file) on a unix socket, plus the streaming server that Exec, Attach and
 * PortForward hand out URLs of.
 *
 *   const cri = new CriServer(engine, { socket: '/run/berth/cri.sock', podInfraImage: 'registry.k8s.io/pause:3.6' });
 *   await cri.start();
 */
import { existsSync, promises as fsp } from 'node:fs';
import net from 'node:net';
import { basename, dirname, join } from 'node:path';
import * as grpc from '@grpc/grpc-js';
import * as protoLoader from '@grpc/proto-loader';
import { log, traceSpan, traceStart } from '../common';
import { ENGINE_VERSION, type Engine } from '../engine';
import { authorityFilter } from './authority';
import { CriError, GRPC, grpcStatus } from './errors';
import { CriImages } from './images';
import { CriRuntime, RUNTIME_API_VERSION, RUNTIME_NAME } from './runtime';
import type { Msg } from './store';
import { StreamingServer } from './streaming';

export interface CriServerOptions {
  socket: string;
  podInfraImage: string;
  /** Address of the streaming server (default 127.0.0.1, a free port). */
  streamingHost?: string;
  streamingPort?: number;
}

function protoPath(): string {
  // Compiled to dist/src/cri/: the proto stays in src/cri/.
  for (const p of [join(__dirname, 'api.proto'), join(__dirname, '..', '..', '..', 'src', 'cri', 'api.proto')]) if (existsSync(p)) return p;
  throw new Error('api.proto of the CRI is missing from the installation');
}

type Handler = (req: Msg) => Promise<Msg> | Msg;

export class CriServer {
  private readonly server = new grpc.Server({ 'grpc.max_receive_message_length': 16 << 20, 'grpc.max_send_message_length': 16 << 20 });
  readonly runtime: CriRuntime;
  readonly images: CriImages;
  readonly streaming: StreamingServer;
  private listener?: net.Server;
  private inner?: { server: net.Server; dir: string };
  private injector?: { destroy(): void };

  constructor(
    private readonly engine: Engine,
    private readonly opts: CriServerOptions,
  ) {
    this.images = new CriImages(engine);
    this.runtime = new CriRuntime(engine, { podInfraImage: opts.podInfraImage, pull: (ref) => this.images.pull(ref, undefined) });
    this.streaming = new StreamingServer(engine, this.runtime);
  }

  async start(): Promise<void> {
    await this.runtime.init();
    await this.streaming.listen(this.opts.streamingHost ?? '127.0.0.1', this.opts.streamingPort ?? 0);
    const def = protoLoader.loadSync(protoPath(), { keepCase: true, longs: Number, enums: Number, defaults: true, oneofs: true });
    const pkg = grpc.loadPackageDefinition(def) as unknown as { runtime: { v1: Record<string, { service: grpc.ServiceDefinition }> } };
    this.server.addService(pkg.runtime.v1.RuntimeService!.service, this.wrap(this.runtimeHandlers(), pkg.runtime.v1.RuntimeService!.service));
    this.server.addService(pkg.runtime.v1.ImageService!.service, this.wrap(this.imageHandlers(), pkg.runtime.v1.ImageService!.service));
    await fsp.mkdir(dirname(this.opts.socket), { recursive: true });
    await fsp.rm(this.opts.socket, { force: true });
    // Connections reach gRPC through the authority filter (see authority.ts).
    const injector = this.server.createConnectionInjector(grpc.ServerCredentials.createInsecure());
    this.injector = injector;
    const inner = await this.listenInner((s) => injector.injectConnection(s));
    this.listener = net.createServer((socket) => {
      const filtered = authorityFilter(socket);
      if (!inner) return injector.injectConnection(filtered);
      const c = net.connect(inner);
      filtered.pipe(c);
      c.pipe(filtered);
      c.on('error', () => filtered.destroy());
      filtered.on('error', () => c.destroy());
      filtered.on('close', () => c.destroy());
    });
    const listener = this.listener;
    await new Promise<void>((resolve, reject) => {
      listener.once('error', reject);
      listener.listen(this.opts.socket, () => {
        listener.off('error', reject);
        resolve();
      });
    });
    // A listening server reports failed accepts (EMFILE …) as 'error', as often as they happen.
    listener.on('error', (err) => log.warn('CRI server: accepting a connection failed', { error: String(err) }));
    await fsp.chmod(this.opts.socket, 0o660);
    log.info('CRI server listening', { socket: this.opts.socket, streaming: this.streaming.baseUrl });
  }

  /**
   * The socket gRPC's HTTP/2 sessions really run on: the filter's output is written into it
   * and the sessions' answers are read back from it, so that each session has a kernel socket
   * under it (node's native stream) instead of a JavaScript stream (node then emulates one,
   * at about 10 % more CPU per call). It lives in a directory only root can enter, next to the
   * CRI socket. Undefined, and the filter's stream is handed to gRPC as it is, when it cannot
   * be made (a path too long for a unix socket, say).
   */
  private async listenInner(onConnection: (s: net.Socket) => void): Promise<string | undefined> {
    const dir = join(dirname(this.opts.socket), `.${basename(this.opts.socket)}.grpc`);
    const path = join(dir, 's');
    try {
      await fsp.rm(dir, { recursive: true, force: true });
      await fsp.mkdir(dir, { mode: 0o700 });
      const server = net.createServer(onConnection);
      await new Promise<void>((resolve, reject) => {
        server.once('error', reject);
        server.listen(path, () => {
          server.off('error', reject);
          resolve();
        });
      });
      server.on('error', (err) => log.warn('CRI server: accepting an inner connection failed', { error: String(err) }));
      this.inner = { server, dir };
      return path;
    } catch (err) {
      log.info('CRI server: gRPC runs on the filter\'s stream', { reason: String(err) });
      await fsp.rm(dir, { recursive: true, force: true }).catch(() => undefined);
      return undefined;
    }
  }

  async close(): Promise<void> {
    this.listener?.close();
    this.inner?.server.close();
    if (this.inner) await fsp.rm(this.inner.dir, { recursive: true, force: true }).catch(() => undefined);
    this.injector?.destroy();
    this.server.forceShutdown();
    await this.streaming.close();
    await fsp.rm(this.opts.socket, { force: true }).catch(() => undefined);
  }

  private wrap(handlers: Record<string, Handler>, service: grpc.ServiceDefinition): grpc.UntypedServiceImplementation {
    const impl: grpc.UntypedServiceImplementation = {};
    for (const name of Object.keys(service)) {
      const h = handlers[name];
      if (service[name]!.responseStream) {
        impl[name] = (call: grpc.ServerWritableStream<Msg, Msg>) => call.emit('error', { code: GRPC.UNIMPLEMENTED, details: `${name} is not implemented` });
        continue;
      }
      impl[name] = (call: grpc.ServerUnaryCall<Msg, Msg>, cb: grpc.sendUnaryData<Msg>) => {
        if (!h) {
          cb({ code: GRPC.UNIMPLEMENTED, details: `${name} is not implemented` });
          return;
        }
        const t0 = Date.now();
        const tTrace = traceStart();
        Promise.resolve()
          .then(() => h(call.request))
          .then(
            (res) => {
              log.debug('cri', { method: name, ms: Date.now() - t0 });
              traceSpan('cri', `cri ${name}`, tTrace);
              cb(null, res);
            },
            (err) => {
              const st = grpcStatus(err);
              log.debug('cri error', { method: name, code: st.code, error: st.details });
              cb({ code: st.code, details: st.details });
            },
          );
      };
    }
    return impl;
  }

  private runtimeHandlers(): Record<string, Handler> {
    const rt = this.runtime;
    const st = this.streaming;
    return {
      Version: () => ({ version: '0.1.0', runtime_name: RUNTIME_NAME, runtime_version: ENGINE_VERSION, runtime_api_version: RUNTIME_API_VERSION }),
      Status: async (req) => {
        const netReady = await this.engine.podNetwork.ready();
        const conditions = [
          { type: 'RuntimeReady', status: true, reason: '', message: '' },
          { type: 'NetworkReady', status: netReady, reason: netReady ? '' : 'NetworkPluginNotReady', message: netReady ? '' : 'Network plugin returns error: cni plugin not initialized' },
        ];
        const info: Record<string, string> = {};
        if (req.verbose) info.config = JSON.stringify({ podInfraImage: this.opts.podInfraImage, cni: this.engine.options.cni ?? null });
        return { status: { conditions }, info };
      },
      UpdateRuntimeConfig: () => ({}),
      RunPodSandbox: async (req) => ({ pod_sandbox_id: await rt.runPodSandbox(req.config ?? {}, req.runtime_handler ?? '') }),
      StopPodSandbox: async (req) => (await rt.stopPodSandbox(req.pod_sandbox_id), {}),
      RemovePodSandbox: async (req) => (await rt.removePodSandbox(req.pod_sandbox_id), {}),
      PodSandboxStatus: (req) => rt.podSandboxStatus(req.pod_sandbox_id, !!req.verbose),
      ListPodSandbox: (req) => ({ items: rt.listPodSandbox(req.filter ?? undefined) }),
      CreateContainer: async (req) => ({ container_id: await rt.createContainer(req.pod_sandbox_id, req.config ?? {}, req.sandbox_config ?? undefined) }),
      StartContainer: async (req) => (await rt.startContainer(req.container_id), {}),
      StopContainer: async (req) => (await rt.stopContainer(req.container_id, Number(req.timeout ?? 0)), {}),
      RemoveContainer: async (req) => (await rt.removeContainer(req.container_id), {}),
      ListContainers: (req) => ({ containers: rt.listContainers(req.filter ?? undefined) }),
      ContainerStatus: (req) => rt.containerStatus(req.container_id, !!req.verbose),
      UpdateContainerResources: async (req) => (await rt.updateContainerResources(req.container_id, req.linux ?? undefined), {}),
      ReopenContainerLog: async (req) => (await rt.reopenContainerLog(req.container_id), {}),
      ExecSync: async (req) => {
        const r = await rt.execSync(req.container_id, req.cmd ?? [], Number(req.timeout ?? 0));
        return { stdout: r.stdout, stderr: r.stderr, exit_code: r.exitCode };
      },
      Exec: (req) => {
        const c = rt.container(req.container_id);
        if (!req.cmd?.length) throw new CriError(GRPC.INVALID_ARGUMENT, 'cmd must be given');
        if (!req.stdin && !req.stdout && !req.stderr) throw new CriError(GRPC.INVALID_ARGUMENT, 'one of stdin, stdout, or stderr must be set');
        if (req.tty && req.stderr) throw new CriError(GRPC.INVALID_ARGUMENT, 'tty and stderr cannot both be true');
        return { url: st.register({ kind: 'exec', containerId: c.id, cmd: req.cmd, tty: !!req.tty, stdin: !!req.stdin, stdout: !!req.stdout, stderr: !!req.stderr }) };
      },
      Attach: (req) => {
        const c = rt.container(req.container_id);
        if (!req.stdin && !req.stdout && !req.stderr) throw new CriError(GRPC.INVALID_ARGUMENT, 'one of stdin, stdout, or stderr must be set');
        return { url: st.register({ kind: 'attach', containerId: c.id, cmd: [], tty: !!req.tty, stdin: !!req.stdin, stdout: !!req.stdout, stderr: !!req.stderr }) };
      },
      PortForward: (req) => {
        const s = rt.sandbox(req.pod_sandbox_id);
        return { url: st.register({ kind: 'portforward', sandboxId: s.id, ports: req.port ?? [] }) };
      },
      ContainerStats: async (req) => ({ stats: await rt.containerStats(req.container_id) }),
      ListContainerStats: async (req) => ({ stats: await rt.listContainerStats(req.filter ?? undefined) }),
      PodSandboxStats: async (req) => ({ stats: await rt.podSandboxStats(req.pod_sandbox_id) }),
      ListPodSandboxStats: async (req) => ({ stats: await rt.listPodSandboxStats(req.filter ?? undefined) }),
    };
  }

  private imageHandlers(): Record<string, Handler> {
    const im = this.images;
    return {
      ListImages: (req) => ({ images: im.list(req.filter ?? undefined) }),
      ImageStatus: (req) => im.status(req.image?.image ?? '', !!req.verbose),
      PullImage: async (req) => ({ image_ref: await im.pull(req.image?.image ?? '', req.auth ?? undefined) }),
      RemoveImage: async (req) => (await im.remove(req.image?.image ?? ''), {}),
      ImageFsInfo: async () => ({ image_filesystems: await im.fsInfo() }),
    };
  }
}
