export * from './libc';
export { mountFrom } from './mount-from';
export { readMountInfo, parseMountInfo, isMountPoint, type MountInfo } from './mountinfo';
export { kernelHasX32 } from './abi';
