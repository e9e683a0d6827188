import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { needsRoot } from '../common/test-root';
import { ContentStore, ImageStore } from '../image';
import { ALL_CAPABILITIES } from '../runtime';
import { LayerStore, VfsSnapshotter } from '../storage';
import { CommitService } from './commit';
import { FakeRuntime } from './container-runtime-fake';
import { ContainerStore } from './container-store';
import { ContainerService } from './containers';
import { EventBus } from './events';
import { ImageService } from './images';
import { specWith, NO_NETWORK } from './test-support';

/** Real image and layer stores and a vfs snapshotter in a temp dir; the fake runtime for processes. */
async function setup() {
  const root = mkdtempSync(join(tmpdir(), 'berth-commit-'));
  const content = new ContentStore(join(root, 'blobs'));
  await content.init();
  const store = new ImageStore(join(root, 'images'), content);
  await store.load();
  const layers = await LayerStore.open(join(root, 'layers'));
  const snapshots = new VfsSnapshotter(join(root, 'vfs'));
  const runtime = new FakeRuntime();
  const events = new EventBus();
  let containers: ContainerService | undefined;
  const images = new ImageService(content, store, layers, (id) => containers!.usersOfImage(id), () => containers!.layersInUse());
  const base = await images.create(
    { architecture: 'amd64', os: 'linux', config: { Cmd: ['sh'], Env: ['PATH=/bin'] }, rootfs: { type: 'layers', diff_ids: [] }, history: [{ created_by: 'base' }] },
    { size: 0, refs: [] },
  );
  containers = new ContainerService({
    store: new ContainerStore(join(root, 'data')),
    images: { resolve: () => base, rootLayers: (img) => images.rootLayers(img), has: (id) => !!images.get(id), collectUnused: async () => undefined },
    snapshots,
    runtime,
    events,
    network: NO_NETWORK,
    host: { cgroupMode: 'v2', capabilities: ALL_CAPABILITIES, rlimits: {} },
  });
  await containers.init();
  const commits = new CommitService({ containers, images, snapshots, runtime, events, ownersAsContainerSees: (tar) => tar });
  const create = async () => (await containers!.create({ spec: specWith({ process: { cmd: ['touch', '/new'] } }) })).record;
  return { root, runtime, images, snapshots, containers, commits, create, base, done: () => rmSync(root, { recursive: true, force: true }) };
}

test('commit: the container\'s changes become a layer on its image, with history, parent and --change applied', needsRoot('layers keep file owners (lchown)'), async () => {
  const t = await setup();
  try {
    const rec = await t.create();
    const rootfs = await t.snapshots.mount(rec.id);
    writeFileSync(join(rootfs, 'new'), 'made in the container');
    const id = await t.commits.commit({ container: rec.id, repo: 'made/here', tag: 'v1', comment: 'c1', changes: ['CMD ["cat", "/new"]', 'ENV A=1'] });
    const img = t.images.get(id)!;
    assert.equal(img.parent, t.base.id);
    assert.equal(img.layers.length, 1);
    assert.deepEqual(img.config.config?.Cmd, ['cat', '/new']);
    assert.deepEqual(img.config.config?.Env, ['PATH=/bin', 'A=1']);
    assert.deepEqual(img.config.history?.map((h) => [h.created_by, h.comment]), [['base', undefined], ['touch /new', 'c1']]);
    assert.equal(t.images.resolve('made/here:v1').id, id);
    // Not running: nothing to freeze.
    assert.deepEqual(t.runtime.calls.filter((c) => c.startsWith('pause') || c.startsWith('resume')), []);
  } finally {
    t.done();
  }
});

test('commit pauses a running container and resumes it; one that exits meanwhile is committed without an error', needsRoot('layers keep file owners (lchown)'), async () => {
  const t = await setup();
  try {
    const rec = await t.create();
    await t.containers.start(rec.id);
    await t.commits.commit({ container: rec.id });
    assert.deepEqual(t.runtime.calls.filter((c) => c.startsWith('pause') || c.startsWith('resume')), [`pause ${rec.id}`, `resume ${rec.id}`]);
    await t.commits.commit({ container: rec.id, pause: false });
    assert.equal(t.runtime.calls.filter((c) => c.startsWith('pause')).length, 1, 'pause=false does not freeze');
    // The process ends before the engine has recorded it: the pause fails, the commit goes on.
    t.runtime.exit(rec.id, 0);
    assert.equal(rec.state.status, 'running');
    const id = await t.commits.commit({ container: rec.id });
    assert.ok(t.images.get(id));
  } finally {
    t.done();
  }
});
