import { posix } from 'node:path';

/**
 * The path rules of `docker cp`, kept pure so they can be tested alone. A path's
 * trailing `/` or `/.` carries meaning (the destination must be a directory; copy a
 * directory's contents rather than the directory), so cleaning keeps it.
 */

/** Where a copy starts or ends: `container` is '' for a local path. */
export interface CpArg {
  container: string;
  path: string;
}

/**
 * `CONTAINER:PATH` or a local path. A local path holding a colon must be written
 * absolute or starting with `.` (`./a:b`), as docker requires.
 */
export function splitCpArg(arg: string): CpArg {
  if (arg.startsWith('/')) return { container: '', path: arg };
  const i = arg.indexOf(':');
  if (i < 0 || arg.startsWith('.')) return { container: '', path: arg };
  return { container: arg.slice(0, i), path: arg.slice(i + 1) };
}

export function hasTrailingSeparator(p: string): boolean {
  return p.endsWith('/');
}

/** The last element is `.` (`dir/.`, `.`). */
export function specifiesCurrentDir(p: string): boolean {
  return posix.basename(p) === '.' || p === '.';
}

/** `dir/` or `dir/.`: the user says this must be a directory. */
export function assertsDirectory(p: string): boolean {
  return hasTrailingSeparator(p) || specifiesCurrentDir(p);
}

/** Go's filepath.Clean for `/` paths ('' becomes '.'). */
export function cleanPath(p: string): string {
  if (p === '') return '.';
  const n = posix.normalize(p);
  return n.length > 1 ? n.replace(/\/+$/, '') : n;
}

/** `cleaned` with the trailing `/.` or `/` of `original` put back. */
export function preserveTrailingDotOrSeparator(cleaned: string, original: string): string {
  let out = cleaned;
  if (!specifiesCurrentDir(out) && specifiesCurrentDir(original)) {
    if (!hasTrailingSeparator(out)) out += '/';
    out += '.';
  }
  if (!hasTrailingSeparator(out) && hasTrailingSeparator(original)) out += '/';
  return out;
}

/** The directory and last element of a path, keeping a final `.` as the element. */
export function splitPathDirEntry(p: string): { dir: string; base: string } {
  let cleaned = cleanPath(p);
  if (specifiesCurrentDir(p)) cleaned += '/.';
  return { dir: posix.dirname(cleaned), base: posix.basename(cleaned) || '/' };
}

/**
 * After a symlink was followed from `path` to `resolved`: the resolved path with the
 * trailing `/` or `/.` of `path` kept, and the name entries must take (`path`'s last
 * element) when following changed it, else ''.
 */
export function getRebaseName(path: string, resolved: string): { path: string; rebaseName: string } {
  let out = resolved;
  if (specifiesCurrentDir(path) && !specifiesCurrentDir(out)) out += '/.';
  if (hasTrailingSeparator(path) && !hasTrailingSeparator(out)) out += '/';
  const rebaseName = posix.basename(path) !== posix.basename(out) ? posix.basename(path) : '';
  return { path: out, rebaseName };
}

/** A symlink's target as a path from the root: a relative one is taken from the link's directory. */
export function linkTargetPath(linkPath: string, target: string): string {
  return target.startsWith('/') ? target : posix.join(splitPathDirEntry(linkPath).dir, target);
}

/** What is known of the source or destination of a copy. */
export interface CopyInfo {
  path: string;
  exists: boolean;
  isDir: boolean;
  /** The name the source's entries must take in place of its own last element ('' to keep it). */
  rebaseName: string;
}

/**
 * Where to extract an archive of `src` so that it lands as `dst` asks, and how to
 * rename its entries: into an existing directory as is; onto an existing file or a
 * missing path under the destination's name. Throws docker's words for a directory
 * onto a file and a file onto a missing `dir/`.
 */
export function prepareCopy(src: CopyInfo, dst: CopyInfo): { dir: string; rename?: { from: string; to: string } } {
  const { dir: dstDir, base: dstBase } = splitPathDirEntry(dst.path);
  const srcBase = src.rebaseName || splitPathDirEntry(src.path).base;
  if (dst.exists && dst.isDir) return { dir: dst.path };
  if (dst.exists && src.isDir) throw new Error('cannot copy directory');
  if (!dst.exists && !src.isDir && assertsDirectory(dst.path)) throw new Error('no such directory');
  return { dir: dstDir, rename: { from: srcBase, to: dstBase } };
}

/**
 * An entry's name after renaming the copied thing `from` → `to`. Docker replaces the
 * first occurrence of `from`; entries always start with it, so this is a prefix swap
 * (the root `/` as the source renames nothing before the first element).
 */
export function rebaseEntryName(name: string, from: string, to: string): string {
  const old = from === '/' ? '' : from;
  const i = name.indexOf(old);
  return i < 0 ? name : name.slice(0, i) + to + name.slice(i + old.length);
}
