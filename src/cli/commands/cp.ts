import { promises as fsp } from 'node:fs';
import { posix, resolve as resolvePath } from 'node:path';
import type { Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { Command } from 'commander';
import { CliContext, ExitError } from '../context';
import { newCommand, requireExactArgs } from '../command';
import { goFormatG } from '../../wire';
import {
  cleanPath, getRebaseName, linkTargetPath, preserveTrailingDotOrSeparator, prepareCopy, splitCpArg, splitPathDirEntry, type CopyInfo,
} from '../cp-paths';
import { countBytes, extractArchive, goFsError, packLocalPath, rebaseArchive } from '../cp-archive';

/** Go's os.FileMode bits the daemon's path stat carries. */
const MODE_DIR = 2 ** 31;
const MODE_SYMLINK = 2 ** 27;
const MODE_DEVICE = 2 ** 26;
const MODE_IRREGULAR = 2 ** 19;

/** The daemon's `X-Docker-Container-Path-Stat`. */
interface PathStat {
  name: string;
  size: number;
  mode: number;
  mtime: string;
  linkTarget: string;
}

interface CpFlags {
  followLink?: boolean;
  archive?: boolean;
  quiet?: boolean;
}

const enc = encodeURIComponent;

function isDirMode(mode: number): boolean {
  return Math.floor(mode / MODE_DIR) % 2 === 1;
}

function hasBit(mode: number, bit: number): boolean {
  return Math.floor(mode / bit) % 2 === 1;
}

function decodeStat(header: string | string[] | undefined): PathStat | undefined {
  if (typeof header !== 'string' || !header) return undefined;
  try {
    return JSON.parse(Buffer.from(header, 'base64').toString('utf8')) as PathStat;
  } catch {
    return undefined;
  }
}

/** HEAD …/archive: the path's stat, or undefined when the daemon cannot give one (docker ignores why). */
async function statPath(ctx: CliContext, container: string, path: string): Promise<PathStat | undefined> {
  try {
    const res = await ctx.client.transport.request('HEAD', `/containers/${enc(container)}/archive`, { query: { path } });
    res.resume();
    return decodeStat(res.headers['x-docker-container-path-stat']);
  } catch {
    return undefined;
  }
}

/** Docker's size in "Successfully copied": decimal units, three significant digits. */
export function copiedSize(bytes: number): string {
  const units = ['B', 'kB', 'MB', 'GB', 'TB', 'PB'];
  let v = bytes;
  let i = 0;
  while (v >= 1000 && i < units.length - 1) {
    v /= 1000;
    i++;
  }
  return `${goFormatG(v, 3)}${units[i]}`;
}

/** A local path made absolute, its trailing `/` or `/.` kept. */
function absoluteLocal(p: string): string {
  return preserveTrailingDotOrSeparator(resolvePath(p), p);
}

/**
 * docker's checks on a local destination before anything is fetched: its directory
 * exists, and it is not a device.
 */
async function validateOutputPath(path: string): Promise<void> {
  const dir = posix.dirname(cleanPath(path));
  if (dir !== '.' && dir !== '') {
    const st = await fsp.stat(dir).catch((e: NodeJS.ErrnoException) => (e.code === 'ENOENT' ? null : undefined));
    if (st === null) throw new ExitError(1, `invalid output path: directory ${JSON.stringify(dir)} does not exist`);
  }
  let st;
  try {
    st = await fsp.stat(path);
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === 'ENOENT') return;
    throw new ExitError(1, goFsError(e).message);
  }
  if (st.isCharacterDevice() || st.isBlockDevice()) throw new ExitError(1, `invalid output path: ${JSON.stringify(path)} must be a directory or a regular file: got a device`);
}

/**
 * The local destination as docker's CopyInfoDestinationPath sees it: symlinks at the
 * end followed (the user's own links; at most 10), a missing path accepted when its
 * parent is a directory.
 */
