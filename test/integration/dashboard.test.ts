/**
 * The dashboard in a real headless chromium against a private berthd: the live container
 * table, charts, logs, the terminal, the run form, read-only mode. Screenshots of each view
 * are saved under test-artifacts/dashboard/.
 */
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import type { Browser, Page } from 'puppeteer-core';
import { spawn } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { BERTH, GATE, openGate, useDaemon, waitFor } from './harness';
import { DashboardProc, launchBrowser, screenshot, startDashboard } from './dashboard-kit';

// These run inside the page (page.evaluate / waitFor callbacks), where the DOM exists.
declare const document: any;
declare const location: any;
declare const window: any;

const d = useDaemon();
let dash: DashboardProc;
let browser: Browser;
const pageErrors: string[] = [];

before(async () => {
  dash = await startDashboard(d);
  browser = await launchBrowser();
}, { timeout: 60_000 });

after(async () => {
  await browser?.close();
  await dash?.stop();
});

async function open(hash = '', target = dash): Promise<Page> {
  const page = await browser.newPage();
  page.on('pageerror', (e) => pageErrors.push(String(e)));
  if (process.env.BERTH_TEST_DEBUG) {
    page.on('console', (m) => console.log('page console:', m.type(), m.text()));
    page.on('requestfailed', (r) => console.log('page request failed:', r.url(), r.failure()?.errorText));
  }
  page.on('dialog', (dlg) => void dlg.accept());
  await page.setViewport({ width: 1280, height: 800 });
  await page.goto(target.url);
  if (hash) await page.goto(`${target.origin}/#/${hash}`);
  return page;
}

const fetchStatus = () => fetch(`${dash.origin}/dashboard/status`, { headers: { 'X-Berth-Token': dash.token } });

const row = (name: string, state?: string) => `#containers tr[data-name="${name}"]${state ? `[data-state="${state}"]` : ''}`;

test('the container table appears, then follows a container starting and stopping (events, no reload)', async () => {
  await d.dockerOk(['run', '-d', '--name', 'before-open', 'busybox', 'sleep', '1000']);
  const page = await open();
  await page.waitForSelector(row('before-open', 'running'), { timeout: 10_000 });
  const listCalls: string[] = [];
  page.on('request', (r) => { if (r.url().includes('/api/containers/json')) listCalls.push(r.url()); });
  await d.dockerOk(['run', '-d', '--name', 'live-one', 'busybox', 'sleep', '1000']);
  await page.waitForSelector(row('live-one', 'running'), { timeout: 15_000 });
  // CPU and memory come from the stats stream
  await page.waitForFunction((sel: string) => /\d/.test(document.querySelector(`${sel} td.mem`)?.textContent ?? ''), { timeout: 15_000 }, row('live-one'));
  await screenshot(page, 'containers');
  await d.dockerOk(['stop', '-t', '1', 'live-one']);
  await page.waitForSelector(row('live-one', 'exited'), { timeout: 15_000 });
  await d.dockerOk(['rm', 'live-one']);
  await page.waitForFunction((sel: string) => !document.querySelector(sel), { timeout: 15_000 }, row('live-one'));
  assert.deepEqual(listCalls, [], 'the list is not polled');
  // search narrows the table
  await page.type('#search', 'before');
  await page.waitForFunction(() => document.querySelectorAll('#containers tbody tr').length === 1);
  await page.close();
});

