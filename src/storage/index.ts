export { applyLayer, type ApplyLayerOptions, type ApplyLayerResult } from './layer-apply';
export { LayerStore, chainIDOf, type LayerInfo } from './layer-store';
export { OverlaySnapshotter, type Mount, type SnapshotInfo } from './overlay';
