// The files a container's network gives it, kept as dockerd keeps them: /etc/hosts follows
// `network connect` and `disconnect`, `--network container:X` shares X's files, and a
// `--link` to a container that does not exist is refused.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { useDaemon } from './harness';

const d = useDaemon();

test('network connect adds the new address to /etc/hosts, disconnect removes it', async () => {
  await d.dockerOk(['network', 'create', 'hn1']);
  const id = await d.dockerOk(['run', '-d', '--name', 'h1', 'busybox', 'sleep', '300']);
  const short = id.slice(0, 12);
  const bridgeIp = (await d.inspect('h1')).NetworkSettings.Networks.bridge.IPAddress;
  await d.dockerOk(['network', 'connect', 'hn1', 'h1']);
  const ip = (await d.inspect('h1')).NetworkSettings.Networks.hn1.IPAddress;
  assert.ok(ip && ip !== bridgeIp, ip);
  const after = await d.dockerOk(['exec', 'h1', 'cat', '/etc/hosts']);
  assert.ok(after.includes(`${bridgeIp}\t${short}`), after);
  assert.ok(after.includes(`${ip}\t${short}`), after);
  // The container's own name resolves to both addresses.
  const all = await d.dockerOk(['exec', 'h1', 'sh', '-c', `grep -w ${short} /etc/hosts | cut -f1`]);
  assert.deepEqual(all.split('\n').sort(), [bridgeIp, ip].sort());
  await d.dockerOk(['network', 'disconnect', 'hn1', 'h1']);
  const gone = await d.dockerOk(['exec', 'h1', 'cat', '/etc/hosts']);
  assert.ok(!gone.includes(`${ip}\t`), gone);
  assert.ok(gone.includes(`${bridgeIp}\t${short}`), gone);
  // A restart on two networks writes both addresses.
  await d.dockerOk(['network', 'connect', 'hn1', 'h1']);
  await d.dockerOk(['restart', '-t', '0', 'h1']);
  const ins = (await d.inspect('h1')).NetworkSettings.Networks;
  const again = await d.dockerOk(['exec', 'h1', 'cat', '/etc/hosts']);
  for (const n of ['bridge', 'hn1']) assert.ok(again.includes(`${ins[n].IPAddress}\t${short}`), again);
  await d.dockerOk(['rm', '-f', 'h1']);
  await d.dockerOk(['network', 'rm', 'hn1']);
});

test('--network container:X shares X\'s hosts, resolv.conf and hostname', async () => {
  await d.dockerOk(['network', 'create', 'hn2']);
  await d.dockerOk(['run', '-d', '--name', 'x1', '--network', 'hn2', '--hostname', 'xbox', '--add-host', 'extra.test:10.9.9.9', 'busybox', 'sleep', '300']);
  const files = 'cat /etc/hosts; echo ---; cat /etc/resolv.conf; echo ---; cat /etc/hostname; echo ---; hostname';
  const xs = await d.dockerOk(['exec', 'x1', 'sh', '-c', files]);
  const js = await d.dockerOk(['run', '--rm', '--network', 'container:x1', 'busybox', 'sh', '-c', files]);
  assert.equal(js, xs);
  assert.ok(js.includes('10.9.9.9\textra.test'), js);
  assert.ok(js.includes('\txbox'), js);
  await d.dockerOk(['rm', '-f', 'x1']);
  await d.dockerOk(['network', 'rm', 'hn2']);
});

test('--link to a container that does not exist is refused at create, as dockerd refuses it', async () => {
  const before = await d.dockerOk(['ps', '-aq']);
  const r = await d.docker(['run', '--rm', '--name', 'linker', '--link', 'nosuch:db', 'busybox', 'true']);
  assert.equal(r.code, 125, r.stderr);
  assert.match(r.stderr, /Error response from daemon: could not get container for nosuch: No such container: nosuch/);
  assert.doesNotMatch(r.stderr, /Unable to find image/);
  const c = await d.docker(['create', '--link', 'nosuch', 'busybox', 'true']);
  assert.equal(c.code, 1, c.stderr);
  assert.match(c.stderr, /could not get container for nosuch: No such container: nosuch/);
  assert.equal(await d.dockerOk(['ps', '-aq']), before, 'nothing was created');
  // On a user network a link is an alias: no such check, as in dockerd.
  await d.dockerOk(['network', 'create', 'hn3']);
  await d.dockerOk(['run', '--rm', '--network', 'hn3', '--link', 'nosuch:db', 'busybox', 'true']);
  await d.dockerOk(['network', 'rm', 'hn3']);
});

test('--link to a container that is not running fails the start in dockerd\'s words: exit code 128 and State.Error kept, --rm removes it', async () => {
  await d.dockerOk(['create', '--name', 'lk-down', 'busybox', 'true']);
  await d.dockerOk(['create', '--name', 'lk-parent', '--link', 'lk-down:db', 'busybox', 'true']);
  const st = await d.docker(['start', 'lk-parent']);
  assert.equal(st.code, 1);
  assert.match(st.stderr, /^Error response from daemon: Cannot link to a non running container: \/lk-down AS \/lk-parent\/db$/m);
  const state = (await d.inspect('lk-parent')).State;
  assert.deepEqual([state.Status, state.ExitCode, state.Error], ['created', 128, 'Cannot link to a non running container: /lk-down AS /lk-parent/db']);
  const before = await d.dockerOk(['ps', '-aq']);
  const r = await d.docker(['run', '--rm', '--name', 'lk-gone', '--link', 'lk-down', 'busybox', 'true']);
  assert.equal(r.code, 125);
  assert.match(r.stderr, /Cannot link to a non running container: \/lk-down AS \/lk-gone\/lk-down/);
  assert.equal(await d.dockerOk(['ps', '-aq']), before, 'the --rm container is gone');
  // Once the linked container runs, the same container starts and resolves the alias.
  await d.dockerOk(['rm', 'lk-down']);
  await d.dockerOk(['run', '-d', '--name', 'lk-down', 'busybox', 'sleep', '300']);
  await d.dockerOk(['rm', 'lk-parent']);
  const hosts = await d.dockerOk(['run', '--rm', '--link', 'lk-down:db', 'busybox', 'grep', '-w', 'db', '/etc/hosts']);
  assert.match(hosts, /\tdb\b/);
  await d.dockerOk(['rm', '-f', 'lk-down']);
});
