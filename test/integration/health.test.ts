/**
 * Health checks through the docker CLI and docker-py against a real berthd: --health-* flags,
 * an image's HEALTHCHECK (made with commit --change), --no-healthcheck, timeouts, State.Health,
 * ps STATUS and --filter health, health_status events, and probes that go on after berthd
 * is killed and started again.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { run, useDaemon, waitFor } from './harness';

const d = useDaemon();
const now = () => Math.floor(Date.now() / 1000);

const health = async (id: string) => (await d.inspect(id)).State.Health as { Status: string; FailingStreak: number; Log: { Start: string; End: string; ExitCode: number; Output: string }[] } | undefined;

async function py(script: string): Promise<any> {
  const r = await run('python3', ['-c', `import docker, json\nc = docker.DockerClient(base_url='${d.host}')\n${script}`], { env: d.env(), timeoutMs: 60_000 });
  assert.equal(r.code, 0, `python failed (${r.code}):\n${r.stderr}`);
  return JSON.parse(r.stdout);
}

test('--health-cmd: starting, unhealthy after the retries, healthy once the check passes; ps status and filters; events', async () => {
  const since = now();
  const id = await d.dockerOk(['run', '-d', '--name', 'hc', '--health-cmd', 'test -e /tmp/ok && echo fine', '--health-interval', '200ms', '--health-retries', '2', '--health-timeout', '5s', 'busybox', 'sleep', '600']);
  const plain = await d.dockerOk(['run', '-d', '--name', 'no-hc', 'busybox', 'sleep', '600']);
  const first = await health(id);
  assert.ok(first, 'State.Health is set');
  // two failed checks (400 ms) can pass between the inspect and the ps
  if (first.Status === 'starting') assert.match(await d.dockerOk(['ps', '--filter', 'name=^/hc$', '--format', '{{.Status}}']), /^Up .+ \((health: starting|unhealthy)\)$/);
  await waitFor('unhealthy', async () => (await health(id))?.Status === 'unhealthy', 20_000, 100);
  const sick = (await health(id))!;
  assert.ok(sick.FailingStreak >= 2, `FailingStreak ${sick.FailingStreak}`);
  assert.equal(sick.Log.at(-1)!.ExitCode, 1);
  assert.match(await d.dockerOk(['ps', '--filter', 'name=^/hc$', '--format', '{{.Status}}']), /^Up .+ \(unhealthy\)$/);
  assert.equal(await d.dockerOk(['ps', '--filter', 'health=unhealthy', '--format', '{{.Names}}']), 'hc');

  await d.dockerOk(['exec', id, 'touch', '/tmp/ok']);
  await waitFor('healthy', async () => (await health(id))?.Status === 'healthy', 20_000, 100);
  const well = (await health(id))!;
  assert.equal(well.FailingStreak, 0);
  const last = well.Log.at(-1)!;
  assert.equal(last.ExitCode, 0);
  assert.equal(last.Output, 'fine\n');
  assert.ok(Date.parse(last.End) >= Date.parse(last.Start));
  assert.ok(well.Log.length <= 5);
  await waitFor('five results kept', async () => (await health(id))!.Log.length === 5, 20_000, 100);
  assert.match(await d.dockerOk(['ps', '--filter', 'name=^/hc$', '--format', '{{.Status}}']), /^Up .+ \(healthy\)$/);
  assert.equal(await d.dockerOk(['ps', '--filter', 'health=healthy', '--format', '{{.Names}}']), 'hc');
  assert.equal(await d.dockerOk(['ps', '--filter', 'health=none', '--format', '{{.Names}}']), 'no-hc');
  const bad = await d.docker(['ps', '--filter', 'health=great']);
  assert.notEqual(bad.code, 0);
  assert.match(bad.stderr, /invalid filter 'health=great': invalid value for health \(great\): must be one of none, starting, healthy, unhealthy/);

  const events = await d.dockerOk(['events', '--since', String(since), '--until', String(now() + 1), '--filter', `container=${id}`, '--filter', 'event=health_status', '--format', '{{.Action}}']);
  assert.deepEqual(events.split('\n').filter((l) => l.startsWith('health_status')).slice(0, 2), ['health_status: unhealthy', 'health_status: healthy']);
  // docker-py reads the same state.
  const seen = await py(`ct = c.containers.get('${id}')\nprint(json.dumps(ct.health))`);
  assert.equal(seen, 'healthy');
  await d.dockerOk(['rm', '-f', id, plain]);
});

test("an image's HEALTHCHECK runs; the container's flags override it field by field; --no-healthcheck turns it off", async () => {
  const base = await d.dockerOk(['create', 'busybox', 'true']);
  await d.dockerOk(['commit', '--change', 'HEALTHCHECK --interval=200ms --retries=1 CMD ["false"]', base, 'hc-image']);
  const img = JSON.parse(await d.dockerOk(['image', 'inspect', 'hc-image']))[0];
  assert.deepEqual(img.Config.Healthcheck, { Test: ['CMD', 'false'], Interval: 200_000_000, Retries: 1 });
  const sick = await d.dockerOk(['run', '-d', 'hc-image', 'sleep', '600']);
  await waitFor('unhealthy from the image check', async () => (await health(sick))?.Status === 'unhealthy', 20_000, 100);
  const fixed = await d.dockerOk(['run', '-d', '--health-cmd', 'true', 'hc-image', 'sleep', '600']);
  const cfg = (await d.inspect(fixed)).Config.Healthcheck;
  assert.deepEqual(cfg, { Test: ['CMD-SHELL', 'true'], Interval: 200_000_000, Retries: 1 });
  await waitFor('healthy with the override', async () => (await health(fixed))?.Status === 'healthy', 20_000, 100);
  const off = await d.dockerOk(['run', '-d', '--no-healthcheck', 'hc-image', 'sleep', '600']);
  assert.equal(await health(off), undefined);
  assert.match(await d.dockerOk(['ps', '--filter', `id=${off}`, '--format', '{{.Status}}']), /^Up [^(]+$/);
  await d.dockerOk(['rm', '-f', sick, fixed, off, base]);
  await d.dockerOk(['rmi', 'hc-image']);
});

test('a probe past --health-timeout fails with dockerd\'s message; bad durations are refused', async () => {
  const id = await d.dockerOk(['run', '-d', '--health-cmd', 'sleep 30', '--health-timeout', '300ms', '--health-interval', '200ms', '--health-retries', '1', 'busybox', 'sleep', '600']);
  await waitFor('unhealthy', async () => (await health(id))?.Status === 'unhealthy', 20_000, 100);
  const r = (await health(id))!.Log[0]!;
  assert.equal(r.ExitCode, -1);
  assert.equal(r.Output, 'Health check exceeded timeout (300ms)');
  // The timed-out probe was killed, not left running.
  await waitFor('no probe left', async () => !(await d.dockerOk(['top', id, '-o', 'pid,args'])).includes('sleep 30'), 10_000, 200);
  const res = await d.api('POST', '/containers/create', { Image: 'busybox', Cmd: ['true'], Healthcheck: { Test: ['CMD', 'true'], Interval: 1000 } });
  assert.equal(res.status, 400);
  assert.equal(res.json.message, 'Interval in Healthcheck cannot be less than 1ms');
  await d.dockerOk(['rm', '-f', id]);
});

test('health checks go on after berthd is killed and started again', async () => {
  const id = await d.dockerOk(['run', '-d', '--health-cmd', 'true', '--health-interval', '200ms', 'busybox', 'sleep', '600']);
  await waitFor('healthy', async () => (await health(id))?.Status === 'healthy', 20_000, 100);
  await d.kill();
  const down = Date.now();
  await d.start();
  await waitFor('a probe after the restart', async () => (await health(id))!.Log.some((l) => Date.parse(l.Start) > down), 20_000, 100);
  assert.equal((await health(id))!.Status, 'healthy');
  // A stop ends the probes and, as dockerd has it, leaves the status unhealthy; the results stay.
  await d.dockerOk(['stop', '-t', '1', id]);
  await waitFor('unhealthy once stopped', async () => (await health(id))!.Status === 'unhealthy', 5_000, 50);
  const results = (await health(id))!.Log.length;
  assert.ok(results > 0);
  await d.dockerOk(['restart', '-t', '0', id]);
  await waitFor('probed again after the restart', async () => (await health(id))?.Status === 'healthy', 20_000, 100);
  await d.dockerOk(['rm', '-f', id]);
});

test('berth run --health-* and --restart; berth ps shows the health', async () => {
  const r = await d.berth(['run', '-d', '--name', 'berth-hc', '--health-cmd', 'true', '--health-interval', '200ms', 'busybox', 'sleep', '600']);
  assert.equal(r.code, 0, r.stderr);
  const id = r.stdout.trim();
  await waitFor('healthy', async () => (await health(id))?.Status === 'healthy', 20_000, 100);
  const ps = await d.berth(['ps', '--filter', 'health=healthy', '--format', '{{.Names}} {{.Status}}']);
  assert.equal(ps.code, 0, ps.stderr);
  assert.match(ps.stdout.trim(), /^berth-hc Up .+ \(healthy\)$/);
  const bad = await d.berth(['run', '-d', '--no-healthcheck', '--health-cmd', 'true', 'busybox', 'true']);
  assert.equal(bad.code, 125);
  assert.match(bad.stderr, /--no-healthcheck conflicts with --health-\* options/);
  const f = await d.berth(['run', '-d', '--restart', 'on-failure:1', 'busybox', 'sh', '-c', 'exit 2']);
  assert.equal(f.code, 0, f.stderr);
  await waitFor('one restart, then down', async () => {
    const st = await d.inspect(f.stdout.trim());
    return st.RestartCount === 1 && st.State.Status === 'exited';
  }, 20_000, 100);
  await d.dockerOk(['rm', '-f', id, f.stdout.trim()]);
});
