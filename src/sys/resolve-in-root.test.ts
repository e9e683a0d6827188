import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdirSync, mkdtempSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { errorKind, isErrno } from '../common';
import { MAX_SYMLINKS, resolveInRoot, resolveInRootSync, walkInRoot } from './resolve-in-root';

/** A root inside a temp dir, with a file beside it that no resolution may reach. */
function hostileRoot(t: { after(fn: () => void): void }): { root: string; outside: string } {
  const dir = mkdtempSync(join(tmpdir(), 'berth-resolve-'));
  t.after(() => rmSync(dir, { recursive: true, force: true }));
  const root = join(dir, 'root');
  mkdirSync(join(root, 'etc'), { recursive: true });
  mkdirSync(join(root, 'srv', 'data'), { recursive: true });
  writeFileSync(join(root, 'etc', 'passwd'), 'inside\n');
  writeFileSync(join(dir, 'secret'), 'outside\n');
  return { root, outside: dir };
}

/** Both the async and the sync entry point, which must agree on every case. */
async function both(root: string, path: string): Promise<string> {
  const a = await resolveInRoot(root, path);
  assert.equal(resolveInRootSync(root, path), a, `sync and async differ for ${path}`);
  return a;
}

test('plain paths, `.` and missing components are kept as written', async (t) => {
  const { root } = hostileRoot(t);
  assert.equal(await both(root, '/'), root);
  assert.equal(await both(root, ''), root);
  assert.equal(await both(root, '/etc/./passwd'), join(root, 'etc', 'passwd'));
  assert.equal(await both(root, 'etc//passwd/'), join(root, 'etc', 'passwd'));
  assert.equal(await both(root, '/no/such/dir'), join(root, 'no', 'such', 'dir'));
  // Below a regular file nothing exists: kept, not an error.
  assert.equal(await both(root, '/etc/passwd/x'), join(root, 'etc', 'passwd', 'x'));
});

test('`..` chains are clamped at the root', async (t) => {
  const { root } = hostileRoot(t);
  assert.equal(await both(root, '/../../../secret'), join(root, 'secret'));
  assert.equal(await both(root, '../secret'), join(root, 'secret'));
  assert.equal(await both(root, '/etc/../../../etc/passwd'), join(root, 'etc', 'passwd'));
  assert.equal(await both(root, '/srv/data/../../..'), root);
});

test('absolute links restart at the root, never at the host /', async (t) => {
  const { root, outside } = hostileRoot(t);
  symlinkSync('/etc', join(root, 'e'));
  symlinkSync(join(outside, 'secret'), join(root, 'host-secret'));
  symlinkSync('/', join(root, 'slash'));
  assert.equal(await both(root, '/e/passwd'), join(root, 'etc', 'passwd'));
  // The host path the link names is taken as a path inside the root.
  assert.equal(await both(root, '/host-secret'), join(root, outside, 'secret'));
  assert.equal(await both(root, '/slash/slash/etc'), join(root, 'etc'));
});

test('relative links climbing with `..` stay inside', async (t) => {
  const { root } = hostileRoot(t);
  symlinkSync('../../../../../../secret', join(root, 'srv', 'data', 'up'));
  symlinkSync('data', join(root, 'srv', 'rel'));
  symlinkSync('../../../../..', join(root, 'srv', 'top'));
  assert.equal(await both(root, '/srv/data/up'), join(root, 'secret'));
  assert.equal(await both(root, '/srv/rel/x'), join(root, 'srv', 'data', 'x'));
  assert.equal(await both(root, '/srv/top/etc/passwd'), join(root, 'etc', 'passwd'));
  // `..` after a link applies to the link's target, as the kernel does.
  assert.equal(await both(root, '/srv/rel/../rel/x'), join(root, 'srv', 'data', 'x'));
  symlinkSync('/srv/data', join(root, 'deep'));
  assert.equal(await both(root, '/deep/..'), join(root, 'srv'));
});

