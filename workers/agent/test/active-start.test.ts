import { scratchDir } from '@pullback/harness';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { EpochRecordStore, epochRecordPath, startActiveWhileRecorded } from '../src/index.js';

let scratch: Awaited<ReturnType<typeof scratchDir>>;
let record: EpochRecordStore;

beforeEach(async () => {
  scratch = await scratchDir('active-start');
  record = new EpochRecordStore(epochRecordPath(scratch.path, 'shop-a'));
});
afterEach(() => scratch.remove());

describe("the supervisor's start of the active", () => {
  it('starts it only while its epoch record names it active', async () => {
    const started: string[] = [];
    const start = startActiveWhileRecorded({
      instance: 'shop-a',
      record,
      start: async (dataDir) => {
        started.push(dataDir);
      },
    });
    // No record yet: the config's role stands.
    expect(await start('/data/a')).toBeUndefined();
    await record.compareAndSet({ epoch: 6, active: 'shop-a' });
    expect(await start('/data/a')).toBeUndefined();
    // A switchover recorded epoch 7 naming shop-c; the keeper's view still says active.
    await record.compareAndSet({ epoch: 7, active: 'shop-c' });
    expect(await start('/data/a')).toBe('its epoch record names shop-c active at epoch 7');
    expect(started).toEqual(['/data/a', '/data/a']);
  });

  it('holds the record while it starts: a new epoch is recorded after the start, never between the check and it', async () => {
    const order: string[] = [];
    let release: () => void = () => {};
    const starting = new Promise<void>((resolve) => {
      release = resolve;
    });
    let begun: () => void = () => {};
    const begins = new Promise<void>((resolve) => {
      begun = resolve;
    });
    const start = startActiveWhileRecorded({
      instance: 'shop-a',
      record,
      start: async () => {
        order.push('start begins');
        begun();
        await starting;
        order.push('start ends');
      },
    });
    const started = start('/data/a');
    await begins;
    let settled = false;
    const recorded = record.compareAndSet({ epoch: 7, active: 'shop-c' }).then((result) => {
      settled = true;
      order.push('epoch 7 recorded');
      return result;
    });
    // The compare-and-set waits for the start, however long it takes: unheld, the
    // record would be written within this bound (a loaded machine can only hide that).
    await Promise.race([recorded, new Promise((resolve) => setTimeout(resolve, 500))]);
    expect(settled).toBe(false);
    release();
    expect(await started).toBeUndefined();
    expect((await recorded).accepted).toBe(true);
    expect(order).toEqual(['start begins', 'start ends', 'epoch 7 recorded']);
  });
});
