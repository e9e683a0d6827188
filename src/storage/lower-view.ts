/**
 * LowerView: reads a stack of overlay-form layer dirs (top-most first) as the single
 * tree overlayfs would show, without mounting anything. Used where a mount is not
 * wanted or not possible: copying a vfs root, comparing a container's files with its
 * image's, and deciding what an init layer must add.
 *
 * Overlay form (see layer-apply.ts): a char device 0:0 hides the name in lower
 * layers; a dir with `trusted.overlay.opaque=y` hides the lower layers' contents of
 * that dir; a non-dir hides lower dirs of the same name.
 *
 * The view is read-only and does no caching: it is meant for one walk at a time over
 * layers that do not change meanwhile (image layers never do).
 */
import { lstatSync, promises as fsp, type Stats } from 'node:fs';
import { join } from 'node:path';
import { isErrno } from '../common';
import { lgetxattr } from '../sys';

export const OPAQUE_XATTR = 'trusted.overlay.opaque';

/** An entry as the merged view shows it: the top-most layer's copy. */
export interface ViewEntry {
  name: string;
  /** Path relative to the view root, without a leading slash ('' is the root). */
  rel: string;
  /** Where the visible copy is on disk. */
  abs: string;
  st: Stats;
  /** For a dir: the indexes of the layers that contribute to its contents, top first. */
  layers: number[];
}

export function isWhiteout(st: Stats): boolean {
  return st.isCharacterDevice() && st.rdev === 0;
}

export function isOpaque(abs: string): boolean {
  const v = lgetxattr(abs, OPAQUE_XATTR);
  return v !== null && v.length === 1 && v[0] === 0x79; // 'y'
}

export class LowerView {
  constructor(readonly dirs: readonly string[]) {}

  /** The root directory of the view (synchronous: a lstat and an xattr read per layer until an opaque one). */
  root(): ViewEntry | null {
    if (this.dirs.length === 0) return null;
    const layers: number[] = [];
    for (let i = 0; i < this.dirs.length; i++) {
      layers.push(i);
      if (isOpaque(this.dirs[i]!)) break;
    }
    return { name: '', rel: '', abs: this.dirs[0]!, st: lstatSync(this.dirs[0]!), layers };
  }

  /**
   * The visible entry at `rel` ('a/b'), or null when the view has nothing there. Synchronous:
   * a few stats of cached inodes per path component, microseconds each, where a trip through
   * the thread pool per stat costs a turn of the event loop (an init layer looks up ten paths
   * for every container).
   */
  lookup(rel: string): ViewEntry | null {
    let cur = this.root();
    for (const c of rel.split('/').filter((p) => p !== '' && p !== '.')) {
      if (!cur || !cur.st.isDirectory()) return null;
      cur = this.childSync(cur, c);
    }
    return cur;
  }

  /** The visible entry named `name` in the dir `dir`, or null. */
  async child(dir: ViewEntry, name: string): Promise<ViewEntry | null> {
    const steps = this.pick(dir, name);
    let step = steps.next();
    while (!step.done) step = steps.next(await lstatOrNull(step.value));
    return step.value;
  }

  /** child() with synchronous stats. */
  childSync(dir: ViewEntry, name: string): ViewEntry | null {
    const steps = this.pick(dir, name);
    let step = steps.next();
    while (!step.done) step = steps.next(lstatOrNullSync(step.value));
    return step.value;
  }

  /**
   * The visible entry named `name` in `dir`: yields each layer's path whose lstat (or null)
   * it needs next, top-down, and stops as soon as the answer is known.
   */
  private *pick(dir: ViewEntry, name: string): Generator<string, ViewEntry | null, Stats | null> {
    const rel = dir.rel ? `${dir.rel}/${name}` : name;
    let top: ViewEntry | null = null;
    for (const i of dir.layers) {
      const abs = join(this.dirs[i]!, rel);
      const st = yield abs;
      if (!st) continue;
      if (!top) {
        if (isWhiteout(st)) return null;
        top = { name, rel, abs, st, layers: [] };
        if (!st.isDirectory()) return top;
      } else if (!st.isDirectory()) break; // a lower non-dir or whiteout ends the dir's stack
      top.layers.push(i);
      if (isOpaque(abs)) break;
    }
    return top;
  }

  /** The visible children of a dir, sorted by name (byte order). */
  async list(dir: ViewEntry): Promise<ViewEntry[]> {
    const names = new Set<string>();
    for (const i of dir.layers) {
      try {
        for (const n of await fsp.readdir(join(this.dirs[i]!, dir.rel))) names.add(n);
      } catch (e) {
        if (!isErrno(e, 'ENOENT') && !isErrno(e, 'ENOTDIR')) throw e;
      }
    }
    const out: ViewEntry[] = [];
    for (const n of [...names].sort(byteOrder)) {
      const c = await this.child(dir, n);
      if (c) out.push(c);
    }
    return out;
  }
}

export function byteOrder(a: string, b: string): number {
  return Buffer.compare(Buffer.from(a), Buffer.from(b));
}

export async function lstatOrNull(p: string): Promise<Stats | null> {
  try {
    return await fsp.lstat(p);
  } catch (e) {
    if (isErrno(e, 'ENOENT') || isErrno(e, 'ENOTDIR')) return null;
    throw e;
  }
}

/** lstatOrNull with a synchronous call (for the worker thread and the walks that stat every entry). */
export function lstatOrNullSync(p: string): Stats | null {
  try {
    return lstatSync(p);
  } catch (e) {
    if (isErrno(e, 'ENOENT') || isErrno(e, 'ENOTDIR')) return null;
    throw e;
  }
}
