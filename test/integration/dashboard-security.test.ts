/**
 * `berth dashboard` at the HTTP level against a private berthd: the token on every request
 * and socket, Host/Origin checks, the allow-list, read-only refusals, the headers, and one
 * engine stats stream per container however many pages watch it.
 */
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import WebSocket from 'ws';
import { useDaemon, waitFor } from './harness';
import { DashboardProc, request, startDashboard } from './dashboard-kit';

const d = useDaemon();
let dash: DashboardProc;
let ro: DashboardProc;
let running = '';

before(async () => {
  // the harness's before() may still be starting the daemon and importing busybox
  await waitFor('the test daemon', () => d.ping(), 60_000);
  await d.makeBusyboxImage();
  dash = await startDashboard(d);
  ro = await startDashboard(d, ['--read-only']);
  running = (await d.dockerOk(['run', '-d', '--name', 'sec-run', 'busybox', 'sleep', '1000'])).trim();
}, { timeout: 60_000 });

after(async () => {
  await dash?.stop();
  await ro?.stop();
});

const auth = (p: DashboardProc) => ({ 'X-Berth-Token': p.token });

test('the printed URL is loopback with a long random token', () => {
  assert.match(dash.url, /^http:\/\/127\.0\.0\.1:\d+\/\?token=[0-9a-f]{48}$/);
  assert.notEqual(dash.token, ro.token);
});

test('a request without the token, or with a wrong one, is refused (401) and shows nothing', async () => {
  for (const path of ['/', '/app.js', '/index.html', '/api/containers/json', '/api/info', '/dashboard/config']) {
    const r = await request(dash, 'GET', path);
    assert.equal(r.status, 401, path);
    assert.doesNotMatch(r.body, /sec-run|<script/);
  }
  assert.equal((await request(dash, 'GET', '/api/containers/json', { 'X-Berth-Token': ro.token })).status, 401);
  assert.equal((await request(dash, 'GET', `/api/containers/json?token=${dash.token.slice(0, -1)}${dash.token.endsWith('0') ? '1' : '0'}`)).status, 401);
  assert.equal((await request(dash, 'POST', `/api/containers/${running}/stop`, { Cookie: 'berth_dashboard_token=nope' })).status, 401);
  assert.equal((await d.inspect(running)).State.Running, true);
});

test('the printed URL sets an HttpOnly SameSite=Strict cookie and drops the token from the address', async () => {
  const r = await request(dash, 'GET', `/?token=${dash.token}`);
  assert.equal(r.status, 303);
  assert.equal(r.headers.location, '/');
  const cookie = String(r.headers['set-cookie']);
  assert.match(cookie, /HttpOnly/);
  assert.match(cookie, /SameSite=Strict/);
  const jar = cookie.split(';')[0]!;
  const page = await request(dash, 'GET', '/', { Cookie: jar });
  assert.equal(page.status, 200);
  assert.match(page.body, /<script src="\/app.js"/);
  const list = await request(dash, 'GET', '/api/containers/json', { Cookie: jar });
  assert.equal(list.status, 200);
  assert.ok(JSON.parse(list.body).some((c: any) => c.Id === running));
});

test('every reply carries a strict CSP and no-sniff/no-frame headers', async () => {
  for (const path of ['/', '/app.js', '/api/version', '/api/nope']) {
    const r = await request(dash, 'GET', path, auth(dash));
    const csp = String(r.headers['content-security-policy']);
    assert.match(csp, /default-src 'none'/, path);
    assert.match(csp, /script-src 'self'(;|$)/, path);
    assert.match(csp, /frame-ancestors 'none'/, path);
    assert.equal(r.headers['x-content-type-options'], 'nosniff');
    assert.equal(r.headers['referrer-policy'], 'no-referrer');
  }
  const page = await request(dash, 'GET', '/', auth(dash));
  assert.doesNotMatch(page.body, /<script>|<script [^>]*>[^<]/, 'no inline script');
});

test('a foreign Host (DNS rebinding) or Origin is refused even with the token', async () => {
  const port = new URL(dash.origin).port;
  for (const host of [`evil.example:${port}`, `127.0.0.1:1`, 'localhost', `127.0.0.1.nip.io:${port}`]) {
    const r = await request(dash, 'GET', '/api/containers/json', { ...auth(dash), Host: host });
    assert.equal(r.status, 403, host);
    assert.match(r.body, /Host/);
  }
  assert.equal((await request(dash, 'GET', '/api/version', { ...auth(dash), Host: `localhost:${port}` })).status, 200);
  for (const origin of ['http://evil.example', `http://evil.example:${port}`, 'null', `https://127.0.0.1:${port}`]) {
    const r = await request(dash, 'POST', `/api/containers/${running}/stop`, { ...auth(dash), Origin: origin });
    assert.equal(r.status, 403, origin);
    assert.match(r.body, /Origin/);
  }
  assert.equal((await d.inspect(running)).State.Running, true);
});

