import { PassThrough } from 'node:stream';
import { scratchDir, waitFor } from '@pullback/harness';
import type { Config } from '@pullback/pipeline';
import { createLogger } from '@pullback/pipeline/log';
import { EpochRecordStore, epochRecordPath } from '@pullback/worker-agent';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { agentLog } from '../src/agent-log.js';

let scratch: { path: string; remove(): Promise<void> };

beforeAll(async () => {
  scratch = await scratchDir('cli-agent-log');
});

afterAll(async () => {
  await scratch?.remove();
});

describe("an agent's log lines", () => {
  it('carry its component, its instance, and the epoch its record holds as each line is written, in order', async () => {
    const config = {
      stateDir: scratch.path,
      components: { shop: { instances: [{ name: 'shop-a' }, { name: 'shop-b' }] } },
    } as unknown as Config;
    const stdout = new PassThrough();
    let text = '';
    stdout.on('data', (chunk: Buffer) => {
      text += chunk.toString();
    });
    const log = agentLog(createLogger({ format: 'json', secrets: [], stdout }), config, 'shop-b');
    const record = new EpochRecordStore(epochRecordPath(scratch.path, 'shop-b'));
    log('before any epoch');
    await waitFor('the first line', async () => (text.includes('before any epoch') ? true : undefined));
    await record.compareAndSet({ epoch: 2, active: 'shop-a' });
    log('at epoch 2');
    log('a failover line', { epoch: 3 });
    const lines = await waitFor('three lines', async () => {
      const written = text.split('\n').filter((line) => line !== '');
      return written.length === 3
        ? written.map((line) => JSON.parse(line) as Record<string, unknown>)
        : undefined;
    });
    expect(lines[0]).toMatchObject({ component: 'shop', instance: 'shop-b', msg: 'before any epoch' });
    expect(lines[0]).not.toHaveProperty('epoch');
    expect(lines[1]).toMatchObject({ component: 'shop', instance: 'shop-b', epoch: 2, msg: 'at epoch 2' });
    // Fields the line brings win over the record's.
    expect(lines[2]).toMatchObject({ epoch: 3, msg: 'a failover line' });
  });
});
