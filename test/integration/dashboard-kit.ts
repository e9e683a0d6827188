/**
 * Helpers of the dashboard tests: `berth dashboard` as a child process on a free loopback
 * port, plain HTTP to it with chosen headers, and headless Debian chromium (puppeteer-core,
 * no downloaded browser). Screenshots go to test-artifacts/dashboard/ (gitignored).
 */
import { spawn, ChildProcess } from 'node:child_process';
import { existsSync, mkdirSync, readFileSync } from 'node:fs';
import http from 'node:http';
import { join } from 'node:path';
import { BERTH, Daemon, REPO, waitFor } from './harness';

export const CHROMIUM = process.env.BERTH_TEST_CHROMIUM ?? '/usr/bin/chromium';
export const ARTIFACTS = join(REPO, 'test-artifacts', 'dashboard');

export interface DashboardProc {
  url: string;
  /** http://127.0.0.1:PORT */
  origin: string;
  host: string;
  token: string;
  proc: ChildProcess;
  output(): string;
  /** Resident set size of the dashboard process, in bytes (from /proc). */
  rss(): number;
  stop(): Promise<void>;
}

export async function startDashboard(d: Daemon, extra: string[] = []): Promise<DashboardProc> {
  const proc = spawn(BERTH, ['dashboard', '-H', d.host, '--addr', '127.0.0.1:0', ...extra], { stdio: ['ignore', 'pipe', 'pipe'] });
  let out = '';
  proc.stdout!.on('data', (c: Buffer) => (out += c.toString()));
  proc.stderr!.on('data', (c: Buffer) => (out += c.toString()));
  const exited = new Promise<void>((r) => proc.once('exit', () => r()));
  const url = await waitFor('berth dashboard to print its URL', () => {
    if (proc.exitCode !== null) throw new Error(`berth dashboard exited ${proc.exitCode}: ${out}`);
    return /Open: (http:\/\/\S+)/.exec(out)?.[1] ?? '';
  }, 20_000);
  const u = new URL(url);
  return {
    url,
    origin: u.origin,
    host: u.host,
    token: u.searchParams.get('token')!,
    proc,
    output: () => out,
    rss: () => Number(/VmRSS:\s+(\d+) kB/.exec(readFileSync(`/proc/${proc.pid}/status`, 'utf8'))![1]) * 1024,
    stop: async () => {
      if (proc.exitCode === null && proc.signalCode === null) proc.kill('SIGTERM');
      await exited;
    },
  };
}

export interface Reply {
  status: number;
  headers: http.IncomingHttpHeaders;
  body: string;
}

/** One request to the dashboard; `headers` replace the defaults (Host is the bound address). */
export function request(dash: DashboardProc, method: string, path: string, headers: Record<string, string> = {}, body?: string): Promise<Reply> {
  return new Promise((res, rej) => {
    const u = new URL(dash.origin);
    const req = http.request({ host: u.hostname, port: u.port, method, path, headers: { Host: dash.host, ...headers }, agent: false, timeout: 15_000 }, (r) => {
      const chunks: Buffer[] = [];
      r.on('data', (c: Buffer) => chunks.push(c));
      r.on('end', () => res({ status: r.statusCode ?? 0, headers: r.headers, body: Buffer.concat(chunks).toString() }));
    });
    req.on('error', rej);
    req.on('timeout', () => req.destroy(new Error(`${method} ${path}: no reply`)));
    req.end(body);
  });
}

export async function launchBrowser(): Promise<import('puppeteer-core').Browser> {
  if (!existsSync(CHROMIUM)) throw new Error(`${CHROMIUM} is missing: apt-get install -y chromium (or set BERTH_TEST_CHROMIUM)`);
  const puppeteer = await import('puppeteer-core');
  return puppeteer.launch({
    executablePath: CHROMIUM,
    headless: true,
    // root in a VM: no user namespaces for the sandbox; /dev/shm may be small
    args: ['--no-sandbox', '--disable-gpu', '--disable-dev-shm-usage', '--no-first-run', '--no-default-browser-check'],
  });
}

export async function screenshot(page: import('puppeteer-core').Page, name: string): Promise<void> {
  mkdirSync(ARTIFACTS, { recursive: true });
  await page.screenshot({ path: join(ARTIFACTS, `${name}.png`) as `${string}.png` });
}
