/**
 * Our berth CLI against berthd, side by side with the real docker CLI: for the same command
 * on the same daemon state, the same exit code and (where deterministic) the same stdout and
 * stderr, with "docker" read as "berth".
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { mkdirSync, readdirSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { startServer } from '../../src/image/registry/test-registry';
import { ID64, type RunResult, useDaemon, waitFor } from './harness';

const d = useDaemon();

const LOOP = 'trap "exit 9" TERM; trap "echo got-usr1" USR1; echo traps-set; while true; do sleep 0.1; done';

/**
 * Run the same read-only command with both CLIs and require identical results. Outputs with
 * relative times ("3 seconds ago") may differ when the two runs straddle a second: such a
 * pair is run again (at most five times), and then compared with relative times blanked out.
 */
async function same(args: string[], what = args.join(' '), env?: Record<string, string>): Promise<RunResult> {
  const opts = env ? { env } : {};
  let a = await d.docker(args, opts);
  let b = await d.berth(args, opts);
  for (let i = 0; i < 5 && b.stdout !== a.stdout && /second|minute/.test(a.stdout); i++) {
    a = await d.docker(args, opts);
    b = await d.berth(args, opts);
  }
  assert.equal(b.code, a.code, `berth ${what}: exit ${b.code}, docker exits ${a.code}\nberth stderr: ${b.stderr}\ndocker stderr: ${a.stderr}`);
  // A machine loaded enough can keep straddling seconds: then only the relative times may differ.
  const relative = (s: string) => s.replace(/\b(Less than a second|About a minute|About an hour|\d+ (seconds?|minutes?|hours?))\b/g, 'SOME TIME');
  const same = b.stdout === a.stdout ? b.stdout : relative(b.stdout);
  assert.equal(same, b.stdout === a.stdout ? a.stdout : relative(a.stdout), `berth ${what}: stdout differs`);
  assert.equal(b.stderr, a.stderr.replace(/\bdocker\b/g, 'berth'), `berth ${what}: stderr differs`);
  return b;
}

async function berthOk(args: string[], input?: string | Buffer): Promise<string> {
  const r = await d.berth(args, input === undefined ? {} : { input, timeoutMs: 60_000 });
  assert.equal(r.code, 0, `berth ${args.join(' ')} exited ${r.code}: ${r.stderr}`);
  return r.stdout;
}

test('version, info and images read the same as with docker', async () => {
  assert.equal((await same(['version', '--format', '{{.Server.APIVersion}} {{.Server.Os}} {{.Server.Arch}}'])).stdout.split(' ')[0], '1.45');
  const v = await d.berth(['version']);
  assert.equal(v.code, 0, v.stderr);
  assert.match(v.stdout, /^Client:\n/);
  assert.match(v.stdout, /\nServer: Berth Engine\n Engine:\n  Version: +0\.1\.0\n  API version: +1\.45 \(minimum version 1\.24\)\n/);
  await same(['info', '--format', '{{.Driver}} {{.Images}} {{.Containers}} {{.OSType}} {{.CgroupDriver}}']);
  assert.match((await d.berth(['info'])).stdout, /\n Storage Driver: overlay2\n/);
  await same(['images']);
  await same(['images', '-q']);
  await same(['images', '--no-trunc', '--format', '{{.Repository}}:{{.Tag}} {{.ID}} {{.Size}}']);
  await same(['images', '--format', 'json']);
  await same(['image', 'inspect', 'busybox']);
  await same(['image', 'inspect', '--format', '{{.Id}} {{.Os}} {{.Architecture}} {{json .RepoTags}} {{.RootFS.Type}}', 'busybox:latest']);
  await same(['image', 'inspect', 'no-such-image']);
  await same(['rmi', 'no-such-image:1']);
});

