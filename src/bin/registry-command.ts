/**
 * `berth registry serve|gc`: runs the embedded registry in this process. It
 * needs no daemon, so bin/ dispatches it before the API-client CLI.
 */
import { log } from '../common';

export interface RegistryCommandIO {
  stdout: NodeJS.WritableStream;
  stderr: NodeJS.WritableStream;
  signals: NodeJS.EventEmitter;
}

const USAGE = `Usage:  berth registry COMMAND

Run an OCI distribution registry

Commands:
  serve   Serve a registry over HTTP
            --addr HOST:PORT   Address to listen on (default "127.0.0.1:5000"; port 0 picks one)
            --root DIR         Storage directory (required)
            --htpasswd FILE    Require Basic auth from this htpasswd file (bcrypt entries)
  gc      Remove blobs no manifest references; run it while the registry is stopped
            --root DIR         Storage directory (required)
            --dry-run          Only list what would be removed
            --force            Run even though a registry is serving DIR
`;

/** Runs the command; resolves with the exit code (serve resolves when a signal stops it). */
export async function runRegistryCommand(argv: string[], io: RegistryCommandIO): Promise<number> {
  const [sub, ...rest] = argv;
  if (sub === undefined || sub === '--help' || sub === '-h' || sub === 'help') {
    io.stdout.write(USAGE);
    return sub === undefined ? 1 : 0;
  }
  let flags: Record<string, string | true>;
  try {
    flags = parseFlags(rest, sub === 'gc' ? ['root', 'dry-run', 'force'] : ['addr', 'root', 'htpasswd']);
  } catch (err) {
    io.stderr.write(`berth registry ${sub}: ${(err as Error).message}\nSee 'berth registry --help'.\n`);
    return 125;
  }
  if (flags.help) {
    io.stdout.write(USAGE);
    return 0;
  }
  const root = flags.root;
  if (typeof root !== 'string') {
    io.stderr.write(`berth registry ${sub}: --root DIR is required\n`);
    return 125;
  }
  if (sub === 'gc') {
    let r;
    try {
      const { collectGarbage } = await import('../registry');
      r = await collectGarbage(root, { dryRun: flags['dry-run'] === true, force: flags.force === true });
    } catch (err) {
      io.stderr.write(`berth registry gc: ${(err as Error).message}\n`);
      return 1;
    }
    for (const d of r.removed) io.stdout.write(`${flags['dry-run'] ? 'would remove' : 'removed'} ${d}\n`);
    io.stdout.write(`${r.removed.length} blobs, ${r.bytes} bytes${flags['dry-run'] ? ' would be freed' : ' freed'}\n`);
    return 0;
  }
  if (sub !== 'serve') {
    io.stderr.write(`berth registry: unknown command ${JSON.stringify(sub)}\nSee 'berth registry --help'.\n`);
    return 125;
  }
  const addr = parseHostPort(typeof flags.addr === 'string' ? flags.addr : '127.0.0.1:5000');
  if (!addr) {
    io.stderr.write(`berth registry serve: --addr must be HOST:PORT, not ${JSON.stringify(flags.addr)}\n`);
    return 125;
  }
  // Loaded here, not at the top: berthd imports this file for parseHostPort and only needs the
  // registry when daemon.json asks for one.
  const { RegistryServer } = await import('../registry');
  const server = new RegistryServer({ root, htpasswd: typeof flags.htpasswd === 'string' ? flags.htpasswd : undefined });
  let bound;
  try {
    bound = await server.start(addr);
  } catch (err) {
    io.stderr.write(`berth registry serve: ${(err as Error).message}\n`);
    return 1;
  }
  const shown = bound.host.includes(':') ? `[${bound.host}]:${bound.port}` : `${bound.host}:${bound.port}`;
  log.info('registry listening', { address: shown, root, auth: flags.htpasswd ? 'htpasswd' : 'none' });
  // Tests and scripts read this line to learn the port when --addr asked for port 0.
  io.stdout.write(`listening on ${shown}\n`);
  await new Promise<void>((resolve) => {
    const stop = () => resolve();
    io.signals.once('SIGINT', stop);
    io.signals.once('SIGTERM', stop);
  });
  await server.close();
  return 0;
}

/** `HOST:PORT` or `[V6]:PORT`; an empty host means 127.0.0.1. Undefined when malformed. */
export function parseHostPort(addr: string): { host: string; port: number } | undefined {
  const m = /^(?:\[([^\]]+)\]|([^:]*)):(\d{1,5})$/.exec(addr);
  if (!m || Number(m[3]) > 65535) return undefined;
  return { host: m[1] ?? (m[2] || '127.0.0.1'), port: Number(m[3]) };
}

function parseFlags(args: string[], known: string[]): Record<string, string | true> {
  const out: Record<string, string | true> = {};
  const boolean = new Set(['dry-run', 'force', 'help']);
  for (let i = 0; i < args.length; i++) {
    const a = args[i]!;
    if (a === '-h' || a === '--help') {
      out.help = true;
      continue;
    }
    if (!a.startsWith('--')) throw new Error(`unexpected argument ${JSON.stringify(a)}`);
    const eq = a.indexOf('=');
    const key = a.slice(2, eq < 0 ? undefined : eq);
    if (!known.includes(key)) throw new Error(`unknown flag: --${key}`);
    if (boolean.has(key)) {
      out[key] = true;
      continue;
    }
    const value = eq < 0 ? args[++i] : a.slice(eq + 1);
    if (value === undefined) throw new Error(`flag needs an argument: --${key}`);
    out[key] = value;
  }
  return out;
}
