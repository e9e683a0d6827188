/**
 * The daemon never crashes on a request: malformed HTTP, truncated requests, hostile
 * headers, bad JSON, wrong field types, unknown paths and versions, and clients that vanish
 * in the middle of a stream. After each, /_ping answers and the daemon is the same process.
 * Also the bad-input statuses a user sees through the docker CLI.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import http from 'node:http';
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import net from 'node:net';
import { httpStream, ID64, mountsUnder, processesMentioning, rawSocket, useDaemon, waitFor } from './harness';

const d = useDaemon();
let daemonPid: number | undefined;

/** The same berthd answers /_ping and has logged no crash. */
async function stillUp(after: string): Promise<void> {
  daemonPid ??= d.pid;
  assert.ok(d.running(), `berthd died after ${after}`);
  assert.equal(d.pid, daemonPid, `berthd was restarted after ${after}`);
  assert.ok(await d.ping(), `berthd does not answer /_ping after ${after}`);
  assert.doesNotMatch(d.log(), /uncaught exception|unhandled rejection/, `berthd logged a crash after ${after}`);
  // A client that went away is not a daemon error.
  assert.doesNotMatch(d.log(), /level=error msg="request failed".*error="aborted"/, `berthd logged a vanished client as an error after ${after}`);
}

/**
 * Open a request and drop the connection: `ms` after the response started (so a stream is
 * flowing), or with `early`, `ms` after sending whether or not anything came back.
 * Resolves with the status seen (0 if none).
 */
function abandon(method: string, path: string, ms: number, early = false): Promise<number> {
  return new Promise((res) => {
    let status = 0;
    const req = http.request({ socketPath: d.sock, method, path });
    const drop = () => {
      clearTimeout(cap);
      req.destroy();
      res(status);
    };
    // Never wait forever for a response that does not come.
    const cap = setTimeout(drop, 15_000);
    req.on('response', (r) => {
      status = r.statusCode ?? 0;
      r.on('data', () => undefined);
      r.on('error', () => undefined);
      if (!early) setTimeout(drop, ms);
    });
    req.on('error', () => undefined);
    req.end();
    if (early) setTimeout(drop, ms);
  });
}

/** Hijack /attach with a raw upgrade request, read the 101 and `ms` of output, then drop the connection. */
function abandonAttach(id: string, ms: number): Promise<string> {
  return new Promise((res) => {
    const s = net.createConnection(d.sock);
    const got: Buffer[] = [];
    const drop = () => {
      clearTimeout(cap);
      s.destroy();
      res(Buffer.concat(got).toString('latin1'));
    };
    const cap = setTimeout(drop, 15_000);
    s.on('data', (c: Buffer) => {
      if (got.length === 0) setTimeout(drop, ms);
      got.push(c);
    });
    s.on('error', () => undefined);
    s.on('connect', () => {
      s.write(`POST /v1.45/containers/${id}/attach?stream=1&stdout=1&stderr=1 HTTP/1.1\r\nHost: api\r\nUpgrade: tcp\r\nConnection: Upgrade\r\nContent-Length: 0\r\n\r\n`);
    });
  });
}