test('import (file and stdin), load (-i and stdin), tag and rmi', async () => {
  const tar = d.busyboxTar();
  const fromFile = (await berthOk(['import', tar, 'bimp:file'])).trim();
  assert.match(fromFile, /^sha256:[0-9a-f]{64}$/);
  const fromStdin = (await berthOk(['import', '-', 'bimp:stdin'], readFileSync(tar))).trim();
  assert.match(fromStdin, /^sha256:[0-9a-f]{64}$/);
  const listed = await d.dockerOk(['images', '--format', '{{.Repository}}:{{.Tag}} {{.ID}}', 'bimp']);
  assert.deepEqual(listed.split('\n').sort(), [`bimp:file ${fromFile.slice(7, 19)}`, `bimp:stdin ${fromStdin.slice(7, 19)}`].sort());

  // load what docker save wrote, from a file and from stdin.
  const saved = join(d.dir, 'saved.tar');
  await d.dockerOk(['save', '-o', saved, 'bimp:file']);
  await d.dockerOk(['rmi', 'bimp:file']);
  assert.equal(await berthOk(['load', '-i', saved]), 'Loaded image: bimp:file\n');
  assert.equal(JSON.parse(await d.dockerOk(['image', 'inspect', 'bimp:file']))[0].Id, fromFile);
  await d.dockerOk(['rmi', 'bimp:file']);
  assert.equal(await berthOk(['load'], readFileSync(saved)), 'Loaded image: bimp:file\n');
  assert.equal(await berthOk(['load', '-q', '-i', saved]), 'Loaded image: bimp:file\n');
  // The daemon answers 200 and ends the stream with an error line: both CLIs print its message as it is.
  const notTar = await d.berth(['load'], { input: 'this is not a tar archive' });
  const dockerNotTar = await d.docker(['load'], { input: 'this is not a tar archive' });
  assert.equal(notTar.code, 1);
  assert.equal(dockerNotTar.code, 1);
  assert.match(notTar.stderr, /^invalid docker archive: .*not a tar file\n$/);
  assert.equal(notTar.stderr, dockerNotTar.stderr);

  assert.equal(await berthOk(['tag', 'bimp:file', 'bimp:other']), '');
  assert.equal(JSON.parse(await d.dockerOk(['image', 'inspect', 'bimp:other']))[0].Id, fromFile);
  assert.equal(await berthOk(['rmi', 'bimp:other']), 'Untagged: bimp:other\n');
  const missingTag = await same(['tag', 'nothing-here', 'x:y']);
  assert.equal(missingTag.code, 1);
  assert.match(missingTag.stderr, /^Error response from daemon: No such image: nothing-here/);
  const rmi = await berthOk(['rmi', 'bimp:file', 'bimp:stdin']);
  assert.match(rmi, /^Untagged: bimp:file\n/);
  assert.match(rmi, /Untagged: bimp:stdin\n/);
  assert.equal(await d.dockerOk(['images', '-q', 'bimp']), '');
});

