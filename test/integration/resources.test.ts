/**
 * Accounting and live control through the real docker CLI and berth: pause/unpause
 * (the freezer), update (host cgroup files change, inspect keeps it), stats, top,
 * OOM kills and the event stream. Cgroup v1 paths: /sys/fs/cgroup/<ctrl>/berth/<id>.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { GATE, openGate, sleep, useDaemon, waitFor, ID64 } from './harness';

const d = useDaemon();

const cg = (ctrl: string, id: string, file: string) => readFileSync(join('/sys/fs/cgroup', ctrl, 'berth', id, file), 'utf8').trim();
/** Whether this host can weigh block I/O (CFQ's or BFQ's file, at the root or in berth's parent cgroup). */
const hostHasBlkioWeight = ['/sys/fs/cgroup/blkio', '/sys/fs/cgroup/blkio/berth'].some((dir) => ['blkio.weight', 'blkio.bfq.weight'].some((f) => existsSync(join(dir, f))));
const WEIGHT_DISCARDED = 'Your kernel does not support Block I/O weight or the cgroup is not mounted. Weight discarded.';
const counterCmd = ['sh', '-c', 'i=0; while true; do i=$((i+1)); echo $i; sleep 0.1; done'];
const lines = async (name: string) => (await d.dockerOk(['logs', name])).split('\n').filter(Boolean).length;
/** A unix time one second ahead, for `events --until` (the CLI truncates durations to whole seconds). */
const soon = () => String(Math.floor(Date.now() / 1000) + 1);

test('pause freezes the container, unpause resumes it; ps and inspect show Paused', async () => {
  const id = await d.dockerOk(['run', '-d', '--name', 'pz', 'busybox', ...counterCmd]);
  assert.match(id, ID64);
  await waitFor('some output', async () => (await lines('pz')) >= 3);
  assert.equal(await d.dockerOk(['pause', 'pz']), 'pz');
  assert.equal(cg('freezer', id, 'freezer.state'), 'FROZEN');
  const st = (await d.inspect('pz')).State;
  assert.equal(st.Status, 'paused');
  assert.equal(st.Paused, true);
  assert.equal(st.Running, true);
  assert.match(await d.dockerOk(['ps', '--filter', 'name=pz', '--format', '{{.Status}}']), /^Up .* \(Paused\)$/);
  const before = await lines('pz');
  // An observation window, not a readiness wait: running, the counter adds ten lines a second.
  await sleep(1200);
  assert.equal(await lines('pz'), before, 'the counter must not advance while paused');

  const again = await d.docker(['pause', 'pz']);
  assert.notEqual(again.code, 0);
  assert.match(again.stderr, /Container [0-9a-f]{64} is already paused/);

  assert.equal(await d.dockerOk(['unpause', 'pz']), 'pz');
  assert.equal(cg('freezer', id, 'freezer.state'), 'THAWED');
  assert.equal((await d.inspect('pz')).State.Status, 'running');
  await waitFor('the counter to advance again', async () => (await lines('pz')) > before + 2);
  const notPaused = await d.docker(['unpause', 'pz']);
  assert.match(notPaused.stderr, /Container [0-9a-f]{64} is not paused/);

  // berth drives the same endpoints.
  assert.equal((await d.berth(['pause', 'pz'])).stdout.trim(), 'pz');
  assert.equal((await d.inspect('pz')).State.Status, 'paused');
  assert.equal((await d.berth(['unpause', 'pz'])).stdout.trim(), 'pz');
  await d.dockerOk(['rm', '-f', 'pz']);
});

test('pause of a container that is not running is refused with 409', async () => {
  await d.dockerOk(['create', '--name', 'pzc', 'busybox', 'true']);
  const r = await d.docker(['pause', 'pzc']);
  assert.equal(r.code, 1);
  assert.match(r.stderr, /Error response from daemon: Container [0-9a-f]{64} is not running/);
  const api = await d.api('POST', '/containers/pzc/pause');
  assert.equal(api.status, 409);
  assert.equal((await d.api('POST', '/containers/nope/pause')).status, 404);
  await d.dockerOk(['rm', 'pzc']);
});

