export { type Credentials, type Challenge, parseChallenges, repositoryScope } from './auth';
export {
  RegistryClient, RemoteRepository, DEFAULT_PULL_CONCURRENCY, DEFAULT_PUSH_CONCURRENCY,
  type RegistryClientOptions, type RepositoryName, type RepositoryOptions, type ResolveOptions, type FetchedManifest,
  type ResolvedManifest, type FetchBlobOptions, type UploadOptions, type ListTagsOptions, type LoginResult,
} from './client';
export { resolveEndpoint, isLoopbackHost, DOCKER_HUB_REGISTRY_HOST, type RegistryEndpoint } from './endpoint';
export { RegistryError, type RegistryErrorEntry } from './errors';
export { type SearchResult } from './search';
export { readErrorBody, transportError } from './http';
export { createLimiter, mapLimit } from './limit';
export {
  hostPlatform, parsePlatform, normalizePlatform, formatPlatform, selectPlatform, platformServes, parseManifest, MANIFEST_ACCEPT, SCHEMA1_TYPES,
  type ParsedManifest,
} from './manifest';
export { loadRegistryMirrors, parseHostsToml, type RegistryMirrors } from './hosts-config';