test('run: exit codes, stdout and stderr apart, and the same output as docker run for the user flags', async () => {
  const r = await d.berth(['run', '--rm', 'busybox', 'sh', '-c', 'echo to-out; echo to-err >&2; exit 42']);
  assert.equal(r.code, 42);
  assert.equal(r.stdout, 'to-out\n');
  assert.equal(r.stderr, 'to-err\n');
  assert.equal((await d.berth(['run', '--rm', 'busybox', 'false'])).code, 1);
  const missing = await d.berth(['run', '--rm', 'busybox', 'no-such-binary']);
  assert.equal(missing.code, 127);
  assert.match(missing.stderr, /executable file not found in \$PATH/);
  const noImage = await same(['run', '--pull', 'never', '--rm', 'no-such-image:1', 'true']);
  assert.equal(noImage.code, 125);
  assert.match(noImage.stderr, /No such image: no-such-image:1/);
  // By default a missing image is pulled first; this one exists nowhere (and Docker Hub is out of reach).
  const pulled = await d.berth(['run', '--rm', 'no-such-image:1', 'true'], { timeoutMs: 60_000 });
  assert.equal(pulled.code, 125);
  assert.match(pulled.stderr, /^Unable to find image 'no-such-image:1' locally\nberth: Error response from daemon: /);
  const badName = await same(['run', '--name', 'a b', 'busybox', 'true']);
  assert.equal(badName.code, 125);

  const flags = ['--rm', '-e', 'FOO=bar baz', '-e', 'EMPTY=', '-w', '/tmp/work', '-u', '1000:100', '-h', 'myhost', '--entrypoint', '/bin/sh', 'busybox', '-c', 'echo "FOO=$FOO EMPTY=[$EMPTY]"; pwd; id; hostname; echo err >&2; exit 3'];
  const o = await same(['run', ...flags]);
  assert.equal(o.code, 3);
  const [env, cwd, ids, host] = o.stdout.split('\n');
  assert.equal(env, 'FOO=bar baz EMPTY=[]');
  assert.equal(cwd, '/tmp/work');
  assert.match(ids!, /^uid=1000 gid=100\b/);
  assert.equal(host, 'myhost');
  assert.equal(o.stderr, 'err\n');

  const id = (await berthOk(['run', '-d', '--name', 'bdet', 'busybox', 'sh', '-c', 'echo started; sleep 600'])).trim();
  assert.match(id, ID64);
  assert.equal((await d.inspect('bdet')).State.Running, true);
  const dup = await d.berth(['run', '--name', 'bdet', 'busybox', 'true']);
  assert.equal(dup.code, 125);
  assert.match(dup.stderr, /Conflict\. The container name "\/bdet" is already in use by container/);
  assert.equal(await berthOk(['rm', '-f', 'bdet']), 'bdet\n');

  const rmId = (await berthOk(['run', '-d', '--rm', 'busybox', 'sh', '-c', 'sleep 0.2'])).trim();
  await waitFor('the --rm container to go', async () => (await d.docker(['inspect', rmId])).code === 1, 10_000);
  assert.equal((await d.berth(['run', '--rm', '--name', 'brm-fg', 'busybox', 'true'])).code, 0);
  assert.ok(!(await d.dockerOk(['ps', '-a', '--format', '{{.Names}}'])).split('\n').includes('brm-fg'));
});

test('ps, inspect, logs and wait print what docker prints', async () => {
  await d.dockerOk(['run', '-d', '--name', 'pa-up', '-h', 'pahost', '-e', 'K=v', 'busybox', 'sh', '-c', LOOP]);
  await d.dockerOk(['run', '-d', '--name', 'pa-done', 'busybox', 'sh', '-c', 'for i in 1 2 3 4 5; do echo out$i; echo err$i >&2; done; exit 4']);
  await d.dockerOk(['wait', 'pa-done']);
  // Past the first second, so "Up Less than a second" vs "Up 1 second" cannot split the two runs.
  await waitFor('both containers past their first second', async () => !(await d.dockerOk(['ps', '-a', '--filter', 'name=pa-', '--format', '{{.Status}}'])).includes('Less than a second'), 10_000, 200);
  for (const args of [
    ['ps'], ['ps', '-a'], ['ps', '-q'], ['ps', '-aq', '--no-trunc'], ['ps', '-a', '--filter', 'name=pa-'], ['ps', '-a', '--filter', 'status=exited', '--format', '{{.Names}} {{.Status}}'],
    ['ps', '-a', '--filter', 'exited=4', '-q'], ['ps', '--format', '{{.ID}}\t{{.Image}}\t{{.Command}}\t{{.Names}}'], ['ps', '-a', '--format', 'json'], ['ps', '-n', '1', '--format', '{{.Names}}'],
  ]) await same(args);
  for (const c of ['pa-up', 'pa-done']) {
    await same(['inspect', c]);
    await same(['inspect', '--format', '{{.State.Status}} {{.State.ExitCode}} {{.Config.Hostname}} {{json .Config.Env}} {{.HostConfig.NetworkMode}} {{.GraphDriver.Name}} {{len .Mounts}}', c]);
    await same(['container', 'inspect', '--format', '{{.Name}} {{.Path}} {{json .Args}}', c]);
  }
  await same(['inspect', 'no-such-container']);
  const bi = await d.berth(['inspect', 'pa-up', 'busybox']);
  assert.equal(bi.code, 0, bi.stderr);
  assert.equal(JSON.parse(bi.stdout).length, 2, 'inspect takes containers and images together');

  const logs = await same(['logs', 'pa-done']);
  assert.equal(logs.stdout, 'out1\nout2\nout3\nout4\nout5\n');
  assert.equal(logs.stderr, 'err1\nerr2\nerr3\nerr4\nerr5\n');
  await same(['logs', '--tail', '2', 'pa-done']);
  await same(['logs', '--tail', '0', 'pa-done']);
  const ts = await same(['logs', '-t', 'pa-done']);
  for (const l of ts.stdout.trim().split('\n')) assert.match(l, /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{9}Z out\d$/);
  await same(['logs', '-f', 'pa-done'], 'logs -f of an exited container');
  await same(['logs', 'no-such-container']);
  assert.equal((await same(['wait', 'pa-done'])).stdout, '4\n');
  await same(['wait', 'no-such-container']);

  // logs -f follows a live container and ends when it exits.
  const id = await d.dockerOk(['run', '-d', 'busybox', 'sh', '-c', 'echo one; sleep 1; echo two >&2; sleep 0.5; echo three']);
  const f = await d.berth(['logs', '-f', id], { timeoutMs: 15_000 });
  assert.equal(f.code, 0, f.stderr);
  assert.equal(f.stdout, 'one\nthree\n');
  assert.equal(f.stderr, 'two\n');
  await d.dockerOk(['rm', '-f', 'pa-up', 'pa-done', id]);
});

