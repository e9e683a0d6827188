/**
 * What a container changed, and the same as a layer tar.
 *
 * Two ways to find out, as Docker has:
 * - overlayChanges: walk the upper dir only. Anything there was added or modified;
 *   a char device 0:0 is a deletion. An opaque dir that the lower layers also have
 *   (deleted and made again) holds all its contents: it is compared with the lower
 *   one entry by entry as below, which is what dockerd's overlay2 prints (it compares
 *   the container's root with the image's): `C /home`, `D /home/old`, `A /home/new`.
 * - naiveChanges: compare a full root with the lower view, entry by entry (mode,
 *   owner, device, and for non-dirs size and mtime; the security.capability xattr).
 *   Used by vfs, which has no upper dir.
 *
 * Both report a changed entry's parent dir as modified (so the layer tar restores the
 * parent's metadata), and list entries in walk order: parents before children, names
 * in byte order.
 *
 * Layer tars (OCI image-spec layer.md): added and modified entries as themselves,
 * deletions as `.wh.NAME`, an opaque dir as the dir plus `DIR/.wh..wh..opq`. Streams
 * are produced entry by entry; nothing is held whole in memory.
 */
import { promises as fsp, readdirSync, type Stats } from 'node:fs';
import { join, posix } from 'node:path';
import { Readable } from 'node:stream';
import { lgetxattr } from '../sys';
import { byteOrder, isOpaque, isWhiteout, lstatOrNull, lstatOrNullSync, type LowerView, type ViewEntry } from './lower-view';
import { encodeHeader, endOfArchive, entryChunks, headerFor, type TarHeader } from './tar-writer';

export enum ChangeKind {
  Modify = 0,
  Add = 1,
  Delete = 2,
}

export interface Change {
  /** Absolute path inside the container, e.g. "/etc/passwd". */
  path: string;
  kind: ChangeKind;
}

const rel2abs = (rel: string) => `/${rel}`;

/**
 * Docker's rule: equal seconds, and equal sub-seconds unless either side has none.
 * Sub-seconds are compared to 2 µs: Node sets times as a double, so a copy (vfs) can
 * be a fraction of a microsecond off its source.
 */
function sameTime(a: Stats, b: Stats): boolean {
  const as = Math.floor(a.mtimeMs / 1000);
  const bs = Math.floor(b.mtimeMs / 1000);
  if (as !== bs) return false;
  if (a.mtimeMs === as * 1000 || b.mtimeMs === bs * 1000) return true;
  return Math.abs(a.mtimeMs - b.mtimeMs) < 0.002;
}

async function sortedNames(dir: string): Promise<string[]> {
  return (await fsp.readdir(dir)).sort(byteOrder);
}

export async function overlayChanges(upper: string, lower: LowerView): Promise<Change[]> {
  const out: Change[] = [];
  const changedDirs = new Set<string>();
  const walk = async (rel: string): Promise<void> => {
    for (const name of await sortedNames(join(upper, rel))) {
      const crel = rel ? `${rel}/${name}` : name;
      const abs = join(upper, crel);
      const st = await fsp.lstat(abs);
      let kind: ChangeKind | null;
      const low = lower.lookup(crel);
      if (st.isDirectory() && low?.st.isDirectory() && isOpaque(abs)) {
        changedDirs.add(crel);
        const at = out.length;
        const differs = statDifferent(low.st, st);
        if (differs) out.push({ path: rel2abs(crel), kind: ChangeKind.Modify });
        await naiveWalk(out, upper, lower, crel, low, differs, true);
        if (out.length > at && rel !== '' && !changedDirs.has(rel)) {
          out.splice(at, 0, { path: rel2abs(rel), kind: ChangeKind.Modify });
          changedDirs.add(rel);
        }
        continue;
      }
      if (isWhiteout(st)) kind = ChangeKind.Delete;
      else if (!low) kind = ChangeKind.Add;
      else if (low.st.isDirectory() && st.isDirectory() && low.st.mode === st.mode && sameTime(low.st, st)) kind = null;
      else kind = ChangeKind.Modify;
      if (st.isDirectory()) changedDirs.add(crel);
      if (kind === ChangeKind.Add || kind === ChangeKind.Delete) {
        if (rel !== '' && !changedDirs.has(rel)) {
          out.push({ path: rel2abs(rel), kind: ChangeKind.Modify });
          changedDirs.add(rel);
        }
      }
      if (kind !== null) out.push({ path: rel2abs(crel), kind });
      if (st.isDirectory()) await walk(crel);
    }
  };
  await walk('');
  return out;
}