test('the container view draws CPU, memory, network and I/O charts from live stats', async () => {
  // some CPU, not a whole core: the machine is shared
  const id = (await d.dockerOk(['run', '-d', '--name', 'charted', '--memory', '64m', 'busybox', 'sh', '-c', 'while true; do i=0; while [ $i -lt 3000 ]; do i=$((i+1)); done; sleep 0.2; done'])).trim();
  const page = await open(`containers/${id}/stats`);
  const points = () => page.$$eval('.chart', (cs: any[]) => cs.map((c) => `${c.id}=${c.getAttribute('data-points')}`).join(' '));
  try {
    await page.waitForFunction(() => { const cs = [...document.querySelectorAll('.chart')]; return cs.length === 4 && cs.every((c: any) => Number(c.getAttribute('data-points')) >= 3); }, { timeout: 30_000 });
  } catch (e) {
    throw new Error(`charts did not get 3 readings: ${await points()}; dashboard status ${JSON.stringify(await (await fetchStatus()).json())}`, { cause: e });
  }
  // the CPU series is drawn: its stroke colour (#2f7ed8) is on the canvas
  const inked = await page.$eval('#chart-cpu canvas', (cv: any) => {
    const px = cv.getContext('2d').getImageData(0, 0, cv.width, cv.height).data;
    let n = 0;
    for (let i = 0; i < px.length; i += 4) if (Math.abs(px[i] - 47) < 30 && Math.abs(px[i + 1] - 126) < 30 && Math.abs(px[i + 2] - 216) < 30 && px[i + 3] > 128) n++;
    return n;
  });
  assert.ok(inked > 20, `CPU line drew ${inked} pixels`);
  await screenshot(page, 'container-stats');
  await page.goto(`${dash.origin}/#/containers/${id}/config`);
  await page.waitForSelector('.config table.kv');
  await screenshot(page, 'container-config');
  await page.goto(`${dash.origin}/#/containers/${id}/top`);
  await page.waitForFunction(() => /sh/.test(document.querySelector('#top')?.textContent ?? ''), { timeout: 10_000 });
  await screenshot(page, 'container-top');
  await page.close();
  await d.dockerOk(['rm', '-f', 'charted']);
});

test('logs stream lines printed after the page opened, stderr coloured apart', async () => {
  const id = (await d.dockerOk(['run', '-d', '--name', 'talker', 'busybox', 'sh', '-c', `echo early-line; ${GATE}; echo late-out-line; echo late-err-line >&2; sleep 1000`])).trim();
  const page = await open(`containers/${id}/logs`);
  await page.waitForFunction(() => /early-line/.test(document.querySelector('#logs')?.textContent ?? ''), { timeout: 15_000 });
  openGate((await d.inspect(id)).State.Pid);
  await page.waitForFunction(() => /late-out-line/.test(document.querySelector('#logs')?.textContent ?? ''), { timeout: 15_000 });
  await page.waitForFunction(() => /late-err-line/.test(document.querySelector('#logs .stderr')?.textContent ?? ''), { timeout: 15_000 });
  assert.equal(await page.$eval('#logs', (el) => [...el.querySelectorAll('.stdout')].some((l) => l.textContent === 'late-out-line')), true);
  await page.click('#log-ts');
  await page.waitForFunction(() => /\d{4}-\d\d-\d\dT/.test(document.querySelector('#logs .ts')?.textContent ?? ''));
  await screenshot(page, 'container-logs');
  await page.type('#log-search', 'late-err');
  await page.waitForFunction(() => document.querySelectorAll('#logs > div').length === 1);
  await page.close();
});

/** A container's terminal page once its exec is connected, and a reader of the screen's text. */
async function openTerminal(id: string) {
  const page = await open(`containers/${id}/terminal`);
  await page.waitForFunction(() => /connected/.test(document.querySelector('#term-status')?.textContent ?? ''), { timeout: 15_000 });
  const screen = () => page.evaluate(() => {
    const b = (window as any).__berthTerm.buffer.active;
    let s = '';
    for (let i = 0; i < b.length; i++) s += b.getLine(i).translateToString(true) + '\n';
    return s;
  });
  return { page, screen };
}

test('the terminal runs a command in the container and shows its output', async () => {
  const id = (await d.dockerOk(['run', '-d', '--name', 'shell', 'busybox', 'sleep', '1000'])).trim();
  const { page, screen } = await openTerminal(id);
  await page.keyboard.type('echo term-$((6*7))\n');
  await waitFor('the echo output in the terminal', async () => /term-42/.test(await screen()), 15_000);
  await screenshot(page, 'container-terminal');
  await page.close();
});

