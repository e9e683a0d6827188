import type { Digest } from '../common/ids';
import { notImplemented } from '../common/errors';

export interface Reference {
  domain: string;
  path: string;
  tag?: string;
  digest?: Digest;
}

export function parseReference(s: string): Reference {
  throw notImplemented(`parseReference(${s})`);
}
export function familiarName(ref: Reference): string { return ref.path; }
export function familiarString(ref: Reference): string { return ref.path; }
export function fullName(ref: Reference): string { return `${ref.domain}/${ref.path}`; }
export function withDefaultTag(ref: Reference): Reference { return ref; }