test('stop, kill -s, start, restart, kill, wait, rm and rm -f', async () => {
  await d.dockerOk(['run', '-d', '--name', 'life', 'busybox', 'sh', '-c', LOOP]);
  await d.waitForLog('life', 'traps-set');
  const pid1 = (await d.inspect('life')).State.Pid;

  assert.equal(await berthOk(['kill', '-s', 'USR1', 'life']), 'life\n');
  await waitFor('the USR1 trap', async () => (await d.dockerOk(['logs', 'life'])).includes('got-usr1'), 5000);

  // Started before the stop or not, wait prints the exit code.
  const waiting = d.berth(['wait', 'life'], { timeoutMs: 20_000 });
  assert.equal(await berthOk(['stop', 'life']), 'life\n');
  const w = await waiting;
  assert.equal(w.code, 0, w.stderr);
  assert.equal(w.stdout, '9\n', 'wait prints the TERM trap\'s exit code');
  assert.equal((await d.inspect('life')).State.ExitCode, 9);

  assert.equal(await berthOk(['start', 'life']), 'life\n');
  const pid2 = (await d.inspect('life')).State.Pid;
  assert.ok(pid2 > 0 && pid2 !== pid1);
  assert.equal(await berthOk(['restart', '-t', '1', 'life']), 'life\n');
  const st = (await d.inspect('life')).State;
  assert.equal(st.Running, true);
  assert.notEqual(st.Pid, pid2);

  // rm of a running container without -f: refused, still running.
  const rm = await d.berth(['rm', 'life']);
  assert.equal(rm.code, 1);
  assert.match(rm.stderr, /^Error response from daemon: .*(running container|container is running)/);
  assert.equal((await d.inspect('life')).State.Running, true);

  assert.equal(await berthOk(['kill', 'life']), 'life\n');
  assert.equal(await berthOk(['wait', 'life']), '137\n');
  const again = await d.berth(['kill', 'life']);
  assert.equal(again.code, 1);
  assert.match(again.stderr, /is not running/);
  await same(['stop', 'no-such-container']);
  await same(['start', 'no-such-container']);
  await same(['kill', '-s', 'USR1', 'no-such-container']);
  await same(['restart', 'no-such-container']);
  assert.equal(await berthOk(['rm', 'life']), 'life\n');

  await d.dockerOk(['run', '-d', '--name', 'life2', 'busybox', 'sh', '-c', 'sleep 600']);
  assert.equal(await berthOk(['rm', '-f', 'life2']), 'life2\n');
  assert.equal((await d.docker(['inspect', 'life2'])).code, 1);
  await same(['rm', 'no-such-container']);
  // rm -f of a missing container reports it and still exits 0, as docker 28 does.
  const gone = await same(['rm', '-f', 'no-such-container']);
  assert.equal(gone.code, 0);
  assert.equal(gone.stderr, 'Error response from daemon: No such container: no-such-container\n');
  assert.equal(await d.dockerOk(['ps', '-aq']), '');
});

