export * from './libc';
export { mountFrom, mountFromIsCheap } from './mount-from';
export { mountWithOptions, parseMountOptions, type MountError } from './mount-options';
export { readMountInfo, parseMountInfo, isMountPoint, type MountInfo } from './mountinfo';
export { kernelHasX32 } from './abi';
export { resolveInRoot, resolveInRootSync, walkInRoot, walkInRootSync, MAX_SYMLINKS, type InspectComponent } from './resolve-in-root';
export { runCollected, sealedCopy, spawnPiped, spawnWith, type ChildFd, type CollectedRun, type PipedProcess, type SpawnedProcess, type SpawnOptions } from './spawn';
export { builtHelper, procStartTime } from './proc';
