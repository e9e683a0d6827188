/**
 * A git repository as the build context (`remote=URL` naming one), fetched as dockerd's
 * legacy builder fetches it: `URL#ref:subdir` (ref `master` unless given; subdir within the
 * checkout), a shallow fetch of that ref into a new repository, checkout by name or else
 * FETCH_HEAD, submodules at depth 1, under a git that reads no system or user config, never
 * prompts, and refuses file:// submodules. The repository's files (.git included, as dockerd
 * sends it) are the context.
 */
import { execFile } from 'node:child_process';
import { mkdirSync, realpathSync, statSync } from 'node:fs';
import { join, sep } from 'node:path';
import { invalidArgument } from '../common';

/** A clone that takes longer than this fails the build instead of holding it. */
const GIT_TIMEOUT_MS = 10 * 60_000;

/** dockerd's test for a git context: a URL ending in `.git` (and maybe a fragment), or git://, github.com/, git@. */
export function isGitUrl(s: string): boolean {
  if (/^https?:\/\//i.test(s) && /.git(?:#.+)?$/.test(s)) return true;
  return ['git://', 'github.com/', 'git@'].some((p) => s.startsWith(p));
}

function git(dir: string, args: string[]): Promise<{ ok: boolean; output: string }> {
  return new Promise((resolve) => {
    execFile('git', ['-c', 'protocol.file.allow=never', ...args], {
      cwd: dir,
      timeout: GIT_TIMEOUT_MS,
      env: { PATH: process.env.PATH ?? '/usr/bin:/bin', GIT_PROTOCOL_FROM_USER: '0', GIT_CONFIG_NOSYSTEM: '1', HOME: '/dev/null', GIT_TERMINAL_PROMPT: '0' },
      maxBuffer: 1 << 20,
    }, (err, stdout, stderr) => resolve({ ok: !err, output: `${stdout}${stderr}`.trim() || (err ? err.message : '') }));
  });
}

/** Fetches the repository `url` names into `dir` (empty, the caller's) and returns the context's directory. */
export async function cloneGitContext(url: string, dir: string): Promise<string> {
  let remote = /^(?:https?|git):\/\//.test(url) || url.startsWith('git@') ? url : `https://${url}`;
  const hash = remote.indexOf('#');
  const fragment = hash < 0 ? '' : remote.slice(hash + 1);
  if (hash >= 0) remote = remote.slice(0, hash);
  const colon = fragment.indexOf(':');
  const ref = (colon < 0 ? fragment : fragment.slice(0, colon)) || 'master';
  const subdir = colon < 0 ? '' : fragment.slice(colon + 1);
  if (ref.startsWith('-')) throw invalidArgument(`invalid refspec: ${ref}`);
  const root = join(dir, 'git');
  mkdirSync(root);
  const init = await git(root, ['init', '--quiet']);
  if (!init.ok) throw invalidArgument(`failed to init repo at ${root}: ${init.output}`);
  const origin = await git(root, ['remote', 'add', 'origin', remote]);
  if (!origin.ok) throw invalidArgument(`failed add origin repo at ${remote}: ${origin.output}`);
  let fetched = await git(root, ['fetch', '--depth', '1', 'origin', '--', ref]);
  // A "dumb" http server cannot give a shallow history: fetch all of it.
  if (!fetched.ok && /shallow/i.test(fetched.output)) fetched = await git(root, ['fetch', 'origin', '--', ref]);
  if (!fetched.ok) throw invalidArgument(`error fetching: ${fetched.output}`);
  const byName = await git(root, ['checkout', '--quiet', ref]);
  if (!byName.ok && !(await git(root, ['checkout', '--quiet', 'FETCH_HEAD'])).ok) throw invalidArgument(`error checking out ${ref}: ${byName.output}`);
  const modules = await git(root, ['submodule', 'update', '--init', '--recursive', '--depth=1']);
  if (!modules.ok) throw invalidArgument(`error initializing submodules: ${modules.output}`);
  if (!subdir) return root;
  let ctx: string;
  try {
    ctx = realpathSync(join(root, subdir));
  } catch {
    throw invalidArgument(`error setting git context, ${JSON.stringify(subdir)} not within git root`);
  }
  const realRoot = realpathSync(root);
  if (ctx !== realRoot && !ctx.startsWith(realRoot + sep)) throw invalidArgument(`error setting git context, ${JSON.stringify(subdir)} not within git root`);
  if (!statSync(ctx).isDirectory()) throw invalidArgument(`error setting git context, not a directory: ${ctx}`);
  return ctx;
}
