import { type RedisServer, startRedis, waitFor } from '@pullback/harness';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { openPipeline, type Pipeline, ProcessMetrics, parseConfig } from '../src/index.js';
import { testPrefix } from './helpers/fixtures.js';

let redis: RedisServer;
let pipeline: Pipeline;

beforeAll(async () => {
  redis = await startRedis();
});

afterAll(async () => {
  await pipeline?.close();
  await redis?.stop();
});

/** The value of `name{labels}` in the process's text, as a scrape sees it. */
async function sample(metrics: ProcessMetrics, line: RegExp): Promise<number | undefined> {
  const { body } = await metrics.text();
  const match = body.split('\n').find((text) => line.test(text));
  return match === undefined ? undefined : Number(match.split(' ').at(-1));
}

/** One files component, `docs`, on the test's Redis. */
const docsConfig = () =>
  parseConfig(`
redis: ${redis.url}
archive: { url: /tmp/archive }
components:
  docs: { recipe: files, path: /srv/docs, schedule: "@daily", outbox: /tmp/outbox }
`);

describe("the registry's metrics", () => {
  it('says when Redis does not answer, without waiting for it, and recovers by itself', {
    timeout: 120_000,
  }, async () => {
    pipeline = openPipeline({ redis: redis.url, prefix: testPrefix(), onError: () => {} });
    await pipeline.register(docsConfig());
    const metrics = new ProcessMetrics();
    metrics.watch(pipeline, { answerWithinMs: 1_000 });
    expect(await sample(metrics, /^pullback_registry_up /)).toBe(1);
    expect(await sample(metrics, /^pullback_epoch\{component="docs"\} /)).toBe(1);
    expect(await sample(metrics, /^pullback_export_interval_seconds\{component="docs"\} /)).toBe(86_400);
    expect(await sample(metrics, /^pullback_activations_total\{component="docs"\} /)).toBe(0);

    await redis.halt({ keepData: true });
    try {
      const started = Date.now();
      await waitFor('the scrape to say the registry is away', async () =>
        (await sample(metrics, /^pullback_registry_up /)) === 0 ? true : undefined,
      );
      expect(Date.now() - started).toBeLessThan(30_000);
      // Each scrape waits 1 s at most for Redis (answerWithinMs), and shows no stale value.
      const scraped = Date.now();
      expect(await sample(metrics, /^pullback_epoch\{/)).toBeUndefined();
      expect(Date.now() - scraped).toBeLessThan(10_000);
    } finally {
      await redis.resume();
    }
    await waitFor('the registry read again', async () =>
      (await sample(metrics, /^pullback_registry_up /)) === 1 ? true : undefined,
    );
    expect(await sample(metrics, /^pullback_epoch\{component="docs"\} /)).toBe(1);
  });

  it("counts the corrupt pages of a component's last export, 0 for one that found none", {
    timeout: 60_000,
  }, async () => {
    const own = openPipeline({ redis: redis.url, prefix: testPrefix(), onError: () => {} });
    try {
      await own.register(docsConfig());
      const metrics = new ProcessMetrics();
      metrics.watch(own, { answerWithinMs: 5_000 });
      const corrupt = /^pullback_last_export_corrupt_pages\{component="docs"\} /;
      // No export yet: no sample, rather than a 0 that says the pages were checked.
      expect(await sample(metrics, corrupt)).toBeUndefined();
      const exported = {
        startedAt: new Date().toISOString(),
        finishedAt: new Date().toISOString(),
        ok: true,
      };
      expect(await own.registry.recordExport('docs', 1, { ...exported, exportId: 'docs-e1' })).toBe(true);
      // A scrape reads the registry once for every gauge, and again only after a while (sharedRead).
      const scraped = (value: number) => async () =>
        (await sample(metrics, corrupt)) === value ? true : undefined;
      await waitFor('the export with no corrupt page', scraped(0));
      const pages = [{ file: 'base/5/16384', block: 3 }];
      expect(
        await own.registry.recordExport('docs', 1, {
          ...exported,
          exportId: 'docs-e2',
          corruptPages: pages,
          corruptPageCount: 25,
        }),
      ).toBe(true);
      await waitFor('the export with 25 corrupt pages', scraped(25));
    } finally {
      await own.close();
    }
  });
});
