/**
 * The CRI side driven the way an operator drives it: crictl (cri-tools v1.26.1) against a
 * private berthd started with --cri-socket, pods on a private CNI bridge (crit1,
 * 10.77.89.0/24, no route out). crictl is taken from $CRICTL, else from where
 * `npm run test:cri` builds it (/tmp/berth-critest/bin), else built there with the
 * critest kit's build.sh ($CRITEST_TOOLS); without any of these the tests fail saying so.
 */
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, mkdirSync, mkdtempSync, rmSync, symlinkSync, writeFileSync, copyFileSync } from 'node:fs';
import http from 'node:http';
import net from 'node:net';
import { join } from 'node:path';
import { spawnSync } from 'node:child_process';
import { BUSYBOX, Daemon, REPO, run, waitFor, type RunResult } from './harness';

const TOOLS = process.env.CRITEST_TOOLS ?? [join(REPO, '..', 'shared', 'tools', 'critest'), '/work/shared/tools/critest'].find((d) => existsSync(d)) ?? '/work/shared/tools/critest';
const BUILT = '/tmp/berth-critest/bin/crictl';

function locateCrictl(): string {
  if (process.env.CRICTL) return process.env.CRICTL;
  if (existsSync(BUILT)) return BUILT;
  if (existsSync(join(TOOLS, 'build.sh'))) {
    const r = spawnSync(join(TOOLS, 'build.sh'), ['/tmp/berth-critest/bin'], { stdio: 'inherit', timeout: 15 * 60_000 });
    if (r.status === 0 && existsSync(BUILT)) return BUILT;
  }
  throw new Error(`crictl is missing: set CRICTL, run \`npm run test:cri\` once (it builds ${BUILT}), or set CRITEST_TOOLS to the critest kit`);
}

const cri = mkdtempSync('/tmp/bcri-');
const sock = join(cri, 'cri.sock');
const bridge = 'crit1';
const d = new Daemon(['--cri-socket', sock, '--pod-infra-image', 'berth-test/pause:1', '--cni-conf-dir', join(cri, 'net.d'), '--cni-bin-dir', '/usr/lib/cni']);
let crictl = '';

function c(args: string[], opts: Parameters<typeof run>[2] = {}): Promise<RunResult> {
  return run(crictl, ['--runtime-endpoint', `unix://${sock}`, '--image-endpoint', `unix://${sock}`, '--timeout', '60s', ...args], { timeoutMs: 90_000, ...opts });
}

async function ok(args: string[], opts: Parameters<typeof run>[2] = {}): Promise<string> {
  const r = await c(args, opts);
  if (r.code !== 0) throw new Error(`crictl ${args.join(' ')} exited ${r.code}${r.timedOut ? ' (timed out)' : ''}\nstdout: ${r.stdout}\nstderr: ${r.stderr}\nberthd log:\n${d.log().slice(-3000)}`);
  return r.stdout.trim();
}

/** A root with every busybox applet, imported as an image with `cmd`. */
async function importImage(tag: string, cmd: string[]): Promise<void> {
  const root = join(cri, `root-${tag.replace(/\W/g, '_')}`);
  for (const dir of ['bin', 'etc', 'tmp', 'proc', 'sys', 'dev', 'root', 'www']) mkdirSync(join(root, dir), { recursive: true });
  copyFileSync(BUSYBOX, join(root, 'bin', 'busybox'));
  const list = spawnSync(BUSYBOX, ['--list'], { encoding: 'utf8' }).stdout.split('\n').filter((a) => a && a !== 'busybox');
  for (const a of list) symlinkSync('busybox', join(root, 'bin', a));
  writeFileSync(join(root, 'etc', 'passwd'), 'root:x:0:0:root:/root:/bin/sh\nnobody:x:65534:65534:nobody:/:/bin/false\n');
  writeFileSync(join(root, 'etc', 'group'), 'root:x:0:\nnogroup:x:65534:\n');
  writeFileSync(join(root, 'www', 'index.html'), 'hello from the pod\n');
  const tar = join(cri, `${tag.replace(/\W/g, '_')}.tar`);
  const t = spawnSync('tar', ['-C', root, '-cf', tar, '.']);
  if (t.status !== 0) throw new Error(`tar: ${t.stderr}`);
  await d.dockerOk(['import', '--change', `CMD ${JSON.stringify(cmd)}`, tar, tag], { timeoutMs: 60_000 });
}

