/**
 * berth pull, push, login, logout and run --pull against registries on 127.0.0.1, side by
 * side with the real docker CLI on the same daemon: the same lines for the same operation,
 * the same config.json.
 */
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { copyFileSync, mkdirSync, mkdtempSync, symlinkSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { startRegistry, type TestRegistry } from '../../src/image/registry/test-registry';
import { BERTH, BUSYBOX, run, startBerthRegistry, useDaemon } from './harness';

const d = useDaemon();
let reg: TestRegistry;
let scratch: string;

before(async () => {
  reg = await startRegistry();
  scratch = mkdtempSync(join(tmpdir(), 'berth-registry-cli-'));
});
after(async () => {
  await reg?.stop();
  if (scratch) rmSync(scratch, { recursive: true, force: true });
});

/** A one-layer image of its own (busybox's `cat` and a file `/marker` holding `content`), imported under `tag`. */
async function makeImage(tag: string, content: string): Promise<void> {
  const dir = join(scratch, `rootfs-${content}`);
  mkdirSync(join(dir, 'bin'), { recursive: true });
  copyFileSync(BUSYBOX, join(dir, 'bin', 'busybox'));
  symlinkSync('busybox', join(dir, 'bin', 'cat'));
  writeFileSync(join(dir, 'marker'), `${content}\n`);
  const tar = join(scratch, `${content}.tar`);
  const r = spawnSync('tar', ['-C', dir, '-cf', tar, '.']);
  assert.equal(r.status, 0, String(r.stderr));
  await d.dockerOk(['import', tar, tag]);
}

/** Output with what differs between two images (layer ids, digests, sizes, the repository) made generic. */
function generic(text: string, repos: string[]): string {
  let t = text;
  for (const r of repos) t = t.split(r).join('REPO');
  return t.replace(/sha256:[0-9a-f]{64}/g, 'DIGEST').replace(/\b[0-9a-f]{12}\b/g, 'LAYER').replace(/size: \d+/g, 'size: N');
}

/** A DOCKER_CONFIG directory of its own. */
function configDir(name: string): string {
  const dir = join(scratch, name);
  mkdirSync(dir, { recursive: true });
  return dir;
}

test('push, rmi, pull: berth prints what docker prints for the same operation (not on a TTY)', async () => {
  const a = `${reg.domain}/cli/a`;
  const b = `${reg.domain}/cli/b`;
  await makeImage(`${a}:v1`, 'image-a');
  await makeImage(`${b}:v1`, 'image-b');

  // First push of two fresh images: one by each CLI.
  const bPush = await d.berth(['push', `${a}:v1`], { timeoutMs: 60_000 });
  const dPush = await d.docker(['push', `${b}:v1`], { timeoutMs: 60_000 });
  assert.equal(bPush.code, 0, bPush.stderr);
  assert.equal(dPush.code, 0, dPush.stderr);
  assert.match(bPush.stdout, /^The push refers to repository \[127\.0\.0\.1:\d+\/cli\/a\]\n[0-9a-f]{12}: Preparing\n[0-9a-f]{12}: Pushed\nv1: digest: sha256:[0-9a-f]{64} size: \d+\n$/);
  assert.equal(generic(bPush.stdout, [a]), generic(dPush.stdout, [b]));
  assert.equal(bPush.stderr, '');
  const digest = /v1: digest: (sha256:[0-9a-f]{64})/.exec(bPush.stdout)![1]!;

  // Pushed again, the same image: the same bytes from both.
  const bAgain = await d.berth(['push', `${a}:v1`], { timeoutMs: 60_000 });
  const dAgain = await d.docker(['push', `${a}:v1`], { timeoutMs: 60_000 });
  assert.equal(bAgain.stdout, dAgain.stdout);
  assert.match(bAgain.stdout, /Layer already exists/);
  // -q: only the name; -a: every tag; no tag: docker's note, then latest (absent here).
  assert.equal((await d.berth(['push', '-q', `${a}:v1`], { timeoutMs: 60_000 })).stdout, `${a}:v1\n`);
  const all = await d.berth(['push', '-a', a], { timeoutMs: 60_000 });
  assert.equal(all.stdout, (await d.docker(['push', '-a', a], { timeoutMs: 60_000 })).stdout);
  const bNoTag = await d.berth(['push', a]);
  const dNoTag = await d.docker(['push', a]);
  assert.equal(bNoTag.code, 1);
  assert.equal(bNoTag.stdout, dNoTag.stdout);
  assert.equal(bNoTag.stderr, dNoTag.stderr);

  await d.dockerOk(['rmi', `${a}:v1`, `${b}:v1`]);
  const bPull = await d.berth(['pull', `${a}:v1`], { timeoutMs: 60_000 });
  const dPull = await d.docker(['pull', `${b}:v1`], { timeoutMs: 60_000 });
  assert.equal(bPull.code, 0, bPull.stderr);
  assert.equal(dPull.code, 0, dPull.stderr);
  assert.equal(generic(bPull.stdout, [a, 'cli/a']), generic(dPull.stdout, [b, 'cli/b']));
  const lines = bPull.stdout.trim().split('\n');
  assert.equal(lines[0], 'v1: Pulling from cli/a');
  assert.ok(lines.some((l) => /^[0-9a-f]{12}: Pull complete$/.test(l)), bPull.stdout);
  assert.ok(!bPull.stdout.includes('['), 'no bars off a TTY');
  assert.deepEqual(lines.slice(-3), [`Digest: ${digest}`, `Status: Downloaded newer image for ${a}:v1`, `${a}:v1`]);
  assert.equal(await d.dockerOk(['run', '--rm', `${a}:v1`, 'cat', '/marker']), 'image-a');

  // Up to date, by tag, by digest, with -a, with -q: byte for byte what docker prints.
  for (const args of [['pull', `${a}:v1`], ['pull', `${a}@${digest}`], ['pull', '-a', a], ['pull', '-q', `${a}:v1`]]) {
    const x = await d.berth(args, { timeoutMs: 60_000 });
    const y = await d.docker(args, { timeoutMs: 60_000 });
    assert.equal(x.code, y.code, args.join(' '));
    assert.equal(x.stdout, y.stdout, args.join(' '));
  }
  // Errors: the daemon's message, exit 1, and docker's own checks.
  for (const args of [['pull', `${a}:nope`], ['pull', a], ['pull', '-a', `${a}:v1`], ['pull', 'Bad:Name'], ['pull'], ['pull', a, a], ['push', `${a}@${digest}`]]) {
    const x = await d.berth(args, { timeoutMs: 60_000 });
    const y = await d.docker(args, { timeoutMs: 60_000 });
    assert.equal(x.code, 1, args.join(' '));
    assert.equal(x.code, y.code, args.join(' '));
    assert.equal(x.stdout, y.stdout, args.join(' '));
    assert.equal(x.stderr, y.stderr.replace(/\bdocker\b/g, 'berth'), args.join(' '));
  }
});

test('pull on a TTY draws per-layer lines redrawn in place, as docker does', async () => {
  const c = `${reg.domain}/cli/tty`;
  await makeImage(`${c}:v1`, 'image-tty');
  await d.dockerOk(['push', `${c}:v1`], { timeoutMs: 60_000 });
  // The layer stays in the daemon after rmi of one image; a second image gives docker a fresh layer too.
  await makeImage(`${c}:v2`, 'image-tty-2');
  await d.dockerOk(['push', `${c}:v2`], { timeoutMs: 60_000 });
  await d.dockerOk(['rmi', `${c}:v1`, `${c}:v2`]);
  const inPty = (cli: string, tag: string) =>
    run('script', ['-qefc', `stty cols 120; ${cli} -H ${d.host} pull ${c}:${tag}`, '/dev/null'], { env: d.env(), timeoutMs: 60_000 });
  const bTty = await inPty(`${process.execPath} ${BERTH}`, 'v1');
  const dTty = await inPty('docker', 'v2');
  assert.equal(bTty.code, 0, bTty.stdout);
  assert.equal(dTty.code, 0, dTty.stdout);
  const out = bTty.stdout;
  assert.match(out, /\x1b\[2K\r[0-9a-f]{12}: Pull complete \r/);
  assert.match(out, /\x1b\[1A/, 'the cursor goes back up to redraw a layer line');
  // Pulled layer bytes differ a little in size; the escapes and words do not.
  const norm = (t: string) => generic(t.replace(/\r\n/g, '\n'), [`${c}:v1`, `${c}:v2`]).replace(/ *(?<=[ /])[\d.]+[kMG]?B/g, ' SIZE').replace(/\[=*>? *\]/g, 'BAR').replace(/v[12]: Pulling/, 'TAG: Pulling');
  // How many times a moving bar is redrawn depends on timing; the states each layer goes through do not.
  const states = (t: string) => [...new Set(norm(t).match(/Pulling fs layer|Downloading|Verifying Checksum|Download complete|Extracting|Pull complete|Already exists|Digest: \S+|Status: .*/g))].sort();
  assert.deepEqual(states(out).filter((x) => !x.startsWith('Digest')), states(dTty.stdout).filter((x) => !x.startsWith('Digest')));
  assert.equal(norm(out).split(/\x1b\[2K|\n/).at(-1), norm(dTty.stdout).split(/\x1b\[2K|\n/).at(-1));
});

test('login and logout write config.json as docker does; pull and push use the stored credentials', async () => {
  const root = join(scratch, 'own-registry');
  mkdirSync(root);
  const registry = await startBerthRegistry(root, 'alice', 's3cret');
  try {
    const { addr } = registry;
    const berthCfg = configDir('berth-config');
    const dockerCfg = configDir('docker-config');
    const asBerth = { env: { DOCKER_CONFIG: berthCfg }, timeoutMs: 60_000 };
    const asDocker = { env: { DOCKER_CONFIG: dockerCfg }, timeoutMs: 60_000 };
    const name = `${addr}/team/app:v1`;
    await makeImage(name, 'image-private');

    const anonymous = await d.berth(['push', name], asBerth);
    assert.equal(anonymous.code, 1);
    assert.match(anonymous.stderr, /unauthorized|authentication required|denied/i);

    const wrongB = await d.berth(['login', addr, '-u', 'alice', '--password-stdin'], { ...asBerth, input: 'nope\n' });
    const wrongD = await d.docker(['login', addr, '-u', 'alice', '--password-stdin'], { ...asDocker, input: 'nope\n' });
    assert.equal(wrongB.code, 1);
    assert.equal(wrongB.stderr, wrongD.stderr);
    assert.match(wrongB.stderr, /^Error response from daemon: login attempt to http:\/\/127\.0\.0\.1:\d+\/v2\/ failed with status: 401 Unauthorized\n$/);

    const loginB = await d.berth(['login', addr, '-u', 'alice', '--password-stdin'], { ...asBerth, input: 's3cret\n' });
    const loginD = await d.docker(['login', addr, '-u', 'alice', '--password-stdin'], { ...asDocker, input: 's3cret\n' });
    assert.equal(loginB.code, 0, loginB.stderr);
    assert.equal(loginB.stdout, 'Login Succeeded\n');
    assert.equal(loginB.stdout, loginD.stdout);
    assert.equal(loginB.stderr, loginD.stderr.split(dockerCfg).join(berthCfg));
    const written = readFileSync(join(berthCfg, 'config.json'), 'utf8');
    assert.equal(written, `{\n\t"auths": {\n\t\t"${addr}": {\n\t\t\t"auth": "${Buffer.from('alice:s3cret').toString('base64')}"\n\t\t}\n\t}\n}`);
    assert.equal(written, readFileSync(join(dockerCfg, 'config.json'), 'utf8'));

    // Logged in already: the stored credentials are tried, the file left as it was.
    const storedB = await d.berth(['login', addr], asBerth);
    const storedD = await d.docker(['login', addr], asDocker);
    assert.equal(storedB.code, 0, storedB.stderr);
    assert.equal(storedB.stdout, storedD.stdout);
    assert.equal(storedB.stderr, storedD.stderr.replace(/\bdocker\b/g, 'berth'));
    assert.match(storedB.stderr, /^Authenticating with existing credentials\.\.\. \[Username: alice\]\n/);
    assert.equal(readFileSync(join(berthCfg, 'config.json'), 'utf8'), written);

    const push = await d.berth(['push', name], asBerth);
    assert.equal(push.code, 0, push.stderr);
    assert.match(push.stdout, /v1: digest: sha256:[0-9a-f]{64} size: \d+/);
    await d.dockerOk(['rmi', name]);
    const pull = await d.berth(['pull', name], asBerth);
    assert.equal(pull.code, 0, pull.stderr);
    assert.equal(pull.stdout.trim().split('\n').at(-1), name);
    await d.dockerOk(['rmi', name]);

    const logoutB = await d.berth(['logout', addr], asBerth);
    const logoutD = await d.docker(['logout', addr], asDocker);
    assert.equal(logoutB.code, 0);
    assert.equal(logoutB.stdout, `Removing login credentials for ${addr}\n`);
    assert.equal(logoutB.stdout, logoutD.stdout);
    assert.equal(readFileSync(join(berthCfg, 'config.json'), 'utf8'), '{\n\t"auths": {}\n}');
    assert.equal(readFileSync(join(berthCfg, 'config.json'), 'utf8'), readFileSync(join(dockerCfg, 'config.json'), 'utf8'));
    const denied = await d.berth(['pull', name], asBerth);
    assert.equal(denied.code, 1);
    assert.match(denied.stderr, /^Error response from daemon: .*(unauthorized|authentication required|denied)/i);
  } finally {
    registry.stop();
  }
});

test('run --pull never fails on a missing image; missing (the default) pulls it; always pulls first', async () => {
  const name = `${reg.domain}/cli/run:v1`;
  await makeImage(name, 'image-run');
  await d.dockerOk(['push', name], { timeoutMs: 60_000 });
  await d.dockerOk(['rmi', name]);

  const never = await d.berth(['run', '--pull', 'never', '--rm', name, 'cat', '/marker']);
  const neverD = await d.docker(['run', '--pull', 'never', '--rm', name, 'cat', '/marker']);
  assert.equal(never.code, 125);
  assert.equal(never.stderr, `berth: Error response from daemon: No such image: ${name}\n\nRun 'berth run --help' for more information\n`);
  assert.equal(never.stderr, neverD.stderr.replace(/\bdocker\b/g, 'berth'));
  const createNever = await d.berth(['create', '--pull', 'never', name]);
  assert.equal(createNever.code, 1);
  assert.equal(createNever.stderr, `Error response from daemon: No such image: ${name}\n`);

  const missing = await d.berth(['run', '--rm', name, 'cat', '/marker'], { timeoutMs: 60_000 });
  assert.equal(missing.code, 0, missing.stderr);
  assert.equal(missing.stdout, 'image-run\n');
  const err = missing.stderr.split('\n');
  assert.equal(err[0], `Unable to find image '${name}' locally`);
  assert.equal(err[1], 'v1: Pulling from cli/run');
  assert.match(missing.stderr, /\nStatus: Downloaded newer image for 127\.0\.0\.1:\d+\/cli\/run:v1\n$/);

  // docker run after the same rmi: the same first and last lines (the layer itself stayed in the daemon).
  await d.dockerOk(['rmi', name]);
  const missingD = await d.docker(['run', '--rm', name, 'cat', '/marker'], { timeoutMs: 60_000 });
  assert.equal(missingD.code, 0, missingD.stderr);
  const errD = missingD.stderr.split('\n');
  assert.deepEqual([err[0], err[1], ...err.slice(-3)], [errD[0], errD[1], ...errD.slice(-3)]);

  const always = await d.berth(['run', '--pull', 'always', '--rm', '-q', name, 'cat', '/marker'], { timeoutMs: 60_000 });
  assert.equal(always.code, 0, always.stderr);
  assert.equal(always.stdout, 'image-run\n');
  assert.equal(always.stderr, '', '-q: no pull progress');
  const alwaysLoud = await d.berth(['create', '--pull', 'always', name, 'cat', '/marker'], { timeoutMs: 60_000 });
  assert.equal(alwaysLoud.code, 0, alwaysLoud.stderr);
  assert.match(alwaysLoud.stderr, /Status: Image is up to date for 127\.0\.0\.1:\d+\/cli\/run:v1\n$/);
  assert.match(alwaysLoud.stdout, /^[0-9a-f]{64}\n$/);
});
