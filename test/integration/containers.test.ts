/**
 * Container and image lifecycle through the real docker CLI against a real berthd.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { existsSync, readdirSync, readFileSync, renameSync, statSync } from 'node:fs';
import { basename, dirname, join } from 'node:path';
import { gunzipSync } from 'node:zlib';
import { ID64, run, useDaemon, waitFor } from './harness';

const d = useDaemon();

/** A shell loop that keeps the container alive without busy-waiting. */
const LOOP = 'while true; do sleep 0.1; done';

test('docker version shows the server with API 1.45', async () => {
  const r = await d.docker(['version']);
  assert.equal(r.code, 0, r.stderr);
  assert.match(r.stdout, /Server:/);
  const server = r.stdout.slice(r.stdout.indexOf('Server:'));
  assert.match(server, /API version:\s+1\.45\b/);
  const fmt = await d.dockerOk(['version', '--format', '{{.Server.APIVersion}}']);
  assert.equal(fmt, '1.45');
});

test('docker version and info show the real runc and conmon versions and the log driver berth writes', async () => {
  const said = (bin: string) => {
    const out = spawnSync(bin, ['--version'], { encoding: 'utf8' }).stdout;
    return { version: /version (\S+)/.exec(out)![1], commit: /^commit: (\S+)/m.exec(out)![1] };
  };
  const runc = said('runc');
  const conmon = said('conmon');
  const components = JSON.parse(await d.dockerOk(['version', '--format', '{{json .Server.Components}}']));
  const byName = Object.fromEntries(components.map((c: { Name: string }) => [c.Name, c]));
  assert.deepEqual(byName.runc, { Name: 'runc', Version: runc.version, Details: { GitCommit: runc.commit } });
  assert.deepEqual(byName.conmon, { Name: 'conmon', Version: conmon.version, Details: { GitCommit: conmon.commit } });
  // --init's tini: docker-init, as dockerd calls it (this host's tini prints no commit).
  const tini = /version (\S+)/.exec(spawnSync('/usr/bin/tini-static', ['--version'], { encoding: 'utf8' }).stdout)![1];
  assert.deepEqual(byName['docker-init'], { Name: 'docker-init', Version: tini, Details: { GitCommit: '' } });
  const text = await d.dockerOk(['version']);
  assert.match(text, new RegExp(`runc:\\s+Version:\\s+${runc.version.replace(/[.+]/g, '\\$&')}\\s+GitCommit:\\s+${runc.commit.replace(/[.+]/g, '\\$&')}`));
  const info = await d.dockerOk(['info']);
  assert.match(info, new RegExp(`runc version: ${runc.commit.replace(/[.+]/g, '\\$&')}\n`));
  assert.match(info, /Logging Driver: json-file\n/);
});

test('docker info answers with the overlay2 storage driver', async () => {
  const r = await d.docker(['info']);
  assert.equal(r.code, 0, r.stderr);
  assert.match(r.stdout, /Storage Driver: overlay2/);
  const n = await d.dockerOk(['info', '--format', '{{.Images}}']);
  assert.ok(Number(n) >= 1, `Images = ${n}`);
  // Loopback registries are reached over plain HTTP, and docker info says so as dockerd does.
  assert.match(r.stdout, /\n Insecure Registries:\n  127\.0\.0\.0\/8\n/);
  assert.equal(await d.dockerOk(['info', '--format', '{{json .RegistryConfig.InsecureRegistryCIDRs}} {{json (index .RegistryConfig.IndexConfigs "docker.io")}}']),
    '["127.0.0.0/8"] {"Name":"docker.io","Mirrors":[],"Secure":true,"Official":true}');
});

test('import, images, image inspect, tag, rmi', async () => {
  const tarPath = d.busyboxTar();
  const id = await d.dockerOk(['import', tarPath, 'imp-test:v1']);
  assert.match(id, /^sha256:[0-9a-f]{64}$/);
  const list = await d.dockerOk(['images', '--format', '{{.Repository}}:{{.Tag}} {{.ID}}']);
  assert.ok(list.split('\n').includes(`imp-test:v1 ${id.slice(7, 19)}`), list);
  const insp = JSON.parse(await d.dockerOk(['image', 'inspect', 'imp-test:v1']))[0];
  assert.equal(insp.Id, id);
  assert.deepEqual(insp.RepoTags, ['imp-test:v1']);
  assert.equal(insp.Os, 'linux');
  assert.ok(insp.Size > 1_000_000, `Size ${insp.Size}`);
  assert.equal(insp.RootFS.Type, 'layers');
  assert.equal(insp.RootFS.Layers.length, 1);

  await d.dockerOk(['tag', 'imp-test:v1', 'imp-test:v2']);
  const insp2 = JSON.parse(await d.dockerOk(['image', 'inspect', 'imp-test:v2']))[0];
  assert.equal(insp2.Id, id);
  assert.deepEqual([...insp2.RepoTags].sort(), ['imp-test:v1', 'imp-test:v2']);

  const un = await d.dockerOk(['rmi', 'imp-test:v2']);
  assert.match(un, /Untagged: imp-test:v2/);
  assert.doesNotMatch(un, /Deleted/);
  const un2 = await d.dockerOk(['rmi', 'imp-test:v1']);
  assert.match(un2, /Untagged: imp-test:v1/);
  // Same content as busybox:latest → same image ID, so it must survive under its other tag.
  const busy = JSON.parse(await d.dockerOk(['image', 'inspect', 'busybox:latest']))[0];
  if (busy.Id !== id) assert.match(un2, /Deleted: sha256:/);
  const gone = await d.docker(['image', 'inspect', 'imp-test:v1']);
  assert.notEqual(gone.code, 0);
  assert.match(gone.stderr, /No such image/i);
});

test('run in the foreground: exit code, stdout and stderr kept apart', async () => {
  const r = await d.docker(['run', '--rm', 'busybox', 'sh', '-c', 'echo to-out; echo to-err >&2; exit 42']);
  assert.equal(r.code, 42, r.stderr);
  assert.equal(r.stdout, 'to-out\n');
  assert.equal(r.stderr, 'to-err\n');
  const ok = await d.docker(['run', '--rm', 'busybox', 'true']);
  assert.equal(ok.code, 0, ok.stderr);
  const f = await d.docker(['run', '--rm', 'busybox', 'false']);
  assert.equal(f.code, 1);
});