function writePod(name: string, extra: object = {}): string {
  const file = join(cri, `${name}.pod.json`);
  writeFileSync(file, JSON.stringify({
    metadata: { name, namespace: 'berth-test', uid: `uid-${name}`, attempt: 0 },
    hostname: `${name}-host`,
    log_directory: join(cri, 'logs', name),
    linux: {},
    ...extra,
  }));
  return file;
}

function writeContainer(name: string, command: string[], extra: object = {}): string {
  const file = join(cri, `${name}.ctr.json`);
  writeFileSync(file, JSON.stringify({ metadata: { name }, image: { image: 'berth-test/tools:1' }, command, log_path: `${name}.log`, ...extra }));
  return file;
}

function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const s = net.createServer();
    s.listen(0, '127.0.0.1', () => {
      const p = (s.address() as net.AddressInfo).port;
      s.close(() => resolve(p));
    });
    s.on('error', reject);
  });
}

function get(port: number, path: string): Promise<string> {
  return new Promise((resolve, reject) => {
    const req = http.get({ host: '127.0.0.1', port, path, timeout: 5000 }, (res) => {
      let body = '';
      res.on('data', (b) => (body += b));
      res.on('end', () => resolve(body));
    });
    req.on('error', reject);
    req.on('timeout', () => req.destroy(new Error('timeout')));
  });
}

/** portmap's shared iptables chains, once no pod's own chain is left in them. */
async function removePortmapChains(): Promise<void> {
  const nat = await run('iptables', ['-t', 'nat', '-S']);
  if (nat.code !== 0 || nat.stdout.includes('-N CNI-DN-')) return;
  await run('iptables', ['-t', 'nat', '-D', 'PREROUTING', '-m', 'addrtype', '--dst-type', 'LOCAL', '-j', 'CNI-HOSTPORT-DNAT']);
  await run('iptables', ['-t', 'nat', '-D', 'OUTPUT', '-m', 'addrtype', '--dst-type', 'LOCAL', '-j', 'CNI-HOSTPORT-DNAT']);
  await run('iptables', ['-t', 'nat', '-D', 'POSTROUTING', '-m', 'comment', '--comment', 'CNI portfwd requiring masquerade', '-j', 'CNI-HOSTPORT-MASQ']);
  for (const ch of ['CNI-HOSTPORT-DNAT', 'CNI-HOSTPORT-MASQ', 'CNI-HOSTPORT-SETMARK']) {
    await run('iptables', ['-t', 'nat', '-F', ch]);
    await run('iptables', ['-t', 'nat', '-X', ch]);
  }
}

before(async () => {
  crictl = locateCrictl();
  mkdirSync(join(cri, 'net.d'));
  writeFileSync(join(cri, 'net.d', '10-berth-test.conflist'), JSON.stringify({
    cniVersion: '0.4.0',
    name: `berth-it-${process.pid}`,
    plugins: [
      { type: 'bridge', bridge, isGateway: true, ipMasq: false, ipam: { type: 'host-local', dataDir: join(cri, 'ipam'), ranges: [[{ subnet: '10.77.89.0/24' }]], routes: [{ dst: '10.77.89.0/24' }] } },
      { type: 'portmap', capabilities: { portMappings: true } },
    ],
  }));
  await d.start();
  await importImage('berth-test/pause:1', ['/bin/sh', '-c', 'trap "exit 0" TERM; while :; do sleep 3600 & wait $!; done']);
  await importImage('berth-test/tools:1', ['/bin/sh']);
}, { timeout: 20 * 60_000 });

