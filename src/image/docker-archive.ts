import type { Readable, Writable } from 'node:stream';
import type { Digest } from '../common/ids';
import { notImplemented } from '../common/errors';
import type { ContentStore } from './content-store';
import type { ImageConfig } from './image-config';

export interface ArchiveImage {
  config: ImageConfig;
  configDigest: Digest;
  repoTags: string[];
  layerBlobs: Digest[];
}
export interface ArchiveContents { images: ArchiveImage[] }

export interface ArchiveImageSource {
  configDigest: Digest;
  repoTags: string[];
  layerBlobs: Digest[];
}

export async function readArchive(_input: Readable, _content: ContentStore): Promise<ArchiveContents> { throw notImplemented('readArchive'); }
export async function writeArchive(_out: Writable, _images: ArchiveImageSource[], _content: ContentStore): Promise<void> { throw notImplemented('writeArchive'); }
