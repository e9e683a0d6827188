import { test } from 'node:test';
import assert from 'node:assert/strict';
import { EventEmitter } from 'node:events';
import { mkdtempSync, rmSync, writeFileSync, mkdirSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Writable } from 'node:stream';
import { parseHostPort, runRegistryCommand } from './registry-command';

function io() {
  const out: string[] = [];
  const err: string[] = [];
  const sink = (to: string[]) => new Writable({ write(c, _e, cb) { to.push(String(c)); cb(); } });
  const signals = new EventEmitter();
  return { io: { stdout: sink(out), stderr: sink(err), signals }, out: () => out.join(''), err: () => err.join(''), signals };
}

test('parseHostPort takes HOST:PORT and [V6]:PORT', () => {
  assert.deepEqual(parseHostPort('127.0.0.1:5000'), { host: '127.0.0.1', port: 5000 });
  assert.deepEqual(parseHostPort(':0'), { host: '127.0.0.1', port: 0 });
  assert.deepEqual(parseHostPort('[::1]:5001'), { host: '::1', port: 5001 });
  for (const bad of ['5000', 'host', 'h:99999', 'h:-1', '::1:5000']) assert.equal(parseHostPort(bad), undefined, bad);
});

test('usage errors exit 125 with a hint', async () => {
  for (const argv of [['serve'], ['serve', '--root', '/x', '--addr', 'nope'], ['serve', '--root', '/x', '--bogus', '1'], ['frob', '--root', '/x'], ['gc']]) {
    const t = io();
    assert.equal(await runRegistryCommand(argv, t.io), 125, argv.join(' '));
    assert.match(t.err(), /berth registry/);
  }
  const t = io();
  assert.equal(await runRegistryCommand(['--help'], t.io), 0);
  assert.match(t.out(), /serve[\s\S]*gc/);
});

test('serve listens until a signal, printing its address; gc reports what it removed', async () => {
  const root = mkdtempSync(join(tmpdir(), 'berth-regcmd-'));
  try {
    const t = io();
    const done = runRegistryCommand(['serve', '--addr', '127.0.0.1:0', '--root', root], t.io);
    const port = await new Promise<number>((resolve) => {
      const check = () => {
        const m = /listening on 127\.0\.0\.1:(\d+)/.exec(t.out());
        if (m) resolve(Number(m[1]));
        else setImmediate(check);
      };
      check();
    });
    assert.equal((await fetch(`http://127.0.0.1:${port}/v2/`)).status, 200);
    t.signals.emit('SIGTERM');
    assert.equal(await done, 0);

    // An orphan blob: content with no manifest in any repository.
    writeFileSync(join(root, 'blobs', 'sha256', 'a'.repeat(64)), 'orphan');
    mkdirSync(join(root, 'repositories', 'r', '_layers', 'sha256'), { recursive: true });
    const dry = io();
    assert.equal(await runRegistryCommand(['gc', '--root', root, '--dry-run'], dry.io), 0);
    assert.match(dry.out(), /would remove sha256:a{64}\n1 blobs, 6 bytes would be freed/);
    const gc = io();
    assert.equal(await runRegistryCommand(['gc', '--root', root], gc.io), 0);
    assert.match(gc.out(), /removed sha256:a{64}\n1 blobs, 6 bytes freed/);
  } finally {
    rmSync(root, { recursive: true, force: true });
  }
});
