// The dashboard under load: N running containers on an engine (a berthd of its own, or --host),
// `berth dashboard` pointed at it, headless chromium (Debian's, via puppeteer-core) opening it.
// Prints: time until the table shows all N rows and until every row has live stats, engine stats
// streams open (table, table + container view, container view alone), the dashboard's RSS,
// and whether each main view loads. Removes the containers it made.
//
//   node dist/bench/dashboard.js [--host unix:///path.sock] [--containers 100] [--docker PATH]

import { spawn, spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { dockerCli, startBerthd, Target } from './kit';

// used inside the page (page.evaluate / waitForFunction callbacks)
declare const document: any;
declare const Event: any;

const REPO = path.resolve(__dirname, '..', '..');
const args = process.argv.slice(2);
const opt = (name: string, def: string) => {
  const i = args.indexOf(`--${name}`);
  return i >= 0 && args[i + 1] ? args[i + 1]! : def;
};
const N = Number(opt('containers', '100'));
/** Screenshots of the views, per engine, for a look at what loaded. */
const SHOTS = path.join(REPO, 'test-artifacts', 'dashboard-bench', opt('host', '') ? 'engine' : 'berthd');
const DOCKER = opt('docker', '/usr/local/bin/docker');
const CHROMIUM = opt('chromium', '/usr/bin/chromium');
const say = (s: string) => process.stderr.write(`[dashboard-bench] ${s}\n`);
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

async function main(): Promise<void> {
  const { docker, must } = dockerCli(DOCKER);
  const work = fs.mkdtempSync(path.join(os.tmpdir(), 'dash-bench-'));
  let berthd: Awaited<ReturnType<typeof startBerthd>> | undefined;
  let target: Target;
  const host = opt('host', '');
  if (host) target = { name: 'engine', host };
  else {
    berthd = await startBerthd(work, docker);
    target = berthd.target;
  }
  const names: string[] = [];
  let dash: ReturnType<typeof spawn> | undefined;
  let browser: import('puppeteer-core').Browser | undefined;
  try {
    const version = must(target, ['version', '--format', '{{.Server.Version}} (API {{.Server.APIVersion}})']).out.trim();
    say(`engine ${target.host}: ${version}`);
    if (docker(target, ['image', 'inspect', 'busybox:latest']).code !== 0) {
      const tar = spawnSync(path.join(REPO, 'scripts', 'make-busybox-rootfs.sh'), { maxBuffer: 64 << 20 });
      const r = spawnSync(DOCKER, ['-H', target.host, 'import', '-', 'busybox:latest'], { input: tar.stdout });
      if (r.status !== 0) throw new Error(`import busybox: ${r.stderr}`);
    }
    const t0 = Date.now();
    for (let i = 0; i < N; i += 8) {
      const batch = [];
      for (let j = i; j < Math.min(N, i + 8); j++) {
        const name = `dash-bench-${j}`;
        names.push(name);
        batch.push(new Promise<void>((res, rej) => {
          const p = spawn(DOCKER, ['-H', target.host, 'run', '-d', '--name', name, 'busybox:latest', 'sh', '-c', 'echo started; exec sleep 3600'], { stdio: 'ignore' });
          p.on('exit', (c) => (c === 0 ? res() : rej(new Error(`docker run ${name} exited ${c}`))));
        }));
      }
      await Promise.all(batch);
    }
    say(`${N} containers running (${((Date.now() - t0) / 1000).toFixed(1)} s to start them)`);

    dash = spawn(path.join(REPO, 'bin', 'berth'), ['dashboard', '-H', target.host, '--addr', '127.0.0.1:0'], { stdio: ['ignore', 'pipe', 'inherit'] });
    let out = '';
    dash.stdout!.on('data', (c: Buffer) => (out += c));
    for (let i = 0; i < 200 && !/Open: /.test(out); i++) await sleep(50);
    const url = /Open: (\S+)/.exec(out)?.[1];
    if (!url) throw new Error(`dashboard printed no URL: ${out}`);
    const origin = new URL(url).origin;
    const token = new URL(url).searchParams.get('token')!;
    const status = async () => (await (await fetch(`${origin}/dashboard/status`, { headers: { 'X-Berth-Token': token } })).json()) as { statsStreams: number; rss: number };
    const rss = () => Number(/VmRSS:\s+(\d+)/.exec(fs.readFileSync(`/proc/${dash!.pid}/status`, 'utf8'))![1]) / 1024;

    const puppeteer = await import('puppeteer-core');
    browser = await puppeteer.launch({ executablePath: CHROMIUM, headless: true, args: ['--no-sandbox', '--disable-gpu', '--disable-dev-shm-usage'] });
    const errors: string[] = [];
    const page = await browser.newPage();
    page.on('pageerror', (e) => errors.push(String(e)));
    await page.setViewport({ width: 1280, height: 900 });
    const tNav = Date.now();
    await page.goto(url);
    await page.waitForFunction((n: number) => document.querySelectorAll('#containers tbody tr[data-state="running"]').length >= n, { timeout: 30_000 }, N).catch(async (e) => {
      throw new Error(`the table did not show ${N} running rows; the page says: ${await page.$eval('body', (b: any) => b.innerText.slice(0, 400)).catch(() => '?')}`, { cause: e });
    });
    const rowsMs = Date.now() - tNav;
    await page.waitForFunction((n: number) => [...document.querySelectorAll('#containers tbody tr td.mem')].filter((td: any) => /\d/.test(td.textContent ?? '')).length >= n, { timeout: 60_000 }, N);
    const statsMs = Date.now() - tNav;
    // interactive: the search box filters the 100 rows at once
    // one input event (as a paste would be), timed until the table shows the one match
    const tSearch = Date.now();
    await page.evaluate((q: string) => {
      const el = document.querySelector('#search');
      el.value = q;
      el.dispatchEvent(new Event('input', { bubbles: true }));
    }, `dash-bench-${N - 1}`);
    await page.waitForFunction(() => document.querySelectorAll('#containers tbody tr').length === 1, { timeout: 10_000 });
    const searchMs = Date.now() - tSearch;
    await page.evaluate(() => {
      const el = document.querySelector('#search');
      el.value = '';
      el.dispatchEvent(new Event('input', { bubbles: true }));
    });
    await sleep(5000);
    const tableStreams = (await status()).statsStreams;
    const rssTable = rss();
    const id = must(target, ['inspect', '-f', '{{.Id}}', names[0]!]).out.trim();
    const view = await browser.newPage();
    await view.setViewport({ width: 1280, height: 720 });
    view.on('pageerror', (e) => errors.push(String(e)));
    await view.goto(`${origin}/#/containers/${id}/stats`, { waitUntil: 'domcontentloaded', timeout: 60_000 });
    await view.waitForFunction(() => Number(document.querySelector('#chart-cpu')?.getAttribute('data-points')) >= 3, { timeout: 30_000 });
    const bothStreams = (await status()).statsStreams;
    await page.close();
    await sleep(1000);
    const viewStreams = (await status()).statsStreams;
    say(`load average: ${os.loadavg().map((l) => l.toFixed(1)).join(' ')} on ${os.cpus().length} CPUs`);
    say(`table: ${N} rows in ${rowsMs} ms after navigation, live CPU/memory in every row after ${statsMs} ms; a search over ${N} rows shows its one match ${searchMs} ms after the input event`);
    say(`engine stats streams: table ${tableStreams}, table + one container view ${bothStreams}, container view alone ${viewStreams}`);
    say(`dashboard RSS with ${N} live rows: ${rssTable.toFixed(1)} MB; now ${rss().toFixed(1)} MB`);

    // the main views load against this engine
    const views: [string, string][] = [
      [`containers/${id}/config`, '.config table.kv'],
      [`containers/${id}/logs`, '#logs > div'],
      [`containers/${id}/top`, '#top tbody tr'],
      ['images', '#images tbody tr'],
      ['volumes', '#volumes[data-loaded]'],
      ['networks', '#networks[data-loaded]'],
      ['events', '#events li'],
      ['system', '#df .bar'],
    ];
    for (const [hash, sel] of views) {
      const t = Date.now();
      await view.goto(`${origin}/#/${hash}`);
      const ok = await view.waitForSelector(sel, { timeout: 10_000 }).then(() => true, () => false);
      const err = await view.$eval('main', (m) => [...m.querySelectorAll('.error')].map((e: any) => e.textContent).join('; ')).catch(() => '');
      say(`view ${hash}: ${ok ? 'loaded' : 'DID NOT LOAD'} in ${Date.now() - t} ms${err ? ` (page says: ${err})` : ''}`);
      fs.mkdirSync(SHOTS, { recursive: true });
      await view.screenshot({ path: path.join(SHOTS, `${hash.replace(/\/[0-9a-f]{64}/, '').replace(/\//g, '-')}.png`) as `${string}.png` });
    }
    say(errors.length ? `page errors: ${errors.join(' | ')}` : 'no page errors');
  } finally {
    await browser?.close().catch(() => undefined);
    dash?.kill('SIGTERM');
    if (names.length) docker(target!, ['rm', '-f', ...names]);
    if (berthd) {
      berthd.proc.kill('SIGTERM');
      await new Promise((r) => berthd!.proc.once('exit', r));
    }
    fs.rmSync(work, { recursive: true, force: true });
  }
}

main().catch((e) => {
  say(String(e?.stack ?? e));
  process.exitCode = 1;
});
