import {
  quietSchedule,
  type RedisSentinels,
  redisInfo,
  redisText,
  startRedisSentinels,
  waitFor,
} from '@pullback/harness';
import type { Worker } from 'bullmq';
import { afterEach, describe, expect, it, vi } from 'vitest';
import {
  type Config,
  EXPORT_QUEUE,
  exportNowJobId,
  openPipeline,
  type Pipeline,
  parseConfig,
  startJobWorker,
} from '../src/index.js';
import { testPrefix } from './helpers/fixtures.js';

// Starting three sentinels that find each other, and a failover, take seconds; more on a loaded machine.
vi.setConfig({ testTimeout: 240_000, hookTimeout: 120_000 });

const SERVER_PASSWORD = 'Server-pw1';
const SENTINEL_PASSWORD = 'Sentinel-pw1';

let set: RedisSentinels | undefined;
let pipeline: Pipeline | undefined;
let worker: Worker | undefined;

afterEach(async () => {
  await worker?.close();
  await pipeline?.close();
  await set?.stop();
  worker = pipeline = set = undefined;
});

/** A config whose `redis` is the Sentinel form naming `set`, as a user writes it. */
function configFor(sentinels: RedisSentinels): Config {
  const list = sentinels.config.sentinels.map(({ host, port }) => `{ host: ${host}, port: ${port} }`);
  return parseConfig(`
redis:
  sentinels: [${list.join(', ')}]
  name: ${sentinels.name}
  password: ${SERVER_PASSWORD}
  sentinelPassword: ${SENTINEL_PASSWORD}
archive: { url: /tmp/pullback-unused-archive }
components:
  docs: { recipe: files, path: /srv/docs, outbox: /tmp/pullback-unused-outbox, schedule: "${quietSchedule()}" }
`);
}

/**
 * The pipeline on `set` through its sentinels, and the pipeline's export worker
 * (the same `startJobWorker` the export role runs on), which records each export
 * in the registry (an epoch-checked Lua script) before it completes the job.
 */
async function openThroughSentinels(sentinels: RedisSentinels) {
  const config = configFor(sentinels);
  // Connection errors are expected while a master is down; the round trip test checks there are none otherwise.
  const errors: string[] = [];
  const opened = openPipeline({
    redis: config.redis,
    prefix: testPrefix(),
    onError: (error, where) => errors.push(`${where}: ${error.message}`),
  });
  pipeline = opened;
  await opened.register(config);
  const completed = new Map<string, () => void>();
  worker = startJobWorker(
    opened,
    EXPORT_QUEUE,
    'export',
    { name: 'export worker', concurrency: 1 },
    async ({ data }) => {
      const exportId = `export-${Date.now()}`;
      const at = new Date().toISOString();
      const wrote = await opened.registry.recordExport(data.component, data.epoch, {
        exportId,
        startedAt: at,
        finishedAt: at,
        ok: true,
      });
      expect(wrote).toBe(true);
      return exportId;
    },
  );
  worker.on('completed', (job) => completed.get(job.id ?? '')?.());
  /** Asks for an export now and resolves with the export id the worker recorded, once it completed the job. */
  const exportNow = async (): Promise<string> => {
    const done = new Promise<void>((resolve) => completed.set(exportNowJobId('docs'), resolve));
    const { jobId } = await opened.exportNow('docs');
    expect(jobId).toBe(exportNowJobId('docs'));
    await done;
    completed.delete(jobId);
    const record = await opened.registry.component('docs');
    return record?.lastExport?.exportId ?? 'none';
  };
  return { pipeline: opened, exportNow, errors };
}

/** The port of the Redis server `pipeline`'s connection talks to, and its role there. */
async function servedBy(connection: Pipeline['connection']): Promise<{ port: number; role: string }> {
  const info = await connection.info();
  return {
    port: Number(/^tcp_port:(\d+)/m.exec(info)?.[1]),
    role: /^role:(\w+)/m.exec(info)?.[1] ?? '?',
  };
}

/** Clients subscribed to a channel on the sentinel on `port` (Pullback's failover watchers). */
async function subscribers(port: number): Promise<number> {
  const clients = await redisText(port, 'CLIENT LIST', SENTINEL_PASSWORD);
  return clients.split('\n').filter((line) => /\bsub=[1-9]/.test(line)).length;
}