test('malformed and truncated HTTP gets a 400 or a closed connection, never a crash', async () => {
  await stillUp('startup');
  const cases: Array<[string, string | Buffer, RegExp | null]> = [
    ['garbage bytes', Buffer.from([0x00, 0xff, 0x13, 0x37, 0x0d, 0x0a, 0x0d, 0x0a, 0xde, 0xad]), /^HTTP\/1\.1 400 /],
    ['a truncated request line', 'GET /_pi', /^HTTP\/1\.1 400 /],
    ['truncated headers', 'GET /_ping HTTP/1.1\r\nHost: x\r\nX-Half: ha', /^HTTP\/1\.1 400 /],
    ['a body shorter than Content-Length', 'POST /containers/create?name=short-body HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: 1000\r\n\r\n{"Image":"busybox","Cmd":["tr', null],
    ['chunked-encoding garbage', 'POST /containers/create?name=chunked HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\nnot a chunk\r\n0\r\n\r\n', /^HTTP\/1\.1 400 /],
    ['two different Content-Lengths', 'POST /volumes/create HTTP/1.1\r\nHost: x\r\nContent-Length: 2\r\nContent-Length: 9\r\n\r\n{}', /^HTTP\/1\.1 400 /],
    ['an unknown HTTP version', 'GET /_ping HTTP/7.0\r\nHost: x\r\n\r\n', /^HTTP\/1\.1 400 /],
    ['a request target that is not a URL', 'GET http://[nope/_ping HTTP/1.1\r\nHost: x\r\n\r\n', /^HTTP\/1\.1 400 /],
    ['a bad percent-escape in the path', 'GET /containers/%zz/json HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n', /^HTTP\/1\.1 400 /],
  ];
  for (const [what, bytes, expect] of cases) {
    // A reply that is expected is read until it comes; otherwise we only send and hang up.
    const reply = await rawSocket(d.sock, bytes, expect ? { half: true, until: expect, waitMs: 15_000 } : { half: true, waitMs: 2000 });
    if (expect) assert.match(reply, expect, `${what}: ${JSON.stringify(reply.slice(0, 200))}`);
    await stillUp(what);
  }
  // A 1 MB header: refused (or the connection is cut while we still write), the daemon stays.
  const big = await rawSocket(d.sock, `GET /_ping HTTP/1.1\r\nHost: x\r\nX-Big: ${'a'.repeat(1 << 20)}\r\n\r\n`, { waitMs: 2000 });
  assert.ok(big === '' || /^HTTP\/1\.1 4\d\d /.test(big), JSON.stringify(big.slice(0, 200)));
  await stillUp('a 1 MB header');
  // Many connections opened and dropped at once.
  await Promise.all(Array.from({ length: 50 }, (_, i) => rawSocket(d.sock, i % 2 ? 'GET /_ping HTTP/1.1\r\n' : 'POST /containers/create HTTP/1.1\r\nContent-Length: 99\r\n\r\n{', { waitMs: 5 })));
  await stillUp('50 dropped connections');
  // None of the cut-off creates made a container.
  assert.equal(await d.dockerOk(['ps', '-aq']), '');
});