async function localDestination(path: string): Promise<CopyInfo> {
  let p = path;
  for (let n = 0; ; n++) {
    const st = await fsp.lstat(p).catch((e: NodeJS.ErrnoException) => {
      if (e.code === 'ENOENT') return undefined;
      throw goFsError(e);
    });
    if (st && !st.isSymbolicLink()) return { path: p, exists: true, isDir: st.isDirectory(), rebaseName: '' };
    if (!st) break;
    if (n >= 10) throw new Error(`too many symlinks in ${path}`);
    p = linkTargetPath(p, await fsp.readlink(p));
  }
  const parent = splitPathDirEntry(p).dir;
  const pst = await fsp.stat(parent).catch((e) => { throw goFsError(e); });
  if (!pst.isDirectory()) throw new Error('not a directory');
  return { path: p, exists: false, isDir: false, rebaseName: '' };
}

/**
 * The local source as docker's CopyInfoSourcePath resolves it: links in the directory
 * part always followed, the last element only with -L (then named as given).
 */
async function localSource(path: string, follow: boolean): Promise<CopyInfo> {
  let resolved: string;
  let rebaseName = '';
  if (follow) {
    const real = await realpathGo(path);
    ({ path: resolved, rebaseName } = getRebaseName(path, real));
  } else {
    const slash = path.lastIndexOf('/');
    const dirPart = path.slice(0, slash + 1);
    const basePart = path.slice(slash + 1);
    const realDir = await realpathGo(dirPart);
    resolved = `${realDir === '/' ? '' : realDir}/${basePart}`;
    if (path.endsWith('/') && posix.basename(path) !== posix.basename(resolved)) rebaseName = posix.basename(path);
  }
  const st = await fsp.lstat(resolved).catch((e) => { throw goFsError(e); });
  return { path: resolved, exists: true, isDir: st.isDirectory(), rebaseName };
}

/** realpath with Go's EvalSymlinks errors: the first missing element named, a bare "not a directory". */
async function realpathGo(p: string): Promise<string> {
  try {
    return await fsp.realpath(p);
  } catch (e) {
    const err = e as NodeJS.ErrnoException;
    if (err.code === 'ENOTDIR') throw new Error('not a directory');
    if (err.code !== 'ENOENT') throw goFsError(e);
    let cur = '/';
    for (const part of cleanPath(p).split('/').filter(Boolean)) {
      const next = posix.join(cur, part);
      try {
        await fsp.lstat(next);
      } catch {
        throw new Error(`lstat ${next}: no such file or directory`);
      }
      cur = await fsp.realpath(next);
    }
    throw goFsError(e);
  }
}

async function copyFromContainer(ctx: CliContext, container: string, srcPath: string, dest: string, f: CpFlags & { quiet: boolean }): Promise<void> {
  const dstPath = dest === '-' ? dest : absoluteLocal(dest);
  await validateOutputPath(dstPath);
  let src = srcPath;
  let rebaseName = '';
  if (f.followLink) {
    const st = await statPath(ctx, container, src);
    if (st && hasBit(st.mode, MODE_SYMLINK)) ({ path: src, rebaseName } = getRebaseName(src, linkTargetPath(src, st.linkTarget)));
  }
  const res = await ctx.client.transport.request('GET', `/containers/${enc(container)}/archive`, { query: { path: src } });
  if (dstPath === '-') {
    await pipeline(res, ctx.io.stdout, { end: false });
    return;
  }
  const stat = decodeStat(res.headers['x-docker-container-path-stat']);
  const srcInfo: CopyInfo = { path: src, exists: true, isDir: isDirMode(stat?.mode ?? 0), rebaseName };
  let bytes = 0;
  let body: Readable = f.quiet ? res : res.pipe(countBytes((n) => (bytes += n)));
  if (rebaseName) body = rebaseArchive(body, splitPathDirEntry(src).base, rebaseName);
  let failure: unknown;
  try {
    const dst = await localDestination(dstPath);
    const plan = prepareCopy(srcInfo, dst);
    await extractArchive(plan.rename ? rebaseArchive(body, plan.rename.from, plan.rename.to) : body, plan.dir);
  } catch (e) {
    failure = e;
    res.destroy();
  }
  if (!f.quiet) ctx.err(`Successfully copied ${copiedSize(bytes)} to ${dstPath}\n`);
  if (failure) throw new ExitError(1, (failure as Error).message);
}