test('usage errors read as docker 28 prints them, with the same exit codes', async () => {
  for (const args of [
    ['logs'], ['wait'], ['rm'], ['run'], ['tag', 'x'], ['image', 'inspect'], ['nosuchcmd'], ['image', 'nope'],
    ['run', '--nope', 'busybox'], ['ps', '--nope'], ['ps', '-z'], ['container', '--nope'], ['--nope'], ['run', '--env'], ['stop', '-t', 'abc', 'x'],
  ]) await same(args);
});

test('save -o and export -o refuse an output path as the docker CLI does, before asking berthd, and leave nothing behind', async () => {
  const ctr = await d.dockerOk(['create', 'busybox', 'true']);
  const file = join(d.dir, 'out-file');
  writeFileSync(file, 'x');
  const fifo = join(d.dir, 'out-fifo');
  spawnSync('mkfifo', [fifo]);
  const before = readdirSync(d.dir).sort();
  for (const out of [d.dir, '/dev/null', fifo, join(file, 'x.tar'), join(d.dir, 'missing', 'x.tar'), 'missing-rel/x.tar']) {
    await same(['save', '-o', out, 'busybox']);
    await same(['export', '-o', out, ctr]);
  }
  assert.deepEqual(readdirSync(d.dir).sort(), before);
  // Written: mode 0600, as the docker CLI leaves it.
  const saved = join(d.dir, 'out.tar');
  await berthOk(['save', '-o', saved, 'busybox']);
  assert.equal(statSync(saved).mode & 0o777, 0o600);
  await d.dockerOk(['rm', ctr]);
});

test("--format templates: Go's errors (line, column, the CLI's context types), exit codes, .Label, json as Go writes it", async () => {
  const ctr = await d.dockerOk(['run', '-d', '--name', 'fmt-ctr', '--label', 'a.b-c=x<y', 'busybox', 'sleep', '60']);
  await d.dockerOk(['volume', 'create', '--label', 'v=1', 'fmt-vol']);
  await d.dockerOk(['network', 'create', '--label', 'n=2', 'fmt-net']);
  const cases: string[][] = [
    ['inspect', '-f', '{{.Id', ctr],
    ['inspect', '-f', '{{if .Id}}x', ctr],
    ['inspect', '-f', '{{nosuch .Id}}', ctr],
    ['inspect', '-f', '{{.Nope}}', ctr],
    ['inspect', '-f', '{{.Id}}\n  {{.Config.Nope}}', ctr],
    ['inspect', '-f', '{{.Id.Foo}}', ctr],
    ['inspect', '-f', '{{.Nope}}', ctr, 'fmt-no-such'],
    ['inspect', '-f', 'json', 'fmt-vol', 'fmt-vol'],
    ['inspect', '-f', '{{json .Config.Labels}}', ctr],
    ['volume', 'inspect', '-f', '{{.Nope}}', 'fmt-vol'],
    ['network', 'inspect', '-f', '{{.Nope}}', 'fmt-net'],
    ['version', '--format', '{{.Nope}}'],
    ['version', '--format', '{{.Nope'],
    ['info', '--format', '{{.Nope}}'],
    ['ps', '--format', '{{.ID}} {{.Nope}}'],
    ['ps', '--format', 'table {{.Nope}}'],
    ['ps', '-q', '--format', '{{.Nope'],
    ['ps', '--filter', 'name=fmt-ctr', '--format', '{{.Label "a.b-c"}}|{{.Label "none"}}'],
    ['ps', '--filter', 'name=fmt-ctr', '--format', 'table {{.Names}}\t{{.Label "a.b-c"}}'],
    ['images', '--format', '{{.Nope}}'],
    ['network', 'ls', '--filter', 'name=fmt-net', '--format', '{{json .}}'],
    ['network', 'ls', '--filter', 'name=fmt-net', '--format', '{{.Label "n"}} {{.IPv4}} {{.CreatedAt}}'],
    ['volume', 'ls', '--filter', 'name=fmt-vol', '--format', '{{json .}} {{.Label "v"}}'],
    ['volume', 'ls', '--format', '{{.Nope}}'],
  ];
  for (const args of cases) await same(args);
  await d.dockerOk(['rm', '-f', ctr]);
  await d.dockerOk(['volume', 'rm', 'fmt-vol']);
  await d.dockerOk(['network', 'rm', 'fmt-net']);
});