test('malformed JSON and wrong field types are 400s naming the problem, on every JSON endpoint', async () => {
  const id = await d.dockerOk(['create', '--name', 'json-target', 'busybox', 'true']);
  const endpoints = ['/containers/create', `/commit?container=${id}`, '/volumes/create', `/containers/${id}/update`, `/containers/${id}/exec`, '/exec/0123456789ab/start'];
  for (const ep of endpoints) {
    for (const bad of ['{', '{"Image":', 'not json at all', '{"a":1}}', '\u0000\u0001']) {
      const r = await d.api('POST', ep, bad);
      assert.equal(r.status, 400, `${ep} with ${JSON.stringify(bad)}: ${r.status} ${r.body}`);
      assert.match(r.json?.message ?? '', /invalid JSON/, `${ep}: ${r.body}`);
    }
    const arr = await d.api('POST', ep, '[1,2]');
    assert.equal(arr.status, 400, `${ep} with an array: ${r2s(arr)}`);
    await stillUp(`bad JSON on ${ep}`);
  }
  const wrongTypes: Array<[string, object, string]> = [
    ['/containers/create', { Image: 'busybox', Cmd: 5 }, 'Cmd'],
    ['/containers/create', { Image: 'busybox', Env: 'A=1' }, 'Env'],
    ['/containers/create', { Image: 42 }, 'Image'],
    ['/containers/create', { Image: 'busybox', Tty: 'yes' }, 'Tty'],
    ['/containers/create', { Image: 'busybox', Labels: { a: 1 } }, 'Labels'],
    ['/containers/create', { Image: 'busybox', HostConfig: { Memory: 'lots' } }, 'Memory'],
    ['/containers/create', { Image: 'busybox', HostConfig: { Binds: '/a:/b' } }, 'Binds'],
    ['/containers/create', { Image: 'busybox', HostConfig: 7 }, 'HostConfig'],
    ['/containers/create', { Image: 'busybox', HostConfig: { RestartPolicy: { Name: 5 } } }, 'RestartPolicy.Name'],
    ['/containers/create', { Image: 'busybox', HostConfig: { LogConfig: { Type: 5 } } }, 'LogConfig.Type'],
    ['/containers/create', { Image: 'busybox', HostConfig: { Ulimits: [{ Name: 5, Soft: 1, Hard: 1 }] } }, 'Ulimits[0].Name'],
    ['/containers/create', { Image: 'busybox', HostConfig: { Ulimits: ['nofile=1'] } }, 'Ulimits[0]'],
    ['/containers/create', { Image: 'busybox', HostConfig: { Devices: [{ PathOnHost: 5 }] } }, 'Devices[0].PathOnHost'],
    ['/containers/create', { Image: 'busybox', HostConfig: { BlkioWeightDevice: [{ Path: 5, Weight: 10 }] } }, 'BlkioWeightDevice[0].Path'],
    ['/containers/create', { Image: 'busybox', HostConfig: { BlkioDeviceReadBps: [{ Path: '/dev/null', Rate: '1m' }] } }, 'BlkioDeviceReadBps[0].Rate'],
    ['/containers/create', { Image: 'busybox', HostConfig: { PortBindings: { '80/tcp': 5 } } }, 'PortBindings["80/tcp"]'],
    ['/containers/create', { Image: 'busybox', HostConfig: { PortBindings: { '80/tcp': [{ HostPort: 80 }] } } }, 'PortBindings["80/tcp"][0].HostPort'],
    ['/containers/create', { Image: 'busybox', HostConfig: { ConsoleSize: 'big' } }, 'ConsoleSize'],
    ['/containers/create', { Image: 'busybox', Healthcheck: { Test: 'true' } }, 'Healthcheck.Test'],
    ['/containers/create', { Image: 'busybox', NetworkingConfig: 5 }, 'NetworkingConfig'],
    ['/containers/create', { Image: 'busybox', NetworkingConfig: { EndpointsConfig: { x: 5 } } }, 'NetworkingConfig.EndpointsConfig["x"]'],
    ['/containers/create', { Image: 'busybox', Cmd: ['true'], StopSignal: 'SIGNOPE' }, 'SIGNOPE'],
    ['/containers/create', { Image: 'busybox', Cmd: ['true'], WorkingDir: 'relative' }, 'absolute path'],
    [`/commit?container=${id}`, { Cmd: 5 }, 'Cmd'],
    [`/commit?container=${id}`, { Env: { A: '1' } }, 'Env'],
    ['/volumes/create', { Name: 5 }, 'Name'],
    ['/volumes/create', { Labels: ['a'] }, 'Labels'],
    [`/containers/${id}/update`, { Memory: 'x' }, 'Memory'],
    [`/containers/${id}/exec`, { Cmd: 5 }, 'Cmd'],
    [`/containers/${id}/exec`, { Cmd: ['true'], Env: [1] }, 'Env'],
  ];
  for (const [ep, body, field] of wrongTypes) {
    const r = await d.api('POST', ep, body);
    assert.equal(r.status, 400, `${ep} ${JSON.stringify(body)}: ${r2s(r)}`);
    assert.ok((r.json?.message ?? '').includes(field), `${ep} ${JSON.stringify(body)}: message does not name ${field}: ${r.body}`);
  }
  await stillUp('wrong field types');
  // Nothing was created by the refused requests.
  assert.deepEqual((await d.dockerOk(['ps', '-aq', '--no-trunc'])).split('\n'), [id]);
  assert.equal(await d.dockerOk(['images', '-q', '--filter', 'dangling=true']), '');
  await d.dockerOk(['rm', id]);
});