test('stop, kill and rm -f work on a paused container', async () => {
  await d.dockerOk(['run', '-d', '--name', 'ps1', 'busybox', 'sh', '-c', 'trap "exit 3" TERM; echo trap-set; while true; do sleep 0.1; done']);
  await d.waitForLog('ps1', 'trap-set');
  await d.dockerOk(['pause', 'ps1']);
  await d.dockerOk(['stop', '-t', '10', 'ps1']);
  // 3, not 137: the TERM trap ran after the thaw, no SIGKILL at the timeout.
  assert.equal((await d.inspect('ps1')).State.ExitCode, 3);

  await d.dockerOk(['start', 'ps1']);
  await d.dockerOk(['pause', 'ps1']);
  await d.dockerOk(['kill', 'ps1']);
  assert.equal(await d.dockerOk(['wait', 'ps1']), '137');

  await d.dockerOk(['start', 'ps1']);
  await d.dockerOk(['pause', 'ps1']);
  await d.dockerOk(['rm', '-f', 'ps1']);
  assert.equal((await d.docker(['inspect', 'ps1'])).code, 1);
});

test('update changes the running container\'s cgroup files and is kept in HostConfig', async () => {
  const id = await d.dockerOk(['run', '-d', '--name', 'up1', 'busybox', 'sleep', '1000']);
  const up = await d.docker([
    'update', '--memory', '64m', '--memory-swap', '128m', '--cpus', '0.5', '--cpu-shares', '512', '--cpuset-cpus', '0',
    '--pids-limit', '50', '--blkio-weight', '300', '--restart', 'on-failure:3', 'up1',
  ]);
  assert.equal(up.code, 0, up.stderr);
  // A weight this host cannot apply is dropped with dockerd's warning (the CLI prints it after the name); the rest applies.
  assert.equal(up.stdout, hostHasBlkioWeight ? 'up1\n' : `up1\n${WEIGHT_DISCARDED}\n`);
  const both = ['update', '--blkio-weight', '300', 'up1'];
  assert.deepEqual(await d.berth(both).then((r) => [r.code, r.stdout]), await d.docker(both).then((r) => [r.code, r.stdout]), 'berth update prints as docker does');
  assert.equal(cg('memory', id, 'memory.limit_in_bytes'), String(64 << 20));
  assert.equal(cg('memory', id, 'memory.memsw.limit_in_bytes'), String(128 << 20));
  assert.equal(cg('cpu', id, 'cpu.cfs_quota_us'), '50000');
  assert.equal(cg('cpu', id, 'cpu.cfs_period_us'), '100000');
  assert.equal(cg('cpu', id, 'cpu.shares'), '512');
  assert.equal(cg('cpuset', id, 'cpuset.cpus'), '0');
  assert.equal(cg('pids', id, 'pids.max'), '50');
  if (hostHasBlkioWeight) {
    const weightFile = existsSync(join('/sys/fs/cgroup/blkio/berth', id, 'blkio.weight')) ? 'blkio.weight' : 'blkio.bfq.weight';
    assert.equal(cg('blkio', id, weightFile), '300');
  }
  const hc = (await d.inspect('up1')).HostConfig;
  assert.equal(hc.Memory, 64 << 20);
  assert.equal(hc.MemorySwap, 128 << 20);
  assert.equal(hc.NanoCpus, 500_000_000);
  assert.equal(hc.CpuShares, 512);
  assert.equal(hc.CpusetCpus, '0');
  assert.equal(hc.PidsLimit, 50);
  assert.equal(hc.BlkioWeight, hostHasBlkioWeight ? 300 : 0);
  assert.deepEqual(hc.RestartPolicy, { Name: 'on-failure', MaximumRetryCount: 3 });

  const raw = await d.api('POST', '/containers/up1/update', { PidsLimit: 40 });
  assert.equal(raw.status, 200);
  assert.deepEqual(raw.json, { Warnings: [] });
  assert.equal(cg('pids', id, 'pids.max'), '40');

  // Docker's rule: a bigger memory limit needs the swap limit raised with it.
  const conflict = await d.docker(['update', '--memory', '256m', 'up1']);
  assert.notEqual(conflict.code, 0);
  assert.match(conflict.stderr, /Memory limit should be smaller than already set memoryswap limit/);
  assert.equal(cg('memory', id, 'memory.limit_in_bytes'), String(64 << 20));
  // dockerd discards an unsupported weight before checking its range.
  const bad = await d.api('POST', '/containers/up1/update', { BlkioWeight: 5 });
  assert.equal(bad.status, hostHasBlkioWeight ? 400 : 200, bad.body);
  assert.equal((await d.api('POST', '/containers/up1/update', { Memory: 'lots' })).status, 400);

  // berth update, then the next start gets the limits from HostConfig.
  assert.equal((await d.berth(['update', '--memory', '96m', '--memory-swap', '192m', 'up1'])).stdout.trim(), 'up1');
  assert.equal(cg('memory', id, 'memory.limit_in_bytes'), String(96 << 20));
  await d.dockerOk(['stop', '-t', '0', 'up1']);
  await d.dockerOk(['start', 'up1']);
  assert.equal(cg('memory', id, 'memory.limit_in_bytes'), String(96 << 20));
  assert.equal(cg('pids', id, 'pids.max'), '40');
  await d.dockerOk(['rm', '-f', 'up1']);
});

