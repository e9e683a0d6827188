import type { OciSpec } from '../runtime';
import { runtimeConformance } from './test-runtime-conformance';
import { FakeRuntime } from './container-runtime-fake';

runtimeConformance('fake runtime', async () => ({
  runtime: new FakeRuntime(),
  options: (id) => ({ id, name: id.slice(0, 8), spec: { process: { args: ['sleep', '1000'] } } as unknown as OciSpec, logPath: '/dev/null', tty: false, stdin: false, stdinOnce: false }),
  cleanup: async () => undefined,
}));
