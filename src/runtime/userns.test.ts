import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, test } from 'node:test';
import { BerthError } from '../common';
import { generateSpec } from './spec';
import {
  applyUserNamespace,
  freeRange,
  idShifter,
  idUnshifter,
  mapFromRanges,
  parseRemapValue,
  parseSubIds,
  rootPair,
  setupRemap,
  toContainer,
  toHost,
  type AccountFiles,
  type IdMappings,
} from './userns';

const invalid = (re: RegExp) => (e: unknown) => e instanceof BerthError && e.kind === 'invalid-argument' && re.test(e.message);

const dirs: string[] = [];
after(() => {
  for (const d of dirs) rmSync(d, { recursive: true, force: true });
});

function accounts(files: Partial<Record<keyof AccountFiles, string>>): AccountFiles {
  const d = mkdtempSync(join(tmpdir(), 'berth-userns-'));
  dirs.push(d);
  const out = {} as AccountFiles;
  for (const k of ['passwd', 'group', 'subuid', 'subgid'] as const) {
    out[k] = join(d, k);
    if (files[k] !== undefined) writeFileSync(out[k], files[k]!);
  }
  return out;
}

test('parseSubIds: ranges of the named owner or its id, in file order; comments and others skipped', () => {
  const text = '# comment\nalice:100000:65536\n\nbob:165536:65536\n1000:300000:10\nalice:400000:5\nalice:500000:0\n';
  assert.deepEqual(parseSubIds(text, ['alice']), [
    { start: 100000, count: 65536 },
    { start: 400000, count: 5 },
  ]);
  assert.deepEqual(parseSubIds(text, ['alice', '1000']), [
    { start: 100000, count: 65536 },
    { start: 300000, count: 10 },
    { start: 400000, count: 5 },
  ]);
  assert.deepEqual(parseSubIds(text, ['carol']), []);
  // A malformed line of someone else is not our business; one of ours is refused.
  assert.deepEqual(parseSubIds('bob:x:y\nalice:1:2\n', ['alice']), [{ start: 1, count: 2 }]);
  assert.throws(() => parseSubIds('alice:100000\n', ['alice'], '/etc/subuid'), invalid(/\/etc\/subuid line 1 is malformed/));
  assert.throws(() => parseSubIds('alice:-5:10\n', ['alice']), invalid(/malformed/));
  assert.throws(() => parseSubIds('alice:4294967290:100\n', ['alice']), invalid(/past the largest id/));
});

test('mapFromRanges stacks ranges; toHost and toContainer translate ids both ways', () => {
  const map = mapFromRanges([
    { start: 100000, count: 1000 },
    { start: 500000, count: 10 },
  ]);
  assert.deepEqual(map, [
    { containerID: 0, hostID: 100000, size: 1000 },
    { containerID: 1000, hostID: 500000, size: 10 },
  ]);
  assert.equal(toHost(map, 0), 100000);
  assert.equal(toHost(map, 999), 100999);
  assert.equal(toHost(map, 1000), 500000);
  assert.equal(toHost(map, 1009), 500009);
  assert.throws(() => toHost(map, 1010, 'uid'), invalid(/container uid 1010 cannot be mapped to a host uid/));
  assert.equal(toContainer(map, 100000), 0);
  assert.equal(toContainer(map, 500009), 1009);
  assert.equal(toContainer(map, 0), null);
  assert.equal(toContainer(map, 100000 + 1000), null);
});

test('idShifter and idUnshifter map owners through separate uid and gid maps', () => {
  const m: IdMappings = { uids: [{ containerID: 0, hostID: 100000, size: 65536 }], gids: [{ containerID: 0, hostID: 200000, size: 65536 }] };
  assert.deepEqual(rootPair(m), { uid: 100000, gid: 200000 });
  assert.deepEqual(idShifter(m)({ uid: 0, gid: 0 }), { uid: 100000, gid: 200000 });
  assert.deepEqual(idShifter(m)({ uid: 1000, gid: 50 }), { uid: 101000, gid: 200050 });
  assert.throws(() => idShifter(m)({ uid: 65536, gid: 0 }), invalid(/uid 65536 cannot be mapped/));
  assert.deepEqual(idUnshifter(m)({ uid: 101000, gid: 200050 }), { uid: 1000, gid: 50 });
  assert.deepEqual(idUnshifter(m)({ uid: 0, gid: 5 }), { uid: 65534, gid: 65534 });
});

test('freeRange: the first gap of 65536 ids at or above 100000', () => {
  assert.deepEqual(freeRange([]), { start: 100000, count: 65536 });
  assert.deepEqual(freeRange([{ start: 100000, count: 65536 }]), { start: 165536, count: 65536 });
  assert.deepEqual(freeRange([{ start: 200000, count: 10 }]), { start: 100000, count: 65536 });
  assert.deepEqual(freeRange([{ start: 150000, count: 10 }, { start: 100000, count: 65536 }]), { start: 165536, count: 65536 });
  assert.deepEqual(freeRange([{ start: 10, count: 5 }]), { start: 100000, count: 65536 });
});

