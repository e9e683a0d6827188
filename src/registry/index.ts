export { RegistryServer, type RegistryServerOptions, type RegistryAddress } from './server';
export { RegistryStorage } from './storage';
export { collectGarbage, type GcResult } from './gc';
export { Htpasswd } from './htpasswd';
export { RegistryError, type RegistryErrorCode } from './errors';
export { isValidRepositoryName, isValidTagName, parseDigest, type ParsedDigest } from './names';
