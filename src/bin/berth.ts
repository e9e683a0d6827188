import { runCli } from '../cli';
import { runRegistryCommand } from './registry-command';

const argv = process.argv.slice(2);
const io = { stdin: process.stdin, stdout: process.stdout, stderr: process.stderr, env: process.env, signals: process };
// `berth registry …` runs a registry in this process rather than talking to berthd, so cli/ (an API client) never sees it.
const run = argv[0] === 'registry' ? runRegistryCommand(argv.slice(1), io) : runCli(argv, io);

// Exit explicitly once output is flushed: an abandoned wait or a paused stdin must not hold the CLI open.
run.then(
  (code) => process.stdout.write('', () => process.stderr.write('', () => process.exit(code))),
  (err: unknown) => {
    process.stderr.write(`${err instanceof Error ? (err.stack ?? err.message) : String(err)}\n`);
    process.exit(1);
  },
);
