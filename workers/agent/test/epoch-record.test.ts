import { spawn } from 'node:child_process';
import { once } from 'node:events';
import { mkdir, readdir, readFile, writeFile } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { scratchDir, waitFor } from '@pullback/harness';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { holderOf } from '../src/file-lock.js';
import {
  type CompareAndSetResult,
  EpochRecordStore,
  epochRecordPath,
  readEpochRecord,
} from '../src/index.js';

const CHILD = fileURLToPath(new URL('./helpers/cas-child.mjs', import.meta.url));

let scratch: Awaited<ReturnType<typeof scratchDir>>;
let path: string;

beforeEach(async () => {
  scratch = await scratchDir('epoch');
  path = epochRecordPath(scratch.path, 'shop-a');
});
afterEach(() => scratch.remove());

type Result = CompareAndSetResult & { epoch: number };

/**
 * The accepted results form one chain, each one's previous record the one accepted just
 * before it: the compare-and-sets ran one at a time, and none was lost to another.
 */
function expectOneChain(results: readonly Result[], start: number): void {
  const accepted = results.filter((result) => result.accepted).sort((a, b) => a.epoch - b.epoch);
  let last = start;
  for (const result of accepted) {
    if (!result.accepted) continue;
    expect(result.previous?.epoch).toBe(last);
    last = result.record.epoch;
  }
}