test('run of a missing command exits 127 and does not leave a running container', async () => {
  const r = await d.docker(['run', '--rm', 'busybox', 'no-such-binary']);
  assert.equal(r.code, 127, `code ${r.code}, stderr ${r.stderr}`);
  // The start's error, once: the wait for the removal carries none (dockerd clears it on removal).
  assert.match(r.stderr, /^docker: Error response from daemon: .*executable file not found in \$PATH/);
  assert.doesNotMatch(r.stderr, /Error waiting for container/);
  // --entrypoint "" empties the entrypoint (and drops the image's CMD): no command at all is a 400 at create.
  const none = await d.docker(['run', '--rm', '--entrypoint', '', 'busybox']);
  assert.equal(none.code, 125);
  assert.match(none.stderr, /Error response from daemon: no command specified/);
  const withCmd = await d.dockerOk(['create', '--entrypoint', '', 'busybox', 'echo', 'hi']);
  const c = await d.inspect(withCmd);
  assert.equal(c.Config.Entrypoint, null);
  assert.equal(c.Path, 'echo');
  assert.equal(await d.dockerOk(['start', '-a', withCmd]), 'hi');
  await d.dockerOk(['rm', withCmd]);
});

test('a command that cannot be executed: run exits 126, the container keeps exit code 126 (127 for a missing one)', async () => {
  const r = await d.docker(['run', '--name', 'noexec', 'busybox', '/etc/passwd']);
  assert.equal(r.code, 126, r.stderr);
  assert.match(r.stderr, /permission denied/);
  assert.equal((await d.inspect('noexec')).State.ExitCode, 126);
  const missing = await d.docker(['run', '--name', 'nocmd', 'busybox', '/no/such']);
  assert.equal(missing.code, 127, missing.stderr);
  assert.equal((await d.inspect('nocmd')).State.ExitCode, 127);
  await d.dockerOk(['rm', 'noexec', 'nocmd']);
});

test('run -d prints the 64-hex id; --rm removes the container once it exits', async () => {
  const id = await d.dockerOk(['run', '-d', 'busybox', 'true']);
  assert.match(id, ID64);
  const rmId = await d.dockerOk(['run', '-d', '--rm', 'busybox', 'sh', '-c', 'sleep 0.2']);
  assert.match(rmId, ID64);
  await waitFor('--rm container to disappear', async () => {
    const r = await d.docker(['inspect', rmId]);
    return r.code !== 0 && /No such/i.test(r.stderr);
  }, 10_000);
  const fg = await d.docker(['run', '--rm', '--name', 'rm-fg', 'busybox', 'true']);
  assert.equal(fg.code, 0, fg.stderr);
  const all = await d.dockerOk(['ps', '-a', '--format', '{{.Names}}']);
  assert.ok(!all.split('\n').includes('rm-fg'), all);
});

test('--name, -e, -w, -u, --entrypoint, -h', async () => {
  const r = await d.docker([
    'run', '--name', 'opts1', '-e', 'FOO=bar baz', '-e', 'EMPTY=', '-w', '/tmp/work', '-u', '1000:1000', '-h', 'myhost',
    '--entrypoint', '/bin/sh', 'busybox', '-c', 'echo "FOO=$FOO"; echo "EMPTY=[$EMPTY]"; pwd; id -u; id -g; hostname',
  ]);
  assert.equal(r.code, 0, r.stderr);
  assert.equal(r.stdout, 'FOO=bar baz\nEMPTY=[]\n/tmp/work\n1000\n1000\nmyhost\n');
  // A working directory that is a file in the image: dockerd's words, exit 125.
  const fileDir = await d.docker(['run', '--rm', '-w', '/etc/passwd', 'busybox', 'true']);
  assert.equal(fileDir.code, 125);
  assert.match(fileDir.stderr, /Error response from daemon: Cannot mkdir: \/etc\/passwd is not a directory/);
  // As with dockerd, already at create (nothing is left behind), and a missing one is made then.
  const created = await d.docker(['create', '--name', 'wd-file', '-w', '/etc/passwd', 'busybox', 'true']);
  assert.equal(created.code, 1);
  assert.equal(created.stderr, 'Error response from daemon: Cannot mkdir: /etc/passwd is not a directory\n');
  assert.equal((await d.docker(['inspect', 'wd-file'])).code, 1);
  await d.dockerOk(['create', '--name', 'wd-new', '-w', '/srv/a/b', 'busybox', 'true']);
  assert.equal(await d.dockerOk(['diff', 'wd-new']), 'A /srv\nA /srv/a\nA /srv/a/b');
  await d.dockerOk(['rm', 'wd-new']);
  const c = await d.inspect('opts1');
  assert.equal(c.Name, '/opts1');
  assert.ok(c.Config.Env.includes('FOO=bar baz'), JSON.stringify(c.Config.Env));
  assert.equal(c.Config.WorkingDir, '/tmp/work');
  assert.equal(c.Config.User, '1000:1000');
  assert.equal(c.Config.Hostname, 'myhost');
  assert.deepEqual(c.Config.Entrypoint, ['/bin/sh']);
  assert.deepEqual(c.Config.Cmd, ['-c', 'echo "FOO=$FOO"; echo "EMPTY=[$EMPTY]"; pwd; id -u; id -g; hostname']);
  assert.equal(c.Path, '/bin/sh');
  // A default PATH is there even though the imported image has no Env.
  const p = await d.docker(['run', '--rm', 'busybox', 'sh', '-c', 'echo $PATH; echo $HOSTNAME']);
  assert.equal(p.code, 0, p.stderr);
  assert.match(p.stdout, /\/bin/);
});

