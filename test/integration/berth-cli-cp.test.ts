/**
 * berth's rename, cp, container/system prune, inspect --type and container port side by
 * side with the real docker CLI on one berthd: same exit code, stdout and stderr ("docker"
 * read as "berth"), and for cp the same files where they land. Hostile archives must not
 * let `berth cp` write outside its destination on the host.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { lstatSync, mkdirSync, readFileSync, readdirSync, readlinkSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { Readable } from 'node:stream';
import * as tar from 'tar-stream';
import { type RunResult, useDaemon } from './harness';

const d = useDaemon();

/**
 * Same exit code, stdout and stderr. docker's tar goroutine may log its closed pipe (with a
 * timestamp) when the daemon refuses an upload early: those log lines are not compared.
 */
function check(a: RunResult, b: RunResult, what: string, fix: (s: string) => string = (s) => s): void {
  a = { ...a, stderr: a.stderr.replace(/^time=".*\n/gm, '') };
  assert.equal(b.code, a.code, `berth ${what}: exit ${b.code}, docker exits ${a.code}\nberth stderr: ${b.stderr}\ndocker stderr: ${a.stderr}`);
  assert.equal(fix(b.stdout), fix(a.stdout), `berth ${what}: stdout differs`);
  assert.equal(fix(b.stderr), fix(a.stderr.replace(/\bdocker\b/g, 'berth')), `berth ${what}: stderr differs`);
}

/** The same command with both CLIs; only for commands that change nothing (or fail). */
async function same(args: string[], input?: string | Buffer): Promise<RunResult> {
  const opts = input === undefined ? {} : { input };
  const a = await d.docker(args, opts);
  const b = await d.berth(args, opts);
  check(a, b, args.join(' '));
  return b;
}

/** Every entry under `dir` with its type, mode, size and link target: what a copy produced. */
function listing(dir: string): string[] {
  const out: string[] = [];
  const walk = (p: string, rel: string) => {
    for (const name of readdirSync(p).sort()) {
      const full = join(p, name);
      const st = lstatSync(full);
      const r = rel ? `${rel}/${name}` : name;
      out.push(`${r} ${st.mode.toString(8)} ${st.isFile() ? st.size : ''} ${st.isSymbolicLink() ? readlinkSync(full) : ''}`);
      if (st.isDirectory()) walk(full, r);
    }
  };
  walk(dir, '');
  return out;
}

async function tarOf(entries: (Partial<tar.Header> & { name: string; body?: string })[]): Promise<Buffer> {
  const pack = tar.pack();
  for (const e of entries) {
    await new Promise<void>((resolve, reject) => pack.entry({ mode: 0o644, ...e }, e.body ?? '', (err) => (err ? reject(err) : resolve())));
  }
  pack.finalize();
  const chunks: Buffer[] = [];
  for await (const c of pack as unknown as Readable) chunks.push(c as Buffer);
  return Buffer.concat(chunks);
}

test('rename and container rename: success, the daemon refusals and the usage errors', async () => {
  await d.dockerOk(['create', '--name', 'rn-a', 'busybox', 'true']);
  await same(['rename', 'nosuch', 'x']);
  await same(['rename', 'rn-a']);
  await same(['container', 'rename', 'rn-a', 'rn-a']);
  await same(['rename', 'rn-a', ' ']);
  await same(['rename', 'rn-a', 'bad/name']);
  assert.equal((await d.berth(['rename', 'rn-a', 'rn-b'])).code, 0);
  assert.equal((await d.docker(['container', 'rename', 'rn-b', 'rn-c'])).code, 0);
  const b = await d.berth(['container', 'rename', 'rn-c', 'rn-d']);
  assert.deepEqual([b.code, b.stdout, b.stderr], [0, '', '']);
  assert.equal(await d.dockerOk(['inspect', '--format', '{{.Name}}', 'rn-d']), '/rn-d');
  await d.dockerOk(['create', '--name', 'rn-e', 'busybox', 'true']);
  await same(['rename', 'rn-d', 'rn-e']);
  await d.dockerOk(['rm', 'rn-d', 'rn-e']);
});

test('inspect finds volumes and networks without --type, and takes every --type docker names', async () => {
  await d.dockerOk(['volume', 'create', 'insp-v']);
  await d.dockerOk(['network', 'create', 'insp-n']);
  await d.dockerOk(['create', '--name', 'insp-c', 'busybox', 'true']);
  await same(['inspect', '--format', '{{.Name}}', 'insp-v', 'insp-n', 'insp-c', 'nosuch']);
  await same(['inspect', 'insp-v']);
  await same(['inspect', '--type', 'volume', 'insp-v', 'nosuch']);
  await same(['inspect', '--type', 'network', '--format', '{{.Name}} {{.Driver}}', 'insp-n', 'nosuch']);
  await same(['inspect', '--type', 'container', '--format', '{{.Name}}', 'insp-v']);
  await same(['inspect', '--type', 'image', '--format', '{{.Id}}', 'nosuch']);
  await same(['inspect', '--type', 'bogus', 'x']);
  await same(['inspect', '--type', '', 'x']);
  await same(['inspect', '--type', 'plugin', 'x']);
  await same(['inspect', '-s', '--format', '{{.Name}}', 'insp-v']);
  await same(['inspect', 'UPPER']);
  await same(['volume', 'inspect', '--format', '{{.Name}}', 'nosuch']);
  await d.dockerOk(['rm', 'insp-c']);
  await d.dockerOk(['volume', 'rm', 'insp-v']);
  await d.dockerOk(['network', 'rm', 'insp-n']);
});

test('container port is port; both word a wrong argument count as docker', async () => {
  await d.dockerOk(['create', '--name', 'port-c', '-p', '127.0.0.1::80', 'busybox', 'true']);
  await same(['container', 'port', 'port-c']);
  await same(['container', 'port']);
  await same(['port']);
  await same(['container', 'port', 'a', 'b', 'c']);
  await same(['container', 'port', 'port-c', '81']);
  await d.dockerOk(['rm', 'port-c']);
});

test('container prune and system prune: the questions, a no, a yes, -f and the refusals', async () => {
  await same(['container', 'prune', 'extra']);
  await same(['system', 'prune', 'extra']);
  await same(['container', 'prune'], 'n\n');
  await same(['container', 'prune'], '');
  await same(['system', 'prune'], 'no\n');
  await same(['system', 'prune', '-a', '--volumes', '--filter', 'label=a=b', '--filter', 'label!=c'], 'n\n');
  await same(['system', 'prune', '--filter', 'until=1h', '--filter', 'label=x'], 'N\n');
  await same(['system', 'prune', '-f', '--volumes', '--filter', 'until=1h']);
  await same(['container', 'prune', '-f', '--filter', 'bogus']);
  await same(['system', 'prune', '--filter', 'bogus']);
  await same(['image', 'prune', '-f', '--filter', 'bogus']);
  await same(['volume', 'prune', '--filter', 'bogus']);
  await same(['volume', 'ls', '--filter', 'bogus']);
  const ids = (s: string) => s.replace(/\b[0-9a-f]{64}\b/g, 'ID');
  for (const answer of ['y\n', 'Y\n']) {
    await d.dockerOk(['create', '--name', 'pr-1', 'busybox', 'true']);
    const a = await d.docker(['container', 'prune'], { input: answer });
    await d.dockerOk(['create', '--name', 'pr-1', 'busybox', 'true']);
    const b = await d.berth(['container', 'prune'], { input: answer });
    check(a, b, 'container prune', ids);
    assert.match(b.stdout, /Deleted Containers:\n[0-9a-f]{64}\n\nTotal reclaimed space: 0B\n$/);
  }
  // A label filter keeps what it does not match.
  await d.dockerOk(['create', '--name', 'pr-keep', 'busybox', 'true']);
  await d.dockerOk(['create', '--name', 'pr-go', '--label', 'prune=me', 'busybox', 'true']);
  const kept = await d.berth(['container', 'prune', '-f', '--filter', 'label=prune=me']);
  assert.match(kept.stdout, /^Deleted Containers:\n[0-9a-f]{64}\n\nTotal reclaimed space: 0B\n$/);
  assert.equal(await d.dockerOk(['ps', '-a', '--format', '{{.Names}}', '--filter', 'name=pr-']), 'pr-keep');
  await d.dockerOk(['rm', 'pr-keep']);

  // system prune -f: containers, networks and (with --volumes) anonymous volumes, in docker's blocks.
  const setUp = async () => {
    await d.dockerOk(['create', '--name', 'sp-c', 'busybox', 'true']);
    await d.dockerOk(['network', 'create', 'sp-net']);
    await d.dockerOk(['volume', 'create', '--label', 'com.docker.volume.anonymous=', 'sp-anon']);
  };
  await setUp();
  const a = await d.docker(['system', 'prune', '-f', '--volumes']);
  await setUp();
  const b = await d.berth(['system', 'prune', '-f', '--volumes']);
  check(a, b, 'system prune -f --volumes', ids);
  assert.match(b.stdout, /^Deleted Containers:\n[0-9a-f]{64}\n\nDeleted Networks:\nsp-net\n\n/);
  await same(['volume', 'prune'], 'n\n');
  await same(['image', 'prune'], 'yes\n');
});

test('cp from a container: files, trees, contents, links, renames and the errors, as docker lands them', async () => {
  await d.dockerOk(['run', '-d', '--name', 'cpf', 'busybox', 'sh', '-c',
    'mkdir -p /src/tree/sub && echo A > /src/tree/a && chmod 600 /src/tree/a && echo B > /src/tree/sub/b && ln -s a /src/tree/la && ln -s / /src/tree/root && ' +
    'ln -s tree /src/ltree && ln /src/tree/a /src/tree/hard && echo F > /src/f.txt && ln -s f.txt /src/lf && echo ready && sleep 1000']);
  await d.waitForLog('cpf', 'ready');
  const cases: [string, string][] = [
    ['cpf:/src/tree', ''], ['cpf:/src/tree', 'new'], ['cpf:/src/tree/.', 'new'], ['cpf:/src/tree/.', 'pre'], ['cpf:/src/tree/', 'pre/'],
    ['cpf:/src/f.txt', ''], ['cpf:/src/f.txt', 'g'], ['cpf:/src/f.txt', 'pre/'], ['cpf:/src/f.txt', 'pre/file'], ['cpf:/src/lf', ''],
    ['-L cpf:/src/lf', ''], ['-L cpf:/src/lf', 'x'], ['-L cpf:/src/ltree', ''], ['-L cpf:/src/ltree/', 'pre'], ['cpf:/src/tree/root', 'r'],
    ['cpf:/src/tree/a', 'pre/nosub/'], ['cpf:/src/tree', 'pre/file'], ['cpf:/nosuch', ''], ['cpf:/src/f.txt', 'nodir/x'], ['nosuch:/etc', ''],
  ];
  for (const [src, dst] of cases) {
    const results: RunResult[] = [];
    const trees: string[][] = [];
    for (const who of ['docker', 'berth'] as const) {
      const dir = join(d.dir, `cpf-${who}`);
      rmSync(dir, { recursive: true, force: true });
      mkdirSync(join(dir, 'pre'), { recursive: true });
      writeFileSync(join(dir, 'pre', 'file'), 'old\n');
      const args = ['cp', ...src.split(' '), `${dir}/${dst}`];
      results.push(await (who === 'docker' ? d.docker(args) : d.berth(args)));
      trees.push(listing(dir));
    }
    const what = `cp ${src} ${dst}`;
    check(results[0]!, results[1]!, what, (s) => s.replace(/cpf-(docker|berth)/g, 'cpf-X'));
    assert.deepEqual(trees[1], trees[0], `${what}: the copies differ`);
  }
  // A tar on stdout, byte for byte the daemon's.
  const a = await d.docker(['cp', 'cpf:/src', '-']);
  const b = await d.berth(['cp', 'cpf:/src', '-']);
  check(a, b, 'cp cpf:/src -');
  await same(['cp', 'cpf:/src/f.txt', '/dev/null']);
  await same(['cp', 'cpf:/src', `${d.dir}/no/such/dir/x`]);
  await same(['cp', 'cpf:/src', 'cpf:/x']);
  await same(['cp', 'a', 'b']);
  await same(['cp', '', 'cpf:/']);
  await same(['cp', 'cpf:/', '']);
  await same(['cp', 'only-one']);
  await same(['container', 'cp']);
  await d.dockerOk(['rm', '-f', 'cpf']);
});

test('cp into a container: the same files land as with docker, and the same refusals', async () => {
  await d.dockerOk(['run', '-d', '--name', 'cpt', 'busybox', 'sleep', '1000']);
  const src = join(d.dir, 'cpt-src');
  mkdirSync(join(src, 'tree', 'sub'), { recursive: true });
  writeFileSync(join(src, 'tree', 'a'), 'A\n', { mode: 0o640 });
  writeFileSync(join(src, 'tree', 'sub', 'b'), 'B\n');
  writeFileSync(join(src, 'f.txt'), 'F\n');
  symlinkSync('a', join(src, 'tree', 'la'));
  symlinkSync('tree', join(src, 'ltree'));
  symlinkSync('f.txt', join(src, 'lf'));
  const cases: [string, string][] = [
    ['tree', ''], ['tree', '/new'], ['tree/.', '/new'], ['tree/.', '/pre'], ['f.txt', '/'], ['f.txt', '/file'], ['-a f.txt', '/g'],
    ['lf', ''], ['-L lf', ''], ['-L ltree', '/pre'], ['ltree/', '/pre'], ['tree', '/file'], ['f.txt', '/nodir/'], ['tree/', '/file/'],
    ['nosuch', ''], ['f.txt/', ''], ['f.txt', '/nodir/x'],
  ];
  const show = async (dir: string) => d.dockerOk(['exec', 'cpt', 'sh', '-c', `cd ${dir} && find . | sort | while read f; do stat -c "%n %A %s %u:%g" "$f"; done`]);
  for (const [from, to] of cases) {
    const results: RunResult[] = [];
    const trees: string[] = [];
    for (const who of ['docker', 'berth'] as const) {
      const dir = `/cpt-${who}`;
      await d.dockerOk(['exec', 'cpt', 'sh', '-c', `rm -rf ${dir} && mkdir -p ${dir}/pre && echo x > ${dir}/file`]);
      const flags = from.split(' ');
      const path = flags.pop()!;
      const args = ['cp', ...flags, join(src, path) + (path.endsWith('/') ? '/' : ''), `cpt:${dir}${to}`];
      results.push(await (who === 'docker' ? d.docker(args) : d.berth(args)));
      trees.push(await show(dir));
    }
    const what = `cp ${from} cpt:${to}`;
    check(results[0]!, results[1]!, what, (s) => s.replace(/cpt-(docker|berth)/g, 'cpt-X'));
    assert.equal(trees[1], trees[0], `${what}: the copies differ`);
  }
  const tarIn = await tarOf([{ name: 'dir/', type: 'directory', mode: 0o755 }, { name: 'dir/x', body: 'X\n' }]);
  for (const [args, input] of [[['cp', '-', 'cpt:/tmp'], tarIn], [['cp', '-', 'cpt:/etc/passwd'], tarIn], [['cp', '-', 'nosuch:/'], tarIn]] as const) {
    await same([...args], input);
  }
  assert.equal(await d.dockerOk(['exec', 'cpt', 'cat', '/tmp/dir/x']), 'X');
  await same(['cp', join(src, 'f.txt'), 'nosuch:/']);
  await d.dockerOk(['rm', '-f', 'cpt']);
});

test('cp - CONTAINER:/dir with a hostile tar: what the daemon refuses both CLIs refuse, nothing reaches the host', async () => {
  const secret = join(d.dir, 'host-secret');
  writeFileSync(secret, 'HOST\n');
  await d.dockerOk(['run', '-d', '--name', 'cph', 'busybox', 'sh', '-c', `mkdir -p /dir ${d.dir} && echo INNER > ${secret} && echo ready && sleep 1000`]);
  await d.waitForLog('cph', 'ready');
  const hostile = [
    await tarOf([{ name: `../../../../..${secret}`, body: 'CLIMB\n' }]),
    await tarOf([{ name: `${secret}`, body: 'ABS\n' }]),
    await tarOf([{ name: 'out', type: 'symlink', linkname: '/' }, { name: `out${secret}`, body: 'THROUGH\n' }]),
  ];
  for (const t of hostile) await same(['cp', '-', 'cph:/dir'], t);
  assert.equal(readFileSync(secret, 'utf8'), 'HOST\n', 'the host file is untouched');

  // Out of the container: a link to / inside is copied as a link and never written through.
  await d.dockerOk(['exec', 'cph', 'sh', '-c', 'mkdir -p /out /up && ln -s / /out/escape && echo in > /out/file && ln -s ../../../../../.. /up/link']);
  const dest = join(d.dir, 'cph-out');
  mkdirSync(dest);
  const r = await d.berth(['cp', 'cph:/out', dest]);
  assert.equal(r.code, 0, r.stderr);
  assert.ok(lstatSync(join(dest, 'out', 'escape')).isSymbolicLink());
  assert.equal(readFileSync(join(dest, 'out', 'file'), 'utf8'), 'in\n');
  const e = await d.berth(['cp', 'cph:/out/escape/etc/hostname', join(dest, 'h')]);
  assert.equal(e.code, 0, e.stderr);
  assert.equal(readFileSync(join(dest, 'h'), 'utf8'), `${await d.dockerOk(['exec', 'cph', 'cat', '/etc/hostname'])}\n`);
  // A relative link climbing out of the destination is refused by both CLIs alike.
  const results: RunResult[] = [];
  for (const who of ['docker', 'berth'] as const) {
    const dir = join(d.dir, `cph-up-${who}`);
    mkdirSync(dir);
    const args = ['cp', 'cph:/up', dir];
    results.push(await (who === 'docker' ? d.docker(args) : d.berth(args)));
  }
  check(results[0]!, results[1]!, 'cp cph:/up DIR', (s) => s.replace(/cph-up-(docker|berth)/g, 'cph-up-X'));
  assert.equal(results[1]!.code, 1);
  assert.equal(readFileSync(secret, 'utf8'), 'HOST\n', 'the host file is untouched');
  await d.dockerOk(['rm', '-f', 'cph']);
});