describe('epoch record', () => {
  it('lives at <stateDir>/instances/<instance>/epoch.json and starts absent', async () => {
    expect(path).toBe(join(scratch.path, 'instances', 'shop-a', 'epoch.json'));
    expect(await readEpochRecord(path)).toBeUndefined();
  });

  it('accepts a newer epoch, or the same one with the same active, and refuses the rest', async () => {
    const store = new EpochRecordStore(path);
    const first = await store.compareAndSet({ epoch: 3, active: 'shop-a' });
    expect(first).toMatchObject({ accepted: true, record: { epoch: 3, active: 'shop-a' } });
    expect(JSON.parse(await readFile(path, 'utf8'))).toMatchObject({ epoch: 3, active: 'shop-a' });

    expect(await store.compareAndSet({ epoch: 3, active: 'shop-a' })).toMatchObject({ accepted: true });
    expect(await store.compareAndSet({ epoch: 3, active: 'shop-b' })).toMatchObject({
      accepted: false,
      reason: 'epoch 3 is already recorded with shop-a active',
    });
    expect(await store.compareAndSet({ epoch: 2, active: 'shop-a' })).toMatchObject({
      accepted: false,
      reason: 'epoch 2 is older than the recorded epoch 3 (shop-a active)',
      record: { epoch: 3 },
    });
    expect(await store.compareAndSet({ epoch: 4, active: 'shop-b' })).toMatchObject({
      accepted: true,
      record: { epoch: 4, active: 'shop-b' },
      previous: { epoch: 3, active: 'shop-a' },
    });
    expect(await store.read()).toMatchObject({ epoch: 4, active: 'shop-b' });
  });

  it('lets exactly the right ones of many concurrent compare-and-sets win; the file always holds the max', async () => {
    const store = new EpochRecordStore(path);
    await store.compareAndSet({ epoch: 50, active: 'a' });
    const epochs = Array.from({ length: 100 }, (_, index) => index + 1).sort(() => Math.random() - 0.5);

    // A reader polling the file meanwhile: always a whole record, never going back.
    let racing = true;
    const seen: number[] = [];
    const reader = (async () => {
      while (racing) seen.push((await readEpochRecord(path))?.epoch ?? -1);
    })();
    const results: Result[] = await Promise.all([
      ...epochs.map(async (epoch) => ({ epoch, ...(await store.compareAndSet({ epoch, active: 'a' })) })),
      (async () => ({
        epoch: 50,
        ...(await new EpochRecordStore(path).compareAndSet({ epoch: 50, active: 'b' })),
      }))(),
    ]);
    racing = false;
    await reader;

    for (const result of results) {
      if (result.epoch < 50) expect(result.accepted).toBe(false);
      if (result.epoch === 100) expect(result.accepted).toBe(true);
    }
    // 50 naming another active never; 50 naming `a` again only before anything newer landed.
    const [fiftyA, fiftyB] = results.filter((result) => result.epoch === 50);
    expect(fiftyB?.accepted).toBe(false);
    if (fiftyA?.accepted) expect(fiftyA.previous?.epoch).toBe(50);
    expectOneChain(
      results.filter((result) => result.epoch > 50),
      50,
    );
    expect((await store.read())?.epoch).toBe(100);
    expect(seen.length).toBeGreaterThan(0);
    for (let index = 1; index < seen.length; index++)
      expect(seen[index]).toBeGreaterThanOrEqual(seen[index - 1] ?? 0);
  });

  it('takes turns with another process writing the same record', async () => {
    await mkdir(dirname(path), { recursive: true });
    const odd = Array.from({ length: 100 }, (_, index) => 2 * index + 1);
    const even = odd.map((epoch) => epoch + 1);
    const child = spawn(process.execPath, [CHILD, path, ...odd.map(String)], {
      stdio: ['pipe', 'pipe', 'inherit'],
    });
    const exited = once(child, 'exit');
    let output = '';
    child.stdout.on('data', (chunk: Buffer) => {
      output += chunk.toString();
    });
    await waitFor('the second writer', async () => (output.startsWith('ready\n') ? true : undefined));
    child.stdin.write('go\n');
    const store = new EpochRecordStore(path);
    const mine: Result[] = await Promise.all(
      even.map(async (epoch) => ({ epoch, ...(await store.compareAndSet({ epoch, active: 'a' })) })),
    );
    expect((await exited)[0]).toBe(0);
    const theirs: Result[] = output
      .trim()
      .split('\n')
      .slice(1)
      .map((line) => JSON.parse(line) as Result);
    expect(theirs).toHaveLength(odd.length);
    const all = [...mine, ...theirs];
    // The first accepted had no previous record; the chain runs on from it.
    const accepted = all.filter((result) => result.accepted).sort((a, b) => a.epoch - b.epoch);
    const first = accepted[0];
    expect(first?.accepted && first.previous).toBeUndefined();
    expectOneChain(accepted.slice(1), first?.epoch ?? -1);
    expect((await store.read())?.epoch).toBe(200);
    expect((await readdir(dirname(path))).sort()).toEqual(['epoch.json']);
  });

  it('never reads a temp file a crashed writer left, and removes it', async () => {
    const store = new EpochRecordStore(path);
    await store.compareAndSet({ epoch: 5, active: 'a' });
    await writeFile(`${path}.0badc0ffee00.tmp`, '{"epoch": 999, "act');
    await writeFile(`${path}.0badc0ffee01.tmp`, JSON.stringify({ epoch: 999, active: 'b', at: 'x' }));
    expect(await store.read()).toMatchObject({ epoch: 5, active: 'a' });
    expect(await store.compareAndSet({ epoch: 6, active: 'a' })).toMatchObject({ accepted: true });
    expect(await store.read()).toMatchObject({ epoch: 6, active: 'a' });
    expect((await readdir(dirname(path))).sort()).toEqual(['epoch.json']);
  });

  it('breaks a lock left by a process that died (pid reused or not), and waits for one a live process holds', async () => {
    const store = new EpochRecordStore(path);
    await store.compareAndSet({ epoch: 1, active: 'a' });
    const dead = spawn(process.execPath, ['-e', '']);
    const deadPid = await new Promise<number>((resolve) => dead.on('exit', () => resolve(dead.pid ?? 0)));
    await writeFile(`${path}.lock`, `${deadPid} - - 00`);
    expect(await store.compareAndSet({ epoch: 2, active: 'a' })).toMatchObject({ accepted: true });
    // A live pid, but of another boot, or started at another time: the holder is gone, the pid reused.
    const [pid, boot, start] = (await holderOf(process.pid)).split(' ');
    await writeFile(`${path}.lock`, `${pid} 00000000-0000-0000-0000-000000000000 ${start} 00`);
    expect(await store.compareAndSet({ epoch: 2, active: 'a' })).toMatchObject({ accepted: true });
    await writeFile(`${path}.lock`, `${pid} ${boot} ${Number(start) - 1} 00`);
    expect(await store.compareAndSet({ epoch: 2, active: 'a' })).toMatchObject({ accepted: true });

    // A lock held by this (live) process: the compare-and-set waits until it is released.
    await writeFile(`${path}.lock`, `${await holderOf(process.pid)} 11`);
    let done = false;
    const waiting = store.compareAndSet({ epoch: 3, active: 'a' }).then((result) => {
      done = true;
      return result;
    });
    // It has had many chances to take the lock: the store's read of a record works meanwhile.
    for (let tries = 0; tries < 20; tries++) expect((await store.read())?.epoch).toBe(2);
    expect(done).toBe(false);
    await import('node:fs/promises').then(({ unlink }) => unlink(`${path}.lock`));
    expect(await waiting).toMatchObject({ accepted: true });
    expect((await store.read())?.epoch).toBe(3);
  });

  it('reports a corrupt record as one line naming the file, and changes nothing', async () => {
    await mkdir(dirname(path), { recursive: true });
    const store = new EpochRecordStore(path);
    for (const text of ['{"epoch": 7, "act', '{"epoch": -1, "active": "a", "at": "x"}', '[]']) {
      await writeFile(path, text);
      const error = await readEpochRecord(path).catch((caught: Error) => caught);
      expect(error).toBeInstanceOf(Error);
      expect((error as Error).message).toMatch(new RegExp(`^epoch record ${path} is corrupt \\(`));
      expect((error as Error).message).not.toContain('\n');
      await expect(store.compareAndSet({ epoch: 8, active: 'a' })).rejects.toThrow(/is corrupt/);
      expect(await readFile(path, 'utf8')).toBe(text);
    }
  });
});