describe('redis through Sentinel', () => {
  it('a queue/worker round trip and registry writes go through the sentinels to the master; closed, nothing stays connected to the sentinels', async () => {
    set = await startRedisSentinels({ password: SERVER_PASSWORD, sentinelPassword: SENTINEL_PASSWORD });
    const { pipeline, exportNow, errors } = await openThroughSentinels(set);
    expect(await servedBy(pipeline.connection)).toEqual({ port: set.primary.port, role: 'master' });

    const exportId = await exportNow();
    expect(exportId).toMatch(/^export-\d+$/);
    expect((await pipeline.registry.component('docs'))?.epoch).toBe(1);
    // The writes reached the master, and through it the replica.
    await pipeline.connection.wait(1, 30_000);
    expect(await redisInfo(set.replica.port, 'keyspace', SERVER_PASSWORD)).toMatch(/^db0:keys=\d+/m);
    expect(errors).toEqual([]);

    // Each connection watches the sentinels for failovers (a subscription on each); closing
    // the worker and the pipeline must end those too, or a process would never exit.
    const sentinels = set.sentinels;
    await waitFor('the failover watchers to subscribe', async () =>
      (await subscribers(sentinels[0]?.port ?? 0)) > 0 ? true : undefined,
    );
    await worker?.close();
    await pipeline.close();
    await waitFor('no subscriber left on any sentinel', async () => {
      const counts = await Promise.all(sentinels.map((sentinel) => subscribers(sentinel.port)));
      return counts.every((count) => count === 0) ? true : undefined;
    });
  });

  it('the master killed with SIGKILL, the sentinels promote the replica and the same registry and worker carry on with it', async () => {
    set = await startRedisSentinels({ password: SERVER_PASSWORD, sentinelPassword: SENTINEL_PASSWORD });
    const { pipeline, exportNow } = await openThroughSentinels(set);
    const before = await exportNow();
    // Sentinel replicates asynchronously: what the test reads back later must be on the replica first.
    expect(await pipeline.connection.wait(1, 30_000)).toBe(1);

    await set.primary.kill();
    // Issued while there is no master: it waits in the client and lands on the promoted replica.
    const lockWhileDown = pipeline.registry.acquireLock('sentinel-test', 600_000);
    await set.waitForMaster(set.replica.port, 120_000);
    expect(await lockWhileDown).toBeDefined();

    // The same connection, never reopened, now talks to the promoted replica.
    await vi.waitFor(
      async () =>
        expect(await servedBy(pipeline.connection)).toEqual({ port: set?.replica.port, role: 'master' }),
      { timeout: 60_000, interval: 200 },
    );
    expect((await pipeline.registry.component('docs'))?.lastExport?.exportId).toBe(before);
    const after = await exportNow();
    expect(after).not.toBe(before);
    expect((await pipeline.registry.component('docs'))?.lastExport?.exportId).toBe(after);
    expect(await pipeline.registry.acquireLock('sentinel-test', 1000)).toBeUndefined();
  });

  it('a planned failover (the old master stays up, demoted to a replica): the same registry and worker follow to the new master', async () => {
    set = await startRedisSentinels({ password: SERVER_PASSWORD, sentinelPassword: SENTINEL_PASSWORD });
    const { pipeline, exportNow } = await openThroughSentinels(set);
    const before = await exportNow();
    expect(await pipeline.connection.wait(1, 30_000)).toBe(1);

    await set.failover(120_000);
    const oldMaster = set.primary.port;
    await waitFor('the old master to serve as a replica', async () =>
      /^role:slave/m.test(await redisInfo(oldMaster, 'replication', SERVER_PASSWORD)) ? true : undefined,
    );
    await vi.waitFor(
      async () =>
        expect(await servedBy(pipeline.connection)).toEqual({ port: set?.replica.port, role: 'master' }),
      { timeout: 60_000, interval: 200 },
    );
    const after = await exportNow();
    expect(after).not.toBe(before);
    expect((await pipeline.registry.component('docs'))?.lastExport?.exportId).toBe(after);
  });
});
