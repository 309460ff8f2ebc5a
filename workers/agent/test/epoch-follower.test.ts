import { rm } from 'node:fs/promises';
import { join } from 'node:path';
import { type RedisServer, scratchDir, startRedis, waitFor } from '@pullback/harness';
import { openPipeline, type Pipeline, parseConfig } from '@pullback/pipeline';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  EpochRecordStore,
  epochRecordPath,
  FailsafePromises,
  followNewerActive,
  openAgentRegistry,
  startEpochFollower,
} from '../src/index.js';

let redis: RedisServer;
let scratch: Awaited<ReturnType<typeof scratchDir>>;
let round = 0;

beforeAll(async () => {
  redis = await startRedis();
  scratch = await scratchDir('epoch-follower');
});

afterAll(async () => {
  await redis?.stop();
  await scratch?.remove();
});

/** shop-a (the config's active) and shop-b registered in a namespace of their own; shop-a's record at epoch 1 naming itself. */
async function setUp(): Promise<{
  pipeline: Pipeline;
  record: EpochRecordStore;
  epoch: number;
  recordOf: (instance: string) => EpochRecordStore;
}> {
  round += 1;
  const config = parseConfig(
    `redis: ${redis.url}
archive: { url: ${join(scratch.path, 'archive')} }
stateDir: ${join(scratch.path, `state-${round}`)}
components:
  shop:
    recipe: postgres
    outbox: ${join(scratch.path, 'outbox')}
    instances:
      - { name: shop-a, role: active, host: 127.0.0.1, port: 5432, dataDir: /nowhere/a, priority: 100 }
      - { name: shop-b, role: fallback, host: 127.0.0.1, port: 5433, dataDir: /nowhere/b, priority: 50 }
`,
    'pullback.yaml',
  );
  const pipeline = openPipeline({ redis: redis.url, prefix: `follower-${round}` });
  await pipeline.register(config);
  const epoch = (await pipeline.registry.component('shop'))!.epoch;
  const record = new EpochRecordStore(epochRecordPath(config.stateDir, 'shop-a'));
  expect((await record.compareAndSet({ epoch, active: 'shop-a' })).accepted).toBe(true);
  const recordOf = (instance: string) => new EpochRecordStore(epochRecordPath(config.stateDir, instance));
  return { pipeline, record, epoch, recordOf };
}

const follow = (
  pipeline: Pipeline,
  record: EpochRecordStore,
  veto?: FailsafePromises['veto'],
  instance = 'shop-a',
) =>
  followNewerActive({
    component: 'shop',
    instance,
    configRole: instance === 'shop-a' ? 'active' : 'fallback',
    registry: pipeline.registry,
    record,
    ...(veto === undefined ? {} : { veto }),
  });

