import { mkdir, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { backupTree, initArchive, openArchive, recordProof } from '@pullback/archive';
import { type S3Server, scratchDir, startS3 } from '@pullback/harness';
import { type Backend, openBackend } from '@pullback/storage';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ArchiveHistorySource } from '../src/metrics/archive-history.js';

/** A backend whose listings of snapshots wait while `gate.closed` is pending: a slow archive. */
function gated(backend: Backend, gate: { closed?: Promise<void> }): Backend {
  return {
    location: backend.location,
    properties: backend.properties,
    save: (name, body, options) => backend.save(name, body, options),
    load: (name, range, options) => backend.load(name, range, options),
    stat: (name, options) => backend.stat(name, options),
    remove: (name, options) => backend.remove(name, options),
    async *list(prefix, options) {
      if (prefix.startsWith('snapshots/')) await gate.closed;
      yield* backend.list(prefix, options);
    },
  };
}

describe.each(['fs', 's3'] as const)("the metrics' archive history, %s archive", (driver) => {
  let s3: S3Server | undefined;
  let scratch: { path: string; remove(): Promise<void> };
  let backend: Backend;

  beforeAll(async () => {
    scratch = await scratchDir('archive-history');
    backend = openBackend(join(scratch.path, 'archive'));
    if (driver === 's3') {
      s3 = await startS3({ buckets: ['history'] });
      backend = openBackend('s3://history/pullback', {
        s3: {
          endpoint: s3.endpoint,
          region: s3.region,
          credentials: { accessKeyId: s3.accessKeyId, secretAccessKey: s3.secretAccessKey },
        },
      });
    }
  });
  afterAll(async () => {
    await scratch?.remove();
    await s3?.stop();
  });

  it('sums the snapshots, finds the last proven one, lists again only when told or stale, and never waits long on a slow archive', {
    timeout: 120_000,
  }, async () => {
    const keyFile = join(scratch.path, 'key');
    const { archive: writer } = await initArchive({ archive: backend, keyFile });
    const source = join(scratch.path, 'source');
    await mkdir(source);
    await writeFile(join(source, 'a'), 'first file\n'.repeat(1000));
    const first = await backupTree(writer, source, { tags: { component: 'shop' } });
    await recordProof(writer, first.id, { at: new Date().toISOString(), by: 'test', ok: true });

    const gate: { closed?: Promise<void> } = {};
    const history = new ArchiveHistorySource(await openArchive({ archive: gated(backend, gate), keyFile }), {
      maxAgeMs: 60_000,
      waitMs: 500,
    });
    const one = await history.read('seen 1');
    expect(one?.logicalBytes).toBe(first.stats.logicalBytes);
    expect(one?.storedBytes).toBe(first.stats.newBytesStored);
    expect(one?.components.get('shop')).toEqual({
      snapshots: 1,
      lastProven: { id: first.id, time: first.time, logicalBytes: first.stats.logicalBytes },
    });

    // A second snapshot, not proven (its drill failed): not listed while the registry knows nothing new.
    await writeFile(join(source, 'b'), 'second file\n'.repeat(2000));
    const second = await backupTree(writer, source, { tags: { component: 'shop' } });
    await recordProof(writer, second.id, {
      at: new Date().toISOString(),
      by: 'test',
      ok: false,
      reason: 'no',
    });
    expect(await history.read('seen 1')).toBe(one);

    // The registry knows more, but the archive is slow: the last listing, within waitMs.
    let open = () => {};
    gate.closed = new Promise((resolve) => {
      open = resolve;
    });
    const started = Date.now();
    expect(await history.read('seen 2')).toBe(one);
    expect(Date.now() - started).toBeLessThan(10_000);
    open();
    gate.closed = undefined;
    let two = await history.read('seen 2');
    while (two === one) {
      await new Promise((resolve) => setImmediate(resolve));
      two = await history.read('seen 2');
    }
    expect(two?.logicalBytes).toBe(first.stats.logicalBytes + second.stats.logicalBytes);
    expect(two?.storedBytes).toBe(first.stats.newBytesStored + second.stats.newBytesStored);
    // The newest proven one is still the first: the second's drill failed.
    expect(two?.components.get('shop')?.snapshots).toBe(2);
    expect(two?.components.get('shop')?.lastProven?.id).toBe(first.id);
  });
});
