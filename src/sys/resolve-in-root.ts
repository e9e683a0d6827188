/**
 * Resolves a path inside a directory that stands for a root filesystem (a container's
 * rootfs, a layer being unpacked) the way the kernel would if that directory were `/`:
 * the one implementation of this rule, shared by runtime/, storage/ and (through
 * runtime/) engine/.
 *
 * Contract
 * - The path is interpreted inside `root`: an absolute symlink target restarts at `root`,
 *   a relative one continues from the link's directory, and `..` never climbs above
 *   `root` (as `..` at `/` stays at `/`). The result is therefore always `root` itself or
 *   a path below it, whatever the tree contains; `/proc/self/root` or `/etc` in a link
 *   means the directory of that name inside `root`, never the host's.
 * - Every component is resolved, the last one included: a link at the end is followed.
 *   Components that do not exist (or that sit below a non-directory) are kept as
 *   written, so the caller can create them; dangling links therefore resolve to where
 *   their target would be.
 * - More than MAX_SYMLINKS links in one resolution (a loop, or a chain that long) fails
 *   with invalid-argument, code ELOOP, naming the path.
 * - A readlink error other than "not a link" (EINVAL) or "absent" (ENOENT, ENOTDIR) is
 *   thrown as it is (EACCES, EIO …): a component that cannot be read is never silently
 *   taken as a plain directory.
 * - The answer is only as good as the moment it was computed: a tree that a hostile
 *   process changes concurrently can swap a directory for a link afterwards. Callers
 *   that open the result use O_NOFOLLOW on the last component, and trees resolved here
 *   are ones no container is running in (a stopped rootfs, a layer being unpacked).
 */
import { promises as fsp, readlinkSync } from 'node:fs';
import { join } from 'node:path';
import { BerthError, isErrno } from '../common';

/** The kernel's MAXSYMLINKS. */
export const MAX_SYMLINKS = 40;

/**
 * Looks at `rel` (components joined with '/', relative to root, all of its parents
 * already resolved to real directories) and returns its link target when it is a
 * symlink, undefined when it is anything else or absent. It may refuse a component
 * by throwing, or create it (see storage/layer-apply.ts).
 */
export type InspectComponent = (rel: string) => Promise<string | undefined>;

/** Host path of `path` resolved inside `root` (see the contract). */
export async function resolveInRoot(root: string, path: string): Promise<string> {
  const rel = await walkInRoot(root, path, (r) => readlinkOrUndefined(join(root, r)));
  return join(root, rel);
}

/** resolveInRoot, synchronously: for small reads done once per container start. */
export function resolveInRootSync(root: string, path: string): string {
  const steps = resolveSteps(root, path);
  let step = steps.next();
  while (!step.done) step = steps.next(readlinkOrUndefinedSync(join(root, step.value)));
  return join(root, step.value);
}

/**
 * resolveInRoot with the caller's `inspect` in place of readlink, for callers that
 * check or create each component on the way. Returns the resolved path relative to
 * `root` ('' for the root itself), without a leading '/'.
 */
export async function walkInRoot(root: string, path: string, inspect: InspectComponent): Promise<string> {
  const steps = resolveSteps(root, path);
  let step = steps.next();
  while (!step.done) step = steps.next(await inspect(step.value));
  return step.value;
}

/** walkInRoot with a synchronous `inspect`, for extractions that run on a worker thread. */
export function walkInRootSync(root: string, path: string, inspect: (rel: string) => string | undefined): string {
  const steps = resolveSteps(root, path);
  let step = steps.next();
  while (!step.done) step = steps.next(inspect(step.value));
  return step.value;
}

/** Yields each component to inspect (relative to root); is sent back its link target or undefined. */
function* resolveSteps(root: string, path: string): Generator<string, string, string | undefined> {
  const done: string[] = [];
  const todo = components(path);
  let links = 0;
  while (todo.length > 0) {
    const c = todo.shift() as string;
    if (c === '..') {
      done.pop();
      continue;
    }
    done.push(c);
    const target = yield done.join('/');
    if (target === undefined) continue;
    done.pop();
    if (++links > MAX_SYMLINKS) {
      const err = new BerthError(
        'invalid-argument',
        `too many levels of symbolic links (more than ${MAX_SYMLINKS}) resolving ${JSON.stringify(path)} inside ${root}`,
      );
      (err as BerthError & { code: string }).code = 'ELOOP';
      throw err;
    }
    if (target.startsWith('/')) done.length = 0;
    todo.unshift(...components(target));
  }
  return done.join('/');
}

function components(p: string): string[] {
  return p.split('/').filter((c) => c !== '' && c !== '.');
}

async function readlinkOrUndefined(abs: string): Promise<string | undefined> {
  try {
    return await fsp.readlink(abs);
  } catch (err) {
    if (notALink(err)) return undefined;
    throw err;
  }
}

function readlinkOrUndefinedSync(abs: string): string | undefined {
  try {
    return readlinkSync(abs);
  } catch (err) {
    if (notALink(err)) return undefined;
    throw err;
  }
}

function notALink(err: unknown): boolean {
  return isErrno(err, 'EINVAL') || isErrno(err, 'ENOENT') || isErrno(err, 'ENOTDIR');
}