after(async () => {
  if (crictl && existsSync(sock)) {
    const pods = (await c(['pods', '-q'])).stdout.split(/\s+/).filter(Boolean);
    for (const p of pods) await c(['rmp', '-f', p]);
  }
  await d.cleanup();
  await run('ip', ['link', 'del', bridge]);
  await removePortmapChains();
  rmSync(cri, { recursive: true, force: true });
}, { timeout: 120_000 });

test('an operator runs a pod with crictl: runp, create, start, logs -f, exec, exec -it, port-forward, stats, rmp -f', async () => {
  const podFile = writePod('web');
  const pod = await ok(['runp', podFile]);
  assert.match(pod, /^[0-9a-f]{64}$/);
  const inspect = JSON.parse(await ok(['inspectp', pod]));
  assert.equal(inspect.status.state, 'SANDBOX_READY');
  assert.match(inspect.status.network.ip, /^10\.77\.89\.\d+$/);

  const ticker = writeContainer('ticker', ['sh', '-c', 'i=0; while :; do i=$((i+1)); echo "line $i"; sleep 0.2; done']);
  const web = writeContainer('web', ['httpd', '-f', '-p', '8080', '-h', '/www']);
  const tickId = await ok(['create', pod, ticker, podFile]);
  const webId = await ok(['create', pod, web, podFile]);
  await ok(['start', tickId]);
  await ok(['start', webId]);

  // logs -f follows what comes
  let seen = '';
  const ac = new AbortController();
  const follow = c(['logs', '-f', tickId], { abort: ac.signal, onStdout: (s) => (seen += s) });
  await waitFor('logs -f to show line 5', () => seen.includes('line 5'), 20_000);
  ac.abort();
  await follow;

  // exec, in the pod's UTS and network namespaces
  assert.equal(await ok(['exec', tickId, 'cat', '/etc/hostname']), 'web-host');
  assert.equal(await ok(['exec', tickId, 'hostname']), 'web-host');
  const ifaces = await ok(['exec', webId, 'ip', '-4', 'addr', 'show', 'eth0']);
  assert.ok(ifaces.includes(inspect.status.network.ip), ifaces);
  const failing = await c(['exec', tickId, 'sh', '-c', 'exit 3']);
  assert.notEqual(failing.code, 0);
  assert.match(failing.stderr, /exit code 3/);

  // exec -it gets a terminal
  const tty = await run('script', ['-qec', `${crictl} --runtime-endpoint unix://${sock} exec -it ${tickId} sh -c 'tty; echo done'`, '/dev/null'], { timeoutMs: 60_000 });
  assert.equal(tty.code, 0, tty.stderr);
  assert.match(tty.stdout, /\/dev\/pts\/\d+/);
  assert.match(tty.stdout, /done/);

  // port-forward reaches the pod's port from the host's loopback
  const local = await freePort();
  const pfAbort = new AbortController();
  const pf = c(['port-forward', pod, `${local}:8080`], { abort: pfAbort.signal });
  const body = await waitFor('port-forward to answer', async () => {
    try {
      return await get(local, '/index.html');
    } catch {
      return undefined;
    }
  }, 30_000, 200);
  assert.equal(body, 'hello from the pod\n');
  pfAbort.abort();
  await pf;

  // stats
  const stats = JSON.parse(await ok(['stats', '-o', 'json', '--id', tickId]));
  assert.equal(stats.stats[0].attributes.id, tickId);
  assert.ok(Number(stats.stats[0].memory.workingSetBytes.value) > 0);

  // the Docker side sees the same containers, labelled
  const ps = await d.dockerOk(['ps', '-a', '--no-trunc', '--filter', 'label=io.kubernetes.pod.name=web', '--format', '{{.ID}} {{.Names}}']);
  for (const id of [pod, tickId, webId]) assert.ok(ps.includes(id), ps);
  assert.match(ps, /k8s_POD_web_berth-test_uid-web_0/);

  await ok(['rmp', '-f', pod]);
  assert.equal(await ok(['pods', '-q']), '');
  assert.equal(await ok(['ps', '-aq']), '');
  const left = await d.dockerOk(['ps', '-aq', '--filter', 'label=io.kubernetes.pod.name=web']);
  assert.equal(left.trim(), '');
});

