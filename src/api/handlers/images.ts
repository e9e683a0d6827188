import { invalidArgument, notFound, notImplemented } from '../../common';
import type { Engine } from '../../engine';
import { imageInspect, imageSummary } from '../convert';
import { sendJSON, startStream, writeJSONLine } from '../http';
import { qbool, qfilters, type Router } from '../router';


export function imageRoutes(router: Router, engine: Engine): void {
  const svc = engine.images;

  router.add('GET', '/images/json', (ctx) => {
    const filters = qfilters(ctx.query);
    let list = svc.images.list();
    const refs = filters.get('reference');
    if (refs?.length) list = list.filter((img) => svc.images.tagsOf(img.id).some((t) => refs.some((r) => matchReference(r, t))));
    const dangling = filters.get('dangling');
    if (dangling?.length) list = list.filter((img) => (svc.images.tagsOf(img.id).length === 0) === (dangling[0] === 'true' || dangling[0] === '1'));
    sendJSON(ctx, 200, list.map((img) => imageSummary(engine, img)));
  });

  router.add('GET', '/images/{name*}/json', (ctx) => {
    sendJSON(ctx, 200, imageInspect(engine, svc.resolve(ctx.params[0]!)));
  });

  router.add('GET', '/images/{name*}/history', (ctx) => {
    const img = svc.resolve(ctx.params[0]!);
    const hist = [...(img.config.history ?? [])].reverse();
    sendJSON(ctx, 200, hist.map((h, i) => ({
      Id: i === 0 ? img.id : '<missing>',
      Created: h.created ? Math.floor(Date.parse(h.created) / 1000) : 0,
      CreatedBy: h.created_by ?? '',
      Tags: i === 0 ? svc.images.tagsOf(img.id) : null,
      Size: i === 0 ? img.size : 0,
      Comment: h.comment ?? '',
    })));
  });

  router.add('POST', '/images/{name*}/tag', async (ctx) => {
    const repo = ctx.query.get('repo');
    if (!repo) throw invalidArgument('repository name must be given: use repo=NAME');
    await svc.tag(ctx.params[0]!, repo, ctx.query.get('tag') || undefined);
    ctx.res!.writeHead(201);
    ctx.res!.end();
  });

  router.add('DELETE', '/images/{name*}', async (ctx) => {
    sendJSON(ctx, 200, await svc.remove(ctx.params[0]!, qbool(ctx.query, 'force')));
  });

  router.add('POST', '/images/create', async (ctx) => {
    const fromSrc = ctx.query.get('fromSrc');
    const fromImage = ctx.query.get('fromImage');
    if (fromSrc === '-') {
      const changes = ctx.query.getAll('changes');
      const id = await svc.importTar(ctx.req, {
        repo: ctx.query.get('repo') || undefined,
        tag: ctx.query.get('tag') || undefined,
        message: ctx.query.get('message') || undefined,
        changes,
      });
      startStream(ctx.res!, 'application/json');
      writeJSONLine(ctx.res!, { status: id });
      ctx.res!.end();
      return;
    }
    if (fromSrc) throw notImplemented('importing from a URL is not supported: download the tar and import it from stdin');
    if (fromImage) {
      const name = fromImage.replace(/^docker\.io\/(library\/)?/, '') + (ctx.query.get('tag') ? `:${ctx.query.get('tag')}` : '');
      throw notFound(`pull access denied for ${name}, repository does not exist or may require 'docker login': no registry is configured in this engine yet`);
    }
    throw invalidArgument('either fromSrc or fromImage must be given');
  });

  router.add('POST', '/images/load', async (ctx) => {
    const quiet = qbool(ctx.query, 'quiet');
    const { loaded } = await svc.load(ctx.req);
    startStream(ctx.res!, 'application/json');
    for (const line of loaded) writeJSONLine(ctx.res!, quiet ? { stream: `${line}\n` } : { stream: `${line}\n` });
    ctx.res!.end();
  });
}

/** `docker images busybox` style matching: a name or name:tag, with `*` globs. */
function matchReference(pattern: string, tag: string): boolean {
  const p = pattern.includes(':') ? pattern : `${pattern}:*`;
  const re = new RegExp('^' + p.split('*').map((s) => s.replace(/[.+?^${}()|[\]\\/]/g, '\\$&')).join('[^/]*') + '$');
  return re.test(tag);
}
