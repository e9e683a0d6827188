import type { Readable } from 'node:stream';
import type { Digest } from '../common/ids';
import { notImplemented } from '../common/errors';

export class ContentStore {
  constructor(readonly root: string) {}
  async writeStream(_input: Readable, _expected?: Digest): Promise<{ digest: Digest; size: number }> { throw notImplemented('ContentStore'); }
  async writeBuffer(_buf: Buffer, _expected?: Digest): Promise<{ digest: Digest; size: number }> { throw notImplemented('ContentStore'); }
  async has(_d: Digest): Promise<boolean> { throw notImplemented('ContentStore'); }
  path(d: Digest): string { return d; }
  openRead(_d: Digest): Readable { throw notImplemented('ContentStore'); }
  async readBuffer(_d: Digest): Promise<Buffer> { throw notImplemented('ContentStore'); }
  async size(_d: Digest): Promise<number> { throw notImplemented('ContentStore'); }
  async delete(_d: Digest): Promise<void> { throw notImplemented('ContentStore'); }
  async list(): Promise<Digest[]> { throw notImplemented('ContentStore'); }
}