test('a limit the host cannot apply is discarded with dockerd\'s warning; the container runs; info lists what the host lacks', async () => {
  const r = await d.docker(['run', '--name', 'bw', '--blkio-weight', '300', '--pids-limit', '30', 'busybox', 'echo', 'ran']);
  assert.equal(r.code, 0, r.stderr);
  assert.equal(r.stdout, 'ran\n');
  assert.equal(r.stderr, hostHasBlkioWeight ? '' : `WARNING: ${WEIGHT_DISCARDED}\n`);
  const hc = (await d.inspect('bw')).HostConfig;
  assert.equal(hc.BlkioWeight, hostHasBlkioWeight ? 300 : 0, 'inspect shows what applies, as dockerd keeps the discarded value as 0');
  assert.equal(hc.PidsLimit, 30);
  const created = await d.api('POST', '/containers/create', { Image: 'busybox', Cmd: ['true'], HostConfig: { BlkioWeight: 500 } });
  assert.equal(created.status, 201);
  assert.deepEqual(created.json.Warnings, hostHasBlkioWeight ? [] : [WEIGHT_DISCARDED]);
  await d.dockerOk(['rm', 'bw', created.json.Id]);

  const info = JSON.parse(await d.dockerOk(['info', '--format', '{{json .}}']));
  assert.equal(info.SwapLimit, existsSync('/sys/fs/cgroup/memory/memory.memsw.limit_in_bytes'));
  assert.equal(info.CpuCfsQuota, existsSync('/sys/fs/cgroup/cpu/cpu.cfs_quota_us'));
  assert.equal(info.PidsLimit, existsSync('/sys/fs/cgroup/pids'));
  // cgroup v1: dockerd says nothing about the weight (nothing the user can do), only about missing throttles and limits.
  assert.ok(!(info.Warnings ?? []).some((w: string) => /weight/.test(w)), JSON.stringify(info.Warnings));
  assert.equal((info.Warnings ?? []).includes('WARNING: No blkio throttle.read_bps_device support'), !existsSync('/sys/fs/cgroup/blkio/blkio.throttle.read_bps_device'));
});

