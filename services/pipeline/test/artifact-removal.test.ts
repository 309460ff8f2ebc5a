import { randomBytes } from 'node:crypto';
import { readdir } from 'node:fs/promises';
import { Readable } from 'node:stream';
import { type S3Server, scratchDir, startS3 } from '@pullback/harness';
import { type Backend, openBackend } from '@pullback/storage';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import { ArtifactWriter, type Outbox, readArtifactManifest, removeArtifact } from '../src/index.js';

vi.setConfig({ testTimeout: 120_000, hookTimeout: 60_000 });

/** The outbox, each removal done by `remove` (given the outbox's own). */
function withRemove(
  outbox: Backend,
  remove: (name: string, options: { signal?: AbortSignal } | undefined) => Promise<void>,
): Outbox {
  return {
    location: outbox.location,
    save: (name, body, options) => outbox.save(name, body, options),
    stat: (name, options) => outbox.stat(name, options),
    load: (name, range, options) => outbox.load(name, range, options),
    list: (prefix, options) => outbox.list(prefix, options),
    remove,
    ...(outbox.localPath === undefined ? {} : { localPath: outbox.localPath }),
  };
}

/** The outbox, with its `failAt`-th removal (from 1) failing as a dropped connection would. */
function failingRemoval(outbox: Backend, failAt: number): Outbox {
  let removals = 0;
  return withRemove(outbox, async (name, options) => {
    if (++removals === failAt) throw new Error(`remove ${name}: ECONNRESET (injected)`);
    await outbox.remove(name, options);
  });
}

/** An artifact of three data objects and COMPLETE: four removals. */
async function writeArtifact(outbox: Outbox, exportId: string): Promise<void> {
  const writer = await ArtifactWriter.begin({ component: 'docs', outbox, exportId });
  if (!(writer instanceof ArtifactWriter)) throw new Error(`${exportId} exists already`);
  for (const name of ['a.tar', 'b.tar', 'c.tar']) {
    await writer.saveStream(name, Readable.from([randomBytes(10_000)]));
  }
  await writer.commit({ component: 'docs', recipe: 'tree', kind: 'physical' });
}

/** True when COMPLETE is there but some object it lists is not (or not whole). */
async function looksCompleteButIsNot(outbox: Outbox, exportId: string): Promise<boolean> {
  const manifest = await readArtifactManifest(outbox, exportId);
  if (manifest === undefined) return false;
  for (const object of manifest.objects) {
    const stored = await outbox.stat(object.name).catch(() => undefined);
    if (stored?.size !== object.size) return true;
  }
  return false;
}

async function names(outbox: Outbox, prefix: string): Promise<string[]> {
  const found: string[] = [];
  for await (const info of outbox.list(prefix)) found.push(info.name);
  return found;
}

function removalSuite(open: () => Backend) {
  it('interrupted at any removal, never leaves an artifact that reads as complete', async () => {
    const outbox = open();
    for (const failAt of [1, 2, 3, 4]) {
      const exportId = `e${failAt}`;
      await writeArtifact(outbox, exportId);
      await expect(removeArtifact(failingRemoval(outbox, failAt), exportId)).rejects.toThrow(/injected/);
      expect(await looksCompleteButIsNot(outbox, exportId)).toBe(false);
      // An export retried under the same id must not take the remains for its artifact.
      const begun = await ArtifactWriter.begin({ component: 'docs', outbox, exportId });
      if (!(begun instanceof ArtifactWriter))
        expect(await looksCompleteButIsNot(outbox, exportId)).toBe(false);
      // The retried removal finishes the job.
      await removeArtifact(outbox, exportId);
      expect(await names(outbox, `${exportId}/`)).toEqual([]);
    }
  });
}

describe('removeArtifact on the fs driver', () => {
  let scratch: Awaited<ReturnType<typeof scratchDir>>;
  beforeAll(async () => {
    scratch = await scratchDir('artifact-removal');
  });
  afterAll(async () => {
    await scratch?.remove();
  });
  removalSuite(() => openBackend(scratch.path));

  it('leaves no directory of the export behind, and one that is not empty as it is', async () => {
    const outbox = openBackend(scratch.path);
    await writeArtifact(outbox, 'gone');
    expect(await readdir(scratch.path)).toContain('gone');
    await removeArtifact(outbox, 'gone');
    expect(await readdir(scratch.path)).not.toContain('gone');

    // An export retried under the same id writes while the removal runs: its object stays.
    await writeArtifact(outbox, 'kept');
    let removals = 0;
    const racing = withRemove(outbox, async (name, options) => {
      await outbox.remove(name, options);
      if (++removals === 4) await outbox.save('kept/late.tar', Buffer.from('late'));
    });
    await removeArtifact(racing, 'kept');
    expect(await names(outbox, 'kept/')).toEqual(['kept/late.tar']);
  });
});

describe('removeArtifact on the S3 driver', () => {
  let s3: S3Server;
  beforeAll(async () => {
    s3 = await startS3({ buckets: ['outbox'] });
  });
  afterAll(async () => {
    await s3?.stop();
  });
  removalSuite(() =>
    openBackend('s3://outbox/docs', {
      s3: {
        endpoint: s3.endpoint,
        region: s3.region,
        credentials: { accessKeyId: s3.accessKeyId, secretAccessKey: s3.secretAccessKey },
      },
    }),
  );
});
