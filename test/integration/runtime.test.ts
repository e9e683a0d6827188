// The runtime port's conformance cases against the real runtime (conmon + runc).
import { copyFileSync, mkdirSync, mkdtempSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { MonitorRuntime, buildSpec } from '../../src/engine';

import { runtimeConformance } from '../../src/engine/test-runtime-conformance';
import { recordWith } from '../../src/engine/test-support';
import { Monitor, detectCgroupMode, hostBoundingCapabilities, readHostRlimits } from '../../src/runtime';
import { BUSYBOX } from './harness';

runtimeConformance('conmon and runc', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'berth-runtime-'));
  const rootfs = join(dir, 'rootfs');
  mkdirSync(join(rootfs, 'bin'), { recursive: true });
  copyFileSync(BUSYBOX, join(rootfs, 'bin', 'busybox'));
  symlinkSync('busybox', join(rootfs, 'bin', 'sleep'));
  const files = { hostnamePath: join(dir, 'hostname'), hostsPath: join(dir, 'hosts'), resolvConfPath: join(dir, 'resolv.conf') };
  for (const f of Object.values(files)) writeFileSync(f, '');
  const execRoot = join(dir, 'exec');
  const monitor = new Monitor({ execRoot });
  await monitor.init();
  const runtime = new MonitorRuntime(monitor, execRoot);
  await runtime.init();
  const host = { cgroupMode: detectCgroupMode(), capabilities: hostBoundingCapabilities(), rlimits: readHostRlimits() };
  return {
    runtime,
    options: (id) => {
      const rec = recordWith({}, { id: id as ReturnType<typeof recordWith>['id'], path: '/bin/sleep', args: ['1000'], logPath: join(dir, `${id}.log`), ...files });
      const spec = buildSpec(rec, { host, rootfs, user: { uid: 0, gid: 0 }, mounts: [], lookup: () => rec });
      return { id, name: id.slice(0, 8), spec, logPath: rec.logPath, tty: false, stdin: false, stdinOnce: false };
    },
    cleanup: async () => {
      monitor.close();
      rmSync(dir, { recursive: true, force: true });
    },
  };
});