test('links through intermediate directories are each resolved inside', async (t) => {
  const { root } = hostileRoot(t);
  // /a -> /b (link), /b -> /c/d (link to a dir holding another link), /c/d/e -> ../../etc
  symlinkSync('/b', join(root, 'a'));
  symlinkSync('c/d', join(root, 'b'));
  mkdirSync(join(root, 'c', 'd'), { recursive: true });
  symlinkSync('../../../../etc', join(root, 'c', 'd', 'e'));
  assert.equal(await both(root, '/a/e/passwd'), join(root, 'etc', 'passwd'));
});

test('links to /proc/self/root mean the root\'s own /proc, not the host\'s', async (t) => {
  const { root } = hostileRoot(t);
  symlinkSync('/proc/self/root/etc', join(root, 'p'));
  symlinkSync('/proc/1/root', join(root, 'p1'));
  assert.equal(await both(root, '/p/shadow'), join(root, 'proc', 'self', 'root', 'etc', 'shadow'));
  assert.equal(await both(root, '/p1/secret'), join(root, 'proc', '1', 'root', 'secret'));
});

test('dangling links resolve to where their target would be', async (t) => {
  const { root } = hostileRoot(t);
  symlinkSync('/nowhere/file', join(root, 'dangling'));
  symlinkSync('../../missing', join(root, 'etc', 'up-dangling'));
  assert.equal(await both(root, '/dangling'), join(root, 'nowhere', 'file'));
  assert.equal(await both(root, '/etc/up-dangling/x'), join(root, 'missing', 'x'));
});

test('loops and over-long chains fail with ELOOP after MAX_SYMLINKS links', async (t) => {
  const { root } = hostileRoot(t);
  symlinkSync('self', join(root, 'self'));
  symlinkSync('/ping', join(root, 'pong'));
  symlinkSync('/pong', join(root, 'ping'));
  for (const path of ['/self', '/ping/x', '/etc/../pong']) {
    await assert.rejects(resolveInRoot(root, path), (err: unknown) => {
      assert.ok(isErrno(err, 'ELOOP'));
      assert.equal(errorKind(err), 'invalid-argument');
      assert.match((err as Error).message, /too many levels of symbolic links \(more than 40\) resolving "\/[a-z./]+" inside /);
      return true;
    });
    assert.throws(() => resolveInRootSync(root, path), (err: unknown) => isErrno(err, 'ELOOP'));
  }
  // A chain of exactly MAX_SYMLINKS links is fine; one more is not.
  for (let i = 0; i <= MAX_SYMLINKS; i++) symlinkSync(`l${i + 1}`, join(root, `l${i}`));
  assert.equal(await both(root, '/l1'), join(root, `l${MAX_SYMLINKS + 1}`));
  await assert.rejects(resolveInRoot(root, '/l0'), (err: unknown) => isErrno(err, 'ELOOP'));
});

test('readlink errors other than "not a link" or "absent" propagate', async (t) => {
  const { root } = hostileRoot(t);
  const long = 'x'.repeat(300); // over NAME_MAX: ENAMETOOLONG, with or without root
  await assert.rejects(resolveInRoot(root, `/etc/${long}`), (err: unknown) => isErrno(err, 'ENAMETOOLONG'));
  assert.throws(() => resolveInRootSync(root, `/etc/${long}`), (err: unknown) => isErrno(err, 'ENAMETOOLONG'));
});

test('walkInRoot hands each component to inspect with its parents resolved', async (t) => {
  const { root } = hostileRoot(t);
  const seen: string[] = [];
  const links: Record<string, string> = { 'srv/l': '/etc' };
  const rel = await walkInRoot(root, '/srv/l/../x/y', async (r) => {
    seen.push(r);
    return links[r];
  });
  assert.equal(rel, 'x/y');
  assert.deepEqual(seen, ['srv', 'srv/l', 'etc', 'x', 'x/y']);
  const refused = new Error('refused');
  await assert.rejects(walkInRoot(root, '/a/b', async () => { throw refused; }), (e) => e === refused);
});
