/**
 * `berth dashboard [--addr HOST:PORT] [-H HOST] [--read-only]`: serves the web dashboard
 * in this process until SIGINT/SIGTERM. bin/ dispatches it before the API-client CLI.
 */
import { EngineClient, resolveHost } from '../client';
import { negotiateVersion, startDashboard } from '../web';

export interface DashboardCommandIO {
  stdout: NodeJS.WritableStream;
  stderr: NodeJS.WritableStream;
  env: Record<string, string | undefined>;
  signals: NodeJS.EventEmitter;
}

const USAGE = `Usage:  berth dashboard [OPTIONS]

Serve a web dashboard for the engine

Options:
      --addr HOST:PORT   Address to listen on (default "127.0.0.1:9090"; port 0 picks one)
  -H, --host string      Daemon socket to connect to
      --read-only        Show everything, change nothing
`;

/** 'HOST:PORT' or '[v6]:PORT'. */
export function parseAddr(raw: string): { host: string; port: number } {
  const m = /^(?:\[([^\]]+)\]|([^:\[\]]+)):(\d{1,5})$/.exec(raw);
  const port = m ? Number(m[3]) : NaN;
  if (!m || port > 65535) throw new Error(`invalid --addr "${raw}": use HOST:PORT, as in 127.0.0.1:9090`);
  return { host: (m[1] ?? m[2])!, port };
}

const LOOPBACK = /^(127\.\d+\.\d+\.\d+|::1|localhost)$/;

export async function runDashboardCommand(argv: string[], io: DashboardCommandIO): Promise<number> {
  let addr = '127.0.0.1:9090';
  let host: string | undefined;
  let readOnly = false;
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i]!;
    const eq = a.indexOf('=');
    const name = a.startsWith('--') && eq > 0 ? a.slice(0, eq) : a;
    const value = () => {
      if (a.startsWith('--') && eq > 0) return a.slice(eq + 1);
      const v = argv[++i];
      if (v === undefined) throw new Error(`flag needs an argument: ${a}`);
      return v;
    };
    try {
      if (name === '--help' || name === '-h') {
        io.stdout.write(USAGE);
        return 0;
      } else if (name === '--addr') addr = value();
      else if (name === '-H' || name === '--host') host = value();
      else if (name === '--read-only') readOnly = true;
      else throw new Error(`unknown flag: ${a}`);
    } catch (e) {
      io.stderr.write(`berth dashboard: ${(e as Error).message}\nSee 'berth dashboard --help'.\n`);
      return 125;
    }
  }
  let listen: { host: string; port: number };
  let client: EngineClient;
  try {
    listen = parseAddr(addr);
    const address = resolveHost(host, io.env);
    client = new EngineClient(address, { userAgent: 'Berth-Dashboard/0.1.0 (linux)', apiVersion: await negotiateVersion(address) });
  } catch (e) {
    io.stderr.write(`berth dashboard: ${(e as Error).message}\n`);
    return 125;
  }
  let d;
  try {
    d = await startDashboard({ client, host: listen.host, port: listen.port, readOnly });
  } catch (e) {
    io.stderr.write(`berth dashboard: ${(e as Error).message}\n`);
    return 1;
  }
  if (!LOOPBACK.test(listen.host)) io.stderr.write(`berth dashboard: warning: listening on ${listen.host}, not loopback: anyone who can reach it and has the token controls the engine\n`);
  io.stdout.write(`Berth dashboard for ${client.address.url} (API ${client.transport.apiVersion})${readOnly ? ' (read-only)' : ''}\nOpen: ${d.url}\n`);
  await new Promise<void>((res) => {
    io.signals.once('SIGINT', res);
    io.signals.once('SIGTERM', res);
  });
  await d.close();
  return 0;
}
