export { runCli, buildProgram, describeFailure } from './main';
export { CliContext, ExitError } from './context';
export type { CliIO } from './context';
