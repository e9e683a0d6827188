// Builds under berthd --userns-remap=default: COPY, ADD and WORKDIR write files whose
// owners on disk are shifted into the remapped range, so that a container of the built
// image (and the build's own RUN steps) sees them as the intended owners.
import assert from 'node:assert/strict';
import { chmodSync, readFileSync, statSync } from 'node:fs';
import { test } from 'node:test';
import * as tar from 'tar-stream';
import { useDaemonWithArgs } from './harness';

const d = useDaemonWithArgs(['--userns-remap=default']);
chmodSync(d.dir, 0o711);

async function tarOf(entries: { name: string; body?: string; type?: 'directory'; uid?: number; gid?: number; mode?: number }[]): Promise<Buffer> {
  const pack = tar.pack();
  for (const e of entries) pack.entry({ name: e.name, type: e.type ?? 'file', uid: e.uid ?? 0, gid: e.gid ?? 0, mode: e.mode ?? (e.type ? 0o755 : 0o644) }, e.body ?? '');
  pack.finalize();
  const chunks: Buffer[] = [];
  for await (const c of pack as unknown as AsyncIterable<Buffer>) chunks.push(c);
  return Buffer.concat(chunks);
}

test('COPY, ADD and WORKDIR owners are shifted on disk: inside, root and --chown owners are what they were meant to be', async () => {
  const start = Number(readFileSync('/etc/subuid', 'utf8').split('\n').find((l) => l.startsWith('berth-remap:'))!.split(':')[1]);
  assert.ok(start >= 100000);
  const inner = await tarOf([{ name: 'x/owned', body: 'from the archive\n', uid: 5, gid: 6 }]);
  const context = await tarOf([
    {
      name: 'Dockerfile',
      body: [
        'FROM busybox',
        'COPY a.txt /a.txt',
        'COPY --chown=1234:2345 b.txt /b.txt',
        'COPY d /d/',
        'ADD inner.tar /t/',
        'COPY <<EOF /h.txt',
        'heredoc',
        'EOF',
        'WORKDIR /w/deep',
        // root in the build container may write the root-owned file COPY made
        'RUN echo appended >> /a.txt && touch /w/deep/made',
        'CMD ["stat", "-c", "%u:%g %n", "/a.txt", "/b.txt", "/d", "/d/f", "/t/x/owned", "/h.txt", "/w", "/w/deep/made"]',
      ].join('\n') + '\n',
    },
    { name: 'a.txt', body: 'a\n', uid: 1000, gid: 1000 },
    { name: 'b.txt', body: 'b\n' },
    { name: 'd/', type: 'directory' },
    { name: 'd/f', body: 'f\n', uid: 77, gid: 77 },
    { name: 'inner.tar', body: inner.toString('latin1') },
  ]);
  const r = await d.docker(['build', '-t', 'ub:1', '-'], { env: { DOCKER_BUILDKIT: '0' }, timeoutMs: 120_000, input: context });
  assert.equal(r.code, 0, `${r.stdout}\n${r.stderr}`);
  const out = await d.dockerOk(['run', '--rm', 'ub:1']);
  assert.deepEqual(out.trim().split('\n'), [
    '0:0 /a.txt', '1234:2345 /b.txt', '0:0 /d', '0:0 /d/f', '5:6 /t/x/owned', '0:0 /h.txt', '0:0 /w', '0:0 /w/deep/made',
  ]);
  assert.equal(await d.dockerOk(['run', '--rm', 'ub:1', 'cat', '/a.txt']), 'a\nappended');
  // on the host the files belong to the remapped range
  const id = (await d.dockerOk(['run', '-d', 'ub:1', 'sleep', '60'])).trim();
  try {
    const pid = Number((await d.dockerOk(['inspect', '-f', '{{.State.Pid}}', id])).trim());
    assert.equal(statSync(`/proc/${pid}/root/b.txt`).uid, start + 1234);
    assert.equal(statSync(`/proc/${pid}/root/a.txt`).uid, start);
  } finally {
    await d.docker(['rm', '-f', id]);
  }
});

test('RUN --mount=type=cache under userns: root in the step may write the cache, and the next build sees what it wrote', async () => {
  const df = (n: number) => `FROM busybox\nRUN --mount=type=cache,target=/cache,id=userns-cache echo run${n} >> /cache/log && cat /cache/log > /seen\nCMD ["cat", "/seen"]\n`;
  for (const n of [1, 2]) {
    const r = await d.docker(['build', '--no-cache', '-t', `ucache:${n}`, '-'], { env: { DOCKER_BUILDKIT: '0' }, timeoutMs: 120_000, input: df(n) });
    assert.equal(r.code, 0, `${r.stdout}\n${r.stderr}`);
  }
  assert.equal(await d.dockerOk(['run', '--rm', 'ucache:2']), 'run1\nrun2');
  // a uid= option is the container's uid too
  const r = await d.docker(['build', '--no-cache', '-t', 'ucache:3', '-'], {
    env: { DOCKER_BUILDKIT: '0' }, timeoutMs: 120_000,
    input: 'FROM busybox\nRUN --mount=type=cache,target=/c,id=userns-owned,uid=1000,gid=1000 stat -c %u:%g /c > /owner\nCMD ["cat", "/owner"]\n',
  });
  assert.equal(r.code, 0, `${r.stdout}\n${r.stderr}`);
  assert.equal(await d.dockerOk(['run', '--rm', 'ucache:3']), '1000:1000');
});
