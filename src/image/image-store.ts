import type { Digest } from '../common/ids';
import { notImplemented } from '../common/errors';
import type { ContentStore } from './content-store';
import type { Reference } from './reference';
import type { ImageConfig } from './image-config';

export type { ImageConfig } from './image-config';

export interface ImageRecord {
  id: Digest;
  config: ImageConfig;
  created: string;
  size: number;
  layers: Digest[];
  manifestDigest?: Digest;
}

export class ImageStore {
  constructor(readonly root: string, readonly content: ContentStore) {}
  async load(): Promise<void> { throw notImplemented('ImageStore'); }
  async create(_config: ImageConfig, _opts?: { manifestDigest?: Digest }): Promise<ImageRecord> { throw notImplemented('ImageStore'); }
  get(_id: Digest): ImageRecord | undefined { throw notImplemented('ImageStore'); }
  list(): ImageRecord[] { throw notImplemented('ImageStore'); }
  resolve(_nameOrId: string): ImageRecord { throw notImplemented('ImageStore'); }
  async tag(_id: Digest, _ref: Reference): Promise<void> { throw notImplemented('ImageStore'); }
  async untag(_ref: Reference): Promise<Digest> { throw notImplemented('ImageStore'); }
  tagsOf(_id: Digest): string[] { throw notImplemented('ImageStore'); }
  async setSize(_id: Digest, _n: number): Promise<void> { throw notImplemented('ImageStore'); }
  async delete(_id: Digest): Promise<void> { throw notImplemented('ImageStore'); }
  lastTagTime(_id: Digest): string | undefined { throw notImplemented('ImageStore'); }
}