test('ps, ps -a, ps -q, --filter name=, --filter status=exited', async () => {
  const up = await d.dockerOk(['run', '-d', '--name', 'ps-up', 'busybox', 'sh', '-c', LOOP]);
  const ex = await d.dockerOk(['run', '-d', '--name', 'ps-exited', 'busybox', 'sh', '-c', 'exit 3']);
  await d.dockerOk(['wait', ex]);

  const ps = await d.dockerOk(['ps']);
  const lines = ps.split('\n');
  assert.match(lines[0]!, /^CONTAINER ID\s+IMAGE\s+COMMAND\s+CREATED\s+STATUS\s+PORTS\s+NAMES$/);
  const upLine = lines.find((l) => l.endsWith(' ps-up'));
  assert.ok(upLine, ps);
  assert.ok(upLine!.startsWith(up.slice(0, 12)), upLine);
  assert.match(upLine!, /\bUp /);
  assert.ok(!lines.some((l) => l.endsWith(' ps-exited')), 'ps without -a lists an exited container');

  const psa = await d.dockerOk(['ps', '-a']);
  const exLine = psa.split('\n').find((l) => l.endsWith(' ps-exited'));
  assert.ok(exLine, psa);
  assert.match(exLine!, /Exited \(3\)/);

  const q = (await d.dockerOk(['ps', '-q'])).split('\n');
  assert.ok(q.includes(up.slice(0, 12)), q.join(','));
  assert.ok(!q.includes(ex.slice(0, 12)));
  for (const l of q) assert.match(l, /^[0-9a-f]{12}$/);

  const byName = await d.dockerOk(['ps', '-a', '-q', '--no-trunc', '--filter', 'name=ps-exited']);
  assert.equal(byName, ex);
  const exited = (await d.dockerOk(['ps', '-a', '-q', '--no-trunc', '--filter', 'status=exited'])).split('\n');
  assert.ok(exited.includes(ex));
  assert.ok(!exited.includes(up));
  const running = (await d.dockerOk(['ps', '-q', '--no-trunc', '--filter', 'status=running'])).split('\n');
  assert.ok(running.includes(up));

  // before/since name a container and compare creation times; ps-up was created first.
  const names = async (...f: string[]) => (await d.dockerOk(['ps', '-a', '--format', '{{.Names}}', ...f])).split('\n').filter(Boolean);
  assert.ok((await names('--filter', 'before=ps-exited')).includes('ps-up'));
  assert.ok(!(await names('--filter', 'before=ps-exited')).includes('ps-exited'));
  assert.deepEqual(await names('--filter', 'before=ps-up', '--filter', 'name=ps-'), []);
  assert.deepEqual(await names('--filter', 'since=ps-up', '--filter', 'name=ps-'), ['ps-exited']);
  assert.deepEqual(await names('--filter', 'exited=3', '--filter', 'name=ps-'), ['ps-exited']);
  assert.deepEqual((await names('--filter', 'health=none', '--filter', 'name=ps-')).sort(), ['ps-exited', 'ps-up']);
  const unknownRef = await d.docker(['ps', '--filter', 'before=no-such-container']);
  assert.notEqual(unknownRef.code, 0);
  assert.match(unknownRef.stderr, /No such container: no-such-container/);
  const badFilter = await d.docker(['ps', '--filter', 'colour=red']);
  assert.notEqual(badFilter.code, 0);
  assert.match(badFilter.stderr, /invalid filter 'colour'/);

  // ps -s: the writable layer's size and the image's ("virtual").
  await d.dockerOk(['exec', up, 'sh', '-c', 'head -c 4096 /dev/zero > /tmp/blob']);
  const sized = await d.dockerOk(['ps', '-s', '--filter', 'name=ps-up', '--format', '{{.Size}}']);
  assert.match(sized, /^\d+(\.\d+)?k?B \(virtual \d+(\.\d+)?[kM]B\)$/);
  assert.notEqual(sized.split(' ')[0], '0B');
  await d.dockerOk(['rm', '-f', up, ex]);
});

test('inspect --size: SizeRw is the writable layer, SizeRootFs adds the image; absent without --size', async () => {
  await d.dockerOk(['run', '--name', 'sized', 'busybox', 'sh', '-c', 'head -c 100000 /dev/zero > /blob']);
  const [rw, rootfs] = (await d.dockerOk(['inspect', '--size', '-f', '{{.SizeRw}} {{.SizeRootFs}}', 'sized'])).split(' ').map(Number);
  const imageSize = Number(await d.dockerOk(['image', 'inspect', '-f', '{{.Size}}', 'busybox']));
  assert.ok(rw! >= 100000, `SizeRw ${rw} counts the 100000-byte file`);
  assert.equal(rootfs, rw! + imageSize);
  const plain = JSON.parse(await d.dockerOk(['inspect', 'sized']))[0];
  assert.equal('SizeRw' in plain || 'SizeRootFs' in plain, false);
  await d.dockerOk(['rm', 'sized']);
});

test('options accepted but not applied come back as create warnings; what dockerd refuses on linux is refused', async () => {
  const r = await d.docker([
    'run', '--rm', '--cgroup-parent', '/mine', '--dns', '192.0.2.53', '--add-host', 'db:192.0.2.7', '--security-opt', 'label=disable',
    '--health-cmd', 'true', 'busybox', 'true',
  ]);
  assert.equal(r.code, 0, r.stderr);
  assert.equal(r.stderr, [
    "WARNING: CgroupParent is not applied: every container's cgroup is under /berth",
    'WARNING: security option label=disable is not applied: Berth sets no AppArmor or SELinux profile',
    '',
  ].join('\n'));
  const plain = await d.api('POST', '/containers/create', { Image: 'busybox', Cmd: ['true'], HostConfig: { Dns: [], PortBindings: {}, CgroupParent: '' } });
  assert.equal(plain.status, 201);
  assert.deepEqual(plain.json.Warnings, []);
  await d.dockerOk(['rm', plain.json.Id]);

  const refused: [string[], RegExp][] = [
    [['--runtime', 'kata'], /Error response from daemon: unknown or invalid runtime name: kata/],
    [['--gpus', 'all'], /Error response from daemon: could not select device driver "" with capabilities: \[\[gpu\]\]/],
    [['--isolation', 'hyperv'], /Error response from daemon: invalid isolation 'hyperv' on linux/],
  ];
  for (const [flags, re] of refused) {
    const x = await d.docker(['run', '--rm', ...flags, 'busybox', 'true']);
    assert.equal(x.code, 125, flags.join(' '));
    assert.match(x.stderr, re);
  }
});

