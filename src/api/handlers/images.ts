import { invalidArgument, notFound } from '../../common';
import { parseReference, pullReference, type Engine } from '../../engine';
import type { ImageHistoryItem, ImageSummary } from '../../wire';
import { imageInspect, imageSummary } from '../convert';
import { JSONProgressWriter } from '../progress';
import { registryCredentials } from '../registry-auth';
import { sendJSON, startStream, writeJSONLine } from '../http';
import { qbool, qfilters, type Context, type Router } from '../router';

export function imageRoutes(router: Router, engine: Engine): void {
  const svc = engine.images;

  router.add('GET', '/images/json', (ctx) => {
    const list = svc.list(qfilters(ctx.query), qbool(ctx.query, 'all'));
    sendJSON(ctx, 200, list.map((e): ImageSummary => ({
      ...imageSummary(engine, e.image),
      RepoTags: e.repoTags,
      RepoDigests: e.repoDigests,
      SharedSize: e.sharedSize,
      Containers: e.containers,
    })));
  });

  // `docker search`: limit 0 (or none) is the index's default of 25; bad credentials are ignored, as dockerd ignores them here.
  router.add('GET', '/images/search', async (ctx) => {
    const raw = ctx.query.get('limit');
    if (raw && !/^\+?\d+$/.test(raw)) throw invalidArgument(`invalid limit specified${/^-\d+$/.test(raw) ? '' : `: strconv.Atoi: parsing ${JSON.stringify(raw)}: invalid syntax`}`);
    let credentials;
    try {
      credentials = registryCredentials(ctx.req.headers['x-registry-auth']);
    } catch {
      credentials = undefined;
    }
    sendJSON(ctx, 200, await svc.distribution.search(ctx.query.get('term') ?? '', raw ? Number(raw) : 0, qfilters(ctx.query), credentials));
  });

  router.add('GET', '/images/get', async (ctx) => {
    await save(ctx, ctx.query.getAll('names').flatMap((n) => n.split(',')).filter(Boolean));
  });

  router.add('GET', '/images/{name*}/get', async (ctx) => {
    await save(ctx, [ctx.params[0]!]);
  });

  router.add('GET', '/images/{name*}/json', (ctx) => {
    sendJSON(ctx, 200, imageInspect(engine, svc.resolve(ctx.params[0]!)));
  });

  router.add('GET', '/images/{name*}/history', (ctx) => {
    sendJSON(ctx, 200, svc.history(ctx.params[0]!).map((h): ImageHistoryItem => ({
      Id: h.image ?? '<missing>',
      Created: h.created,
      CreatedBy: h.createdBy,
      Tags: h.tags.length ? h.tags : null,
      Size: h.size,
      Comment: h.comment,
    })));
  });

  router.add('POST', '/images/prune', async (ctx) => {
    sendJSON(ctx, 200, await svc.prune(qfilters(ctx.query)));
  });

  router.add('POST', '/images/{name*}/tag', async (ctx) => {
    const repo = ctx.query.get('repo');
    if (!repo) throw invalidArgument('repository name must be given: use repo=NAME');
    await svc.tag(ctx.params[0]!, repo, ctx.query.get('tag') || undefined);
    ctx.res!.writeHead(201);
    ctx.res!.end();
  });

  router.add('DELETE', '/images/{name*}', async (ctx) => {
    sendJSON(ctx, 200, await svc.remove(ctx.params[0]!, qbool(ctx.query, 'force'), !qbool(ctx.query, 'noprune')));
  });

  router.add('POST', '/images/create', async (ctx) => {
    const fromSrc = ctx.query.get('fromSrc');
    const fromImage = ctx.query.get('fromImage');
    const importOpts = {
      repo: ctx.query.get('repo') || undefined,
      tag: ctx.query.get('tag') || undefined,
      message: ctx.query.get('message') || undefined,
      changes: ctx.query.getAll('changes'),
    };
    if (fromSrc === '-') {
      const id = await svc.importTar(ctx.req, importOpts);
      startStream(ctx.res!, 'application/json');
      writeJSONLine(ctx.res!, { status: id });
      ctx.res!.end();
      return;
    }
    if (fromSrc) {
      // The download's errors before the reply starts are its status, as with dockerd.
      const plan = await svc.prepareImportUrl(fromSrc, importOpts);
      await streamProgress(ctx, async (sink) => sink({ kind: 'status', status: await plan.run(sink) }));
      return;
    }
    if (fromImage) return pull(ctx, fromImage);
    throw invalidArgument('either fromSrc or fromImage must be given');
  });

  router.add('POST', '/images/{name*}/push', async (ctx) => {
    const credentials = registryCredentials(ctx.req.headers['x-registry-auth']);
    const push = svc.distribution.preparePush(ctx.params[0]!, ctx.query.get('tag') || undefined, credentials ? { credentials } : {});
    await streamProgress(ctx, (sink) => push.run(sink));
  });

  /**
   * `docker pull`: the first manifest is resolved before the reply starts, so an
   * unknown name or platform is answered with its status, as dockerd does; later
   * failures end the progress stream with an error line. No tag and no digest pulls
   * every tag of the repository.
   */
  async function pull(ctx: Context, fromImage: string): Promise<void> {
    const credentials = registryCredentials(ctx.req.headers['x-registry-auth']);
    const tag = ctx.query.get('tag') || undefined;
    const platform = ctx.query.get('platform') || undefined;
    const opts = { ...(platform ? { platform } : {}), ...(credentials ? { credentials } : {}) };
    const base = parseReference(fromImage);
    const dist = svc.distribution;
    const refs = tag || base.tag || base.digest
      ? [pullReference(fromImage, tag)]
      : (await dist.remoteTags(base, credentials)).map((t) => pullReference(fromImage, t));
    if (refs.length === 0) throw notFound(`no tags found for ${fromImage}`);
    const first = await dist.resolvePull(refs[0]!, opts);
    await streamProgress(ctx, async (sink) => {
      for (const [i, ref] of refs.entries()) {
        const plan = i === 0 ? first : await dist.resolvePull(ref, opts);
        await plan.run(sink);
      }
    });
  }

  /** A 200 JSON progress reply for `op`; its failure becomes the stream's error line. */
  async function streamProgress(ctx: Context, op: (sink: JSONProgressWriter['sink']) => Promise<unknown>): Promise<void> {
    startStream(ctx.res!, 'application/json');
    const out = new JSONProgressWriter(ctx.res!);
    try {
      await op(out.sink);
    } catch (err) {
      out.fail(err, ctx.requestId);
    }
    ctx.res!.end();
  }

  // As dockerd: the reply starts at once (200, JSON progress); a load that fails ends it with an error line.
  router.add('POST', '/images/load', async (ctx) => {
    startStream(ctx.res!, 'application/json');
    const out = new JSONProgressWriter(ctx.res!, qbool(ctx.query, 'quiet'));
    try {
      await svc.load(ctx.req, out.sink);
    } catch (err) {
      out.fail(err, ctx.requestId);
      // What the client still sends is not read: let it go rather than wait for it.
      ctx.req.resume();
    }
    ctx.res!.end();
  });

  /** Streams the archive; every name and blob is checked before the 200 goes out. */
  async function save(ctx: Context, names: string[]): Promise<void> {
    const res = ctx.res!;
    res.setHeader('Content-Type', 'application/x-tar');
    try {
      await svc.save(names, res);
    } catch (err) {
      if (res.headersSent) {
        // Mid-stream: all a tar reader can be told is that the archive is cut short.
        res.destroy(err as Error);
        return;
      }
      res.removeHeader('Content-Type');
      throw err;
    }
  }
}
