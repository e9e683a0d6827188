import { test } from 'node:test';
import assert from 'node:assert/strict';
import { errorKind } from '../common';
import { DEFAULT_CAPABILITIES } from './capabilities';
import { goArch, kernelVersion, parseSeccompProfile, renderSeccomp, type SeccompProfile } from './seccomp';
import { DEFAULT_SECCOMP_PROFILE } from './seccomp-default';

const ruleFor = (p: ReturnType<typeof renderSeccomp>, name: string) => p.syscalls.filter((r) => r.names.includes(name));
const isDecodeError = (e: unknown) => errorKind(e) === 'invalid-argument' && /^Decoding seccomp profile failed: /.test((e as Error).message);

test('default profile on amd64 with Docker\'s capabilities: arch mapping, errno, cap-gated rules', () => {
  const p = renderSeccomp(DEFAULT_SECCOMP_PROFILE, { capabilities: DEFAULT_CAPABILITIES, arch: 'amd64', kernel: [6, 1], x32: true });
  assert.equal(p.defaultAction, 'SCMP_ACT_ERRNO');
  assert.equal(p.defaultErrnoRet, 1);
  assert.deepEqual(p.architectures, ['SCMP_ARCH_X86_64', 'SCMP_ARCH_X86', 'SCMP_ARCH_X32']);
  // A kernel without the x32 ABI gets no x32 branch: nothing could use it.
  const noX32 = renderSeccomp(DEFAULT_SECCOMP_PROFILE, { capabilities: DEFAULT_CAPABILITIES, arch: 'amd64', kernel: [6, 1], x32: false });
  assert.deepEqual(noX32.architectures, ['SCMP_ARCH_X86_64', 'SCMP_ARCH_X86']);
  assert.deepEqual(noX32.syscalls, p.syscalls);
  // Without CAP_SYS_ADMIN: mount/unshare stay denied, clone only with the namespace-flag mask, clone3 gets ENOSYS.
  assert.equal(ruleFor(p, 'mount').length, 0);
  assert.equal(ruleFor(p, 'unshare').length, 0);
  const clone = ruleFor(p, 'clone');
  assert.equal(clone.length, 1);
  assert.deepEqual(clone[0]!.args, [{ index: 0, value: 2114060288, op: 'SCMP_CMP_MASKED_EQ' }]);
  assert.deepEqual(ruleFor(p, 'clone3').map((r) => [r.action, r.errnoRet]), [['SCMP_ACT_ERRNO', 38]]);
  // Arch-gated: arch_prctl on amd64, not the arm-only ones.
  assert.equal(ruleFor(p, 'arch_prctl').length, 1);
  assert.equal(ruleFor(p, 'set_tls').length, 0);
  // Cap-gated: chroot comes with CAP_SYS_CHROOT (a default), reboot needs CAP_SYS_BOOT.
  assert.equal(ruleFor(p, 'chroot').length, 1);
  assert.equal(ruleFor(p, 'reboot').length, 0);
  // minKernel 4.8 satisfied: ptrace allowed.
  assert.equal(ruleFor(p, 'ptrace').length, 1);
  assert.ok(ruleFor(p, 'read').length === 1);
});

test('capabilities unlock their syscalls; excludes drop the unprivileged variants', () => {
  const p = renderSeccomp(DEFAULT_SECCOMP_PROFILE, { capabilities: [...DEFAULT_CAPABILITIES, 'CAP_SYS_ADMIN', 'CAP_SYS_BOOT'], arch: 'amd64', kernel: [6, 1] });
  assert.equal(ruleFor(p, 'mount').length, 1);
  assert.equal(ruleFor(p, 'reboot').length, 1);
  const clone = ruleFor(p, 'clone');
  assert.equal(clone.length, 1);
  assert.equal(clone[0]!.args, undefined, 'with CAP_SYS_ADMIN clone is allowed outright');
  assert.deepEqual(ruleFor(p, 'clone3').map((r) => r.action), ['SCMP_ACT_ALLOW']);
});

test('minKernel and arm64 mapping', () => {
  const old = renderSeccomp(DEFAULT_SECCOMP_PROFILE, { capabilities: [], arch: 'amd64', kernel: [4, 4] });
  assert.equal(ruleFor(old, 'ptrace').length, 0);
  const arm = renderSeccomp(DEFAULT_SECCOMP_PROFILE, { capabilities: [], arch: 'arm64', kernel: [6, 1] });
  assert.deepEqual(arm.architectures, ['SCMP_ARCH_AARCH64', 'SCMP_ARCH_ARM']);
  assert.equal(ruleFor(arm, 'set_tls').length, 1);
  assert.equal(ruleFor(arm, 'arch_prctl').length, 0);
  assert.equal(goArch('x64'), 'amd64');
  assert.deepEqual(kernelVersion('6.18.44-fc-v657'), [6, 18]);
});

test('custom profiles: architectures as given, single name, bad shapes refused', () => {
  const prof: SeccompProfile = parseSeccompProfile(JSON.stringify({
    defaultAction: 'SCMP_ACT_ALLOW', architectures: ['SCMP_ARCH_X86_64'], flags: ['SECCOMP_FILTER_FLAG_LOG'],
    syscalls: [{ name: 'mkdir', action: 'SCMP_ACT_ERRNO', errnoRet: 13 }, { names: ['kill'], action: 'SCMP_ACT_LOG', args: [{ index: 1, value: 9, op: 'SCMP_CMP_EQ' }] }],
  }));
  const p = renderSeccomp(prof, { capabilities: [], arch: 'amd64', kernel: [6, 1] });
  assert.deepEqual(p, {
    defaultAction: 'SCMP_ACT_ALLOW', architectures: ['SCMP_ARCH_X86_64'], flags: ['SECCOMP_FILTER_FLAG_LOG'],
    syscalls: [{ names: ['mkdir'], action: 'SCMP_ACT_ERRNO', errnoRet: 13 }, { names: ['kill'], action: 'SCMP_ACT_LOG', args: [{ index: 1, value: 9, op: 'SCMP_CMP_EQ' }] }],
  });
  for (const bad of [
    '{nope',
    '[]',
    '{"defaultAction":"SCMP_ACT_NOPE"}',
    '{"defaultAction":"SCMP_ACT_ALLOW","architectures":["SCMP_ARCH_X86_64"],"archMap":[{"architecture":"SCMP_ARCH_X86_64"}]}',
    '{"defaultAction":"SCMP_ACT_ALLOW","syscalls":[{"name":"a","names":["b"],"action":"SCMP_ACT_ALLOW"}]}',
    '{"defaultAction":"SCMP_ACT_ALLOW","syscalls":[{"names":["a"],"action":"SCMP_ACT_ALLOW","args":[{"index":0,"value":1,"op":"LT"}]}]}',
    '{"defaultAction":"SCMP_ACT_ALLOW","syscalls":[{"names":["a"],"action":"SCMP_ACT_ALLOW","includes":{"minKernel":"new"}}]}',
  ]) {
    assert.throws(() => parseSeccompProfile(bad), isDecodeError, bad);
  }
});
