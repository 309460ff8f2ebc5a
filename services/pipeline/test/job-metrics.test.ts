import { type RedisServer, startRedis, waitFor } from '@pullback/harness';
import type { Worker } from 'bullmq';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  EXPORT_QUEUE,
  openPipeline,
  type Pipeline,
  PipelineError,
  ProcessMetrics,
  parseConfig,
  startJobWorker,
} from '../src/index.js';
import { testPrefix } from './helpers/fixtures.js';

let redis: RedisServer;
let pipeline: Pipeline;
let worker: Worker | undefined;

beforeAll(async () => {
  redis = await startRedis();
});

afterAll(async () => {
  await worker?.close();
  await pipeline?.close();
  await redis?.stop();
});

describe('job metrics', () => {
  it("counts a job's failed attempts by queue, component and the error's code", {
    timeout: 60_000,
  }, async () => {
    const metrics = new ProcessMetrics();
    pipeline = openPipeline({ redis: redis.url, prefix: testPrefix(), metrics, retry: { attempts: 1 } });
    await pipeline.register(
      parseConfig(`
redis: ${redis.url}
archive: { url: /tmp/archive }
components:
  docs: { recipe: files, path: /srv/docs, outbox: /tmp/outbox }
`),
    );
    // Each export fails with the next of these.
    const failures: Error[] = [
      new PipelineError('corrupt-artifact', 'export of docs: damaged'),
      Object.assign(new Error('connect ECONNREFUSED 127.0.0.1:1'), { code: 'ECONNREFUSED' }),
      new Error('no code at all'),
    ];
    worker = startJobWorker(
      pipeline,
      EXPORT_QUEUE,
      'export',
      { name: 'export worker', concurrency: 1 },
      async () => {
        throw failures.shift() ?? new Error('unexpected');
      },
    );
    const counted = async () => {
      const counter = metrics.registry.getSingleMetric('pullback_job_failures_total');
      const { values } = (await counter?.get()) ?? { values: [] };
      return values
        .map(({ labels, value }) => `${labels.queue} ${labels.component} ${labels.reason} ${value}`)
        .sort();
    };
    for (let count = 1; count <= 3; count++) {
      await pipeline.exportNow('docs');
      await waitFor(`failure ${count} counted`, async () =>
        (await counted()).length === count ? true : undefined,
      );
    }
    expect(await counted()).toEqual([
      'export docs ECONNREFUSED 1',
      'export docs corrupt-artifact 1',
      'export docs error 1',
    ]);
    // The registry records them too, as before.
    expect(await pipeline.registry.failures('docs', 10)).toHaveLength(3);
  });
});
