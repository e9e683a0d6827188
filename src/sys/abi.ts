/**
 * Which system-call ABIs the running kernel accepts, for seccomp filters that
 * need not cover ABIs no process can use.
 */

let x32: boolean | undefined;

/**
 * Whether this x86-64 kernel runs x32 programs (CONFIG_X86_X32_ABI): an x32
 * getpid answers instead of failing with ENOSYS. False on other architectures.
 */
export function kernelHasX32(): boolean {
  if (x32 !== undefined) return x32;
  if (process.arch !== 'x64') return (x32 = false);
  try {
    // eslint-disable-next-line @typescript-eslint/no-var-requires
    const koffi = require('koffi') as { load(name: string): { func(sig: string): (...args: unknown[]) => unknown } };
    const syscall = koffi.load('libc.so.6').func('long syscall(long, ...)') as (n: number) => number;
    const X32_SYSCALL_BIT = 0x40000000;
    const SYS_GETPID = 39;
    x32 = syscall(X32_SYSCALL_BIT | SYS_GETPID) > 0;
  } catch {
    // Cannot tell: assume it does, so filters stay complete.
    x32 = true;
  }
  return x32;
}