test('stats: Docker JSON shape, docker stats --no-stream renders the row, stopped containers read zeros', { timeout: 60_000 }, async () => {
  const id = await d.dockerOk(['run', '-d', '--name', 'st1', '--memory', '64m', 'busybox', 'sh', '-c', 'while true; do :; done']);
  const r = await d.api('GET', '/containers/st1/stats?stream=false', undefined, {}, 10_000);
  assert.equal(r.status, 200);
  const s = r.json;
  assert.equal(s.id, id);
  assert.equal(s.name, '/st1');
  assert.ok(Date.parse(s.read) > Date.parse(s.preread), 'two samples without one-shot');
  assert.ok(s.cpu_stats.cpu_usage.total_usage > s.precpu_stats.cpu_usage.total_usage, 'a busy loop uses CPU');
  assert.ok(s.cpu_stats.system_cpu_usage > s.precpu_stats.system_cpu_usage);
  assert.ok(s.cpu_stats.online_cpus >= 1);
  assert.equal(s.cpu_stats.cpu_usage.percpu_usage.length, s.cpu_stats.online_cpus);
  assert.ok(s.memory_stats.usage > 0);
  assert.equal(s.memory_stats.limit, 64 << 20);
  assert.ok('total_inactive_file' in s.memory_stats.stats);
  assert.equal(s.pids_stats.current, 1);
  assert.ok('throttling_data' in s.cpu_stats);
  assert.ok('io_service_bytes_recursive' in s.blkio_stats);

  const one = await d.api('GET', '/containers/st1/stats?stream=false&one-shot=true');
  assert.equal(one.json.preread, '0001-01-01T00:00:00Z');

  const table = await d.dockerOk(['stats', '--no-stream', 'st1']);
  const [header, row] = table.split('\n');
  assert.match(header!, /^CONTAINER ID\s+NAME\s+CPU %\s+MEM USAGE \/ LIMIT\s+MEM %\s+NET I\/O\s+BLOCK I\/O\s+PIDS$/);
  // NET I/O: the bridge's own traffic (router solicitations and the like) may show.
  const m = /^([0-9a-f]{12})\s+st1\s+([\d.]+)%\s+(\S+) \/ 64MiB\s+([\d.]+)%\s+\S+ \/ \S+\s+\S+ \/ \S+\s+1$/.exec(row!);
  assert.ok(m, `row: ${row}`);
  assert.ok(Number(m[2]) > 10, `CPU % of a busy loop: ${m[2]}`);
  const berthRow = (await d.berth(['stats', '--no-stream', 'st1'])).stdout.split('\n')[1]!;
  assert.match(berthRow, /^[0-9a-f]{12}\s+st1\s+[\d.]+%\s+\S+ \/ 64MiB\s+[\d.]+%\s+\S+ \/ \S+\s+\S+ \/ \S+\s+1$/);

  // Streaming: one object per second, precpu taken from the previous one.
  const got: any[] = [];
  await new Promise<void>((resolve, reject) => {
    const req = require('node:http').request({ socketPath: d.sock, path: '/containers/st1/stats?stream=true' }, (res: any) => {
      let buf = '';
      res.on('data', (c: Buffer) => {
        buf += c.toString();
        for (let i = buf.indexOf('\n'); i >= 0; i = buf.indexOf('\n')) {
          got.push(JSON.parse(buf.slice(0, i)));
          buf = buf.slice(i + 1);
        }
        if (got.length >= 3) {
          req.destroy();
          resolve();
        }
      });
    });
    req.on('error', (e: Error) => (got.length >= 3 ? resolve() : reject(e)));
    req.end();
  });
  assert.equal(got[0].preread, '0001-01-01T00:00:00Z');
  assert.equal(got[2].preread, got[1].read);
  assert.equal(got[2].precpu_stats.cpu_usage.total_usage, got[1].cpu_stats.cpu_usage.total_usage);

  await d.dockerOk(['stop', '-t', '0', 'st1']);
  const stopped = (await d.api('GET', '/containers/st1/stats?stream=false')).json;
  assert.equal(stopped.read, '0001-01-01T00:00:00Z');
  assert.deepEqual(stopped.memory_stats, {});
  assert.match((await d.dockerOk(['stats', '--no-stream', '-a', '--format', '{{.Name}} {{.CPUPerc}} {{.MemUsage}} {{.PIDs}}'])), /^st1 0\.00% 0B \/ 0B 0$/m);
  await d.dockerOk(['rm', 'st1']);
});

