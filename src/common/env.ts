/**
 * Environment lists (`KEY=value` strings, as in Docker's Config.Env and the OCI
 * process env): the two ways dockerd combines them, shared by every layer.
 *
 * Contract
 * - `envKey(e)` is the text before the first '=' (all of `e` when it has none).
 * - `mergeImageEnv(request, image)` is how a container's Config.Env is made from the
 *   request's and the image's (dockerd's create and commit merge): the request's entries
 *   as given, in order, then each image entry whose key the request does not name. A
 *   bare `KEY` in the request is kept as it is (the CLI resolves `-e KEY` from its own
 *   environment before sending; what reaches the daemon is stored untouched) and hides
 *   the image's KEY. An empty request takes the image's list.
 * - `replaceOrAppendEnv(defaults, overrides)` is how a process environment is built
 *   (dockerd's ReplaceOrAppendEnvValues: the container's env over PATH/HOSTNAME/TERM,
 *   an exec's env over the container's, a Dockerfile ENV over the config's): an
 *   override replaces the entry with its key in place, or is appended when no default
 *   has the key; a bare `KEY` removes that default and is itself dropped. As in dockerd,
 *   overrides are matched against the defaults only, so two appended entries with one
 *   key both stay.
 * - Neither mutates its arguments.
 */

export function envKey(e: string): string {
  const i = e.indexOf('=');
  return i < 0 ? e : e.slice(0, i);
}

/** A container's Config.Env from the request's and the image's; see the contract. */
export function mergeImageEnv(request: readonly string[], image: readonly string[]): string[] {
  if (request.length === 0) return [...image];
  const named = new Set(request.map(envKey));
  return [...request, ...image.filter((e) => !named.has(envKey(e)))];
}

/** A process environment: `overrides` over `defaults`; see the contract. */
export function replaceOrAppendEnv(defaults: readonly string[], overrides: readonly string[]): string[] {
  const out: (string | undefined)[] = [...defaults];
  const index = new Map<string, number>();
  defaults.forEach((e, i) => index.set(envKey(e), i));
  for (const e of overrides) {
    const i = index.get(envKey(e));
    if (!e.includes('=')) {
      if (i !== undefined) out[i] = undefined;
    } else if (i !== undefined) out[i] = e;
    else out.push(e);
  }
  return out.filter((e): e is string => e !== undefined);
}
