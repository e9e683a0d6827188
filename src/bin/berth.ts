const argv = process.argv.slice(2);
const io = { stdin: process.stdin, stdout: process.stdout, stderr: process.stderr, env: process.env, signals: process };
// `berth registry …` runs a registry in this process rather than talking to berthd, so cli/ (an API client) never sees it.
// `berth dashboard` serves a web UI in this process; it is an API client of its own (src/web).
// Each command loads only its own code: the dashboard is a long-lived process kept small (see bin/berth).
const run = argv[0] === 'registry' ? import('./registry-command').then((m) => m.runRegistryCommand(argv.slice(1), io))
  : dashboardArgs(argv) ? import('./dashboard-command').then((m) => m.runDashboardCommand(dashboardArgs(argv)!, io))
  : import('../cli').then((m) => m.runCli(argv, io));

/** `dashboard …` or `-H HOST dashboard …`: the arguments for the dashboard command, host first. */
function dashboardArgs(a: string[]): string[] | undefined {
  if (a[0] === 'dashboard') return a.slice(1);
  if ((a[0] === '-H' || a[0] === '--host') && a[2] === 'dashboard') return ['-H', a[1]!, ...a.slice(3)];
  if (/^--host=/.test(a[0] ?? '') && a[1] === 'dashboard') return [a[0]!, ...a.slice(2)];
  return undefined;
}

// Exit explicitly once output is flushed: an abandoned wait or a paused stdin must not hold the CLI open.
run.then(
  (code) => process.stdout.write('', () => process.stderr.write('', () => process.exit(code))),
  (err: unknown) => {
    process.stderr.write(`${err instanceof Error ? (err.stack ?? err.message) : String(err)}\n`);
    process.exit(1);
  },
);
