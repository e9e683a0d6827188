/** A container's filesystem: `docker diff`, `docker export`, `docker commit`. */
import { pipeline } from 'node:stream/promises';
import { invalidArgument } from '../../common';
import type { Engine } from '../../engine';
import { sendJSON, startStream } from '../http';
import { qbool, type Context, type Router } from '../router';
import { CONTAINER_CONFIG, checkFields, parseJSON } from '../validate';

const MAX_CONFIG_BODY = 1 << 20;

export function changesRoutes(router: Router, engine: Engine): void {
  const svc = engine.commits;

  router.add('GET', '/containers/{id}/changes', async (ctx) => {
    const changes = await svc.changes(ctx.params[0]!);
    sendJSON(ctx, 200, changes.map((c) => ({ Path: c.path, Kind: c.kind })));
  });

  router.add('GET', '/containers/{id}/export', async (ctx) => {
    const tar = await svc.export(ctx.params[0]!);
    startStream(ctx.res!, 'application/x-tar');
    // Headers are out: a failure now can only cut the stream short, which the client sees as a broken tar.
    await pipeline(tar, ctx.res!).catch(() => ctx.res!.destroy());
  });

  router.add('POST', '/commit', async (ctx) => {
    const container = ctx.query.get('container');
    if (!container) throw invalidArgument('container must be given: use container=NAME or ID');
    const config = await readOptionalConfig(ctx);
    const id = await svc.commit({
      container,
      repo: ctx.query.get('repo') || undefined,
      tag: ctx.query.get('tag') || undefined,
      comment: ctx.query.get('comment') || undefined,
      author: ctx.query.get('author') || undefined,
      pause: qbool(ctx.query, 'pause', true),
      changes: ctx.query.getAll('changes').filter((c) => c.trim() !== ''),
      config,
    });
    sendJSON(ctx, 201, { Id: id });
  });
}

/** The optional ContainerConfig body of /commit: absent, empty or `null` all mean none. */
async function readOptionalConfig(ctx: Context): Promise<Record<string, unknown> | null> {
  const chunks: Buffer[] = [];
  let size = 0;
  for await (const c of ctx.req) {
    size += (c as Buffer).length;
    if (size > MAX_CONFIG_BODY) throw invalidArgument(`commit config is larger than ${MAX_CONFIG_BODY} bytes`);
    chunks.push(c as Buffer);
  }
  const body = Buffer.concat(chunks);
  if (body.toString('utf8').trim() === '') return null;
  const v = parseJSON(body, 'commit config');
  if (v === null) return null;
  if (typeof v !== 'object' || Array.isArray(v)) throw invalidArgument('commit config must be a JSON object (a container Config)');
  checkFields('commit config', v as Record<string, unknown>, CONTAINER_CONFIG);
  return v as Record<string, unknown>;
}
