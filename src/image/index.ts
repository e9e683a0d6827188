export * from './reference';
export * from './content-store';
export * from './image-config';
export * from './image-store';
export * from './docker-archive';
export * from './compression';
export * from './media-types';
export * from './registry';
