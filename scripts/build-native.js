#!/usr/bin/env node
// Compiles berth-exec (native/berth-exec.c), berth-proxy (native/berth-proxy.c), berth-monns
// (native/berth-monns.c), berth-logrotate.so (native/berth-logrotate.c) and berth-mount.so
// (native/berth-mount.c) into dist/native. Without a C compiler the build goes on without them:
// berthd then runs every exec through `runc exec` (src/runtime/exec-helper.ts), forwards
// published ports by NAT alone, as dockerd does with --userland-proxy=false (src/network/proxy.ts),
// starts conmon in berthd's mount namespace (src/runtime/monitor-ns.ts), keeps a container's log
// in one file (max-file is not applied: src/engine/log-config.ts) and mounts overlays with
// absolute paths (src/sys/mount-from.ts); a compiler that rejects the source fails the build.
'use strict';
const { spawnSync } = require('node:child_process');
const { mkdirSync, rmSync } = require('node:fs');
const { join } = require('node:path');

const root = join(__dirname, '..');
const out = join(root, 'dist', 'native');
const cc = ['cc', 'gcc', 'clang'].find((c) => spawnSync(c, ['--version'], { stdio: 'ignore' }).status === 0);
mkdirSync(out, { recursive: true });
if (!cc) {
  rmSync(join(out, 'berth-exec'), { force: true });
  rmSync(join(out, 'berth-proxy'), { force: true });
  rmSync(join(out, 'berth-logrotate.so'), { force: true });
  rmSync(join(out, 'berth-mount.so'), { force: true });
  rmSync(join(out, 'berth-monns'), { force: true });
  console.warn('build-native: no C compiler (cc, gcc or clang): berth-exec, berth-proxy, berth-monns, berth-logrotate.so and berth-mount.so not built; execs will use runc exec, ports are forwarded by NAT alone, conmon shares the mount namespace of berthd, logs keep one file, overlays mount with absolute paths');
  process.exit(0);
}
const exec = spawnSync(cc, ['-O2', '-Wall', '-Wextra', '-Werror', '-o', join(out, 'berth-exec'), join(root, 'native', 'berth-exec.c')], { stdio: 'inherit' });
if (exec.status !== 0) process.exit(exec.status ?? 1);
const proxy = spawnSync(cc, ['-O2', '-Wall', '-Wextra', '-Werror', '-o', join(out, 'berth-proxy'), join(root, 'native', 'berth-proxy.c')], { stdio: 'inherit' });
if (proxy.status !== 0) process.exit(proxy.status ?? 1);
const rotate = spawnSync(cc, ['-O2', '-Wall', '-Wextra', '-Werror', '-shared', '-fPIC', '-o', join(out, 'berth-logrotate.so'), join(root, 'native', 'berth-logrotate.c'), '-ldl'], { stdio: 'inherit' });
if (rotate.status !== 0) process.exit(rotate.status ?? 1);
const monns = spawnSync(cc, ['-O2', '-Wall', '-Wextra', '-Werror', '-o', join(out, 'berth-monns'), join(root, 'native', 'berth-monns.c')], { stdio: 'inherit' });
if (monns.status !== 0) process.exit(monns.status ?? 1);
const mount = spawnSync(cc, ['-O2', '-Wall', '-Wextra', '-Werror', '-shared', '-fPIC', '-o', join(out, 'berth-mount.so'), join(root, 'native', 'berth-mount.c'), '-pthread'], { stdio: 'inherit' });
process.exit(mount.status ?? 1);
