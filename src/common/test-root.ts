/**
 * Options for a node:test test whose checks only root can make (owners other than our
 * own, device nodes, trusted.* xattrs, mounts): as root (CI, the integration host) the
 * test runs; otherwise it is skipped with "needs root: <why>" in the report, never
 * silently, so that `npm run test:unit` passes for an unprivileged user.
 */
export function needsRoot(why: string): { skip: string | false } {
  return { skip: process.getuid?.() === 0 ? false : `needs root: ${why}` };
}