async function copyToContainer(ctx: CliContext, source: string, container: string, dstPath: string, f: CpFlags & { quiet: boolean }): Promise<void> {
  const srcPath = source === '-' ? source : absoluteLocal(source);
  const dstInfo: CopyInfo = { path: dstPath, exists: false, isDir: false, rebaseName: '' };
  let st = await statPath(ctx, container, dstPath);
  if (st && hasBit(st.mode, MODE_SYMLINK)) {
    dstInfo.path = linkTargetPath(dstPath, st.linkTarget);
    st = await statPath(ctx, container, dstInfo.path);
  }
  if (st && (hasBit(st.mode, MODE_DEVICE) || hasBit(st.mode, MODE_IRREGULAR))) {
    const why = hasBit(st.mode, MODE_DEVICE) ? 'got a device' : 'got an irregular file';
    throw new ExitError(1, `destination "${container}:${dstPath}" must be a directory or a regular file: ${why}`);
  }
  if (st) Object.assign(dstInfo, { exists: true, isDir: isDirMode(st.mode) });

  let body: Readable;
  let target: string;
  let bytes = 0;
  if (srcPath === '-') {
    if (!dstInfo.isDir) throw new ExitError(1, `destination "${container}:${dstPath}" must be a directory`);
    body = ctx.io.stdin;
    target = dstInfo.path;
  } else {
    let plan;
    let srcInfo: CopyInfo;
    try {
      srcInfo = await localSource(srcPath, !!f.followLink);
      plan = prepareCopy(srcInfo, dstInfo);
    } catch (e) {
      throw new ExitError(1, (e as Error).message);
    }
    const packed = packLocalPath(srcInfo.path, srcInfo.rebaseName);
    body = plan.rename ? rebaseArchive(packed, plan.rename.from, plan.rename.to) : packed;
    if (!f.quiet) body = body.pipe(countBytes((n) => (bytes += n)));
    target = plan.dir;
  }
  let failure: unknown;
  try {
    await ctx.client.transport.call('PUT', `/containers/${enc(container)}/archive`, {
      query: { path: target, noOverwriteDirNonDir: 'true', copyUIDGID: f.archive ? 'true' : undefined },
      body,
    });
  } catch (e) {
    failure = e;
  }
  if (!f.quiet) ctx.err(`Successfully copied ${copiedSize(bytes)} to ${container}:${dstInfo.path}\n`);
  if (failure) throw failure;
}

/**
 * `berth cp CONTAINER:SRC DEST|-` and `berth cp SRC|- CONTAINER:DEST`, with docker's
 * rules for where things land. The "Successfully copied" line (the tar's size, on stderr)
 * appears only when stdout is a terminal, unless -q. docker 28's CLI draws no progress
 * bar in practice (its terminal check never matches its own stderr), so neither do we.
 */
export function cpCommand(ctx: CliContext): Command {
  const cmd: Command = newCommand('cp', 'Copy files/folders between a container and the local filesystem')
    .argument('[args...]', 'CONTAINER:SRC_PATH DEST_PATH|-\n\tberth cp [OPTIONS] SRC_PATH|- CONTAINER:DEST_PATH')
    .option('-a, --archive', 'Archive mode (copy all uid/gid information)')
    .option('-L, --follow-link', 'Always follow symbol link in SRC_PATH')
    .option('-q, --quiet', 'Suppress progress output during copy. Progress output is automatically suppressed if no terminal is attached')
    .action(async (args: string[], f: CpFlags) => {
      requireExactArgs(cmd, args, 2);
      if (args[0] === '') throw new ExitError(1, 'source can not be empty');
      if (args[1] === '') throw new ExitError(1, 'destination can not be empty');
      const quiet = f.quiet ?? !ctx.io.stdout.isTTY;
      const src = splitCpArg(args[0]!);
      const dst = splitCpArg(args[1]!);
      if (src.container && dst.container) throw new ExitError(1, 'copying between containers is not supported');
      if (src.container) return copyFromContainer(ctx, src.container, src.path, dst.path, { ...f, quiet });
      if (dst.container) return copyToContainer(ctx, src.path, dst.container, dst.path, { ...f, quiet });
      throw new ExitError(1, 'must specify at least one container source');
    });
  return cmd;
}
