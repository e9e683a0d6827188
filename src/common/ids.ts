import { randomBytes } from 'node:crypto';

/** Brands keep strings of different meaning from being mixed up at compile time. */
export type Brand<T, B extends string> = T & { readonly __brand: B };

/** `sha256:<64 hex>` */
export type Digest = Brand<string, 'Digest'>;
/** 64 lowercase hex characters. */
export type ContainerId = Brand<string, 'ContainerId'>;
/** An absolute path on the host. */
export type HostPath = Brand<string, 'HostPath'>;

const DIGEST_RE = /^sha256:[a-f0-9]{64}$/;
export const isDigest = (s: string): s is Digest => DIGEST_RE.test(s);
export const hexOf = (d: Digest): string => d.slice('sha256:'.length);
export const asDigest = (hex: string): Digest => `sha256:${hex}` as Digest;

const CONTAINER_ID_RE = /^[0-9a-f]{64}$/;
export const isContainerId = (s: string): s is ContainerId => CONTAINER_ID_RE.test(s);

export function newContainerId(): ContainerId {
  return randomBytes(32).toString('hex') as ContainerId;
}

export const shortId = (id: string): string => id.replace(/^sha256:/, '').slice(0, 12);