test('the terminal tells the exec its size, and again when the page is resized', async () => {
  const id = (await d.dockerOk(['run', '-d', '--name', 'sized', 'busybox', 'sleep', '1000'])).trim();
  const { page, screen } = await openTerminal(id);
  const termSize = () => page.evaluate(() => [(window as any).__berthTerm.rows, (window as any).__berthTerm.cols] as [number, number]);
  // `stty size` prints "rows cols"; the marker keeps the typed command's echo from matching
  let k = 0;
  const sttySize = async () => {
    const n = ++k;
    await page.keyboard.type(`echo size$((${n}+0))=$(busybox stty size)\n`);
    let seen = '';
    const m = await waitFor(`stty size #${n} in the terminal`, async () => new RegExp(`size${n}=(\\d+) (\\d+)`).exec((seen = await screen())), 15_000).catch((e) => {
      throw new Error(`${e.message}; the terminal shows:\n${seen.trim()}`);
    });
    return [Number(m![1]), Number(m![2])] as [number, number];
  };
  const first = await termSize();
  assert.ok(first[0] > 5 && first[1] > 20, `terminal ${first}`);
  assert.deepEqual(await sttySize(), first);
  await page.setViewport({ width: 900, height: 500 });
  const second: [number, number] = await waitFor('the terminal to fit the smaller page', async () => { const s = await termSize(); return s[0] < first[0] && s[1] < first[1] ? s : undefined; }, 10_000) as [number, number];
  assert.deepEqual(await waitFor('the new size to reach the exec', async () => { const s = await sttySize(); return s[0] === second[0] && s[1] === second[1] ? s : undefined; }, 20_000, 500), second);
  await page.close();
  await d.dockerOk(['rm', '-f', 'sized']);
});

