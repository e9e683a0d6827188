/**
 * Isolation and resources, proved from inside the container and from the host:
 * namespaces (and sharing them), cgroup limits in the host's cgroup files, a fork bomb
 * held at --pids-limit, capabilities, seccomp, --privileged on this host, --read-only,
 * sysctls, ulimits, --init, users and groups. Driven through the real docker CLI.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, readFileSync, readdirSync, readlinkSync, statSync, writeFileSync } from 'node:fs';
import { hostname } from 'node:os';
import { join } from 'node:path';
import { mountsUnder, processesMentioning, useDaemon, waitFor } from './harness';

const d = useDaemon();

const NAMESPACES = ['pid', 'mnt', 'uts', 'ipc', 'net'] as const;

/** `net:[4026531840]`: the namespace a process is in. */
const nsOf = (pid: number | 'self', ns: string) => readlinkSync(`/proc/${pid}/ns/${ns}`);

async function runDetached(args: string[]): Promise<{ id: string; pid: number }> {
  const id = await d.dockerOk(['run', '-d', ...args]);
  const pid = Number(await d.dockerOk(['inspect', '-f', '{{.State.Pid}}', id]));
  assert.ok(pid > 0, `no pid for ${id}`);
  return { id, pid };
}

const cg = (ctrl: string, id: string, file: string) => readFileSync(join('/sys/fs/cgroup', ctrl, 'berth', id, file), 'utf8').trim();

/** A block device of this host with data on it (not an empty loop device). */
function someBlockDevice(): { path: string; majMin: string } {
  for (const name of readdirSync('/sys/block')) {
    const path = `/dev/${name}`;
    const size = Number(readFileSync(`/sys/block/${name}/size`, 'utf8'));
    if (size > 0 && existsSync(path) && statSync(path).isBlockDevice()) return { path, majMin: readFileSync(`/sys/block/${name}/dev`, 'utf8').trim() };
  }
  throw new Error('this host has no non-empty block device under /sys/block with a /dev node');
}

test('namespaces: private by default, shared with container:X, the host\'s with host', async () => {
  const a = await runDetached(['busybox', 'sleep', '60']);
  for (const ns of NAMESPACES) assert.notEqual(nsOf(a.pid, ns), nsOf('self', ns), `${ns} namespace must be the container's own`);
  // cgroup v1 host: Docker keeps the host's cgroup namespace unless asked.
  assert.equal(nsOf(a.pid, 'cgroup'), nsOf('self', 'cgroup'));

  // Joining IPC needs a shareable donor, as in Docker.
  const priv = await d.docker(['run', '--rm', '--ipc', `container:${a.id}`, 'busybox', 'true']);
  assert.notEqual(priv.code, 0);
  assert.match(priv.stderr, /non-shareable IPC/);
  const donor = await runDetached(['--ipc', 'shareable', 'busybox', 'sh', '-c', 'echo from-donor > /dev/shm/note; sleep 60']);
  const joiner = await runDetached(['--ipc', `container:${donor.id}`, 'busybox', 'sh', '-c', 'echo back > /dev/shm/reply; sleep 60']);
  assert.equal(nsOf(joiner.pid, 'ipc'), nsOf(donor.pid, 'ipc'), 'ipc must be shared');
  await waitFor('the joiner to write into the shared /dev/shm', () => existsSync(`/proc/${donor.pid}/root/dev/shm/reply`));
  assert.equal(readFileSync(`/proc/${joiner.pid}/root/dev/shm/note`, 'utf8'), 'from-donor\n');
  await d.dockerOk(['rm', '-f', joiner.id, donor.id]);
  assert.deepEqual(mountsUnder(d.dataRoot).filter((m) => m.endsWith('/shm')), [], 'the shareable /dev/shm is unmounted with its container');

  const b = await runDetached(['--pid', `container:${a.id}`, '--network', `container:${a.id}`, '--cgroupns', 'private', 'busybox', 'sleep', '60']);
  for (const ns of ['pid', 'net'] as const) assert.equal(nsOf(b.pid, ns), nsOf(a.pid, ns), `${ns} must be shared`);
  for (const ns of ['mnt', 'uts', 'ipc'] as const) assert.notEqual(nsOf(b.pid, ns), nsOf(a.pid, ns), `${ns} must stay private`);
  assert.notEqual(nsOf(b.pid, 'cgroup'), nsOf('self', 'cgroup'));
  // Inside b, a's process is visible: they share the PID namespace.
  const ps = await d.dockerOk(['run', '--rm', '--pid', `container:${a.id}`, 'busybox', 'ps', '-o', 'pid,args']);
  assert.match(ps, /^\s*1\s+sleep 60$/m);

  const h = await runDetached(['--pid', 'host', '--ipc', 'host', '--network', 'host', '--uts', 'host', '--userns', 'host', 'busybox', 'sleep', '60']);
  for (const ns of ['pid', 'ipc', 'net', 'uts'] as const) assert.equal(nsOf(h.pid, ns), nsOf('self', ns), `${ns} must be the host's`);
  assert.notEqual(nsOf(h.pid, 'mnt'), nsOf('self', 'mnt'));
  await d.dockerOk(['rm', '-f', a.id, b.id, h.id]);
});

