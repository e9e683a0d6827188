/**
 * Other clients and API versions: docker-py against berthd, the docker CLI pinned to older
 * API versions, paths with and without /vX.Y, and the /_ping handshake headers.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { ID64, run, useDaemon } from './harness';

const d = useDaemon();

/** Run a docker-py script; it prints one JSON document. */
async function py(script: string): Promise<any> {
  const r = await run('python3', ['-c', `import docker, json, sys\nc = docker.DockerClient(base_url='${d.host}')\n${script}`], { env: d.env(), timeoutMs: 60_000 });
  assert.equal(r.code, 0, `python failed (${r.code}):\n${r.stderr}`);
  return JSON.parse(r.stdout);
}

test('docker-py: version, ping, images.list and containers.run in the foreground', async () => {
  const got = await py(`
auto = docker.DockerClient(base_url='${d.host}', version='auto')
out = c.containers.run('busybox', ['sh', '-c', 'echo out; echo err >&2'], remove=True)
both = c.containers.run('busybox', ['sh', '-c', 'echo out; echo err >&2'], remove=True, stdout=True, stderr=True)
try:
    c.containers.run('busybox', ['sh', '-c', 'echo bad >&2; exit 3'], remove=True)
    failed = None
except docker.errors.ContainerError as e:
    failed = [e.exit_status, e.stderr.decode() if e.stderr else None]
try:
    c.images.get('no-such-image:1')
    missing = 'found'
except docker.errors.ImageNotFound as e:
    missing = e.explanation
try:
    c.containers.get('no-such-container')
    nocont = 'found'
except docker.errors.NotFound as e:
    nocont = e.explanation
print(json.dumps({
  'api': c.api.version()['ApiVersion'], 'auto': auto.api.api_version, 'ping': c.ping(),
  'tags': sorted(t for i in c.images.list() for t in i.tags), 'id': c.images.get('busybox').id,
  'out': out.decode(), 'both': both.decode(), 'failed': failed, 'missing': missing, 'nocont': nocont,
  'left': [x.name for x in c.containers.list(all=True)],
}))
`);
  const img = JSON.parse(await d.dockerOk(['image', 'inspect', 'busybox']))[0];
  assert.deepEqual(got, {
    api: '1.45', auto: '1.45', ping: true, tags: ['busybox:latest'], id: img.Id,
    out: 'out\n', both: 'out\nerr\n', failed: [3, 'bad\n'], missing: 'No such image: no-such-image:1', nocont: 'No such container: no-such-container',
    left: [],
  });
});

test('docker-py: containers.run detached, logs, exec_run, wait, stop, remove', async () => {
  const got = await py(`
import time
ct = c.containers.run('busybox', ['sh', '-c', 'trap "exit 5" TERM; echo ready; echo warn >&2; while true; do sleep 0.1; done'],
                      detach=True, name='pyc', environment={'K': 'v'}, hostname='pyhost', working_dir='/tmp')
first = ct.status
for _ in range(100):
    if b'warn' in ct.logs(): break
    time.sleep(0.05)
ct.reload()
running = [ct.status, ct.attrs['State']['Running'], ct.attrs['Config']['Hostname'], 'K=v' in ct.attrs['Config']['Env'], ct.attrs['Config']['WorkingDir']]
logs = [ct.logs().decode(), ct.logs(stderr=False).decode(), ct.logs(stdout=False).decode(), ct.logs(timestamps=True).decode().split(' ')[0][:2]]
listed = [x.name for x in c.containers.list()]
ex = ct.exec_run(['sh', '-c', 'echo in-$K; exit 2'])
execd = [ex.exit_code, ex.output.decode()]
ct.stop(timeout=5)
waited = ct.wait()
ct.reload()
after = [ct.status, ct.attrs['State']['ExitCode']]
ct.remove()
gone = [x.name for x in c.containers.list(all=True)]
short = c.containers.run('busybox', ['sh', '-c', 'exit 4'], detach=True)
code = short.wait(timeout=20)['StatusCode']
short.remove(force=True)
print(json.dumps({'id': ct.id, 'first': first, 'running': running, 'logs': logs, 'listed': listed, 'execd': execd, 'waited': waited, 'after': after, 'gone': gone, 'code': code}))
`);
  assert.match(got.id, ID64);
  assert.equal(got.first, 'created');
  assert.deepEqual(got.running, ['running', true, 'pyhost', true, '/tmp']);
  assert.deepEqual(got.logs, ['ready\nwarn\n', 'ready\n', 'warn\n', '20']);
  assert.deepEqual(got.listed, ['pyc']);
  assert.deepEqual(got.execd, [2, 'in-v\n']);
  assert.deepEqual(got.waited, { StatusCode: 5, Error: null });
  assert.deepEqual(got.after, ['exited', 5]);
  assert.deepEqual(got.gone, []);
  assert.equal(got.code, 4);
});

