/**
 * Detach keys: typed into an attached stdin they end the client's stream and leave
 * the process running. In a TTY the docker CLI spots them itself (and the daemon must
 * keep the container alive when the client goes); without one, or for API clients,
 * berthd watches the stream for the request's `detachKeys` (ctrl-p,ctrl-q by default).
 */
import { after, test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { DOCKER, run, useDaemon, useDaemonWithArgs, waitFor } from './harness';

const d = useDaemon();
// A second daemon whose daemon.json sets another default sequence.
const configDir = mkdtempSync('/tmp/bi-dk-');
writeFileSync(join(configDir, 'daemon.json'), JSON.stringify({ 'detach-keys': 'ctrl-x,x' }));
const withDefault = useDaemonWithArgs(['--config-file', join(configDir, 'daemon.json')]);
after(() => rmSync(configDir, { recursive: true, force: true }));

/** A docker command in a pseudo-terminal; `keys` are typed once the CLI runs, the terminal stays open a while after. */
function inPty(args: string, keys: string) {
  const cmd = `exec ${DOCKER} -H ${d.host} ${args}`;
  const quote = (s: string) => `'${s.replace(/'/g, `'\\''`)}'`;
  return run('sh', ['-c', `(sleep 1; printf ${quote(keys)}; sleep 2) | script -qefc ${quote(cmd)} /dev/null`], { env: d.env(), timeoutMs: 30_000 });
}

const status = async (name: string) => d.dockerOk(['inspect', '-f', '{{.State.Status}}', name]);

test('run -it: ctrl-p ctrl-q detaches and the container keeps running; --detach-keys picks another sequence', async () => {
  const r = await inPty('run -it --name dk-run busybox sh', '\x10\x11');
  assert.equal(r.code, 0, r.stdout + r.stderr);
  assert.equal(await status('dk-run'), 'running');
  const r2 = await inPty('run -it --detach-keys ctrl-x,x --name dk-run2 busybox sh', '\x18x');
  assert.equal(r2.code, 0, r2.stdout + r2.stderr);
  assert.equal(await status('dk-run2'), 'running');
  // attach and detach again: still running.
  const r3 = await inPty('attach dk-run', '\x10\x11');
  assert.match(r3.stdout, /read escape sequence/);
  assert.equal(await status('dk-run'), 'running');
  await d.dockerOk(['rm', '-f', 'dk-run', 'dk-run2']);
});

test('exec -it: the detach keys end the exec session and leave its process running', async () => {
  await d.dockerOk(['run', '-d', '--name', 'dk-exec', 'busybox', 'sleep', '1000']);
  const r = await inPty('exec -it dk-exec sh -c "echo in-exec; exec cat"', '\x10\x11');
  assert.match(r.stdout, /read escape sequence/);
  const top = await d.dockerOk(['top', 'dk-exec']);
  assert.match(top, /\bcat\b/, 'the exec process still runs');
  assert.equal(await status('dk-exec'), 'running');
  await d.dockerOk(['rm', '-f', 'dk-exec']);
});

test('attach without a TTY: berthd spots the request\'s detachKeys, closes the stream, and stdin stays open', async () => {
  await d.dockerOk(['run', '-d', '-i', '--name', 'dk-api', 'busybox', 'sh', '-c', 'while read l; do echo "got:$l"; done; echo stdin-closed']);
  const script = `import docker, json
c = docker.DockerClient(base_url='${d.host}')
def attach(keys, payload):
    params = {'stdin': 1, 'stdout': 1, 'stream': 1}
    if keys: params['detachKeys'] = keys
    s = c.api.attach_socket('dk-api', params=params)._sock
    s.sendall(payload)
    s.settimeout(10)
    while s.recv(4096):
        pass
attach('ctrl-x', b'one\\n\\x18dropped\\n')
attach(None, b'two\\n\\x10\\x11dropped\\n')
bad = c.api._post(c.api._url('/containers/dk-api/attach'), params={'stdin': 1, 'stream': 1, 'detachKeys': 'ctrl-'})
print(json.dumps({'bad': bad.status_code}))
`;
  const r = await run('python3', ['-c', script], { env: d.env(), timeoutMs: 60_000 });
  assert.equal(r.code, 0, r.stderr);
  assert.equal(JSON.parse(r.stdout).bad, 400);
  await waitFor('both lines in the logs', async () => (await d.dockerOk(['logs', 'dk-api'])) === 'got:one\ngot:two');
  assert.equal(await status('dk-api'), 'running');
  await d.dockerOk(['rm', '-f', 'dk-api']);
});

test('start -ai: the detach keys leave the restarted container running', async () => {
  await d.dockerOk(['create', '-it', '--name', 'dk-start', 'busybox', 'sh']);
  const r = await inPty('start -ai dk-start', '\x10\x11');
  // As for run: the CLI detaches quietly and exits 0.
  assert.equal(r.code, 0, r.stdout + r.stderr);
  assert.equal(await status('dk-start'), 'running');
  await d.dockerOk(['rm', '-f', 'dk-start']);
});

test('daemon.json detach-keys is the default sequence of attach streams that name none', async () => {
  await withDefault.dockerOk(['run', '-d', '-i', '--name', 'dk-conf', 'busybox', 'sh', '-c', 'while read l; do echo "got:$l"; done']);
  const script = `import docker
c = docker.DockerClient(base_url='${withDefault.host}')
s = c.api.attach_socket('dk-conf', params={'stdin': 1, 'stdout': 1, 'stream': 1})._sock
s.sendall(b'one\\n\\x10\\x11two\\n\\x18xdropped\\n')
s.settimeout(10)
while s.recv(4096):
    pass
`;
  const r = await run('python3', ['-c', script], { env: withDefault.env(), timeoutMs: 60_000 });
  assert.equal(r.code, 0, r.stderr);
  // ctrl-p ctrl-q is plain input under this daemon's default; ctrl-x x detaches.
  await waitFor('the lines before the sequence', async () => (await withDefault.dockerOk(['logs', 'dk-conf'])).startsWith('got:one'));
  const logs = await withDefault.dockerOk(['logs', 'dk-conf']);
  assert.match(logs, /two/);
  assert.doesNotMatch(logs, /dropped/);
  assert.equal(await withDefault.dockerOk(['inspect', '-f', '{{.State.Status}}', 'dk-conf']), 'running');
  await withDefault.dockerOk(['rm', '-f', 'dk-conf']);
});
