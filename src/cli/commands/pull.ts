import { Command } from 'commander';
import { familiarName, fullString, parseReference, withDefaultTag, type Reference } from '../../common';
import { CliContext, ExitError, type OutStream } from '../context';
import { newCommand, requireExactArgs } from '../command';
import { DockerConfig, encodeAuthHeader, registryKey } from '../docker-config';
import { JSONMessageDisplay } from '../json-display';

/** The X-Registry-Auth value for a reference's registry, from the docker CLI's config. */
export function registryAuthFor(ctx: CliContext, ref: Reference): string {
  const config = new DockerConfig(ctx.io.env, (t) => ctx.err(t));
  const key = registryKey(ref);
  return encodeAuthHeader(config.get(key));
}

/** A writable that drops everything: `-q` still reads the stream for its errors. */
const discard = { write: () => true } as unknown as OutStream;

/**
 * Pulls `ref` (a tag or digest; neither with `all`) and draws the daemon's progress on
 * `out`; rejects with the daemon's error, from the HTTP status or the stream's last line.
 */
export async function pullReference(ctx: CliContext, ref: Reference, opts: { all?: boolean; platform?: string; out: OutStream | undefined }): Promise<void> {
  const res = await ctx.client.imagePull(familiarName(ref), {
    tag: opts.all ? undefined : (ref.digest ?? ref.tag),
    platform: opts.platform?.toLowerCase(),
    registryAuth: registryAuthFor(ctx, ref),
  });
  await new JSONMessageDisplay(opts.out ?? discard).run(res);
}

/**
 * The reference a pull or push names, as the docker CLI reads it: with --all-tags it
 * must carry no tag; otherwise a bare name means `latest`, which is said unless quiet.
 */
export function commandReference(ctx: CliContext, remote: string, f: { allTags?: boolean; quiet?: boolean }): Reference {
  const ref = parseReference(remote);
  const nameOnly = ref.tag === undefined && ref.digest === undefined;
  if (f.allTags && !nameOnly) throw new ExitError(1, "tag can't be used with --all-tags/-a");
  if (f.allTags || !nameOnly) return ref;
  const tagged = withDefaultTag(ref);
  if (!f.quiet) ctx.out(`Using default tag: ${tagged.tag}\n`);
  return tagged;
}

export function pullCommand(ctx: CliContext, name = 'pull'): Command {
  const cmd: Command = newCommand(name, 'Download an image from a registry')
    .argument('[name]', 'NAME[:TAG|@DIGEST]')
    .option('-a, --all-tags', 'Download all tagged images in the repository')
    .option('--platform <string>', 'Set platform if server is multi-platform capable', ctx.io.env.DOCKER_DEFAULT_PLATFORM || undefined)
    .option('-q, --quiet', 'Suppress verbose output')
    .action(async (remote: string | undefined, f: { allTags?: boolean; platform?: string; quiet?: boolean }) => {
      requireExactArgs(cmd, cmd.args, 1);
      const ref = commandReference(ctx, remote!, f);
      await pullReference(ctx, ref, { all: f.allTags, platform: f.platform, out: f.quiet ? undefined : ctx.io.stdout });
      ctx.out(`${fullString(ref)}\n`);
    });
  return cmd;
}
