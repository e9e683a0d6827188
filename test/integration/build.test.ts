// Dockerfile builds end to end: the real docker CLI (legacy builder, DOCKER_BUILDKIT=0)
// and docker-compose against a real berthd; the built images are run and inspected.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, statSync, symlinkSync, writeFileSync } from 'node:fs';
import { spawnSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { join } from 'node:path';
import { gzipSync } from 'node:zlib';
import * as tar from 'tar-stream';
import { tmpdir } from 'node:os';
import { startBerthRegistry, useDaemon, run, waitFor, type RunResult } from './harness';

const d = useDaemon();
const ENV = { DOCKER_BUILDKIT: '0' };

function context(files: Record<string, string>): string {
  const dir = mkdtempSync(join(d.dir, 'ctx-'));
  for (const [name, data] of Object.entries(files)) {
    mkdirSync(join(dir, name, '..'), { recursive: true });
    writeFileSync(join(dir, name), data);
  }
  return dir;
}

const build = (args: string[], opts: { input?: string | Buffer } = {}): Promise<RunResult> =>
  d.docker(['build', ...args], { env: ENV, timeoutMs: 120_000, ...opts });

async function buildOk(args: string[], opts: { input?: string | Buffer } = {}): Promise<string> {
  const r = await build(args, opts);
  assert.equal(r.code, 0, `docker build ${args.join(' ')} failed:\n${r.stdout}\n${r.stderr}`);
  return r.stdout;
}

const imageInspect = async (ref: string) => JSON.parse(await d.dockerOk(['image', 'inspect', ref]))[0];
const builtId = (out: string) => /Successfully built ([0-9a-f]{12})/.exec(out)?.[1];
const usingCache = (out: string) => out.split(/(?=Step \d+\/\d+ : )/).filter((s) => s.startsWith('Step')).map((s) => s.includes(' ---> Using cache'));

test('a build with every metadata instruction: the image runs, and inspect and history show what Docker writes', async () => {
  const ctx = context({
    'Dockerfile': [
      'FROM busybox',
      'LABEL org.test.a="one two" b=2',
      'ENV GREETING=hello NAME=berth',
      'ENV OLD legacy form value',
      'ARG VERSION=1.0',
      'WORKDIR /app',
      'COPY hello.txt ./',
      'RUN echo "$GREETING $NAME $VERSION" > /app/built.txt && mkdir -p /data',
      'EXPOSE 8080 53/udp',
      'VOLUME /data',
      'USER 1000:1000',
      'STOPSIGNAL SIGUSR1',
      'HEALTHCHECK --interval=5s --retries=2 CMD ["true"]',
      'ENTRYPOINT ["cat"]',
      'CMD ["/app/built.txt", "/app/hello.txt"]',
    ].join('\n'),
    'hello.txt': 'from the context\n',
  });
  const out = await buildOk(['-t', 'meta:1', '-t', 'meta:2', '--build-arg', 'VERSION=2.5', '--label', 'extra=yes', ctx]);
  assert.match(out, /Step 1\/15 : FROM busybox\n ---> [0-9a-f]{12}\n/);
  assert.match(out, /Step 8\/15 : RUN echo "\$GREETING \$NAME \$VERSION" > \/app\/built.txt && mkdir -p \/data\n ---> Running in [0-9a-f]{12}\n/);
  assert.match(out, /Successfully tagged meta:1\nSuccessfully tagged meta:2\n/);
  const run1 = await d.dockerOk(['run', '--rm', 'meta:1']);
  assert.equal(run1, 'hello berth 2.5\nfrom the context');
  const cfg = (await imageInspect('meta:2')).Config;
  assert.deepEqual(cfg.Entrypoint, ['cat']);
  assert.deepEqual(cfg.Cmd, ['/app/built.txt', '/app/hello.txt']);
  assert.equal(cfg.WorkingDir, '/app');
  assert.equal(cfg.User, '1000:1000');
  assert.equal(cfg.StopSignal, 'SIGUSR1');
  assert.deepEqual(cfg.ExposedPorts, { '8080/tcp': {}, '53/udp': {} });
  assert.deepEqual(cfg.Volumes, { '/data': {} });
  assert.deepEqual(cfg.Labels, { 'org.test.a': 'one two', b: '2', extra: 'yes' });
  assert.ok(cfg.Env.includes('GREETING=hello') && cfg.Env.includes('OLD=legacy form value'));
  assert.ok(!cfg.Env.some((e: string) => e.startsWith('VERSION=')), 'ARG values stay out of the image env');
  assert.deepEqual(cfg.Healthcheck, { Test: ['CMD', 'true'], Interval: 5e9, Retries: 2 });
  // history: metadata steps are empty layers, RUN and COPY add layers; build args shown on RUN
  const hist = (await d.dockerOk(['history', '--no-trunc', '--format', '{{.CreatedBy}}|{{.Size}}', 'meta:1'])).split('\n');
  assert.ok(hist.some((h) => /^\|1 VERSION=2\.5 \/bin\/sh -c echo/.test(h)), hist.join('\n'));
  assert.ok(hist.some((h) => /#\(nop\)\s+ENV GREETING=hello NAME=berth\|0B/.test(h)), hist.join('\n'));
  const img = JSON.parse(await d.dockerOk(['image', 'inspect', 'meta:1', '--format', '{{json .RootFS.Layers}}']));
  assert.equal(img.length, 4, 'busybox + WORKDIR + COPY + RUN');
});

test('a rebuild is fully cached; changing one copied file rebuilds exactly the steps from that COPY on', async () => {
  const ctx = context({
    'Dockerfile': 'FROM busybox\nRUN echo one > /one\nCOPY a.txt /a.txt\nRUN cat /a.txt > /copy\nCOPY b.txt /b.txt\nCMD ["cat", "/copy"]\n',
    'a.txt': 'first\n',
    'b.txt': 'bee\n',
  });
  const first = await buildOk(['-t', 'cache:1', ctx]);
  assert.deepEqual(usingCache(first), [false, false, false, false, false, false]);
  const second = await buildOk(['-t', 'cache:1', ctx]);
  assert.deepEqual(usingCache(second), [false, true, true, true, true, true]);
  assert.equal(builtId(second), builtId(first));
  writeFileSync(join(ctx, 'a.txt'), 'second\n');
  const third = await buildOk(['-t', 'cache:1', ctx]);
  assert.deepEqual(usingCache(third), [false, true, false, false, false, false]);
  assert.equal(await d.dockerOk(['run', '--rm', 'cache:1']), 'second');
  // a mode change is a change too
  spawnSync('chmod', ['755', join(ctx, 'b.txt')]);
  assert.deepEqual(usingCache(await buildOk([ctx])), [false, true, true, true, false, false]);
  // --no-cache runs everything
  assert.deepEqual(usingCache(await buildOk(['--no-cache', ctx])), [false, false, false, false, false, false]);
  // with the cache pruned, --cache-from finds the steps in the image's own chain
  const base = builtId(await buildOk(['-t', 'cache:1', ctx]));
  assert.equal((await d.api('POST', '/build/prune')).status, 200);
  const from = await buildOk(['--cache-from', 'cache:1', ctx]);
  assert.deepEqual(usingCache(from), [false, true, true, true, true, true]);
  assert.equal(builtId(from), base);
  assert.equal((await d.api('POST', '/build/prune')).status, 200);
  assert.deepEqual(usingCache(await buildOk([ctx])), [false, false, false, false, false, false]);
  // no intermediate container is left behind
  assert.equal(await d.dockerOk(['ps', '-aq']), '');
});

test('RUN steps take turns in one network namespace per build: each step its own hostname, named in /etc/hosts with that address; stages at once get one each; nothing stays on the network', async () => {
  // Both stages' steps meet in a shared cache mount, so they are running at the same time.
  const meet = (me: string, other: string) =>
    `RUN --mount=type=cache,target=/meet,id=netmeet,sharing=shared sh -c 'rm -f /meet/${me}; grep -w "$(hostname)" /etc/hosts | cut -f1 > /meet/${me}; ` +
    `for i in $(seq 1 600); do [ -s /meet/${other} ] && break; sleep 0.1; done; echo "$(cat /meet/${me}) $(cat /meet/${other})" > /pair'`;
  const self = (n: number) => `RUN sh -c 'hostname > /name${n}; grep -w "$(hostname)" /etc/hosts | cut -f1 > /ip${n}; ip -4 -o addr show eth0 | awk "{print \\$4}" > /eth${n}'`;
  const ctx = context({
    'Dockerfile': [
      'FROM busybox AS a', meet('a', 'b'),
      'FROM busybox AS b', meet('b', 'a'),
      // after both stages (their namespaces are free again): these two take turns in one of them
      'FROM busybox', 'COPY --from=a /pair /pair-a', 'COPY --from=b /pair /pair-b', self(1), self(2),
    ].join('\n'),
  });
  await buildOk(['--no-cache', '-t', 'netturns:1', ctx]);
  const [name1, ip1, eth1, name2, ip2, eth2, pairA, pairB] = (await d.dockerOk(['run', '--rm', 'netturns:1', 'cat', '/name1', '/ip1', '/eth1', '/name2', '/ip2', '/eth2', '/pair-a', '/pair-b'])).split('\n');
  assert.notEqual(name1, name2, 'each step is its own container');
  assert.match(ip1!, /^\d+\.\d+\.\d+\.\d+$/);
  assert.equal(ip1, ip2, 'the second step took its turn in the first one\'s namespace');
  assert.equal(eth1!.split('/')[0], ip1, 'the hosts file names the address the step has');
  assert.equal(eth2!.split('/')[0], ip2);
  const [a1, b1] = pairA!.split(' ');
  assert.ok(a1 && b1 && a1 !== b1, `stages running at once have namespaces of their own: ${pairA}`);
  assert.equal(pairB, `${b1} ${a1}`);
  const bridge = JSON.parse(await d.dockerOk(['network', 'inspect', 'bridge']))[0];
  assert.deepEqual(bridge.Containers, {}, 'nothing of the build stays on the network');
  // A user-defined network a build ran on can be removed after it.
  await d.dockerOk(['network', 'create', 'buildnet']);
  const onNet = context({ 'Dockerfile': 'FROM busybox\nRUN grep -w "$(hostname)" /etc/hosts\nRUN grep -w "$(hostname)" /etc/hosts\n' });
  await buildOk(['--no-cache', '--network', 'buildnet', onNet]);
  await d.dockerOk(['network', 'rm', 'buildnet']);
});

test('multi-stage: --target, stages by name and index, only needed stages built, the final image holds only what was copied', async () => {
  const ctx = context({
    'Dockerfile': [
      'ARG BASE=busybox',
      'FROM ${BASE} AS builder',
      'RUN mkdir /out && echo artefact > /out/a && echo junk > /junk',
      'FROM $BASE AS never',
      'RUN echo NEVER-BUILT',
      'FROM scratch AS final',
      'COPY --from=builder /out/a /a',
      'FROM busybox AS check',
      'COPY --from=0 /out /from-index',
      'COPY --from=final / /final/',
      'CMD ["ls", "-A", "/final", "/from-index"]',
    ].join('\n'),
  });
  const out = await buildOk(['-t', 'ms:check', ctx]);
  assert.doesNotMatch(out, /NEVER-BUILT/);
  assert.equal(await d.dockerOk(['run', '--rm', 'ms:check']), '/final:\na\n\n/from-index:\na');
  const target = await buildOk(['--target', 'final', '-t', 'ms:final', ctx]);
  assert.doesNotMatch(target, /NEVER-BUILT|COPY --from=0/);
  const layers = JSON.parse(await d.dockerOk(['image', 'inspect', 'ms:final', '--format', '{{json .RootFS.Layers}}']));
  assert.equal(layers.length, 1);
  const missing = await build(['--target', 'nope', ctx]);
  assert.notEqual(missing.code, 0);
  assert.match(missing.stderr, /target stage "nope" could not be found/);
});

test('RUN --mount=type=cache keeps its files between builds; bind and tmpfs mounts are not committed', async () => {
  const ctx = context({
    'Dockerfile': [
      'FROM busybox',
      'RUN --mount=type=cache,target=/var/cache/t,id=tcache sh -c \'echo run >> /var/cache/t/log; wc -l < /var/cache/t/log > /count\'',
      'RUN --mount=type=bind,source=data,target=/mnt cat /mnt/file > /from-bind',
      'RUN --mount=type=tmpfs,target=/scratch sh -c \'echo x > /scratch/x; test -f /scratch/x\'',
      'RUN --network=none sh -c \'echo networkless > /net\'',
      'CMD ["cat", "/count", "/from-bind"]',
    ].join('\n'),
    'data/file': 'bound\n',
  });
  await buildOk(['--no-cache', '-t', 'mnt:1', ctx]);
  assert.equal(await d.dockerOk(['run', '--rm', 'mnt:1']), '1\nbound');
  await buildOk(['--no-cache', '-t', 'mnt:1', ctx]);
  assert.equal(await d.dockerOk(['run', '--rm', 'mnt:1']), '2\nbound');
  assert.equal(await d.dockerOk(['run', '--rm', 'mnt:1', 'sh', '-c', 'ls -A /scratch /var/cache/t; cat /net']), '/scratch:\n\n/var/cache/t:\nnetworkless');
  // the cache mount is build cache: system df shows it, prune removes it
  const df = JSON.parse((await d.api('GET', '/system/df?type=build-cache')).body);
  assert.ok(df.BuildCache.some((r: { Type: string }) => r.Type === 'exec.cachemount'));
  const pruned = JSON.parse((await d.api('POST', '/build/prune')).body);
  assert.ok(pruned.CachesDeleted.length > 0);
  await buildOk(['--no-cache', '-t', 'mnt:1', ctx]);
  assert.equal(await d.dockerOk(['run', '--rm', 'mnt:1']), '1\nbound');
});

test('heredocs, SHELL, ONBUILD triggers and ENTRYPOINT resetting an inherited CMD', async () => {
  const parent = context({
    'Dockerfile': 'FROM busybox\nCMD ["echo", "parent"]\nONBUILD RUN echo triggered > /trigger\n',
  });
  await buildOk(['-t', 'onbuild:parent', parent]);
  const ctx = context({
    'Dockerfile': [
      '# syntax=docker/dockerfile:1',
      'FROM onbuild:parent',
      'ARG WHO=heredoc',
      'RUN <<EOF',
      'echo "hello $WHO" > /greeting',
      'EOF',
      'COPY <<-EOT /etc/app.conf',
      '\twho=${WHO}',
      '\tEOT',
      'COPY <<"RAW" /raw.txt',
      'keep $WHO',
      'RAW',
      'SHELL ["/bin/sh", "-ec"]',
      'RUN echo shell-form > /shell',
      'ENTRYPOINT ["cat"]',
    ].join('\n'),
  });
  await buildOk(['-t', 'hd:1', ctx]);
  assert.equal(await d.dockerOk(['run', '--rm', 'hd:1', '/greeting', '/etc/app.conf', '/raw.txt', '/shell', '/trigger']), 'hello heredoc\nwho=heredoc\nkeep $WHO\nshell-form\ntriggered');
  const cfg = (await imageInspect('hd:1')).Config;
  assert.equal(cfg.Cmd, null);
  assert.equal(cfg.OnBuild, null);
  assert.deepEqual(cfg.Shell, ['/bin/sh', '-ec']);
});

test('COPY and ADD rules: wildcards, directories, --chown/--chmod, --exclude, .dockerignore with exceptions, ADD extracts local archives', async () => {
  const dir = mkdtempSync(join(d.dir, 'tarsrc-'));
  writeFileSync(join(dir, 'inside.txt'), 'from the archive\n');
  spawnSync('tar', ['-C', dir, '-czf', join(dir, '..', 'arch.tgz'), 'inside.txt']);
  const ctx = context({
    'Dockerfile': [
      'FROM busybox',
      'COPY *.txt /txt/',
      'COPY src /src',
      'COPY --chown=65534:65534 --chmod=600 one.txt /owned',
      'COPY --exclude=*.skip src/ /filtered/',
      'COPY . /all/',
      'ADD arch.tgz /unpacked/',
      'ADD plain.bin /plain.bin',
      'CMD ["sh"]',
    ].join('\n'),
    '.dockerignore': 'secret*\nlogs\n!logs/keep.log\n',
    'one.txt': '1\n',
    'two.txt': '2\n',
    'src/a/b.c': 'code\n',
    'src/x.skip': 'skip\n',
    'secret.key': 'hidden\n',
    'logs/drop.log': 'drop\n',
    'logs/keep.log': 'keep\n',
    'plain.bin': 'not an archive\n',
  });
  spawnSync('cp', [join(dir, '..', 'arch.tgz'), join(ctx, 'arch.tgz')]);
  await buildOk(['-t', 'copy:1', ctx]);
  const sh = (c: string) => d.dockerOk(['run', '--rm', 'copy:1', 'sh', '-c', c]);
  assert.equal(await sh('ls /txt'), 'one.txt\ntwo.txt');
  assert.equal(await sh('cat /src/a/b.c'), 'code');
  assert.equal(await sh('stat -c "%u:%g %a" /owned'), '65534:65534 600');
  assert.equal(await sh('ls -A /filtered'), 'a');
  assert.equal(await sh('ls -A /all | tr "\\n" " "'), '.dockerignore Dockerfile arch.tgz logs one.txt plain.bin src two.txt');
  assert.equal(await sh('ls /all/logs'), 'keep.log');
  assert.equal(await sh('cat /unpacked/inside.txt /plain.bin'), 'from the archive\nnot an archive');
});

test('contexts from stdin: a Dockerfile alone, a compressed tar; -f outside the context; -q and --iidfile', async () => {
  const alone = await buildOk(['-t', 'stdin:1', '-'], { input: 'FROM busybox\nRUN echo from-stdin > /s\n' });
  assert.match(alone, /Successfully tagged stdin:1/);
  assert.equal(await d.dockerOk(['run', '--rm', 'stdin:1', 'cat', '/s']), 'from-stdin');

  const pack = tar.pack();
  pack.entry({ name: 'Dockerfile' }, 'FROM busybox\nCOPY f /f\n');
  pack.entry({ name: 'f' }, 'gzipped context\n');
  pack.finalize();
  const chunks: Buffer[] = [];
  for await (const c of pack as unknown as AsyncIterable<Buffer>) chunks.push(c);
  await buildOk(['-t', 'stdin:2', '-'], { input: gzipSync(Buffer.concat(chunks)) });
  assert.equal(await d.dockerOk(['run', '--rm', 'stdin:2', 'cat', '/f']), 'gzipped context');
  // bzip2 and xz too, as dockerd takes them; the same context, so the build is cached.
  for (const tool of ['bzip2', 'xz']) {
    const packed = spawnSync(tool, ['-c'], { input: Buffer.concat(chunks) }).stdout as Buffer;
    assert.match(await buildOk(['-t', `stdin:${tool}`, '-'], { input: packed }), /Using cache/, tool);
  }

  const ctx = context({ 'data.txt': 'outside dockerfile\n' });
  const elsewhere = mkdtempSync(join(d.dir, 'df-'));
  writeFileSync(join(elsewhere, 'My.Dockerfile'), 'FROM busybox\nCOPY data.txt /\n');
  const iid = join(d.dir, 'iid');
  const q = await buildOk(['-q', '--iidfile', iid, '-f', join(elsewhere, 'My.Dockerfile'), ctx]);
  // dockerd's quiet stream is the ID and a newline, which the CLI writes to --iidfile as it is
  const id = readFileSync(iid, 'utf8').trim();
  assert.match(id, /^sha256:[0-9a-f]{64}$/);
  assert.equal(q.trim(), id);
  assert.equal(await d.dockerOk(['run', '--rm', id, 'cat', '/data.txt']), 'outside dockerfile');
});

test('errors: a failing RUN gives its output and exit code; parse errors name the line; missing files, URLs and bad flags are refused', async () => {
  const fail = await build(['-'], { input: 'FROM busybox\nRUN echo before-failing && exit 7\n' });
  assert.equal(fail.code, 7);
  assert.match(fail.stdout, /before-failing/);
  assert.match(fail.stderr, /The command '\/bin\/sh -c echo before-failing && exit 7' returned a non-zero code: 7/);
  assert.equal(await d.dockerOk(['ps', '-aq']), '', 'the failed step\'s container is removed');

  const cases: [string, RegExp][] = [
    ['FROM busybox\nRUN true\nNOPE x\n', /dockerfile parse error on line 3: unknown instruction: NOPE/],
    ['FROM busybox\nRUN <<EOF\necho\n', /line 2: unterminated heredoc/],
    ['FROM busybox\nENV A=${B\n', /line 2: .*missing '}'/],
    ['FROM busybox\nCOPY --bogus=1 a b\n', /Unknown flag: bogus/],
    ['FROM busybox\nSHELL sh -c\n', /SHELL requires the arguments to be in JSON form/],
    ['FROM busybox\nCOPY missing.txt /x\n', /file not found in build context or excluded by \.dockerignore: stat missing\.txt: file does not exist/],
    ['FROM busybox\nADD http://127.0.0.1:9/file /f\n', /ADD failed: Get "http:\/\/127\.0\.0\.1:9\/file": dial tcp 127\.0\.0\.1:9: connect: connection refused/],
    ['FROM busybox\nWORKDIR /etc/passwd\n', /Step 2\/2 : WORKDIR \/etc\/passwd\n[^]*Cannot mkdir: \/etc\/passwd is not a directory/],
    ['FROM busybox\nSTOPSIGNAL BOGUS\n', /Invalid signal: BOGUS/],
    ['RUN true\n', /no build stage in current context/],
    ['FROM busybox\nEXPOSE abc\n', /invalid containerPort: abc/],
  ];
  for (const [df, re] of cases) {
    const r = await build(['-'], { input: df });
    assert.equal(r.code, 1, `${df}: ${r.stderr}`);
    assert.match(r.stdout + r.stderr, re, df);
  }
  // As from dockerd: a Dockerfile that does not parse is the reply's error, before any output;
  // a quiet build that fails shows the steps it held back, then the step's error and exit code.
  const parse = await build(['-'], { input: 'FROM busybox\nBOGUS x\n' });
  assert.equal(parse.code, 1);
  assert.match(parse.stderr, /^Error response from daemon: dockerfile parse error on line 2: unknown instruction: BOGUS$/m);
  const quiet = await build(['-q', '-'], { input: 'FROM busybox\nRUN echo held && exit 3\n' });
  assert.equal(quiet.code, 3);
  assert.match(quiet.stderr, /Step 2\/2 : RUN echo held && exit 3\n[^]*held\n[^]*The command '\/bin\/sh -c echo held && exit 3' returned a non-zero code: 3/);

  // Stages run at once, yet a failure reads as a build in order: the stages before the
  // failing one finish and show their steps, nothing of a later stage shows (even one that
  // failed first), and the error is the earliest failing stage's.
  const staged = await build(['-'], {
    input: [
      'FROM busybox AS slow',
      'RUN sleep 1 && echo slow-done',
      'RUN exit 5',
      'FROM busybox AS quick',
      'RUN echo QUICK-RAN && exit 6',
      'FROM busybox',
      'COPY --from=slow /etc/hostname /a',
      'COPY --from=quick /etc/hostname /b',
    ].join('\n'),
  });
  assert.equal(staged.code, 5, staged.stderr);
  assert.match(staged.stdout, /slow-done\n[^]*Step 3\/8 : RUN exit 5\n/);
  assert.doesNotMatch(staged.stdout, /Step [4-8]\/8|QUICK-RAN/);
  assert.match(staged.stderr, /The command '\/bin\/sh -c exit 5' returned a non-zero code: 5/);
  assert.doesNotMatch(staged.stderr, /stopped|exit 6/);
});

/**
 * docker-py's build(path=URL) of each URL (a remote context) under the tag beside it: by tag,
 * the build's output and error lines, or `API <status>: <message>` when it raised.
 */
async function pyBuildRemote(urls: string[], tags: string[]): Promise<Record<string, string>> {
  const py = `
import docker, json, sys
c = docker.from_env().api
out = {}
for url, tag in zip(json.loads(sys.argv[1]), json.loads(sys.argv[2])):
    lines = []
    try:
        for chunk in c.build(path=url, tag=tag, decode=True):
            lines.append(chunk.get('stream') or chunk.get('error') or '')
    except docker.errors.APIError as e:
        lines.append('API %d: %s' % (e.status_code, e.explanation))
    out[tag] = ''.join(lines)
print(json.dumps(out))
`;
  const r = await run('python3', ['-c', py, JSON.stringify(urls), JSON.stringify(tags)], { env: d.env(), timeoutMs: 120_000 });
  assert.equal(r.code, 0, r.stderr);
  return JSON.parse(r.stdout) as Record<string, string>;
}

test('a remote context (docker-py path=URL): a tar, a gzipped tar or a Dockerfile from an http URL; other replies refused in dockerd\'s words', async () => {
  const { createServer } = await import('node:http');
  const dir = context({ 'Dockerfile': 'FROM busybox\nCOPY hello.txt /hello.txt\nCMD ["cat", "/hello.txt"]\n', 'hello.txt': 'from a remote tar\n' });
  const tarBytes = spawnSync('tar', ['-C', dir, '-cf', '-', 'Dockerfile', 'hello.txt']).stdout;
  const replies: Record<string, [string, Buffer | string]> = {
    '/ctx.tar': ['application/x-tar', tarBytes],
    '/ctx.tar.gz': ['', gzipSync(tarBytes)],
    '/Dockerfile': ['application/octet-stream', 'FROM busybox\nRUN echo built from a remote Dockerfile > /made\n'],
    '/page': ['text/html', '<html><body>not a context</body></html>'],
  };
  const server = createServer((req, res) => {
    const reply = replies[req.url ?? ''];
    if (!reply) {
      res.writeHead(404);
      res.end('no such file here');
      return;
    }
    res.writeHead(200, reply[0] ? { 'Content-Type': reply[0] } : {});
    res.end(reply[1]);
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  const base = `http://127.0.0.1:${(server.address() as { port: number }).port}`;
  try {
    const out = await pyBuildRemote(['/ctx.tar', '/ctx.tar.gz', '/Dockerfile', '/page', '/missing'].map((p) => `${base}${p}`), ['remote:tar', 'remote:gz', 'remote:df', 'remote:html', 'remote:missing']);
    for (const tag of ['remote:tar', 'remote:gz', 'remote:df']) assert.match(out[tag]!, /Successfully built [0-9a-f]{12}/, `${tag}: ${out[tag]}`);
    assert.equal(await d.dockerOk(['run', '--rm', 'remote:tar']), 'from a remote tar');
    assert.equal(await d.dockerOk(['run', '--rm', 'remote:gz']), 'from a remote tar');
    assert.equal(await d.dockerOk(['run', '--rm', 'remote:df', 'cat', '/made']), 'built from a remote Dockerfile');
    assert.equal(out['remote:html'], `API 400: error detecting content type for remote ${base}/page: unsupported Content-Type "text/html"`);
    assert.equal(out['remote:missing'], `API 404: error downloading remote context ${base}/missing: failed to GET ${base}/missing with status 404 Not Found: no such file here`);
    assert.deepEqual(readdirSync(join(d.dataRoot, 'build-tmp')).filter((n) => n.startsWith('remote-')), [], 'downloads are removed');
  } finally {
    server.close();
    await d.docker(['rmi', 'remote:tar', 'remote:gz', 'remote:df']);
  }
});

test('a git repository as the remote context (docker-py path=URL.git#ref:subdir), served over plain http', async () => {
  const { createServer } = await import('node:http');
  const work = mkdtempSync(join(tmpdir(), 'berth-gitctx-'));
  const gitc = (cwd: string, ...args: string[]) => {
    const r = spawnSync('git', ['-c', 'user.name=t', '-c', 'user.email=t@example.invalid', ...args], { cwd, encoding: 'utf8' });
    assert.equal(r.status, 0, `git ${args.join(' ')}: ${r.stderr}`);
  };
  const src = join(work, 'src');
  mkdirSync(join(src, 'sub'), { recursive: true });
  writeFileSync(join(src, 'sub', 'Dockerfile'), 'FROM busybox\nCOPY f.txt /f.txt\nCMD ["cat", "/f.txt"]\n');
  writeFileSync(join(src, 'sub', 'f.txt'), 'from a git context\n');
  writeFileSync(join(src, 'outside.txt'), 'not in the subdir\n');
  gitc(src, 'init', '--quiet', '-b', 'main');
  gitc(src, 'add', '.');
  gitc(src, 'commit', '--quiet', '-m', 'context');
  const served = join(work, 'served');
  mkdirSync(served);
  gitc(work, 'clone', '--quiet', '--bare', src, join(served, 'repo.git'));
  gitc(join(served, 'repo.git'), 'update-server-info');
  // Git's "dumb" http: plain files.
  const server = createServer((req, res) => {
    const path = join(served, decodeURIComponent((req.url ?? '/').split('?')[0]!));
    if (!path.startsWith(served + '/') || !existsSync(path) || !statSync(path).isFile()) {
      res.writeHead(404);
      res.end('not found');
      return;
    }
    res.writeHead(200);
    res.end(readFileSync(path));
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  const base = `http://127.0.0.1:${(server.address() as { port: number }).port}`;
  try {
    const out = await pyBuildRemote([`${base}/repo.git#main:sub`, `${base}/nothing.git`], ['remote:git', 'remote:nogit']);
    assert.match(out['remote:git']!, /Successfully built [0-9a-f]{12}/, out['remote:git']);
    assert.equal(await d.dockerOk(['run', '--rm', 'remote:git']), 'from a git context');
    assert.match(out['remote:nogit']!, /^API 400: error fetching: /);
    assert.deepEqual(readdirSync(join(d.dataRoot, 'build-tmp')).filter((n) => n.startsWith('remote-')), [], 'clones are removed');
  } finally {
    server.close();
    await d.docker(['rmi', 'remote:git']);
    rmSync(work, { recursive: true, force: true });
  }
});

test('ADD of an http URL: fetched as dockerd does (named from the URL, mode 0600, Last-Modified), cached by content, errors in its words', async () => {
  const { createServer } = await import('node:http');
  let body = 'remote content\n';
  const tarBytes = spawnSync('tar', ['-C', context({ 'inside.txt': 'not unpacked' }), '-cf', '-', 'inside.txt']).stdout;
  const hits: string[] = [];
  const server = createServer((req, res) => {
    hits.push(req.url ?? '');
    if (req.url === '/files/data.txt') {
      res.writeHead(200, { 'Last-Modified': 'Wed, 21 Oct 2015 07:28:00 GMT' });
      res.end(body);
    } else if (req.url === '/moved') {
      res.writeHead(302, { Location: '/files/data.txt' });
      res.end();
    } else if (req.url === '/bad-redirect') {
      res.writeHead(302, { Location: 'http://[bad' });
      res.end();
    } else if (req.url === '/') {
      res.writeHead(200);
      res.end('an index\n');
    } else if (req.url === '/download/') {
      res.writeHead(200, { 'Content-Disposition': 'attachment; filename="../../given.bin"' });
      res.end('named by the reply\n');
    } else if (req.url === '/x.tar') {
      res.writeHead(200);
      res.end(tarBytes);
    } else {
      res.writeHead(404, { 'Content-Type': 'text/plain' });
      res.end('no such file here\n');
    }
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  const base = `http://127.0.0.1:${(server.address() as { port: number }).port}`;
  try {
    const df = [
      'FROM busybox',
      `ADD ${base}/files/data.txt /dl/`,
      `ADD ${base}/moved /renamed.txt`,
      `ADD ${base}/download/ /named/`,
      `ADD ${base}/x.tar /tars/`,
      `ADD --checksum=sha256:${createHash('sha256').update(body).digest('hex')} ${base}/files/data.txt /checked`,
      'RUN stat -c "%a %Y %n" /dl/data.txt /renamed.txt /checked && cat /dl/data.txt /named/given.bin && ls /tars',
    ].join('\n');
    const out = await buildOk(['-t', 'addurl:1', '-'], { input: df });
    assert.match(out, /600 1445412480 \/dl\/data\.txt\n600 1445412480 \/renamed\.txt\n600 1445412480 \/checked\nremote content\nnamed by the reply\nx\.tar\n/);
    // Fetched again at the next build; the same content is a cache hit, changed content is not.
    const fetched = hits.length;
    const again = await buildOk(['-t', 'addurl:1', '-'], { input: df });
    assert.equal(hits.length, fetched * 2, 'every URL is fetched again');
    assert.deepEqual(usingCache(again), [false, true, true, true, true, true, true]);
    body = 'changed\n';
    const changed = await build(['-t', 'addurl:1', '-'], { input: df });
    assert.equal(changed.code, 1, 'the --checksum step now refuses the new content');
    assert.match(changed.stderr, /ADD failed: digest mismatch sha256:[0-9a-f]{64}: sha256:[0-9a-f]{64}/);
    assert.deepEqual(usingCache(changed.stdout).slice(0, 2), [false, false]);

    const missing = await build(['-'], { input: `FROM busybox\nADD ${base}/nope /x\n` });
    assert.equal(missing.code, 1);
    assert.match(missing.stderr, new RegExp(`ADD failed: failed to GET ${base}/nope with status 404 Not Found: no such file here`));
    const unnamed = await build(['-'], { input: `FROM busybox\nADD ${base}/ /dir/\n` });
    assert.equal(unnamed.code, 1);
    assert.match(unnamed.stderr, new RegExp(`ADD failed: cannot determine filename for source ${base}/`));
    const badRedirect = await build(['-'], { input: `FROM busybox\nADD ${base}/bad-redirect /x\n` });
    assert.equal(badRedirect.code, 1);
    assert.match(badRedirect.stderr, /failed to follow a redirect to an invalid location "http:\/\/\[bad"/);
    assert.equal(await d.dockerOk(['version', '--format', '{{.Server.Version}}']) !== '', true, 'berthd is still there');
    const copy = await build(['-'], { input: `FROM busybox\nCOPY ${base}/files/data.txt /x\n` });
    assert.equal(copy.code, 1);
    assert.match(copy.stderr, /source can't be a URL for COPY/);
  } finally {
    server.close();
    await d.docker(['rmi', 'addurl:1']);
  }
});

test('a hostile context never reads or writes outside the context or the container root', async () => {
  const secret = join(d.dir, 'host-secret.txt');
  writeFileSync(secret, 'HOST SECRET\n');
  const ctx = context({
    'Dockerfile': [
      'FROM busybox',
      'COPY link-out /via-link',
      'COPY ../../../../' + secret.slice(1) + ' /dotdot',
      'COPY dir-link/ /via-dir-link/',
      'RUN mkdir -p /etc/target && ln -s / /escape',
      'COPY a.txt /escape/tmp/landed',
      'COPY a.txt ../../../../tmp/build-dotdot-dest',
      'CMD ["sh"]',
    ].join('\n'),
    'a.txt': 'a\n',
  });
  // links that point out of the context resolve inside it: the secret path is absent there
  symlinkSync(secret, join(ctx, 'link-out'));
  symlinkSync('/', join(ctx, 'dir-link'));
  const r = await build([ctx]);
  assert.notEqual(r.code, 0);
  assert.doesNotMatch(r.stdout + r.stderr, /HOST SECRET/);
  assert.match(r.stderr, /file not found in build context/);
  // the same context with the reading steps removed: writes through links stay in the container
  writeFileSync(join(ctx, 'Dockerfile'), 'FROM busybox\nRUN ln -s / /escape\nCOPY a.txt /escape/tmp/landed\nCOPY a.txt ../../../../tmp/build-dotdot-dest\n');
  await buildOk(['-t', 'hostile:1', ctx]);
  assert.ok(!existsSync('/tmp/landed') && !existsSync('/tmp/build-dotdot-dest'));
  assert.equal(await d.dockerOk(['run', '--rm', 'hostile:1', 'cat', '/tmp/landed', '/tmp/build-dotdot-dest']), 'a\na');
  // a raw context tar with entries that climb out and links followed by files
  const pack = tar.pack();
  pack.entry({ name: 'Dockerfile' }, 'FROM busybox\nCOPY . /ctx/\n');
  pack.entry({ name: '../../../../tmp/build-tar-escape' }, 'escaped\n');
  pack.entry({ name: 'up', type: 'symlink', linkname: '/tmp' });
  pack.entry({ name: 'up/build-tar-through-link' }, 'through link\n');
  pack.finalize();
  const chunks: Buffer[] = [];
  for await (const c of pack as unknown as AsyncIterable<Buffer>) chunks.push(c);
  const res = await d.api('POST', '/build', Buffer.concat(chunks), { 'Content-Type': 'application/x-tar' }, 60_000);
  // Refused while the context is read, before any output: the reply's status, as from dockerd.
  assert.equal(res.status, 400, res.body);
  assert.match(JSON.parse(res.body).message, /\S/);
  assert.ok(!existsSync('/tmp/build-tar-escape') && !existsSync('/tmp/build-tar-through-link'));
  rmSync(secret);
});

test('docker-compose build (docker-py) builds and tags the service image', async () => {
  const ctx = context({
    'docker-compose.yml': 'version: "3"\nservices:\n  web:\n    build:\n      context: ./app\n      args:\n        MSG: composed\n    image: composed:1\n',
    'app/Dockerfile': 'FROM busybox\nARG MSG\nRUN echo $MSG > /msg\nCMD ["cat", "/msg"]\n',
  });
  const r = await run('docker-compose', ['-f', join(ctx, 'docker-compose.yml'), 'build'], { env: { ...d.env(), COMPOSE_DOCKER_CLI_BUILD: '0', DOCKER_BUILDKIT: '0' }, timeoutMs: 120_000 });
  assert.equal(r.code, 0, r.stdout + r.stderr);
  assert.equal(await d.dockerOk(['run', '--rm', 'composed:1']), 'composed');
});

test('berth build: same flags, a step view with cached and done steps, errors with the step\'s exit code', async () => {
  const ctx = context({
    'Dockerfile': 'FROM busybox\nARG WHO\nCOPY app.txt /app.txt\nRUN echo "$WHO" > /who\nCMD ["cat", "/app.txt", "/who"]\n',
    'app.txt': 'app\n',
    '.dockerignore': 'ignored.txt\n',
    'ignored.txt': 'no\n',
  });
  const iid = join(d.dir, 'berth-iid');
  const first = await d.berth(['build', '-t', 'berth-built:1', '-t', 'berth-built:2', '--build-arg', 'WHO=berth', '--label', 'via=berth', '--iidfile', iid, ctx], { timeoutMs: 120_000 });
  assert.equal(first.code, 0, first.stdout + first.stderr);
  assert.match(first.stdout, /Step 3\/5 : COPY app\.txt \/app\.txt/);
  assert.match(first.stdout, / \[DONE \d+\.\d\ds\] Step 4\/5: RUN echo "\$WHO" > \/who\n/);
  assert.match(first.stdout, /Successfully tagged berth-built:2/);
  assert.equal(await d.dockerOk(['run', '--rm', 'berth-built:1']), 'app\nberth');
  assert.match(readFileSync(iid, 'utf8'), /^sha256:[0-9a-f]{64}$/);
  assert.equal((await imageInspect('berth-built:2')).Config.Labels.via, 'berth');
  assert.equal(await d.dockerOk(['run', '--rm', 'berth-built:1', 'ls', '/']).then((o) => o.includes('ignored.txt')), false);
  const again = await d.berth(['build', '--build-arg', 'WHO=berth', '--label', 'via=berth', ctx], { timeoutMs: 120_000 });
  assert.equal(again.code, 0, again.stderr);
  assert.match(again.stdout, / \[CACHED \d+\.\d\ds\] Step 3\/5: COPY app\.txt \/app\.txt\n/);
  assert.match(again.stdout, / \[CACHED \d+\.\d\ds\] Step 4\/5: RUN/);
  const q = await d.berth(['build', '-q', '--build-arg', 'WHO=berth', '--label', 'via=berth', ctx], { timeoutMs: 120_000 });
  assert.equal(q.stdout.trim(), readFileSync(iid, 'utf8'));
  writeFileSync(join(ctx, 'Dockerfile'), 'FROM busybox\nRUN exit 5\n');
  const fail = await d.berth(['build', ctx], { timeoutMs: 120_000 });
  assert.equal(fail.code, 5);
  assert.match(fail.stdout, /\[FAILED \d+\.\d\ds\] Step 2\/2: RUN exit 5/);
  assert.match(fail.stderr, /The command '\/bin\/sh -c exit 5' returned a non-zero code: 5/);
});

test('a heredoc that starts with a shebang runs under that interpreter, not the shell', async () => {
  const ctx = context({
    'Dockerfile': [
      'FROM busybox',
      'RUN <<EOF',
      '#!/bin/sh -e',
      'echo "flags=$-" > /flags',
      'false',
      'echo not-reached > /after',
      'EOF',
      'RUN <<EOT',
      '#!/usr/bin/env sh',
      'echo "argv0=$0" > /argv0',
      'EOT',
    ].join('\n'),
  });
  // Under `sh -c` the first script would go on past `false`; under `#!/bin/sh -e` it stops there.
  const r = await build(['-t', 'shebang:1', ctx]);
  assert.notEqual(r.code, 0, r.stdout);
  assert.match(r.stderr, /returned a non-zero code: 1/);
  const ok = context({
    'Dockerfile': [
      'FROM busybox',
      'RUN <<EOF',
      '#!/bin/sh -e',
      'echo "flags=$-" > /flags',
      'EOF',
      'RUN mkdir -p /usr/bin && ln -sf /bin/env /usr/bin/env',
      'RUN <<EOT',
      '#!/usr/bin/env sh',
      'echo "argv0=$0" > /argv0',
      'EOT',
    ].join('\n'),
  });
  await buildOk(['-t', 'shebang:2', ok]);
  const out = await d.dockerOk(['run', '--rm', 'shebang:2', 'cat', '/flags', '/argv0']);
  const [flags, argv0] = out.trim().split('\n');
  assert.match(flags!, /^flags=\S*e/);
  assert.doesNotMatch(flags!, /c/); // not `sh -c`
  assert.equal(argv0, 'argv0=/dev/pipes/EOT');
  // the script is part of the cache key: the same file is cached, a changed script is not
  assert.deepEqual(usingCache(await buildOk([ok])), [false, true, true, true]);
});

test('RUN --mount=type=cache: sharing=private gives a concurrent build its own directory, sharing=shared lets both in at once', async () => {
  const df = (sharing: string, wait: string) => [
    'FROM busybox',
    'ARG TOKEN',
    `RUN --mount=type=cache,target=/c,id=${sharing}-test,sharing=${sharing} touch /c/$TOKEN && ${wait} && echo "SEEN:$(ls /c | tr '\\n' ' ')"`,
  ].join('\n');
  // the last SEEN line: the step's output, not the Step line that shows the command
  const seen = (out: string) => [...out.matchAll(/SEEN:(.*)/g)].at(-1)?.[1]?.trim().split(' ').sort();
  // shared: each waits (up to 60s) until it sees the other's file, which only works when both hold it at once
  const waitBoth = 'for i in $(seq 1 120); do [ $(ls /c | wc -l) -ge 2 ] && break; sleep 0.5; done';
  const sh = context({ 'Dockerfile': df('shared', waitBoth) });
  const started = Date.now();
  const [a, b] = await Promise.all([buildOk(['--build-arg', 'TOKEN=a', sh]), buildOk(['--build-arg', 'TOKEN=b', sh])]);
  assert.deepEqual(seen(a), ['a', 'b']);
  assert.deepEqual(seen(b), ['a', 'b']);
  assert.ok(Date.now() - started < 55_000, 'the shared builds ran at the same time');
  // private: two builds at once each see only their own file (locked would let the second see the first's)
  const pr = context({ 'Dockerfile': df('private', 'sleep 6') });
  const [p, q] = await Promise.all([buildOk(['--build-arg', 'TOKEN=p', pr]), buildOk(['--build-arg', 'TOKEN=q', pr])]);
  assert.deepEqual([seen(p), seen(q)], [['p'], ['q']]);
  // the cache's own directory kept the first holder's file; the extra one is gone
  const later = await buildOk(['--build-arg', 'TOKEN=r', pr]);
  const after = seen(later)!;
  assert.ok(after.includes('r') && after.length === 2 && (after.includes('p') || after.includes('q')), String(after));
});

test('--cache-from an image that was saved, removed and loaded back: its history gives the steps, as the legacy builder does', async () => {
  const ctx = context({
    'Dockerfile': [
      'FROM busybox',
      'ENV MODE=hist',
      'COPY a.txt /a.txt',
      'RUN echo "$MODE $(cat /a.txt)" > /b.txt',
      'CMD ["cat", "/b.txt"]',
    ].join('\n'),
    'a.txt': 'loaded',
  });
  const first = builtId(await buildOk(['-t', 'hist:1', ctx]));
  const tarFile = join(d.dir, 'hist.tar');
  await d.dockerOk(['save', '-o', tarFile, 'hist:1']);
  await d.dockerOk(['rmi', 'hist:1']);
  assert.equal((await d.api('POST', '/build/prune')).status, 200);
  await d.dockerOk(['load', '-i', tarFile]);
  // without --cache-from nothing is cached (the intermediate images went with rmi)
  const hist = await imageInspect('hist:1');
  assert.equal(hist.Parent, '');
  const again = await buildOk(['--cache-from', 'hist:1', ctx]);
  assert.deepEqual(usingCache(again), [false, true, true, true, true], again);
  assert.equal(builtId(again), first);
  assert.equal(await d.dockerOk(['run', '--rm', builtId(again)!]), 'hist loaded');
  // a changed file: the COPY and the steps after it run
  writeFileSync(join(ctx, 'a.txt'), 'changed');
  const changed = await buildOk(['--cache-from', 'hist:1', ctx]);
  assert.deepEqual(usingCache(changed), [false, true, false, false, false]);
});

test('FROM and COPY --from an image the engine lacks pull it from its registry, with the client\'s login; --pull pulls again', async () => {
  const root = mkdtempSync(join(tmpdir(), 'berth-build-registry-'));
  const registry = await startBerthRegistry(root, 'bob', 'b1ld');
  try {
    const base = `${registry.addr}/base/bb:1`;
    await d.dockerOk(['tag', 'busybox', base]);
    await d.dockerOk(['login', registry.addr, '-u', 'bob', '--password-stdin'], { input: 'b1ld\n', timeoutMs: 30_000 });
    await d.dockerOk(['push', base], { timeoutMs: 60_000 });
    await d.dockerOk(['rmi', base]);
    const ctx = context({ 'Dockerfile': `FROM ${base}\nCOPY --from=${registry.addr}/base/bb:1 /bin/busybox /copied\nRUN echo pulled-base > /marker\n` });
    const out = await buildOk(['-t', 'from-registry', ctx]);
    assert.match(out, /1: Pulling from base\/bb/);
    assert.match(out, /Status: Downloaded newer image for 127\.0\.0\.1:\d+\/base\/bb:1/);
    assert.equal(await d.dockerOk(['run', '--rm', 'from-registry', 'sh', '-c', 'cat /marker; test -x /copied && echo copied']), 'pulled-base\ncopied');
    const baseId = await d.dockerOk(['image', 'inspect', '-f', '{{.Id}}', base]);

    // A newer base under the same tag: a plain build keeps the local one, --pull takes the new one.
    const newer = await d.dockerOk(['run', '-d', base, 'sh', '-c', 'echo v2 > /version']);
    await d.dockerOk(['wait', newer]);
    await d.dockerOk(['commit', newer, base]);
    await d.dockerOk(['push', base], { timeoutMs: 60_000 });
    await d.dockerOk(['rm', newer]);
    await d.dockerOk(['tag', baseId, base]);
    const cached = await buildOk(['-t', 'from-registry', ctx]);
    assert.doesNotMatch(cached, /Pulling from/);
    const pulled = await buildOk(['--pull', '-t', 'from-registry', ctx]);
    assert.match(pulled, /Pulling from base\/bb/);
    assert.equal(await d.dockerOk(['run', '--rm', 'from-registry', 'cat', '/version']), 'v2');

    // Without the login the registry refuses, and the build says so.
    await d.dockerOk(['logout', registry.addr]);
    await d.dockerOk(['rmi', '-f', base, 'from-registry']);
    const denied = await build([ctx]);
    assert.equal(denied.code, 1);
    assert.match(denied.stderr, /unauthorized|authentication required|denied/i);
    const missing = await build(['-'], { input: `FROM ${registry.addr}/no/such:1\n` });
    assert.equal(missing.code, 1);
    assert.match(missing.stderr, /pull access denied for 127\.0\.0\.1:\d+\/no\/such|unauthorized|not found/i);
  } finally {
    registry.stop();
    rmSync(root, { recursive: true, force: true });
  }
});

test('--platform and FROM --platform: a local image of the platform is used; one of another platform is pulled', async () => {
  // 127.0.0.1:1 has no registry: a pull there fails at once, without leaving the machine
  await d.dockerOk(['tag', 'busybox', '127.0.0.1:1/plat/bb:1']);
  try {
    const local = await build(['--platform', 'linux/amd64', '-'], { input: 'FROM 127.0.0.1:1/plat/bb:1\nRUN true\n' });
    assert.equal(local.code, 0, local.stderr);
    const other = await build(['--platform', 'linux/arm64', '-'], { input: 'FROM 127.0.0.1:1/plat/bb:1\nRUN true\n' });
    assert.equal(other.code, 1, other.stdout);
    assert.match(other.stderr, /127\.0\.0\.1:1.*(refused|connect)/i);
    const perStage = await build(['-'], { input: 'FROM --platform=linux/arm64 127.0.0.1:1/plat/bb:1\nRUN true\n' });
    assert.equal(perStage.code, 1, perStage.stdout);
    assert.match(perStage.stderr, /127\.0\.0\.1:1.*(refused|connect)/i);
  } finally {
    await d.dockerOk(['rmi', '127.0.0.1:1/plat/bb:1']);
  }
});

test('berthd killed during a build (an ADD download in flight): the next start of a build leaves nothing of it behind', async () => {
  const { createServer } = await import('node:http');
  let sent!: () => void;
  const started = new Promise<void>((r) => (sent = r));
  // Sends the start of a body and then nothing: the download stays in flight.
  const server = createServer((_req, res) => {
    res.writeHead(200, { 'Content-Length': '1000000' });
    res.write(Buffer.alloc(1000, 'x'));
    sent();
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  const port = (server.address() as { port: number }).port;
  const tmpRoot = join(d.dataRoot, 'build-tmp');
  try {
    const pending = build(['-'], { input: `FROM busybox\nADD http://127.0.0.1:${port}/big.bin /big.bin\n` });
    await started;
    await waitFor('the download on disk', () => existsSync(tmpRoot) && readdirSync(tmpRoot).length > 0);
    await d.kill();
    assert.notEqual((await pending).code, 0);
    assert.ok(readdirSync(tmpRoot).length > 0, 'the killed build left its context');
    await d.start();
    await buildOk(['-'], { input: 'FROM busybox\nRUN true\n' });
    assert.deepEqual(readdirSync(tmpRoot), []);
  } finally {
    server.closeAllConnections();
    server.close();
  }
});