test('top lists the container\'s processes with ps options; 409 when not running', async () => {
  // The trailing echo keeps sh from exec-ing the last sleep: three processes.
  await d.dockerOk(['run', '-d', '--name', 'tp1', 'busybox', 'sh', '-c', 'sleep 1001 & sleep 1002; echo done']);
  const info = await d.inspect('tp1');
  const out = await waitFor('sh and both sleeps', async () => {
    const o = await d.dockerOk(['top', 'tp1']);
    return o.split('\n').length === 4 ? o : '';
  });
  const lines = out.split('\n');
  assert.match(lines[0]!, /^UID\s+PID\s+PPID\s+C\s+STIME\s+TTY\s+TIME\s+CMD$/);
  assert.equal(lines.length, 4, out);
  assert.ok(out.includes('sh -c sleep 1001 & sleep 1002; echo done'));
  assert.match(out, /\ssleep 1001$/m);
  assert.match(out, /\ssleep 1002$/m);
  assert.ok(lines.some((l) => l.split(/\s+/)[1] === String(info.State.Pid)));
  assert.ok(!out.includes('berthd'), 'host processes are left out');
  const custom = await d.api('GET', '/containers/tp1/top?ps_args=-o%20pid,comm');
  assert.deepEqual(custom.json.Titles, ['PID', 'COMMAND']);
  assert.deepEqual(custom.json.Processes.map((p: string[]) => p[1]).sort(), ['sh', 'sleep', 'sleep']);
  assert.match((await d.berth(['top', 'tp1', '-o', 'pid,args'])).stdout, /^PID\s+COMMAND\n(\d+\s+.*\n){3}$/);
  await d.dockerOk(['stop', '-t', '0', 'tp1']);
  const r = await d.docker(['top', 'tp1']);
  assert.notEqual(r.code, 0);
  assert.match(r.stderr, /Container [0-9a-f]{64} is not running/);
  assert.equal((await d.api('GET', '/containers/tp1/top')).status, 409);
  await d.dockerOk(['rm', 'tp1']);
});

test('a process allocating past --memory is OOM-killed: OOMKilled in inspect, oom then die events', async () => {
  const since = String(Math.floor(Date.now() / 1000) - 1);
  const r = await d.docker(['run', '--name', 'oom1', '--memory', '16m', '--memory-swap', '16m', 'busybox', 'dd', 'if=/dev/zero', 'of=/dev/null', 'bs=64M', 'count=1'], { timeoutMs: 30_000 });
  assert.equal(r.code, 137, r.stderr);
  const st = (await d.inspect('oom1')).State;
  assert.equal(st.OOMKilled, true);
  assert.equal(st.ExitCode, 137);
  const ev = await d.dockerOk(['events', '--since', since, '--until', soon(), '--filter', 'container=oom1', '--format', '{{.Action}}']);
  const actions = ev.split('\n');
  assert.ok(actions.indexOf('oom') >= 0, ev);
  assert.equal(actions[actions.indexOf('oom') + 1], 'die');

  // A normal exit of the same container clears it.
  await d.dockerOk(['update', '--memory', '256m', '--memory-swap', '256m', 'oom1']);
  await d.dockerOk(['start', 'oom1']);
  assert.equal(await d.dockerOk(['wait', 'oom1']), '0');
  assert.equal((await d.inspect('oom1')).State.OOMKilled, false);
  await d.dockerOk(['rm', 'oom1']);
});

test('an OOM kill while berthd is down is still recorded when it comes back', async () => {
  // The container allocates only once berthd is gone.
  const id = await d.dockerOk(['run', '-d', '--name', 'oom2', '--memory', '16m', '--memory-swap', '16m', 'busybox', 'sh', '-c',
    `${GATE}; exec dd if=/dev/zero of=/dev/null bs=64M count=1`]);
  const pid = (await d.inspect('oom2')).State.Pid;
  await d.kill();
  openGate(pid);
  await waitFor('conmon to record the exit', () => existsSync(join(d.execRoot, 'exits', id)), 15_000);
  await d.start();
  const st = await waitFor('the exit to be collected', async () => {
    const s = (await d.inspect('oom2')).State;
    return s.Status === 'exited' ? s : undefined;
  });
  assert.equal(st.OOMKilled, true);
  assert.equal(st.ExitCode, 137);
  await d.dockerOk(['rm', 'oom2']);
});