test('create refuses an empty environment variable name (400)', async () => {
  const r = await d.api('POST', '/containers/create', { Image: 'busybox', Cmd: ['true'], Env: ['=x'] });
  assert.equal(r.status, 400);
  assert.equal(r.json.message, 'invalid environment variable: =x');
});

test('logs: stdout/stderr separation, --tail, -t timestamps', async () => {
  const id = await d.dockerOk(['run', '-d', 'busybox', 'sh', '-c', 'echo o1; echo e1 >&2; echo o2; echo e2 >&2; echo o3']);
  assert.equal(await d.dockerOk(['wait', id]), '0');
  const r = await d.docker(['logs', id]);
  assert.equal(r.code, 0, r.stderr);
  assert.equal(r.stdout, 'o1\no2\no3\n');
  assert.equal(r.stderr, 'e1\ne2\n');

  // --tail counts lines of both streams together; use one stream so the order is certain.
  const many = await d.dockerOk(['run', '-d', 'busybox', 'sh', '-c', 'for i in 1 2 3 4 5; do echo l$i; done']);
  assert.equal(await d.dockerOk(['wait', many]), '0');
  const tail = await d.docker(['logs', '--tail', '2', many]);
  assert.equal(tail.code, 0);
  assert.equal(tail.stdout, 'l4\nl5\n');
  assert.equal((await d.docker(['logs', '--tail', '0', many])).stdout, '');
  // --details: each message after its details and a space (berth records no details: the space).
  assert.equal((await d.docker(['logs', '--details', '--tail', '2', many])).stdout, ' l4\n l5\n');
  // Output that ends without a newline is the last line, as dockerd counts its last message.
  const unfinished = await d.dockerOk(['run', '-d', 'busybox', 'sh', '-c', 'echo l1; echo l2; printf "no newline"']);
  assert.equal(await d.dockerOk(['wait', unfinished]), '0');
  assert.equal((await d.docker(['logs', '--tail', '1', unfinished])).stdout, 'no newline');
  assert.equal((await d.docker(['logs', '--tail', '2', unfinished])).stdout, 'l2\nno newline');
  // What is not a whole number (a word, a negative one) means the whole log, as dockerd reads it.
  for (const t of ['all', 'bogus', '-1']) assert.equal((await d.dockerOk(['logs', '--tail', t, many])), 'l1\nl2\nl3\nl4\nl5', t);

  const ts = await d.docker(['logs', '-t', id]);
  assert.equal(ts.code, 0);
  const tsLines = ts.stdout.trimEnd().split('\n');
  assert.equal(tsLines.length, 3);
  for (const l of tsLines) assert.match(l, /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\.\d{9}Z o\d$/);
  // Each line was stamped as it was read: after the container was created, before logs -t answered.
  const answered = Date.now();
  const created = Date.parse((await d.inspect(id)).Created);
  for (const l of tsLines) {
    const stamp = Date.parse(l.split(' ')[0]!);
    assert.ok(created <= stamp && stamp <= answered, `${l} is not between Created ${new Date(created).toISOString()} and ${new Date(answered).toISOString()}`);
  }
});

test('log drivers: json-file by default (conmon\'s file, read through the API), local and k8s-file, none refuses logs, unknown ones refused as dockerd does', async () => {
  const def = await d.docker(['run', '--name', 'lc-def', '--log-opt', 'max-size=1m', '--log-opt', 'max-file=3', '--log-opt', 'compress=true', '--log-opt', 'tag=x', 'busybox', 'echo', 'hello']);
  assert.equal(def.code, 0, def.stderr);
  assert.equal(def.stderr, '');
  const badFiles = await d.docker(['run', '--rm', '--log-opt', 'max-size=1m', '--log-opt', 'max-file=0', 'busybox', 'true']);
  assert.equal(badFiles.code, 125);
  assert.match(badFiles.stderr, /max-file cannot be less than 1/);
  assert.deepEqual((await d.inspect('lc-def')).HostConfig.LogConfig, { Type: 'json-file', Config: { 'max-size': '1m', 'max-file': '3', compress: 'true', tag: 'x' } });
  // What labels, env and tag name shows before each message with --details, as dockerd shows it.
  assert.equal(await d.dockerOk(['logs', '--details', 'lc-def']), 'tag=x hello');
  await d.dockerOk(['run', '--name', 'lc-details', '-l', 'team=a b', '-e', 'STAGE=dev', '--log-opt', 'labels=team', '--log-opt', 'env-regex=^STA', '--log-opt', 'tag={{.Name}}', 'busybox', 'echo', 'hello']);
  assert.equal(await d.dockerOk(['logs', '--details', 'lc-details']), 'STAGE=dev,tag=lc-details,team=a+b hello');
  assert.equal(await d.dockerOk(['logs', 'lc-details']), 'hello');
  await d.dockerOk(['rm', 'lc-details']);
  const badCompress = await d.docker(['run', '--rm', '--log-opt', 'max-size=1m', '--log-opt', 'compress=true', 'busybox', 'true']);
  assert.equal(badCompress.code, 125);
  assert.equal(badCompress.stderr, 'docker: Error response from daemon: failed to initialize logging driver: compress cannot be true when max-file is less than 2 or max-size is not set\n\nRun \'docker run --help\' for more information\n');
  for (const driver of ['k8s-file', 'local']) {
    const r = await d.docker(['run', '--name', `lc-${driver}`, '--log-driver', driver, 'busybox', 'echo', 'hi']);
    assert.equal(r.code, 0, r.stderr);
    assert.equal(r.stderr, '');
    assert.deepEqual((await d.inspect(`lc-${driver}`)).HostConfig.LogConfig, { Type: driver, Config: {} });
    assert.equal(await d.dockerOk(['logs', `lc-${driver}`]), 'hi');
  }
  // local keeps dockerd's defaults (20 MiB files, five, compressed): one file alone is refused as dockerd refuses it.
  const oneLocal = await d.docker(['run', '--rm', '--log-driver', 'local', '--log-opt', 'max-file=1', 'busybox', 'true']);
  assert.equal(oneLocal.code, 125);
  assert.match(oneLocal.stderr, /Error response from daemon: failed to initialize logging driver: compression cannot be enabled when max file count is 1\n/);
  const plain = await d.dockerOk(['create', 'busybox', 'true']);
  assert.deepEqual((await d.inspect(plain)).HostConfig.LogConfig, { Type: 'json-file', Config: {} });

  // none: the output still reaches an attached client, but logs cannot be read.
  const none = await d.docker(['run', '--name', 'lc-none', '--log-driver', 'none', 'busybox', 'echo', 'attached']);
  assert.equal(none.code, 0, none.stderr);
  assert.equal(none.stdout, 'attached\n');
  const noLogs = await d.docker(['logs', 'lc-none']);
  assert.equal(noLogs.code, 1);
  assert.equal(noLogs.stderr, 'Error response from daemon: configured logging driver does not support reading\n');

  const unknown = await d.docker(['run', '--rm', '--log-driver', 'asdf', 'busybox', 'true']);
  assert.equal(unknown.code, 125);
  assert.match(unknown.stderr, /Error response from daemon: logger: no log driver named 'asdf' is registered/);
  const badOpt = await d.api('POST', '/containers/create', { Image: 'busybox', Cmd: ['true'], HostConfig: { LogConfig: { Type: 'json-file', Config: { colour: 'red' } } } });
  assert.equal(badOpt.status, 400);
  assert.equal(badOpt.json.message, "unknown log opt 'colour' for json-file log driver");
  const badMode = await d.api('POST', '/containers/create', { Image: 'busybox', Cmd: ['true'], HostConfig: { LogConfig: { Type: '', Config: { mode: 'fast' } } } });
  assert.equal(badMode.status, 400);
  assert.equal(badMode.json.message, 'logger: logging mode not supported: fast');
  await d.dockerOk(['rm', 'lc-def', 'lc-k8s-file', 'lc-local', 'lc-none', plain]);
});

