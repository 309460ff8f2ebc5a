import { type RedisServer, startRedis, waitFor } from '@pullback/harness';
import { openPipeline, type Pipeline, parseConfig, type WalReceiverState } from '@pullback/pipeline';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { readWitnesses } from '../src/index.js';

let redis: RedisServer;
let pipeline: Pipeline;

beforeAll(async () => {
  redis = await startRedis();
  pipeline = openPipeline({ redis: redis.url, prefix: 'witnesses' });
  await pipeline.register(
    parseConfig(`redis: ${redis.url}
archive: { url: /tmp/pullback-witnesses-archive }
components:
  shop:
    recipe: postgres
    outbox: /tmp/pullback-witnesses-outbox
    instances:
      - { name: shop-a, role: active, host: 127.0.0.1, port: 5432, dataDir: /srv/a, priority: 100 }
      - { name: shop-b, role: fallback, host: 127.0.0.1, port: 5433, dataDir: /srv/b, priority: 50 }
`),
  );
}, 120_000);

afterAll(async () => {
  await pipeline?.close();
  await redis?.stop();
});

const SILENT_MS = 2000;

async function witnesses() {
  const record = await pipeline.registry.requireComponent('shop');
  return readWitnesses(pipeline.registry, record, 'shop-a', SILENT_MS);
}

const receiver = (state: Partial<WalReceiverState>): WalReceiverState => ({
  holder: 'pull-1:1',
  source: 'shop-a',
  streaming: true,
  synchronous: false,
  slot: 'pullback_shop',
  updatedAt: new Date().toISOString(),
  ...state,
});

const heartbeat = (serverRunning: boolean) =>
  pipeline.registry.reportAgent('shop-a', {
    holder: 'host-a:1',
    role: 'active',
    epoch: 1,
    serverRunning,
    at: new Date().toISOString(),
  });

describe('readWitnesses: signal B from the registry', () => {
  it('an agent never heard from is silent; a fresh heartbeat is not, and says whether the server runs', async () => {
    expect(await witnesses()).toEqual({
      agentSilent: true,
      agentReportsDown: false,
      receiverLostActive: false,
    });
    await heartbeat(true);
    expect(await witnesses()).toEqual({
      agentSilent: false,
      agentReportsDown: false,
      receiverLostActive: false,
    });
    await heartbeat(false);
    expect(await witnesses()).toMatchObject({ agentSilent: false, agentReportsDown: true });
    // Silent once its heartbeat is older than agentSilentMs on Redis's clock.
    const record = await pipeline.registry.requireComponent('shop');
    await waitFor('the heartbeat older than 50 ms', async () =>
      (await readWitnesses(pipeline.registry, record, 'shop-a', 50)).agentSilent ? true : undefined,
    );
  });

  it('the WAL receiver lost the active: a fresh report of not streaming from it; never a stale one or one of another source', async () => {
    await heartbeat(true);
    await pipeline.registry.reportWalReceiver(
      'shop',
      receiver({ streaming: false, reason: 'connection refused' }),
    );
    expect(await witnesses()).toMatchObject({ receiverLostActive: true });
    await pipeline.registry.reportWalReceiver('shop', receiver({ streaming: true }));
    expect(await witnesses()).toMatchObject({ receiverLostActive: false });
    await pipeline.registry.reportWalReceiver(
      'shop',
      receiver({ streaming: false, updatedAt: new Date(Date.now() - 60_000).toISOString() }),
    );
    expect(await witnesses()).toMatchObject({ receiverLostActive: false });
    await pipeline.registry.reportWalReceiver('shop', receiver({ streaming: false, source: 'shop-b' }));
    expect(await witnesses()).toMatchObject({ receiverLostActive: false });
  });
});
