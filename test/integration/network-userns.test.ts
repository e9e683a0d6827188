// Networks with --userns-remap: the container's user namespace owns its network namespace
// (its /sys mount needs that), and netavark wires that namespace once runc made it.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { chmodSync } from 'node:fs';
import { useDaemonWithArgs, waitFor } from './harness';

const d = useDaemonWithArgs(['--userns-remap=default']);
// The remapped root must reach the data root (the harness makes its dir 0700).
chmodSync(d.dir, 0o711);

test('remapped containers get bridge addresses, published ports and DNS on user networks', async () => {
  const x = d.net!.x;
  await d.dockerOk(['network', 'create', 'rn']);
  const hp = 24000 + x * 10;
  await d.dockerOk(['run', '-d', '--name', 'rweb', '--network', 'rn', '-p', `${hp}:80`, 'busybox', 'sh', '-c', 'mkdir /www; echo rweb > /www/index.html; exec httpd -f -p 80 -h /www']);
  const ip = (await d.inspect('rweb')).NetworkSettings.Networks.rn.IPAddress;
  assert.match(ip, new RegExp(`^10\\.${x}\\.`));
  const got = await waitFor('wget by name', async () => {
    const r = await d.docker(['run', '--rm', '--network', 'rn', 'busybox', 'sh', '-c', 'timeout 5 wget -q -O- http://rweb/; exit $?']);
    return r.stdout.trim() === 'rweb' ? r.stdout.trim() : undefined;
  }, 20_000, 200);
  assert.equal(got, 'rweb');
  await waitFor('the published port', () => spawnSync('curl', ['-s', '-m', '5', `http://127.0.0.1:${hp}/`], { encoding: 'utf8' }).stdout.trim() === 'rweb', 15_000, 100);
  await d.dockerOk(['rm', '-f', 'rweb']);
  await d.dockerOk(['network', 'rm', 'rn']);
});