test('--log-opt max-size bounds the log file while the container writes; the newest lines stay readable', async () => {
  const id = await d.dockerOk(['run', '-d', '--log-opt', 'max-size=64k', 'busybox', 'sh', '-c', 'i=0; while [ $i -lt 5000 ]; do i=$((i+1)); echo "line $i padding padding padding padding"; done; echo done-writing']);
  assert.equal(await d.dockerOk(['wait', id], { timeoutMs: 60_000 }), '0');
  const logPath = (await d.inspect(id)).LogPath as string;
  assert.ok(statSync(logPath).size <= 64 * 1024, `the log is ${statSync(logPath).size} bytes`);
  const lines = (await d.dockerOk(['logs', id])).split('\n');
  assert.equal(lines.at(-1), 'done-writing');
  assert.ok(lines.length < 5000, 'older lines were dropped');
  assert.equal(await d.dockerOk(['logs', '--tail', '2', id]), 'line 5000 padding padding padding padding\ndone-writing');
  await d.dockerOk(['rm', id]);
});

test('--log-opt max-file keeps the full files as LogPath.1, .2 …: each within max-size, the oldest dropped; logs, --tail, --since and -f read across them', async () => {
  const line = (i: number) => `line ${String(i).padStart(5, '0')} ${'p'.repeat(40)}`;
  const id = await d.dockerOk(['run', '-d', '--log-opt', 'max-size=4k', '--log-opt', 'max-file=3', 'busybox', 'sh', '-c',
    `i=0; while [ $i -lt 600 ]; do i=$((i+1)); printf 'line %05d ${'p'.repeat(40)}\\n' $i; done`]);
  assert.equal(await d.dockerOk(['wait', id], { timeoutMs: 60_000 }), '0');
  const logPath = (await d.inspect(id)).LogPath as string;
  for (const f of [logPath, `${logPath}.1`, `${logPath}.2`]) assert.ok(statSync(f).size <= 4096, `${f}: ${statSync(f).size} bytes`);
  assert.ok(statSync(`${logPath}.1`).size > 3000, 'a rotated file is kept whole');
  assert.equal(existsSync(`${logPath}.3`), false);
  // Contiguous up to the last line, and no more than three files hold.
  const lines = (await d.dockerOk(['logs', id])).split('\n');
  // The oldest file kept may open with the rest of a line whose start went with a dropped file.
  const from = /^line \d{5} /.test(lines[0]!) ? 0 : 1;
  const first = Number(lines[from]!.split(' ')[1]);
  assert.ok(first > 1, `the oldest lines went with the oldest file, not ${first}`);
  assert.deepEqual(lines.slice(from), Array.from({ length: 600 - first + 1 }, (_, k) => line(first + k)));
  // A tail that reaches into the rotated files.
  const tail = (await d.dockerOk(['logs', '--tail', String(lines.length - 5), id])).split('\n');
  assert.deepEqual(tail, lines.slice(5));
  assert.deepEqual((await d.dockerOk(['logs', '--since', '0', '--tail', '3', id])).split('\n'), lines.slice(-3));

  // Followed while it rotates: every line, in order (the writer is slow enough to be kept up with).
  const slow = await d.dockerOk(['run', '-d', '--log-opt', 'max-size=2k', '--log-opt', 'max-file=2', 'busybox', 'sh', '-c',
    'sleep 0.5; i=0; while [ $i -lt 150 ]; do i=$((i+1)); echo "slow line $i ........................"; usleep 5000; done']);
  const followed = await d.docker(['logs', '-f', slow], { timeoutMs: 60_000 });
  assert.equal(followed.code, 0, followed.stderr);
  assert.deepEqual(followed.stdout.trim().split('\n'), Array.from({ length: 150 }, (_, k) => `slow line ${k + 1} ........................`));
  assert.ok(existsSync(`${(await d.inspect(slow)).LogPath}.1`));

  // A max-file far above what the log reaches keeps every file (none were dropped: the first line is there).
  const many = await d.dockerOk(['run', '-d', '--log-opt', 'max-size=2k', '--log-opt', 'max-file=100000', 'busybox', 'sh', '-c',
    `i=0; while [ $i -lt 200 ]; do i=$((i+1)); printf 'line %05d ${'p'.repeat(40)}\\n' $i; done`]);
  assert.equal(await d.dockerOk(['wait', many], { timeoutMs: 60_000 }), '0');
  const manyPath = (await d.inspect(many)).LogPath as string;
  assert.ok(existsSync(`${manyPath}.4`), 'rotated into several files');
  assert.deepEqual((await d.dockerOk(['logs', many])).split('\n'), Array.from({ length: 200 }, (_, k) => line(k + 1)));
  await d.dockerOk(['rm', id, slow, many]);
});