function r2s(r: { status: number; body: string }): string {
  return `${r.status} ${r.body}`;
}

test('unknown endpoints are 404 page not found; versions out of range are 400 with dockerd wording', async () => {
  for (const p of ['/nope', '/v1.45/nope', '/containers', '/containers/json/extra/x']) {
    const r = await d.api('GET', p);
    assert.equal(r.status, 404, p);
    assert.deepEqual(r.json, { message: 'page not found' }, p);
    assert.match(String(r.headers['content-type']), /^application\/json/);
  }
  const del = await d.api('DELETE', '/_ping');
  assert.equal(del.status, 404);
  const tooNew = await d.api('GET', '/v9.99/version');
  assert.equal(tooNew.status, 400);
  assert.deepEqual(tooNew.json, { message: 'client version 9.99 is too new. Maximum supported API version is 1.45' });
  const tooOld = await d.api('GET', '/v1.12/containers/json');
  assert.equal(tooOld.status, 400);
  assert.match(tooOld.json.message, /^client version 1\.12 is too old\. Minimum supported API version is 1\.24/);
  const docker = await d.docker(['version'], { env: { DOCKER_API_VERSION: '9.99' } });
  assert.notEqual(docker.code, 0);
  assert.match(docker.stderr, /client version 9\.99 is too new/);
  await stillUp('unknown endpoints');
});

test('clients that disconnect in the middle of a stream leave the daemon and the container fine', async () => {
  const id = await d.dockerOk(['run', '-d', '--name', 'streamer', 'busybox', 'sh', '-c', 'i=0; while true; do i=$((i+1)); echo $i; echo e$i >&2; sleep 0.05; done']);
  for (let round = 0; round < 3; round++) {
    assert.equal(await abandon('GET', `/containers/${id}/logs?follow=1&stdout=1&stderr=1`, 300), 200);
    assert.equal(await abandon('GET', `/containers/${id}/logs?follow=1&stdout=1&timestamps=1&tail=all`, 50), 200);
    assert.equal(await abandon('POST', `/containers/${id}/wait`, 300), 200);
    assert.equal(await abandon('POST', `/containers/${id}/wait?condition=removed`, 100), 200);
    assert.equal(await abandon('GET', '/events', 300), 200);
    assert.equal(await abandon('GET', `/containers/${id}/stats`, 300), 200);
    assert.match(await abandonAttach(id, 300), /^HTTP\/1\.1 101 /);
    // Dropped before the response even started.
    await abandon('GET', `/containers/${id}/logs?follow=1&stdout=1`, 0, true);
    await abandon('POST', `/containers/${id}/wait`, 0, true);
    await stillUp(`dropped streams (round ${round + 1})`);
  }
  // The docker CLI killed mid-stream.
  for (const args of [['logs', '-f', id], ['attach', '--no-stdin', id]]) {
    const cli = d.dockerStream(args);
    await waitFor(`docker ${args[0]} to stream`, () => cli.output().length > 0);
    assert.equal((await cli.stop()).signal, 'SIGKILL', `docker ${args[0]} was still streaming`);
  }
  await stillUp('a killed docker logs -f and docker attach');

  const st = (await d.inspect(id)).State;
  assert.equal(st.Running, true, 'the container kept running');
  // Its output still flows to the log after all the dropped readers.
  const n1 = (await d.dockerOk(['logs', id])).split('\n').length;
  await waitFor('the log to keep growing', async () => (await d.dockerOk(['logs', id])).split('\n').length > n1);
  // Following works again after all that: --tail 0 shows only what comes next.
  const again = d.dockerStream(['logs', '-f', '--tail', '0', id]);
  await waitFor('new lines through logs -f', () => again.output().length > 0);
  await again.stop();

  await d.dockerOk(['rm', '-f', id]);
  await waitFor('no conmon left for the container', () => processesMentioning(id, 'conmon').length === 0, 10_000);
  assert.deepEqual(mountsUnder(d.dir).filter((m) => m.includes(id)), []);
  await stillUp('removing the container');
});