test('parseRemapValue splits USER[:GROUP] and refuses junk', () => {
  assert.deepEqual(parseRemapValue('alice'), { user: 'alice', group: undefined });
  assert.deepEqual(parseRemapValue('1000:1000'), { user: '1000', group: '1000' });
  for (const bad of ['', ':x', 'a:', 'a:b:c']) assert.throws(() => parseRemapValue(bad), invalid(/invalid --userns-remap value/));
});

test('setupRemap resolves names and numeric ids through passwd, group and the subordinate id files', async () => {
  const files = accounts({
    passwd: 'root:x:0:0:root:/root:/bin/sh\nalice:x:1000:1000::/home/alice:/bin/sh\n',
    group: 'root:x:0:\nalice:x:1000:\nstaff:x:50:\n',
    subuid: 'alice:100000:65536\n',
    subgid: '50:300000:65536\nalice:200000:65536\n',
  });
  const byName = await setupRemap('alice', files);
  assert.equal(byName.user, 'alice');
  assert.equal(byName.group, 'alice');
  assert.deepEqual(byName.mappings.uids, [{ containerID: 0, hostID: 100000, size: 65536 }]);
  assert.deepEqual(byName.mappings.gids, [{ containerID: 0, hostID: 200000, size: 65536 }]);
  const byId = await setupRemap('1000:staff', files);
  assert.equal(byId.user, 'alice');
  assert.equal(byId.group, 'staff');
  assert.deepEqual(byId.mappings.gids, [{ containerID: 0, hostID: 300000, size: 65536 }]);
  await assert.rejects(setupRemap('nobody-here', files), invalid(/user "nobody-here" does not exist/));
  await assert.rejects(setupRemap('4242', files), invalid(/uid 4242 is not in/));
  await assert.rejects(setupRemap('alice:nogroup', files), invalid(/group "nogroup" does not exist/));
  await assert.rejects(setupRemap('root', files), invalid(/no subordinate uid ranges for user root in .*subuid; add a line such as root:100000:65536/));
});

test('setupRemap default creates berth-remap and a free range in both files when missing, and is idempotent', async () => {
  const files = accounts({
    passwd: 'root:x:0:0:root:/root:/bin/sh\n',
    group: 'root:x:0:\n',
    subuid: 'alice:100000:65536',
    subgid: '',
  });
  const first = await setupRemap('default', files);
  assert.equal(first.user, 'berth-remap');
  assert.deepEqual(first.mappings.uids, [{ containerID: 0, hostID: 165536, size: 65536 }]);
  assert.deepEqual(first.mappings.gids, [{ containerID: 0, hostID: 100000, size: 65536 }]);
  assert.match(readFileSync(files.passwd, 'utf8'), /^berth-remap:x:999:999:[^:]*:\/nonexistent:\/bin\/false$/m);
  assert.match(readFileSync(files.group, 'utf8'), /^berth-remap:x:999:$/m);
  assert.equal(readFileSync(files.subuid, 'utf8'), 'alice:100000:65536\nberth-remap:165536:65536\n');
  const again = await setupRemap('default', files);
  assert.deepEqual(again, first);
  assert.equal(readFileSync(files.subuid, 'utf8'), 'alice:100000:65536\nberth-remap:165536:65536\n');
});

test('applyUserNamespace adds a user namespace with the mappings, and joins the owner of a joined namespace', () => {
  const m: IdMappings = { uids: [{ containerID: 0, hostID: 100000, size: 65536 }], gids: [{ containerID: 0, hostID: 100000, size: 65536 }] };
  const spec = applyUserNamespace(generateSpec({ args: ['sh'], user: { uid: 0, gid: 0 }, rootfsPath: '/r', host: { cgroupMode: 'v1', capabilities: [] } }), m);
  const linux = spec.linux as typeof spec.linux & { uidMappings: unknown; gidMappings: unknown };
  assert.deepEqual(
    linux.namespaces.filter((n) => (n.type as string) === 'user'),
    [{ type: 'user' }],
  );
  assert.deepEqual(linux.uidMappings, [{ containerID: 0, hostID: 100000, size: 65536 }]);
  assert.deepEqual(linux.gidMappings, [{ containerID: 0, hostID: 100000, size: 65536 }]);
  assert.ok(spec.mounts.some((x) => x.type === 'mqueue'));

  const joined = applyUserNamespace(
    generateSpec({ args: ['sh'], user: { uid: 0, gid: 0 }, rootfsPath: '/r', namespaces: { network: { path: '/proc/42/ns/net' }, ipc: 'host' }, host: { cgroupMode: 'v1', capabilities: [] } }),
    m,
  );
  assert.deepEqual(
    joined.linux.namespaces.filter((n) => (n.type as string) === 'user'),
    [{ type: 'user', path: '/proc/42/ns/user' }],
  );
  // With the host's IPC namespace there is no mqueue mount of our own.
  assert.ok(!joined.mounts.some((x) => x.type === 'mqueue'));
});
