/**
 * mount(8)'s option language over mount(2).
 *
 * Contract
 * - `parseMountOptions('ro,noexec,size=4m')` splits a comma list into the kernel's
 *   MS_* flags and the filesystem-specific rest (`size=4m`), left in order for the
 *   `data` argument. A flag word cancels an earlier one (`ro,rw` is read-write). Words
 *   it does not know are data, as mount(8) passes them on.
 * - `mountWithOptions(source, target, fstype, options)` makes the mount as mount(8)
 *   would: one mount(2) with the non-propagation flags, then one to set the
 *   propagation (`rprivate`, `shared`…) when asked, then a read-only remount for a
 *   read-only bind (the kernel ignores MS_RDONLY on the first bind call). An empty
 *   source with only propagation words changes the propagation of `target` alone.
 * - Failures throw a `MountError`: the `SysError` of the step that failed plus that
 *   step's name (`mount`, `remount`, `remount-ro`), source, flags and data, so callers
 *   can say exactly what the kernel refused. Nothing is undone: a failure after the
 *   first step leaves the mount in place for the caller to unmount.
 */
import {
  MS_BIND, MS_DIRSYNC, MS_MANDLOCK, MS_NOATIME, MS_NODEV, MS_NODIRATIME, MS_NOEXEC, MS_NOSUID, MS_PRIVATE, MS_RDONLY, MS_REC,
  MS_RELATIME, MS_REMOUNT, MS_SHARED, MS_SLAVE, MS_STRICTATIME, MS_SYNCHRONOUS, MS_UNBINDABLE, mount, type SysError,
} from './libc';

/** Each word sets its flag bits, or clears them when `clear`. */
const FLAG_WORDS: Record<string, { bits: number; clear?: boolean }> = {
  ro: { bits: MS_RDONLY },
  rw: { bits: MS_RDONLY, clear: true },
  nosuid: { bits: MS_NOSUID },
  suid: { bits: MS_NOSUID, clear: true },
  nodev: { bits: MS_NODEV },
  dev: { bits: MS_NODEV, clear: true },
  noexec: { bits: MS_NOEXEC },
  exec: { bits: MS_NOEXEC, clear: true },
  sync: { bits: MS_SYNCHRONOUS },
  async: { bits: MS_SYNCHRONOUS, clear: true },
  dirsync: { bits: MS_DIRSYNC },
  remount: { bits: MS_REMOUNT },
  mand: { bits: MS_MANDLOCK },
  nomand: { bits: MS_MANDLOCK, clear: true },
  noatime: { bits: MS_NOATIME },
  atime: { bits: MS_NOATIME, clear: true },
  nodiratime: { bits: MS_NODIRATIME },
  diratime: { bits: MS_NODIRATIME, clear: true },
  relatime: { bits: MS_RELATIME },
  norelatime: { bits: MS_RELATIME, clear: true },
  strictatime: { bits: MS_STRICTATIME },
  nostrictatime: { bits: MS_STRICTATIME, clear: true },
  bind: { bits: MS_BIND },
  rbind: { bits: MS_BIND | MS_REC },
  private: { bits: MS_PRIVATE },
  rprivate: { bits: MS_PRIVATE | MS_REC },
  shared: { bits: MS_SHARED },
  rshared: { bits: MS_SHARED | MS_REC },
  slave: { bits: MS_SLAVE },
  rslave: { bits: MS_SLAVE | MS_REC },
  unbindable: { bits: MS_UNBINDABLE },
  runbindable: { bits: MS_UNBINDABLE | MS_REC },
};

const PROPAGATION = MS_SHARED | MS_PRIVATE | MS_SLAVE | MS_UNBINDABLE;

export function parseMountOptions(options: string): { flags: number; data: string } {
  let flags = 0;
  const data: string[] = [];
  for (const word of options.split(',')) {
    if (word === '' || word === 'defaults') continue;
    const f = FLAG_WORDS[word];
    if (!f) data.push(word);
    else if (f.clear) flags &= ~f.bits;
    else flags |= f.bits;
  }
  return { flags, data: data.join(',') };
}

export interface MountError extends SysError {
  step: 'mount' | 'remount' | 'remount-ro';
  source: string;
  flags: number;
  data: string;
}

function step(name: MountError['step'], source: string, target: string, fstype: string | null, flags: number, data: string): void {
  try {
    mount(source || null, target, fstype, flags, data || null);
  } catch (err) {
    throw Object.assign(err as SysError, { step: name, source, flags, data }) as MountError;
  }
}

export function mountWithOptions(source: string, target: string, fstype: string, options: string): void {
  const { flags, data } = parseMountOptions(options);
  const plain = flags & ~PROPAGATION;
  if (source !== '' || plain !== 0 || data !== '') step('mount', source, target, fstype, plain, data);
  if (flags & PROPAGATION) step('remount', '', target, null, flags & (PROPAGATION | MS_REC), '');
  if ((plain & (MS_BIND | MS_RDONLY)) === (MS_BIND | MS_RDONLY)) step('remount-ro', '', target, null, plain | MS_REMOUNT, '');
}
