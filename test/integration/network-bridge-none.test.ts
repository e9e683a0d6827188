/**
 * berthd -b none: no default bridge. As with dockerd, a container on the default network then
 * has only its loopback (RUN steps of a build too), and asking for the bridge by name fails.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { useDaemonWithArgs } from './harness';

const d = useDaemonWithArgs(['--bridge', 'none']);

test('-b none: run and build get no network; --network bridge is refused; no bridge device is made', async () => {
  const addrs = await d.dockerOk(['run', '--rm', 'busybox', 'ip', '-o', 'addr']);
  assert.deepEqual([...new Set(addrs.split('\n').map((l) => l.split(/\s+/)[1]))], ['lo']);
  const id = await d.dockerOk(['run', '-d', 'busybox', 'sleep', '60']);
  assert.deepEqual((await d.inspect(id)).NetworkSettings.IPAddress, '');
  await d.dockerOk(['rm', '-f', id]);
  const built = await d.docker(['build', '-t', 'nonet', '-'], { env: { DOCKER_BUILDKIT: '0' }, timeoutMs: 120_000, input: 'FROM busybox\nRUN ip -o addr | wc -l > /lines\n' });
  assert.equal(built.code, 0, built.stdout + built.stderr);
  assert.equal(await d.dockerOk(['run', '--rm', 'nonet', 'cat', '/lines']), '2');
  const bridge = await d.docker(['run', '--rm', '--network', 'bridge', 'busybox', 'true']);
  assert.equal(bridge.code, 125);
  assert.match(bridge.stderr, /network bridge not found/);
  assert.doesNotMatch(await d.dockerOk(['network', 'ls', '--format', '{{.Name}}']), /^bridge$/m);
});