test('API version negotiation: the docker CLI pinned to older versions, prefixed and bare paths', async () => {
  const neg = await d.dockerOk(['version']);
  assert.match(neg, /^Client:\n[\s\S]* API version: +1\.45 \(downgraded from 1\.\d+\)\n/);
  assert.match(neg, /\nServer: Berth Engine\n Engine:\n[\s\S]*  API version: +1\.45 \(minimum version 1\.24\)\n[\s\S]*  Experimental: +false\n/);
  for (const v of ['1.41', '1.24']) {
    const env = { DOCKER_API_VERSION: v };
    const r = await d.docker(['version'], { env });
    assert.equal(r.code, 0, r.stderr);
    assert.match(r.stdout, new RegExp(` API version: +${v.replace('.', '\\.')}\\b`));
    assert.match(r.stdout, /  API version: +1\.45 \(minimum version 1\.24\)/);
    const out = await d.docker(['run', '--rm', 'busybox', 'echo', `api-${v}`], { env });
    assert.equal(out.code, 0, out.stderr);
    assert.equal(out.stdout, `api-${v}\n`);
    assert.equal((await d.docker(['ps', '-a', '-q'], { env })).code, 0);
  }
  for (const prefix of ['', '/v1.24', '/v1.41', '/v1.45']) {
    const ping = await d.api('GET', `${prefix}/_ping`);
    assert.equal(ping.status, 200, prefix);
    assert.equal(ping.body, 'OK');
    const ver = await d.api('GET', `${prefix}/version`);
    assert.equal(ver.status, 200, prefix);
    assert.equal(ver.json.ApiVersion, '1.45');
    assert.equal(ver.json.MinAPIVersion, '1.24');
    const list = await d.api('GET', `${prefix}/containers/json?all=1`);
    assert.equal(list.status, 200, prefix);
    assert.ok(Array.isArray(list.json));
    const imgs = await d.api('GET', `${prefix}/images/json`);
    assert.equal(imgs.status, 200, prefix);
    assert.ok(imgs.json.some((i: any) => i.RepoTags?.includes('busybox:latest')), prefix);
    const info = await d.api('GET', `${prefix}/info`);
    assert.equal(info.status, 200, prefix);
    assert.equal(info.json.Driver, 'overlay2');
  }
});

test('/_ping carries the handshake headers, for GET and HEAD', async () => {
  for (const method of ['GET', 'HEAD']) {
    const r = await d.api(method, '/_ping');
    assert.equal(r.status, 200, method);
    assert.equal(r.body, method === 'GET' ? 'OK' : '', method);
    const h = r.headers;
    assert.equal(h['api-version'], '1.45', method);
    assert.equal(h['docker-experimental'], 'false', method);
    assert.equal(h['ostype'], 'linux', method);
    assert.ok(['1', '2'].includes(String(h['builder-version'])), `${method} Builder-Version ${h['builder-version']}`);
    assert.equal(h['cache-control'], 'no-cache, no-store, must-revalidate', method);
    assert.equal(h['pragma'], 'no-cache', method);
    assert.match(String(h['content-type']), /^text\/plain/, method);
  }
  // Every response names the API version, errors included.
  const nf = await d.api('GET', '/containers/no-such/json');
  assert.equal(nf.status, 404);
  assert.equal(nf.headers['api-version'], '1.45');
  assert.match(String(nf.headers['content-type']), /^application\/json/);
});
