/**
 * Reads /proc/self/mountinfo (proc(5)). Paths come back unescaped (the kernel writes
 * space, tab, newline and backslash as octal escapes such as \040).
 */
import { readFileSync } from 'node:fs';
import { mountRootIfLoaded } from './libc';

export interface MountInfo {
  id: number;
  parentId: number;
  /** major:minor of the filesystem. */
  dev: string;
  /** Path inside the filesystem that is the root of this mount. */
  root: string;
  mountPoint: string;
  options: string;
  /** The optional fields: `shared:N`, `master:N`, `propagate_from:N`, `unbindable`. */
  optional: string[];
  fsType: string;
  source: string;
  superOptions: string;
}

const unescape = (s: string) => s.replace(/\\([0-7]{3})/g, (_, o: string) => String.fromCharCode(parseInt(o, 8)));

export function parseMountInfo(text: string): MountInfo[] {
  const out: MountInfo[] = [];
  for (const line of text.split('\n')) {
    if (!line) continue;
    const sep = line.indexOf(' - ');
    if (sep < 0) continue;
    const a = line.slice(0, sep).split(' ');
    const b = line.slice(sep + 3).split(' ');
    out.push({
      id: Number(a[0]),
      parentId: Number(a[1]),
      dev: a[2] ?? '',
      root: unescape(a[3] ?? ''),
      mountPoint: unescape(a[4] ?? ''),
      options: a[5] ?? '',
      optional: a.slice(6),
      fsType: b[0] ?? '',
      source: unescape(b[1] ?? ''),
      superOptions: b[2] ?? '',
    });
  }
  return out;
}

export function readMountInfo(): MountInfo[] {
  return parseMountInfo(readFileSync('/proc/self/mountinfo', 'utf8'));
}

/**
 * True if some mount has exactly `path` (absolute, no trailing slash) as its mount point:
 * asked of statx when koffi is loaded already (berthd has mounted something), else read here.
 */
export function isMountPoint(path: string): boolean {
  return mountRootIfLoaded(path) ?? readMountInfo().some((m) => m.mountPoint === path);
}