test('streams end when their container is removed under them', async () => {
  const id = await d.dockerOk(['run', '-d', 'busybox', 'sh', '-c', 'while true; do echo x; sleep 0.1; done']);
  // Each stream is open before the removal: output has come through it, or for wait, its headers.
  const logs = d.dockerStream(['logs', '-f', id]);
  const attach = d.dockerStream(['attach', '--no-stdin', id]);
  const api = httpStream(d.sock, 'GET', `/containers/${id}/logs?follow=1&stdout=1&tail=1`);
  const wait = httpStream(d.sock, 'POST', `/containers/${id}/wait`);
  await waitFor('every stream to be open', () => logs.output().includes('x\n') && attach.output().includes('x\n') && api.output().includes('x\n'));
  assert.equal(await wait.status, 200);
  await d.dockerOk(['rm', '-f', id]);
  const [l, a, r, w] = await Promise.all([logs.done, attach.done, api.done, wait.done]);
  assert.ok(!l.timedOut && l.code === 0 && l.stdout.startsWith('x\n'), `logs -f: ${JSON.stringify(l)}`);
  assert.ok(!a.timedOut && a.code === 137, `attach: ${JSON.stringify(a)}`);
  assert.equal(r.status, 200);
  assert.equal(w.json.StatusCode, 137);
  await stillUp('removing a container with open streams');
});

test('racing lifecycle requests on one container end in a consistent state with nothing left behind', async () => {
  for (let round = 0; round < 2; round++) {
    const id = await d.dockerOk(['run', '-d', '--name', 'race', 'busybox', 'sh', '-c', 'while true; do sleep 0.1; done']);
    const ops: Promise<unknown>[] = [];
    for (let i = 0; i < 3; i++) {
      ops.push(d.docker(['stop', '-t', '1', 'race']), d.docker(['start', 'race']), d.docker(['restart', '-t', '1', 'race']), d.docker(['kill', 'race']));
    }
    // Once the first of them is through, removals join the fray.
    await Promise.race(ops);
    ops.push(d.docker(['rm', '-f', 'race']), d.docker(['rm', '-f', 'race']));
    const results = (await Promise.all(ops)) as Array<{ timedOut: boolean }>;
    assert.ok(results.every((r) => !r.timedOut), 'no request hung');
    // Whatever won, after a final rm -f the container is gone with its monitor, runc state and mounts.
    await d.docker(['rm', '-f', id]);
    assert.equal(await d.dockerOk(['ps', '-aq']), '');
    await waitFor('no conmon left', () => processesMentioning(id, 'conmon').length === 0, 10_000);
    assert.deepEqual(mountsUnder(d.dir).filter((m) => m.includes(id)), []);
    assert.ok(!existsSync(join(d.execRoot, 'runc', id)), 'runc state removed');
    await stillUp(`racing lifecycle requests (round ${round + 1})`);
  }
});

