/**
 * Swarm and plugin endpoints of an engine that is never part of a swarm and has
 * no managed plugins. Clients probe these (docker-py's test teardown lists
 * plugins, `docker info`-style tools ask /swarm), so they answer as dockerd does
 * outside a swarm: 503 with dockerd's wording, and an empty plugin list.
 */
import { checkFilterKeys, notFound, notImplemented, unavailable } from '../../common';
import { sendJSON } from '../http';
import { qfilters, type Router } from '../router';

const NOT_A_MANAGER = 'This node is not a swarm manager. Use "docker swarm init" or "docker swarm join" to connect this node to swarm and try again.';
const NOT_IN_A_SWARM = 'This node is not part of a swarm';

/** The cluster-object endpoints of dockerd's swarm router. */
const SWARM_OBJECT_ROUTES: [string, string][] = [
  ['GET', '/services'], ['GET', '/services/{id}'], ['POST', '/services/create'], ['POST', '/services/{id}/update'], ['DELETE', '/services/{id}'], ['GET', '/services/{id}/logs'],
  ['GET', '/nodes'], ['GET', '/nodes/{id}'], ['DELETE', '/nodes/{id}'], ['POST', '/nodes/{id}/update'],
  ['GET', '/tasks'], ['GET', '/tasks/{id}'], ['GET', '/tasks/{id}/logs'],
  ['GET', '/secrets'], ['POST', '/secrets/create'], ['GET', '/secrets/{id}'], ['DELETE', '/secrets/{id}'], ['POST', '/secrets/{id}/update'],
  ['GET', '/configs'], ['POST', '/configs/create'], ['GET', '/configs/{id}'], ['DELETE', '/configs/{id}'], ['POST', '/configs/{id}/update'],
];

export function swarmRoutes(router: Router): void {
  const noManager = () => {
    throw unavailable(NOT_A_MANAGER);
  };
  router.add('GET', '/swarm', noManager);
  router.add('GET', '/swarm/unlockkey', noManager);
  router.add('POST', '/swarm/update', noManager);
  router.add('POST', '/swarm/unlock', noManager);
  router.add('POST', '/swarm/leave', () => {
    throw unavailable(NOT_IN_A_SWARM);
  });
  const noSwarmMode = () => {
    throw notImplemented('swarm mode is not supported by this engine');
  };
  router.add('POST', '/swarm/init', noSwarmMode);
  router.add('POST', '/swarm/join', noSwarmMode);
  for (const [method, path] of SWARM_OBJECT_ROUTES) router.add(method, path, noManager);

  router.add('GET', '/plugins', (ctx) => {
    checkFilterKeys(qfilters(ctx.query), ['capability', 'enabled']);
    sendJSON(ctx, 200, []);
  });
  const noPlugin = (name: string) => {
    throw notFound(`plugin "${name}" not found`);
  };
  router.add('GET', '/plugins/{name*}/json', (ctx) => noPlugin(ctx.params[0]!));
  router.add('DELETE', '/plugins/{name*}', (ctx) => noPlugin(ctx.params[0]!));
  for (const op of ['enable', 'disable', 'set', 'push', 'upgrade']) router.add('POST', `/plugins/{name*}/${op}`, (ctx) => noPlugin(ctx.params[0]!));
  // No plugin is ever installed: getting one is refused in words that say so, not with a 404 of the API.
  const noPlugins = () => {
    throw notImplemented('managed plugins are not supported by this engine: volume and network drivers are built in');
  };
  router.add('GET', '/plugins/privileges', noPlugins);
  router.add('POST', '/plugins/pull', noPlugins);
  router.add('POST', '/plugins/create', noPlugins);
}