test('--log-opt compress=true gzips the kept files into LogPath.1.gz, .2.gz …; logs, --tail and -f read across them, no line twice', async () => {
  const line = (i: number) => `line ${String(i).padStart(5, '0')} ${'p'.repeat(40)}`;
  const id = await d.dockerOk(['run', '-d', '--log-opt', 'max-size=4k', '--log-opt', 'max-file=3', '--log-opt', 'compress=true', 'busybox', 'sh', '-c',
    `i=0; while [ $i -lt 600 ]; do i=$((i+1)); printf 'line %05d ${'p'.repeat(40)}\\n' $i; done`]);
  assert.equal(await d.dockerOk(['wait', id], { timeoutMs: 60_000 }), '0');
  const logPath = (await d.inspect(id)).LogPath as string;
  // The compressor runs beside conmon right after each rotation: wait (bounded) for the plain copies to go.
  await waitFor('the kept files gzipped', () => !existsSync(`${logPath}.1`) && !existsSync(`${logPath}.2`));
  assert.deepEqual(readdirSync(dirname(logPath)).filter((f) => f.startsWith(basename(logPath))).sort(), ['container.log', 'container.log.1.gz', 'container.log.2.gz'].map((f) => f.replace('container.log', basename(logPath))));
  for (const k of [1, 2]) {
    const gz = `${logPath}.${k}.gz`;
    assert.equal(statSync(gz).mode & 0o777, 0o640);
    const text = gunzipSync(readFileSync(gz)).toString();
    assert.ok(text.length > 3000 && text.length <= 4096, `${gz} holds ${text.length} bytes`);
    // conmon's k8s-file records (a line split across two reads of the pipe is a P record and the rest).
    assert.match(text, /^(\S+ stdout [FP] [^\n]*\n)+$/);
    assert.match(text, /stdout F line \d{5} p+\n/);
  }
  const lines = (await d.dockerOk(['logs', id])).split('\n');
  // The oldest file kept may open with the rest of a line whose start went with a dropped file.
  const from = /^line \d{5} /.test(lines[0]!) ? 0 : 1;
  const first = Number(lines[from]!.split(' ')[1]);
  assert.ok(first > 1, `the oldest lines went with the oldest file, not ${first}`);
  assert.deepEqual(lines.slice(from), Array.from({ length: 600 - first + 1 }, (_, k) => line(first + k)));
  assert.deepEqual((await d.dockerOk(['logs', '--tail', String(lines.length - 5), id])).split('\n'), lines.slice(5));

  // Followed while it rotates and its kept file is compressed: every line once, in order.
  const slow = await d.dockerOk(['run', '-d', '--log-opt', 'max-size=2k', '--log-opt', 'max-file=2', '--log-opt', 'compress=true', 'busybox', 'sh', '-c',
    'sleep 0.5; i=0; while [ $i -lt 150 ]; do i=$((i+1)); echo "slow line $i ........................"; usleep 5000; done']);
  const followed = await d.docker(['logs', '-f', slow], { timeoutMs: 60_000 });
  assert.equal(followed.code, 0, followed.stderr);
  assert.deepEqual(followed.stdout.trim().split('\n'), Array.from({ length: 150 }, (_, k) => `slow line ${k + 1} ........................`));
  const slowPath = (await d.inspect(slow)).LogPath as string;
  assert.ok(existsSync(`${slowPath}.1.gz`) || existsSync(`${slowPath}.1`));
  assert.equal(existsSync(`${slowPath}.2.gz`) || existsSync(`${slowPath}.2`), false);
  await d.dockerOk(['rm', id, slow]);
});

test('logs -f follows and ends when the container exits', async () => {
  const id = await d.dockerOk(['run', '-d', 'busybox', 'sh', '-c', 'for i in 1 2 3 4 5; do echo line$i; sleep 0.2; done']);
  const r = await d.docker(['logs', '-f', id], { timeoutMs: 15_000 });
  assert.equal(r.timedOut, false, 'logs -f did not end after the container exited');
  assert.equal(r.code, 0, r.stderr);
  // The last line comes about a second after the first: seeing it means -f followed to the end.
  assert.equal(r.stdout, 'line1\nline2\nline3\nline4\nline5\n');
});

test('wait prints the exit code', async () => {
  const id = await d.dockerOk(['run', '-d', 'busybox', 'sh', '-c', 'sleep 0.3; exit 9']);
  const r = await d.docker(['wait', id]);
  assert.equal(r.code, 0, r.stderr);
  assert.equal(r.stdout, '9\n');
  // wait on an already exited container answers at once
  assert.equal(await d.dockerOk(['wait', id], { timeoutMs: 5000 }), '9');
});

test('stop: a TERM trap exits promptly with its own code', async () => {
  const id = await d.dockerOk(['run', '-d', 'busybox', 'sh', '-c', `trap 'echo got-term; exit 3' TERM; echo trap-set; ${LOOP}`]);
  await d.waitForLog(id, 'trap-set');
  const r = await d.docker(['stop', id]);
  assert.equal(r.code, 0, r.stderr);
  assert.equal(r.stdout.trim(), id);
  // Exit code 3 is the trap's own: the container ended on TERM, not on the SIGKILL after the timeout.
  assert.equal(await d.dockerOk(['wait', id]), '3');
  const c = await d.inspect(id);
  assert.equal(c.State.Status, 'exited');
  assert.equal(c.State.ExitCode, 3);
  assert.equal((await d.docker(['logs', id])).stdout, 'trap-set\ngot-term\n');
});

