import { test } from 'node:test';
import assert from 'node:assert/strict';
import type http from 'node:http';
import type { Duplex } from 'node:stream';
import { PassThrough } from 'node:stream';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { frame, StreamType, MULTIPLEXED } from '../wire';
import { sendJSON, startPeer, TestPeer, upgradeHead } from '../client/test-peer';
import { runCli } from './main';

const ID = '4f2a'.repeat(16);

interface Result {
  code: number;
  stdout: string;
  stderr: string;
}

async function berth(peer: TestPeer | string, args: string[], stdinText?: string): Promise<Result> {
  const stdin = new PassThrough();
  if (stdinText !== undefined) stdin.end(stdinText);
  const out: Buffer[] = [];
  const err: Buffer[] = [];
  const stdout = new PassThrough();
  const stderr = new PassThrough();
  stdout.on('data', (c: Buffer) => out.push(c));
  stderr.on('data', (c: Buffer) => err.push(c));
  const host = typeof peer === 'string' ? peer : peer.host;
  const code = await runCli(['-H', host, ...args], { stdin, stdout, stderr, env: {} });
  return { code, stdout: Buffer.concat(out).toString(), stderr: Buffer.concat(err).toString() };
}

/** A daemon stand-in for one container's life: create, attach, wait, start. */
function fakeDaemon(opts: { startError?: { status: number; message: string }; exitCode?: number; createStatus?: [number, unknown] } = {}) {
  let attached: Duplex | undefined;
  let stdinRead = Promise.resolve();
  let pendingWait: http.ServerResponse | undefined;
  const created: unknown[] = [];
  return {
    created,
    handlers: {
      onRequest(req: http.IncomingMessage, res: http.ServerResponse, body: Buffer) {
        const url = req.url!;
        if (url.startsWith('/v1.45/containers/create')) {
          if (opts.createStatus) return sendJSON(res, opts.createStatus[0], opts.createStatus[1]);
          created.push(JSON.parse(body.toString()));
          return sendJSON(res, 201, { Id: ID, Warnings: ['memory limit ignored'] });
        }
        if (url.startsWith('/v1.45/images/create?fromImage=')) {
          const name = new URL(url, 'http://x').searchParams.get('fromImage');
          return sendJSON(res, 404, { message: `pull access denied for ${name}, repository does not exist or may require 'docker login'` });
        }
        if (url.startsWith(`/v1.45/containers/${ID}/wait`)) {
          res.writeHead(200, { 'Content-Type': 'application/json' });
          res.flushHeaders();
          pendingWait = res;
          return;
        }
        if (url.startsWith(`/v1.45/containers/${ID}/start`)) {
          if (opts.startError) return sendJSON(res, opts.startError.status, { message: opts.startError.message });
          res.writeHead(204);
          res.end();
          if (attached) {
            attached.write(frame(StreamType.Stdout, 'hello from the box\n'));
            attached.write(frame(StreamType.Stderr, 'a warning\n'));
          }
          // The container exits once it has read its stdin (at once without -i): its output ends, then the wait answers.
          void stdinRead.then(() => {
            attached?.end();
            pendingWait?.end(JSON.stringify({ StatusCode: opts.exitCode ?? 0 }) + '\n');
          });
          return;
        }
        sendJSON(res, 404, { message: `page not found: ${url}` });
      },
      onUpgrade(req: http.IncomingMessage, socket: Duplex) {
        attached = socket;
        if (req.url!.includes('stdin=1')) stdinRead = new Promise((r) => socket.once('end', r));
        socket.write(upgradeHead(MULTIPLEXED));
        socket.on('data', (c: Buffer) => socket.write(frame(StreamType.Stdout, `stdin:${c.toString()}`)));
        socket.on('error', () => undefined);
      },
    },
  };
}

