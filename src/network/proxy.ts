/**
 * The userland proxy: one berth-proxy process (native/berth-proxy.c) per container with
 * published ports, as Docker runs docker-proxy. It holds the ports on the host and relays
 * what NAT cannot: the "::" side of a port published on every address, to a container
 * that only has an IPv4 address.
 *
 * Contract
 * - `startProxy` resolves once every listener is bound, with the process's identity (pid and
 *   start time, which the endpoint file keeps). When one cannot be bound it rejects with a
 *   ProxyBindError naming that mapping and the cause in dockerd's words ("address already
 *   in use"), and nothing is left running.
 * - The process leads a session of its own, so it outlives berthd as the container does.
 * - `stopProxy` kills the process it names (only that one: a reused pid is left alone) and
 *   resolves once it is gone, so its ports are free again.
 */
import type { Readable } from 'node:stream';
import { builtHelper, procStartTime, spawnWith } from '../sys';
import type { PortMapping } from './ports';

export interface ProxyHandle {
  pid: number;
  /** /proc's start time of the process, so a reused pid is never taken for it. */
  start: string;
}

/** How long `stopProxy` waits at most for a killed proxy to be gone. */
const EXIT_WAIT_MS = 2000;

/** The built proxy, unless BERTH_USERLAND_PROXY=0 or no C compiler built it. */
export function findProxy(env: NodeJS.ProcessEnv = process.env): string | undefined {
  return env.BERTH_USERLAND_PROXY === '0' ? undefined : builtHelper('berth-proxy');
}

/** The mappings the proxy takes: all but SCTP's, which NAT alone forwards. */
export const proxied = (ports: readonly PortMapping[]): PortMapping[] => ports.filter((p) => p.protocol !== 'sctp');

/** A listener the proxy could not bind: the mapping and why (Go's words for the errno, as dockerd gives them). */
export class ProxyBindError extends Error {
  constructor(
    readonly mapping: PortMapping,
    readonly cause_: string,
  ) {
    super(cause_);
  }
}

/** What the proxy started in this daemon's life: their exits, to wait on when they are stopped. */
const exits = new Map<number, Promise<number>>();

/** Starts a proxy for `ports` (see `proxied`), each relayed to the container's `containerIp`. */
export async function startProxy(binary: string, ports: readonly PortMapping[], containerIp: string): Promise<ProxyHandle> {
  const specs = ports.map((p) => `${p.protocol},${p.hostIp || '0.0.0.0'},${p.hostPort},${containerIp},${p.containerPort}`);
  const child = spawnWith(binary, [binary, ...specs], ['null', 'pipe', 'null'], { env: {}, setsid: true, unref: true });
  const said = (await readAll(child.pipes[1]!)).trim();
  if (said !== 'ok') {
    const code = await child.exited;
    const m = /^fail (\d+) \w+: (.*)$/.exec(said);
    const mapping = m ? ports[Number(m[1]) - 1] : undefined;
    if (mapping) throw new ProxyBindError(mapping, m![2]!);
    throw new Error(said || `berth-proxy exited with ${code}`);
  }
  const start = procStartTime(child.pid);
  if (start === undefined) throw new Error('berth-proxy exited right after binding its ports');
  exits.set(child.pid, child.exited);
  void child.exited.then(() => exits.delete(child.pid));
  return { pid: child.pid, start };
}

export async function stopProxy(h: ProxyHandle): Promise<void> {
  if (procStartTime(h.pid) !== h.start) return;
  try {
    process.kill(h.pid, 'SIGKILL');
  } catch {
    return;
  }
  const own = exits.get(h.pid);
  if (own) {
    // The timer also keeps the event loop up meanwhile: the child itself does not (unref).
    let timer: NodeJS.Timeout | undefined;
    await Promise.race([own, new Promise((r) => (timer = setTimeout(r, EXIT_WAIT_MS)))]);
    clearTimeout(timer);
    return;
  }
  // A proxy a previous berthd started is init's child now: nothing tells us of its end but /proc.
  const until = Date.now() + EXIT_WAIT_MS;
  while (procStartTime(h.pid) === h.start && Date.now() < until) await new Promise((r) => setTimeout(r, 5));
}

/** Whether the proxy a handle names still runs. */
export function proxyAlive(h: ProxyHandle): boolean {
  return procStartTime(h.pid) === h.start;
}

function readAll(s: Readable): Promise<string> {
  return new Promise((resolve) => {
    const chunks: Buffer[] = [];
    s.on('data', (d: Buffer) => chunks.push(d));
    const done = () => resolve(Buffer.concat(chunks).toString());
    s.on('error', done);
    s.on('close', done);
  });
}
