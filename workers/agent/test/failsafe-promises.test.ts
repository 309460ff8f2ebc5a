import { scratchDir } from '@pullback/harness';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { EpochRecordStore, epochRecordPath, FailsafePromises } from '../src/index.js';

const FAILSAFE_MS = 3000;

let scratch: Awaited<ReturnType<typeof scratchDir>>;
let store: EpochRecordStore;
let now: number;
let promises: FailsafePromises;

beforeEach(async () => {
  scratch = await scratchDir('failsafe');
  store = new EpochRecordStore(epochRecordPath(scratch.path, 'shop-b'));
  now = 1_000_000;
  promises = new FailsafePromises(store, FAILSAFE_MS, () => now);
});
afterEach(() => scratch.remove());

describe('failsafe promises', () => {
  it('are granted to the active at the recorded epoch, or a newer one, and refused for an older one', async () => {
    await store.compareAndSet({ epoch: 7, active: 'shop-a' });
    expect(await promises.grant('shop-a', 7)).toEqual({
      granted: true,
      instance: 'shop-a',
      epoch: 7,
      forMs: FAILSAFE_MS,
    });
    expect(await promises.grant('shop-a', 8)).toMatchObject({ granted: true });
    expect(await promises.grant('shop-a', 6)).toEqual({
      granted: false,
      reason: 'the recorded epoch 7 is newer than 6',
    });
    expect(await promises.grant('shop-c', 7)).toEqual({
      granted: false,
      reason: 'epoch 7 is recorded with shop-a active, not shop-c',
    });
  });

  it('make the record refuse newer epochs while live, saying until when, and no longer once lapsed', async () => {
    await store.compareAndSet({ epoch: 7, active: 'shop-a' });
    await promises.grant('shop-a', 7);
    now += 1000;
    const refused = await store.compareAndSet({ epoch: 8, active: 'shop-b' }, promises.veto);
    expect(refused.accepted).toBe(false);
    expect(!refused.accepted && refused.reason).toMatch(
      /^a failsafe promise to shop-a at epoch 7 is live until \d{4}-\d\d-\d\dT[\d:.]+Z \(2000 ms more\)$/,
    );
    expect((await store.read())?.epoch).toBe(7);
    // The same epoch with the same active is no change: allowed.
    expect(await store.compareAndSet({ epoch: 7, active: 'shop-a' }, promises.veto)).toMatchObject({
      accepted: true,
    });
    expect(promises.liveForMs()).toBe(2000);

    now += 1999;
    expect((await store.compareAndSet({ epoch: 8, active: 'shop-b' }, promises.veto)).accepted).toBe(false);
    now += 1;
    expect(promises.liveForMs()).toBe(0);
    expect(await store.compareAndSet({ epoch: 8, active: 'shop-b' }, promises.veto)).toMatchObject({
      accepted: true,
      record: { epoch: 8, active: 'shop-b' },
    });
  });

  it('hold from the latest grant: a renewed promise extends the refusal', async () => {
    await promises.grant('shop-a', 3);
    now += 2500;
    await promises.grant('shop-a', 3);
    now += 2500;
    expect(promises.liveForMs()).toBe(500);
    expect((await store.compareAndSet({ epoch: 4, active: 'shop-b' }, promises.veto)).accepted).toBe(false);
  });

  it('and a racing newer epoch: exactly one of the two wins', async () => {
    for (let round = 0; round < 20; round++) {
      const dir = await scratchDir('failsafe-race');
      const raceStore = new EpochRecordStore(epochRecordPath(dir.path, 'shop-b'));
      const racePromises = new FailsafePromises(raceStore, FAILSAFE_MS, () => now);
      await raceStore.compareAndSet({ epoch: 7, active: 'shop-a' });
      // Either may be asked first; whichever runs first under the record's lock wins.
      const asks = [
        () => racePromises.grant('shop-a', 7),
        () => raceStore.compareAndSet({ epoch: 8, active: 'shop-b' }, racePromises.veto),
      ] as const;
      const [grant, recorded] =
        round % 2 === 0
          ? await Promise.all([asks[0](), asks[1]()])
          : await Promise.all([asks[1](), asks[0]()]).then(([second, first]) => [first, second] as const);
      expect(grant.granted).not.toBe(recorded.accepted);
      await dir.remove();
    }
  });
});