describe('an agent following an activation it missed', () => {
  it('records the newer epoch and active the registry names', async () => {
    const { pipeline, record, epoch } = await setUp();
    try {
      const newer = await pipeline.registry.takeEpoch('shop', epoch);
      await pipeline.registry.setActive('shop', 'shop-b', newer);
      expect(await follow(pipeline, record)).toBe(true);
      expect(await record.read()).toMatchObject({ epoch: newer, active: 'shop-b' });
      // Once is enough: the same epoch again changes nothing.
      expect(await follow(pipeline, record)).toBe(false);
    } finally {
      await pipeline.close();
    }
  });

  it('takes nothing while an activation is under way (a newer epoch, the registry still naming this instance)', async () => {
    const { pipeline, record, epoch } = await setUp();
    try {
      await pipeline.registry.takeEpoch('shop', epoch);
      expect(await follow(pipeline, record)).toBe(false);
      expect(await record.read()).toMatchObject({ epoch, active: 'shop-a' });
    } finally {
      await pipeline.close();
    }
  });

  it("a fallback takes nothing while an activation is under way (the activation's epoch is the activation's to record)", async () => {
    const { pipeline, epoch, recordOf } = await setUp();
    try {
      // shop-b, a fallback, knows epoch 1 with shop-a active; a switchover to it takes a
      // newer epoch, and until it names shop-b active the registry still says shop-a.
      const record = recordOf('shop-b');
      expect((await record.compareAndSet({ epoch, active: 'shop-a' })).accepted).toBe(true);
      const newer = await pipeline.registry.takeEpoch('shop', epoch);
      expect(await follow(pipeline, record, undefined, 'shop-b')).toBe(false);
      expect(await record.read()).toMatchObject({ epoch, active: 'shop-a' });
      // The activation records its epoch on shop-b itself, which the follower had left free.
      expect((await record.compareAndSet({ epoch: newer, active: 'shop-b' })).accepted).toBe(true);
    } finally {
      await pipeline.close();
    }
  });

  it('takes nothing from a registry behind the record (Redis lost its data and was registered again)', async () => {
    const { pipeline, record, epoch } = await setUp();
    try {
      const newer = await pipeline.registry.takeEpoch('shop', epoch);
      await pipeline.registry.setActive('shop', 'shop-b', newer);
      expect((await record.compareAndSet({ epoch: newer + 5, active: 'shop-a' })).accepted).toBe(true);
      expect(await follow(pipeline, record)).toBe(false);
      expect(await record.read()).toMatchObject({ epoch: newer + 5, active: 'shop-a' });
    } finally {
      await pipeline.close();
    }
  });

  it('takes nothing while a failsafe promise it granted is live (the veto of POST /epoch)', async () => {
    const { pipeline, record, epoch } = await setUp();
    try {
      const promises = new FailsafePromises(record, 60_000);
      expect((await promises.grant('shop-a', epoch)).granted).toBe(true);
      const newer = await pipeline.registry.takeEpoch('shop', epoch);
      await pipeline.registry.setActive('shop', 'shop-b', newer);
      expect(await follow(pipeline, record, promises.veto)).toBe(false);
      expect(await record.read()).toMatchObject({ epoch, active: 'shop-a' });
      // The promise, nothing else, held it back.
      expect(await follow(pipeline, record)).toBe(true);
    } finally {
      await pipeline.close();
    }
  });
  it("with no record: the config's active takes the registry's newer active, a fallback takes nothing", async () => {
    const { pipeline, epoch, recordOf } = await setUp();
    try {
      const newer = await pipeline.registry.takeEpoch('shop', epoch);
      await pipeline.registry.setActive('shop', 'shop-b', newer);
      // shop-c: a fallback in the config with no record, shop-a's record lost with its state directory.
      await rm(recordOf('shop-a').path);
      expect(await follow(pipeline, recordOf('shop-c'), undefined, 'shop-c')).toBe(false);
      expect(await recordOf('shop-c').read()).toBeUndefined();
      expect(await follow(pipeline, recordOf('shop-a'))).toBe(true);
      expect(await recordOf('shop-a').read()).toMatchObject({ epoch: newer, active: 'shop-b' });
    } finally {
      await pipeline.close();
    }
  });

  it('running, says nothing while its new connection to Redis connects, then follows', async () => {
    const { pipeline, record, epoch } = await setUp();
    // The agent's own connection (no offline queue), opened just now, as `up --instance` opens it.
    const connection = openAgentRegistry(redis.url, { prefix: `follower-${round}` });
    const lines: string[] = [];
    const follower = startEpochFollower({
      component: 'shop',
      instance: 'shop-a',
      configRole: 'active',
      registry: connection.registry,
      record,
      intervalMs: 100,
      log: (line) => lines.push(line),
    });
    try {
      const newer = await pipeline.registry.takeEpoch('shop', epoch);
      await pipeline.registry.setActive('shop', 'shop-b', newer);
      await waitFor('the follower records the activation it missed', async () =>
        (await record.read())?.epoch === newer ? true : undefined,
      );
      expect(lines).toEqual([
        `shop-a records epoch ${newer} of shop naming shop-b active, as the registry does`,
      ]);
    } finally {
      await follower.stop();
      await connection.close();
      await pipeline.close();
    }
  });
});