test('search and the filter flags: the same output, errors and exit codes as docker', async () => {
  const index = await startServer((req, res) => {
    const u = new URL(req.url!, 'http://x');
    const n = Number(u.searchParams.get('n'));
    const results = Array.from({ length: 4 }, (_, i) => ({ name: `lib/tool-${i}`, description: `tool number ${i}, described at some length so that the column is cut`, star_count: i * 7, is_official: i === 1 }));
    res.writeHead(200, { 'content-type': 'application/json' }).end(u.pathname === '/v1/search' ? JSON.stringify({ results: results.slice(0, n) }) : 'true');
  });
  try {
    const term = `${index.domain}/lib/tool`;
    for (const args of [
      ['search', term], ['search', '--no-trunc', term], ['search', '--limit', '2', term], ['search', '--format', '{{json .}}', term],
      ['search', '--format', 'json', term], ['search', '--filter', 'stars=7', '--format', 'table {{.Name}}\t{{.IsOfficial}}', term],
      ['search', '--limit', '101', term], ['search', '--limit', 'x', term], ['search', '--filter', 'bogus', term], ['search'], ['search', 'a', 'b'],
      ['search', '--format', '{{.IsAutomated}}', term],
      ['ps', '--filter', 'bogus'], ['images', '--filter', 'bogus'], ['network', 'ls', '--filter', 'bogus'], ['events', '--filter', 'bogus'],
      ['volume', 'ls', '--filter', 'bogus'], ['image', 'prune', '--filter', 'bogus'],
    ]) await same(args);
  } finally {
    await index.close();
  }
});

test("lists take their default format from the config file (psFormat, imagesFormat, networksFormat, volumesFormat) as the docker CLI does", async () => {
  const dir = join(d.dir, 'cfg-formats');
  mkdirSync(dir, { recursive: true });
  writeFileSync(join(dir, 'config.json'), JSON.stringify({
    psFormat: 'table {{.Names}}\t{{.Label "k"}}', imagesFormat: '{{.Repository}}:{{.Tag}}', networksFormat: '{{.Name}}/{{.Driver}}', volumesFormat: '{{.Name}} {{.Label "k"}}',
  }));
  const ctr = await d.dockerOk(['create', '--name', 'cfg-fmt', '--label', 'k=v', 'busybox', 'true']);
  await d.dockerOk(['volume', 'create', '--label', 'k=w', 'cfg-vol']);
  const env = { DOCKER_CONFIG: dir };
  for (const args of [['ps', '-a', '--filter', 'name=cfg-fmt'], ['ps', '-aq', '--filter', 'name=cfg-fmt'], ['images', 'busybox'], ['images', '-q', 'busybox'],
    ['network', 'ls', '--filter', 'name=bridge'], ['volume', 'ls', '--filter', 'name=cfg-vol'], ['ps', '-a', '--filter', 'name=cfg-fmt', '--format', '{{.ID}}']]) {
    await same(args, args.join(' '), env);
  }
  await d.dockerOk(['rm', ctr]);
  await d.dockerOk(['volume', 'rm', 'cfg-vol']);
});
