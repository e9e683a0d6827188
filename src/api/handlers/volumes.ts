import { unavailable } from '../../common';
import type { Engine, VolumeRecord } from '../../engine';
import { sendEmpty, sendJSON } from '../http';
import { compareVersions, qbool, qfilters, readJSONBody, type Router } from '../router';
import { asObject, checkFields, type Spec } from '../validate';

/** Docker's Volume object. UsageData is left to /system/df, as dockerd does. */
export function volumeJSON(engine: Engine, v: VolumeRecord): Record<string, unknown> {
  return {
    CreatedAt: v.createdAt,
    Driver: v.driver,
    Labels: v.labels,
    Mountpoint: engine.volumes.dataPath(v.name),
    Name: v.name,
    Options: v.options,
    Scope: 'local',
  };
}

const VOLUME_CONFIG: Record<string, Spec> = { Name: 'string', Driver: 'string', DriverOpts: 'string-map', Labels: 'string-map', ClusterVolumeSpec: 'object' };

export function volumeRoutes(router: Router, engine: Engine): void {
  const svc = engine.volumes;

  router.add('GET', '/volumes', (ctx) => {
    const list = svc.list(qfilters(ctx.query));
    sendJSON(ctx, 200, { Volumes: list.map((v) => volumeJSON(engine, v)), Warnings: null });
  });

  router.add('POST', '/volumes/create', async (ctx) => {
    const body = asObject(await readJSONBody(ctx, 'volume config', VOLUME_CONFIG), 'volume config');
    checkFields('volume config', body, VOLUME_CONFIG);
    const v = await svc.create({
      name: (body.Name as string | undefined) || undefined,
      driver: (body.Driver as string | undefined) || undefined,
      labels: (body.Labels as Record<string, string> | null | undefined) ?? null,
      options: (body.DriverOpts as Record<string, string> | null | undefined) ?? null,
    });
    sendJSON(ctx, 201, volumeJSON(engine, v));
  });

  router.add('POST', '/volumes/prune', async (ctx) => {
    // Before API 1.42 prune took every unused volume; since then only anonymous ones unless all=true.
    const r = await svc.prune(qfilters(ctx.query), { allByDefault: compareVersions(ctx.apiVersion, '1.42') < 0 });
    sendJSON(ctx, 200, { VolumesDeleted: r.deleted, SpaceReclaimed: r.spaceReclaimed });
  });

  router.add('GET', '/volumes/{name}', (ctx) => {
    sendJSON(ctx, 200, volumeJSON(engine, svc.get(ctx.params[0]!)));
  });

  router.add('DELETE', '/volumes/{name}', async (ctx) => {
    await svc.remove(ctx.params[0]!, { force: qbool(ctx.query, 'force') });
    sendEmpty(ctx, 204);
  });

  // Only cluster (swarm) volumes can be updated, and there is no swarm here: dockerd's 503.
  router.add('PUT', '/volumes/{name}', () => {
    throw unavailable('volume update only valid for cluster volumes, but swarm is unavailable');
  });
}