test('a container is created and started from the run form, then removed from the table', async () => {
  const page = await open('images');
  await page.waitForSelector('#images tr[data-image="busybox:latest"] .act-run', { timeout: 10_000 });
  await screenshot(page, 'images');
  // one image: its layers and history
  await page.goto(`${dash.origin}/#/images/busybox%3Alatest`);
  await page.waitForSelector('#history tbody tr', { timeout: 10_000 });
  assert.match(await page.$eval('ol.layers', (o: any) => o.textContent), /sha256:[0-9a-f]{64}/);
  await screenshot(page, 'image-detail');
  await page.goto(`${dash.origin}/#/images`);
  await page.waitForSelector('#images tr[data-image="busybox:latest"] .act-run', { timeout: 10_000 });
  await page.click('#images tr[data-image="busybox:latest"] .act-run');
  await page.waitForSelector('#run-form');
  await page.type('#run-form input[name=name]', 'from-form');
  await page.type('#run-form textarea[name=env]', 'GREETING=hello-form');
  await page.type('#run-form input[name=cmd]', 'echo $GREETING; sleep 1000');
  await screenshot(page, 'run-form');
  await page.click('#run-submit');
  await page.waitForFunction(() => /^#\/containers\/[0-9a-f]{64}$/.test(location.hash), { timeout: 15_000 });
  const c = await d.inspect('from-form');
  assert.equal(c.State.Running, true);
  assert.ok(c.Config.Env.includes('GREETING=hello-form'));
  assert.deepEqual(c.Config.Cmd, ['sh', '-c', 'echo $GREETING; sleep 1000']);
  await page.goto(`${dash.origin}/#/containers`);
  await page.waitForSelector(`${row('from-form', 'running')} .act-remove`, { timeout: 10_000 });
  // a DOM click: rows may still move as the live table fills in, so no click by coordinates
  await page.$eval(`${row('from-form')} .act-remove`, (b: any) => b.click());
  try {
    await page.waitForFunction((sel: string) => !document.querySelector(sel), { timeout: 20_000 }, row('from-form'));
  } catch (e) {
    throw new Error(`the row stayed; page shows: ${await page.$eval('main', (m: any) => m.innerText.slice(0, 600))}`, { cause: e });
  }
  const ps = await d.dockerOk(['ps', '-a', '--format', '{{.Names}}']);
  assert.doesNotMatch(ps, /from-form/);
  await page.close();
});

test('the other views load: volumes (create, remove), events, system', async () => {
  await d.dockerOk(['volume', 'create', 'dash-vol']);
  await d.dockerOk(['run', '-d', '--name', 'vol-user', '-v', 'dash-vol:/data', 'busybox', 'sleep', '1000']);
  const page = await open('volumes');
  await page.waitForFunction(() => /vol-user/.test(document.querySelector('#volumes tr[data-volume="dash-vol"]')?.textContent ?? ''), { timeout: 10_000 });
  await screenshot(page, 'volumes');
  // create and remove a volume from the page
  await page.type('#volume-name', 'made-in-page');
  await page.$eval('#volume-name', (i: any) => i.form.requestSubmit());
  await page.waitForSelector('#volumes tr[data-volume="made-in-page"]', { timeout: 10_000 });
  assert.equal((await d.docker(['volume', 'inspect', 'made-in-page'])).code, 0);
  await page.$eval('#volumes tr[data-volume="made-in-page"] .act-remove', (b: any) => b.click());
  await page.waitForFunction(() => !document.querySelector('#volumes tr[data-volume="made-in-page"]'), { timeout: 10_000 });
  assert.notEqual((await d.docker(['volume', 'inspect', 'made-in-page'])).code, 0);
  await page.goto(`${dash.origin}/#/events`);
  await page.waitForFunction(() => /vol-user/.test(document.querySelector('#events')?.textContent ?? ''), { timeout: 10_000 });
  await screenshot(page, 'events');
  await page.goto(`${dash.origin}/#/system`);
  await page.waitForFunction(() => /1\.\d+/.test(document.querySelector('#api-version')?.textContent ?? ''), { timeout: 10_000 });
  await page.waitForSelector('#df .bar');
  await screenshot(page, 'system');
  await page.close();
});

test('networks: the view lists each network with its containers, in the table and the diagram; one is created and removed from the page', async () => {
  const x = d.net!.x;
  await d.dockerOk(['network', 'create', '--subnet', `10.${x}.210.0/24`, 'dash-net']);
  await d.dockerOk(['run', '-d', '--name', 'net-member', '--network', 'dash-net', 'busybox', 'sleep', '1000']);
  const ip = (await d.inspect('net-member')).NetworkSettings.Networks['dash-net'].IPAddress as string;
  assert.match(ip, new RegExp(`^10\\.${x}\\.210\\.\\d+$`));
  const page = await open('networks');
  await page.waitForSelector('#networks tr[data-network="dash-net"] [data-container="net-member"]', { timeout: 10_000 });
  const cells = await page.$eval('#networks tr[data-network="dash-net"]', (tr: any) => [...tr.querySelectorAll('td')].map((td: any) => td.textContent));
  assert.equal(cells[1], 'bridge');
  assert.equal(cells[2], `10.${x}.210.0/24`);
  assert.equal(cells[3], `net-member (${ip})`);
  assert.ok(await page.$('#networks tr[data-network="bridge"]'), 'the default bridge is listed');
  assert.equal(await page.$('#networks tr[data-network="bridge"] .act-remove'), null, 'the default bridge has no remove button');
  // the diagram: a box per network and container, a line between them
  await page.waitForSelector('#net-diagram g[data-network="dash-net"]');
  await page.waitForSelector('#net-diagram g[data-container="net-member"]');
  await page.waitForSelector('#net-diagram line[data-link="dash-net|net-member"]');
  await screenshot(page, 'networks');
  // create one from the page, with a subnet and gateway, internal
  await page.type('#network-name', 'made-in-page-net');
  await page.type('#network-subnet', `10.${x}.211.0/24`);
  await page.type('#network-gateway', `10.${x}.211.254`);
  await page.click('#network-internal');
  await page.$eval('#network-name', (i: any) => i.form.requestSubmit());
  try {
    await page.waitForSelector('#networks tr[data-network="made-in-page-net"]', { timeout: 10_000 });
  } catch (e) {
    throw new Error(`the network did not appear; page shows: ${await page.$eval('main', (m: any) => m.innerText.slice(0, 600))}`, { cause: e });
  }
  const made = JSON.parse(await d.dockerOk(['network', 'inspect', 'made-in-page-net']))[0];
  assert.equal(made.Driver, 'bridge');
  assert.equal(made.Internal, true);
  assert.deepEqual(made.IPAM.Config.map((c: any) => [c.Subnet, c.Gateway]), [[`10.${x}.211.0/24`, `10.${x}.211.254`]]);
  // remove it from the page: a confirmation is asked (and accepted)
  const asked: string[] = [];
  page.on('dialog', (dlg) => void asked.push(dlg.message()));
  await page.$eval('#networks tr[data-network="made-in-page-net"] .act-remove', (b: any) => b.click());
  await page.waitForFunction(() => !document.querySelector('#networks tr[data-network="made-in-page-net"]'), { timeout: 10_000 });
  assert.deepEqual(asked, ['Remove network made-in-page-net?']);
  assert.notEqual((await d.docker(['network', 'inspect', 'made-in-page-net'])).code, 0);
  // what the page may not ask for is refused before it reaches the engine
  const refused = await page.evaluate(async () => {
    const r = await fetch('/api/networks/create', { method: 'POST', headers: { 'Content-Type': 'application/json' }, body: JSON.stringify({ Name: 'sneaky', Driver: 'bridge', Options: { 'com.docker.network.bridge.name': 'eth0' } }) });
    return r.status;
  });
  assert.equal(refused, 400);
  assert.notEqual((await d.docker(['network', 'inspect', 'sneaky'])).code, 0);
  await page.close();
  await d.dockerOk(['rm', '-f', 'net-member']);
  await d.dockerOk(['network', 'rm', 'dash-net']);
});

test('a published port shows as a link to the host address and port', async () => {
  await d.dockerOk(['run', '-d', '--name', 'web-served', '-p', '127.0.0.1::80', 'busybox', 'sh', '-c', 'mkdir -p /www && echo served-by-busybox > /www/index.html && exec httpd -f -p 80 -h /www']);
  const binding = (await d.inspect('web-served')).NetworkSettings.Ports['80/tcp'][0];
  assert.equal(binding.HostIp, '127.0.0.1');
  assert.match(binding.HostPort, /^\d+$/);
  const page = await open();
  const link = `${row('web-served', 'running')} .ports a`;
  await page.waitForSelector(link, { timeout: 10_000 });
  assert.equal(await page.$eval(link, (a: any) => a.getAttribute('href')), `http://127.0.0.1:${binding.HostPort}/`);
  assert.equal(await page.$eval(link, (a: any) => a.textContent), `${binding.HostPort}→80/tcp`);
  // the link leads to the container's server
  const body = await waitFor('the container\'s httpd to answer', async () => {
    try {
      const r = await fetch(`http://127.0.0.1:${binding.HostPort}/`);
      return r.status === 200 ? await r.text() : '';
    } catch {
      return '';
    }
  }, 15_000, 200);
  assert.equal(body, 'served-by-busybox\n');
  await page.close();
  await d.dockerOk(['rm', '-f', 'web-served']);
});

test('read-only mode hides every change and the engine refuses a stop the page forces', async () => {
  const ro = await startDashboard(d, ['--read-only']);
  try {
    const id = (await d.dockerOk(['run', '-d', '--name', 'ro-target', 'busybox', 'sleep', '1000'])).trim();
    const page = await open('', ro);
    await page.waitForSelector(row('ro-target', 'running'), { timeout: 10_000 });
    assert.equal(await page.$$eval('#containers button', (b) => b.length), 0, 'no action buttons');
    await page.goto(`${ro.origin}/#/networks`);
    await page.waitForSelector('#networks[data-loaded] tr[data-network="bridge"]', { timeout: 10_000 });
    assert.equal(await page.$('#network-name'), null, 'no create form');
    assert.equal(await page.$$eval('#networks button', (b) => b.length), 0, 'no remove buttons');
    const create = await page.evaluate(async () => (await fetch('/api/networks/create', { method: 'POST', headers: { 'Content-Type': 'application/json' }, body: JSON.stringify({ Name: 'ro-net' }) })).status);
    assert.equal(create, 403);
    await page.goto(`${ro.origin}/#/containers/${id}`);
    await page.waitForSelector('#tab-stats');
    assert.equal(await page.$('#tab-terminal'), null, 'no terminal tab');
    // a page that calls the API anyway (same origin, cookie) is refused
    const status = await page.evaluate(async (cid: string) => (await fetch(`/api/containers/${cid}/stop`, { method: 'POST' })).status, id);
    assert.equal(status, 403);
    assert.equal((await d.inspect(id)).State.Running, true);
    await screenshot(page, 'read-only');
    await page.close();
  } finally {
    await ro.stop();
  }
});

test('an image is pulled from the page with a progress bar per layer, then removed', async () => {
  const root = mkdtempSync('/tmp/dash-reg-');
  const reg = spawn(BERTH, ['registry', 'serve', '--addr', '127.0.0.1:0', '--root', join(root, 'data')], { stdio: ['ignore', 'pipe', 'inherit'] });
  try {
    let out = '';
    reg.stdout!.on('data', (c: Buffer) => (out += c.toString()));
    const addr = await waitFor('the registry to listen', () => /listening on (\S+)\n/.exec(out)?.[1] ?? '', 20_000);
    const ref = `${addr}/dash/pulled:1`;
    // a layer of its own on top of busybox's, so the pull downloads one layer and finds the other
    await d.dockerOk(['run', '--name', 'layer-maker', 'busybox', 'sh', '-c', 'dd if=/dev/zero of=/blob bs=1024 count=512 2>/dev/null']);
    await d.dockerOk(['commit', 'layer-maker', ref]);
    await d.dockerOk(['rm', 'layer-maker']);
    await d.dockerOk(['push', ref], { timeoutMs: 60_000 });
    await d.dockerOk(['rmi', ref]);
    const page = await open('images');
    await page.waitForSelector('#pull-ref');
    const seen = new Set<string>();
    page.on('response', (r) => { if (r.url().includes('/api/images/create')) seen.add(`${r.request().method()} ${r.status()}`); });
    await page.type('#pull-ref', ref);
    await page.$eval('form.pull', (f: any) => f.requestSubmit());
    await page.waitForSelector('.layers-progress .layer progress', { timeout: 30_000 });
    await page.waitForSelector(`#images tr[data-image="${ref}"]`, { timeout: 30_000 });
    const bars = await page.$$eval('.layers-progress .layer', (ls: any[]) => ls.map((l) => ({ id: l.querySelector('code').textContent, value: Number(l.querySelector('progress').value), max: Number(l.querySelector('progress').max), status: l.textContent })));
    assert.equal(bars.length, 2, `a bar per layer: ${JSON.stringify(bars)}`);
    assert.ok(bars.some((b) => /Pull complete/.test(b.status)) && bars.some((b) => /Already exists/.test(b.status)), JSON.stringify(bars));
    for (const b of bars) {
      assert.match(b.id, /^[0-9a-f]{12}$/);
      assert.equal(b.value, b.max, `layer ${b.id} complete: ${b.status}`);
    }
    assert.deepEqual([...seen], ['POST 200']);
    await screenshot(page, 'images-pull');
    await page.$eval(`#images tr[data-image="${ref}"] .act-remove`, (b: any) => b.click());
    await page.waitForFunction((sel: string) => !document.querySelector(sel), { timeout: 15_000 }, `#images tr[data-image="${ref}"]`);
    assert.notEqual((await d.docker(['image', 'inspect', ref])).code, 0);
    await page.close();
  } finally {
    reg.kill('SIGTERM');
    rmSync(root, { recursive: true, force: true });
  }
});

test('no page error was thrown and the dashboard stayed under 60 MB RSS', (t) => {
  assert.deepEqual(pageErrors, []);
  const rss = dash.rss();
  t.diagnostic(`dashboard RSS after the views above: ${(rss / 1048576).toFixed(1)} MB`);
  assert.ok(rss < 60 * 1024 * 1024, `dashboard RSS ${(rss / 1048576).toFixed(1)} MB`);
});