test('bad input through the docker CLI: unknown image and container, taken and invalid names, rm of a running container', async () => {
  // Unknown image: 404 from the API; docker run exits 125 (it tries a pull first unless --pull never).
  const api = await d.api('POST', '/containers/create', { Image: 'no-such-image:1' });
  assert.equal(api.status, 404);
  assert.deepEqual(api.json, { message: 'No such image: no-such-image:1' });
  const never = await d.docker(['run', '--pull', 'never', 'no-such-image:1', 'true']);
  assert.equal(never.code, 125);
  assert.match(never.stderr, /No such image: no-such-image:1/);
  const pulled = await d.docker(['run', 'no-such-image:1', 'true']);
  assert.equal(pulled.code, 125);
  assert.match(pulled.stderr, /Unable to find image 'no-such-image:1' locally/);
  const created = await d.docker(['create', '--pull', 'never', 'no-such-image:1']);
  assert.equal(created.code, 1, 'docker create exits 1 on daemon errors');
  assert.match(created.stderr, /No such image: no-such-image:1/);
  const insp = await d.docker(['image', 'inspect', 'no-such-image:1']);
  assert.equal(insp.code, 1);
  assert.match(insp.stderr, /No such image: no-such-image:1/);
  const rmi = await d.docker(['rmi', 'no-such-image:1']);
  assert.equal(rmi.code, 1);
  assert.match(rmi.stderr, /No such image: no-such-image:1/);

  // Unknown container: 404 on every per-container endpoint.
  for (const [m, p] of [['GET', '/containers/nope/json'], ['POST', '/containers/nope/start'], ['POST', '/containers/nope/stop'], ['POST', '/containers/nope/kill'], ['POST', '/containers/nope/wait'], ['GET', '/containers/nope/logs?stdout=1'], ['DELETE', '/containers/nope'], ['POST', '/containers/nope/restart']] as const) {
    const r = await d.api(m, p);
    assert.equal(r.status, 404, `${m} ${p}: ${r2s(r)}`);
    assert.deepEqual(r.json, { message: 'No such container: nope' }, `${m} ${p}`);
  }
  for (const args of [['start', 'nope'], ['stop', 'nope'], ['logs', 'nope'], ['wait', 'nope'], ['rm', 'nope'], ['inspect', 'nope']]) {
    const r = await d.docker(args);
    assert.equal(r.code, 1, `docker ${args.join(' ')}: ${r.stderr}`);
    assert.match(r.stderr, /No such (container|object): nope/, `docker ${args.join(' ')}`);
  }

  // A taken name: 409, the first container untouched.
  const first = await d.dockerOk(['run', '-d', '--name', 'taken', 'busybox', 'sh', '-c', 'sleep 600']);
  const dup = await d.docker(['run', '--name', 'taken', 'busybox', 'true']);
  assert.equal(dup.code, 125);
  assert.match(dup.stderr, new RegExp(`Conflict\\. The container name "/taken" is already in use by container "${first}"\\. You have to remove \\(or rename\\) that container to be able to reuse that name\\.`));
  const dupApi = await d.api('POST', '/containers/create?name=taken', { Image: 'busybox' });
  assert.equal(dupApi.status, 409);

  // Invalid names: 400.
  for (const bad of ['a b', '-lead', 'x/y', 'ünï']) {
    const r = await d.api('POST', `/containers/create?name=${encodeURIComponent(bad)}`, { Image: 'busybox' });
    assert.equal(r.status, 400, `name ${bad}: ${r2s(r)}`);
    assert.match(r.json.message, /^Invalid container name \(.*\), only \[a-zA-Z0-9\]\[a-zA-Z0-9_.-\] are allowed$/);
  }
  const badName = await d.docker(['run', '--name', 'a b', 'busybox', 'true']);
  assert.equal(badName.code, 125);
  assert.match(badName.stderr, /Invalid container name \(a b\)/);

  // rm of a running container without force: 409 and it keeps running.
  const rm = await d.docker(['rm', 'taken']);
  assert.equal(rm.code, 1);
  assert.equal(rm.stderr, 'Error response from daemon: cannot remove container "/taken": container is running: stop the container before removing or force remove\n');
  const rmApi = await d.api('DELETE', `/containers/${first}`);
  assert.equal(rmApi.status, 409);
  assert.equal((await d.inspect('taken')).State.Running, true);
  assert.match(await d.dockerOk(['ps', '--filter', 'name=taken', '--format', '{{.Status}}']), /^Up /);

  // Only the one container exists after all the refusals.
  assert.deepEqual((await d.dockerOk(['ps', '-aq', '--no-trunc'])).split('\n'), [first]);
  assert.match(first, ID64);
  await d.dockerOk(['rm', '-f', 'taken']);
  await waitFor('no conmon left', () => processesMentioning(d.execRoot, 'conmon').length === 0, 10_000);
  assert.deepEqual(mountsUnder(d.dir).filter((m) => m.includes(first)), []);
  await stillUp('bad input through the CLI');
});
