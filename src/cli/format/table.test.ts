import { test } from 'node:test';
import assert from 'node:assert/strict';
import type { ContainerSummary, ImageSummary } from '../../wire';
import { ellipsis, renderTable } from './table';
import { renderRows } from './list';
import { CONTAINER_HEADERS, IMAGE_HEADERS, IMAGES_TABLE, PS_TABLE, containerFields, formatPorts, imageFields } from './rows';

test('columns pad to max(10, widest + 3); the last column is not padded', () => {
  assert.equal(renderTable([['A', 'BB', 'C'], ['longer cell', 'x', 'last']]), 'A             BB        C\nlonger cell   x         last\n');
});

test('an empty ps prints docker exact header line', () => {
  assert.equal(renderRows([], PS_TABLE, CONTAINER_HEADERS), 'CONTAINER ID   IMAGE     COMMAND   CREATED   STATUS    PORTS     NAMES\n');
});

test('ellipsis cuts to the width with a trailing …', () => {
  assert.equal(ellipsis('sh -c while true; do sleep 1; done', 20), 'sh -c while true; d…');
  assert.equal(ellipsis('short', 20), 'short');
});

const now = 1_700_000_000_000;
const summary = (over: Partial<ContainerSummary>): ContainerSummary => ({
  Id: 'a'.repeat(64),
  Names: ['/web'],
  Image: 'alpine',
  ImageID: 'sha256:' + 'b'.repeat(64),
  Command: 'sleep 1000',
  Created: now / 1000 - 180,
  Ports: [],
  Labels: {},
  State: 'running',
  Status: 'Up 3 minutes',
  HostConfig: { NetworkMode: 'default' },
  NetworkSettings: { Networks: {} },
  Mounts: [],
  ...over,
});

test('ps renders rows like docker', () => {
  const rows = [
    summary({}),
    summary({
      Id: 'c'.repeat(64),
      Names: ['/db', '/web/db'],
      Image: 'sha256:' + 'd'.repeat(64),
      ImageID: 'sha256:' + 'd'.repeat(64),
      Command: 'sh -c "while true; do echo hi; done"',
      State: 'exited',
      Status: 'Exited (0) 5 seconds ago',
      Ports: [{ IP: '0.0.0.0', PrivatePort: 80, PublicPort: 8080, Type: 'tcp' }, { PrivatePort: 443, Type: 'tcp' }],
    }),
  ].map((c) => containerFields(c, { trunc: true, now }));
  const out = renderRows(rows, PS_TABLE, CONTAINER_HEADERS);
  assert.equal(
    out,
    [
      'CONTAINER ID   IMAGE          COMMAND                   CREATED         STATUS                     PORTS                           NAMES',
      'aaaaaaaaaaaa   alpine         "sleep 1000"              3 minutes ago   Up 3 minutes                                               web',
      'cccccccccccc   dddddddddddd   "sh -c \\"while true; …"   3 minutes ago   Exited (0) 5 seconds ago   443/tcp, 0.0.0.0:8080->80/tcp   db',
      '',
    ].join('\n'),
  );
});

test('--no-trunc keeps full ids, commands and link names', () => {
  const f = containerFields(summary({ Names: ['/db', '/web/db'] }), { trunc: false, now });
  assert.equal(f['ID'], 'a'.repeat(64));
  assert.equal(f['Names'], 'db,web/db');
  assert.equal(f['Command'], '"sleep 1000"');
});

test('ports group same-number bindings into ranges and list other mappings last, as docker', () => {
  assert.equal(
    formatPorts([
      { IP: '0.0.0.0', PrivatePort: 80, PublicPort: 8080, Type: 'tcp' },
      { IP: '::', PrivatePort: 80, PublicPort: 8080, Type: 'tcp' },
      { PrivatePort: 443, Type: 'tcp' },
    ]),
    '443/tcp, 0.0.0.0:8080->80/tcp, [::]:8080->80/tcp',
  );
  assert.equal(
    formatPorts([
      { IP: '0.0.0.0', PrivatePort: 81, PublicPort: 81, Type: 'tcp' },
      { IP: '0.0.0.0', PrivatePort: 80, PublicPort: 80, Type: 'tcp' },
      { IP: '::', PrivatePort: 80, PublicPort: 80, Type: 'tcp' },
      { PrivatePort: 53, Type: 'udp' },
    ]),
    '53/udp, 0.0.0.0:80-81->80-81/tcp, [::]:80->80/tcp',
  );
});

const image = (over: Partial<ImageSummary>): ImageSummary => ({
  Id: 'sha256:' + 'e'.repeat(64),
  ParentId: '',
  RepoTags: ['alpine:3.19', 'alpine:latest'],
  RepoDigests: [],
  Created: now / 1000 - 3 * 7 * 24 * 3600,
  Size: 7_377_866,
  SharedSize: -1,
  Labels: null,
  Containers: -1,
  ...over,
});

test('images renders one row per tag and <none> for untagged', () => {
  const rows = [image({}), image({ Id: 'sha256:' + 'f'.repeat(64), RepoTags: [], Size: 1200, Created: now / 1000 - 30 })].flatMap((i) =>
    imageFields(i, { trunc: true, now }),
  );
  assert.equal(
    renderRows(rows, IMAGES_TABLE, IMAGE_HEADERS),
    [
      'REPOSITORY   TAG       IMAGE ID       CREATED          SIZE',
      'alpine       3.19      eeeeeeeeeeee   3 weeks ago      7.38MB',
      'alpine       latest    eeeeeeeeeeee   3 weeks ago      7.38MB',
      '<none>       <none>    ffffffffffff   30 seconds ago   1.2kB',
      '',
    ].join('\n'),
  );
});

test('custom formats: plain templates, table templates and json', () => {
  const rows = imageFields(image({ RepoTags: ['localhost:5000/app:v1'] }), { trunc: true, now });
  assert.equal(renderRows(rows, '{{.Repository}}:{{.Tag}}', IMAGE_HEADERS), 'localhost:5000/app:v1\n');
  assert.equal(renderRows(rows, 'table {{.ID}}\\t{{.Tag}}', IMAGE_HEADERS), 'IMAGE ID       TAG\neeeeeeeeeeee   v1\n');
  assert.equal(JSON.parse(renderRows(rows, 'json', IMAGE_HEADERS))['Tag'], 'v1');
});
