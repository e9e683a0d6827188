/**
 * `docker cp`: HEAD, GET and PUT /containers/{id}/archive. The stat of the path
 * travels in the X-Docker-Container-Path-Stat header as base64 JSON, as dockerd
 * sends it; the engine does the resolving, reading and extracting.
 */
import { invalidArgument } from '../../common';
import type { Engine, PathStat } from '../../engine';
import { sendEmpty } from '../http';
import { qbool, type Context, type Router } from '../router';

export function archiveRoutes(router: Router, engine: Engine): void {
  const svc = engine.containers;

  router.add('HEAD', '/containers/{id}/archive', async (ctx) => {
    const stat = await svc.statPath(ctx.params[0]!, archivePath(ctx));
    ctx.res!.setHeader('X-Docker-Container-Path-Stat', statHeader(stat));
    sendEmpty(ctx, 200);
  });

  router.add('GET', '/containers/{id}/archive', async (ctx) => {
    const res = ctx.res!;
    await svc.archivePath(ctx.params[0]!, archivePath(ctx), async (stat, tar, recycle) => {
      res.writeHead(200, { 'Content-Type': 'application/x-tar', 'X-Docker-Container-Path-Stat': statHeader(stat) });
      await new Promise<void>((resolve, reject) => {
        tar.on('error', (err) => {
          // Headers are out: all that is left is to cut the stream short.
          res.destroy(err);
          reject(err);
        });
        res.on('close', () => resolve());
        // As pipe(), but each chunk goes back to the tar once the socket has it.
        tar.on('data', (chunk: Buffer) => {
          if (!res.write(chunk, recycle ? (err) => !err && recycle(chunk) : undefined)) tar.pause();
        });
        res.on('drain', () => tar.resume());
        tar.on('end', () => res.end());
      });
    });
  });

  router.add('PUT', '/containers/{id}/archive', async (ctx) => {
    await svc.extractToDir(ctx.params[0]!, archivePath(ctx), ctx.body ?? ctx.req, {
      // dockerd: only an explicit true refuses to swap a directory and a non-directory.
      noOverwriteDirNonDir: qbool(ctx.query, 'noOverwriteDirNonDir'),
      copyUIDGID: qbool(ctx.query, 'copyUIDGID'),
    });
    sendEmpty(ctx, 200);
  });
}

function archivePath(ctx: Context): string {
  const p = ctx.query.get('path');
  if (!p) throw invalidArgument('bad parameter: path cannot be empty');
  return p;
}

function statHeader(s: PathStat): string {
  return Buffer.from(JSON.stringify({ name: s.name, size: s.size, mode: s.mode, mtime: s.mtime, linkTarget: s.linkTarget })).toString('base64');
}
