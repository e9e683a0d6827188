import { test } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { existsSync, mkdtempSync, readlinkSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createNetns, isNetns, removeNetns } from './netns';

const root = process.getuid?.() === 0;

test('createNetns: a namespace of its own on the file (lo up when asked), the daemon stays in its own; removeNetns undoes it', { skip: !root && 'needs root' }, async () => {
  const dir = mkdtempSync(join(tmpdir(), 'berth-netns-'));
  const own = readlinkSync('/proc/thread-self/ns/net');
  try {
    const a = join(dir, 'a');
    const b = join(dir, 'b');
    await createNetns(a, { loopbackUp: true });
    await createNetns(b);
    assert.equal(readlinkSync('/proc/thread-self/ns/net'), own);
    assert.ok((await isNetns(a)) && (await isNetns(b)));
    assert.equal(await isNetns(dir), false);
    // netlink answers for the namespace nsenter joined (/sys would still show the host's).
    const lo = (path: string) => /<[^>]*\bUP\b/.test(execFileSync('nsenter', [`--net=${path}`, 'ip', '-o', 'link', 'show', 'lo']).toString());
    assert.equal(lo(a), true, 'lo is up');
    assert.equal(lo(b), false, 'lo is down');
    assert.notEqual(execFileSync('nsenter', [`--net=${a}`, 'readlink', '/proc/self/ns/net']).toString().trim(), own);
    await createNetns(a); // already one: nothing changes
    await removeNetns(a);
    await removeNetns(b);
    assert.ok(!existsSync(a) && !existsSync(b));
    assert.equal(await isNetns(a), false);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});
