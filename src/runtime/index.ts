export * from './capabilities';
export * from './cgroups';
export * from './sysinfo';
export * from './spec';
export * from './resources';
export * from './user';
export * from './monitor';
export * from './k8s-log';
export * from './cgroup-stats';
export * from './seccomp';
export * from './seccomp-default';
export * from './userns';
export * from './attach';
export * from './shm';
// The engine resolves container paths (volume copy-up) with the same rule; it may not import sys.
export { procStartTime, resolveInRoot } from '../sys';
export * from './processes';
export * from './mount-propagation';
