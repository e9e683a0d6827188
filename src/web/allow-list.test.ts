import { test } from 'node:test';
import assert from 'node:assert/strict';
import { bodyProblem, filterQuery, matchRoute } from './allow-list';

test('allowed calls map to the same API path, ids and image references re-encoded', () => {
  assert.equal(matchRoute('GET', '/containers/json')?.apiPath, '/containers/json');
  assert.equal(matchRoute('POST', '/containers/web1/stop')?.apiPath, '/containers/web1/stop');
  assert.equal(matchRoute('DELETE', '/containers/abc123')?.apiPath, '/containers/abc123');
  assert.equal(matchRoute('GET', '/images/localhost:5000/a/b:1.0/json')?.apiPath, '/images/localhost%3A5000/a/b%3A1.0/json');
  assert.equal(matchRoute('GET', '/images/busybox%3Alatest/history')?.apiPath, '/images/busybox%3Alatest/history');
  assert.equal(matchRoute('DELETE', '/images/sha256:abc')?.apiPath, '/images/sha256%3Aabc');
  assert.equal(matchRoute('GET', '/images/json')?.route.pattern, '/images/json');
});

test('anything not on the list, or a path that tries to leave its pattern, is refused', () => {
  for (const [m, p] of [
    ['GET', '/containers/x/archive'],
    ['GET', '/containers/x/export'],
    ['POST', '/containers/x/exec'],
    ['POST', '/exec/abc/start'],
    ['PUT', '/containers/x/archive'],
    ['POST', '/containers/x/update'],
    ['GET', '/containers/../../info'],
    ['POST', '/containers/%2e%2e/stop'],
    ['POST', '/containers/a%2Fb/stop'],
    ['POST', '/containers/x/stop/'],
    ['GET', '/images/../../secrets/json'],
    ['GET', '/images/get'],
    ['POST', '/build'],
    ['GET', '/v1.45/containers/json'],
    ['GET', '//containers/json'],
    ['POST', '/containers/json'],
    ['GET', '/containers/%ZZ/json'],
    ['GET', '/plugins'],
  ]) assert.equal(matchRoute(m!, p!), undefined, `${m} ${p}`);
});

test('mutating routes are marked, reads are not', () => {
  assert.equal(matchRoute('POST', '/containers/x/stop')?.route.mutating, true);
  assert.equal(matchRoute('POST', '/containers/create')?.route.mutating, true);
  assert.equal(matchRoute('POST', '/images/create')?.route.mutating, true);
  assert.equal(matchRoute('DELETE', '/volumes/v')?.route.mutating, true);
  assert.equal(matchRoute('GET', '/containers/x/logs')?.route.mutating, false);
  assert.equal(matchRoute('GET', '/events')?.route.mutating, false);
});

test('only the route\'s own query parameters pass', () => {
  const m = matchRoute('GET', '/containers/x/logs')!;
  assert.deepEqual(filterQuery(m.route, new URLSearchParams('follow=1&tail=5&details=1&x=y')), { follow: '1', tail: '5' });
  const k = matchRoute('POST', '/containers/x/kill')!;
  assert.deepEqual(filterQuery(k.route, new URLSearchParams('signal=HUP&signal=TERM&force=1')), { signal: ['HUP', 'TERM'] });
});

test('a create body may hold what the run form sends, and nothing that widens the container', () => {
  const create = matchRoute('POST', '/containers/create')!.route;
  assert.equal(bodyProblem(create, { Image: 'busybox', Cmd: ['sh'], Env: ['A=1'], ExposedPorts: { '80/tcp': {} }, HostConfig: { PortBindings: {}, Binds: ['v:/d'] } }), undefined);
  assert.match(bodyProblem(create, { Image: 'x', HostConfig: { Privileged: true } })!, /HostConfig.Privileged/);
  assert.match(bodyProblem(create, { Image: 'x', HostConfig: { PidMode: 'host' } })!, /HostConfig.PidMode/);
  assert.match(bodyProblem(create, { Image: 'x', HostConfig: 'x' })!, /HostConfig must be an object/);
  assert.match(bodyProblem(create, { Image: 'x', Entrypoint: ['/bin/sh'], User: '0' })!, /Entrypoint/);
  assert.match(bodyProblem(create, [1])!, /JSON object/);
  assert.match(bodyProblem(matchRoute('POST', '/volumes/create')!.route, { Name: 'v', Driver: 'local', DriverOpts: { device: '/' } })!, /Driver/);
  assert.equal(bodyProblem(matchRoute('POST', '/volumes/create')!.route, { Name: 'v' }), undefined);
});

test('networks: list, inspect, remove by id; create only a bridge with name, labels, internal and one subnet/gateway', () => {
  assert.equal(matchRoute('GET', '/networks')?.apiPath, '/networks');
  assert.equal(matchRoute('GET', '/networks/front')?.apiPath, '/networks/front');
  assert.equal(matchRoute('GET', '/networks/front')?.route.mutating, false);
  assert.equal(matchRoute('DELETE', '/networks/front')?.route.mutating, true);
  for (const [m, p] of [['POST', '/networks/front/connect'], ['POST', '/networks/front/disconnect'], ['POST', '/networks/prune'], ['GET', '/networks/a%2Fb']]) assert.equal(matchRoute(m!, p!), undefined, `${m} ${p}`);
  const create = matchRoute('POST', '/networks/create')!.route;
  assert.equal(create.mutating, true);
  assert.equal(bodyProblem(create, { Name: 'n' }), undefined);
  assert.equal(bodyProblem(create, { Name: 'n', Driver: 'bridge', Internal: true, Labels: { a: 'b' }, IPAM: { Config: [{ Subnet: '10.1.2.0/24', Gateway: '10.1.2.1' }] } }), undefined);
  assert.match(bodyProblem(create, { Name: 'n', Driver: 'macvlan' })!, /bridge/);
  assert.match(bodyProblem(create, { Name: 'n', Options: { 'com.docker.network.bridge.name': 'eth0' } })!, /Options/);
  assert.match(bodyProblem(create, { Name: 'n', EnableIPv6: true })!, /EnableIPv6/);
  assert.match(bodyProblem(create, { Name: 'n', IPAM: { Driver: 'x' } })!, /IPAM.Driver/);
  assert.match(bodyProblem(create, { Name: 'n', IPAM: { Config: [{ Subnet: '10.1.0.0/24', IPRange: '10.1.0.0/25' }] } })!, /IPAM.Config.IPRange/);
  assert.match(bodyProblem(create, { Name: 'n', IPAM: { Config: [{ Subnet: '10.1.0.0/24' }, { Subnet: '10.2.0.0/24' }] } })!, /at most one/);
  assert.match(bodyProblem(create, { Name: 'n', IPAM: { Config: [{ Subnet: 5 }] } })!, /string/);
  assert.match(bodyProblem(create, { Name: 'n', Internal: 'yes' })!, /Internal/);
  assert.match(bodyProblem(create, { Name: 'n', Labels: { a: 1 } })!, /Labels/);
  assert.match(bodyProblem(create, { Driver: 'bridge' })!, /Name/);
});