test('ps inside sees only the container; --network host keeps the host name', async () => {
  const ps = await d.dockerOk(['run', '--rm', 'busybox', 'ps', '-o', 'pid,args']);
  const rows = ps.split('\n').slice(1);
  assert.deepEqual(rows.map((r) => r.trim()), ['1 ps -o pid,args']);
  assert.equal(await d.dockerOk(['run', '--rm', '--network', 'host', 'busybox', 'hostname']), hostname());
  assert.equal(await d.dockerOk(['run', '--rm', '--network', 'host', 'busybox', 'sh', '-c', 'echo $HOSTNAME']), hostname());
  assert.equal(await d.dockerOk(['run', '--rm', '-h', 'box1', 'busybox', 'hostname']), 'box1');
  const none = await d.dockerOk(['run', '--rm', '--network', 'none', 'busybox', 'ls', '/sys/class/net']);
  assert.deepEqual(none.split(/\s+/), ['lo']);
});

test('container:X needs X running: 409 at start', async () => {
  const x = await d.dockerOk(['create', '--name', 'iso-stopped', 'busybox', 'true']);
  const c = await d.api('POST', '/v1.45/containers/create', { Image: 'busybox', Cmd: ['true'], HostConfig: { PidMode: 'container:iso-stopped' } });
  assert.equal(c.status, 201, c.body);
  const s = await d.api('POST', `/v1.45/containers/${c.json.Id}/start`);
  assert.equal(s.status, 409, s.body);
  assert.match(s.json.message, /cannot join PID of a non running container: iso-stopped/);
  const bad = await d.api('POST', '/v1.45/containers/create', { Image: 'busybox', Cmd: ['true'], HostConfig: { IpcMode: 'bogus' } });
  assert.equal(bad.status, 400, bad.body);
  await d.dockerOk(['rm', '-f', x, c.json.Id]);
});

test('cgroup files on the host hold the limits', async () => {
  const dev = someBlockDevice();
  const { id } = await runDetached([
    '-m', '64m', '--memory-reservation', '32m', '--memory-swap', '96m', '--oom-kill-disable', '--cpus', '0.5', '--cpu-shares', '512',
    '--cpuset-cpus', '0', '--cpuset-mems', '0', '--blkio-weight', '300',
    '--device-read-bps', `${dev.path}:1mb`, '--device-write-iops', `${dev.path}:100`, '--pids-limit', '20',
    'busybox', 'sleep', '60',
  ]);
  assert.equal(cg('memory', id, 'memory.limit_in_bytes'), String(64 << 20));
  assert.equal(cg('memory', id, 'memory.soft_limit_in_bytes'), String(32 << 20));
  assert.equal(cg('memory', id, 'memory.memsw.limit_in_bytes'), String(96 << 20));
  assert.match(cg('memory', id, 'memory.oom_control'), /^oom_kill_disable 1$/m);
  assert.equal(cg('cpu', id, 'cpu.cfs_quota_us'), '50000');
  assert.equal(cg('cpu', id, 'cpu.cfs_period_us'), '100000');
  assert.equal(cg('cpu', id, 'cpu.shares'), '512');
  assert.equal(cg('cpuset', id, 'cpuset.cpus'), '0');
  assert.equal(cg('cpuset', id, 'cpuset.mems'), '0');
  // Where the kernel weighs block I/O (CFQ or BFQ) the weight must land there; elsewhere it is discarded, as dockerd does.
  const weightFile = ['blkio.weight', 'blkio.bfq.weight'].find((f) => existsSync(join('/sys/fs/cgroup/blkio/berth', id, f)));
  if (weightFile) assert.match(cg('blkio', id, weightFile), /^(default )?300$/m);
  assert.equal(cg('blkio', id, 'blkio.throttle.read_bps_device'), `${dev.majMin} ${1 << 20}`);
  assert.equal(cg('blkio', id, 'blkio.throttle.write_iops_device'), `${dev.majMin} 100`);
  assert.equal(cg('pids', id, 'pids.max'), '20');
  // Inspect echoes them.
  const hc = (await d.inspect(id)).HostConfig;
  assert.equal(hc.Memory, 64 << 20);
  assert.equal(hc.MemorySwap, 96 << 20);
  assert.equal(hc.NanoCpus, 5e8);
  assert.equal(hc.BlkioWeight, weightFile ? 300 : 0);
  assert.equal(hc.PidsLimit, 20);
  assert.equal(hc.OomKillDisable, true);
  assert.deepEqual(hc.BlkioDeviceReadBps, [{ Path: dev.path, Rate: 1 << 20 }]);
  await d.dockerOk(['rm', '-f', id]);

  // Only --memory: Docker's swap default is as much again.
  const m = await runDetached(['-m', '32m', 'busybox', 'sleep', '60']);
  assert.equal(cg('memory', m.id, 'memory.memsw.limit_in_bytes'), String(64 << 20));
  assert.equal((await d.inspect(m.id)).HostConfig.MemorySwap, 64 << 20);
  await d.dockerOk(['rm', '-f', m.id]);
});

