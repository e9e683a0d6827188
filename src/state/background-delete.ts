/**
 * Deletes directory trees that nothing refers to any more (a removed container's record,
 * bundle and writable layer, already renamed out of the way), one tree at a time.
 *
 * A removal answers as soon as the tree is renamed; the files go afterwards. Deleting each
 * tree at once put every unlink, rmdir and stat of 20 concurrent removals on node's four pool
 * threads together, ahead of the unmounts and renames those removals were still waiting for.
 * One at a time, the pool keeps room for them (issue 14: `docker rm -f` of 20, medians of eight
 * rounds, about 130 ms with the trees deleted at once and 106 ms one at a time). A crash leaves
 * the renamed trees where their owners' start-up sweeps find them.
 */
import { promises as fsp } from 'node:fs';
import { KeyedMutex } from './mutex';

/** One lane: the deletions take turns, in the order they were asked for. */
const lane = new KeyedMutex();

/** Queues `path` (a file or a tree) for deletion; resolves once it is gone or could not be deleted. */
export function deleteInBackground(path: string): Promise<void> {
  return lane.run('delete', () => fsp.rm(path, { recursive: true, force: true }).catch(() => undefined));
}