test('pods and containers survive a berthd kill -9 and are listed with their state', async () => {
  const podFile = writePod('survivor');
  const pod = await ok(['runp', podFile]);
  const ctr = writeContainer('sleeper', ['sleep', '3600']);
  const id = await ok(['create', pod, ctr, podFile]);
  await ok(['start', id]);
  const done = writeContainer('done', ['true']);
  const doneId = await ok(['create', pod, done, podFile]);
  await ok(['start', doneId]);
  await waitFor('the short container to exit', async () => JSON.parse(await ok(['inspect', doneId])).status.state === 'CONTAINER_EXITED', 20_000, 100);

  await d.kill();
  await d.start();
  // The killed daemon's socket file is still there until the new one listens: wait for an answer.
  await waitFor('the CRI server to answer', async () => (await c(['version'], { timeoutMs: 10_000 })).code === 0, 30_000, 100);

  const p = JSON.parse(await ok(['inspectp', pod]));
  assert.equal(p.status.state, 'SANDBOX_READY');
  assert.equal(JSON.parse(await ok(['inspect', id])).status.state, 'CONTAINER_RUNNING');
  const exited = JSON.parse(await ok(['inspect', doneId])).status;
  assert.equal(exited.state, 'CONTAINER_EXITED');
  assert.equal(exited.exitCode, 0);
  assert.equal(await ok(['exec', id, 'hostname']), 'survivor-host');

  await ok(['stopp', pod]);
  assert.equal(JSON.parse(await ok(['inspectp', pod])).status.state, 'SANDBOX_NOTREADY');
  await ok(['rmp', pod]);
  assert.equal(await ok(['pods', '-q']), '');
});

/** Names under the daemon's roots that still carry `id` (record, bundle, snapshot, trash entries). */
function leftovers(id: string): string[] {
  const r = spawnSync('find', [d.dataRoot, d.execRoot, '-name', `*${id}*`], { encoding: 'utf8' });
  return r.stdout.split('\n').filter(Boolean);
}

test('RemoveContainer answers once the container is gone from the lists; its files follow, also across a kill -9 of berthd just after it', async () => {
  const podFile = writePod('remover');
  const pod = await ok(['runp', podFile]);
  for (const killAfter of [false, true]) {
    const id = await ok(['create', pod, writeContainer(`brief-${killAfter}`, ['true']), podFile]);
    await ok(['start', id]);
    await waitFor('the container to exit', async () => JSON.parse(await ok(['inspect', id])).status.state === 'CONTAINER_EXITED', 20_000, 50);
    assert.ok(leftovers(id).length > 0, 'the container has files before its removal');
    await ok(['rm', id]);
    assert.ok(!(await ok(['ps', '-aq'])).split('\n').includes(id), 'crictl ps -a no longer lists it');
    assert.equal((await d.dockerOk(['ps', '-aq', '--no-trunc', '--filter', `id=${id}`])).trim(), '');
    if (killAfter) {
      await d.kill();
      await d.start();
      await waitFor('the CRI server to answer', async () => (await c(['version'], { timeoutMs: 10_000 })).code === 0, 30_000, 100);
    }
    await waitFor(`the files of ${id} to go`, async () => leftovers(id).length === 0, 20_000, 50);
  }
  await ok(['rmp', '-f', pod]);
});
