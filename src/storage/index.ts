export { applyLayer, type ApplyLayerOptions, type ApplyLayerResult } from './layer-apply';
export { LayerStore, chainIDOf, type LayerInfo } from './layer-store';
export { OverlaySnapshotter, type Mount } from './overlay';
export { VfsSnapshotter } from './vfs';
export { STORAGE_DRIVERS, storageDriverName, type PrepareOptions, type SnapshotInfo, type Snapshotter, type SnapshotterOptions, type SnapshotView } from './snapshotter';
export { ChangeKind, treeTar, type Change } from './changes';
export { mapTarOwners, type OwnerMap } from './tar-owners';
export { dirSize } from './dir-size';
export { copyUp } from './copy-tree';
export {
  VolumeStore, isAnonymous, checkVolumeName,
  type VolumeRecord, type VolumeUsage, type CreateVolumeOptions, type VolumeUsers, type VolumeEventSink, type VolumeStoreOptions,
} from './volumes';
export { ContainerFs, dockerBase, goFileMode, isGoDir, type FsMount, type PathStat, type ExtractOptions } from './container-fs';
export { resolveInRoot } from '../sys';
export { mkdirIn } from './mkdir-in-root';