test('only allow-listed API calls pass; others and path tricks get 404 from the dashboard, not the engine', async () => {
  for (const [method, path] of [
    ['GET', `/api/containers/${running}/export`],
    ['GET', `/api/containers/${running}/archive?path=/etc`],
    ['POST', `/api/containers/${running}/exec`],
    ['POST', '/api/containers/prune'],
    ['GET', '/api/containers/..%2F..%2Finfo/json'],
    ['GET', '/api/containers/%2e%2e/json'],
    ['GET', '/api/v1.45/info'],
    ['POST', '/api/build'],
    ['GET', '/api/images/get'],
    ['PUT', `/api/containers/${running}/archive`],
  ]) {
    const r = await request(dash, method!, path!, auth(dash));
    assert.equal(r.status, 404, `${method} ${path}`);
    assert.match(JSON.parse(r.body).message, /dashboard does not serve/);
  }
  const bad = await request(dash, 'POST', '/api/containers/create', { ...auth(dash), 'Content-Type': 'application/json' }, '{not json');
  assert.equal(bad.status, 400);
  const priv = await request(dash, 'POST', '/api/containers/create?name=sec-priv', { ...auth(dash), 'Content-Type': 'application/json' }, JSON.stringify({ Image: 'busybox', HostConfig: { Privileged: true } }));
  assert.equal(priv.status, 400);
  assert.match(JSON.parse(priv.body).message, /HostConfig.Privileged/);
  assert.notEqual((await d.docker(['inspect', 'sec-priv'])).code, 0, 'nothing was created');
  const missing = await request(dash, 'GET', '/api/containers/no-such-thing/json', auth(dash));
  assert.equal(missing.status, 404);
  assert.match(JSON.parse(missing.body).message, /No such container/);
});

test('read-only: a stop (and every other change) is refused with 403 and nothing changes', async () => {
  const stop = await request(ro, 'POST', `/api/containers/${running}/stop`, auth(ro));
  assert.equal(stop.status, 403);
  assert.match(JSON.parse(stop.body).message, /read-only/);
  for (const [method, path] of [
    ['POST', `/api/containers/${running}/kill`],
    ['DELETE', `/api/containers/${running}?force=1`],
    ['POST', '/api/containers/create'],
    ['POST', '/api/images/create?fromImage=busybox&tag=latest'],
    ['DELETE', '/api/images/busybox:latest'],
    ['POST', '/api/volumes/create'],
  ]) assert.equal((await request(ro, method!, path!, { ...auth(ro), 'Content-Type': 'application/json' }, '{}')).status, 403, `${method} ${path}`);
  assert.equal((await d.inspect(running)).State.Running, true);
  assert.equal((await request(ro, 'GET', '/api/containers/json', auth(ro))).status, 200);
  assert.equal(JSON.parse((await request(ro, 'GET', '/dashboard/config', auth(ro))).body).readOnly, true);
});

function wsOpen(p: DashboardProc, path: string, headers: Record<string, string>): Promise<{ ws?: WebSocket; status?: number }> {
  return new Promise((res) => {
    const ws = new WebSocket(`ws://${p.host}${path}`, { headers });
    ws.once('open', () => res({ ws }));
    ws.once('unexpected-response', (_req, r) => {
      res({ status: r.statusCode });
      r.resume();
    });
    ws.once('error', () => res({}));
  });
}

test('WebSockets need the token, our Origin, and exec is refused in read-only mode', async () => {
  assert.equal((await wsOpen(dash, '/ws/stats', { Origin: dash.origin })).status, 401);
  assert.equal((await wsOpen(dash, `/ws/exec?id=${running}`, { Origin: dash.origin })).status, 401);
  assert.equal((await wsOpen(dash, `/ws/stats?token=${dash.token}`, { Origin: 'http://evil.example' })).status, 403);
  assert.equal((await wsOpen(ro, `/ws/exec?id=${running}&token=${ro.token}`, { Origin: ro.origin })).status, 403);
  assert.equal((await wsOpen(dash, `/ws/other?token=${dash.token}`, { Origin: dash.origin })).status, 404);
  const ok = await wsOpen(dash, `/ws/stats?token=${dash.token}`, { Origin: dash.origin });
  assert.ok(ok.ws);
  ok.ws!.close();
});

test('pages watching one container share a single engine stats stream', async () => {
  const status = async () => JSON.parse((await request(dash, 'GET', '/dashboard/status', auth(dash))).body) as { statsStreams: number };
  const readings: any[][] = [[], [], []];
  const sockets: WebSocket[] = [];
  for (let i = 0; i < 3; i++) {
    const { ws } = await wsOpen(dash, `/ws/stats?token=${dash.token}`, { Origin: dash.origin });
    assert.ok(ws);
    ws!.on('message', (m) => readings[i]!.push(JSON.parse(String(m))));
    ws!.send(JSON.stringify({ subscribe: [running] }));
    sockets.push(ws!);
  }
  await waitFor('every socket to get two readings', () => readings.every((r) => r.length >= 2), 20_000);
  assert.equal((await status()).statsStreams, 1);
  const s = readings[0]![1];
  assert.equal(s.id, running);
  assert.ok(s.mem > 0, 'memory in use');
  assert.ok(typeof s.cpu === 'number' && s.cpu >= 0);
  for (const ws of sockets) ws.close();
  await waitFor('the engine stream to close with the last page', async () => (await status()).statsStreams === 0, 10_000);
});