test('run in the foreground: create → attach → wait → start, demuxed output, container exit code', async () => {
  const d = fakeDaemon({ exitCode: 3 });
  const peer = await startPeer(d.handlers);
  try {
    const r = await berth(peer, ['run', '--rm', '-e', 'A=1', '--name', 'box', 'alpine', 'sh', '-c', 'echo hi']);
    assert.equal(r.code, 3);
    assert.equal(r.stdout, 'hello from the box\n');
    assert.equal(r.stderr, 'WARNING: memory limit ignored\na warning\n');
    assert.deepEqual(
      peer.log.map((l) => l.replace(ID, 'ID')),
      [
        'POST /v1.45/containers/create?name=box',
        'POST /v1.45/containers/ID/attach?stream=1&stdout=1&stderr=1 (upgrade)',
        'POST /v1.45/containers/ID/wait?condition=removed',
        'POST /v1.45/containers/ID/start',
      ],
    );
    const body = d.created[0] as { Cmd: string[]; Env: string[]; HostConfig: { AutoRemove: boolean } };
    assert.deepEqual(body.Cmd, ['sh', '-c', 'echo hi']);
    assert.deepEqual(body.Env, ['A=1']);
    assert.equal(body.HostConfig.AutoRemove, true);
  } finally {
    await peer.close();
  }
});

test('run -i forwards stdin over the hijacked socket', async () => {
  const peer = await startPeer(fakeDaemon().handlers);
  try {
    const r = await berth(peer, ['run', '-i', 'alpine', 'cat'], 'piped');
    assert.equal(r.code, 0);
    assert.match(r.stdout, /stdin:piped/);
    assert.ok(peer.log.some((l) => l.includes('wait?condition=next-exit')));
    assert.ok(peer.log.some((l) => l.includes('attach?stream=1&stdin=1&stdout=1&stderr=1')));
  } finally {
    await peer.close();
  }
});

test('run -d prints the full id and does not attach', async () => {
  const peer = await startPeer(fakeDaemon().handlers);
  try {
    const r = await berth(peer, ['run', '-d', 'alpine', 'sleep', '100']);
    assert.equal(r.code, 0);
    assert.equal(r.stdout, `${ID}\n`);
    assert.ok(!peer.log.some((l) => l.includes('attach')));
  } finally {
    await peer.close();
  }
});

test('run with a missing image tries a pull (the pull error is the error), or with --pull never fails at once; exits 125', async () => {
  const peer = await startPeer(fakeDaemon({ createStatus: [404, { message: 'No such image: nope:latest' }] }).handlers);
  try {
    const r = await berth(peer, ['run', 'nope']);
    assert.equal(r.code, 125);
    assert.equal(
      r.stderr,
      "Unable to find image 'nope:latest' locally\nberth: Error response from daemon: pull access denied for nope, repository does not exist or may require 'docker login'\n\nRun 'berth run --help' for more information\n",
    );
    const never = await berth(peer, ['run', '--pull', 'never', 'nope']);
    assert.equal(never.code, 125);
    assert.equal(never.stderr, "berth: Error response from daemon: No such image: nope:latest\n\nRun 'berth run --help' for more information\n");
    const bad = await berth(peer, ['run', '--pull', 'sometimes', 'nope']);
    assert.equal(bad.code, 125);
    assert.match(bad.stderr, /invalid pull option: 'sometimes': must be one of "always", "missing" or "never"/);
  } finally {
    await peer.close();
  }
});

test('start failures map to 127 / 126 / 125', async () => {
  const cases: [string, number][] = [
    ['failed to create task: exec: "nope": executable file not found in $PATH', 127],
    ['exec: "/etc": is a directory', 126],
    ['cgroup setup failed', 125],
  ];
  for (const [message, code] of cases) {
    const peer = await startPeer(fakeDaemon({ startError: { status: 400, message } }).handlers);
    try {
      const r = await berth(peer, ['run', 'alpine', 'nope']);
      assert.equal(r.code, code, message);
      assert.equal(r.stderr, `WARNING: memory limit ignored\nberth: Error response from daemon: ${message}\n\nRun 'berth run --help' for more information\n`);
    } finally {
      await peer.close();
    }
  }
});

