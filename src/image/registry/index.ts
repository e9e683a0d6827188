export * from './auth';
export * from './client';
export * from './endpoint';
export * from './errors';
export * from './limit';
export { hostPlatform, parsePlatform, normalizePlatform, formatPlatform, selectPlatform, parseManifest, MANIFEST_ACCEPT, SCHEMA1_TYPES, type ParsedManifest } from './manifest';