test('a fork bomb stops at --pids-limit', async () => {
  // The inner shell forks until refused and dies; the outer one then execs (no fork needed).
  const { id } = await runDetached(['--pids-limit', '10', 'busybox', 'sh', '-c', 'sh -c "for i in \\$(seq 40); do sleep 60 & done"; exec sleep 60']);
  await waitFor('the fork loop to hit the limit', async () => /can't fork/.test((await d.docker(['logs', id])).stderr), 15_000);
  assert.equal(cg('pids', id, 'pids.max'), '10');
  const current = Number(cg('pids', id, 'pids.current'));
  assert.ok(current >= 8 && current <= 10, `pids.current = ${current}`);
  assert.ok(Number(cg('pids', id, 'pids.events').split(' ')[1]) > 0, 'pids.events counts refused forks');
  assert.equal(await d.dockerOk(['inspect', '-f', '{{.State.Running}}', id]), 'true');
  await d.dockerOk(['rm', '-f', id]);
});

test('capabilities: Docker\'s default set, --cap-drop makes chown fail with EPERM, --cap-add ALL', async () => {
  const caps = await d.dockerOk(['run', '--rm', 'busybox', 'grep', 'CapEff', '/proc/self/status']);
  assert.match(caps, /CapEff:\s+00000000a80425fb/);
  assert.equal((await d.docker(['run', '--rm', 'busybox', 'busybox', 'chown', '1', '/tmp'])).code, 0);
  const r = await d.docker(['run', '--rm', '--cap-drop', 'CHOWN', 'busybox', 'busybox', 'chown', '1', '/tmp']);
  assert.equal(r.code, 1);
  assert.match(r.stderr, /Operation not permitted/);
  const none = await d.dockerOk(['run', '--rm', '--cap-drop', 'ALL', '--cap-add', 'cap_kill', 'busybox', 'grep', 'CapEff', '/proc/self/status']);
  assert.match(none, /CapEff:\s+0000000000000020/);
  const bad = await d.docker(['run', '--rm', '--cap-add', 'NOPE', 'busybox', 'true']);
  assert.equal(bad.code, 125);
  assert.match(bad.stderr, /Error response from daemon: invalid CapAdd: unknown capability: "CAP_NOPE"/);
  const badDrop = await d.docker(['create', '--cap-drop', 'NOPE', 'busybox', 'true']);
  assert.equal(badDrop.code, 1);
  assert.match(badDrop.stderr, /invalid CapDrop: unknown capability: "CAP_NOPE"/);
});

test('seccomp: the default profile blocks unshare; unconfined and a profile file change that', async () => {
  const blocked = await d.docker(['run', '--rm', 'busybox', 'busybox', 'unshare', '-U', 'true']);
  assert.equal(blocked.code, 1);
  assert.match(blocked.stderr, /Operation not permitted/);
  assert.match(await d.dockerOk(['run', '--rm', 'busybox', 'grep', 'Seccomp:', '/proc/self/status']), /Seccomp:\s+2/);
  assert.equal((await d.docker(['run', '--rm', '--security-opt', 'seccomp=unconfined', 'busybox', 'busybox', 'unshare', '-U', 'true'])).code, 0);
  // With CAP_SYS_ADMIN the default profile allows it, as Docker's does.
  assert.equal((await d.docker(['run', '--rm', '--cap-add', 'SYS_ADMIN', 'busybox', 'busybox', 'unshare', '-U', 'true'])).code, 0);

  const profile = join(d.dir, 'no-mkdir.json');
  writeFileSync(profile, JSON.stringify({ defaultAction: 'SCMP_ACT_ALLOW', syscalls: [{ names: ['mkdir', 'mkdirat'], action: 'SCMP_ACT_ERRNO', errnoRet: 1 }] }));
  const mk = await d.docker(['run', '--rm', '--security-opt', `seccomp=${profile}`, 'busybox', 'mkdir', '/x']);
  assert.equal(mk.code, 1);
  assert.match(mk.stderr, /Operation not permitted/);
  writeFileSync(profile, '{"defaultAction": "SCMP_ACT_NOPE"}');
  const bad = await d.docker(['run', '--rm', '--security-opt', `seccomp=${profile}`, 'busybox', 'true']);
  assert.equal(bad.code, 125);
  assert.match(bad.stderr, /Decoding seccomp profile failed: defaultAction/);
  const nnp = await d.dockerOk(['run', '--rm', '--security-opt', 'no-new-privileges', 'busybox', 'grep', 'NoNewPrivs', '/proc/self/status']);
  assert.match(nnp, /NoNewPrivs:\s+1/);
});

test('--privileged starts here with the host\'s bounding set, host devices, writable /sys, no seccomp', async () => {
  const hostBnd = /CapBnd:\s+(\S+)/.exec(readFileSync('/proc/self/status', 'utf8'))![1];
  const out = await d.dockerOk(['run', '--rm', '--privileged', 'busybox', 'sh', '-c',
    'grep -E "CapEff|Seccomp:" /proc/self/status; ls /dev; grep " /sys " /proc/mounts; cat /proc/self/attr/current 2>/dev/null; touch /sys/fs/cgroup/x 2>&1; true']);
  assert.match(out, new RegExp(`CapEff:\\s+${hostBnd}`));
  assert.match(out, /Seccomp:\s+0/);
  const dev = someBlockDevice();
  assert.ok(out.split('\n').includes(dev.path.slice('/dev/'.length)), `host device ${dev.path} missing from ${out}`);
  assert.match(out, /sysfs \/sys sysfs rw/);
  // Masked (/proc/keys) and read-only (/proc/sys) paths: present unprivileged, gone privileged.
  const probe = 'grep -E " /proc/(keys|sys) " /proc/mounts | cut -d" " -f2,4 | cut -d, -f1; grep " /sys " /proc/mounts | cut -d" " -f4 | cut -d, -f1';
  assert.equal(await d.dockerOk(['run', '--rm', '--privileged', 'busybox', 'sh', '-c', probe]), 'rw');
  assert.deepEqual((await d.dockerOk(['run', '--rm', 'busybox', 'sh', '-c', probe])).split('\n').sort(), ['/proc/keys rw', '/proc/sys ro', 'ro']);
});

test('--device adds the node and its cgroup rule; --read-only refuses writes', async () => {
  // An unbound loop device: opening it works wherever the device cgroup allows it.
  const loop = '/dev/loop0';
  assert.ok(statSync(loop).isBlockDevice(), `${loop} is needed for this test`);
  const out = await d.dockerOk(['run', '--rm', '--device', `${loop}:/dev/xloop:r`, 'busybox', 'sh', '-c', 'ls -l /dev/xloop; dd if=/dev/xloop of=/dev/null bs=512 count=1 2>&1']);
  assert.match(out, /^b.* 7,\s+0 /m);
  assert.match(out, /0\+0 records in/);
  // Read-only in the device cgroup: opening for writing is refused.
  const w = await d.docker(['run', '--rm', '--device', `${loop}:/dev/xloop:r`, 'busybox', 'sh', '-c', 'echo x > /dev/xloop']);
  assert.notEqual(w.code, 0);
  assert.match(w.stderr, /Operation not permitted/);
  // With w the open passes and the unbound loop device answers instead.
  const w2 = await d.docker(['run', '--rm', '--device', `${loop}:/dev/xloop:rw`, 'busybox', 'sh', '-c', 'echo x > /dev/xloop']);
  assert.doesNotMatch(w2.stderr, /Operation not permitted/);
  // Without --device there is no such node, and a cgroup rule alone allows it after mknod.
  assert.notEqual((await d.docker(['run', '--rm', 'busybox', 'ls', '/dev/loop0'])).code, 0);
  const rule = await d.docker(['run', '--rm', '--device-cgroup-rule', 'b 7:0 r', 'busybox', 'sh', '-c', 'busybox mknod /dev/l0 b 7 0 && dd if=/dev/l0 of=/dev/null count=1 2>&1']);
  assert.equal(rule.code, 0, rule.stderr);
  const norule = await d.docker(['run', '--rm', 'busybox', 'sh', '-c', 'busybox mknod /dev/l0 b 7 0 && dd if=/dev/l0 of=/dev/null count=1']);
  assert.match(norule.stderr, /Operation not permitted/);

  const ro = await d.docker(['run', '--rm', '--read-only', 'busybox', 'touch', '/x']);
  assert.equal(ro.code, 1);
  assert.match(ro.stderr, /Read-only file system/);
  assert.equal((await d.docker(['run', '--rm', '--read-only', 'busybox', 'touch', '/dev/shm/x'])).code, 0);
});

test('sysctl: namespaced ones are set, others refused with 400', async () => {
  assert.equal(await d.dockerOk(['run', '--rm', '--sysctl', 'kernel.shmmax=1000000', 'busybox', 'cat', '/proc/sys/kernel/shmmax']), '1000000');
  assert.equal(await d.dockerOk(['run', '--rm', '--sysctl', 'net.ipv4.ip_forward=1', 'busybox', 'cat', '/proc/sys/net/ipv4/ip_forward']), '1');
  const host = await d.docker(['run', '--rm', '--network', 'host', '--sysctl', 'net.ipv4.ip_forward=1', 'busybox', 'true']);
  assert.equal(host.code, 125);
  assert.match(host.stderr, /not allowed with the host's network namespace/);
  const r = await d.api('POST', '/v1.45/containers/create', { Image: 'busybox', Cmd: ['true'], HostConfig: { Sysctls: { 'kernel.hostname': 'x' } } });
  assert.equal(r.status, 400, r.body);
  assert.match(r.json.message, /sysctl kernel\.hostname is not allowed: only namespaced sysctls/);
});

test('ulimit: set when within the host hard limit, refused up front above it', async () => {
  const hard = Number(/^Max open files\s+\S+\s+(\d+)/m.exec(readFileSync('/proc/self/limits', 'utf8'))![1]);
  assert.equal(await d.dockerOk(['run', '--rm', '--ulimit', 'nofile=100:200', 'busybox', 'sh', '-c', 'ulimit -n']), '100');
  const r = await d.docker(['run', '--rm', '--ulimit', `nofile=${hard + 1}:${hard + 1}`, 'busybox', 'true']);
  assert.equal(r.code, 125);
  assert.match(r.stderr, new RegExp(`exceeds this host's hard limit for RLIMIT_NOFILE \\(${hard}\\)`));
  // Refused at create: nothing was left behind.
  const before = await d.dockerOk(['ps', '-aq']);
  await d.docker(['create', '--ulimit', `nofile=${hard + 1}`, 'busybox', 'true']);
  assert.equal(await d.dockerOk(['ps', '-aq']), before);
});

test('--init runs tini as PID 1; user, groups, shm size, oom score', async () => {
  const ps = await d.dockerOk(['run', '--rm', '--init', 'busybox', 'ps', '-o', 'pid,args']);
  assert.match(ps, /^\s*1\s+\/sbin\/docker-init -- ps -o pid,args$/m);
  const created = await d.dockerOk(['create', '--init', 'busybox', 'true']);
  assert.equal((await d.inspect(created)).HostConfig.Init, true);
  await d.dockerOk(['rm', created]);

  assert.equal(await d.dockerOk(['run', '--rm', '-u', '1000:1000', '--group-add', '10', '--group-add', 'nogroup', 'busybox', 'id']),
    'uid=1000 gid=1000 groups=10,1000,65534(nogroup)');
  const id = await d.dockerOk(['run', '--rm', '-u', 'nobody', '--group-add', '10', '--group-add', 'nogroup', 'busybox', 'id']);
  assert.match(id, /^uid=65534\(nobody\) gid=65534\(nogroup\) groups=/);
  assert.deepEqual(id.replace(/.*groups=/, '').split(',').map((g) => g.replace(/\(.*\)/, '')).sort(), ['10', '65534']);
  const missing = await d.docker(['run', '--rm', '--group-add', 'nosuchgroup', 'busybox', 'true']);
  assert.notEqual(missing.code, 0);
  assert.match(missing.stderr, /Unable to find group nosuchgroup/);

  assert.match(await d.dockerOk(['run', '--rm', '--shm-size', '8m', 'busybox', 'grep', ' /dev/shm ', '/proc/mounts']), /size=8192k/);
  assert.equal(await d.dockerOk(['run', '--rm', '--oom-score-adj', '500', 'busybox', 'cat', '/proc/self/oom_score_adj']), '500');
  const none = await d.docker(['run', '--rm', '--ipc', 'none', 'busybox', 'ls', '/dev/shm']);
  assert.notEqual(none.code, 0);
});

test('each conmon runs in a mount namespace holding its own container\'s root and network namespace, not the others\'', async () => {
  const a = await runDetached(['busybox', 'sleep', '600']);
  const b = await runDetached(['busybox', 'sleep', '600']);
  const facts = async (id: string) => {
    const [merged, sandbox] = (await d.dockerOk(['inspect', '-f', '{{.GraphDriver.Data.MergedDir}} {{.NetworkSettings.SandboxKey}}', id])).split(' ');
    const conmons = processesMentioning(`-c ${id}`, 'conmon');
    assert.equal(conmons.length, 1, `one conmon for ${id}`);
    const table = readFileSync(`/proc/${conmons[0]}/mountinfo`, 'utf8').split('\n').map((l) => l.split(' ')[4]);
    return { merged: merged!, sandbox: sandbox!, conmon: conmons[0]!, table };
  };
  const fa = await facts(a.id);
  const fb = await facts(b.id);
  // Both are mount points in dirs that hold nothing else.
  assert.equal(fa.merged, join(d.dataRoot, 'rootfs', a.id, 'merged'));
  assert.ok(fa.sandbox.startsWith(join(d.execRoot, 'netns') + '/'), fa.sandbox);
  // The host keeps every container's mounts, where docker inspect names them.
  const host = mountsUnder(d.dataRoot).concat(mountsUnder(d.execRoot));
  for (const p of [fa.merged, fa.sandbox, fb.merged, fb.sandbox]) assert.ok(host.includes(p), `${p} is mounted on the host`);
  for (const [own, other] of [[fa, fb], [fb, fa]] as const) {
    assert.notEqual(nsOf(own.conmon, 'mnt'), nsOf('self', 'mnt'));
    assert.ok(own.table.includes(own.merged) && own.table.includes(own.sandbox), 'its own root and network namespace');
    assert.ok(!other.table.includes(own.merged) && !other.table.includes(own.sandbox), 'none of the other container\'s');
    const below = (root: string) => own.table.filter((p) => p !== undefined && p.startsWith(root + '/'));
    assert.deepEqual(below(join(d.dataRoot, 'rootfs')), [own.merged]);
    assert.deepEqual(below(join(d.execRoot, 'netns')), [own.sandbox]);
  }
  // One root seen from both sides: what the host writes there, the container reads.
  writeFileSync(join(fa.merged, 'from-host'), 'written on the host\n');
  assert.equal(await d.dockerOk(['exec', a.id, 'cat', '/from-host']), 'written on the host');
  // A restart gets a monitor of the same kind; removal leaves no mount of either.
  await d.dockerOk(['restart', '-t', '0', a.id]);
  const again = await facts(a.id);
  assert.deepEqual(again.table.filter((p) => p?.startsWith(join(d.dataRoot, 'rootfs') + '/')), [again.merged]);
  assert.equal(await d.dockerOk(['exec', a.id, 'cat', '/from-host']), 'written on the host');
  await d.dockerOk(['rm', '-f', a.id, b.id]);
  await waitFor('the containers\' mounts to go', () => !mountsUnder(d.dataRoot).concat(mountsUnder(d.execRoot)).some((p) => [fa.merged, fa.sandbox, fb.merged, fb.sandbox, again.sandbox].includes(p)));
});
