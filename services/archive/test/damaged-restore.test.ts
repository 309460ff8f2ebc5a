import { access, chmod, link, mkdir, utimes, writeFile } from 'node:fs/promises';
import { type S3Server, startS3 } from '@pullback/harness';
import { openBackend } from '@pullback/storage';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { backupTree, CorruptDataError, DamagedRestoreError, restoreSnapshot } from '../src/index.js';
import { newWorkspace, type Workspace } from './helpers/archive-fixture.js';
import { describeTree, diffFacts } from './helpers/compare-trees.js';
import { damageFirstBlobOf } from './helpers/damage-blob.js';
import { pseudoRandom } from './helpers/make-tree.js';

/** Files with modes and mtimes a restore must set, and one chunked file to damage. */
async function makeTree(root: string): Promise<void> {
  await mkdir(`${root}/docs/deep`, { recursive: true });
  await mkdir(`${root}/big`, { recursive: true });
  const old = new Date('2011-03-04T05:06:07Z');
  for (let i = 0; i < 12; i++) {
    const path = `${root}/docs/${i % 2 === 0 ? 'deep/' : ''}note-${i}.txt`;
    await writeFile(path, pseudoRandom(i + 1, 1000 + i * 700));
    await chmod(path, i % 3 === 0 ? 0o755 : 0o644);
    await utimes(path, old, old);
  }
  // Chunked, each chunk a blob of its own: damage stays within this file.
  await writeFile(`${root}/big/victim.bin`, pseudoRandom(99, 3 * 1024 * 1024));
  await chmod(`${root}/big/victim.bin`, 0o640);
  // Another name of the same file: damaged with it.
  await link(`${root}/big/victim.bin`, `${root}/big/victim.link`);
  await writeFile(`${root}/big/neighbour.bin`, pseudoRandom(98, 2 * 1024 * 1024));
  await chmod(`${root}/big/neighbour.bin`, 0o444);
  for (const dir of ['docs/deep', 'docs', 'big']) await utimes(`${root}/${dir}`, old, old);
}

describe.each(['fs', 's3'] as const)('a restore that meets a damaged blob, on the %s driver', (driver) => {
  let ws: Workspace;
  let s3: S3Server | undefined;
  beforeAll(async () => {
    let backend: ReturnType<typeof openBackend> | undefined;
    if (driver === 's3') {
      s3 = await startS3({ buckets: ['damaged'] });
      backend = openBackend('s3://damaged/pullback', {
        s3: {
          endpoint: s3.endpoint,
          region: s3.region,
          credentials: { accessKeyId: s3.accessKeyId, secretAccessKey: s3.secretAccessKey },
        },
      });
    }
    ws = await newWorkspace(`damaged-restore-${driver}`, backend);
    await makeTree(ws.path('src'));
  });
  afterAll(async () => {
    await ws?.remove();
    await s3?.stop();
  });

  it('restores everything else with its metadata, leaves the damaged file out, and names it', async () => {
    const snapshot = await backupTree(ws.archive, ws.path('src'));
    await damageFirstBlobOf(ws.archive, snapshot.id, 'big/victim.bin');

    const target = ws.path('out');
    const error = await restoreSnapshot(ws.archive, snapshot.id, { target }).then(
      () => undefined,
      (e: unknown) => e,
    );
    expect(error).toBeInstanceOf(CorruptDataError);
    expect(error).toBeInstanceOf(DamagedRestoreError);
    const damaged = error as DamagedRestoreError;
    expect(damaged.damaged.map((d) => d.path)).toEqual(['big/victim.bin', 'big/victim.link']);
    expect(damaged.damaged[0]!.reason).toMatch(/blob [0-9a-f]{16} in pack [0-9a-f]{16}: /);
    expect(damaged.damaged[1]!.reason).toBe('a hard link of damaged big/victim.bin');
    expect(damaged.filesRestored).toBe(13);
    expect(damaged.message).toContain('13 files restored, 2 damaged files not restored');

    // Nothing that looks like data where the damaged file was.
    for (const name of ['victim.bin', 'victim.link']) {
      await expect(access(ws.path('out', 'big', name))).rejects.toMatchObject({ code: 'ENOENT' });
    }
    // Everything else as it was: contents, modes, mtimes (directories' too).
    const expected = await describeTree(ws.path('src'));
    expected.delete('big/victim.bin');
    expected.delete('big/victim.link');
    expect(diffFacts(expected, await describeTree(target))).toEqual([]);
  });

  it('a delta restore over a full tree also removes the damaged file rather than leave it stale', async () => {
    const snapshots = await backupTree(ws.archive, ws.path('src'), { force: true });
    const target = ws.path('delta-out');
    await makeTree(target);
    await writeFile(`${target}/big/victim.bin`, Buffer.alloc(3 * 1024 * 1024));
    const error = await restoreSnapshot(ws.archive, snapshots.id, { target, delta: true }).then(
      () => undefined,
      (e: unknown) => e,
    );
    expect((error as DamagedRestoreError).damaged?.map((d) => d.path)).toEqual([
      'big/victim.bin',
      'big/victim.link',
    ]);
    await expect(access(`${target}/big/victim.bin`)).rejects.toMatchObject({ code: 'ENOENT' });
    await expect(access(`${target}/big/victim.link`)).rejects.toMatchObject({ code: 'ENOENT' });
    const expected = await describeTree(ws.path('src'));
    expected.delete('big/victim.bin');
    expected.delete('big/victim.link');
    expect(diffFacts(expected, await describeTree(target))).toEqual([]);
  });

  it('an aborted restore leaves no file that is not whole, with its mode', async () => {
    await mkdir(ws.path('many'));
    for (let i = 0; i < 120; i++) {
      await writeFile(ws.path('many', `f${i}`), pseudoRandom(1000 + i, 300 * 1024));
      await chmod(ws.path('many', `f${i}`), 0o664);
    }
    const snapshot = await backupTree(ws.archive, ws.path('many'));
    const target = ws.path('aborted');
    const controller = new AbortController();
    const error = await restoreSnapshot(ws.archive, snapshot.id, {
      target,
      signal: controller.signal,
      onProgress: (progress) => {
        if (progress.bytesDone > 0) controller.abort(new Error('stop'));
      },
    }).then(
      () => undefined,
      (e: unknown) => e,
    );
    expect(error).toBeInstanceOf(Error);
    const source = await describeTree(ws.path('many'));
    const left = await describeTree(target);
    left.delete('');
    // Stopped midway: some files are missing, and those present are whole.
    expect(left.size).toBeLessThan(120);
    for (const [path, facts] of left) {
      const original = source.get(path)!;
      expect({ path, sha256: facts.sha256, mode: facts.mode, size: facts.size }).toEqual({
        path,
        sha256: original.sha256,
        mode: original.mode,
        size: original.size,
      });
    }
  });
});