test('events: docker events --since/--until with filters, Docker line format, labels as attributes, live stream', async () => {
  const since = String(Math.floor(Date.now() / 1000) - 1);
  const id = await d.dockerOk(['run', '-d', '--name', 'ev1', '--label', 'team=blue', 'busybox', 'sleep', '1000']);
  await d.dockerOk(['pause', 'ev1']);
  await d.dockerOk(['unpause', 'ev1']);
  await d.dockerOk(['update', '--cpu-shares', '256', 'ev1']);
  await d.dockerOk(['rm', '-f', 'ev1']);
  const until = soon();
  const all = await d.dockerOk(['events', '--since', since, '--until', until, '--filter', `container=${id}`]);
  const re = new RegExp(`^\\d{4}-\\d\\d-\\d\\dT\\d\\d:\\d\\d:\\d\\d\\.\\d{9}(Z|[+-]\\d\\d:\\d\\d) container (\\w+) ${id} \\((.*)\\)$`);
  const parsed = all.split('\n').map((l) => {
    const m = re.exec(l);
    assert.ok(m, `line: ${l}`);
    return { action: m[2]!, attrs: m[3]! };
  });
  const actions = parsed.map((p) => p.action);
  for (const a of ['create', 'start', 'pause', 'unpause', 'update', 'kill', 'die', 'destroy']) assert.ok(actions.includes(a), `${a} in ${actions}`);
  assert.ok(actions.indexOf('create') < actions.indexOf('start') && actions.indexOf('start') < actions.indexOf('pause') && actions.indexOf('kill') < actions.indexOf('die') && actions.indexOf('die') < actions.indexOf('destroy'));
  // Attributes are sorted by name, as dockerd prints them; kill adds signal=9 and die exitCode.
  for (const p of parsed) for (const a of ['image=busybox', 'name=ev1', 'team=blue']) assert.ok(p.attrs.split(', ').includes(a), `${a} in ${p.action}: ${p.attrs}`);
  assert.match(parsed.find((p) => p.action === 'kill')!.attrs, /^image=busybox, name=ev1, signal=9, team=blue$/);

  const onlyPause = await d.dockerOk(['events', '--since', since, '--until', until, '--filter', 'event=pause', '--filter', 'label=team=blue', '--format', '{{.Type}} {{.Action}} {{.Actor.Attributes.name}}']);
  assert.equal(onlyPause, 'container pause ev1');
  assert.equal(await d.dockerOk(['events', '--since', since, '--until', until, '--filter', 'label=team=red']), '');
  const br = await d.berth(['events', '--since', since, '--until', until, '--filter', 'event=unpause']);
  assert.equal(br.code, 0, br.stderr);
  const viaBerth = br.stdout;
  assert.match(viaBerth, new RegExp(`^\\S+ container unpause ${id} \\(image=busybox, name=ev1, team=blue\\)\\n$`));
  const bad = await d.api('GET', '/events?filters=%7B%22nope%22%3A%7B%22x%22%3Atrue%7D%7D&until=1');
  assert.equal(bad.status, 400);

  // Live: an event emitted after the request starts arrives. The stream is known to be live
  // once a probe container, created after the command started, shows up in it.
  const live = d.dockerStream(['events', '--filter', 'type=container', '--filter', 'event=create', '--format', '{{.Actor.Attributes.name}}']);
  const probes: string[] = [];
  try {
    await waitFor('a probe container in the live event stream', async () => {
      probes.push(await d.dockerOk(['create', '--name', `ev-probe${probes.length}`, 'busybox', 'true']));
      return live.output().includes('ev-probe');
    }, 15_000, 200);
    await d.dockerOk(['create', '--name', 'ev2', 'busybox', 'true']);
    await waitFor('ev2 in the live event stream', () => live.output().split('\n').includes('ev2'));
  } finally {
    await live.stop();
  }
  await d.dockerOk(['rm', 'ev2', ...probes]);
  // --until ends a live stream by itself.
  const ended = await d.docker(['events', '--until', soon(), '--filter', 'type=container'], { timeoutMs: 15_000 });
  assert.equal(ended.timedOut, false, 'events --until did not end');
  assert.equal(ended.code, 0, ended.stderr);
});
