import { listSnapshots } from '@pullback/archive';
import { startRedis } from '@pullback/harness';
import { exportIdFor, exportNowJobId, importJobId } from '@pullback/pipeline';
import { describe, expect, it, onTestFinished } from 'vitest';
import type { RunningPipeline } from '../src/index.js';
import { shopCluster, startInWorld, testWorld, waitLong, worldConfig } from './e2e-fixtures.js';

/** The digest that ends the export id of every `--now` export of shop (export-id.ts). */
const NOW_DIGEST = exportIdFor('shop', exportNowJobId('shop'), 0).slice(-8);

/** When the export's job was made, to the second, from its id (`shop-20250101T120000Z-1a2b3c4d`). */
function jobTimeOf(exportId: string): number {
  const stamp = /-(\d{4})(\d{2})(\d{2})T(\d{2})(\d{2})(\d{2})Z-/.exec(exportId);
  if (stamp === null) throw new Error(`no time in export id ${exportId}`);
  const [, y, mo, d, h, mi, s] = stamp;
  return Date.parse(`${y}-${mo}-${d}T${h}:${mi}:${s}Z`);
}

/**
 * Once shop-b applied the data of a snapshot of shop whose export job was made at or
 * after `since` and matches: that snapshot, or a newer one that superseded it before
 * its import ran (an import skips superseded snapshots). Returns the snapshot's id.
 */
async function reachedFallback(
  running: RunningPipeline,
  archive: Parameters<typeof listSnapshots>[0],
  since: number,
  matches: (exportId: string) => boolean,
): Promise<string | undefined> {
  const snapshots = await listSnapshots(archive, { component: 'shop' });
  const made = snapshots.find(
    (s) => jobTimeOf(s.tags.exportId ?? '') >= since && matches(s.tags.exportId ?? ''),
  );
  if (made === undefined) return undefined;
  for (const snapshot of snapshots.filter((s) => s.time >= made.time)) {
    const job = await running.pipeline.importQueue('shop-b').getJob(importJobId('shop-b', snapshot.id));
    if (job !== undefined && (await job.getState()) === 'completed' && job.returnvalue?.applied)
      return made.id;
  }
  return undefined;
}

describe('a Redis restarted empty under a running pipeline', () => {
  it('is noticed and restored: the next --now export and the next scheduled one both reach the fallback', async () => {
    const world = await testWorld('e2e-reset');
    const redis = await startRedis();
    world.cleanup(() => redis.stop());
    // Every 30 s: a scheduled export is never far, and the machine is not kept busy exporting.
    const shop = await shopCluster(world, { fallbacks: 1, schedule: '*/30 * * * * *' });
    const config = worldConfig(world, redis.url, shop.yaml);
    const notices: string[] = [];
    const running = await startInWorld(world, config, {
      registryCheckIntervalMs: 1000,
      onNotice: (line) => notices.push(line),
      // Redis away for a moment: connection errors are expected, and say nothing of the outcome.
      onError: () => {},
    });
    const { pipeline } = running;
    await waitLong('shop-b healthy at a scheduled snapshot', async () => {
      const state = (await pipeline.registry.instance('shop-b'))?.state;
      return state?.healthy && state.snapshotId !== undefined ? true : undefined;
    });

    // Mid-pipeline: the next scheduled export is at most 30 s away, or already running.
    const resetAt = Math.floor(Date.now() / 1000) * 1000;
    await redis.restartEmpty();
    const notice = await waitLong('the restore', async () => notices.find((line) => line.includes('reset')));
    expect(notice).toBe('registry was reset: restored 1 component from the config, epoch 1');
    expect(notices).toHaveLength(1);
    expect((await pipeline.readStatus()).components.map((c) => [c.name, c.active, c.epoch])).toEqual([
      ['shop', 'shop-a', 1],
    ]);
    expect((await pipeline.exportQueue.getJobSchedulers(0, -1)).map((s) => s.key)).toEqual(['export.shop']);

    await pipeline.exportNow('shop');
    // Printed if a wait below times out, to tell a slow machine from a stuck pipeline.
    const report = setInterval(async () => {
      const status = await pipeline.readStatus().catch(() => undefined);
      console.log(`reset e2e: ${JSON.stringify({ queues: status?.queues, running: status?.running })}`);
    }, 60_000);
    onTestFinished(() => clearInterval(report));
    const fromNow = await waitLong('the --now snapshot on shop-b', () =>
      reachedFallback(running, world.archive, resetAt, (id) => id.endsWith(NOW_DIGEST)),
    );
    const scheduled = await waitLong('a snapshot scheduled after the reset on shop-b', () =>
      reachedFallback(running, world.archive, resetAt, (id) => !id.endsWith(NOW_DIGEST)),
    );
    expect(fromNow).not.toBe(scheduled);
  });
});