function statDifferent(a: Stats, b: Stats): boolean {
  if (a.mode !== b.mode || a.uid !== b.uid || a.gid !== b.gid || a.rdev !== b.rdev) return true;
  if (a.isDirectory()) return false;
  return !sameTime(a, b) || a.size !== b.size;
}

function capability(abs: string, st: Stats): Buffer | null {
  if (st.isSymbolicLink()) return null;
  return lgetxattr(abs, 'security.capability');
}

function sameCapability(a: ViewEntry, abs: string, st: Stats): boolean {
  const x = capability(a.abs, a.st);
  const y = capability(abs, st);
  return x === y || (x !== null && y !== null && x.equals(y));
}

export async function naiveChanges(root: string, lower: LowerView): Promise<Change[]> {
  const out: Change[] = [];
  await naiveWalk(out, root, lower, '', lower.root(), false, false);
  return out;
}

/**
 * naiveChanges from `rel` down (its own change, if any, is the caller's to report). `inUpper`:
 * `root` is an overlay upper dir, where a whiteout is an absence (none is needed under an
 * opaque dir, but one may be left there).
 */
async function naiveWalk(out: Change[], root: string, lower: LowerView, rel: string, old: ViewEntry | null, added: boolean, inUpper: boolean): Promise<void> {
  const walk = async (rel: string, old: ViewEntry | null, added: boolean): Promise<void> => {
    const at = out.length;
    const oldChildren = new Map<string, ViewEntry>();
    if (old?.st.isDirectory()) for (const c of await lower.list(old)) oldChildren.set(c.name, c);
    for (const name of await sortedNames(join(root, rel))) {
      const crel = rel ? `${rel}/${name}` : name;
      const abs = join(root, crel);
      const st = await fsp.lstat(abs);
      if (inUpper && isWhiteout(st)) continue;
      const prev = oldChildren.get(name) ?? null;
      let childAdded = false;
      if (!prev) {
        out.push({ path: rel2abs(crel), kind: ChangeKind.Add });
        childAdded = true;
      } else {
        if (statDifferent(prev.st, st) || !sameCapability(prev, abs, st)) {
          out.push({ path: rel2abs(crel), kind: ChangeKind.Modify });
          childAdded = true;
        }
        oldChildren.delete(name);
      }
      if (st.isDirectory()) await walk(crel, prev, childAdded);
    }
    for (const name of [...oldChildren.keys()].sort(byteOrder)) out.push({ path: rel2abs(rel ? `${rel}/${name}` : name), kind: ChangeKind.Delete });
    if (out.length > at && !added && rel !== '') out.splice(at, 0, { path: rel2abs(rel), kind: ChangeKind.Modify });
  };
  await walk(rel, old, added);
}

/** Bytes gathered before the tar stream hands them on: a header or a small file is far smaller. */
const TAR_CHUNK = 256 * 1024;

/**
 * Wraps an entry generator as a byte stream that ends with the end-of-archive blocks.
 * Small pieces (headers, small files, padding) go out gathered into chunks of about
 * TAR_CHUNK bytes: a layer of 1000 small files is then a few writes for its reader
 * (the content store), not 3000.
 */
