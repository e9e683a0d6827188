export { Engine, ENGINE_VERSION, type EngineOptions } from './engine';
export { EventBus, type EngineEvent } from './events';
export { ContainerService, normalizeSignal, signalNumber, mergeEnv, type ContainerRecord, type ContainerState, type CreateContainerOptions, type WaitCondition } from './containers';
export { ImageService, applyChanges, hostArch } from './images';
export { humanDuration } from './human';
export type { LogEntry } from '../runtime';
export type { ImageRecord } from '../image';
export { familiarString, parseReference } from '../image';
