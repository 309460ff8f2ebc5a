import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { FsBackend } from '../src/fs-backend.js';
import { LimitBackend } from '../src/limit-backend.js';
import { readAll } from './byte-streams.js';
import { FaultyBackend } from './faulty-backend.js';

let root: string;
let stores = 0;

beforeAll(async () => {
  root = await mkdtemp(join(tmpdir(), 'pullback-limit-'));
});

afterAll(async () => {
  await rm(root, { recursive: true, force: true });
});

function counted(delayMs: number, connections = 8): FaultyBackend {
  return new FaultyBackend(new FsBackend(join(root, String(++stores)), { connections }), delayMs);
}

describe('limit backend', () => {
  it('never runs more than N operations at once', async () => {
    const inner = counted(10);
    const limited = new LimitBackend(inner, { connections: 3 });
    await Promise.all(Array.from({ length: 12 }, (_, i) => limited.save(`o/${i}`, Buffer.from(String(i)))));
    await Promise.all(
      Array.from({ length: 12 }, async (_, i) => {
        await limited.stat(`o/${i}`);
        const text = (await readAll(await limited.load(`o/${i}`))).toString();
        expect(text).toBe(String(i));
        await limited.remove(`o/${i}`);
      }),
    );
    expect(inner.peakActive).toBe(3);
    expect(limited.properties.connections).toBe(3);
  });

  it("defaults to the driver's connections", async () => {
    const inner = counted(10, 2);
    const limited = new LimitBackend(inner);
    await Promise.all(Array.from({ length: 8 }, (_, i) => limited.save(`o/${i}`, Buffer.from('x'))));
    expect(inner.peakActive).toBe(2);
  });

  it('holds a slot for a load until its stream is consumed or destroyed', async () => {
    const inner = counted(0);
    const limited = new LimitBackend(inner, { connections: 1 });
    await limited.save('a', Buffer.alloc(1_000_000));
    const stream = await limited.load('a');
    let statDone = false;
    const stat = limited.stat('a').then(() => {
      statDone = true;
    });
    await sleep(50);
    expect(statDone).toBe(false);
    stream.destroy();
    await stat;
    expect(statDone).toBe(true);

    await readAll(await limited.load('a'));
    await limited.stat('a');
  });

  it('rejects at once an operation aborted while it waits, and never runs it', async () => {
    const inner = counted(100);
    const limited = new LimitBackend(inner, { connections: 1 });
    const first = limited.save('a', Buffer.from('a'));
    const controller = new AbortController();
    const waiting = limited.save('b', Buffer.from('b'), { signal: controller.signal });
    controller.abort(new Error('gave up'));
    await expect(waiting).rejects.toThrow('gave up');
    await first;
    await sleep(20);
    expect(inner.calls.save).toBe(1);
  });

  it('lets a caller load what it lists with a single connection', async () => {
    const limited = new LimitBackend(counted(0), { connections: 1 });
    for (const name of ['l/1', 'l/2', 'l/3']) await limited.save(name, Buffer.from(name));
    const texts: string[] = [];
    for await (const info of limited.list('l/'))
      texts.push((await readAll(await limited.load(info.name))).toString());
    expect(texts.sort()).toEqual(['l/1', 'l/2', 'l/3']);
  });
});
