/**
 * A container's log configuration (Docker's HostConfig.LogConfig), checked at create.
 *
 * Berth has one way to keep a container's output: conmon writes it to the container's
 * log file (in conmon's k8s-file layout), and `logs` and attach read it back through
 * the API. Clients know a driver by its name: docker-py's `containers.run` returns the
 * output only for json-file (or journald), so that is the name Berth's driver answers to:
 * - `json-file` is the daemon's default: an empty Type becomes it, as dockerd fills in
 *   its default; the Config is kept as given (`{}` when absent). Its options are checked
 *   with dockerd's rule for json-file; none of them is applied (no rotation, no labels
 *   in the log), and create says so in a warning naming them.
 * - `k8s-file` (the layout's own name, as podman calls it) is accepted as the same driver.
 * - `none` is accepted; the output is still kept, and a warning says so.
 * - any other driver is refused with dockerd's words (invalid-argument).
 * The built-in options `mode` and `max-buffer-size` are checked as dockerd checks them.
 */
import { invalidArgument } from '../common';
import type { LogConfig } from './container-model';

export const DEFAULT_LOG_DRIVER = 'json-file';

/** The log drivers `docker info` lists: what a container's LogConfig.Type may name and gets. */
export const LOG_DRIVERS = ['json-file', 'k8s-file'] as const;

// dockerd's json-file options, plus its built-in ones for every driver.
const FILE_OPTIONS = new Set(['max-file', 'max-size', 'compress', 'labels', 'labels-regex', 'env', 'env-regex', 'tag']);
const BUILT_IN = new Set(['mode', 'max-buffer-size']);

/** The configuration a container gets (its type filled in) and the warnings for create. */
export function checkLogConfig(given: LogConfig): { logConfig: LogConfig; warnings: string[] } {
  const type = given.type || DEFAULT_LOG_DRIVER;
  const config = { ...given.config };
  const logConfig = { type, config };
  if (type === 'none') return { logConfig, warnings: ["log driver none is not applied: the container's output is still kept in its log"] };
  const mode = config.mode ?? '';
  if (!['', 'blocking', 'non-blocking'].includes(mode)) throw invalidArgument(`logger: logging mode not supported: ${mode}`);
  if ('max-buffer-size' in config && mode !== 'non-blocking') {
    throw invalidArgument("logger: max-buffer-size option is only supported with 'mode=non-blocking'");
  }
  if (!(LOG_DRIVERS as readonly string[]).includes(type)) throw invalidArgument(`logger: no log driver named '${type}' is registered`);
  const unapplied: string[] = [];
  for (const key of Object.keys(config)) {
    if (BUILT_IN.has(key)) continue;
    if (!FILE_OPTIONS.has(key)) throw invalidArgument(`unknown log opt '${key}' for ${type} log driver`);
    unapplied.push(key);
  }
  const warnings = unapplied.length
    ? [`log options not applied: ${unapplied.join(', ')}: the container's log is kept whole until the container is removed`]
    : [];
  return { logConfig, warnings };
}