function tarStream(entries: () => AsyncGenerator<Buffer>): Readable {
  return Readable.from(
    (async function* () {
      let parts: Buffer[] = [];
      let size = 0;
      for await (const b of entries()) {
        if (size + b.length < TAR_CHUNK) {
          parts.push(b);
          size += b.length;
          continue;
        }
        // A big piece (part of a large file) goes as it is, after what was gathered.
        if (size > 0) yield Buffer.concat(parts, size);
        parts = [];
        size = 0;
        yield b;
      }
      parts.push(endOfArchive());
      yield Buffer.concat(parts);
    })(),
    { objectMode: false },
  );
}


function whiteoutHeader(rel: string, st: Stats | null, name = `.wh.${posix.basename(rel)}`): TarHeader {
  const dir = posix.dirname(rel);
  return {
    name: dir === '.' ? name : `${dir}/${name}`,
    type: 'file',
    mode: 0o600,
    uid: st?.uid ?? 0,
    gid: st?.gid ?? 0,
    size: 0,
    mtime: st ? Math.floor(st.mtimeMs / 1000) : 0,
  };
}

/**
 * The upper dir of an overlay snapshot as a layer tar. The walk stats synchronously: an
 * upper dir is a container's changes, often many small files (a build's COPY), where a
 * thread-pool round trip per entry costs several times the lstat itself.
 */
export function overlayDiffTar(upper: string): Readable {
  return tarStream(async function* () {
    const links = new Map<string, string>();
    async function* walk(rel: string): AsyncGenerator<Buffer> {
      for (const name of readdirSync(join(upper, rel)).sort(byteOrder)) {
        const crel = rel ? `${rel}/${name}` : name;
        const abs = join(upper, crel);
        const st = lstatOrNullSync(abs);
        if (!st) continue; // deleted while we walked
        if (isWhiteout(st)) {
          yield encodeHeader(whiteoutHeader(crel, st));
          continue;
        }
        const h = await headerFor(abs, st, crel, links);
        if (!h) continue;
        yield* entryChunks(h, abs);
        if (st.isDirectory()) {
          if (isOpaque(abs)) yield encodeHeader({ ...whiteoutHeader(`${crel}/x`, st, '.wh..wh..opq'), mode: st.mode & 0o7777 });
          yield* walk(crel);
        }
      }
    }
    yield* walk('');
  });
}

/** A layer tar of `changes` (from naiveChanges) taken from the full root `root`. */
export function changesTar(root: string, changes: Change[]): Readable {
  return tarStream(async function* () {
    const links = new Map<string, string>();
    // Docker sorts by path so that a dir comes before its contents and whiteouts sit with their siblings.
    const sorted = [...changes].sort((a, b) => byteOrder(a.path, b.path));
    for (const c of sorted) {
      const rel = c.path.replace(/^\/+/, '');
      if (c.kind === ChangeKind.Delete) {
        yield encodeHeader(whiteoutHeader(rel, await lstatOrNull(join(root, posix.dirname(rel)))));
        continue;
      }
      const abs = join(root, rel);
      const st = await lstatOrNull(abs);
      if (!st) continue;
      const h = await headerFor(abs, st, rel, links);
      if (h) yield* entryChunks(h, abs);
    }
  });
}

/** A whole tree as a plain tar (docker export): every entry, no whiteouts. */
export function treeTar(root: string): Readable {
  return tarStream(async function* () {
    const links = new Map<string, string>();
    async function* walk(rel: string): AsyncGenerator<Buffer> {
      for (const name of await sortedNames(join(root, rel))) {
        const crel = rel ? `${rel}/${name}` : name;
        const abs = join(root, crel);
        const st = await lstatOrNull(abs);
        if (!st) continue;
        const h = await headerFor(abs, st, crel, links);
        if (!h) continue;
        yield* entryChunks(h, abs);
        if (st.isDirectory()) yield* walk(crel);
      }
    }
    yield* walk('');
  });
}
