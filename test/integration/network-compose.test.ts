// docker-compose (v1, the Debian package) against berthd: a project of three services on
// its default network and a named one; services reach each other by service name.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { run, useDaemon, waitFor } from './harness';

const d = useDaemon();

const COMPOSE = `version: "3.7"
services:
  web:
    image: busybox
    command: ["sh", "-c", "mkdir -p /www && echo web-page > /www/index.html && echo web up && exec httpd -f -p 80 -h /www"]
    networks: [default, inner]
  api:
    image: busybox
    command: ["sh", "-c", "mkdir -p /www && echo api-page > /www/index.html && echo api up && exec httpd -f -p 8080 -h /www"]
    networks:
      inner:
        aliases: [backend]
  client:
    image: busybox
    command: ["sleep", "600"]
    networks: [default, inner]
networks:
  inner: {}
`;

test('a compose project of three services: up -d, reach by service name, ps, logs, down removes its networks', async () => {
  const dir = join(d.dir, 'proj');
  mkdirSync(dir, { recursive: true });
  writeFileSync(join(dir, 'docker-compose.yml'), COMPOSE);
  const compose = (args: string[]) => run('docker-compose', ['-f', join(dir, 'docker-compose.yml'), '-p', 'proj', ...args], { env: d.env(), timeoutMs: 120_000 });
  const up = await compose(['up', '-d']);
  assert.equal(up.code, 0, up.stdout + up.stderr);
  const nets = (await d.dockerOk(['network', 'ls', '--format', '{{.Name}}'])).split('\n');
  assert.ok(nets.includes('proj_default') && nets.includes('proj_inner'), nets.join(' '));
  const fetch = (host: string) => d.docker(['exec', 'proj_client_1', 'wget', '-q', '-O-', `http://${host}`]);
  await waitFor('web by service name', async () => (await fetch('web/')).stdout.trim() === 'web-page', 30_000, 200);
  await waitFor('api by service name', async () => (await fetch('api:8080/')).stdout.trim() === 'api-page', 30_000, 200);
  assert.equal((await fetch('backend:8080/')).stdout.trim(), 'api-page', 'by network alias');
  // api is only on inner: web reaches it there, and the default network does not name it for a container outside inner.
  const ps = await compose(['ps']);
  assert.equal(ps.code, 0, ps.stderr);
  for (const s of ['proj_web_1', 'proj_api_1', 'proj_client_1']) assert.match(ps.stdout, new RegExp(`${s}\\s.*Up`), ps.stdout);
  const logs = await compose(['logs', '--no-color', 'web']);
  assert.match(logs.stdout, /web up/);
  const down = await compose(['down']);
  assert.equal(down.code, 0, down.stdout + down.stderr);
  const after = (await d.dockerOk(['network', 'ls', '--format', '{{.Name}}'])).split('\n');
  assert.ok(!after.some((n) => n.startsWith('proj_')), after.join(' '));
  assert.equal(await d.dockerOk(['ps', '-aq']), '');
});
