export * from './capabilities';
export * from './cgroups';
export * from './spec';
export * from './user';
export * from './monitor';
export * from './k8s-log';
export * from './seccomp';
export * from './seccomp-default';