test('create prints the id; a missing image is a plain daemon error (exit 1, as docker create)', async () => {
  const ok = await startPeer(fakeDaemon().handlers);
  try {
    const r = await berth(ok, ['create', '-t', 'alpine']);
    assert.equal(r.code, 0);
    assert.equal(r.stdout, `${ID}\n`);
  } finally {
    await ok.close();
  }
  const missing = await startPeer(fakeDaemon({ createStatus: [404, { message: 'No such image: x:latest' }] }).handlers);
  try {
    const r = await berth(missing, ['create', '--pull', 'never', 'x']);
    assert.equal(r.code, 1);
    assert.equal(r.stderr, 'Error response from daemon: No such image: x:latest\n');
  } finally {
    await missing.close();
  }
});

function objectsDaemon() {
  return {
    onRequest(req: http.IncomingMessage, res: http.ServerResponse) {
      const url = req.url!;
      if (url.startsWith('/v1.45/containers/web/json')) return sendJSON(res, 200, { Id: ID, Name: '/web', State: { Status: 'running' }, Config: { Tty: false, Env: ['A=1'] } });
      if (url.startsWith('/v1.45/images/alpine/json')) return sendJSON(res, 200, { Id: 'sha256:' + 'e'.repeat(64), RepoTags: ['alpine:latest'] });
      // inspect asks whether this is a swarm manager before it tries swarm kinds
      if (url.startsWith('/v1.45/info')) return sendJSON(res, 200, { Swarm: { ControlAvailable: false } });
      if (url.startsWith('/v1.45/containers/json'))
        return sendJSON(res, 200, [
          {
            Id: ID, Names: ['/web'], Image: 'alpine', ImageID: 'sha256:' + 'e'.repeat(64), Command: 'sleep 100',
            Created: Math.floor(Date.now() / 1000) - 125, Ports: [], Labels: {}, State: 'running', Status: 'Up 2 minutes',
            HostConfig: { NetworkMode: 'default' }, NetworkSettings: { Networks: {} }, Mounts: [],
          },
        ]);
      if (url.startsWith('/v1.45/images/json'))
        return sendJSON(res, 200, [{ Id: 'sha256:' + 'e'.repeat(64), ParentId: '', RepoTags: ['alpine:latest'], RepoDigests: [], Created: Math.floor(Date.now() / 1000) - 7200, Size: 7_377_866, SharedSize: -1, Labels: null, Containers: -1 }]);
      if (req.method === 'DELETE' && url.startsWith('/v1.45/images/alpine'))
        return sendJSON(res, 200, [{ Untagged: 'alpine:latest' }, { Deleted: 'sha256:' + 'e'.repeat(64) }]);
      if (url.startsWith('/v1.45/containers/web/stop')) {
        res.writeHead(204);
        return res.end();
      }
      if (url.startsWith('/v1.45/containers/web/logs')) {
        res.writeHead(200, { 'Content-Type': MULTIPLEXED });
        return res.end(Buffer.concat([frame(StreamType.Stdout, 'line 1\n'), frame(StreamType.Stderr, 'oops\n')]));
      }
      if (url.startsWith('/v1.45/containers/')) return sendJSON(res, 404, { message: `No such container: ${url.split('/')[3]}` });
      if (url.startsWith('/v1.45/images/')) return sendJSON(res, 404, { message: `No such image: ${url.split('/')[3]}` });
      sendJSON(res, 404, { message: 'page not found' });
    },
  };
}