test('stop -t 1: a process that outlives TERM is killed, exit code 137', async () => {
  const id = await d.dockerOk(['run', '-d', 'busybox', 'sh', '-c', `trap 'echo got-term' TERM; echo trap-set; ${LOOP}`]);
  await d.waitForLog(id, 'trap-set');
  const r = await d.docker(['stop', '-t', '1', id]);
  assert.equal(r.code, 0, r.stderr);
  assert.equal(await d.dockerOk(['wait', id]), '137');
  // TERM came first and was handled; only then the SIGKILL.
  assert.equal((await d.docker(['logs', id])).stdout, 'trap-set\ngot-term\n');
  const c = await d.inspect(id);
  assert.equal(c.State.ExitCode, 137);
  assert.equal(c.State.Running, false);
});

test('stop and rm -f of a container runc cannot signal: its init is killed directly, as dockerd does; runc\'s error is logged', async () => {
  const hidden = async (name: string, act: (id: string) => Promise<void>) => {
    const id = await d.dockerOk(['run', '-d', '--name', name, 'busybox', 'sleep', '1000']);
    const pid = Number(await d.dockerOk(['inspect', '-f', '{{.State.Pid}}', id]));
    // Hide the container from runc: every `runc kill` now fails while the process lives on.
    const state = join(d.execRoot, 'runc', id);
    renameSync(state, `${state}.hidden`);
    try {
      await act(id);
      assert.equal(existsSync(`/proc/${pid}`), false, 'the container\'s process is gone');
    } finally {
      renameSync(`${state}.hidden`, state);
      await run('runc', ['--root', join(d.execRoot, 'runc'), 'delete', '--force', id]);
    }
  };
  await hidden('unkillable', async (id) => {
    const r = await d.docker(['stop', '-t', '1', 'unkillable']);
    assert.equal(r.code, 0, r.stderr);
    assert.equal(await d.dockerOk(['inspect', '-f', '{{.State.Running}} {{.State.ExitCode}}', id]), 'false 137');
    await d.dockerOk(['rm', id]);
  });
  await hidden('unkillable2', async (id) => {
    await d.dockerOk(['rm', '-f', 'unkillable2']);
    assert.equal((await d.docker(['inspect', id])).code, 1);
  });
  assert.match(d.log(), /runc could not kill the container: killing its init process directly.*runc kill failed: container does not exist/);
});

test('kill -s USR1 is delivered to a trap', async () => {
  const id = await d.dockerOk(['run', '-d', 'busybox', 'sh', '-c', `trap 'echo got-usr1; exit 5' USR1; echo trap-set; ${LOOP}`]);
  await d.waitForLog(id, 'trap-set');
  const r = await d.docker(['kill', '-s', 'USR1', id]);
  assert.equal(r.code, 0, r.stderr);
  assert.equal(await d.dockerOk(['wait', id]), '5');
  assert.equal((await d.docker(['logs', id])).stdout, 'trap-set\ngot-usr1\n');
  // plain kill → 137
  const id2 = await d.dockerOk(['run', '-d', 'busybox', 'sh', '-c', LOOP]);
  await d.dockerOk(['kill', id2]);
  assert.equal(await d.dockerOk(['wait', id2]), '137');
});

test('start of an exited container runs it again', async () => {
  const id = await d.dockerOk(['run', '-d', 'busybox', 'sh', '-c', 'echo run; exit 4']);
  assert.equal(await d.dockerOk(['wait', id]), '4');
  const s = await d.docker(['start', id]);
  assert.equal(s.code, 0, s.stderr);
  assert.equal(await d.dockerOk(['wait', id]), '4');
  const logs = (await d.docker(['logs', id])).stdout;
  assert.equal(logs, 'run\nrun\n');
  // start -a attaches and passes the exit code through
  const a = await d.docker(['start', '-a', id]);
  assert.equal(a.code, 4);
  assert.equal(a.stdout, 'run\n');
});

test('restart gives a running container a new process', async () => {
  const id = await d.dockerOk(['run', '-d', 'busybox', 'sh', '-c', LOOP]);
  const before = await d.inspect(id);
  assert.equal(before.State.Running, true);
  const r = await d.docker(['restart', '-t', '1', id]);
  assert.equal(r.code, 0, r.stderr);
  const after = await d.inspect(id);
  assert.equal(after.State.Running, true);
  assert.notEqual(after.State.Pid, before.State.Pid);
  assert.ok(after.State.Pid > 0);
  assert.notEqual(after.State.StartedAt, before.State.StartedAt);
  await d.dockerOk(['rm', '-f', id]);
});

test('rm removes an exited container; rm -f removes a running one', async () => {
  const ex = await d.dockerOk(['run', '-d', 'busybox', 'true']);
  await d.dockerOk(['wait', ex]);
  const c = await d.inspect(ex);
  const r = await d.docker(['rm', ex]);
  assert.equal(r.code, 0, r.stderr);
  assert.equal(r.stdout.trim(), ex);
  assert.notEqual((await d.docker(['inspect', ex])).code, 0);
  assert.equal(existsSync(c.GraphDriver.Data.UpperDir), false, 'upper dir left behind after rm');

  const runId = await d.dockerOk(['run', '-d', 'busybox', 'sh', '-c', LOOP]);
  const rc = await d.inspect(runId);
  const pid = rc.State.Pid as number;
  const f = await d.docker(['rm', '-f', runId]);
  assert.equal(f.code, 0, f.stderr);
  assert.notEqual((await d.docker(['inspect', runId])).code, 0);
  await waitFor('the container process to be gone', () => !existsSync(`/proc/${pid}`), 5000);
  assert.equal(existsSync(rc.GraphDriver.Data.MergedDir), false, 'merged dir left behind after rm -f');
});

