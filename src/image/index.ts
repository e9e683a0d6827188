// References follow the docker grammar in common/ (the berth CLI needs it too); the
// image layer's surface keeps offering them to the engine.
export {
  DEFAULT_DOMAIN, DEFAULT_TAG, familiarName, familiarString, fullName, fullString, isValidDomain, isValidTag,
  parseReference, withDefaultTag, withTag, type Reference,
} from '../common';
export * from './content-store';
export * from './image-config';
export * from './image-store';
export * from './docker-archive';
export * from './media-types';
export * from './registry';