test('ps, images, logs, stop and rmi print docker shapes', async () => {
  const peer = await startPeer(objectsDaemon());
  try {
    const ps = await berth(peer, ['ps', '-a', '--filter', 'status=running']);
    assert.equal(ps.code, 0);
    assert.equal(
      ps.stdout,
      'CONTAINER ID   IMAGE     COMMAND       CREATED         STATUS         PORTS     NAMES\n' +
        `${ID.slice(0, 12)}   alpine    "sleep 100"   2 minutes ago   Up 2 minutes             web\n`,
    );
    assert.equal((await berth(peer, ['ps', '-q'])).stdout, `${ID.slice(0, 12)}\n`);
    const images = await berth(peer, ['images']);
    assert.equal(images.stdout, `REPOSITORY   TAG       IMAGE ID       CREATED       SIZE\nalpine       latest    ${'e'.repeat(12)}   2 hours ago   7.38MB\n`);
    const logs = await berth(peer, ['logs', 'web']);
    assert.equal(logs.stdout, 'line 1\n');
    assert.equal(logs.stderr, 'oops\n');
    assert.ok(peer.log.includes('GET /v1.45/containers/web/logs?stdout=1&stderr=1&tail=all'));
    const stop = await berth(peer, ['stop', 'web', 'ghost']);
    assert.equal(stop.code, 1);
    assert.equal(stop.stdout, 'web\n');
    assert.equal(stop.stderr, 'Error response from daemon: No such container: ghost\n');
    const rmi = await berth(peer, ['rmi', 'alpine']);
    assert.equal(rmi.stdout, `Untagged: alpine:latest\nDeleted: sha256:${'e'.repeat(64)}\n`);
  } finally {
    await peer.close();
  }
});

test('inspect: 4-space JSON array, containers before images, templates, missing objects', async () => {
  const peer = await startPeer(objectsDaemon());
  try {
    const r = await berth(peer, ['inspect', 'web', 'alpine']);
    assert.equal(r.code, 0);
    const parsed = JSON.parse(r.stdout) as { Id: string }[];
    assert.equal(parsed.length, 2);
    assert.ok(r.stdout.startsWith('[\n    {\n        "Id": '));
    assert.equal((await berth(peer, ['inspect', '-f', '{{.State.Status}} {{json .Config.Env}}', 'web'])).stdout, 'running ["A=1"]\n');
    const missing = await berth(peer, ['inspect', 'ghost']);
    assert.equal(missing.code, 1);
    assert.equal(missing.stdout, '[]\n');
    assert.equal(missing.stderr, 'Error: No such object: ghost\n');
    const img = await berth(peer, ['image', 'inspect', '--format', '{{index .RepoTags 0}}', 'alpine']);
    assert.equal(img.stdout, 'alpine:latest\n');
  } finally {
    await peer.close();
  }
});

test('no daemon: a clear message and exit 1; usage errors are docker-shaped', async () => {
  const r = await berth('unix:///nonexistent/berth.sock', ['ps']);
  assert.equal(r.code, 1);
  assert.equal(r.stderr, 'Cannot connect to the Berth daemon at unix:///nonexistent/berth.sock. Is the berth daemon running?\n');
  const u = await berth('unix:///nonexistent/berth.sock', ['rm']);
  assert.equal(u.code, 1);
  assert.equal(u.stderr, "berth: 'berth rm' requires at least 1 argument\n\nUsage:  berth rm [OPTIONS] CONTAINER [CONTAINER...]\n\nSee 'berth rm --help' for more information\n");
  const f = await berth('unix:///nonexistent/berth.sock', ['ps', '--bogus']);
  assert.equal(f.code, 125);
  assert.equal(f.stderr, "unknown flag: --bogus\n\nUsage:  berth ps [OPTIONS]\n\nRun 'berth ps --help' for more information\n");
});