test('inspect fields of a running container', async () => {
  const id = await d.dockerOk(['run', '-d', '--name', 'insp', '-e', 'K=V', '-w', '/tmp', 'busybox', 'sh', '-c', LOOP]);
  const c = await d.inspect('insp');
  assert.equal(c.Id, id);
  assert.equal(c.Name, '/insp');
  assert.equal(c.State.Status, 'running');
  assert.equal(c.State.Running, true);
  assert.equal(c.State.ExitCode, 0);
  assert.ok(Number.isInteger(c.State.Pid) && c.State.Pid > 1, `Pid ${c.State.Pid}`);
  assert.ok(existsSync(`/proc/${c.State.Pid}`), 'State.Pid is not a live host process');
  assert.ok(c.Config.Env.includes('K=V'));
  assert.deepEqual(c.Config.Cmd, ['sh', '-c', LOOP]);
  assert.equal(c.Config.Hostname, id.slice(0, 12));
  assert.equal(c.Config.WorkingDir, '/tmp');
  assert.equal(c.Config.Image, 'busybox');
  assert.match(c.Image, /^sha256:[0-9a-f]{64}$/);
  assert.equal(typeof c.HostConfig, 'object');
  assert.equal(c.HostConfig.AutoRemove, false);
  assert.equal(c.HostConfig.RestartPolicy.Name, 'no');
  assert.equal(c.GraphDriver.Name, 'overlay2');
  assert.equal(c.Driver, 'overlay2');
  assert.ok(c.GraphDriver.Data.UpperDir.startsWith(d.dataRoot + '/'), c.GraphDriver.Data.UpperDir);
  assert.ok(c.GraphDriver.Data.MergedDir.startsWith(d.dataRoot + '/'), c.GraphDriver.Data.MergedDir);
  assert.ok(existsSync(c.GraphDriver.Data.UpperDir));
  assert.ok(existsSync(c.GraphDriver.Data.MergedDir + '/bin/busybox'), 'merged dir does not show the image');
  const fmt = await d.dockerOk(['inspect', '-f', '{{.State.Status}} {{.Name}} {{.State.Running}}', 'insp']);
  assert.equal(fmt, 'running /insp true');
  await d.dockerOk(['stop', '-t', '1', 'insp']);
  const s = await d.inspect('insp');
  assert.equal(s.State.Status, 'exited');
  assert.equal(s.State.Running, false);
  assert.equal(s.State.Pid, 0);
  assert.notEqual(s.State.FinishedAt, '0001-01-01T00:00:00Z');
  await d.dockerOk(['rm', 'insp']);
});

test('create with a platform: a local image for another one is not found, in dockerd\'s words; a matching one is used; before API 1.41 the parameter is ignored', async () => {
  const create = (query: string, version = 'v1.45') => d.api('POST', `/${version}/containers/create${query}`, { Image: 'busybox', Cmd: ['true'] });
  const other = await create('?platform=linux/arm64');
  assert.equal(other.status, 404);
  assert.equal(other.json.message, 'image with reference busybox was found but its platform (linux/amd64) does not match the specified platform (linux/arm64)');
  const arm = await create('?platform=linux/arm/v7');
  assert.equal(arm.json.message, 'image with reference busybox was found but its platform (linux/amd64) does not match the specified platform (linux/arm/v7)');
  assert.equal((await create('?platform=nonsense')).status, 400);
  const ids: string[] = [];
  for (const [query, version] of [['?platform=linux/amd64', 'v1.45'], ['?platform=linux/x86_64', 'v1.45'], ['?platform=linux/arm64', 'v1.40']] as const) {
    const r = await create(query, version);
    assert.equal(r.status, 201, `${version} ${query}: ${JSON.stringify(r.json)}`);
    ids.push(r.json.Id);
  }
  // The docker CLI sends it too.
  ids.push(await d.dockerOk(['create', '--platform', 'linux/amd64', 'busybox', 'true']));
  await d.dockerOk(['rm', ...ids]);
});

test('attach/ws: a WebSocket on the container\'s stdio (binary messages, text before API 1.42), stdin from the client, logs replayed, closed at the exit', async () => {
  const { WebSocket } = await import('ws');
  const open = (path: string) => {
    const ws = new WebSocket(`ws+unix://${d.sock}:${path}`);
    const got: { data: string; binary: boolean }[] = [];
    ws.on('message', (data, binary) => got.push({ data: data.toString(), binary }));
    const closed = new Promise<number>((resolve) => ws.on('close', (code) => resolve(code)));
    const opened = new Promise<void>((resolve, reject) => {
      ws.on('open', () => resolve());
      ws.on('error', reject);
    });
    return { ws, got, closed, opened };
  };
  const id = await d.dockerOk(['create', '-i', 'busybox', 'sh', '-c', 'read line; echo "got:$line"; echo oops >&2']);
  const a = open(`/v1.45/containers/${id}/attach/ws?stream=1&stdin=1&stdout=1&stderr=1`);
  await a.opened;
  await d.dockerOk(['start', id]);
  a.ws.send('hello\n');
  assert.equal(await a.closed, 1000);
  assert.deepEqual(a.got.map((m) => m.data).join(''), 'got:hello\noops\n');
  assert.ok(a.got.every((m) => m.binary));
  assert.equal(await d.dockerOk(['wait', id]), '0');

  // logs only: the output replayed, then closed; before API 1.42 as text messages.
  const b = open(`/v1.41/containers/${id}/attach/ws?logs=1`);
  assert.equal(await b.closed, 1000);
  assert.equal(b.got.map((m) => m.data).join(''), 'got:hello\noops\n');
  assert.ok(b.got.every((m) => !m.binary));

  // Without a WebSocket handshake, and for a container that does not exist.
  const plain = await d.api('GET', `/containers/${id}/attach/ws?stream=1`);
  assert.equal(plain.status, 400);
  assert.equal(plain.json.message, 'attach/ws needs a WebSocket: send the request with Upgrade: websocket');
  const none = open('/containers/no-such-ctr/attach/ws?stream=1');
  await assert.rejects(none.opened, /Unexpected server response: 404/);
  await d.dockerOk(['rm', id]);
});
