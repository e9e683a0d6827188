/**
 * The prune endpoints `docker system prune` calls: containers (the engine's), and
 * networks and the build cache, which Berth does not have yet: those answer that
 * nothing was removed, so `system prune` runs through. They are registered after
 * every other route, so a real implementation registered earlier takes their place.
 */
import { checkFilterKeys } from '../../common';
import type { Engine } from '../../engine';
import { sendJSON } from '../http';
import { qfilters, type Router } from '../router';

export function pruneRoutes(router: Router, engine: Engine): void {
  router.add('POST', '/containers/prune', async (ctx) => {
    sendJSON(ctx, 200, await engine.containers.prune(qfilters(ctx.query), async (r) => (await engine.containerSize(r)).rw));
  });

  router.add('POST', '/networks/prune', (ctx) => {
    // The loopback network is all a container gets: there are no user networks to remove.
    checkFilterKeys(qfilters(ctx.query), ['until', 'label', 'label!']);
    sendJSON(ctx, 200, { NetworksDeleted: null });
  });

  router.add('POST', '/build/prune', (ctx) => {
    // No build cache exists yet.
    sendJSON(ctx, 200, { CachesDeleted: null, SpaceReclaimed: 0 });
  });
}