test('import and load send the tar and print what the daemon streams back', async () => {
  const bodies: string[] = [];
  const peer = await startPeer({
    onRequest(req, res, body): void {
      bodies.push(body.toString());
      res.writeHead(200, { 'Content-Type': 'application/json' });
      if (req.url!.startsWith('/v1.45/images/create')) {
        res.end(JSON.stringify({ status: 'sha256:' + '9'.repeat(64) }) + '\n');
        return;
      }
      res.write(JSON.stringify({ status: 'Loading layer', id: 'abc', progressDetail: { current: 5, total: 9 } }) + '\n');
      res.end(JSON.stringify({ stream: 'Loaded image: busybox:latest\n' }) + '\n');
    },
  });
  const dir = mkdtempSync(join(tmpdir(), 'berth-cli-'));
  const tar = join(dir, 'rootfs.tar');
  writeFileSync(tar, 'TARBYTES');
  try {
    const imp = await berth(peer, ['import', tar, 'me/app:v1']);
    assert.equal(imp.code, 0);
    assert.equal(imp.stdout, `sha256:${'9'.repeat(64)}\n`);
    assert.equal(peer.log[0], 'POST /v1.45/images/create?fromSrc=-&repo=me%2Fapp%3Av1');
    const fromStdin = await berth(peer, ['import', '-', '-c', 'CMD ["sh"]'], 'STDINTAR');
    assert.equal(fromStdin.code, 0);
    const load = await berth(peer, ['load', '-i', tar]);
    assert.equal(load.code, 0);
    assert.equal(load.stdout, 'Loaded image: busybox:latest\n');
    assert.equal(peer.log[2], 'POST /v1.45/images/load?quiet=1');
    assert.deepEqual(bodies, ['TARBYTES', 'STDINTAR', 'TARBYTES']);
    const missing = await berth(peer, ['load', '-i', join(dir, 'nope.tar')]);
    assert.equal(missing.code, 1);
    assert.match(missing.stderr, /no such file or directory/);
  } finally {
    await peer.close();
    rmSync(dir, { recursive: true, force: true });
  }
});

test('a TTY run copies raw bytes without demultiplexing', async () => {
  let attached: Duplex | undefined;
  let pendingWait: http.ServerResponse | undefined;
  const peer = await startPeer({
    onRequest(req, res) {
      const url = req.url!;
      if (url.includes('/create')) return sendJSON(res, 201, { Id: ID, Warnings: [] });
      if (url.includes('/wait')) {
        res.writeHead(200, { 'Content-Type': 'application/json' });
        res.flushHeaders();
        pendingWait = res;
        return;
      }
      res.writeHead(204);
      res.end();
      if (url.includes('/start')) {
        // The container writes and exits: its output ends, then the wait answers.
        attached?.end('raw \x01\x02 bytes\r\n');
        pendingWait?.end(JSON.stringify({ StatusCode: 0 }));
      }
    },
    onUpgrade(_req, socket) {
      attached = socket;
      socket.write(upgradeHead('application/vnd.docker.raw-stream'));
    },
  });
  try {
    const r = await berth(peer, ['run', '-t', 'alpine']);
    assert.equal(r.code, 0);
    assert.equal(r.stdout, 'raw \x01\x02 bytes\r\n');
  } finally {
    await peer.close();
  }
});

test('tag sends the normalized repository and refuses what the reference grammar refuses', async () => {
  const peer = await startPeer({
    onRequest(req: http.IncomingMessage, res: http.ServerResponse) {
      res.writeHead(201);
      res.end();
    },
  });
  try {
    assert.equal((await berth(peer, ['tag', 'busybox', 'me/app:v1'])).code, 0);
    assert.equal((await berth(peer, ['tag', 'busybox', 'alpine'])).code, 0);
    assert.deepEqual(peer.log, [
      'POST /v1.45/images/busybox/tag?repo=docker.io%2Fme%2Fapp&tag=v1',
      'POST /v1.45/images/busybox/tag?repo=docker.io%2Flibrary%2Falpine&tag=latest',
    ]);
    const bad = await berth(peer, ['tag', 'busybox', 'me/App']);
    assert.equal(bad.code, 1);
    assert.match(bad.stderr, /Error parsing reference: "me\/App" is not a valid repository\/tag: invalid reference format: repository name \(me\/App\) must be lowercase/);
    assert.equal(peer.log.length, 2);
  } finally {
    await peer.close();
  }
});
