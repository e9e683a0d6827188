import { test } from 'node:test';
import assert from 'node:assert/strict';
import type http from 'node:http';
import { allowedHosts, CSP, hostOriginProblem, newToken, tokenCookie, tokenSource } from './security';

const req = (headers: Record<string, string>) => ({ headers } as unknown as http.IncomingMessage);

test('the token is accepted from the header, the query or the cookie, and nothing else', () => {
  const t = newToken();
  assert.match(t, /^[0-9a-f]{48}$/);
  assert.notEqual(t, newToken());
  const u = (s: string) => new URL(s, 'http://x');
  assert.equal(tokenSource(req({ 'x-berth-token': t }), u('/'), t), 'header');
  assert.equal(tokenSource(req({}), u(`/?token=${t}`), t), 'query');
  assert.equal(tokenSource(req({ cookie: `a=b; berth_dashboard_token=${t}` }), u('/'), t), 'cookie');
  assert.equal(tokenSource(req({}), u('/'), t), undefined);
  assert.equal(tokenSource(req({ 'x-berth-token': t.slice(1) }), u('/?token=nope'), t), undefined);
  assert.equal(tokenSource(req({ cookie: `berth_dashboard_token=${t}x` }), u('/'), t), undefined);
});

test('the cookie is HttpOnly and SameSite=Strict', () => {
  assert.match(tokenCookie('abc'), /HttpOnly/);
  assert.match(tokenCookie('abc'), /SameSite=Strict/);
});

test('Host must name the bound address; Origin, when sent, too', () => {
  const hosts = allowedHosts('127.0.0.1', 9090);
  assert.equal(hostOriginProblem(req({ host: '127.0.0.1:9090' }), hosts), undefined);
  assert.equal(hostOriginProblem(req({ host: 'localhost:9090', origin: 'http://localhost:9090' }), hosts), undefined);
  assert.match(hostOriginProblem(req({ host: 'evil.example:9090' }), hosts)!, /Host/);
  assert.match(hostOriginProblem(req({ host: '127.0.0.1:9091' }), hosts)!, /Host/);
  assert.match(hostOriginProblem(req({}), hosts)!, /Host/);
  assert.match(hostOriginProblem(req({ host: '127.0.0.1:9090', origin: 'http://evil.example' }), hosts)!, /Origin/);
  assert.match(hostOriginProblem(req({ host: '127.0.0.1:9090', origin: 'null' }), hosts)!, /Origin/);
  assert.match(hostOriginProblem(req({ host: '127.0.0.1:9090', origin: 'https://127.0.0.1:9090' }), hosts)!, /Origin/);
  const lan = allowedHosts('192.168.1.5', 80);
  assert.equal(hostOriginProblem(req({ host: 'localhost:80' }), lan) !== undefined, true);
});

test('the CSP allows no inline or eval script and no other origin', () => {
  assert.match(CSP, /script-src 'self'(;|$)/);
  assert.doesNotMatch(CSP, /unsafe-eval/);
  assert.match(CSP, /default-src 'none'/);
  assert.match(CSP, /connect-src 'self'/);
  assert.match(CSP, /frame-ancestors 'none'/);
});
