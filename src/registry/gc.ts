import { promises as fsp, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { isErrno } from '../common';
import { parseManifest } from './manifest';
import { RegistryError } from './errors';
import type { ParsedDigest } from './names';
import { RegistryStorage } from './storage';

export interface GcResult {
  /** Digests of the blobs removed (or, with dryRun, that would be). */
  removed: string[];
  /** Their total size in bytes. */
  bytes: number;
}

/**
 * Removes every blob that no manifest of any repository references: a blob
 * survives when it is a manifest of some repository, or that manifest's config,
 * a layer, or an index's child. Links to removed blobs are dropped too.
 *
 * Run it while the registry is stopped: a blob pushed but not yet referenced by
 * a manifest looks exactly like garbage, so a push in progress would lose it.
 */
export async function collectGarbage(root: string, opts: { dryRun?: boolean; force?: boolean } = {}): Promise<GcResult> {
  const server = servingPid(root);
  if (server !== undefined && !opts.force && !opts.dryRun) {
    throw new Error(`a registry (pid ${server}) is serving ${root}; stop it before gc, or force it and risk losing blobs being pushed`);
  }
  const store = new RegistryStorage(root);
  await store.init();
  const marked = new Set<string>();
  const repos = await store.listRepositories();
  for (const repo of repos) {
    for (const d of await store.manifestDigests(repo)) {
      const m = await store.manifestByDigest(repo, d);
      if (!m) continue;
      marked.add(d.digest);
      let info;
      try {
        info = parseManifest(await fsp.readFile(m.path), m.mediaType);
      } catch (err) {
        // A stored manifest that no longer parses keeps its own bytes; what it named cannot be known.
        if (err instanceof RegistryError) continue;
        throw err;
      }
      for (const r of info.references) marked.add(r.digest);
    }
  }
  const removed: ParsedDigest[] = [];
  let bytes = 0;
  for (const d of await store.allBlobs()) {
    if (marked.has(d.digest)) continue;
    bytes += (await store.blobSize(d)) ?? 0;
    removed.push(d);
    if (!opts.dryRun) await store.removeBlob(d);
  }
  if (!opts.dryRun) {
    const gone = new Set(removed.map((d) => d.digest));
    for (const repo of repos) {
      for (const d of await store.linkedBlobs(repo)) if (gone.has(d.digest)) await store.removeBlobLink(repo, d);
    }
  }
  return { removed: removed.map((d) => d.digest), bytes };
}

/** The file a running RegistryServer keeps in its root, holding its pid. */
export const PID_FILE = 'serving.pid';

/** The pid of a live process serving `root`, if any (a stale file from a crash is ignored). */
export function servingPid(root: string): number | undefined {
  let pid: number;
  try {
    pid = Number.parseInt(readFileSync(join(root, PID_FILE), 'utf8'), 10);
  } catch (err) {
    if (isErrno(err, 'ENOENT')) return undefined;
    throw err;
  }
  if (!Number.isSafeInteger(pid) || pid <= 0) return undefined;
  try {
    process.kill(pid, 0);
    return pid;
  } catch (err) {
    if (isErrno(err, 'ESRCH')) return undefined;
    return pid;
  }
}
