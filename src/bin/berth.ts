import { runCli } from '../cli';

// Exit explicitly once output is flushed: an abandoned wait or a paused stdin must not hold the CLI open.
runCli(process.argv.slice(2), {
  stdin: process.stdin,
  stdout: process.stdout,
  stderr: process.stderr,
  env: process.env,
  signals: process,
}).then(
  (code) => process.stdout.write('', () => process.stderr.write('', () => process.exit(code))),
  (err: unknown) => {
    process.stderr.write(`${err instanceof Error ? (err.stack ?? err.message) : String(err)}\n`);
    process.exit(1);
  },
);
