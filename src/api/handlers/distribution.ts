/** Registry questions that are not pull or push: `GET /distribution/{name}/json` and `POST /auth`. */
import { invalidArgument } from '../../common';
import { pullReference, type Engine } from '../../engine';
import { authConfigOf, credentialsOf, registryCredentials, registryDomain } from '../registry-auth';
import { readJSONBody, type Router } from '../router';
import { sendJSON } from '../http';

export function distributionRoutes(router: Router, engine: Engine): void {
  const dist = engine.images.distribution;

  router.add('GET', '/distribution/{name*}/json', async (ctx) => {
    const credentials = registryCredentials(ctx.req.headers['x-registry-auth']);
    const { descriptor, platforms } = await dist.describe(pullReference(ctx.params[0]!), credentials);
    sendJSON(ctx, 200, {
      Descriptor: { mediaType: descriptor.mediaType, digest: descriptor.digest, size: descriptor.size },
      Platforms: platforms.map((p) => ({ architecture: p.architecture, os: p.os, ...(p.variant ? { variant: p.variant } : {}) })),
    });
  });

  router.add('POST', '/auth', async (ctx) => {
    const auth = authConfigOf(await readJSONBody(ctx, 'auth config', {
      username: 'string', password: 'string', serveraddress: 'string', identitytoken: 'string', registrytoken: 'string', email: 'string', auth: 'string',
    }));
    const credentials = credentialsOf(auth);
    if (!credentials) throw invalidArgument('no credentials given: set username and password');
    const domain = registryDomain(auth.serveraddress);
    const r = await dist.login(domain, credentials);
    sendJSON(ctx, 200, { Status: r.status, IdentityToken: r.identityToken ?? '' });
  });
}
